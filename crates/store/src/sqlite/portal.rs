//! SQLite side of [`crate::portal`]: enti administration, accounts,
//! sessions, audit and access logs, dashboards and record search.

use casellario_domain::access::{EnteKind, Role};
use casellario_domain::{Channel, CodiceEsito, FlowType};
use rusqlite::{Row, params};

use super::{Store, corrupt, now_ms, to_u64};
use crate::portal::{
    Access, Account, AccountId, AuditEvent, CancellationInfo, EnteAttrs, EnteProfile, EnteStats,
    NewAccess, NewAccount, NewAuditEvent, NewSubmission, RecordHit, RecordQuery, Rejection,
    Session, SubmissionDetail, Transmission, VersionDetail,
};
use crate::{CancelReason, EnteId, FlowId, StoreError, VersionId};

const ENTE_PROFILE_SELECT: &str = "SELECT e.id, e.codice, \
     coalesce(r.denominazione, e.denominazione, e.codice), coalesce(r.belfiore, e.belfiore), \
     coalesce(r.tipo, 'comune'), coalesce(r.attivo, 1), e.learnt_at \
     FROM ente e LEFT JOIN ente_revision r ON r.id = \
     (SELECT max(id) FROM ente_revision WHERE ente_id = e.id)";

const ACCOUNT_SELECT: &str = "SELECT id, username, nome, role, ente_id, password_hash, \
     must_change, attivo, failed_logins, locked_until, created_at FROM account";

/// Columns of a [`RecordHit`]; `rv` is the version, `f` its flow.
const HIT_SELECT: &str = "SELECT rv.id, rv.flow_id, f.nome, f.tipo, rv.pos, rv.subject, \
     rv.codice_prestazione, rv.protocollo, rv.data_riferimento, rv.learnt_at, \
     c.flow_id, cf.nome, c.pos, c.reason, c.learnt_at";

fn ente_profile_row(r: &Row<'_>) -> Result<EnteProfile, StoreError> {
    let tipo: String = r.get(4)?;
    Ok(EnteProfile {
        id: r.get(0)?,
        codice: r.get(1)?,
        denominazione: r.get(2)?,
        belfiore: r.get(3)?,
        tipo: EnteKind::from_wire(&tipo).ok_or_else(|| corrupt("tipo ente", &tipo))?,
        attivo: r.get(5)?,
        created_at_ms: r.get(6)?,
    })
}

fn account_row(r: &Row<'_>) -> Result<Account, StoreError> {
    let role: String = r.get(3)?;
    let failed: i64 = r.get(8)?;
    Ok(Account {
        id: r.get(0)?,
        username: r.get(1)?,
        nome: r.get(2)?,
        role: Role::from_wire(&role).ok_or_else(|| corrupt("role", &role))?,
        ente_id: r.get(4)?,
        password_hash: r.get(5)?,
        must_change: r.get(6)?,
        attivo: r.get(7)?,
        failed_logins: u32::try_from(failed).unwrap_or(u32::MAX),
        locked_until_ms: r.get(9)?,
        created_at_ms: r.get(10)?,
    })
}

fn hit_row(r: &Row<'_>) -> Result<RecordHit, StoreError> {
    let tipo: String = r.get(3)?;
    let cancelled = match r.get::<_, Option<FlowId>>(10)? {
        None => None,
        Some(flow_id) => {
            let reason: String = r.get(13)?;
            Some(CancellationInfo {
                flow_id,
                flow_nome: r.get(11)?,
                pos: to_u64(r.get(12)?, "pos")?,
                reason: match reason.as_str() {
                    "cancellazione" => CancelReason::Cancellazione,
                    "sostituzione" => CancelReason::Sostituzione,
                    other => return Err(corrupt("reason", other)),
                },
                learnt_at_ms: r.get(14)?,
            })
        }
    };
    Ok(RecordHit {
        version_id: r.get(0)?,
        flow_id: r.get(1)?,
        flow_nome: r.get(2)?,
        tipo: FlowType::from_wire(&tipo).ok_or_else(|| corrupt("tipo", &tipo))?,
        pos: to_u64(r.get(4)?, "pos")?,
        subject: r.get(5)?,
        codice_prestazione: r.get(6)?,
        protocollo: r.get(7)?,
        data_riferimento: r.get(8)?,
        learnt_at_ms: r.get(9)?,
        cancelled,
    })
}

fn unique_conflict(e: rusqlite::Error, what: &str) -> StoreError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::ConstraintViolation) => {
            StoreError::Conflict(format!("{what}: {e}"))
        }
        _ => e.into(),
    }
}

impl Store {
    // ----- enti -----------------------------------------------------------

    /// Registers a new ente (administrator). Conflict if the codice exists.
    pub fn create_ente(
        &mut self,
        codice: &str,
        attrs: &EnteAttrs<'_>,
        by: Option<AccountId>,
    ) -> Result<EnteId, StoreError> {
        let now = now_ms();
        let tx = self.conn.savepoint()?;
        let id = tx
            .execute(
                "INSERT INTO ente (codice, denominazione, belfiore, learnt_at) VALUES (?1, ?2, ?3, ?4)",
                params![codice, attrs.denominazione, attrs.belfiore, now],
            )
            .map_err(|e| unique_conflict(e, "ente"))
            .map(|_| tx.last_insert_rowid())?;
        insert_revision(&tx, id, attrs, by, now)?;
        tx.commit()?;
        Ok(id)
    }

    /// Records new attributes of an ente (a new revision; nothing is overwritten).
    pub fn revise_ente(
        &mut self,
        id: EnteId,
        attrs: &EnteAttrs<'_>,
        by: Option<AccountId>,
    ) -> Result<(), StoreError> {
        if self.ente_profile(id)?.is_none() {
            return Err(StoreError::Invalid(format!("unknown ente {id}")));
        }
        insert_revision(&self.conn, id, attrs, by, now_ms())
    }

    pub fn ente_profile(&self, id: EnteId) -> Result<Option<EnteProfile>, StoreError> {
        let sql = format!("{ENTE_PROFILE_SELECT} WHERE e.id = ?1");
        let mut st = self.conn.prepare_cached(&sql)?;
        let mut rows = st.query([id])?;
        rows.next()?.map(ente_profile_row).transpose()
    }

    pub fn ente_profile_by_codice(&self, codice: &str) -> Result<Option<EnteProfile>, StoreError> {
        let sql = format!("{ENTE_PROFILE_SELECT} WHERE e.codice = ?1");
        let mut st = self.conn.prepare_cached(&sql)?;
        let mut rows = st.query([codice])?;
        rows.next()?.map(ente_profile_row).transpose()
    }

    /// Every ente, by codice.
    pub fn list_ente_profiles(&self) -> Result<Vec<EnteProfile>, StoreError> {
        let sql = format!("{ENTE_PROFILE_SELECT} ORDER BY e.codice");
        let mut st = self.conn.prepare_cached(&sql)?;
        let mut rows = st.query([])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(ente_profile_row(r)?);
        }
        Ok(out)
    }

    // ----- accounts -------------------------------------------------------

    /// Conflict if the username is taken (case-insensitive).
    pub fn create_account(&mut self, a: &NewAccount<'_>) -> Result<AccountId, StoreError> {
        if a.role.scoped_to_ente() != a.ente_id.is_some() {
            return Err(StoreError::Invalid(format!(
                "role {} {} an ente",
                a.role.wire(),
                if a.role.scoped_to_ente() {
                    "requires"
                } else {
                    "cannot have"
                }
            )));
        }
        self.conn
            .execute(
                "INSERT INTO account (username, nome, role, ente_id, password_hash, must_change, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    a.username,
                    a.nome,
                    a.role.wire(),
                    a.ente_id,
                    a.password_hash,
                    a.must_change,
                    now_ms()
                ],
            )
            .map_err(|e| unique_conflict(e, "account"))?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn account(&self, id: AccountId) -> Result<Option<Account>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(&format!("{ACCOUNT_SELECT} WHERE id = ?1"))?;
        let mut rows = st.query([id])?;
        rows.next()?.map(account_row).transpose()
    }

    pub fn account_by_username(&self, username: &str) -> Result<Option<Account>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(&format!("{ACCOUNT_SELECT} WHERE username = ?1"))?;
        let mut rows = st.query([username])?;
        rows.next()?.map(account_row).transpose()
    }

    /// Accounts of one ente, or all; by username.
    pub fn list_accounts(&self, ente: Option<EnteId>) -> Result<Vec<Account>, StoreError> {
        let mut out = Vec::new();
        let mut st = self.conn.prepare_cached(&format!(
            "{ACCOUNT_SELECT} WHERE ?1 IS NULL OR ente_id = ?1 ORDER BY username"
        ))?;
        let mut rows = st.query([ente])?;
        while let Some(r) = rows.next()? {
            out.push(account_row(r)?);
        }
        Ok(out)
    }

    pub fn account_count(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .conn
            .query_row("SELECT count(*) FROM account", [], |r| r.get(0))?;
        to_u64(n, "count")
    }

    pub fn update_account(
        &mut self,
        id: AccountId,
        nome: &str,
        role: Role,
        ente_id: Option<EnteId>,
        attivo: bool,
    ) -> Result<(), StoreError> {
        if role.scoped_to_ente() != ente_id.is_some() {
            return Err(StoreError::Invalid("role and ente do not agree".into()));
        }
        let tx = self.conn.savepoint()?;
        tx.execute(
            "UPDATE account SET nome = ?2, role = ?3, ente_id = ?4, attivo = ?5 WHERE id = ?1",
            params![id, nome, role.wire(), ente_id, attivo],
        )?;
        if !attivo {
            tx.execute("DELETE FROM session WHERE account_id = ?1", [id])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Sets a password and ends every session of the account.
    pub fn set_password(
        &mut self,
        id: AccountId,
        password_hash: &str,
        must_change: bool,
    ) -> Result<(), StoreError> {
        let tx = self.conn.savepoint()?;
        tx.execute(
            "UPDATE account SET password_hash = ?2, must_change = ?3, failed_logins = 0, \
             locked_until = NULL WHERE id = ?1",
            params![id, password_hash, must_change],
        )?;
        tx.execute("DELETE FROM session WHERE account_id = ?1", [id])?;
        tx.commit()?;
        Ok(())
    }

    /// Counts a failed login; locks the account until `now + lock_ms` when
    /// the count reaches `threshold`. Returns the new count.
    pub fn login_failed(
        &self,
        id: AccountId,
        threshold: u32,
        lock_ms: i64,
    ) -> Result<u32, StoreError> {
        let now = now_ms();
        let n: i64 = self.conn.query_row(
            "UPDATE account SET failed_logins = failed_logins + 1, \
             locked_until = CASE WHEN failed_logins + 1 >= ?2 THEN ?3 ELSE locked_until END \
             WHERE id = ?1 RETURNING failed_logins",
            params![id, threshold, now + lock_ms],
            |r| r.get(0),
        )?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    pub fn login_succeeded(&self, id: AccountId) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE account SET failed_logins = 0, locked_until = NULL WHERE id = ?1",
            [id],
        )?;
        Ok(())
    }

    // ----- sessions -------------------------------------------------------

    pub fn create_session(
        &self,
        token_hash: &[u8; 32],
        account: AccountId,
        csrf: &str,
        expires_at_ms: i64,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO session (token_hash, account_id, csrf, created_at, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                &token_hash[..],
                account,
                csrf,
                now_ms(),
                expires_at_ms
            ])?;
        Ok(())
    }

    /// The live session with this token of an active account.
    pub fn session(&self, token_hash: &[u8; 32]) -> Result<Option<Session>, StoreError> {
        let mut st = self.conn.prepare_cached(
            "SELECT a.id, a.username, a.nome, a.role, a.ente_id, a.password_hash, a.must_change, \
             a.attivo, a.failed_logins, a.locked_until, a.created_at, s.csrf, s.created_at, \
             s.expires_at FROM session s JOIN account a ON a.id = s.account_id \
             WHERE s.token_hash = ?1 AND s.expires_at > ?2 AND a.attivo = 1",
        )?;
        let mut rows = st.query(params![&token_hash[..], now_ms()])?;
        let Some(r) = rows.next()? else {
            return Ok(None);
        };
        Ok(Some(Session {
            account: account_row(r)?,
            csrf: r.get(11)?,
            created_at_ms: r.get(12)?,
            expires_at_ms: r.get(13)?,
        }))
    }

    pub fn delete_session(&self, token_hash: &[u8; 32]) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("DELETE FROM session WHERE token_hash = ?1")?
            .execute([&token_hash[..]])?;
        Ok(())
    }

    /// Removes expired sessions; returns how many.
    pub fn purge_sessions(&self) -> Result<u64, StoreError> {
        let n = self
            .conn
            .execute("DELETE FROM session WHERE expires_at <= ?1", [now_ms()])?;
        Ok(n as u64)
    }

    // ----- audit and access logs -----------------------------------------

    pub fn audit(&self, e: &NewAuditEvent<'_>) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO audit_event (at, account_id, username, action, ente_id, detail, ip) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                now_ms(),
                e.account_id,
                e.username,
                e.action,
                e.ente_id,
                e.detail,
                e.ip
            ])?;
        Ok(())
    }

    /// Newest first; `before` pages by id.
    pub fn list_audit(
        &self,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let mut st = self.conn.prepare_cached(
            "SELECT id, at, account_id, username, action, ente_id, detail, ip FROM audit_event \
             WHERE id < ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = st.query_map(params![before.unwrap_or(i64::MAX), limit], |r| {
            Ok(AuditEvent {
                id: r.get(0)?,
                at_ms: r.get(1)?,
                account_id: r.get(2)?,
                username: r.get(3)?,
                action: r.get(4)?,
                ente_id: r.get(5)?,
                detail: r.get(6)?,
                ip: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn log_access(&self, a: &NewAccess<'_>) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO access_log (at, account_id, username, ente_id, subject, what, purpose) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                now_ms(),
                a.account_id,
                a.username,
                a.ente_id,
                a.subject,
                a.what,
                a.purpose
            ])?;
        Ok(())
    }

    /// Newest first, optionally for one subject; `before` pages by id.
    pub fn list_access(
        &self,
        subject: Option<&str>,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<Access>, StoreError> {
        let mut st = self.conn.prepare_cached(
            "SELECT id, at, account_id, username, ente_id, subject, what, purpose, api_client \
             FROM access_log \
             WHERE id < ?1 AND (?2 IS NULL OR subject = ?2) ORDER BY id DESC LIMIT ?3",
        )?;
        let rows = st.query_map(params![before.unwrap_or(i64::MAX), subject, limit], |r| {
            Ok(Access {
                id: r.get(0)?,
                at_ms: r.get(1)?,
                account_id: r.get(2)?,
                username: r.get(3)?,
                ente_id: r.get(4)?,
                subject: r.get(5)?,
                what: r.get(6)?,
                purpose: r.get(7)?,
                api_client: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    // ----- dashboards -----------------------------------------------------

    /// Totals of an ente from its flows' counters (cost ∝ its flows).
    pub fn ente_stats(&self, ente: EnteId) -> Result<EnteStats, StoreError> {
        let sql = format!("{STATS_SELECT} WHERE f.ente_id = ?1 GROUP BY f.ente_id");
        let mut st = self.conn.prepare_cached(&sql)?;
        let mut rows = st.query([ente])?;
        match rows.next()? {
            Some(r) => stats_row(r),
            None => Ok(EnteStats::default()),
        }
    }

    /// Totals of every ente that has flows, in one pass over the flows.
    pub fn all_ente_stats(
        &self,
    ) -> Result<std::collections::HashMap<EnteId, EnteStats>, StoreError> {
        let sql = format!("{STATS_SELECT} GROUP BY f.ente_id");
        let mut st = self.conn.prepare_cached(&sql)?;
        let mut rows = st.query([])?;
        let mut out = std::collections::HashMap::new();
        while let Some(r) = rows.next()? {
            out.insert(r.get::<_, EnteId>(9)?, stats_row(r)?);
        }
        Ok(out)
    }

    /// Rejected records of the ente's flows learnt since `since_ms`, newest
    /// flow first.
    pub fn recent_rejections(
        &self,
        ente: EnteId,
        since_ms: i64,
        limit: u32,
    ) -> Result<Vec<Rejection>, StoreError> {
        let mut st = self.conn.prepare_cached(
            "SELECT o.flow_id, f.nome, o.pos, f.learnt_at, o.violations \
             FROM flow f JOIN record_outcome o ON o.flow_id = f.id \
             WHERE f.ente_id = ?1 AND f.learnt_at >= ?2 AND o.esito = 'scartato' \
             ORDER BY f.id DESC, o.pos LIMIT ?3",
        )?;
        let mut rows = st.query(params![ente, since_ms, limit])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let violations = super::decode_violations(r.get_ref(4)?.as_str()?)?;
            let mut rules: Vec<String> = violations
                .iter()
                .filter(|v| v.severity == casellario_domain::Severity::Errore)
                .map(|v| v.rule.clone())
                .collect();
            rules.dedup();
            out.push(Rejection {
                flow_id: r.get(0)?,
                flow_nome: r.get(1)?,
                pos: to_u64(r.get(2)?, "pos")?,
                learnt_at_ms: r.get(3)?,
                rules,
            });
        }
        Ok(out)
    }

    // ----- consultazione --------------------------------------------------

    /// Versions of one ente matching `q`, newest first, `limit` after
    /// skipping `offset`. With a subject the search uses the subject index;
    /// otherwise it walks the ente's flows by their version ranges.
    pub fn search_records(
        &self,
        ente: EnteId,
        q: &RecordQuery,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<RecordHit>, StoreError> {
        let filters = " AND (?2 IS NULL OR rv.codice_prestazione = ?2) \
             AND (?3 IS NULL OR rv.protocollo = ?3) \
             AND (?4 IS NULL OR rv.data_riferimento >= ?4) \
             AND (?5 IS NULL OR rv.data_riferimento <= ?5) \
             AND (?6 IS NULL OR f.tipo = ?6) \
             AND (?7 OR c.id IS NULL)";
        let joins = " LEFT JOIN cancellation c ON c.target = rv.id \
             LEFT JOIN flow cf ON cf.id = c.flow_id";
        let args = |lo: i64, hi: i64, n: u32, off: u32| {
            (
                ente,
                q.codice_prestazione.clone(),
                q.protocollo.clone(),
                q.from.clone(),
                q.to.clone(),
                q.tipo.map(FlowType::wire),
                q.include_cancelled,
                q.subject.clone(),
                n,
                off,
                lo,
                hi,
            )
        };
        if q.subject.is_some() {
            let sql = format!(
                "{HIT_SELECT} FROM record_version rv JOIN flow f ON f.id = rv.flow_id{joins} \
                 WHERE rv.subject = ?8 AND f.ente_id = ?1 AND ?11 <= ?12{filters} \
                 ORDER BY rv.id DESC LIMIT ?9 OFFSET ?10"
            );
            let mut st = self.conn.prepare_cached(&sql)?;
            let mut rows = st.query(args(0, 0, limit, offset))?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(hit_row(r)?);
            }
            return Ok(out);
        }
        // Without a person, walk the ente's flows newest first, each by its
        // rowid range in reverse, and stop as soon as the page is full: the
        // cost follows the rows needed, not the ente's size (a sort of all
        // an ente's matching rows took 250 ms on a million records).
        let ranges: Vec<(i64, i64)> = self
            .conn
            .prepare_cached(
                "SELECT c.version_lo, c.version_hi FROM flow f JOIN flow_commit c ON c.flow_id = f.id \
                 WHERE f.ente_id = ?1 AND c.version_lo IS NOT NULL ORDER BY c.version_hi DESC",
            )?
            .query_map([ente], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let sql = format!(
            "{HIT_SELECT} FROM record_version rv JOIN flow f ON f.id = rv.flow_id{joins} \
             WHERE rv.id BETWEEN ?11 AND ?12 AND f.ente_id = ?1 AND ?8 IS NULL{filters} \
             ORDER BY rv.id DESC LIMIT ?9 OFFSET ?10"
        );
        let mut st = self.conn.prepare_cached(&sql)?;
        let want = u64::from(limit) + u64::from(offset);
        let mut seen = 0u64;
        let mut out = Vec::new();
        for (lo, hi) in ranges {
            if seen >= want {
                break;
            }
            let n = u32::try_from(want - seen).unwrap_or(u32::MAX);
            let mut rows = st.query(args(lo, hi, n, 0))?;
            while let Some(r) = rows.next()? {
                if seen >= u64::from(offset) {
                    out.push(hit_row(r)?);
                }
                seen += 1;
            }
        }
        Ok(out)
    }

    /// One version of one ente, with its payload; None if it does not exist
    /// or belongs to another ente.
    pub fn version_detail(
        &self,
        ente: EnteId,
        id: VersionId,
    ) -> Result<Option<VersionDetail>, StoreError> {
        let sql = format!(
            "{HIT_SELECT}, rv.key, rv.payload FROM record_version rv JOIN flow f ON f.id = rv.flow_id \
             LEFT JOIN cancellation c ON c.target = rv.id LEFT JOIN flow cf ON cf.id = c.flow_id \
             WHERE rv.id = ?1 AND f.ente_id = ?2"
        );
        let mut st = self.conn.prepare_cached(&sql)?;
        let mut rows = st.query(params![id, ente])?;
        let Some(r) = rows.next()? else {
            return Ok(None);
        };
        Ok(Some(VersionDetail {
            hit: hit_row(r)?,
            key: super::blob16(r, 15)?,
            payload: r.get(16)?,
        }))
    }

    /// Every version with this natural key in the ente, oldest first: the
    /// history of one record.
    pub fn versions_by_key(
        &self,
        ente: EnteId,
        key: &[u8; 16],
    ) -> Result<Vec<RecordHit>, StoreError> {
        let sql = format!(
            "{HIT_SELECT} FROM record_version rv JOIN flow f ON f.id = rv.flow_id \
             LEFT JOIN cancellation c ON c.target = rv.id LEFT JOIN flow cf ON cf.id = c.flow_id \
             WHERE rv.key = ?1 AND f.ente_id = ?2 ORDER BY rv.id"
        );
        let mut st = self.conn.prepare_cached(&sql)?;
        let mut rows = st.query(params![&key[..], ente])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(hit_row(r)?);
        }
        Ok(out)
    }
}

const STATS_SELECT: &str = "SELECT count(*), coalesce(sum(c.record_count), 0), \
     coalesce(sum(c.accettati), 0), coalesce(sum(c.duplicati), 0), coalesce(sum(c.scartati), 0), \
     coalesce(sum(c.avvisi), 0), \
     coalesce(sum(CASE WHEN f.tipo = 'PS_PSA_SINA' THEN c.n_versions - c.n_cancellations END), 0), \
     coalesce(sum(CASE WHEN f.tipo = 'SINBA' THEN c.n_versions - c.n_cancellations END), 0), \
     max(f.learnt_at), f.ente_id \
     FROM flow f JOIN flow_commit c ON c.flow_id = f.id";

fn stats_row(r: &Row<'_>) -> Result<EnteStats, StoreError> {
    Ok(EnteStats {
        flows: to_u64(r.get(0)?, "count")?,
        records: to_u64(r.get(1)?, "records")?,
        accettati: to_u64(r.get(2)?, "accettati")?,
        duplicati: to_u64(r.get(3)?, "duplicati")?,
        scartati: to_u64(r.get(4)?, "scartati")?,
        avvisi: to_u64(r.get(5)?, "avvisi")?,
        live_ps: to_u64(r.get(6)?, "live")?,
        live_sinba: to_u64(r.get(7)?, "live")?,
        last_flow_at_ms: r.get(8)?,
    })
}

/// Columns of a [`Transmission`]; stored flows first, then submissions
/// without a flow.
const TRANSMISSIONS: &str = "SELECT f.id AS flow_id, NULL AS sub_id, f.nome, f.tipo, f.channel, \
     f.source_name, c.codice_esito, c.record_count, c.accettati, c.duplicati, c.scartati, \
     c.avvisi, 0 AS whole, f.learnt_at, f.ente_id, '[]' AS viol, c.size_bytes, c.content_sha256 \
     FROM flow f JOIN flow_commit c ON c.flow_id = f.id \
     UNION ALL SELECT NULL, s.id, s.id_flusso, s.tipo, s.channel, s.source_name, s.codice_esito, \
     s.record_count, s.accettati, s.duplicati, s.scartati, s.avvisi, s.rejected_whole, \
     s.learnt_at, s.ente_id, s.flow_violations, s.size_bytes, s.sha256 \
     FROM submission s WHERE s.flow_id IS NULL";

fn transmission_row(r: &Row<'_>) -> Result<Transmission, StoreError> {
    let tipo: Option<String> = r.get(3)?;
    let channel: String = r.get(4)?;
    let codice: String = r.get(6)?;
    Ok(Transmission {
        flow_id: r.get(0)?,
        submission_id: r.get(1)?,
        nome: r.get(2)?,
        tipo: match tipo {
            None => None,
            Some(t) => Some(FlowType::from_wire(&t).ok_or_else(|| corrupt("tipo", &t))?),
        },
        channel: Channel::from_wire(&channel).ok_or_else(|| corrupt("channel", &channel))?,
        source_name: r.get(5)?,
        codice_esito: CodiceEsito::from_wire(&codice).ok_or_else(|| corrupt("codice", &codice))?,
        record_count: to_u64(r.get(7)?, "record_count")?,
        accettati: to_u64(r.get(8)?, "accettati")?,
        duplicati: to_u64(r.get(9)?, "duplicati")?,
        scartati: to_u64(r.get(10)?, "scartati")?,
        avvisi: to_u64(r.get(11)?, "avvisi")?,
        rejected_whole: r.get(12)?,
        learnt_at_ms: r.get(13)?,
    })
}

impl Store {
    /// Records a transmission made through the portal or the API.
    pub fn record_submission(&self, s: &NewSubmission<'_>) -> Result<i64, StoreError> {
        let violations = serde_json::to_string(s.flow_violations)
            .map_err(|e| StoreError::Invalid(format!("violations: {e}")))?;
        self.conn
            .prepare_cached(
                "INSERT INTO submission (ente_id, account_id, channel, source_name, id_flusso, tipo, \
                 flow_id, codice_esito, record_count, accettati, duplicati, scartati, avvisi, \
                 rejected_whole, already, flow_violations, size_bytes, sha256, learnt_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
            )?
            .execute(params![
                s.ente_id,
                s.account_id,
                s.channel.wire(),
                s.source_name,
                s.id_flusso,
                s.tipo.map(FlowType::wire),
                s.flow_id,
                s.codice_esito.wire(),
                super::to_i64(s.record_count, "record_count")?,
                super::to_i64(s.accettati, "accettati")?,
                super::to_i64(s.duplicati, "duplicati")?,
                super::to_i64(s.scartati, "scartati")?,
                super::to_i64(s.avvisi, "avvisi")?,
                s.rejected_whole,
                s.already,
                violations,
                super::to_i64(s.size_bytes, "size_bytes")?,
                &s.sha256[..],
                now_ms()
            ])?;
        Ok(self.conn.last_insert_rowid())
    }

    /// An ente's transmissions, newest first; `offset` pages.
    pub fn list_transmissions(
        &self,
        ente: EnteId,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<Transmission>, StoreError> {
        let sql = format!(
            "SELECT * FROM ({TRANSMISSIONS}) WHERE ente_id = ?1 ORDER BY learnt_at DESC, \
             flow_id DESC LIMIT ?2 OFFSET ?3"
        );
        let mut st = self.conn.prepare_cached(&sql)?;
        let mut rows = st.query(params![ente, limit, offset])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(transmission_row(r)?);
        }
        Ok(out)
    }

    /// A submission that stored nothing; None if unknown, of another ente,
    /// or if it did store a flow (then the flow is the thing to show).
    pub fn submission_detail(
        &self,
        ente: EnteId,
        id: i64,
    ) -> Result<Option<SubmissionDetail>, StoreError> {
        let sql = format!("SELECT * FROM ({TRANSMISSIONS}) WHERE sub_id = ?1 AND ente_id = ?2");
        let mut st = self.conn.prepare_cached(&sql)?;
        let mut rows = st.query(params![id, ente])?;
        let Some(r) = rows.next()? else {
            return Ok(None);
        };
        let sha = r.get_ref(17)?.as_blob()?;
        Ok(Some(SubmissionDetail {
            id,
            ente_id: ente,
            transmission: transmission_row(r)?,
            flow_violations: super::decode_violations(r.get_ref(15)?.as_str()?)?,
            size_bytes: to_u64(r.get(16)?, "size_bytes")?,
            sha256: sha
                .try_into()
                .map_err(|_| StoreError::Corrupt("sha256 is not 32 bytes".into()))?,
        }))
    }
}

fn insert_revision(
    conn: &rusqlite::Connection,
    ente: EnteId,
    a: &EnteAttrs<'_>,
    by: Option<AccountId>,
    now: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO ente_revision (ente_id, denominazione, belfiore, tipo, attivo, account_id, learnt_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![ente, a.denominazione, a.belfiore, a.tipo.wire(), a.attivo, by, now],
    )?;
    Ok(())
}
