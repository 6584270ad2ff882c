//! WaaS: the register polls the comuni that expose the INPS WaaS API
//! (DOMAIN.md §2.5, `waas-api-comuni.yaml`): `GET /flussi?since=&limit=100`
//! until an empty page, every entry through the one pipeline
//! (`crate::submit::submit_blocking`, channel WaaS), then `POST /esiti`.
//!
//! - [`client`]: HTTP (reqwest) with timeouts, a byte cap on pages,
//!   `Retry-After`.
//! - [`envelope`]: decoding and checking of one `Flusso` entry.
//! - [`poll`]: one poll of one ente ([`poll_once`]): pages, cursor, store.
//! - [`esiti`]: delivery of outcomes with a backoff that survives restarts.
//! - [`scheduler`]: the tick inside `casellario serve`.
//! - [`pages`]: the administrator's pages.
//!
//! Invariants: a page's acquisitions, the records the pipeline stored for
//! them and the cursor advance commit in one transaction (`Store::batch`),
//! so a crash or an aborted poll loses or doubles nothing; an entry is
//! acquired once per (ente, id_flusso, SHA-256 of the flow); outcomes are
//! delivered at least once until the comune answers 2xx, and each
//! acquisition has one outcome, so a comune that acknowledges sees each
//! outcome once.

pub mod client;
pub mod envelope;
pub mod esiti;
pub(crate) mod pages;
pub mod poll;
pub mod scheduler;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use casellario_store::EnteId;

pub use poll::{PollSummary, poll_ente, poll_once};

/// Entries asked per page: the maximum the contract allows.
pub const PAGE_LIMIT: usize = 100;
/// Outcomes per POST /esiti: the maximum the contract allows.
pub const ESITI_BATCH: usize = 100;

/// A fault that ended a poll (or kept it from starting): a stable code and
/// an Italian message for the administrator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WaasError {
    #[error("il comune non ha risposto entro {0} ms")]
    Timeout(u64),
    #[error("comune non raggiungibile: {0}")]
    Unreachable(String),
    #[error("il comune ha risposto con lo stato HTTP {status}{}", detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Http { status: u16, detail: Option<String> },
    #[error("il comune ha chiesto di riprovare tra {secs} secondi (HTTP {status})")]
    RetryAfter { status: u16, secs: u64 },
    #[error("risposta del comune non conforme (JSON non valido): {0}")]
    Json(String),
    #[error("la pagina del comune supera il limite di {0} byte")]
    PageTooLarge(u64),
    #[error("il poll ha superato la durata massima di {0} ms")]
    Deadline(u64),
    #[error("credenziale non disponibile: {0}")]
    Credential(String),
    #[error("nessun endpoint WaaS registrato per l'ente {0}")]
    NoEndpoint(String),
    #[error("l'endpoint WaaS dell'ente {0} è disattivato")]
    Disabled(String),
    #[error("ente {0} sconosciuto")]
    UnknownEnte(String),
    #[error("l'ente {0} è disattivato")]
    EnteInactive(String),
    #[error("un poll dell'ente {0} è già in corso")]
    Busy(String),
    #[error("errore interno del registro: {0}")]
    Internal(String),
}

impl WaasError {
    /// Stable code, shown to administrators and recorded in the poll run.
    pub fn code(&self) -> &'static str {
        match self {
            WaasError::Timeout(_) => "WAAS_TIMEOUT",
            WaasError::Unreachable(_) => "WAAS_IRRAGGIUNGIBILE",
            WaasError::Http { .. } => "WAAS_HTTP_ERRORE",
            WaasError::RetryAfter { .. } => "WAAS_RITENTA_DOPO",
            WaasError::Json(_) => "WAAS_JSON_NON_VALIDO",
            WaasError::PageTooLarge(_) => "WAAS_PAGINA_TROPPO_GRANDE",
            WaasError::Deadline(_) => "WAAS_TEMPO_SCADUTO",
            WaasError::Credential(_) => "WAAS_CREDENZIALE_ASSENTE",
            WaasError::NoEndpoint(_) => "WAAS_ENDPOINT_ASSENTE",
            WaasError::Disabled(_) => "WAAS_ENDPOINT_DISATTIVATO",
            WaasError::UnknownEnte(_) => "WAAS_ENTE_SCONOSCIUTO",
            WaasError::EnteInactive(_) => "WAAS_ENTE_DISATTIVATO",
            WaasError::Busy(_) => "WAAS_IN_CORSO",
            WaasError::Internal(_) => "WAAS_ERRORE_INTERNO",
        }
    }

    /// Seconds the comune asked us to wait, if it did.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            WaasError::RetryAfter { secs, .. } => Some(*secs),
            _ => None,
        }
    }
}

impl From<crate::AppError> for WaasError {
    fn from(e: crate::AppError) -> Self {
        WaasError::Internal(format!("{}: {}", e.code, e.message))
    }
}

impl From<casellario_store::StoreError> for WaasError {
    fn from(e: casellario_store::StoreError) -> Self {
        WaasError::Internal(e.to_string())
    }
}

/// The poller's shared parts, one per server: the HTTP client (its
/// connection pool) and the enti being polled right now.
#[derive(Clone)]
pub struct Waas {
    pub(crate) http: reqwest::Client,
    running: Arc<Mutex<HashSet<EnteId>>>,
}

impl Waas {
    pub fn new(cfg: &crate::Config) -> Result<Waas, crate::AppError> {
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_millis(
                cfg.waas_connect_timeout_ms.max(1),
            ))
            .user_agent(concat!("casellario/", env!("CARGO_PKG_VERSION")))
            // A comune's API is reached at the URL registered, never elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| crate::AppError::internal(format!("client HTTP WaaS: {e}")))?;
        Ok(Waas {
            http,
            running: Arc::default(),
        })
    }

    /// Marks `ente` as being polled; `None` when it already is.
    pub(crate) fn claim(&self, ente: EnteId) -> Option<RunningGuard> {
        let mut set = self.running.lock().ok()?;
        set.insert(ente).then(|| RunningGuard {
            set: Arc::clone(&self.running),
            ente,
        })
    }

    /// Whether a poll of `ente` is running.
    pub fn is_running(&self, ente: EnteId) -> bool {
        self.running.lock().is_ok_and(|s| s.contains(&ente))
    }
}

/// Releases the claim on an ente when the poll ends, however it ends
/// (including a task aborted by the scheduler's deadline).
pub(crate) struct RunningGuard {
    set: Arc<Mutex<HashSet<EnteId>>>,
    ente: EnteId,
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        if let Ok(mut s) = self.set.lock() {
            s.remove(&self.ente);
        }
    }
}

/// Exponential backoff with jitter: `base · 2^(failures−1)`, capped at
/// `max`, then a random point in its upper half (so many comuni failing
/// together do not retry in step).
pub fn backoff_ms(failures: u32, base_ms: u64, max_ms: u64) -> u64 {
    use rand::Rng;
    let exp = failures.saturating_sub(1).min(30);
    let d = base_ms.saturating_mul(1u64 << exp).min(max_ms).max(1);
    let half = d / 2;
    half + rand::rng().random_range(0..=d - half)
}

/// RFC 3339 in UTC with milliseconds, as the contract's examples write it
/// (`2023-11-27T11:04:56.852Z`).
pub fn rfc3339_ms(ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(t) => format!("{t:.3}"),
        Err(_) => "1970-01-01T00:00:00.000Z".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        for f in 1..40 {
            let d = backoff_ms(f, 1000, 60_000);
            let nominal = (1000u64 << (f - 1).min(30)).min(60_000);
            assert!(d >= nominal / 2 && d <= nominal, "{f}: {d} vs {nominal}");
        }
    }

    #[test]
    fn timestamps_have_milliseconds_and_z() {
        assert_eq!(rfc3339_ms(1_701_083_096_852), "2023-11-27T11:04:56.852Z");
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
    }
}
