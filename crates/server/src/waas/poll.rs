//! One poll of one ente: `GET /flussi` page after page, each page stored in
//! one transaction with the cursor advance, its outcomes delivered after.
//!
//! Cursor rule (no skips, no doubles). `since` is strict `>` on `ts_flusso`
//! in ms, and several flows may share a millisecond. After a page:
//! - fewer entries than asked: the cursor becomes the newest `ts_flusso`
//!   seen (the comune had nothing more when it answered);
//! - a full page: the cursor becomes (newest − 1 ms), so the newest
//!   millisecond, possibly cut by the page's end, is asked again; entries
//!   already acquired — same (ente, id_flusso, SHA-256) — are skipped: no
//!   second record, no second outcome;
//! - a full page that brings nothing new and cannot move the cursor (more
//!   than 100 flows in one millisecond cannot be paged by the protocol):
//!   an anomaly is recorded and the cursor moves past that millisecond.
//!
//! The poll stops at an empty page or at a page that brings nothing new
//! and does not move the cursor (a static mock serving the same entries).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use casellario_domain::{Category, Channel, CodiceEsito, FlowType, Profile, Severity, Violation};
use casellario_ingest::InputFormat;
use casellario_store::portal::NewSubmission;
use casellario_store::waas::{Acquisition, NewAcquisition, NewPollRun, PollTrigger};
use casellario_store::{EnteId, Store};

use super::client::ComuneClient;
use super::envelope::{self, Entry, Verdict};
use super::esiti::{self, Delivery};
use super::{PAGE_LIMIT, WaasError, backoff_ms};
use crate::AppState;
use crate::error::AppError;
use crate::fmt::now_ms;
use crate::submit::{SubmitOptions, ingest_options, submit_blocking, submit_prepared};
use casellario_ingest::{PreparedFlow, prepare_bytes};

/// Something the administrator should know about a run that is not a
/// fault: an entry acquired as `RICHIESTA_INVALIDA`, a tolerated deviation,
/// a page the protocol cannot move past.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Anomaly {
    pub codice: String,
    pub messaggio: String,
}

/// The fault that ended a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub code: &'static str,
    pub message: String,
}

impl From<&WaasError> for Fault {
    fn from(e: &WaasError) -> Self {
        Fault {
            code: e.code(),
            message: e.to_string(),
        }
    }
}

/// What one poll did.
#[derive(Debug, Clone, Default)]
pub struct PollSummary {
    pub ente_codice: String,
    /// `GET /flussi` answered (empty pages included).
    pub pages: u32,
    /// Entries acquired by this run.
    pub new_flows: u32,
    /// Entries skipped because already acquired.
    pub duplicates: u32,
    /// Outcomes of the new entries, by `codice_esito`.
    pub by_esito: BTreeMap<&'static str, u32>,
    pub esiti_delivered: u32,
    /// Outcomes still waiting for a 2xx when the run ended.
    pub esiti_pending: u32,
    pub cursor_ms: i64,
    pub fault: Option<Fault>,
    /// The fault of the last failed `POST /esiti`, if any (retried later).
    pub esiti_fault: Option<Fault>,
    pub anomalies: Vec<Anomaly>,
    /// Earliest time of the next poll (after a fault).
    pub not_before_ms: Option<i64>,
    pub elapsed: Duration,
}

/// One poll of `ente_codice` now (the portal's "Esegui ora", the
/// benchmark). See [`poll_ente`].
pub async fn poll_once(state: &AppState, ente_codice: &str) -> Result<PollSummary, WaasError> {
    poll_ente(state, ente_codice, PollTrigger::Manual).await
}

/// One poll of one ente. `Err` only when the poll could not start (no such
/// ente or endpoint, endpoint disabled, a poll of the ente already
/// running); a fault during the run is in [`PollSummary::fault`] and in
/// the poll-run row.
pub async fn poll_ente(
    state: &AppState,
    ente_codice: &str,
    trigger: PollTrigger,
) -> Result<PollSummary, WaasError> {
    let codice = ente_codice.to_owned();
    let (ente, endpoint) = state
        .db
        .run(move |s| {
            let ente = s.ente_profile_by_codice(&codice)?;
            let endpoint = match &ente {
                Some(e) => s.waas_endpoint(e.id)?,
                None => None,
            };
            Ok((ente, endpoint))
        })
        .await?;
    let ente = ente.ok_or_else(|| WaasError::UnknownEnte(ente_codice.to_owned()))?;
    let endpoint = endpoint.ok_or_else(|| WaasError::NoEndpoint(ente.codice.clone()))?;
    if !endpoint.enabled {
        return Err(WaasError::Disabled(ente.codice));
    }
    if !ente.attivo {
        return Err(WaasError::EnteInactive(ente.codice));
    }
    let _claim = state
        .waas
        .claim(ente.id)
        .ok_or_else(|| WaasError::Busy(ente.codice.clone()))?;

    let started_at_ms = now_ms();
    let started = Instant::now();
    let mut run = Run {
        timing: Default::default(),
        state,
        ente_id: ente.id,
        summary: PollSummary {
            ente_codice: ente.codice.clone(),
            ..PollSummary::default()
        },
    };
    tracing::info!(ente = %ente.codice, trigger = trigger.wire(), "poll WaaS avviato");
    let outcome = match ComuneClient::new(
        state.waas.http.clone(),
        &endpoint,
        Duration::from_millis(state.cfg.waas_timeout_ms.max(1)),
        state.cfg.waas_max_page_bytes,
    ) {
        Ok(client) => run.pages(&client, started).await,
        Err(e) => Err(e),
    };
    let mut summary = run.summary;
    summary.elapsed = started.elapsed();
    tracing::debug!(
        ente = %ente.codice,
        attesa_pagine_ms = run.timing[0].as_millis() as u64,
        registrazione_ms = run.timing[1].as_millis() as u64,
        attesa_esiti_ms = run.timing[2].as_millis() as u64,
        "poll WaaS: tempi"
    );
    if let Err(e) = &outcome {
        tracing::warn!(ente = %ente.codice, codice = e.code(), errore = %e, "poll WaaS interrotto");
        summary.fault = Some(Fault::from(e));
    }
    finish(
        state,
        ente.id,
        trigger,
        started_at_ms,
        &outcome,
        &mut summary,
    )
    .await;
    tracing::info!(
        ente = %ente.codice,
        pagine = summary.pages,
        nuovi = summary.new_flows,
        duplicati = summary.duplicates,
        esiti_consegnati = summary.esiti_delivered,
        esiti_in_attesa = summary.esiti_pending,
        guasto = summary.fault.as_ref().map(|f| f.code),
        "poll WaaS terminato"
    );
    Ok(summary)
}

/// Records the run (pending outcomes, backoff of the next poll).
async fn finish(
    state: &AppState,
    ente_id: EnteId,
    trigger: PollTrigger,
    started_at_ms: i64,
    outcome: &Result<(), WaasError>,
    summary: &mut PollSummary,
) {
    let cfg = &state.cfg;
    let fault = outcome.as_ref().err().cloned();
    let (base, max) = (cfg.waas_backoff_base_ms, cfg.waas_backoff_max_ms);
    let anomalies = serde_json::to_string(&summary.anomalies).unwrap_or_else(|_| "[]".to_owned());
    let mut row = NewPollRun {
        id: 0,
        ente_id,
        started_at_ms,
        finished_at_ms: 0,
        trigger,
        pages: summary.pages,
        new_flows: summary.new_flows,
        duplicates: summary.duplicates,
        esiti_delivered: summary.esiti_delivered,
        esiti_pending: 0,
        cursor_ms: 0,
        fault_code: summary.fault.as_ref().map(|f| f.code.to_owned()),
        fault_message: summary.fault.as_ref().map(|f| f.message.clone()),
        anomalies,
        not_before_ms: None,
    };
    // Reads on a pooled connection (the pending count scans the ente's
    // acquisitions): the writer lane only takes the insert. One poll per
    // ente runs at a time, so nothing changes these in between.
    let read = state
        .db
        .run(move |s| {
            Ok((
                s.waas_pending_count(ente_id)?,
                s.waas_cursor(ente_id)?,
                s.waas_consecutive_faults(ente_id)?,
            ))
        })
        .await;
    let recorded = match read {
        Ok((pending, cursor, faults_before)) => {
            row.esiti_pending = u32::try_from(pending).unwrap_or(u32::MAX);
            row.cursor_ms = cursor;
            row.finished_at_ms = now_ms();
            if let Some(f) = &fault {
                // Faults in a row, this one included, drive the backoff;
                // the comune's Retry-After wins when it gave one.
                let wait = match f.retry_after_secs() {
                    Some(secs) => secs.saturating_mul(1000),
                    None => backoff_ms(faults_before + 1, base, max),
                };
                row.not_before_ms = Some(
                    row.finished_at_ms
                        .saturating_add(i64::try_from(wait).unwrap_or(i64::MAX)),
                );
            }
            state
                .db
                .write_small(move |s| {
                    s.record_waas_poll_run(&row)?;
                    Ok(row)
                })
                .await
        }
        Err(e) => Err(e),
    };
    match recorded {
        Ok(row) => {
            summary.esiti_pending = row.esiti_pending;
            summary.cursor_ms = row.cursor_ms;
            summary.not_before_ms = row.not_before_ms;
        }
        Err(e) => {
            tracing::error!(errore = %e, "registrazione del poll WaaS non riuscita");
        }
    }
}

struct Run<'a> {
    /// Time spent waiting for pages, storing them, waiting for deliveries
    /// (a debug log line tells where a slow poll's time went).
    timing: [Duration; 3],
    state: &'a AppState,
    ente_id: EnteId,
    summary: PollSummary,
}

impl Run<'_> {
    /// The pages of one poll, pipelined: while page N is stored (on the
    /// writer), page N+1 is fetched and decoded and the outcomes of page
    /// N−1 are delivered. Outcomes are sent in acquisition order, one
    /// `POST /esiti` at a time, always after their page was committed.
    async fn pages(&mut self, client: &ComuneClient, started: Instant) -> Result<(), WaasError> {
        let state = self.state;
        let cfg = &state.cfg;
        let ente_id = self.ente_id;
        let deadline = started + Duration::from_millis(cfg.waas_poll_deadline_ms.max(1));

        // Outcomes left pending by earlier runs go first (oldest first).
        let mut delivery = Delivery::load(state, ente_id).await?;
        esiti::deliver_backlog(state, client, ente_id, &mut delivery).await?;

        let mut cursor = state.db.run(move |s| Ok(s.waas_cursor(ente_id)?)).await?;
        let mut prefetch: Option<Prefetch> = None;
        // Deliveries made, recorded with the next page (one commit less per
        // page) or at the end; flushed on its own if the poll is aborted.
        let mut unrecorded = Unrecorded {
            sent: Vec::new(),
            inflight: None,
            db: state.db.clone(),
        };
        let outcome = loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                break Err(WaasError::Deadline(cfg.waas_poll_deadline_ms));
            }
            let t = Instant::now();
            let fetched = match prefetch.take() {
                Some(mut p) if p.since == cursor => {
                    // A slow comune: record a delivery it answered while its
                    // next page is still on the way, so a crash meanwhile
                    // does not send those outcomes again. (When the page is
                    // already here, the delivery goes with its transaction.)
                    let mut early = None;
                    if let Some(mut rx) = unrecorded.inflight.take() {
                        tokio::select! {
                            biased;
                            r = &mut p.task => {
                                early = Some(r);
                                unrecorded.inflight = Some(rx);
                            }
                            r = &mut rx => match r {
                                Ok((d, sent)) => {
                                    delivery = d;
                                    record_or_warn(&state.db, sent.into_iter().collect()).await;
                                }
                                Err(_) => {
                                    break Err(WaasError::Internal("consegna degli esiti interrotta".into()));
                                }
                            },
                        }
                    }
                    let r = match early {
                        Some(r) => r,
                        None => (&mut p.task).await,
                    };
                    r.unwrap_or_else(|e| {
                        Err(WaasError::Internal(format!("richiesta interrotta: {e}")))
                    })
                }
                _ => {
                    fetch_page(
                        client.clone(),
                        self.summary.ente_codice.clone(),
                        (ente_id, cfg.profile()),
                        cursor,
                        remaining,
                    )
                    .await
                }
            };
            self.timing[0] += t.elapsed();
            let page = match fetched {
                Ok(page) => page,
                Err(e) => break Err(e),
            };
            self.summary.pages += 1;
            if page.len == 0 {
                break Ok(());
            }
            let full = page.len >= PAGE_LIMIT;
            let mut entries = Vec::with_capacity(page.decoded.len());
            let mut prepared = Vec::with_capacity(page.decoded.len());
            let mut max_ts: Option<i64> = None;
            for (d, p) in page.decoded.into_iter().zip(page.prepared) {
                match d {
                    Ok(e) => {
                        max_ts = max_ts.max(Some(e.ts_flusso_ms));
                        for (code, msg) in &e.notes {
                            self.anomaly(code, msg.clone());
                        }
                        entries.push(e);
                        prepared.push(p);
                    }
                    Err(u) => {
                        max_ts = max_ts.max(u.ts_flusso_ms);
                        tracing::warn!(ente = %self.summary.ente_codice, motivo = %u.message, "voce WaaS non acquisibile");
                        self.anomaly("WAAS_VOCE_NON_IDENTIFICABILE", u.message);
                    }
                }
            }
            // The next page's `since` is known before this one is stored
            // whenever the cursor moves: ask for it meanwhile (GET has no
            // effect on the comune; only the stored cursor counts).
            let tentative = next_cursor(cursor, full, max_ts, 1).0;
            if tentative > cursor {
                let rem = deadline.saturating_duration_since(Instant::now());
                let fetch = fetch_page(
                    client.clone(),
                    self.summary.ente_codice.clone(),
                    (ente_id, cfg.profile()),
                    tentative,
                    rem,
                );
                prefetch = Some(Prefetch {
                    since: tentative,
                    task: tokio::spawn(fetch),
                });
            }
            // A delivery the comune has already answered is recorded with
            // this page rather than the next: a crash then repeats at most
            // the outcomes of the last page.
            if let Some(rx) = unrecorded.inflight.as_mut() {
                match rx.try_recv() {
                    Ok((d, sent)) => {
                        delivery = d;
                        unrecorded.sent.extend(sent);
                        unrecorded.inflight = None;
                    }
                    Err(tokio::sync::oneshot::error::TryRecvError::Empty) => {}
                    Err(tokio::sync::oneshot::error::TryRecvError::Closed) => {
                        break Err(WaasError::Internal(
                            "consegna degli esiti interrotta".into(),
                        ));
                    }
                }
            }
            let page = Page {
                sent: std::mem::take(&mut unrecorded.sent),
                ente_id,
                ente_codice: self.summary.ente_codice.clone(),
                profile: cfg.profile(),
                cursor,
                full,
                max_ts,
                entries,
                prepared,
            };
            let t = Instant::now();
            let stored = match state
                .db
                .write(move |s| in_batch(s, |s| store_page(s, page)))
                .await
            {
                Ok(stored) => stored,
                Err(e) => break Err(WaasError::from(e)),
            };
            self.timing[1] += t.elapsed();
            self.summary.duplicates += stored.duplicates;
            self.summary.new_flows += u32::try_from(stored.acquired.len()).unwrap_or(u32::MAX);
            for a in &stored.acquired {
                *self
                    .summary
                    .by_esito
                    .entry(a.codice_esito.wire())
                    .or_default() += 1;
                if let Some(code) = &stored.invalid_codes.get(&a.id) {
                    self.anomaly(
                        code,
                        format!(
                            "{}: acquisito come RICHIESTA_INVALIDA ({})",
                            a.id_flusso,
                            a.descrizione_esito.as_deref().unwrap_or("")
                        ),
                    );
                }
            }
            if let Some(msg) = stored.stuck {
                tracing::warn!(ente = %self.summary.ente_codice, "{msg}");
                self.anomaly("WAAS_MILLISECONDO_SATURO", msg);
            }
            let progressed = stored.cursor > cursor || !stored.acquired.is_empty();
            cursor = stored.cursor;
            // This page's outcomes, after the previous page's.
            let t = Instant::now();
            if let Some(h) = unrecorded.inflight.take() {
                match settle(h).await {
                    Ok((d, sent)) => {
                        delivery = d;
                        unrecorded.sent.extend(sent);
                    }
                    Err(e) => break Err(e),
                }
            }
            self.timing[2] += t.elapsed();
            if !stored.acquired.is_empty() {
                let (cfg, c, mut d) = (
                    Arc::clone(&state.cfg),
                    client.clone(),
                    std::mem::take(&mut delivery),
                );
                let batch = stored.acquired;
                let (tx, rx) = tokio::sync::oneshot::channel();
                let db = state.db.clone();
                // Not aborted with the poll: a POST under way completes, and
                // if the poll is gone by then the task records it itself,
                // so the comune is not sent those outcomes again.
                tokio::spawn(async move {
                    let sent = esiti::send(&cfg, &c, ente_id, &batch, &mut d).await;
                    if let Err((_, Some(sent))) = tx.send((d, sent)) {
                        record_or_warn(&db, vec![sent]).await;
                    }
                });
                unrecorded.inflight = Some(rx);
            }
            if !progressed {
                break Ok(());
            }
        };
        drop(prefetch);
        if let Some(h) = unrecorded.inflight.take() {
            match settle(h).await {
                Ok((d, sent)) => {
                    delivery = d;
                    unrecorded.sent.extend(sent);
                }
                Err(e) => {
                    self.note_delivery(&delivery);
                    return Err(e);
                }
            }
        }
        let last = std::mem::take(&mut unrecorded.sent);
        if !last.is_empty() {
            state
                .db
                .write_small(move |s| {
                    for sent in &last {
                        sent.record(s)?;
                    }
                    Ok(())
                })
                .await?;
        }
        self.note_delivery(&delivery);
        outcome
    }

    fn note_delivery(&mut self, d: &Delivery) {
        self.summary.esiti_delivered = d.delivered;
        self.summary.esiti_fault = d.last_fault.as_ref().map(Fault::from);
    }

    fn anomaly(&mut self, code: &str, messaggio: String) {
        // Bounded: a comune sending a million broken entries must not grow
        // the run row without limit.
        if self.summary.anomalies.len() < 200 {
            self.summary.anomalies.push(Anomaly {
                codice: code.to_owned(),
                messaggio,
            });
        }
    }
}

/// Runs `f` in one transaction with the pipeline's flows as savepoints
/// (`Store::batch`): a page's records, acquisitions and cursor commit
/// together or not at all, with one durable COMMIT for the page.
fn in_batch<T>(
    store: &mut Store,
    f: impl FnOnce(&mut Store) -> Result<T, AppError>,
) -> Result<T, AppError> {
    store.batch(f)
}

/// The next page, asked (and decoded) while the current one is stored.
/// Dropped (the poll ended, or was aborted): the request is abandoned.
struct Prefetch {
    since: i64,
    task: tokio::task::JoinHandle<Result<FetchedPage, WaasError>>,
}

/// A page as received and decoded.
struct FetchedPage {
    /// Entries in the page.
    len: usize,
    decoded: Vec<Result<Entry, envelope::Unidentifiable>>,
    /// Aligned with `decoded`: the flows bound for the pipeline, already
    /// read and prepared, so the writer only resolves and stores them.
    prepared: Vec<Option<PreparedFlow>>,
}

/// `GET /flussi` then the entries' decoding (base64, SHA-256, XML header)
/// on a blocking thread: off the writer lane and off the async workers.
async fn fetch_page(
    client: ComuneClient,
    ente_codice: String,
    (ente_id, profile): (EnteId, Profile),
    since: i64,
    timeout: Duration,
) -> Result<FetchedPage, WaasError> {
    let raw = client.flussi(since, PAGE_LIMIT, timeout).await?;
    let len = raw.len();
    let (decoded, prepared) = tokio::task::spawn_blocking(move || {
        let decoded: Vec<_> = raw
            .into_iter()
            .map(|v| envelope::decode(v, &ente_codice))
            .collect();
        // Parsing, rules and payload encoding are most of a one-record
        // flow's cost: done here, in parallel with the writer storing the
        // previous page. A flow already acquired is prepared for nothing,
        // which costs less than asking the register first.
        let prepared = decoded
            .iter()
            .map(|d| match d {
                Ok(Entry {
                    verdict: Verdict::Pipeline { xml, tipo },
                    ..
                }) => {
                    let opts = pipeline_options(ente_id, &ente_codice, profile, *tipo, xml.len());
                    prepare_bytes(xml, &ingest_options(&opts), true).ok()
                }
                _ => None,
            })
            .collect();
        (decoded, prepared)
    })
    .await
    .map_err(|e| WaasError::Internal(format!("decodifica interrotta: {e}")))?;
    Ok(FetchedPage {
        len,
        decoded,
        prepared,
    })
}

/// How a WaaS flow goes through the pipeline.
fn pipeline_options(
    ente_id: EnteId,
    ente_codice: &str,
    profile: Profile,
    tipo: FlowType,
    size: usize,
) -> SubmitOptions {
    SubmitOptions {
        channel: Channel::Waas,
        profile,
        expected: Some(tipo),
        ente_id,
        ente_codice: ente_codice.to_owned(),
        account_id: None,
        source_name: Some("WaaS".to_owned()),
        format: InputFormat::Xml,
        size_hint: Some(size as u64),
        keep_outcomes: true,
    }
}

/// A delivery task's result: the delivery state it carried, and what the
/// call did (to record).
type Delivered = (Delivery, Option<esiti::Sent>);

async fn settle(
    h: tokio::sync::oneshot::Receiver<Delivered>,
) -> Result<(Delivery, Option<esiti::Sent>), WaasError> {
    h.await
        .map_err(|_| WaasError::Internal("consegna degli esiti interrotta".into()))
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Deliveries acknowledged by the comune and not yet recorded. Dropped
/// with some left (the poll was aborted): they are recorded by a task of
/// their own, so the comune is not sent them again. Only a crash of the
/// process loses them, and then the outcomes are sent again (at least
/// once).
struct Unrecorded {
    sent: Vec<esiti::Sent>,
    /// The delivery under way: if it finished before the poll was
    /// dropped, its result is taken here; if it finishes after, the
    /// delivery task records it itself (its send fails).
    inflight: Option<tokio::sync::oneshot::Receiver<Delivered>>,
    db: crate::Db,
}

impl Drop for Unrecorded {
    fn drop(&mut self) {
        let mut left = std::mem::take(&mut self.sent);
        if let Some(mut rx) = self.inflight.take() {
            // No send can succeed after close: a result is either here
            // now or recorded by the task.
            rx.close();
            if let Ok((_, Some(sent))) = rx.try_recv() {
                left.push(sent);
            }
        }
        if left.is_empty() {
            return;
        }
        let db = self.db.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { record_or_warn(&db, left).await });
        }
    }
}

/// Records deliveries in a commit of their own. Failing, they are only
/// logged: the outcomes stay pending and are sent again (at least once).
async fn record_or_warn(db: &crate::Db, sent: Vec<esiti::Sent>) {
    if sent.is_empty() {
        return;
    }
    let r = db
        .write_small(move |s| {
            for x in &sent {
                x.record(s)?;
            }
            Ok(())
        })
        .await;
    if let Err(e) = r {
        tracing::warn!(errore = %e, "consegne WaaS non registrate: gli esiti saranno rinviati");
    }
}

/// A decoded page, ready for the writer lane.
struct Page {
    /// Deliveries of earlier pages to record in this page's transaction.
    sent: Vec<esiti::Sent>,
    ente_id: EnteId,
    ente_codice: String,
    profile: Profile,
    cursor: i64,
    full: bool,
    max_ts: Option<i64>,
    entries: Vec<Entry>,
    /// Aligned with `entries` (see [`FetchedPage::prepared`]).
    prepared: Vec<Option<PreparedFlow>>,
}

struct Stored {
    acquired: Vec<Acquisition>,
    /// Envelope code of the entries acquired as invalid, by acquisition id.
    invalid_codes: BTreeMap<i64, &'static str>,
    duplicates: u32,
    cursor: i64,
    stuck: Option<String>,
}

/// The cursor after a page (module documentation). Returns the new cursor
/// and, when the page could not move it, the anomaly to record.
pub fn next_cursor(
    cursor: i64,
    full: bool,
    max_ts: Option<i64>,
    new_flows: usize,
) -> (i64, Option<String>) {
    let Some(max) = max_ts else {
        return (cursor, None);
    };
    let next = if full {
        cursor.max(max.saturating_sub(1))
    } else {
        cursor.max(max)
    };
    if full && next == cursor && new_flows == 0 && max > cursor {
        return (
            max,
            Some(format!(
                "più di {PAGE_LIMIT} flussi con lo stesso ts_flusso ({}): il protocollo non consente \
                 di leggerli tutti; il cursore passa oltre quel millisecondo",
                super::rfc3339_ms(max)
            )),
        );
    }
    (next, None)
}

fn store_page(store: &mut Store, page: Page) -> Result<Stored, AppError> {
    let Page {
        sent,
        ente_id,
        ente_codice,
        profile,
        cursor,
        full,
        max_ts,
        entries,
        prepared,
    } = page;
    for d in &sent {
        d.record(store)?;
    }
    let mut acquired = Vec::with_capacity(entries.len());
    let mut invalid_codes = BTreeMap::new();
    let mut duplicates = 0u32;
    let mut seen: HashSet<(String, [u8; 32])> = HashSet::with_capacity(entries.len());
    for (e, ready) in entries.into_iter().zip(prepared) {
        if !seen.insert((e.id_flusso.clone(), e.sha256))
            || store.waas_acquired(ente_id, &e.id_flusso, &e.sha256)?
        {
            duplicates += 1;
            continue;
        }
        let acq = match e.verdict {
            Verdict::Invalid { code, message } => {
                let a = acquire_invalid(
                    store,
                    ente_id,
                    &e.id_flusso,
                    e.ts_flusso_ms,
                    &e.tipo,
                    e.sha256,
                    code,
                    &message,
                )?;
                invalid_codes.insert(a.id, code);
                a
            }
            Verdict::Pipeline { xml, tipo } => {
                let opts = pipeline_options(ente_id, &ente_codice, profile, tipo, xml.len());
                let sub = match ready {
                    Some(p) => submit_prepared(store, p, &opts)?,
                    None => submit_blocking(store, &xml[..], &opts, None)?,
                };
                let r = &sub.report;
                let descr = describe(r, &sub.outcomes);
                let id_acq = (r.codice_esito == CodiceEsito::Ok)
                    .then(|| r.flow_id.unwrap_or(sub.submission_id).to_string());
                store.record_waas_acquisition(&NewAcquisition {
                    ente_id,
                    id_flusso: &e.id_flusso,
                    ts_flusso_ms: e.ts_flusso_ms,
                    tipo: &e.tipo,
                    sha256: e.sha256,
                    submission_id: Some(sub.submission_id),
                    codice_esito: r.codice_esito,
                    descrizione_esito: Some(&descr),
                    id_acquisizione_siuss: id_acq.as_deref(),
                })?
            }
        };
        acquired.push(acq);
    }
    let (next, stuck) = next_cursor(cursor, full, max_ts, acquired.len());
    if next != cursor {
        store.advance_waas_cursor(ente_id, next)?;
    }
    Ok(Stored {
        acquired,
        invalid_codes,
        duplicates,
        cursor: next,
        stuck,
    })
}

/// An entry refused by the envelope: a submission that stored nothing (so
/// the ente sees it among its transmissions) and its acquisition.
#[allow(clippy::too_many_arguments)]
fn acquire_invalid(
    store: &mut Store,
    ente_id: EnteId,
    id_flusso: &str,
    ts_flusso_ms: i64,
    tipo: &str,
    sha256: [u8; 32],
    code: &'static str,
    message: &str,
) -> Result<Acquisition, AppError> {
    let descr = format!("Busta WaaS non conforme: {message}");
    let violation = Violation {
        rule: code.to_owned(),
        category: Category::Schema,
        severity: Severity::Errore,
        field: "flusso".to_owned(),
        message: descr.clone(),
        line: None,
    };
    let submission_id = store.record_submission(&NewSubmission {
        ente_id,
        account_id: None,
        channel: Channel::Waas,
        source_name: Some("WaaS"),
        id_flusso: Some(id_flusso),
        tipo: casellario_domain::FlowType::from_wire(tipo),
        flow_id: None,
        codice_esito: CodiceEsito::RichiestaInvalida,
        record_count: 0,
        accettati: 0,
        duplicati: 0,
        scartati: 0,
        avvisi: 0,
        rejected_whole: true,
        already: false,
        flow_violations: std::slice::from_ref(&violation),
        size_bytes: 0,
        sha256,
    })?;
    Ok(store.record_waas_acquisition(&NewAcquisition {
        ente_id,
        id_flusso,
        ts_flusso_ms,
        tipo,
        sha256,
        submission_id: Some(submission_id),
        codice_esito: CodiceEsito::RichiestaInvalida,
        descrizione_esito: Some(&descr),
        id_acquisizione_siuss: None,
    })?)
}

/// `descrizione_esito`: the errors of the flow and of its record, in
/// Italian, bounded.
fn describe(
    r: &casellario_ingest::FlowReport,
    outcomes: &[casellario_ingest::RecordOutcome],
) -> String {
    let errors: Vec<&Violation> = r
        .flow_violations
        .iter()
        .chain(outcomes.iter().flat_map(|o| o.violations.iter()))
        .filter(|v| v.is_error())
        .collect();
    let mut s = if errors.is_empty() {
        if r.codice_esito == CodiceEsito::Ok {
            if r.totals.duplicati > 0 || r.already_acquired {
                "Flusso acquisito: prestazione già presente nel registro".to_owned()
            } else if r.totals.avvisi > 0 {
                "Flusso acquisito con avvisi".to_owned()
            } else {
                "Flusso acquisito".to_owned()
            }
        } else {
            format!("Flusso non acquisito ({})", r.codice_esito.wire())
        }
    } else {
        let mut seen = HashSet::new();
        errors
            .iter()
            .filter(|v| seen.insert((&v.rule, &v.message)))
            .map(|v| format!("[{}] {}", v.rule, v.message))
            .collect::<Vec<_>>()
            .join("; ")
    };
    if s.chars().count() > 2000 {
        s = s.chars().take(2000).collect::<String>() + "…";
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_rule() {
        // A short page: up to its newest ms.
        assert_eq!(next_cursor(10, false, Some(20), 3), (20, None));
        // A full page: the newest ms is asked again.
        assert_eq!(next_cursor(10, true, Some(20), 100), (19, None));
        // Never backwards (a comune ignoring `since`).
        assert_eq!(next_cursor(50, false, Some(20), 0), (50, None));
        assert_eq!(next_cursor(50, true, Some(20), 0).0, 50);
        // A full page inside one ms, something new: ask again, same cursor.
        assert_eq!(next_cursor(10, true, Some(11), 5), (10, None));
        // A full page inside one ms, nothing new: move past it, loudly.
        let (c, a) = next_cursor(10, true, Some(11), 0);
        assert_eq!(c, 11);
        assert!(a.is_some());
        // Nothing identifiable.
        assert_eq!(next_cursor(10, true, None, 0), (10, None));
    }
}
