//! Types of what the portal and the API keep beside the register's facts:
//! enti as administrators manage them, accounts, sessions, the audit log and
//! the access log (migration `0002_portal`), and the read models of the
//! Consultazione pages.

use casellario_domain::FlowType;
use casellario_domain::access::{EnteKind, Role};

use casellario_domain::{Channel, CodiceEsito, Violation};

use crate::{CancelReason, EnteId, FlowId, VersionId};

pub type AccountId = i64;

/// An ente with its current attributes (newest revision, else as
/// registered by its first flow).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnteProfile {
    pub id: EnteId,
    pub codice: String,
    pub denominazione: String,
    pub belfiore: String,
    pub tipo: EnteKind,
    pub attivo: bool,
    pub created_at_ms: i64,
}

/// Attributes of an ente set by an administrator.
#[derive(Debug, Clone, Copy)]
pub struct EnteAttrs<'a> {
    pub denominazione: &'a str,
    pub belfiore: &'a str,
    pub tipo: EnteKind,
    pub attivo: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub username: String,
    pub nome: String,
    pub role: Role,
    pub ente_id: Option<EnteId>,
    /// PHC string (argon2id).
    pub password_hash: String,
    pub must_change: bool,
    pub attivo: bool,
    pub failed_logins: u32,
    pub locked_until_ms: Option<i64>,
    pub created_at_ms: i64,
}

#[derive(Debug, Clone, Copy)]
pub struct NewAccount<'a> {
    pub username: &'a str,
    pub nome: &'a str,
    pub role: Role,
    pub ente_id: Option<EnteId>,
    pub password_hash: &'a str,
    pub must_change: bool,
}

/// A live session and its account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub account: Account,
    pub csrf: String,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub id: i64,
    pub at_ms: i64,
    pub account_id: Option<AccountId>,
    pub username: Option<String>,
    pub action: String,
    pub ente_id: Option<EnteId>,
    /// JSON object.
    pub detail: String,
    pub ip: Option<String>,
}

#[derive(Debug, Clone, Copy)]
pub struct NewAuditEvent<'a> {
    pub account_id: Option<AccountId>,
    pub username: Option<&'a str>,
    pub action: &'a str,
    pub ente_id: Option<EnteId>,
    pub detail: &'a str,
    pub ip: Option<&'a str>,
}

/// One read of personal data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub id: i64,
    pub at_ms: i64,
    /// The account that read, or None for an API client.
    pub account_id: Option<AccountId>,
    /// The account's username, or the API client's id.
    pub username: String,
    /// The API client that read (cooperation API), if not an account.
    pub api_client: Option<String>,
    pub ente_id: Option<EnteId>,
    /// Codice fiscale or IDBeneficiario whose data was read.
    pub subject: String,
    /// What was read (e.g. `ricerca`, `record 123`).
    pub what: String,
    pub purpose: String,
}

#[derive(Debug, Clone, Copy)]
pub struct NewAccess<'a> {
    pub account_id: AccountId,
    pub username: &'a str,
    pub ente_id: Option<EnteId>,
    pub subject: &'a str,
    pub what: &'a str,
    pub purpose: &'a str,
}

/// Totals of an ente's flows, from the per-flow counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EnteStats {
    pub flows: u64,
    pub records: u64,
    pub accettati: u64,
    pub duplicati: u64,
    pub scartati: u64,
    pub avvisi: u64,
    pub live_ps: u64,
    pub live_sinba: u64,
    pub last_flow_at_ms: Option<i64>,
}

/// A rejected record of an ente's recent flows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub flow_id: FlowId,
    pub flow_nome: String,
    pub pos: u64,
    pub learnt_at_ms: i64,
    /// Rule codes of the record's errors.
    pub rules: Vec<String>,
}

/// Search criteria of Consultazione; all optional, combined with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordQuery {
    /// Codice fiscale (PS) or IDBeneficiario (SINBA), exact.
    pub subject: Option<String>,
    pub codice_prestazione: Option<String>,
    pub protocollo: Option<String>,
    /// ISO dates, inclusive, on the record's reference date.
    pub from: Option<String>,
    pub to: Option<String>,
    pub tipo: Option<FlowType>,
    /// Also versions no longer live.
    pub include_cancelled: bool,
}

/// A record version found by a search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordHit {
    pub version_id: VersionId,
    pub flow_id: FlowId,
    pub flow_nome: String,
    pub tipo: FlowType,
    pub pos: u64,
    pub subject: String,
    pub codice_prestazione: Option<String>,
    pub protocollo: Option<String>,
    pub data_riferimento: Option<String>,
    pub learnt_at_ms: i64,
    pub cancelled: Option<CancellationInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancellationInfo {
    pub flow_id: FlowId,
    pub flow_nome: String,
    pub pos: u64,
    pub reason: CancelReason,
    pub learnt_at_ms: i64,
}

/// A version with its payload, for the record page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionDetail {
    pub hit: RecordHit,
    pub key: [u8; 16],
    pub payload: Vec<u8>,
}

/// One transmission through the portal or the API, as its receipt summed it up.
#[derive(Debug, Clone)]
pub struct NewSubmission<'a> {
    pub ente_id: EnteId,
    pub account_id: Option<AccountId>,
    pub channel: Channel,
    pub source_name: Option<&'a str>,
    pub id_flusso: Option<&'a str>,
    pub tipo: Option<FlowType>,
    /// The flow stored (or, for a resubmission, the flow acquired before).
    pub flow_id: Option<FlowId>,
    pub codice_esito: CodiceEsito,
    pub record_count: u64,
    pub accettati: u64,
    pub duplicati: u64,
    pub scartati: u64,
    pub avvisi: u64,
    pub rejected_whole: bool,
    pub already: bool,
    pub flow_violations: &'a [Violation],
    pub size_bytes: u64,
    pub sha256: [u8; 32],
}

/// A line of an ente's list of transmissions: a stored flow, or a
/// submission that stored nothing (rejected whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmission {
    /// `Some` for a stored flow.
    pub flow_id: Option<FlowId>,
    /// `Some` for a submission without a flow.
    pub submission_id: Option<i64>,
    pub nome: Option<String>,
    pub tipo: Option<FlowType>,
    pub channel: Channel,
    pub source_name: Option<String>,
    pub codice_esito: CodiceEsito,
    pub record_count: u64,
    pub accettati: u64,
    pub duplicati: u64,
    pub scartati: u64,
    pub avvisi: u64,
    pub rejected_whole: bool,
    pub learnt_at_ms: i64,
}

/// A submission that stored nothing, with what its receipt said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmissionDetail {
    pub id: i64,
    pub ente_id: EnteId,
    pub transmission: Transmission,
    pub flow_violations: Vec<Violation>,
    pub size_bytes: u64,
    pub sha256: [u8; 32],
}
