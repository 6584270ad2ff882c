//! SQLite implementation of the register.

mod api;
mod portal;
mod waas;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use casellario_domain::{Channel, CodiceEsito, Esito, FlowType, Profile, Violation};
use rusqlite::{CachedStatement, Connection, OptionalExtension, Row, params};

use crate::{
    CancelReason, CancellationId, Counts, Ente, EnteId, FlowBegin, FlowFinish, FlowId, FlowSummary,
    LiveRecord, LiveVersion, NewFlow, NewOutcome, NewVersion, ReceiptRow, StoreError, VersionId,
};

/// Columns of a [`FlowSummary`], in the order [`flow_summary`] reads them.
macro_rules! flow_select {
    () => {
        "SELECT f.id, f.nome, f.tipo, f.channel, f.profile, e.codice, f.cf_operatore, \
         c.content_sha256, c.size_bytes, c.record_count, c.accettati, c.duplicati, c.scartati, \
         c.avvisi, c.codice_esito, c.flow_violations, f.learnt_at, f.source_name \
         FROM flow f JOIN ente e ON e.id = f.ente_id JOIN flow_commit c ON c.flow_id = f.id"
    };
}

/// Embedded migrations, applied in order; migration `i` brings
/// `user_version` to `i + 1`.
const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_init",
        include_str!("../migrations/sqlite/0001_init.sql"),
    ),
    (
        "0002_portal",
        include_str!("../migrations/sqlite/0002_portal.sql"),
    ),
    (
        "0003_api",
        include_str!("../migrations/sqlite/0003_api.sql"),
    ),
    (
        "0004_waas",
        include_str!("../migrations/sqlite/0004_waas.sql"),
    ),
];

/// The register on one SQLite connection.
pub struct Store {
    conn: Connection,
    path: Option<PathBuf>,
    /// Depth of [`Store::batch`] calls: inside one, flows are savepoints of
    /// the outer transaction instead of transactions of their own.
    batch_depth: u32,
    /// Set when an unguarded flow (see [`Store::begin_flow_unguarded`]) ended
    /// without committing: the enclosing batch level must roll back.
    poisoned: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if missing) the register at `path` and migrates it.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let conn = Connection::open(path)?;
        Self::init(conn, Some(path.to_path_buf()))
    }

    /// A private, non-durable register (tests, dry runs).
    pub fn open_in_memory() -> Result<Store, StoreError> {
        let conn = Connection::open_in_memory()?;
        Self::init(conn, None)
    }

    fn init(conn: Connection, path: Option<PathBuf>) -> Result<Store, StoreError> {
        conn.busy_timeout(Duration::from_secs(5))?;
        // 16 KiB pages: ~20 versions (~700 B) per page instead of 5 means
        // fewer page allocations and a shallower key index; measured +40%
        // insert throughput over 4 KiB. Only takes effect on a new file
        // (before WAL is enabled); existing files keep their page size.
        conn.pragma_update(None, "page_size", 16384)?;
        if path.is_some() {
            let mode: String =
                conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(StoreError::Migration(format!(
                    "cannot enable WAL (journal_mode={mode})"
                )));
            }
        }
        // FULL: a committed flow survives power loss, the receipt we hand
        // out must not be forgotten.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Makes the append-only DELETE triggers fire on INSERT OR REPLACE.
        conn.pragma_update(None, "recursive_triggers", "ON")?;
        // 16 MiB of page cache (whatever the page size): it holds the key
        // index of a large flow, while table pages, written once, spill to
        // the WAL during the transaction instead of all at COMMIT (measured:
        // a 100k-record import's commit tail ~0.35 s → ~0.22 s).
        conn.pragma_update(None, "cache_size", -16384)?;
        // Savepoints (one per flow inside `Store::batch`) journal the pages
        // they change: in memory, not in a temporary file per statement.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        // After a checkpoint, shrink a WAL grown by a large flow.
        conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
        conn.set_prepared_statement_cache_capacity(64);
        let mut store = Store {
            conn,
            path,
            batch_depth: 0,
            poisoned: std::sync::atomic::AtomicBool::new(false),
        };
        store.migrate()?;
        Ok(store)
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let current: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?;
        let known = MIGRATIONS.len() as i64;
        if current < 0 || current > known {
            return Err(StoreError::Migration(format!(
                "database schema version {current} unknown to this program (knows 0..={known})"
            )));
        }
        for (i, (name, sql)) in MIGRATIONS.iter().enumerate().skip(current as usize) {
            let version = i as i64 + 1;
            let tx = self
                .conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            // Re-check under the write lock: another process may have migrated.
            let now: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
            if now >= version {
                continue;
            }
            tx.execute_batch(sql)
                .map_err(|e| StoreError::Migration(format!("{name}: {e}")))?;
            tx.pragma_update(None, "user_version", version)?;
            tx.commit()?;
        }
        Ok(())
    }

    /// The file behind the store, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Schema version (`PRAGMA user_version`).
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    /// Raw SQL on the store's own connection, for tests of the schema's
    /// guarantees. Not part of the interface.
    #[doc(hidden)]
    pub fn execute_raw_for_tests(&self, sql: &str) -> Result<(), StoreError> {
        Ok(self.conn.execute_batch(sql)?)
    }

    /// Runs `f` inside one outer transaction (group commit): one durable
    /// COMMIT for many flows. Flows begun inside (the pipeline's
    /// [`Store::begin_flow`]) are savepoints, so a flow rejected whole rolls
    /// back only itself; other writes join the outer transaction. An `Err`
    /// from `f` rolls back everything `f` wrote. Nested calls are savepoints
    /// of the outer batch (all or nothing, committed with it).
    pub fn batch<T, E: From<StoreError>>(
        &mut self,
        f: impl FnOnce(&mut Store) -> Result<T, E>,
    ) -> Result<T, E> {
        if self.batch_depth > 0 {
            let name = format!("batch{}", self.batch_depth);
            self.conn
                .execute_batch(&format!("SAVEPOINT {name}"))
                .map_err(StoreError::from)?;
            self.batch_depth += 1;
            let out = f(self);
            self.batch_depth -= 1;
            let out = self.unpoison(out);
            return match out {
                Ok(v) => {
                    self.conn
                        .execute_batch(&format!("RELEASE {name}"))
                        .map_err(StoreError::from)?;
                    Ok(v)
                }
                Err(e) => {
                    let _ = self
                        .conn
                        .execute_batch(&format!("ROLLBACK TO {name}; RELEASE {name}"));
                    Err(e)
                }
            };
        }
        if !self.conn.is_autocommit() {
            return Err(StoreError::Invalid("a transaction is already open".into()).into());
        }
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(StoreError::from)?;
        self.batch_depth = 1;
        // A panic in `f` drops the store with the transaction open: closing
        // the connection rolls it back, and the depth dies with the store.
        let out = f(self);
        self.batch_depth = 0;
        let out = self.unpoison(out);
        match out {
            Ok(v) => match self.conn.execute_batch("COMMIT") {
                Ok(()) => Ok(v),
                Err(e) => {
                    if !self.conn.is_autocommit() {
                        let _ = self.conn.execute_batch("ROLLBACK");
                    }
                    Err(StoreError::from(e).into())
                }
            },
            Err(e) => {
                if !self.conn.is_autocommit() {
                    let _ = self.conn.execute_batch("ROLLBACK");
                }
                Err(e)
            }
        }
    }

    /// Whether a [`Store::batch`] is open on this store.
    pub fn in_batch(&self) -> bool {
        self.batch_depth > 0
    }

    /// A batch level's result once an unguarded flow inside it may have
    /// been abandoned: then the level fails (and is rolled back).
    fn unpoison<T, E: From<StoreError>>(&self, out: Result<T, E>) -> Result<T, E> {
        if self
            .poisoned
            .swap(false, std::sync::atomic::Ordering::Relaxed)
        {
            return Err(StoreError::Invalid(
                "un flusso non è stato completato: le scritture del gruppo sono annullate".into(),
            )
            .into());
        }
        out
    }

    /// Like [`Store::begin_flow`] inside a [`Store::batch`], without a
    /// savepoint of its own, for a flow the caller already knows will be
    /// committed (read and checked beforehand: nothing rejects it whole).
    /// Saves journaling every page the flow touches. If it is dropped
    /// without committing after all (an error), the enclosing batch level
    /// fails and is rolled back whole. Outside a batch it is `begin_flow`.
    pub fn begin_flow_unguarded(&self, meta: &NewFlow<'_>) -> Result<FlowBegin<'_>, StoreError> {
        if self.batch_depth == 0 {
            return self.begin_flow(meta);
        }
        let conn: &Connection = &self.conn;
        let learnt_at = now_ms();
        let poison = || {
            self.poisoned
                .store(true, std::sync::atomic::Ordering::Relaxed)
        };
        match begin_inner(conn, meta, learnt_at) {
            Ok(Begun::Existing(fid)) => match flow_by_id(conn, fid) {
                Ok(Some(s)) => Ok(FlowBegin::Existing(s)),
                Ok(None) => {
                    poison();
                    Err(StoreError::Corrupt(format!("flow {fid} has no commit row")))
                }
                Err(e) => {
                    poison();
                    Err(e)
                }
            },
            Ok(Begun::New { flow_id, ente_id }) => {
                match FlowTx::new(
                    conn,
                    flow_id,
                    ente_id,
                    meta.tipo,
                    learnt_at,
                    TxMode::Unguarded(&self.poisoned),
                ) {
                    Ok(tx) => Ok(FlowBegin::New(tx)),
                    Err(e) => {
                        poison();
                        Err(e)
                    }
                }
            }
            Err(e) => {
                poison();
                Err(e)
            }
        }
    }

    /// `BEGIN IMMEDIATE` (a `SAVEPOINT` inside [`Store::batch`]); registers
    /// the ente if unknown; if a flow (ente codice, nome) already exists,
    /// rolls back and returns `Existing`, else creates the flow and returns
    /// `New`.
    pub fn begin_flow(&self, meta: &NewFlow<'_>) -> Result<FlowBegin<'_>, StoreError> {
        let conn: &Connection = &self.conn;
        let nested = self.batch_depth > 0;
        let (begin, rollback) = if nested {
            ("SAVEPOINT flow", "ROLLBACK TO flow; RELEASE flow")
        } else {
            if !conn.is_autocommit() {
                return Err(StoreError::Invalid("a transaction is already open".into()));
            }
            ("BEGIN IMMEDIATE", "ROLLBACK")
        };
        conn.execute_batch(begin)?;
        let learnt_at = now_ms();
        match begin_inner(conn, meta, learnt_at) {
            Ok(Begun::Existing(fid)) => {
                let summary = flow_by_id(conn, fid);
                conn.execute_batch(rollback)?;
                match summary? {
                    Some(s) => Ok(FlowBegin::Existing(s)),
                    None => Err(StoreError::Corrupt(format!("flow {fid} has no commit row"))),
                }
            }
            Ok(Begun::New { flow_id, ente_id }) => {
                match FlowTx::new(
                    conn,
                    flow_id,
                    ente_id,
                    meta.tipo,
                    learnt_at,
                    if nested {
                        TxMode::Savepoint
                    } else {
                        TxMode::Transaction
                    },
                ) {
                    Ok(tx) => Ok(FlowBegin::New(tx)),
                    Err(e) => {
                        let _ = conn.execute_batch(rollback);
                        Err(e)
                    }
                }
            }
            Err(e) => {
                if !conn.is_autocommit() {
                    let _ = conn.execute_batch(rollback);
                }
                Err(e)
            }
        }
    }

    pub fn find_flow(
        &self,
        ente_codice: &str,
        nome: &str,
    ) -> Result<Option<FlowSummary>, StoreError> {
        let mut st = self.conn.prepare_cached(concat!(
            flow_select!(),
            " WHERE e.codice = ?1 AND f.nome = ?2"
        ))?;
        let mut rows = st.query(params![ente_codice, nome])?;
        rows.next()?.map(flow_summary).transpose()
    }

    pub fn flow(&self, id: FlowId) -> Result<Option<FlowSummary>, StoreError> {
        flow_by_id(&self.conn, id)
    }

    /// Flows of an ente (or all when `None`), newest first; `before` pages
    /// (only flows with id < before).
    pub fn list_flows(
        &self,
        ente_codice: Option<&str>,
        limit: u32,
        before: Option<FlowId>,
    ) -> Result<Vec<FlowSummary>, StoreError> {
        let before = before.unwrap_or(i64::MAX);
        let mut out = Vec::new();
        match ente_codice {
            Some(codice) => {
                let mut st = self.conn.prepare_cached(concat!(
                    flow_select!(),
                    " WHERE f.ente_id = (SELECT id FROM ente WHERE codice = ?1) AND f.id < ?2",
                    " ORDER BY f.id DESC LIMIT ?3"
                ))?;
                let mut rows = st.query(params![codice, before, limit])?;
                while let Some(r) = rows.next()? {
                    out.push(flow_summary(r)?);
                }
            }
            None => {
                let mut st = self.conn.prepare_cached(concat!(
                    flow_select!(),
                    " WHERE f.id < ?1 ORDER BY f.id DESC LIMIT ?2"
                ))?;
                let mut rows = st.query(params![before, limit])?;
                while let Some(r) = rows.next()? {
                    out.push(flow_summary(r)?);
                }
            }
        }
        Ok(out)
    }

    /// Streams the receipt of a committed flow, positions 1..=record_count,
    /// merging stored outcome rows, the versions and the cancellations the
    /// flow made (an outcome row wins over a version, a version over a
    /// cancellation: a SINBA replacement makes both at one position).
    pub fn for_each_receipt_row(
        &self,
        flow: FlowId,
        f: &mut dyn FnMut(ReceiptRow) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let Some(c) = self
            .conn
            .prepare_cached(
                "SELECT record_count, version_lo, version_hi, cancel_lo, cancel_hi \
                 FROM flow_commit WHERE flow_id = ?1",
            )?
            .query_row([flow], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Option<i64>>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                ))
            })
            .optional()?
        else {
            return Err(StoreError::Invalid(format!("no committed flow {flow}")));
        };
        let record_count = to_u64(c.0, "record_count")?;

        // Rowid ranges: a flow's versions and cancellations are contiguous
        // and in position order (enforced when written).
        let mut vst = self.conn.prepare_cached(
            "SELECT pos, id FROM record_version WHERE id BETWEEN ?1 AND ?2 AND flow_id = ?3 ORDER BY id",
        )?;
        let mut cst = self.conn.prepare_cached(
            "SELECT pos, id FROM cancellation WHERE id BETWEEN ?1 AND ?2 AND flow_id = ?3 ORDER BY id",
        )?;
        let mut ost = self.conn.prepare_cached(
            "SELECT pos, esito, codice, violations, ref_id FROM record_outcome \
             WHERE flow_id = ?1 ORDER BY pos",
        )?;
        let mut vrows = vst.query(params![c.1, c.2, flow])?;
        let mut crows = cst.query(params![c.3, c.4, flow])?;
        let mut orows = ost.query([flow])?;
        let pos_id = |r: Option<&Row<'_>>| -> Result<Option<(u64, i64)>, StoreError> {
            r.map(|r| Ok((to_u64(r.get(0)?, "pos")?, r.get(1)?)))
                .transpose()
        };
        let mut vhead = pos_id(vrows.next()?)?;
        let mut chead = pos_id(crows.next()?)?;
        let mut ohead = orows.next()?.map(receipt_row).transpose()?;

        for pos in 1..=record_count {
            let outcome = match ohead.take() {
                Some(o) if o.pos == pos => {
                    ohead = orows.next()?.map(receipt_row).transpose()?;
                    Some(o)
                }
                other => {
                    ohead = other;
                    None
                }
            };
            let version = match vhead {
                Some((p, id)) if p == pos => {
                    vhead = pos_id(vrows.next()?)?;
                    Some(id)
                }
                _ => None,
            };
            let cancellation = match chead {
                Some((p, id)) if p == pos => {
                    chead = pos_id(crows.next()?)?;
                    Some(id)
                }
                _ => None,
            };
            let accepted = |id| ReceiptRow {
                pos,
                esito: Esito::Accettato,
                codice: CodiceEsito::Ok,
                violations: Vec::new(),
                ref_id: Some(id),
            };
            let row = match (outcome, version, cancellation) {
                (Some(o), _, _) => o,
                (None, Some(v), _) => accepted(v),
                (None, None, Some(c)) => accepted(c),
                (None, None, None) => {
                    return Err(StoreError::Corrupt(format!(
                        "flow {flow}: no receipt row for position {pos}"
                    )));
                }
            };
            f(row)?;
        }
        let stray = ohead
            .map(|o| o.pos)
            .or(vhead.map(|v| v.0))
            .or(chead.map(|c| c.0));
        if let Some(p) = stray {
            return Err(StoreError::Corrupt(format!(
                "flow {flow}: row at position {p} outside 1..={record_count} or out of order"
            )));
        }
        Ok(())
    }

    /// Streams the live versions of an ente and flow type, by version id.
    pub fn for_each_live(
        &self,
        ente_codice: &str,
        tipo: FlowType,
        f: &mut dyn FnMut(LiveRecord) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        // The flows' version ranges are disjoint (one writer, one transaction
        // per flow), so walking them in range order yields version-id order
        // without a sort.
        let ranges: Vec<(i64, i64, i64)> = {
            let mut st = self.conn.prepare_cached(
                "SELECT f.id, c.version_lo, c.version_hi FROM flow f \
                 JOIN flow_commit c ON c.flow_id = f.id \
                 WHERE f.ente_id = (SELECT id FROM ente WHERE codice = ?1) AND f.tipo = ?2 \
                   AND c.version_lo IS NOT NULL \
                 ORDER BY c.version_lo",
            )?;
            st.query_map(params![ente_codice, tipo.wire()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?
            .collect::<Result<_, _>>()?
        };
        let mut st = self.conn.prepare_cached(
            "SELECT v.id, v.pos, v.key, v.content_hash, v.subject, v.payload, v.learnt_at \
             FROM record_version v \
             WHERE v.id BETWEEN ?1 AND ?2 AND v.flow_id = ?3 \
               AND NOT EXISTS (SELECT 1 FROM cancellation x WHERE x.target = v.id) \
             ORDER BY v.id",
        )?;
        for (flow_id, lo, hi) in ranges {
            let mut rows = st.query(params![lo, hi, flow_id])?;
            while let Some(r) = rows.next()? {
                let rec = LiveRecord {
                    version_id: r.get(0)?,
                    flow_id,
                    pos: to_u64(r.get(1)?, "pos")?,
                    key: blob16(r, 2)?,
                    content_hash: blob16(r, 3)?,
                    subject: r.get(4)?,
                    payload: r.get(5)?,
                    learnt_at_ms: r.get(6)?,
                };
                f(rec)?;
            }
        }
        Ok(())
    }

    pub fn ente(&self, codice: &str) -> Result<Option<Ente>, StoreError> {
        let mut st = self.conn.prepare_cached(
            "SELECT id, codice, denominazione, belfiore, learnt_at FROM ente WHERE codice = ?1",
        )?;
        Ok(st.query_row([codice], ente_row).optional()?)
    }

    /// All enti, by codice.
    pub fn list_enti(&self) -> Result<Vec<Ente>, StoreError> {
        let mut st = self.conn.prepare_cached(
            "SELECT id, codice, denominazione, belfiore, learnt_at FROM ente ORDER BY codice",
        )?;
        Ok(st.query_map([], ente_row)?.collect::<Result<_, _>>()?)
    }

    /// Row counts (committed data). Scans tables: for tests and dashboards.
    pub fn counts(&self) -> Result<Counts, StoreError> {
        let (flows, versions, cancellations, outcomes) = self.conn.query_row(
            "SELECT (SELECT count(*) FROM flow_commit), (SELECT count(*) FROM record_version), \
                    (SELECT count(*) FROM cancellation), (SELECT count(*) FROM record_outcome)",
            [],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            },
        )?;
        let versions = to_u64(versions, "count")?;
        let cancellations = to_u64(cancellations, "count")?;
        let live = versions
            .checked_sub(cancellations)
            .ok_or_else(|| StoreError::Corrupt("more cancellations than versions".into()))?;
        Ok(Counts {
            flows: to_u64(flows, "count")?,
            versions,
            cancellations,
            live,
            outcomes: to_u64(outcomes, "count")?,
        })
    }

    /// Live versions of one ente and type, from the per-flow counters
    /// (cost proportional to the ente's flows, not its records).
    pub fn live_count(&self, ente_codice: &str, tipo: FlowType) -> Result<u64, StoreError> {
        let mut st = self.conn.prepare_cached(
            "SELECT coalesce(sum(c.n_versions), 0) - coalesce(sum(c.n_cancellations), 0) \
             FROM flow f JOIN flow_commit c ON c.flow_id = f.id \
             WHERE f.ente_id = (SELECT id FROM ente WHERE codice = ?1) AND f.tipo = ?2",
        )?;
        let n: i64 = st.query_row(params![ente_codice, tipo.wire()], |r| r.get(0))?;
        to_u64(n, "live count")
    }

    /// Whether the ente ever stored a version of this type. Cheap (stops at
    /// the first such flow), unlike [`Store::live_count`], which sums over
    /// every flow: the pipeline asks it once per flow, and an ente of the
    /// machine channels has one flow per record.
    pub fn has_versions(&self, ente_codice: &str, tipo: FlowType) -> Result<bool, StoreError> {
        let mut st = self.conn.prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM flow f JOIN flow_commit c ON c.flow_id = f.id \
             WHERE f.ente_id = (SELECT id FROM ente WHERE codice = ?1) AND f.tipo = ?2 \
               AND c.n_versions > 0)",
        )?;
        Ok(st.query_row(params![ente_codice, tipo.wire()], |r| r.get(0))?)
    }
}

enum Begun {
    New { flow_id: FlowId, ente_id: EnteId },
    Existing(FlowId),
}

fn begin_inner(conn: &Connection, meta: &NewFlow<'_>, learnt_at: i64) -> Result<Begun, StoreError> {
    let ente_id: Option<EnteId> = conn
        .prepare_cached("SELECT id FROM ente WHERE codice = ?1")?
        .query_row([meta.ente_codice], |r| r.get(0))
        .optional()?;
    let ente_id = match ente_id {
        Some(id) => {
            let existing: Option<FlowId> = conn
                .prepare_cached("SELECT id FROM flow WHERE ente_id = ?1 AND nome = ?2")?
                .query_row(params![id, meta.nome], |r| r.get(0))
                .optional()?;
            if let Some(fid) = existing {
                return Ok(Begun::Existing(fid));
            }
            id
        }
        None => conn
            .prepare_cached("INSERT INTO ente (codice, denominazione, belfiore, learnt_at) VALUES (?1, ?2, ?3, ?4)")?
            .insert(params![meta.ente_codice, meta.ente_denominazione, meta.ente_belfiore, learnt_at])?,
    };
    let flow_id = conn
        .prepare_cached(
            "INSERT INTO flow (ente_id, nome, tipo, channel, profile, cf_operatore, source_name, learnt_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .insert(params![
            ente_id,
            meta.nome,
            meta.tipo.wire(),
            meta.channel.wire(),
            meta.profile.wire(),
            meta.cf_operatore,
            meta.source_name,
            learnt_at
        ])?;
    Ok(Begun::New { flow_id, ente_id })
}

fn flow_by_id(conn: &Connection, id: FlowId) -> Result<Option<FlowSummary>, StoreError> {
    let mut st = conn.prepare_cached(concat!(flow_select!(), " WHERE f.id = ?1"))?;
    let mut rows = st.query([id])?;
    rows.next()?.map(flow_summary).transpose()
}

fn flow_summary(r: &Row<'_>) -> Result<FlowSummary, StoreError> {
    let tipo: String = r.get(2)?;
    let channel: String = r.get(3)?;
    let profile: String = r.get(4)?;
    let sha = r.get_ref(7)?.as_blob()?;
    let codice: String = r.get(14)?;
    let violations: String = r.get(15)?;
    Ok(FlowSummary {
        id: r.get(0)?,
        nome: r.get(1)?,
        tipo: FlowType::from_wire(&tipo).ok_or_else(|| corrupt("tipo", &tipo))?,
        channel: Channel::from_wire(&channel).ok_or_else(|| corrupt("channel", &channel))?,
        profile: Profile::from_wire(&profile).ok_or_else(|| corrupt("profile", &profile))?,
        ente_codice: r.get(5)?,
        cf_operatore: r.get(6)?,
        content_sha256: sha
            .try_into()
            .map_err(|_| StoreError::Corrupt("content_sha256 is not 32 bytes".into()))?,
        size_bytes: to_u64(r.get(8)?, "size_bytes")?,
        record_count: to_u64(r.get(9)?, "record_count")?,
        accettati: to_u64(r.get(10)?, "accettati")?,
        duplicati: to_u64(r.get(11)?, "duplicati")?,
        scartati: to_u64(r.get(12)?, "scartati")?,
        avvisi: to_u64(r.get(13)?, "avvisi")?,
        codice_esito: CodiceEsito::from_wire(&codice)
            .ok_or_else(|| corrupt("codice_esito", &codice))?,
        flow_violations: decode_violations(&violations)?,
        learnt_at_ms: r.get(16)?,
        source_name: r.get(17)?,
    })
}

fn receipt_row(r: &Row<'_>) -> Result<ReceiptRow, StoreError> {
    let esito = r.get_ref(1)?.as_str()?;
    let codice = r.get_ref(2)?.as_str()?;
    Ok(ReceiptRow {
        pos: to_u64(r.get(0)?, "pos")?,
        esito: Esito::from_wire(esito).ok_or_else(|| corrupt("esito", esito))?,
        codice: CodiceEsito::from_wire(codice).ok_or_else(|| corrupt("codice", codice))?,
        violations: decode_violations(r.get_ref(3)?.as_str()?)?,
        ref_id: r.get(4)?,
    })
}

fn ente_row(r: &Row<'_>) -> rusqlite::Result<Ente> {
    Ok(Ente {
        id: r.get(0)?,
        codice: r.get(1)?,
        denominazione: r.get(2)?,
        belfiore: r.get(3)?,
        created_at_ms: r.get(4)?,
    })
}

fn decode_violations(s: &str) -> Result<Vec<Violation>, StoreError> {
    if s == "[]" {
        return Ok(Vec::new());
    }
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("violations JSON: {e}")))
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("unknown {what} {value:?}"))
}

fn blob16(r: &Row<'_>, idx: usize) -> Result<[u8; 16], StoreError> {
    r.get_ref(idx)?
        .as_blob()?
        .try_into()
        .map_err(|_| StoreError::Corrupt("16-byte hash of another length".into()))
}

fn to_u64(v: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("negative {what}: {v}")))
}

fn to_i64(v: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Invalid(format!("{what} too large: {v}")))
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl From<rusqlite::types::FromSqlError> for StoreError {
    fn from(e: rusqlite::types::FromSqlError) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

/// An open flow transaction: the write lock is held until [`FlowTx::commit`]
/// or drop (which rolls back).
///
/// It runs `BEGIN`/`COMMIT`/`ROLLBACK` itself on a shared borrow of the
/// connection instead of wrapping a `rusqlite::Transaction`, so that it can
/// keep its prepared statements for the whole flow (a statement borrowing a
/// `Transaction` field would make the struct self-referential); saves a
/// statement-cache lookup per call on the hot path. The `&mut Store` borrow
/// taken by `begin_flow` keeps anyone else off the connection meanwhile.
pub struct FlowTx<'a> {
    conn: &'a Connection,
    st_insert_version: CachedStatement<'a>,
    st_live_by_key: CachedStatement<'a>,
    st_insert_cancellation: CachedStatement<'a>,
    st_insert_outcome: CachedStatement<'a>,
    flow_id: FlowId,
    ente_id: EnteId,
    tipo: FlowType,
    learnt_at: i64,
    // Per-kind last position: rows of each kind are written in position
    // order, which lets reads use rowid order instead of an index.
    last_version_pos: u64,
    last_cancel_pos: u64,
    last_outcome_pos: u64,
    version_lo: Option<VersionId>,
    version_hi: Option<VersionId>,
    n_versions: u64,
    cancel_lo: Option<CancellationId>,
    cancel_hi: Option<CancellationId>,
    n_cancellations: u64,
    n_outcomes: u64,
    n_duplicati: u64,
    n_scartati: u64,
    /// Positions that got any row, to check at commit that the receipt will
    /// have exactly record_count rows.
    covered: Vec<u64>,
    n_covered: u64,
    max_pos: u64,
    json: String,
    done: bool,
    mode: TxMode<'a>,
}

/// How a flow's writes are delimited.
enum TxMode<'a> {
    /// `BEGIN IMMEDIATE` … `COMMIT`.
    Transaction,
    /// `SAVEPOINT flow` … `RELEASE flow`, inside [`Store::batch`].
    Savepoint,
    /// Inside [`Store::batch`] with no boundary of its own: abandoning it
    /// raises this flag, which fails the enclosing batch level.
    Unguarded(&'a std::sync::atomic::AtomicBool),
}

impl<'a> FlowTx<'a> {
    fn new(
        conn: &'a Connection,
        flow_id: FlowId,
        ente_id: EnteId,
        tipo: FlowType,
        learnt_at: i64,
        mode: TxMode<'a>,
    ) -> Result<Self, StoreError> {
        let mut st_insert_version = conn.prepare_cached(
            "INSERT INTO record_version (flow_id, pos, key, content_hash, subject, \
             codice_prestazione, protocollo, data_riferimento, payload, learnt_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?;
        // The same for every version of the flow: bound once.
        st_insert_version.raw_bind_parameter(1, flow_id)?;
        st_insert_version.raw_bind_parameter(10, learnt_at)?;
        Ok(FlowTx {
            conn,
            st_insert_version,
            // CROSS JOIN pins the plan: key index first (reverse scan gives
            // the newest), then the flow by primary key.
            st_live_by_key: conn.prepare_cached(
                "SELECT v.id, v.content_hash FROM record_version v CROSS JOIN flow f \
                 WHERE v.key = ?1 AND f.id = v.flow_id AND f.ente_id = ?2 AND f.tipo = ?3 \
                   AND NOT EXISTS (SELECT 1 FROM cancellation x WHERE x.target = v.id) \
                 ORDER BY v.id DESC LIMIT 1",
            )?,
            st_insert_cancellation: conn.prepare_cached(
                "INSERT INTO cancellation (flow_id, pos, target, reason, learnt_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?,
            st_insert_outcome: conn.prepare_cached(
                "INSERT INTO record_outcome (flow_id, pos, esito, codice, violations, ref_id, learnt_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?,
            flow_id,
            ente_id,
            tipo,
            learnt_at,
            last_version_pos: 0,
            last_cancel_pos: 0,
            last_outcome_pos: 0,
            version_lo: None,
            version_hi: None,
            n_versions: 0,
            cancel_lo: None,
            cancel_hi: None,
            n_cancellations: 0,
            n_outcomes: 0,
            n_duplicati: 0,
            n_scartati: 0,
            covered: Vec::new(),
            n_covered: 0,
            max_pos: 0,
            json: String::new(),
            done: false,
            mode,
        })
    }

    pub fn flow_id(&self) -> FlowId {
        self.flow_id
    }

    /// The live version with this natural key in the flow's ente and type:
    /// the newest version with the key that no cancellation references
    /// (including versions written earlier in this flow).
    pub fn live_by_key(&mut self, key: &[u8; 16]) -> Result<Option<LiveVersion>, StoreError> {
        let mut rows =
            self.st_live_by_key
                .query(params![&key[..], self.ente_id, self.tipo.wire()])?;
        match rows.next()? {
            None => Ok(None),
            Some(r) => Ok(Some(LiveVersion {
                version_id: r.get(0)?,
                content_hash: blob16(r, 1)?,
            })),
        }
    }

    pub fn insert_version(&mut self, v: &NewVersion<'_>) -> Result<VersionId, StoreError> {
        check_pos(v.pos, &mut self.last_version_pos, "version")?;
        // ?1 (flow_id) and ?10 (learnt_at) stay bound from `new`: SQLite
        // keeps bindings across executions.
        let st = &mut self.st_insert_version;
        st.raw_bind_parameter(2, to_i64(v.pos, "pos")?)?;
        st.raw_bind_parameter(3, &v.key[..])?;
        st.raw_bind_parameter(4, &v.content_hash[..])?;
        st.raw_bind_parameter(5, v.subject)?;
        st.raw_bind_parameter(6, v.codice_prestazione)?;
        st.raw_bind_parameter(7, v.protocollo)?;
        st.raw_bind_parameter(8, v.data_riferimento)?;
        st.raw_bind_parameter(9, v.payload)?;
        let changes = st.raw_execute()?;
        if changes != 1 {
            return Err(rusqlite::Error::StatementChangedRows(changes).into());
        }
        let id = self.conn.last_insert_rowid();
        self.version_lo.get_or_insert(id);
        self.version_hi = Some(id);
        self.n_versions += 1;
        self.cover(v.pos);
        Ok(id)
    }

    /// Ends the life of `target`, which must be a live version of this
    /// flow's ente and type.
    pub fn insert_cancellation(
        &mut self,
        target: VersionId,
        pos: u64,
        reason: CancelReason,
    ) -> Result<CancellationId, StoreError> {
        let found: Option<(EnteId, String, bool)> = self
            .conn
            .prepare_cached(
                "SELECT f.ente_id, f.tipo, EXISTS (SELECT 1 FROM cancellation x WHERE x.target = v.id) \
                 FROM record_version v JOIN flow f ON f.id = v.flow_id WHERE v.id = ?1",
            )?
            .query_row([target], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        match found {
            None => {
                return Err(StoreError::Invalid(format!(
                    "cancelling unknown version {target}"
                )));
            }
            Some((ente, tipo, _)) if ente != self.ente_id || tipo != self.tipo.wire() => {
                return Err(StoreError::Invalid(format!(
                    "version {target} belongs to another ente or flow type"
                )));
            }
            Some((_, _, true)) => {
                return Err(StoreError::Invalid(format!(
                    "version {target} is already cancelled"
                )));
            }
            Some(_) => {}
        }
        check_pos(pos, &mut self.last_cancel_pos, "cancellation")?;
        let id = self.st_insert_cancellation.insert(params![
            self.flow_id,
            to_i64(pos, "pos")?,
            target,
            reason.wire(),
            self.learnt_at
        ])?;
        self.cancel_lo.get_or_insert(id);
        self.cancel_hi = Some(id);
        self.n_cancellations += 1;
        self.cover(pos);
        Ok(id)
    }

    /// Only for records whose outcome is not "accepted with no violations"
    /// (duplicates, rejections, warnings).
    pub fn insert_outcome(&mut self, o: &NewOutcome<'_>) -> Result<(), StoreError> {
        check_pos(o.pos, &mut self.last_outcome_pos, "outcome")?;
        self.json.clear();
        if o.violations.is_empty() {
            self.json.push_str("[]");
        } else {
            let mut buf = std::mem::take(&mut self.json).into_bytes();
            serde_json::to_writer(&mut buf, o.violations)
                .map_err(|e| StoreError::Invalid(format!("violations do not serialise: {e}")))?;
            // serde_json writes valid UTF-8.
            self.json = String::from_utf8(buf).map_err(|e| StoreError::Invalid(e.to_string()))?;
        }
        self.st_insert_outcome.execute(params![
            self.flow_id,
            to_i64(o.pos, "pos")?,
            o.esito.wire(),
            o.codice.wire(),
            self.json,
            o.ref_id,
            self.learnt_at
        ])?;
        self.n_outcomes += 1;
        match o.esito {
            Esito::Duplicato => self.n_duplicati += 1,
            Esito::Scartato => self.n_scartati += 1,
            Esito::Accettato => {}
        }
        self.cover(o.pos);
        Ok(())
    }

    fn cover(&mut self, pos: u64) {
        // pos >= 1 was checked; bit (pos - 1).
        self.max_pos = self.max_pos.max(pos);
        let bit = pos - 1;
        let word = (bit / 64) as usize;
        if word >= self.covered.len() {
            self.covered.resize(word + 1, 0);
        }
        let mask = 1u64 << (bit % 64);
        if self.covered[word] & mask == 0 {
            self.covered[word] |= mask;
            self.n_covered += 1;
        }
    }

    /// Records the flow's outcome and commits. Checks first that the rows
    /// written agree with `fin`: every position 1..=record_count has a row,
    /// none beyond, and the duplicate/rejected counters match the outcome
    /// rows (so the receipt will agree with the summary).
    pub fn commit(mut self, fin: &FlowFinish) -> Result<FlowSummary, StoreError> {
        if self.max_pos > fin.record_count || self.n_covered != fin.record_count {
            return Err(StoreError::Invalid(format!(
                "flow {}: rows cover {} positions up to {}, record_count is {}",
                self.flow_id, self.n_covered, self.max_pos, fin.record_count
            )));
        }
        if fin.accettati + fin.duplicati + fin.scartati != fin.record_count
            || fin.duplicati != self.n_duplicati
            || fin.scartati != self.n_scartati
        {
            return Err(StoreError::Invalid(format!(
                "flow {}: counters accettati {} duplicati {} scartati {} do not match the rows \
                 (record_count {}, duplicate rows {}, rejected rows {})",
                self.flow_id,
                fin.accettati,
                fin.duplicati,
                fin.scartati,
                fin.record_count,
                self.n_duplicati,
                self.n_scartati
            )));
        }
        let flow_violations = serde_json::to_string(&fin.flow_violations)
            .map_err(|e| StoreError::Invalid(format!("violations do not serialise: {e}")))?;
        self.conn
            .prepare_cached(
                "INSERT INTO flow_commit (flow_id, content_sha256, size_bytes, record_count, accettati, \
                 duplicati, scartati, avvisi, codice_esito, flow_violations, version_lo, version_hi, \
                 n_versions, cancel_lo, cancel_hi, n_cancellations, n_outcomes, learnt_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
            )?
            .execute(params![
                self.flow_id,
                &fin.content_sha256[..],
                to_i64(fin.size_bytes, "size_bytes")?,
                to_i64(fin.record_count, "record_count")?,
                to_i64(fin.accettati, "accettati")?,
                to_i64(fin.duplicati, "duplicati")?,
                to_i64(fin.scartati, "scartati")?,
                to_i64(fin.avvisi, "avvisi")?,
                fin.codice_esito.wire(),
                flow_violations,
                self.version_lo,
                self.version_hi,
                to_i64(self.n_versions, "n_versions")?,
                self.cancel_lo,
                self.cancel_hi,
                to_i64(self.n_cancellations, "n_cancellations")?,
                to_i64(self.n_outcomes, "n_outcomes")?,
                now_ms()
            ])?;
        let summary = flow_by_id(self.conn, self.flow_id)?.ok_or_else(|| {
            StoreError::Corrupt(format!("flow {} vanished before commit", self.flow_id))
        })?;
        match self.mode {
            TxMode::Transaction => self.conn.execute_batch("COMMIT")?,
            TxMode::Savepoint => self.conn.execute_batch("RELEASE flow")?,
            TxMode::Unguarded(_) => {}
        }
        self.done = true;
        Ok(summary)
    }
}

impl Drop for FlowTx<'_> {
    fn drop(&mut self) {
        // Not committed: undo everything. If SQLite already rolled back
        // (e.g. after an I/O error) there is nothing to do.
        if self.done {
            return;
        }
        match self.mode {
            TxMode::Unguarded(poisoned) => {
                poisoned.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            _ if self.conn.is_autocommit() => {}
            TxMode::Savepoint => {
                let _ = self.conn.execute_batch("ROLLBACK TO flow; RELEASE flow");
            }
            TxMode::Transaction => {
                let _ = self.conn.execute_batch("ROLLBACK");
            }
        }
    }
}

fn check_pos(pos: u64, last: &mut u64, what: &str) -> Result<(), StoreError> {
    if pos <= *last {
        return Err(StoreError::Invalid(format!(
            "{what} at position {pos} after position {last}: positions must start at 1 and increase",
            last = *last
        )));
    }
    *last = pos;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn plan(store: &Store, sql: &str) -> String {
        let mut st = store
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap();
        let rows = st.query_map([], |r| r.get::<_, String>(3)).unwrap();
        rows.collect::<Result<Vec<_>, _>>().unwrap().join(" | ")
    }

    /// The hot and streaming queries use the intended access paths, with no
    /// full scan and no sort.
    #[test]
    fn query_plans() {
        let store = Store::open_in_memory().unwrap();
        let p = plan(
            &store,
            "SELECT v.id, v.content_hash FROM record_version v CROSS JOIN flow f \
             WHERE v.key = x'00' AND f.id = v.flow_id AND f.ente_id = 1 AND f.tipo = 'SINBA' \
               AND NOT EXISTS (SELECT 1 FROM cancellation x WHERE x.target = v.id) \
             ORDER BY v.id DESC LIMIT 1",
        );
        assert!(p.contains("USING INDEX record_version_by_key"), "{p}");
        assert!(!p.contains("TEMP B-TREE"), "{p}");
        let p = plan(
            &store,
            "SELECT pos, id FROM record_version WHERE id BETWEEN 1 AND 2 AND flow_id = 3 ORDER BY id",
        );
        assert!(
            p.contains("INTEGER PRIMARY KEY (rowid>? AND rowid<?)"),
            "{p}"
        );
        assert!(!p.contains("TEMP B-TREE"), "{p}");
        let p = plan(
            &store,
            "SELECT pos, esito, codice, violations, ref_id FROM record_outcome WHERE flow_id = 1 ORDER BY pos",
        );
        assert!(p.contains("USING INDEX"), "{p}");
        assert!(!p.contains("TEMP B-TREE"), "{p}");
        let p = plan(
            &store,
            concat!(
                flow_select!(),
                " WHERE f.ente_id = 1 AND f.id < 10 ORDER BY f.id DESC LIMIT 5"
            ),
        );
        assert!(p.contains("flow_by_ente"), "{p}");
        assert!(!p.contains("TEMP B-TREE"), "{p}");
    }

    #[test]
    fn migrations_are_numbered_in_order() {
        for (i, (name, _)) in MIGRATIONS.iter().enumerate() {
            assert!(name.starts_with(&format!("{:04}_", i + 1)), "{name}");
        }
    }
}
