-- Casellario register: what the portal and the API need beside the facts
-- of 0001. Accounts and sessions are operational state (passwords change,
-- sessions expire), so they are ordinary tables; every change to them is
-- recorded in the append-only `audit_event`, and every read of personal
-- data in the append-only `access_log`.

-- Ente attributes managed by administrators. A change is a new revision;
-- the newest revision of an ente is its current state (no UPDATE on ente).
CREATE TABLE ente_revision (
    id            INTEGER PRIMARY KEY,
    ente_id       INTEGER NOT NULL REFERENCES ente (id),
    denominazione TEXT    NOT NULL,
    belfiore      TEXT    NOT NULL,
    tipo          TEXT    NOT NULL
        CHECK (tipo IN ('comune', 'ambito', 'regione', 'universita', 'inps', 'altro')),
    attivo        INTEGER NOT NULL CHECK (attivo IN (0, 1)),
    account_id    INTEGER,
    learnt_at     INTEGER NOT NULL
);
CREATE INDEX ente_revision_by_ente ON ente_revision (ente_id);

CREATE TABLE account (
    id            INTEGER PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    nome          TEXT    NOT NULL,
    role          TEXT    NOT NULL
        CHECK (role IN ('operatore', 'referente', 'amministratore', 'analista', 'auditor')),
    ente_id       INTEGER REFERENCES ente (id),
    password_hash TEXT    NOT NULL,
    must_change   INTEGER NOT NULL DEFAULT 0 CHECK (must_change IN (0, 1)),
    attivo        INTEGER NOT NULL DEFAULT 1 CHECK (attivo IN (0, 1)),
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until  INTEGER,
    created_at    INTEGER NOT NULL,
    -- Operators and referenti belong to exactly one ente, the others to none.
    CHECK ((role IN ('operatore', 'referente')) = (ente_id IS NOT NULL))
);
CREATE INDEX account_by_ente ON account (ente_id);

-- A login session. Only the SHA-256 of the cookie token is stored, so a
-- copy of the database does not hand out live sessions.
CREATE TABLE session (
    token_hash  BLOB    PRIMARY KEY CHECK (length(token_hash) = 32),
    account_id  INTEGER NOT NULL REFERENCES account (id),
    csrf        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX session_by_account ON session (account_id);

-- Who changed what: logins, account and ente changes, cancellations made
-- in the portal. `detail` is a JSON object.
CREATE TABLE audit_event (
    id         INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    account_id INTEGER,
    username   TEXT,
    action     TEXT    NOT NULL,
    ente_id    INTEGER,
    detail     TEXT    NOT NULL DEFAULT '{}',
    ip         TEXT
);

-- Every read of personal data: who read whose data, when, for what purpose.
CREATE TABLE access_log (
    id         INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    account_id INTEGER NOT NULL,
    username   TEXT    NOT NULL,
    ente_id    INTEGER,
    subject    TEXT    NOT NULL,
    what       TEXT    NOT NULL,
    purpose    TEXT    NOT NULL
);
CREATE INDEX access_log_by_subject ON access_log (subject);

-- Every transmission made through the portal or the API, whatever its
-- outcome. A flow rejected whole stores nothing in `flow`; its submission
-- keeps the summary of its receipt so the ente still sees it in its list.
CREATE TABLE submission (
    id              INTEGER PRIMARY KEY,
    ente_id         INTEGER NOT NULL REFERENCES ente (id),
    account_id      INTEGER,
    channel         TEXT    NOT NULL CHECK (channel IN ('upload', 'form', 'coop', 'waas')),
    source_name     TEXT,
    id_flusso       TEXT,
    tipo            TEXT,
    flow_id         INTEGER REFERENCES flow (id),
    codice_esito    TEXT    NOT NULL,
    record_count    INTEGER NOT NULL,
    accettati       INTEGER NOT NULL,
    duplicati       INTEGER NOT NULL,
    scartati        INTEGER NOT NULL,
    avvisi          INTEGER NOT NULL,
    rejected_whole  INTEGER NOT NULL CHECK (rejected_whole IN (0, 1)),
    already         INTEGER NOT NULL CHECK (already IN (0, 1)),
    flow_violations TEXT    NOT NULL,
    size_bytes      INTEGER NOT NULL,
    sha256          BLOB    NOT NULL,
    learnt_at       INTEGER NOT NULL
);
CREATE INDEX submission_by_ente ON submission (ente_id);

-- Consultazione: a person's records by codice fiscale or IDBeneficiario.
CREATE INDEX record_version_by_subject ON record_version (subject);

CREATE TRIGGER ente_revision_no_update BEFORE UPDATE ON ente_revision
BEGIN SELECT RAISE(ABORT, 'append-only: ente_revision cannot be updated'); END;
CREATE TRIGGER ente_revision_no_delete BEFORE DELETE ON ente_revision
BEGIN SELECT RAISE(ABORT, 'append-only: ente_revision cannot be deleted'); END;
CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event
BEGIN SELECT RAISE(ABORT, 'append-only: audit_event cannot be updated'); END;
CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event
BEGIN SELECT RAISE(ABORT, 'append-only: audit_event cannot be deleted'); END;
CREATE TRIGGER submission_no_update BEFORE UPDATE ON submission
BEGIN SELECT RAISE(ABORT, 'append-only: submission cannot be updated'); END;
CREATE TRIGGER submission_no_delete BEFORE DELETE ON submission
BEGIN SELECT RAISE(ABORT, 'append-only: submission cannot be deleted'); END;
CREATE TRIGGER access_log_no_update BEFORE UPDATE ON access_log
BEGIN SELECT RAISE(ABORT, 'append-only: access_log cannot be updated'); END;
CREATE TRIGGER access_log_no_delete BEFORE DELETE ON access_log
BEGIN SELECT RAISE(ABORT, 'append-only: access_log cannot be deleted'); END;
