//! `POST /esiti`: the outcomes of acquired entries, at most 100 per call,
//! delivered at least once until the comune answers 2xx. Every call is an
//! attempt row; after a failure the next call waits an exponential backoff
//! with jitter (or the comune's `Retry-After`), computed from the attempt
//! rows, so it survives restarts. Each acquisition has exactly one outcome
//! and one delivery row once acknowledged: a comune that answers 2xx sees
//! each outcome once.

use casellario_domain::CodiceEsito;
use casellario_store::EnteId;
use casellario_store::waas::{Acquisition, AttemptOutcome, NewAttempt};

use super::client::ComuneClient;
use super::{ESITI_BATCH, WaasError, backoff_ms, rfc3339_ms};
use crate::AppState;
use crate::fmt::now_ms;

/// `EsitoFlusso` of the contract.
#[derive(serde::Serialize)]
struct EsitoFlusso<'a> {
    id_flusso: &'a str,
    tipo: &'a str,
    ts_flusso: String,
    ts_acquisizione: String,
    codice_esito: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    descrizione_esito: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_acquisizione_siuss: Option<&'a str>,
}

#[derive(serde::Serialize)]
struct ElencoEsiti<'a> {
    elenco_esiti: Vec<EsitoFlusso<'a>>,
}

/// The body of one `POST /esiti` (≤ 100 outcomes).
pub fn body(batch: &[Acquisition]) -> Vec<u8> {
    let elenco_esiti = batch
        .iter()
        .map(|a| EsitoFlusso {
            id_flusso: &a.id_flusso,
            tipo: &a.tipo,
            ts_flusso: rfc3339_ms(a.ts_flusso_ms),
            ts_acquisizione: rfc3339_ms(a.learnt_at_ms),
            codice_esito: a.codice_esito.wire(),
            descrizione_esito: a.descrizione_esito.as_deref(),
            // The contract: only for OK.
            id_acquisizione_siuss: if a.codice_esito == CodiceEsito::Ok {
                a.id_acquisizione_siuss.as_deref()
            } else {
                None
            },
        })
        .collect();
    serde_json::to_vec(&ElencoEsiti { elenco_esiti }).unwrap_or_else(|_| b"{}".to_vec())
}

/// Delivery state of one ente during a poll.
#[derive(Debug, Clone, Default)]
pub struct Delivery {
    /// No call before this time (ms): backoff or `Retry-After`.
    pub blocked_until_ms: Option<i64>,
    /// Failed calls in a row.
    pub failures: u32,
    pub delivered: u32,
    /// The fault of the last failed call of this poll.
    pub last_fault: Option<WaasError>,
}

impl Delivery {
    /// From the attempt rows: what a previous run (or process) left.
    pub async fn load(state: &AppState, ente_id: EnteId) -> Result<Delivery, WaasError> {
        let (last, failures) = state
            .db
            .run(move |s| Ok(s.waas_delivery_state(ente_id)?))
            .await?;
        Ok(Delivery {
            blocked_until_ms: last
                .filter(|a| a.outcome == AttemptOutcome::Failed)
                .and_then(|a| a.next_attempt_at_ms),
            failures,
            delivered: 0,
            last_fault: None,
        })
    }

    fn blocked(&self) -> bool {
        self.blocked_until_ms.is_some_and(|t| now_ms() < t)
    }
}

/// What one `POST /esiti` did, to be recorded (deliveries and attempt).
#[derive(Debug, Clone)]
pub struct Sent {
    ente_id: EnteId,
    /// Acknowledged acquisitions (empty when the call failed).
    ids: Vec<i64>,
    esiti: u32,
    http_status: Option<u16>,
    failure: Option<(String, i64)>,
}

impl Sent {
    /// Writes the deliveries and the attempt (inside the caller's
    /// transaction when there is one).
    pub fn record(
        &self,
        s: &mut casellario_store::Store,
    ) -> Result<(), casellario_store::StoreError> {
        if self.failure.is_none() {
            s.record_waas_deliveries(&self.ids, self.http_status.unwrap_or(204))?;
        }
        s.record_waas_attempt(&NewAttempt {
            ente_id: self.ente_id,
            esiti: self.esiti,
            http_status: self.http_status,
            outcome: if self.failure.is_none() {
                AttemptOutcome::Delivered
            } else {
                AttemptOutcome::Failed
            },
            message: self.failure.as_ref().map(|(m, _)| m.as_str()),
            next_attempt_at_ms: self.failure.as_ref().map(|(_, t)| *t),
        })?;
        Ok(())
    }
}

/// Sends `batch` (≤ 100) unless the ente is in backoff, and updates the
/// delivery state; records nothing (see [`Sent::record`]). `None` when
/// nothing was sent.
pub async fn send(
    cfg: &crate::Config,
    client: &ComuneClient,
    ente_id: EnteId,
    batch: &[Acquisition],
    d: &mut Delivery,
) -> Option<Sent> {
    if batch.is_empty() || d.blocked() {
        return None;
    }
    debug_assert!(batch.len() <= ESITI_BATCH);
    let n = u32::try_from(batch.len()).unwrap_or(u32::MAX);
    match client.esiti(body(batch)).await {
        Ok(status) => {
            d.failures = 0;
            d.blocked_until_ms = None;
            d.delivered += n;
            Some(Sent {
                ente_id,
                ids: batch.iter().map(|a| a.id).collect(),
                esiti: n,
                http_status: Some(status),
                failure: None,
            })
        }
        Err(fault) => {
            d.failures += 1;
            let wait = match fault.retry_after_secs() {
                Some(secs) => secs.saturating_mul(1000),
                None => backoff_ms(
                    d.failures,
                    cfg.waas_backoff_base_ms,
                    cfg.waas_backoff_max_ms,
                ),
            };
            let next = now_ms().saturating_add(i64::try_from(wait).unwrap_or(i64::MAX));
            let status = match &fault {
                WaasError::Http { status, .. } | WaasError::RetryAfter { status, .. } => {
                    Some(*status)
                }
                _ => None,
            };
            tracing::warn!(
                ente_id,
                esiti = n,
                codice = fault.code(),
                errore = %fault,
                riprova_tra_ms = wait,
                "consegna degli esiti WaaS non riuscita"
            );
            let message = format!("{}: {fault}", fault.code());
            d.blocked_until_ms = Some(next);
            d.last_fault = Some(fault);
            Some(Sent {
                ente_id,
                ids: Vec::new(),
                esiti: n,
                http_status: status,
                failure: Some((message, next)),
            })
        }
    }
}

/// Sends `batch` and records what happened at once. `Ok(false)` when
/// nothing was delivered.
pub async fn deliver(
    state: &AppState,
    client: &ComuneClient,
    ente_id: EnteId,
    batch: Vec<Acquisition>,
    d: &mut Delivery,
) -> Result<bool, WaasError> {
    let Some(sent) = send(&state.cfg, client, ente_id, &batch, d).await else {
        return Ok(false);
    };
    let ok = sent.failure.is_none();
    state.db.write_small(move |s| Ok(sent.record(s)?)).await?;
    Ok(ok)
}

/// Delivers the outcomes left pending by earlier runs, oldest first, until
/// none is left or a call fails.
pub async fn deliver_backlog(
    state: &AppState,
    client: &ComuneClient,
    ente_id: EnteId,
    d: &mut Delivery,
) -> Result<(), WaasError> {
    let mut after = 0i64;
    loop {
        if d.blocked() {
            return Ok(());
        }
        let batch = state
            .db
            .run(move |s| Ok(s.waas_pending_esiti(ente_id, after, ESITI_BATCH as u32)?))
            .await?;
        let Some(last) = batch.last() else {
            return Ok(());
        };
        after = last.id;
        if !deliver(state, client, ente_id, batch, d).await? {
            return Ok(());
        }
    }
}
