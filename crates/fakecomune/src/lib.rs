//! A fake comune: serves the official WaaS API (`waas-api-comuni.yaml`,
//! DOMAIN.md §2.5) — `GET /flussi`, `POST /esiti`, `GET /status` under
//! `/waas/v1` — from generated flows, with fault injection, so the register's
//! WaaS poller can be tested and benchmarked against something that behaves
//! like (and misbehaves like) a real municipality.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use casellario_fakecomune::{FakeConfig, Fault, start};
//! let comune = start(FakeConfig::new("H501", "Comune di Roma")).await?;
//! let ids = comune.publish_generated(1000, 42, 3); // 3 flows per millisecond
//! comune.inject(Fault::RetryAfter { status: 429, secs: 1 });
//! // ... point the poller at comune.base_url() ...
//! comune.esiti_exactly_once().map_err(std::io::Error::other)?;
//! comune.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Semantics the tests rely on:
//! - `GET /flussi?since=S&limit=L` returns the entries with `ts_flusso > S`
//!   (epoch ms), in (ts, publication) order, at most `L` (default 10, 0..=100);
//!   a page may end inside a group of entries sharing one millisecond, exactly
//!   as the spec allows — the poller has to cope.
//! - Faults are a FIFO; each is consumed by the first request of the endpoint
//!   it applies to ([`Fault::applies_to_esiti`]), after the token and the
//!   request itself were found valid (a rejected request consumes nothing).
//! - Everything is recorded in [`Stats`]; invalid requests answer 400/401/415
//!   problem+json and are listed in [`Stats::invalid_requests`].

mod esiti;
mod flows;
mod http;
pub mod ts;

use rand::{Rng as _, SeedableRng as _};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::watch;

/// Who the fake comune is and whether it wants a bearer token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeConfig {
    /// When `Some`, `/flussi` and `/esiti` require `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// Belfiore code of the comune (`^[A-Z][0-9]{3}$`, e.g. "H501").
    pub codice_ente: String,
    pub denominazione: String,
}

impl FakeConfig {
    /// A comune without token check.
    pub fn new(codice_ente: impl Into<String>, denominazione: impl Into<String>) -> Self {
        FakeConfig {
            token: None,
            codice_ente: codice_ente.into(),
            denominazione: denominazione.into(),
        }
    }
}

/// One entry of `elenco_flussi`, as published; may be deliberately broken
/// (any string in any field).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub codice_ente: String,
    pub denominazione_ente: Option<String>,
    pub id_flusso: String,
    /// Rendered as RFC 3339 with milliseconds; clamped to 0 ..= year 9999.
    pub ts_flusso_ms: i64,
    pub tipo: String,
    pub flusso_base64: String,
}

/// An injected fault. Queued in order; each is consumed by the next request
/// it applies to: `GET /flussi` for all but the `Esiti*` ones, `POST /esiti`
/// for those.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answers nothing for 120 s (longer than any sane client timeout), then 504.
    /// Ends early at shutdown.
    Timeout,
    /// Answers this status with a problem+json body (codes outside 200..=599 become 500).
    Status(u16),
    /// Answers `status` with a `Retry-After: secs` header and a problem+json body.
    RetryAfter { status: u16, secs: u32 },
    /// 200 `application/json` with a truncated, unparseable body.
    MalformedJson,
    /// The next `POST /esiti` answers this status; its esiti are NOT counted as received.
    EsitiStatus(u16),
    /// Accepts the request and never answers (until shutdown).
    Hang,
    /// Before answering, republishes up to `limit` of the most recently served
    /// flows (same id, same content) with a newer `ts_flusso`, as a buggy
    /// comune would; the poller meets them once it has caught up. Listed in
    /// [`Stats::resent`]. A no-op when nothing was served yet.
    ResendAcquired,
    /// Answers normally after `ms` milliseconds (a slow comune).
    Delay { ms: u64 },
    /// The next `POST /esiti` answers `status` with `Retry-After: secs`; esiti not counted.
    EsitiRetryAfter { status: u16, secs: u32 },
    /// The next `POST /esiti` hangs for 120 s (or until shutdown), then 504; esiti not counted.
    EsitiTimeout,
}

impl Fault {
    /// Whether `POST /esiti` consumes this fault (otherwise `GET /flussi` does).
    pub fn applies_to_esiti(&self) -> bool {
        matches!(
            self,
            Fault::EsitiStatus(_) | Fault::EsitiRetryAfter { .. } | Fault::EsitiTimeout
        )
    }
}

/// Ways [`FakeComune::publish_broken`] breaks an otherwise valid entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Breakage {
    /// `flusso` is not base64.
    InvalidBase64,
    /// `flusso` longer than the spec's 10,000,000 characters (a valid flow padded with an XML comment).
    Oversize,
    /// `codice_ente` of another comune (the XML still names this one).
    WrongCodiceEnte,
    /// `tipo` says SINBA but the flow is PS-PSA-SINA.
    WrongTipo,
    /// `tipo` outside the enum (`PS-PSA-SINA`).
    UnknownTipo,
    /// Valid base64 of something that is not XML.
    NotXml,
    /// A PS flow with one beneficiary and two benefits.
    TwoBenefits,
    /// A PS flow with two beneficiaries of one benefit each.
    TwoBeneficiaries,
}

impl Breakage {
    pub const ALL: &'static [Breakage] = &[
        Breakage::InvalidBase64,
        Breakage::Oversize,
        Breakage::WrongCodiceEnte,
        Breakage::WrongTipo,
        Breakage::UnknownTipo,
        Breakage::NotXml,
        Breakage::TwoBenefits,
        Breakage::TwoBeneficiaries,
    ];
}

/// One outcome received with `POST /esiti` (and answered 2xx).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EsitoSeen {
    pub codice_esito: String,
    pub id_acquisizione_siuss: Option<String>,
    pub descrizione_esito: Option<String>,
    /// As sent (echo of the flow's).
    pub tipo: String,
    pub ts_flusso: String,
    pub ts_acquisizione: String,
}

/// A request answered 4xx because it broke the contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidRequest {
    /// e.g. "GET /flussi".
    pub endpoint: String,
    pub status: u16,
    /// Italian, for test failure messages.
    pub reason: String,
}

/// One valid `GET /flussi` (token and parameters accepted), in arrival order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlussiCall {
    pub since: i64,
    pub limit: usize,
    /// The fault that answered it, if any.
    pub fault: Option<Fault>,
    /// Entries in the page (0 when a fault answered instead).
    pub entries: usize,
}

/// What the comune saw. [`FakeComune::stats`] clones all of it (tens of ms
/// with 100,000 flows): to wait for a poller, use [`FakeComune::wait_esiti`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Ids of every published entry, in publication order (resent copies excluded).
    pub published: Vec<String>,
    /// Esiti accepted (204) per `id_flusso`, in arrival order: duplicates stay visible.
    pub esiti: BTreeMap<String, Vec<EsitoSeen>>,
    /// `GET /flussi` requests received (all, including rejected and faulted ones).
    pub flussi_requests: usize,
    /// The valid `GET /flussi` requests: how the poller walked the log.
    pub flussi_log: Vec<FlussiCall>,
    /// `POST /esiti` requests received (all).
    pub esiti_requests: usize,
    pub status_requests: usize,
    /// Requests answered 4xx for breaking the contract (bad parameters, bad
    /// body, missing or wrong token, wrong content type).
    pub invalid_requests: Vec<InvalidRequest>,
    /// Accepted esiti that look wrong: unknown or never served `id_flusso`,
    /// `ts_flusso`/`tipo` differing from what was served,
    /// `id_acquisizione_siuss` on a non-OK outcome. Italian.
    pub anomalies: Vec<String>,
    /// Ids republished by [`Fault::ResendAcquired`], in order.
    pub resent: Vec<String>,
    /// Entries sent in 200 pages, repeats included.
    pub flows_served: usize,
    /// Distinct published entries served at least once.
    pub distinct_served: usize,
    /// Esiti in `POST /esiti` calls a fault answered non-2xx (not counted in `esiti`).
    pub esiti_refused: usize,
    /// Faults consumed, in order.
    pub faults_consumed: Vec<Fault>,
    /// Faults still queued.
    pub faults_pending: usize,
    /// Requests refused (503, connection closed) while offline; connections
    /// dropped at accept are not counted here (they carry no request).
    pub offline_refusals: usize,
}

impl Stats {
    /// Every published id has exactly one esito, and no esito names an id
    /// never published. The error lists the first offenders (Italian).
    pub fn esiti_exactly_once(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        let mut missing = 0usize;
        let mut repeated = 0usize;
        let mut seen = std::collections::HashSet::with_capacity(self.published.len());
        for id in &self.published {
            if !seen.insert(id.as_str()) {
                continue;
            }
            match self.esiti.get(id).map_or(0, Vec::len) {
                1 => {}
                0 => {
                    missing += 1;
                    if problems.len() < 10 {
                        problems.push(format!("{id}: nessun esito"));
                    }
                }
                n => {
                    repeated += 1;
                    if problems.len() < 10 {
                        problems.push(format!("{id}: {n} esiti"));
                    }
                }
            }
        }
        let unknown: Vec<&String> = self
            .esiti
            .keys()
            .filter(|k| !seen.contains(k.as_str()))
            .collect();
        for id in unknown.iter().take(10) {
            problems.push(format!("{id}: esito per un flusso mai pubblicato"));
        }
        if missing == 0 && repeated == 0 && unknown.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "esiti non ricevuti esattamente una volta: {missing} flussi senza esito, \
                 {repeated} con più esiti, {} esiti per flussi sconosciuti (su {} pubblicati). \
                 Primi casi: {}",
                unknown.len(),
                seen.len(),
                problems.join("; ")
            ))
        }
    }
}

/// One published entry, with its JSON pre-encoded.
struct Stored {
    ts: i64,
    id: Arc<str>,
    json: Box<str>,
    served: bool,
    /// A copy made by `ResendAcquired` (not a candidate for further resends).
    resend: bool,
}

/// What the comune knows of one `id_flusso`, to judge the esiti about it.
struct Known {
    tipo: String,
    /// `ts_flusso` of every version published (resends add one).
    ts: Vec<i64>,
    served: bool,
}

#[derive(Default)]
struct Inner {
    /// Sorted by `ts`, ties in publication order.
    log: Vec<Stored>,
    known: HashMap<Arc<str>, Known>,
    last_ts: i64,
    /// Daily progressive of flow names, per `yyyymmdd`.
    daily: HashMap<u32, u32>,
    faults: VecDeque<Fault>,
    stats: Stats,
}

impl Inner {
    /// Timestamps for `n` new flows, `group` per millisecond, after every
    /// timestamp used so far and ending near now (a comune's log is in the past).
    fn alloc_ts(&mut self, n: usize, group: usize) -> Vec<i64> {
        let group = group.max(1);
        let groups = i64::try_from(n.div_ceil(group)).unwrap_or(i64::MAX);
        let start = ts::clamp((self.last_ts + 1).max(ts::now_ms().saturating_sub(groups)));
        let out: Vec<i64> = (0..n)
            .map(|i| ts::clamp(start.saturating_add((i / group) as i64)))
            .collect();
        if let Some(&last) = out.last() {
            self.last_ts = self.last_ts.max(last);
        }
        out
    }

    /// `{codice}.{PS|SINBA}.{yyyymmdd}.{%07d}` with the daily progressive (DOMAIN.md §2.6).
    fn next_id(&mut self, codice: &str, ts_ms: i64, sinba: bool) -> String {
        let day = ts::yyyymmdd(ts_ms);
        let n = self.daily.entry(day).or_insert(0);
        *n += 1;
        let tipo = if sinba { "SINBA" } else { "PS" };
        format!("{codice}.{tipo}.{day:08}.{n:07}")
    }

    fn insert(&mut self, id: &str, tipo: &str, ts_ms: i64, json: String, resend: bool) {
        let ts = ts::clamp(ts_ms);
        let id: Arc<str> = Arc::from(id);
        let known = self.known.entry(id.clone()).or_insert_with(|| Known {
            tipo: tipo.to_string(),
            ts: Vec::new(),
            served: false,
        });
        known.ts.push(ts);
        if resend {
            self.stats.resent.push(id.to_string());
        } else {
            self.stats.published.push(id.to_string());
        }
        self.last_ts = self.last_ts.max(ts);
        let stored = Stored {
            ts,
            id,
            json: json.into_boxed_str(),
            served: false,
            resend,
        };
        // Appending is the rule; a raw entry published in the past goes after
        // every entry of its millisecond already there.
        if self.log.last().is_none_or(|l| l.ts <= ts) {
            self.log.push(stored);
        } else {
            let at = self.log.partition_point(|s| s.ts <= ts);
            self.log.insert(at, stored);
        }
    }

    fn take_fault(&mut self, esiti: bool) -> Option<Fault> {
        let at = self
            .faults
            .iter()
            .position(|f| f.applies_to_esiti() == esiti)?;
        let f = self.faults.remove(at)?;
        self.stats.faults_consumed.push(f.clone());
        Some(f)
    }

    /// `ResendAcquired`: copies of the last `limit` originals served, with new timestamps.
    fn resend(&mut self, limit: usize) {
        let picked: Vec<Box<str>> = {
            let mut v: Vec<&Stored> = self
                .log
                .iter()
                .rev()
                .filter(|s| s.served && !s.resend)
                .take(limit)
                .collect();
            v.reverse();
            v.into_iter().map(|s| s.json.clone()).collect()
        };
        if picked.is_empty() {
            return;
        }
        let stamps = self.alloc_ts(picked.len(), 1);
        for (json, ts_ms) in picked.iter().zip(stamps) {
            let Ok(w) = serde_json::from_str::<flows::WireEntry>(json) else {
                continue;
            };
            let e = Entry {
                codice_ente: w.codice_ente,
                denominazione_ente: w.denominazione_ente,
                id_flusso: w.id_flusso,
                ts_flusso_ms: ts_ms,
                tipo: w.tipo,
                flusso_base64: w.flusso,
            };
            let json = flows::encode_entry(&e);
            self.insert(&e.id_flusso, &e.tipo, e.ts_flusso_ms, json, true);
        }
    }

    /// The `elenco_flussi` page after `since` and its entry count, marking its entries served.
    fn page(&mut self, since: i64, limit: usize) -> (String, usize) {
        let start = self.log.partition_point(|s| s.ts <= since);
        let end = start.saturating_add(limit).min(self.log.len());
        let slice = &mut self.log[start..end];
        let len: usize = slice.iter().map(|s| s.json.len() + 1).sum();
        let mut body = String::with_capacity(len + 24);
        body.push_str("{\"elenco_flussi\":[");
        for (i, s) in slice.iter_mut().enumerate() {
            if i > 0 {
                body.push(',');
            }
            body.push_str(&s.json);
            if !s.served {
                s.served = true;
                if let Some(k) = self.known.get_mut(&s.id)
                    && !k.served
                {
                    k.served = true;
                    self.stats.distinct_served += 1;
                }
            }
        }
        body.push_str("]}");
        self.stats.flows_served += end - start;
        (body, end - start)
    }
}

/// State shared by the handle and the HTTP handlers.
pub(crate) struct Shared {
    cfg: FakeConfig,
    inner: Mutex<Inner>,
    offline: AtomicBool,
    shutdown: watch::Receiver<bool>,
    /// Held for a whole generated publication: its timestamps are allocated
    /// before its XML is made, so two concurrent ones must not interleave
    /// (a poller could pass the later one's timestamps before the earlier
    /// one's entries land).
    publishing: Mutex<()>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave Inner half-updated in a
        // way that matters to a test double; keep serving.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Resolves at shutdown.
    async fn until_shutdown(&self) {
        let mut rx = self.shutdown.clone();
        let _ = rx.wait_for(|stop| *stop).await;
    }
}

/// A running fake comune. Dropping it stops the server (prefer [`FakeComune::shutdown`]).
pub struct FakeComune {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// Starts a fake comune on 127.0.0.1 with a free port.
pub async fn start(cfg: FakeConfig) -> std::io::Result<FakeComune> {
    start_on(cfg, SocketAddr::from(([127, 0, 0, 1], 0))).await
}

/// Starts a fake comune on `addr`.
pub async fn start_on(cfg: FakeConfig, addr: SocketAddr) -> std::io::Result<FakeComune> {
    let c = cfg.codice_ente.as_bytes();
    if !(c.len() == 4 && c[0].is_ascii_uppercase() && c[1..].iter().all(u8::is_ascii_digit)) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "codice_ente \"{}\" non valido: serve un codice Belfiore (una lettera maiuscola e tre cifre, es. H501)",
                cfg.codice_ente
            ),
        ));
    }
    if cfg.denominazione.chars().count() > 256 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "denominazione oltre 256 caratteri (limite di denominazione_ente)",
        ));
    }
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let (stop, shutdown) = watch::channel(false);
    let shared = Arc::new(Shared {
        cfg,
        inner: Mutex::new(Inner::default()),
        offline: AtomicBool::new(false),
        shutdown,
        publishing: Mutex::new(()),
    });
    let task = tokio::spawn(http::serve(listener, shared.clone()));
    tracing::info!(%addr, "comune finto avviato");
    Ok(FakeComune {
        shared,
        addr,
        stop,
        task: Some(task),
    })
}

impl FakeComune {
    /// `http://127.0.0.1:PORT/waas/v1`
    pub fn base_url(&self) -> String {
        format!("http://{}/waas/v1", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn config(&self) -> &FakeConfig {
        &self.shared.cfg
    }

    /// Publishes `n` valid one-beneficiary one-benefit flows of this comune
    /// (about 1 in 10 SINBA, the rest PS-PSA-SINA), deterministic in `seed`
    /// apart from names and timestamps; `same_ms_group` consecutive flows
    /// share each `ts_flusso` millisecond (0 or 1: all distinct). Returns the
    /// ids in publication (= `ts_flusso`) order. Use a different seed for each
    /// batch: the same seed makes the same records, which the register would
    /// reject as duplicates.
    pub fn publish_generated(&self, n: usize, seed: u64, same_ms_group: usize) -> Vec<String> {
        let _publishing = self
            .shared
            .publishing
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let kinds: Vec<bool> = (0..n).map(|_| rng.random_ratio(1, 10)).collect();
        let n_sinba = kinds.iter().filter(|s| **s).count();
        let cfg = &self.shared.cfg;
        // Names and timestamps first (under the lock, cheap), then the XML
        // outside it: generation is the slow part.
        let named: Vec<(String, i64)> = {
            let mut inner = self.shared.lock();
            let stamps = inner.alloc_ts(n, same_ms_group);
            kinds
                .iter()
                .zip(stamps)
                .map(|(sinba, t)| (inner.next_id(&cfg.codice_ente, t, *sinba), t))
                .collect()
        };
        let mut factory = flows::Factory::new(
            &cfg.codice_ente,
            &cfg.denominazione,
            seed,
            n - n_sinba,
            n_sinba,
        );
        let head = flows::generated_head(&cfg.codice_ente, &cfg.denominazione);
        let mut xml = Vec::with_capacity(4096);
        let entries: Vec<(String, i64, bool, String)> = kinds
            .iter()
            .zip(named)
            .map(|(sinba, (id, t))| {
                if *sinba {
                    factory.sinba_into(&id, &mut xml);
                } else {
                    factory.ps_one_into(&id, &mut xml);
                }
                let json = flows::encode_generated(&head, &id, t, flows::tipo_wire(*sinba), &xml);
                (id, t, *sinba, json)
            })
            .collect();
        let ids = entries.iter().map(|(id, ..)| id.clone()).collect();
        let mut inner = self.shared.lock();
        for (id, t, sinba, json) in entries {
            inner.insert(&id, flows::tipo_wire(sinba), t, json, false);
        }
        ids
    }

    /// A valid entry of this comune with a fresh name and timestamp, not yet
    /// published: break it as a test needs, then [`FakeComune::publish`] it.
    pub fn make_entry(&self, seed: u64, sinba: bool) -> Entry {
        let cfg = &self.shared.cfg;
        let (id, t) = {
            let mut inner = self.shared.lock();
            let t = inner.alloc_ts(1, 1)[0];
            (inner.next_id(&cfg.codice_ente, t, sinba), t)
        };
        let mut f = flows::Factory::new(
            &cfg.codice_ente,
            &cfg.denominazione,
            seed,
            usize::from(!sinba),
            usize::from(sinba),
        );
        let mut xml = Vec::with_capacity(4096);
        if sinba {
            f.sinba_into(&id, &mut xml);
        } else {
            f.ps_one_into(&id, &mut xml);
        }
        Entry {
            codice_ente: cfg.codice_ente.clone(),
            denominazione_ente: Some(cfg.denominazione.clone()),
            id_flusso: id,
            ts_flusso_ms: t,
            tipo: flows::tipo_wire(sinba).to_string(),
            flusso_base64: flows::b64(&xml),
        }
    }

    /// Publishes one PS entry broken as `kind` says; returns its id.
    pub fn publish_broken(&self, kind: Breakage, seed: u64) -> String {
        let mut e = self.make_entry(seed, false);
        let cfg = &self.shared.cfg;
        match kind {
            Breakage::InvalidBase64 => e.flusso_base64 = "questo non è base64!".to_string(),
            Breakage::Oversize => {
                let xml = base64_decode(&e.flusso_base64);
                // Pad inside an XML comment right after the declaration, so
                // the flow stays valid and only its size is wrong.
                let cut = xml.windows(2).position(|w| w == b"?>").map_or(0, |p| p + 2);
                let mut big = Vec::with_capacity(7_600_000);
                big.extend_from_slice(&xml[..cut]);
                big.extend_from_slice(b"\n<!--");
                big.resize(big.len() + 7_500_010, b' ');
                big.extend_from_slice(b"-->");
                big.extend_from_slice(&xml[cut..]);
                e.flusso_base64 = flows::b64(&big);
            }
            Breakage::WrongCodiceEnte => {
                e.codice_ente = if cfg.codice_ente == "A001" {
                    "A002"
                } else {
                    "A001"
                }
                .to_string()
            }
            Breakage::WrongTipo => e.tipo = "SINBA".to_string(),
            Breakage::UnknownTipo => e.tipo = "PS-PSA-SINA".to_string(),
            Breakage::NotXml => e.flusso_base64 = flows::b64("questo non è XML".as_bytes()),
            Breakage::TwoBenefits | Breakage::TwoBeneficiaries => {
                let (b, p) = if kind == Breakage::TwoBenefits {
                    (1, 2)
                } else {
                    (2, 1)
                };
                let mut f = flows::Factory::new(&cfg.codice_ente, &cfg.denominazione, seed, 64, 0);
                e.flusso_base64 = flows::b64(&f.ps_xml(&e.id_flusso, b, p));
            }
        }
        let id = e.id_flusso.clone();
        self.publish(e);
        id
    }

    /// Publishes a raw entry (may be deliberately broken). Its `ts_flusso` is
    /// taken as given: publishing at or before a timestamp already served makes
    /// the entry invisible to a correct poller, as it would be in reality.
    pub fn publish(&self, entry: Entry) {
        let json = flows::encode_entry(&entry);
        self.shared.lock().insert(
            &entry.id_flusso,
            &entry.tipo,
            entry.ts_flusso_ms,
            json,
            false,
        );
    }

    /// Queues a fault (FIFO).
    pub fn inject(&self, fault: Fault) {
        self.shared.lock().faults.push_back(fault);
    }

    pub fn stats(&self) -> Stats {
        let inner = self.shared.lock();
        let mut s = inner.stats.clone();
        s.faults_pending = inner.faults.len();
        s
    }

    /// Waits until at least `ids` distinct `id_flusso` have an esito, or
    /// `timeout` passes; true when reached. For tests driving a poller that
    /// runs in the background.
    pub async fn wait_esiti(&self, ids: usize, timeout: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.shared.lock().stats.esiti.len() >= ids {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// See [`Stats::esiti_exactly_once`].
    pub fn esiti_exactly_once(&self) -> Result<(), String> {
        self.stats().esiti_exactly_once()
    }

    /// Like [`FakeComune::esiti_exactly_once`], but a flow republished by
    /// [`Fault::ResendAcquired`] counts once per version: every `(id_flusso,
    /// ts_flusso)` published must have exactly one esito echoing that
    /// `ts_flusso`. For a poller that answers every delivery of a flow, re-sent
    /// ones included. Every version must have been served by then.
    pub fn esiti_exactly_once_per_version(&self) -> Result<(), String> {
        let inner = self.shared.lock();
        let mut problems = Vec::new();
        let mut bad = 0usize;
        let mut versions = 0usize;
        let mut ids: Vec<&Arc<str>> = inner.known.keys().collect();
        ids.sort_unstable();
        for id in ids {
            let Some(k) = inner.known.get(id) else {
                continue;
            };
            let seen = inner.stats.esiti.get(&**id);
            for t in &k.ts {
                versions += 1;
                let n = seen.map_or(0, |v| {
                    v.iter()
                        .filter(|e| ts::parse_ms(&e.ts_flusso) == Some(*t))
                        .count()
                });
                if n != 1 {
                    bad += 1;
                    if problems.len() < 10 {
                        problems.push(format!("{id} @ {}: {n} esiti", ts::format_ms(*t)));
                    }
                }
            }
        }
        let unknown = inner
            .stats
            .esiti
            .keys()
            .filter(|k| !inner.known.contains_key(k.as_str()))
            .count();
        if bad == 0 && unknown == 0 {
            Ok(())
        } else {
            Err(format!(
                "esiti per versione: {bad} versioni su {versions} senza esattamente un esito, \
                 {unknown} esiti per flussi sconosciuti. Primi casi: {}",
                problems.join("; ")
            ))
        }
    }

    /// Offline: new connections are closed at once; requests arriving on
    /// connections already open get 503 with `Connection: close`.
    pub fn set_offline(&self, offline: bool) {
        self.shared.offline.store(offline, Ordering::SeqCst);
    }

    /// Stops the server: pending faults (`Timeout`, `Hang`) end, open
    /// connections close, the port is released.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(std::time::Duration::from_secs(5), &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }
}

impl Drop for FakeComune {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .unwrap_or_default()
}
