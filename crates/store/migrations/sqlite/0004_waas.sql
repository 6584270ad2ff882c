-- Casellario register: WaaS polling of the comuni (DOMAIN.md §2.5). Every
-- table is an append-only fact with the time it was learnt; the current
-- state (endpoint, cursor, pending outcomes, backoff) is derived by query.

-- A comune's WaaS endpoint as an administrator registered it. A change is a
-- new revision; the newest revision of an ente is its current endpoint.
-- The bearer credential is either a literal token (`credential_kind =
-- 'token'`) or the NAME of an environment variable holding it ('env'), so
-- a deployment can keep secrets out of the database.
CREATE TABLE waas_endpoint (
    id               INTEGER PRIMARY KEY,
    ente_id          INTEGER NOT NULL REFERENCES ente (id),
    base_url         TEXT    NOT NULL,
    credential_kind  TEXT    NOT NULL CHECK (credential_kind IN ('token', 'env', 'nessuna')),
    credential_value TEXT    NOT NULL,
    interval_secs    INTEGER NOT NULL CHECK (interval_secs > 0),
    enabled          INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    account_id       INTEGER,
    learnt_at        INTEGER NOT NULL
);
CREATE INDEX waas_endpoint_by_ente ON waas_endpoint (ente_id);

-- One entry of GET /flussi the register acquired: exactly once per
-- (ente, id_flusso, SHA-256 of the decoded flow). The outcome sent back
-- with POST /esiti is fixed here, in the same transaction as the records
-- the pipeline stored. `sha256` is of the decoded XML, or of the raw
-- `flusso` text when it could not be decoded.
CREATE TABLE waas_acquisition (
    id                   INTEGER PRIMARY KEY,
    ente_id              INTEGER NOT NULL REFERENCES ente (id),
    id_flusso            TEXT    NOT NULL,
    ts_flusso            INTEGER NOT NULL,
    tipo                 TEXT    NOT NULL,
    sha256               BLOB    NOT NULL CHECK (length(sha256) = 32),
    submission_id        INTEGER REFERENCES submission (id),
    codice_esito         TEXT    NOT NULL
        CHECK (codice_esito IN ('OK', 'DATI_NON_TROVATI', 'RICHIESTA_INVALIDA', 'ERRORE_GENERICO')),
    descrizione_esito    TEXT,
    id_acquisizione_siuss TEXT,
    learnt_at            INTEGER NOT NULL,
    UNIQUE (ente_id, id_flusso, sha256)
);
-- Pending outcomes of an ente, in acquisition order.
CREATE INDEX waas_acquisition_by_ente ON waas_acquisition (ente_id);

-- Where the next GET /flussi starts (`since`): the newest row of an ente.
CREATE TABLE waas_cursor (
    id        INTEGER PRIMARY KEY,
    ente_id   INTEGER NOT NULL REFERENCES ente (id),
    since_ms  INTEGER NOT NULL,
    learnt_at INTEGER NOT NULL
);
CREATE INDEX waas_cursor_by_ente ON waas_cursor (ente_id);

-- An outcome the comune acknowledged with a 2xx to POST /esiti. At most
-- one per acquisition: an acquisition without a row is pending.
CREATE TABLE waas_esito_delivery (
    acquisition_id INTEGER PRIMARY KEY REFERENCES waas_acquisition (id),
    http_status    INTEGER NOT NULL,
    delivered_at   INTEGER NOT NULL
);

-- Every POST /esiti, successful or not: the newest failed attempt of an
-- ente (and how many failed in a row) set when the next one may be made,
-- so the backoff survives a restart.
CREATE TABLE waas_delivery_attempt (
    id              INTEGER PRIMARY KEY,
    ente_id         INTEGER NOT NULL REFERENCES ente (id),
    attempted_at    INTEGER NOT NULL,
    esiti           INTEGER NOT NULL,
    http_status     INTEGER,
    outcome         TEXT    NOT NULL CHECK (outcome IN ('consegnati', 'errore')),
    message         TEXT,
    next_attempt_at INTEGER
);
CREATE INDEX waas_delivery_attempt_by_ente ON waas_delivery_attempt (ente_id);

-- One poll of an ente: what it acquired, and the fault that ended it (a
-- stable code and an Italian message for the administrator). `not_before`
-- is the earliest time of the next poll (Retry-After, backoff).
CREATE TABLE waas_poll_run (
    id              INTEGER PRIMARY KEY,
    ente_id         INTEGER NOT NULL REFERENCES ente (id),
    started_at      INTEGER NOT NULL,
    finished_at     INTEGER NOT NULL,
    trigger         TEXT    NOT NULL CHECK (trigger IN ('pianificato', 'manuale', 'riga_di_comando')),
    pages           INTEGER NOT NULL,
    new_flows       INTEGER NOT NULL,
    duplicates      INTEGER NOT NULL,
    esiti_delivered INTEGER NOT NULL,
    esiti_pending   INTEGER NOT NULL,
    cursor_ms       INTEGER NOT NULL,
    fault_code      TEXT,
    fault_message   TEXT,
    -- JSON array of {codice, messaggio}: entries the run acquired as
    -- RICHIESTA_INVALIDA, anomalies of the comune's paging.
    anomalies       TEXT    NOT NULL DEFAULT '[]',
    not_before      INTEGER
);
CREATE INDEX waas_poll_run_by_ente ON waas_poll_run (ente_id);

CREATE TRIGGER waas_endpoint_no_update BEFORE UPDATE ON waas_endpoint
BEGIN SELECT RAISE(ABORT, 'append-only: waas_endpoint cannot be updated'); END;
CREATE TRIGGER waas_endpoint_no_delete BEFORE DELETE ON waas_endpoint
BEGIN SELECT RAISE(ABORT, 'append-only: waas_endpoint cannot be deleted'); END;
CREATE TRIGGER waas_acquisition_no_update BEFORE UPDATE ON waas_acquisition
BEGIN SELECT RAISE(ABORT, 'append-only: waas_acquisition cannot be updated'); END;
CREATE TRIGGER waas_acquisition_no_delete BEFORE DELETE ON waas_acquisition
BEGIN SELECT RAISE(ABORT, 'append-only: waas_acquisition cannot be deleted'); END;
CREATE TRIGGER waas_cursor_no_update BEFORE UPDATE ON waas_cursor
BEGIN SELECT RAISE(ABORT, 'append-only: waas_cursor cannot be updated'); END;
CREATE TRIGGER waas_cursor_no_delete BEFORE DELETE ON waas_cursor
BEGIN SELECT RAISE(ABORT, 'append-only: waas_cursor cannot be deleted'); END;
CREATE TRIGGER waas_esito_delivery_no_update BEFORE UPDATE ON waas_esito_delivery
BEGIN SELECT RAISE(ABORT, 'append-only: waas_esito_delivery cannot be updated'); END;
CREATE TRIGGER waas_esito_delivery_no_delete BEFORE DELETE ON waas_esito_delivery
BEGIN SELECT RAISE(ABORT, 'append-only: waas_esito_delivery cannot be deleted'); END;
CREATE TRIGGER waas_delivery_attempt_no_update BEFORE UPDATE ON waas_delivery_attempt
BEGIN SELECT RAISE(ABORT, 'append-only: waas_delivery_attempt cannot be updated'); END;
CREATE TRIGGER waas_delivery_attempt_no_delete BEFORE DELETE ON waas_delivery_attempt
BEGIN SELECT RAISE(ABORT, 'append-only: waas_delivery_attempt cannot be deleted'); END;
CREATE TRIGGER waas_poll_run_no_update BEFORE UPDATE ON waas_poll_run
BEGIN SELECT RAISE(ABORT, 'append-only: waas_poll_run cannot be updated'); END;
CREATE TRIGGER waas_poll_run_no_delete BEFORE DELETE ON waas_poll_run
BEGIN SELECT RAISE(ABORT, 'append-only: waas_poll_run cannot be deleted'); END;
