//! Types of what the cooperation API keeps (migration `0003_api`): machine
//! clients of an ente and their revocations, idempotency keys of
//! submissions, the key signing access tokens; and the read model of an
//! ente's submissions as the API lists them.

use casellario_domain::{Channel, CodiceEsito, FlowType};

use crate::portal::AccountId;
use crate::{EnteId, FlowId};

/// A client of the cooperation API, with its current state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiClient {
    pub client_id: String,
    pub ente_id: EnteId,
    pub ente_codice: String,
    /// SHA-256 of the secret.
    pub secret_hash: [u8; 32],
    /// OAuth2 scopes granted, in the order given at creation.
    pub scopes: Vec<String>,
    pub label: String,
    pub created_at_ms: i64,
    pub created_by: Option<AccountId>,
    /// When it was revoked, if it was.
    pub revoked_at_ms: Option<i64>,
}

#[derive(Debug, Clone, Copy)]
pub struct NewApiClient<'a> {
    pub client_id: &'a str,
    pub ente_id: EnteId,
    pub secret_hash: &'a [u8; 32],
    pub scopes: &'a [&'a str],
    pub label: &'a str,
    pub created_by: Option<AccountId>,
}

/// A submission as the API lists it (one line of the cursor listing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmissionRow {
    /// Monotonic: the cursor of the listing.
    pub id: i64,
    pub ente_id: EnteId,
    pub channel: Channel,
    pub id_flusso: Option<String>,
    pub tipo: Option<FlowType>,
    /// The flow stored, or the flow acquired before (a resubmission).
    pub flow_id: Option<FlowId>,
    pub codice_esito: CodiceEsito,
    pub record_count: u64,
    pub accettati: u64,
    pub duplicati: u64,
    pub scartati: u64,
    pub avvisi: u64,
    pub rejected_whole: bool,
    /// The flow had been acquired before this submission.
    pub already: bool,
    pub sha256: [u8; 32],
    pub learnt_at_ms: i64,
}

/// What an `Idempotency-Key` was first used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdempotencyEntry {
    pub request_sha256: [u8; 32],
    pub submission_id: i64,
}
