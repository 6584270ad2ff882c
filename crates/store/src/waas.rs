//! Types of what the register keeps about WaaS polling (migration
//! `0004_waas`): the comuni's endpoints, the entries acquired with their
//! outcomes, the per-ente cursor, deliveries of outcomes and their
//! attempts, and one row per poll run.

use casellario_domain::CodiceEsito;

use crate::EnteId;
use crate::portal::AccountId;

/// Where the bearer token of an endpoint comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// No `Authorization` header (a test comune).
    None,
    /// The token itself, stored in the register.
    Token(String),
    /// The name of an environment variable of the server holding the token.
    Env(String),
}

impl Credential {
    pub fn kind(&self) -> &'static str {
        match self {
            Credential::None => "nessuna",
            Credential::Token(_) => "token",
            Credential::Env(_) => "env",
        }
    }
}

// Tokens must never reach a log line: Debug shows the kind only (and the
// variable's name, which is not a secret).
impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::None => f.write_str("Credential::None"),
            Credential::Token(_) => f.write_str("Credential::Token(***)"),
            Credential::Env(name) => write!(f, "Credential::Env({name})"),
        }
    }
}

/// An endpoint as an administrator sets it.
#[derive(Debug, Clone)]
pub struct EndpointAttrs<'a> {
    /// Base URL of the comune's API, e.g. `https://host/waas/v1`.
    pub base_url: &'a str,
    pub credential: Credential,
    pub interval_secs: u32,
    pub enabled: bool,
}

/// The current endpoint of an ente (its newest revision).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub revision_id: i64,
    pub ente_id: EnteId,
    pub ente_codice: String,
    pub base_url: String,
    pub credential: Credential,
    pub interval_secs: u32,
    pub enabled: bool,
    pub account_id: Option<AccountId>,
    pub learnt_at_ms: i64,
}

/// An entry to record as acquired.
#[derive(Debug, Clone, Copy)]
pub struct NewAcquisition<'a> {
    pub ente_id: EnteId,
    pub id_flusso: &'a str,
    pub ts_flusso_ms: i64,
    /// `tipo` as the comune sent it.
    pub tipo: &'a str,
    pub sha256: [u8; 32],
    pub submission_id: Option<i64>,
    pub codice_esito: CodiceEsito,
    pub descrizione_esito: Option<&'a str>,
    pub id_acquisizione_siuss: Option<&'a str>,
}

/// An acquired entry and the outcome the comune is (or was) told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acquisition {
    pub id: i64,
    pub ente_id: EnteId,
    pub id_flusso: String,
    pub ts_flusso_ms: i64,
    pub tipo: String,
    pub sha256: [u8; 32],
    pub submission_id: Option<i64>,
    pub codice_esito: CodiceEsito,
    pub descrizione_esito: Option<String>,
    pub id_acquisizione_siuss: Option<String>,
    /// `ts_acquisizione` of the outcome.
    pub learnt_at_ms: i64,
}

/// Outcome of one POST /esiti.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    Delivered,
    Failed,
}

#[derive(Debug, Clone, Copy)]
pub struct NewAttempt<'a> {
    pub ente_id: EnteId,
    pub esiti: u32,
    pub http_status: Option<u16>,
    pub outcome: AttemptOutcome,
    pub message: Option<&'a str>,
    pub next_attempt_at_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub id: i64,
    pub ente_id: EnteId,
    pub attempted_at_ms: i64,
    pub esiti: u32,
    pub http_status: Option<u16>,
    pub outcome: AttemptOutcome,
    pub message: Option<String>,
    pub next_attempt_at_ms: Option<i64>,
}

/// What started a poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollTrigger {
    /// The scheduler of `casellario serve`.
    Scheduled,
    /// "Esegui ora" in the portal.
    Manual,
    /// `casellario waas poll`.
    Cli,
}

impl PollTrigger {
    pub fn wire(self) -> &'static str {
        match self {
            PollTrigger::Scheduled => "pianificato",
            PollTrigger::Manual => "manuale",
            PollTrigger::Cli => "riga_di_comando",
        }
    }
    pub fn from_wire(s: &str) -> Option<Self> {
        match s {
            "pianificato" => Some(PollTrigger::Scheduled),
            "manuale" => Some(PollTrigger::Manual),
            "riga_di_comando" => Some(PollTrigger::Cli),
            _ => None,
        }
    }
}

/// One finished poll of an ente.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollRun {
    pub id: i64,
    pub ente_id: EnteId,
    pub started_at_ms: i64,
    pub finished_at_ms: i64,
    pub trigger: PollTrigger,
    pub pages: u32,
    pub new_flows: u32,
    pub duplicates: u32,
    pub esiti_delivered: u32,
    pub esiti_pending: u32,
    /// The cursor when the run ended.
    pub cursor_ms: i64,
    pub fault_code: Option<String>,
    pub fault_message: Option<String>,
    /// JSON array of `{codice, messaggio}`.
    pub anomalies: String,
    pub not_before_ms: Option<i64>,
}

/// A poll run to record (`id` and `ente_id` as in [`PollRun`]).
pub type NewPollRun = PollRun;

/// A line of the administrator's WaaS page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointOverview {
    pub endpoint: Endpoint,
    pub ente_denominazione: String,
    pub cursor_ms: i64,
    pub last_run: Option<PollRun>,
    pub pending_esiti: u64,
    pub acquisitions: u64,
}
