//! casellario-store: the embedded storage of the register (SQLite in WAL
//! mode, through rusqlite). A narrow, synchronous interface used by the
//! ingestion pipeline (one writer thread) and by the HTTP server (readers,
//! each with its own [`Store`], via `spawn_blocking`). The pipeline decides
//! outcomes; the store records facts and answers lookups. No rusqlite type
//! appears in the public API, so a PostgreSQL backend can offer the same one.
//!
//! # Schema (`migrations/sqlite/`, tracked by `PRAGMA user_version`)
//!
//! - `ente`: codice (UNIQUE), denominazione, belfiore; registered by the
//!   first flow of the ente.
//! - `flow`: one row per flow, inserted at [`Store::begin_flow`] with what is
//!   known then; `UNIQUE (ente_id, nome)` makes ingestion exactly-once.
//! - `flow_commit`: the flow's outcome (hash, size, counters, codice esito,
//!   flow violations), inserted by [`FlowTx::commit`] in the same
//!   transaction. Splitting the flow in two insert-only rows is what lets
//!   the flow row be written before its outcome is known without ever
//!   updating it.
//! - `record_version`: one accepted record (natural key, content hash,
//!   subject, a few search fields, opaque payload).
//! - `cancellation`: ends the life of one version (`target` UNIQUE); made
//!   by a C record or by a SINBA record superseding an older version.
//! - `record_outcome`: receipt rows that are not "accepted, no violations"
//!   (duplicates, rejections, warnings). Plain accepted records need no row:
//!   their receipt is derived from the version or cancellation they made.
//! - WaaS (`0004_waas`, [`waas`]): endpoint revisions per ente, entries
//!   acquired (unique per ente, `id_flusso`, SHA-256) with their outcome,
//!   cursor advances, outcome deliveries and attempts, poll runs.
//!
//! # Why append-only
//!
//! The register is evidence of what each ente sent and when: every row is a
//! fact with the time the register learnt it (`learnt_at`, unix ms), and
//! triggers refuse UPDATE and DELETE on every table. Corrections arrive as
//! new facts (cancellations, newer versions), never as edits, so any past
//! receipt can be recomputed and audited.
//!
//! # The current view is derived
//!
//! A version is *live* when no cancellation references it. The live version
//! for a natural key is the newest live version with that key, within the
//! flow's ente and flow type. Live counts are derived from per-flow counters
//! in `flow_commit` (versions inserted minus cancellations made), which is
//! exact because every cancellation targets a distinct version of the same
//! ente and type (enforced by [`FlowTx::insert_cancellation`]).
//!
//! # Transactions and durability
//!
//! A whole flow is one `BEGIN IMMEDIATE ... COMMIT`; dropping a [`FlowTx`]
//! without committing rolls everything back. Connections run with
//! `journal_mode=WAL`, `synchronous=FULL`, `foreign_keys=ON`,
//! `recursive_triggers=ON` (so `INSERT OR REPLACE` cannot delete through the
//! back door), a 5 s busy timeout and a 64 MiB page cache: a large flow
//! spills dirty pages to the WAL instead of growing memory (a 1,000,000
//! record flow peaks at ~70 MB resident). New files use 16 KiB pages.
//!
//! # Performance notes
//!
//! The hot path is `live_by_key` + `insert_version`, on statements prepared
//! once per flow. Indexes are kept to the minimum: the natural-key index on
//! `record_version(key)`; a flow's rows are found by rowid range (recorded
//! in `flow_commit`), not by a `flow_id` index; outcomes have `UNIQUE
//! (flow_id, pos)`; cancellations `UNIQUE (target)`.

pub mod api;
pub mod portal;
mod sqlite;
pub mod waas;

use casellario_domain::{Channel, CodiceEsito, Esito, FlowType, Profile, Violation};

pub use sqlite::{FlowTx, Store};

pub type FlowId = i64;
pub type VersionId = i64;
pub type CancellationId = i64;
pub type EnteId = i64;

/// Result of [`Store::begin_flow`].
// Built once per flow and matched at once: boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub enum FlowBegin<'a> {
    /// The flow is new: write its records and commit.
    New(FlowTx<'a>),
    /// A flow with this (ente, nome) was already committed; nothing was written.
    Existing(FlowSummary),
}

/// What is known about a flow when its ingestion begins.
#[derive(Debug, Clone, Copy)]
pub struct NewFlow<'a> {
    pub nome: &'a str,
    pub tipo: FlowType,
    pub channel: Channel,
    pub profile: Profile,
    pub ente_codice: &'a str,
    pub ente_denominazione: Option<&'a str>,
    pub ente_belfiore: &'a str,
    pub cf_operatore: &'a str,
    pub source_name: Option<&'a str>,
}

/// The live version for a natural key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveVersion {
    pub version_id: VersionId,
    pub content_hash: [u8; 16],
}

/// An accepted record to store as a new version.
#[derive(Debug, Clone, Copy)]
pub struct NewVersion<'a> {
    /// 1-based position of the record in the flow.
    pub pos: u64,
    pub key: [u8; 16],
    pub content_hash: [u8; 16],
    /// Beneficiary codice fiscale (PS) or IDBeneficiario (SINBA).
    pub subject: &'a str,
    pub codice_prestazione: Option<&'a str>,
    pub protocollo: Option<&'a str>,
    /// ISO date: DataInizio or DataErogazione (PS), None for SINBA.
    pub data_riferimento: Option<&'a str>,
    /// Opaque canonical encoding of the record, produced by the pipeline.
    pub payload: &'a [u8],
}

/// Why a version stopped being live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CancelReason {
    /// TipoOperazione C.
    Cancellazione,
    /// SINBA: superseded by a newer version.
    Sostituzione,
}

impl CancelReason {
    pub fn wire(self) -> &'static str {
        match self {
            CancelReason::Cancellazione => "cancellazione",
            CancelReason::Sostituzione => "sostituzione",
        }
    }
}

/// A receipt row that is not "accepted with no violations".
#[derive(Debug, Clone, Copy)]
pub struct NewOutcome<'a> {
    pub pos: u64,
    pub esito: Esito,
    pub codice: CodiceEsito,
    pub violations: &'a [Violation],
    /// The version or cancellation this record produced, or the live
    /// version it duplicated.
    pub ref_id: Option<i64>,
}

/// What is known about a flow when its ingestion ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowFinish {
    pub content_sha256: [u8; 32],
    pub size_bytes: u64,
    pub record_count: u64,
    pub accettati: u64,
    pub duplicati: u64,
    pub scartati: u64,
    pub avvisi: u64,
    pub codice_esito: CodiceEsito,
    pub flow_violations: Vec<Violation>,
}

/// A committed flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowSummary {
    pub id: FlowId,
    pub nome: String,
    pub tipo: FlowType,
    pub channel: Channel,
    pub profile: Profile,
    pub ente_codice: String,
    pub cf_operatore: String,
    pub content_sha256: [u8; 32],
    pub size_bytes: u64,
    pub record_count: u64,
    pub accettati: u64,
    pub duplicati: u64,
    pub scartati: u64,
    pub avvisi: u64,
    pub codice_esito: CodiceEsito,
    pub flow_violations: Vec<Violation>,
    /// When the flow's ingestion began (its records carry the same time).
    pub learnt_at_ms: i64,
    pub source_name: Option<String>,
}

/// One row of a flow's receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptRow {
    pub pos: u64,
    pub esito: Esito,
    pub codice: CodiceEsito,
    pub violations: Vec<Violation>,
    pub ref_id: Option<i64>,
}

/// A live record version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveRecord {
    pub version_id: VersionId,
    pub flow_id: FlowId,
    pub pos: u64,
    pub key: [u8; 16],
    pub content_hash: [u8; 16],
    pub subject: String,
    pub payload: Vec<u8>,
    pub learnt_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ente {
    pub id: EnteId,
    pub codice: String,
    pub denominazione: Option<String>,
    pub belfiore: String,
    pub created_at_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Committed flows.
    pub flows: u64,
    pub versions: u64,
    pub cancellations: u64,
    pub live: u64,
    pub outcomes: u64,
}

#[derive(thiserror::Error, Debug)]
pub enum StoreError {
    /// Another connection holds the write lock beyond the busy timeout.
    #[error("database busy")]
    Busy(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Any other database error.
    #[error("database error: {0}")]
    Database(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The schema could not be brought to the current version.
    #[error("migration failed: {0}")]
    Migration(String),
    /// A uniqueness constraint refused the row (username or ente codice taken).
    #[error("already exists: {0}")]
    Conflict(String),
    /// Stored data does not decode or breaks an invariant.
    #[error("corrupt register: {0}")]
    Corrupt(String),
    /// The caller broke the store's contract (e.g. positions out of order,
    /// counters that do not match the rows written, cancelling a version of
    /// another ente). The flow transaction should be dropped.
    #[error("invalid use of the store: {0}")]
    Invalid(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                StoreError::Busy(Box::new(e))
            }
            _ => StoreError::Database(Box::new(e)),
        }
    }
}
