//! SQLite side of [`crate::api`]: API clients, revocations, idempotency
//! keys, the token signing key, the API's view of submissions and its
//! access-log rows.

use casellario_domain::{Channel, CodiceEsito, FlowType};
use rusqlite::{OptionalExtension, Row, params};

use super::{Store, corrupt, now_ms, to_u64};
use crate::api::{ApiClient, IdempotencyEntry, NewApiClient, SubmissionRow};
use crate::portal::AccountId;
use crate::{EnteId, StoreError};

const CLIENT_SELECT: &str = "SELECT c.client_id, c.ente_id, e.codice, c.secret_hash, c.scopes, \
     c.label, c.created_at, c.created_by, r.revoked_at FROM api_client c \
     JOIN ente e ON e.id = c.ente_id \
     LEFT JOIN api_client_revocation r ON r.client_id = c.client_id";

const SUBMISSION_SELECT: &str = "SELECT id, ente_id, channel, id_flusso, tipo, flow_id, \
     codice_esito, record_count, accettati, duplicati, scartati, avvisi, rejected_whole, already, \
     sha256, learnt_at FROM submission";

fn blob32(r: &Row<'_>, idx: usize, what: &str) -> Result<[u8; 32], StoreError> {
    r.get_ref(idx)?
        .as_blob()?
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("{what} is not 32 bytes")))
}

fn client_row(r: &Row<'_>) -> Result<ApiClient, StoreError> {
    let scopes: String = r.get(4)?;
    Ok(ApiClient {
        client_id: r.get(0)?,
        ente_id: r.get(1)?,
        ente_codice: r.get(2)?,
        secret_hash: blob32(r, 3, "secret_hash")?,
        scopes: scopes.split_whitespace().map(str::to_string).collect(),
        label: r.get(5)?,
        created_at_ms: r.get(6)?,
        created_by: r.get(7)?,
        revoked_at_ms: r.get(8)?,
    })
}

fn submission_row(r: &Row<'_>) -> Result<SubmissionRow, StoreError> {
    let channel: String = r.get(2)?;
    let tipo: Option<String> = r.get(4)?;
    let codice: String = r.get(6)?;
    Ok(SubmissionRow {
        id: r.get(0)?,
        ente_id: r.get(1)?,
        channel: Channel::from_wire(&channel).ok_or_else(|| corrupt("channel", &channel))?,
        id_flusso: r.get(3)?,
        tipo: match tipo {
            None => None,
            Some(t) => Some(FlowType::from_wire(&t).ok_or_else(|| corrupt("tipo", &t))?),
        },
        flow_id: r.get(5)?,
        codice_esito: CodiceEsito::from_wire(&codice).ok_or_else(|| corrupt("codice", &codice))?,
        record_count: to_u64(r.get(7)?, "record_count")?,
        accettati: to_u64(r.get(8)?, "accettati")?,
        duplicati: to_u64(r.get(9)?, "duplicati")?,
        scartati: to_u64(r.get(10)?, "scartati")?,
        avvisi: to_u64(r.get(11)?, "avvisi")?,
        rejected_whole: r.get(12)?,
        already: r.get(13)?,
        sha256: blob32(r, 14, "sha256")?,
        learnt_at_ms: r.get(15)?,
    })
}

impl Store {
    // ----- clients --------------------------------------------------------

    /// Registers a client. Conflict if the client id exists.
    pub fn create_api_client(&mut self, c: &NewApiClient<'_>) -> Result<(), StoreError> {
        if c.scopes.is_empty() || c.scopes.iter().any(|s| s.is_empty() || s.contains(' ')) {
            return Err(StoreError::Invalid("scopes must be non-empty words".into()));
        }
        self.conn
            .execute(
                "INSERT INTO api_client (client_id, ente_id, secret_hash, scopes, label, created_at, \
                 created_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    c.client_id,
                    c.ente_id,
                    &c.secret_hash[..],
                    c.scopes.join(" "),
                    c.label,
                    now_ms(),
                    c.created_by
                ],
            )
            .map_err(|e| match e.sqlite_error_code() {
                Some(rusqlite::ErrorCode::ConstraintViolation) => {
                    StoreError::Conflict(format!("api_client: {e}"))
                }
                _ => e.into(),
            })?;
        Ok(())
    }

    /// Revokes a client; false if it was already revoked. Invalid if unknown.
    pub fn revoke_api_client(
        &mut self,
        client_id: &str,
        by: Option<AccountId>,
    ) -> Result<bool, StoreError> {
        if self.api_client(client_id)?.is_none() {
            return Err(StoreError::Invalid(format!(
                "unknown api client {client_id}"
            )));
        }
        let n = self.conn.execute(
            "INSERT INTO api_client_revocation (client_id, revoked_at, revoked_by) \
             VALUES (?1, ?2, ?3) ON CONFLICT (client_id) DO NOTHING",
            params![client_id, now_ms(), by],
        )?;
        Ok(n == 1)
    }

    pub fn api_client(&self, client_id: &str) -> Result<Option<ApiClient>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(&format!("{CLIENT_SELECT} WHERE c.client_id = ?1"))?;
        let mut rows = st.query([client_id])?;
        rows.next()?.map(client_row).transpose()
    }

    /// Clients of one ente, or all; newest first.
    pub fn list_api_clients(&self, ente: Option<EnteId>) -> Result<Vec<ApiClient>, StoreError> {
        let mut st = self.conn.prepare_cached(&format!(
            "{CLIENT_SELECT} WHERE ?1 IS NULL OR c.ente_id = ?1 ORDER BY c.created_at DESC, c.client_id"
        ))?;
        let mut rows = st.query([ente])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(client_row(r)?);
        }
        Ok(out)
    }

    /// The key signing access tokens: `candidate` becomes it if there is
    /// none yet (the first start); the stored key otherwise.
    pub fn api_signing_key(&mut self, candidate: &[u8; 32]) -> Result<[u8; 32], StoreError> {
        self.conn.execute(
            "INSERT INTO api_signing_key (id, key, created_at) VALUES (1, ?1, ?2) \
             ON CONFLICT (id) DO NOTHING",
            params![&candidate[..], now_ms()],
        )?;
        let key: Vec<u8> =
            self.conn
                .query_row("SELECT key FROM api_signing_key WHERE id = 1", [], |r| {
                    r.get(0)
                })?;
        key.try_into()
            .map_err(|_| StoreError::Corrupt("api signing key is not 32 bytes".into()))
    }

    // ----- idempotency ----------------------------------------------------

    pub fn idempotency(
        &self,
        ente: EnteId,
        key: &str,
    ) -> Result<Option<IdempotencyEntry>, StoreError> {
        let mut st = self.conn.prepare_cached(
            "SELECT request_sha256, submission_id FROM api_idempotency WHERE ente_id = ?1 AND key = ?2",
        )?;
        st.query_row(params![ente, key], |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?))
        })
        .optional()?
        .map(|(sha, submission_id)| {
            Ok(IdempotencyEntry {
                request_sha256: sha
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("request_sha256 is not 32 bytes".into()))?,
                submission_id,
            })
        })
        .transpose()
    }

    /// Conflict if the ente already used `key`.
    pub fn record_idempotency(
        &self,
        ente: EnteId,
        key: &str,
        request_sha256: &[u8; 32],
        submission_id: i64,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO api_idempotency (ente_id, key, request_sha256, submission_id, learnt_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                ente,
                key,
                &request_sha256[..],
                submission_id,
                now_ms()
            ])
            .map_err(|e| match e.sqlite_error_code() {
                Some(rusqlite::ErrorCode::ConstraintViolation) => {
                    StoreError::Conflict(format!("api_idempotency: {e}"))
                }
                _ => StoreError::from(e),
            })?;
        Ok(())
    }

    // ----- submissions as the API sees them -------------------------------

    /// The first submission of the ente whose bytes had this SHA-256 and
    /// stored a flow: the original of a resent flow.
    pub fn original_submission(
        &self,
        ente: EnteId,
        sha256: &[u8; 32],
    ) -> Result<Option<i64>, StoreError> {
        let mut st = self.conn.prepare_cached(
            "SELECT min(id) FROM submission WHERE ente_id = ?1 AND sha256 = ?2 \
             AND flow_id IS NOT NULL AND already = 0 AND rejected_whole = 0",
        )?;
        Ok(st.query_row(params![ente, &sha256[..]], |r| r.get(0))?)
    }

    /// One submission of the ente; None if unknown or of another ente.
    pub fn submission_row(
        &self,
        ente: EnteId,
        id: i64,
    ) -> Result<Option<SubmissionRow>, StoreError> {
        let mut st = self.conn.prepare_cached(&format!(
            "{SUBMISSION_SELECT} WHERE id = ?1 AND ente_id = ?2"
        ))?;
        let mut rows = st.query(params![id, ente])?;
        rows.next()?.map(submission_row).transpose()
    }

    /// The ente's submissions with id greater than `after`, oldest first.
    pub fn submissions_after(
        &self,
        ente: EnteId,
        after: i64,
        limit: u32,
    ) -> Result<Vec<SubmissionRow>, StoreError> {
        let mut st = self.conn.prepare_cached(&format!(
            "{SUBMISSION_SELECT} WHERE ente_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3"
        ))?;
        let mut rows = st.query(params![ente, after, limit])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(submission_row(r)?);
        }
        Ok(out)
    }

    // ----- access log -----------------------------------------------------

    /// A read of personal data by an API client.
    pub fn log_api_access(
        &self,
        client_id: &str,
        ente: EnteId,
        subject: &str,
        what: &str,
        purpose: &str,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO access_log (at, account_id, username, ente_id, subject, what, purpose, \
                 api_client) VALUES (?1, NULL, ?2, ?3, ?4, ?5, ?6, ?2)",
            )?
            .execute(params![now_ms(), client_id, ente, subject, what, purpose])?;
        Ok(())
    }
}
