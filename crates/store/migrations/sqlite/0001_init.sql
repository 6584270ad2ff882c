-- Casellario register, initial schema. See the module doc of casellario-store.
-- Every table here holds facts: rows are only ever inserted. Triggers at the
-- end refuse UPDATE and DELETE. `learnt_at` is unix milliseconds.

-- Enti (comuni, ambiti) registered on their first flow.
CREATE TABLE ente (
    id            INTEGER PRIMARY KEY,
    codice        TEXT    NOT NULL UNIQUE,
    denominazione TEXT,
    belfiore      TEXT    NOT NULL,
    learnt_at     INTEGER NOT NULL
);

-- A flow, inserted when its transaction begins with what is known then.
-- UNIQUE (ente_id, nome) gives exactly-once ingestion per flow name.
CREATE TABLE flow (
    id           INTEGER PRIMARY KEY,
    ente_id      INTEGER NOT NULL REFERENCES ente (id),
    nome         TEXT    NOT NULL,
    tipo         TEXT    NOT NULL CHECK (tipo IN ('PS_PSA_SINA', 'SINBA')),
    channel      TEXT    NOT NULL CHECK (channel IN ('upload', 'form', 'coop', 'waas')),
    profile      TEXT    NOT NULL CHECK (profile IN ('strict', 'compat')),
    cf_operatore TEXT    NOT NULL,
    source_name  TEXT,
    learnt_at    INTEGER NOT NULL,
    UNIQUE (ente_id, nome)
);
-- Listing an ente's flows newest first: index entries are (ente_id, rowid).
CREATE INDEX flow_by_ente ON flow (ente_id);

-- The outcome of a flow, inserted just before COMMIT in the same
-- transaction, so a committed `flow` always has exactly one `flow_commit`
-- and the flow row never needs an UPDATE. The *_lo/*_hi columns are the
-- rowid ranges of the versions and cancellations the flow inserted (a flow
-- is written by the single writer in one transaction, so its rows are
-- contiguous); they replace an index on flow_id.
CREATE TABLE flow_commit (
    flow_id         INTEGER PRIMARY KEY REFERENCES flow (id),
    content_sha256  BLOB    NOT NULL CHECK (length(content_sha256) = 32),
    size_bytes      INTEGER NOT NULL CHECK (size_bytes >= 0),
    record_count    INTEGER NOT NULL CHECK (record_count >= 0),
    accettati       INTEGER NOT NULL CHECK (accettati >= 0),
    duplicati       INTEGER NOT NULL CHECK (duplicati >= 0),
    scartati        INTEGER NOT NULL CHECK (scartati >= 0),
    avvisi          INTEGER NOT NULL CHECK (avvisi >= 0),
    codice_esito    TEXT    NOT NULL
        CHECK (codice_esito IN ('OK', 'DATI_NON_TROVATI', 'RICHIESTA_INVALIDA', 'ERRORE_GENERICO')),
    flow_violations TEXT    NOT NULL, -- JSON array of Violation
    version_lo      INTEGER,
    version_hi      INTEGER,
    n_versions      INTEGER NOT NULL CHECK (n_versions >= 0),
    cancel_lo       INTEGER,
    cancel_hi       INTEGER,
    n_cancellations INTEGER NOT NULL CHECK (n_cancellations >= 0),
    n_outcomes      INTEGER NOT NULL CHECK (n_outcomes >= 0),
    learnt_at       INTEGER NOT NULL
);

-- One accepted record (I/V for PS, every accepted SINBA record). Versions of
-- a flow are inserted in position order, so rowid order is position order.
-- flow_id carries no REFERENCES clause on purpose: the only writer (FlowTx)
-- always writes its own, just-inserted flow id, and the per-row foreign-key
-- probe cost ~20% of insert throughput on the hot path.
CREATE TABLE record_version (
    id                 INTEGER PRIMARY KEY,
    flow_id            INTEGER NOT NULL,
    pos                INTEGER NOT NULL CHECK (pos >= 1),
    key                BLOB    NOT NULL CHECK (length(key) = 16),
    content_hash       BLOB    NOT NULL CHECK (length(content_hash) = 16),
    subject            TEXT    NOT NULL,
    codice_prestazione TEXT,
    protocollo         TEXT,
    data_riferimento   TEXT,
    payload            BLOB    NOT NULL,
    learnt_at          INTEGER NOT NULL
);
-- Natural-key lookups; entries are (key, rowid) so "newest" is a reverse scan.
CREATE INDEX record_version_by_key ON record_version (key);

-- A cancellation ends the life of one version; at most one per version.
CREATE TABLE cancellation (
    id        INTEGER PRIMARY KEY,
    flow_id   INTEGER NOT NULL REFERENCES flow (id),
    pos       INTEGER NOT NULL CHECK (pos >= 1),
    target    INTEGER NOT NULL UNIQUE REFERENCES record_version (id),
    reason    TEXT    NOT NULL CHECK (reason IN ('cancellazione', 'sostituzione')),
    learnt_at INTEGER NOT NULL
);

-- Receipt rows that are not "accepted, no violations": duplicates,
-- rejections, accepted with warnings.
CREATE TABLE record_outcome (
    id         INTEGER PRIMARY KEY,
    flow_id    INTEGER NOT NULL REFERENCES flow (id),
    pos        INTEGER NOT NULL CHECK (pos >= 1),
    esito      TEXT    NOT NULL CHECK (esito IN ('accettato', 'duplicato', 'scartato')),
    codice     TEXT    NOT NULL
        CHECK (codice IN ('OK', 'DATI_NON_TROVATI', 'RICHIESTA_INVALIDA', 'ERRORE_GENERICO')),
    violations TEXT    NOT NULL, -- JSON array of Violation
    ref_id     INTEGER,
    learnt_at  INTEGER NOT NULL,
    UNIQUE (flow_id, pos)
);

-- Append-only. (INSERT OR REPLACE deletes through the conflict path; the
-- store sets PRAGMA recursive_triggers = ON so these triggers fire then too.)
CREATE TRIGGER ente_no_update BEFORE UPDATE ON ente
BEGIN SELECT RAISE(ABORT, 'append-only: ente cannot be updated'); END;
CREATE TRIGGER ente_no_delete BEFORE DELETE ON ente
BEGIN SELECT RAISE(ABORT, 'append-only: ente cannot be deleted'); END;
CREATE TRIGGER flow_no_update BEFORE UPDATE ON flow
BEGIN SELECT RAISE(ABORT, 'append-only: flow cannot be updated'); END;
CREATE TRIGGER flow_no_delete BEFORE DELETE ON flow
BEGIN SELECT RAISE(ABORT, 'append-only: flow cannot be deleted'); END;
CREATE TRIGGER flow_commit_no_update BEFORE UPDATE ON flow_commit
BEGIN SELECT RAISE(ABORT, 'append-only: flow_commit cannot be updated'); END;
CREATE TRIGGER flow_commit_no_delete BEFORE DELETE ON flow_commit
BEGIN SELECT RAISE(ABORT, 'append-only: flow_commit cannot be deleted'); END;
CREATE TRIGGER record_version_no_update BEFORE UPDATE ON record_version
BEGIN SELECT RAISE(ABORT, 'append-only: record_version cannot be updated'); END;
CREATE TRIGGER record_version_no_delete BEFORE DELETE ON record_version
BEGIN SELECT RAISE(ABORT, 'append-only: record_version cannot be deleted'); END;
CREATE TRIGGER cancellation_no_update BEFORE UPDATE ON cancellation
BEGIN SELECT RAISE(ABORT, 'append-only: cancellation cannot be updated'); END;
CREATE TRIGGER cancellation_no_delete BEFORE DELETE ON cancellation
BEGIN SELECT RAISE(ABORT, 'append-only: cancellation cannot be deleted'); END;
CREATE TRIGGER record_outcome_no_update BEFORE UPDATE ON record_outcome
BEGIN SELECT RAISE(ABORT, 'append-only: record_outcome cannot be updated'); END;
CREATE TRIGGER record_outcome_no_delete BEFORE DELETE ON record_outcome
BEGIN SELECT RAISE(ABORT, 'append-only: record_outcome cannot be deleted'); END;
