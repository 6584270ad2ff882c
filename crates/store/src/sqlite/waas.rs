//! SQLite side of [`crate::waas`]: endpoints, acquisitions, cursor,
//! deliveries of outcomes and poll runs. Every write is an INSERT; inside
//! [`Store::batch`] it joins the outer transaction, so a page's
//! acquisitions and cursor commit with the records the pipeline stored.

use casellario_domain::CodiceEsito;
use rusqlite::{OptionalExtension, Row, params};

use super::{Store, corrupt, now_ms};
use crate::portal::AccountId;
use crate::waas::{
    Acquisition, Attempt, AttemptOutcome, Credential, Endpoint, EndpointAttrs, EndpointOverview,
    NewAcquisition, NewAttempt, NewPollRun, PollRun, PollTrigger,
};
use crate::{EnteId, StoreError};

const ENDPOINT_SELECT: &str = "SELECT w.id, w.ente_id, e.codice, w.base_url, w.credential_kind, \
     w.credential_value, w.interval_secs, w.enabled, w.account_id, w.learnt_at \
     FROM waas_endpoint w JOIN ente e ON e.id = w.ente_id";

const ACQ_SELECT: &str = "SELECT a.id, a.ente_id, a.id_flusso, a.ts_flusso, a.tipo, a.sha256, \
     a.submission_id, a.codice_esito, a.descrizione_esito, a.id_acquisizione_siuss, a.learnt_at \
     FROM waas_acquisition a";

const RUN_SELECT: &str = "SELECT id, ente_id, started_at, finished_at, trigger, pages, new_flows, \
     duplicates, esiti_delivered, esiti_pending, cursor_ms, fault_code, fault_message, anomalies, \
     not_before FROM waas_poll_run";

const ATTEMPT_SELECT: &str = "SELECT id, ente_id, attempted_at, esiti, http_status, outcome, \
     message, next_attempt_at FROM waas_delivery_attempt";

fn endpoint_row(r: &Row<'_>) -> Result<Endpoint, StoreError> {
    let kind: String = r.get(4)?;
    let value: String = r.get(5)?;
    let credential = match kind.as_str() {
        "nessuna" => Credential::None,
        "token" => Credential::Token(value),
        "env" => Credential::Env(value),
        other => return Err(corrupt("credential_kind", other)),
    };
    let interval: i64 = r.get(6)?;
    Ok(Endpoint {
        revision_id: r.get(0)?,
        ente_id: r.get(1)?,
        ente_codice: r.get(2)?,
        base_url: r.get(3)?,
        credential,
        interval_secs: u32::try_from(interval).map_err(|_| corrupt("interval_secs", "range"))?,
        enabled: r.get(7)?,
        account_id: r.get(8)?,
        learnt_at_ms: r.get(9)?,
    })
}

fn acq_row(r: &Row<'_>) -> Result<Acquisition, StoreError> {
    let sha: Vec<u8> = r.get(5)?;
    let code: String = r.get(7)?;
    Ok(Acquisition {
        id: r.get(0)?,
        ente_id: r.get(1)?,
        id_flusso: r.get(2)?,
        ts_flusso_ms: r.get(3)?,
        tipo: r.get(4)?,
        sha256: sha.try_into().map_err(|_| corrupt("sha256", "length"))?,
        submission_id: r.get(6)?,
        codice_esito: CodiceEsito::from_wire(&code)
            .ok_or_else(|| corrupt("codice_esito", &code))?,
        descrizione_esito: r.get(8)?,
        id_acquisizione_siuss: r.get(9)?,
        learnt_at_ms: r.get(10)?,
    })
}

fn u32_col(r: &Row<'_>, i: usize, what: &str) -> Result<u32, StoreError> {
    let v: i64 = r.get(i)?;
    u32::try_from(v).map_err(|_| corrupt(what, &v.to_string()))
}

fn run_row(r: &Row<'_>) -> Result<PollRun, StoreError> {
    let trigger: String = r.get(4)?;
    Ok(PollRun {
        id: r.get(0)?,
        ente_id: r.get(1)?,
        started_at_ms: r.get(2)?,
        finished_at_ms: r.get(3)?,
        trigger: PollTrigger::from_wire(&trigger).ok_or_else(|| corrupt("trigger", &trigger))?,
        pages: u32_col(r, 5, "pages")?,
        new_flows: u32_col(r, 6, "new_flows")?,
        duplicates: u32_col(r, 7, "duplicates")?,
        esiti_delivered: u32_col(r, 8, "esiti_delivered")?,
        esiti_pending: u32_col(r, 9, "esiti_pending")?,
        cursor_ms: r.get(10)?,
        fault_code: r.get(11)?,
        fault_message: r.get(12)?,
        anomalies: r.get(13)?,
        not_before_ms: r.get(14)?,
    })
}

fn attempt_row(r: &Row<'_>) -> Result<Attempt, StoreError> {
    let outcome: String = r.get(5)?;
    let status: Option<i64> = r.get(4)?;
    Ok(Attempt {
        id: r.get(0)?,
        ente_id: r.get(1)?,
        attempted_at_ms: r.get(2)?,
        esiti: u32_col(r, 3, "esiti")?,
        http_status: status.and_then(|s| u16::try_from(s).ok()),
        outcome: match outcome.as_str() {
            "consegnati" => AttemptOutcome::Delivered,
            "errore" => AttemptOutcome::Failed,
            other => return Err(corrupt("outcome", other)),
        },
        message: r.get(6)?,
        next_attempt_at_ms: r.get(7)?,
    })
}

impl Store {
    // ----- endpoints ------------------------------------------------------

    /// Records the endpoint of an ente (a new revision; nothing is overwritten).
    pub fn set_waas_endpoint(
        &mut self,
        ente_id: EnteId,
        attrs: &EndpointAttrs<'_>,
        by: Option<AccountId>,
    ) -> Result<i64, StoreError> {
        if attrs.interval_secs == 0 {
            return Err(StoreError::Invalid("interval_secs must be > 0".into()));
        }
        let value = match &attrs.credential {
            Credential::None => "",
            Credential::Token(t) => t.as_str(),
            Credential::Env(n) => n.as_str(),
        };
        self.conn.execute(
            "INSERT INTO waas_endpoint (ente_id, base_url, credential_kind, credential_value, \
             interval_secs, enabled, account_id, learnt_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                ente_id,
                attrs.base_url,
                attrs.credential.kind(),
                value,
                attrs.interval_secs,
                attrs.enabled,
                by,
                now_ms()
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// The current endpoint of an ente, if one was ever registered.
    pub fn waas_endpoint(&self, ente_id: EnteId) -> Result<Option<Endpoint>, StoreError> {
        let sql = format!(
            "{ENDPOINT_SELECT} WHERE w.id = (SELECT max(id) FROM waas_endpoint WHERE ente_id = ?1)"
        );
        let mut st = self.conn.prepare_cached(&sql)?;
        let mut rows = st.query([ente_id])?;
        rows.next()?.map(endpoint_row).transpose()
    }

    /// The current endpoint of every ente that has one, by ente codice.
    pub fn waas_endpoints(&self) -> Result<Vec<Endpoint>, StoreError> {
        let sql = format!(
            "{ENDPOINT_SELECT} WHERE w.id IN (SELECT max(id) FROM waas_endpoint GROUP BY ente_id) \
             ORDER BY e.codice"
        );
        let mut st = self.conn.prepare_cached(&sql)?;
        let mut rows = st.query([])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(endpoint_row(r)?);
        }
        Ok(out)
    }

    // ----- cursor and acquisitions ------------------------------------------

    /// `since` of the next GET /flussi of an ente (0 before the first).
    pub fn waas_cursor(&self, ente_id: EnteId) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT since_ms FROM waas_cursor WHERE ente_id = ?1 ORDER BY id DESC LIMIT 1",
            )?
            .query_row([ente_id], |r| r.get(0))
            .optional()?
            .unwrap_or(0))
    }

    /// Moves the cursor of an ente (a new row; the newest one is current).
    pub fn advance_waas_cursor(&self, ente_id: EnteId, since_ms: i64) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO waas_cursor (ente_id, since_ms, learnt_at) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![ente_id, since_ms, now_ms()])?;
        Ok(())
    }

    /// Whether (ente, id_flusso, sha256) was acquired already.
    pub fn waas_acquired(
        &self,
        ente_id: EnteId,
        id_flusso: &str,
        sha256: &[u8; 32],
    ) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT 1 FROM waas_acquisition WHERE ente_id = ?1 AND id_flusso = ?2 AND sha256 = ?3",
            )?
            .query_row(params![ente_id, id_flusso, &sha256[..]], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// Records an acquired entry and its outcome. Conflict when the same
    /// (ente, id_flusso, sha256) was acquired before.
    pub fn record_waas_acquisition(
        &self,
        a: &NewAcquisition<'_>,
    ) -> Result<Acquisition, StoreError> {
        let now = now_ms();
        self.conn
            .prepare_cached(
                "INSERT INTO waas_acquisition (ente_id, id_flusso, ts_flusso, tipo, sha256, \
                 submission_id, codice_esito, descrizione_esito, id_acquisizione_siuss, learnt_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                a.ente_id,
                a.id_flusso,
                a.ts_flusso_ms,
                a.tipo,
                &a.sha256[..],
                a.submission_id,
                a.codice_esito.wire(),
                a.descrizione_esito,
                a.id_acquisizione_siuss,
                now
            ])
            .map_err(|e| match e.sqlite_error_code() {
                Some(rusqlite::ErrorCode::ConstraintViolation) => {
                    StoreError::Conflict(format!("waas_acquisition: {e}"))
                }
                _ => e.into(),
            })?;
        Ok(Acquisition {
            id: self.conn.last_insert_rowid(),
            ente_id: a.ente_id,
            id_flusso: a.id_flusso.to_owned(),
            ts_flusso_ms: a.ts_flusso_ms,
            tipo: a.tipo.to_owned(),
            sha256: a.sha256,
            submission_id: a.submission_id,
            codice_esito: a.codice_esito,
            descrizione_esito: a.descrizione_esito.map(str::to_owned),
            id_acquisizione_siuss: a.id_acquisizione_siuss.map(str::to_owned),
            learnt_at_ms: now,
        })
    }

    /// Acquisitions of an ente, newest first.
    pub fn waas_acquisitions(
        &self,
        ente_id: EnteId,
        limit: u32,
    ) -> Result<Vec<Acquisition>, StoreError> {
        let sql = format!("{ACQ_SELECT} WHERE a.ente_id = ?1 ORDER BY a.id DESC LIMIT ?2");
        let mut st = self.conn.prepare_cached(&sql)?;
        let mut rows = st.query(params![ente_id, limit])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(acq_row(r)?);
        }
        Ok(out)
    }

    // ----- outcomes (POST /esiti) -------------------------------------------

    /// Outcomes of an ente not yet acknowledged, in acquisition order,
    /// starting after acquisition `after_id`.
    pub fn waas_pending_esiti(
        &self,
        ente_id: EnteId,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<Acquisition>, StoreError> {
        let sql = format!(
            "{ACQ_SELECT} WHERE a.ente_id = ?1 AND a.id > ?2 AND NOT EXISTS \
             (SELECT 1 FROM waas_esito_delivery d WHERE d.acquisition_id = a.id) \
             ORDER BY a.id LIMIT ?3"
        );
        let mut st = self.conn.prepare_cached(&sql)?;
        let mut rows = st.query(params![ente_id, after_id, limit])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(acq_row(r)?);
        }
        Ok(out)
    }

    /// How many outcomes of an ente are not yet acknowledged.
    pub fn waas_pending_count(&self, ente_id: EnteId) -> Result<u64, StoreError> {
        let n: i64 = self
            .conn
            .prepare_cached(
                "SELECT count(*) FROM waas_acquisition a WHERE a.ente_id = ?1 AND NOT EXISTS \
                 (SELECT 1 FROM waas_esito_delivery d WHERE d.acquisition_id = a.id)",
            )?
            .query_row([ente_id], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Records that the comune acknowledged these outcomes. An outcome
    /// acknowledged twice (two deliveries racing) keeps its first row.
    pub fn record_waas_deliveries(
        &mut self,
        acquisition_ids: &[i64],
        http_status: u16,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let own_tx = self.conn.is_autocommit();
        if own_tx {
            self.conn.execute_batch("BEGIN IMMEDIATE")?;
        }
        let res = (|| -> Result<(), StoreError> {
            let mut st = self.conn.prepare_cached(
                "INSERT OR IGNORE INTO waas_esito_delivery (acquisition_id, http_status, delivered_at) \
                 VALUES (?1, ?2, ?3)",
            )?;
            for id in acquisition_ids {
                st.execute(params![id, http_status, now])?;
            }
            Ok(())
        })();
        if own_tx {
            match res {
                Ok(()) => self.conn.execute_batch("COMMIT")?,
                Err(e) => {
                    let _ = self.conn.execute_batch("ROLLBACK");
                    return Err(e);
                }
            }
        }
        res
    }

    /// Whether the outcome of an acquisition was acknowledged.
    pub fn waas_delivered(&self, acquisition_id: i64) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM waas_esito_delivery WHERE acquisition_id = ?1")?
            .query_row([acquisition_id], |_| Ok(()))
            .optional()?
            .is_some())
    }

    pub fn record_waas_attempt(&self, a: &NewAttempt<'_>) -> Result<i64, StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO waas_delivery_attempt (ente_id, attempted_at, esiti, http_status, \
                 outcome, message, next_attempt_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                a.ente_id,
                now_ms(),
                a.esiti,
                a.http_status,
                match a.outcome {
                    AttemptOutcome::Delivered => "consegnati",
                    AttemptOutcome::Failed => "errore",
                },
                a.message,
                a.next_attempt_at_ms
            ])?;
        Ok(self.conn.last_insert_rowid())
    }

    /// The newest attempt of an ente and how many attempts failed in a row
    /// up to it (0 when it succeeded): what the backoff is computed from.
    pub fn waas_delivery_state(
        &self,
        ente_id: EnteId,
    ) -> Result<(Option<Attempt>, u32), StoreError> {
        let sql = format!("{ATTEMPT_SELECT} WHERE ente_id = ?1 ORDER BY id DESC LIMIT 32");
        let mut st = self.conn.prepare_cached(&sql)?;
        let mut rows = st.query([ente_id])?;
        let mut last = None;
        let mut failures = 0u32;
        while let Some(r) = rows.next()? {
            let a = attempt_row(r)?;
            let failed = a.outcome == AttemptOutcome::Failed;
            if last.is_none() {
                last = Some(a);
            }
            if !failed {
                break;
            }
            failures += 1;
        }
        Ok((last, failures))
    }

    /// Delivery attempts of an ente, newest first.
    pub fn waas_delivery_attempts(
        &self,
        ente_id: EnteId,
        limit: u32,
    ) -> Result<Vec<Attempt>, StoreError> {
        let sql = format!("{ATTEMPT_SELECT} WHERE ente_id = ?1 ORDER BY id DESC LIMIT ?2");
        let mut st = self.conn.prepare_cached(&sql)?;
        let mut rows = st.query(params![ente_id, limit])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(attempt_row(r)?);
        }
        Ok(out)
    }

    // ----- poll runs ------------------------------------------------------

    pub fn record_waas_poll_run(&self, run: &NewPollRun) -> Result<i64, StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO waas_poll_run (ente_id, started_at, finished_at, trigger, pages, \
                 new_flows, duplicates, esiti_delivered, esiti_pending, cursor_ms, fault_code, \
                 fault_message, anomalies, not_before) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )?
            .execute(params![
                run.ente_id,
                run.started_at_ms,
                run.finished_at_ms,
                run.trigger.wire(),
                run.pages,
                run.new_flows,
                run.duplicates,
                run.esiti_delivered,
                run.esiti_pending,
                run.cursor_ms,
                run.fault_code,
                run.fault_message,
                run.anomalies,
                run.not_before_ms
            ])?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Poll runs of an ente, newest first.
    pub fn waas_poll_runs(&self, ente_id: EnteId, limit: u32) -> Result<Vec<PollRun>, StoreError> {
        let sql = format!("{RUN_SELECT} WHERE ente_id = ?1 ORDER BY id DESC LIMIT ?2");
        let mut st = self.conn.prepare_cached(&sql)?;
        let mut rows = st.query(params![ente_id, limit])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(run_row(r)?);
        }
        Ok(out)
    }

    /// How many of the newest runs of an ente ended with a fault, in a row.
    pub fn waas_consecutive_faults(&self, ente_id: EnteId) -> Result<u32, StoreError> {
        let mut st = self.conn.prepare_cached(
            "SELECT fault_code FROM waas_poll_run WHERE ente_id = ?1 ORDER BY id DESC LIMIT 32",
        )?;
        let mut rows = st.query([ente_id])?;
        let mut n = 0;
        while let Some(r) = rows.next()? {
            if r.get::<_, Option<String>>(0)?.is_none() {
                break;
            }
            n += 1;
        }
        Ok(n)
    }

    /// Every endpoint with its cursor, last run and pending outcomes.
    pub fn waas_overview(&self) -> Result<Vec<EndpointOverview>, StoreError> {
        let mut out = Vec::new();
        for endpoint in self.waas_endpoints()? {
            let id = endpoint.ente_id;
            let ente_denominazione = self
                .ente_profile(id)?
                .map(|p| p.denominazione)
                .unwrap_or_else(|| endpoint.ente_codice.clone());
            let acquisitions: i64 = self
                .conn
                .prepare_cached("SELECT count(*) FROM waas_acquisition WHERE ente_id = ?1")?
                .query_row([id], |r| r.get(0))?;
            out.push(EndpointOverview {
                cursor_ms: self.waas_cursor(id)?,
                last_run: self.waas_poll_runs(id, 1)?.pop(),
                pending_esiti: self.waas_pending_count(id)?,
                acquisitions: u64::try_from(acquisitions).unwrap_or(0),
                ente_denominazione,
                endpoint,
            });
        }
        Ok(out)
    }
}
