-- Casellario register: the cooperation API (`/api/v1`). Client credentials,
-- their revocations, idempotency keys and the key signing access tokens are
-- facts like everything else: inserted once, never updated or deleted.
-- A client is revoked by a new row in `api_client_revocation`.

-- A machine client of one ente. Only the SHA-256 of its secret is kept: the
-- secret is 256 random bits, so a fast hash is as strong as a slow one, and
-- the token endpoint stays cheap.
CREATE TABLE api_client (
    client_id   TEXT    PRIMARY KEY,
    ente_id     INTEGER NOT NULL REFERENCES ente (id),
    secret_hash BLOB    NOT NULL CHECK (length(secret_hash) = 32),
    -- Space-separated OAuth2 scopes.
    scopes      TEXT    NOT NULL,
    label       TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    created_by  INTEGER
) WITHOUT ROWID;
CREATE INDEX api_client_by_ente ON api_client (ente_id);

-- One row per revocation; a revoked client stays revoked.
CREATE TABLE api_client_revocation (
    id         INTEGER PRIMARY KEY,
    client_id  TEXT    NOT NULL UNIQUE REFERENCES api_client (client_id),
    revoked_at INTEGER NOT NULL,
    revoked_by INTEGER
);

-- `Idempotency-Key` of a submission: the same key of the same ente always
-- answers with the same submission; the request's SHA-256 tells a replay
-- from a key reused for another request.
CREATE TABLE api_idempotency (
    ente_id        INTEGER NOT NULL REFERENCES ente (id),
    key            TEXT    NOT NULL,
    request_sha256 BLOB    NOT NULL CHECK (length(request_sha256) = 32),
    submission_id  INTEGER NOT NULL REFERENCES submission (id),
    learnt_at      INTEGER NOT NULL,
    PRIMARY KEY (ente_id, key)
) WITHOUT ROWID;

-- The HMAC key of access tokens: generated once, at the first start.
CREATE TABLE api_signing_key (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    key        BLOB    NOT NULL CHECK (length(key) = 32),
    created_at INTEGER NOT NULL
);

-- A resent flow (same bytes, no key) is answered with its first
-- submission's receipt: found by content hash within the ente.
CREATE INDEX submission_by_sha256 ON submission (ente_id, sha256);

-- The access log gains API clients as actors: a read is made either by an
-- account or by an API client. SQLite cannot relax a NOT NULL column, so the
-- table is rebuilt (DROP TABLE fires no DELETE trigger) with its rows,
-- index and triggers.
CREATE TABLE access_log_new (
    id         INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    account_id INTEGER,
    username   TEXT    NOT NULL,
    ente_id    INTEGER,
    subject    TEXT    NOT NULL,
    what       TEXT    NOT NULL,
    purpose    TEXT    NOT NULL,
    api_client TEXT,
    CHECK ((account_id IS NULL) <> (api_client IS NULL))
);
INSERT INTO access_log_new (id, at, account_id, username, ente_id, subject, what, purpose)
    SELECT id, at, account_id, username, ente_id, subject, what, purpose FROM access_log;
DROP TABLE access_log;
ALTER TABLE access_log_new RENAME TO access_log;
CREATE INDEX access_log_by_subject ON access_log (subject);
CREATE TRIGGER access_log_no_update BEFORE UPDATE ON access_log
BEGIN SELECT RAISE(ABORT, 'append-only: access_log cannot be updated'); END;
CREATE TRIGGER access_log_no_delete BEFORE DELETE ON access_log
BEGIN SELECT RAISE(ABORT, 'append-only: access_log cannot be deleted'); END;

CREATE TRIGGER api_client_no_update BEFORE UPDATE ON api_client
BEGIN SELECT RAISE(ABORT, 'append-only: api_client cannot be updated'); END;
CREATE TRIGGER api_client_no_delete BEFORE DELETE ON api_client
BEGIN SELECT RAISE(ABORT, 'append-only: api_client cannot be deleted'); END;
CREATE TRIGGER api_client_revocation_no_update BEFORE UPDATE ON api_client_revocation
BEGIN SELECT RAISE(ABORT, 'append-only: api_client_revocation cannot be updated'); END;
CREATE TRIGGER api_client_revocation_no_delete BEFORE DELETE ON api_client_revocation
BEGIN SELECT RAISE(ABORT, 'append-only: api_client_revocation cannot be deleted'); END;
CREATE TRIGGER api_idempotency_no_update BEFORE UPDATE ON api_idempotency
BEGIN SELECT RAISE(ABORT, 'append-only: api_idempotency cannot be updated'); END;
CREATE TRIGGER api_idempotency_no_delete BEFORE DELETE ON api_idempotency
BEGIN SELECT RAISE(ABORT, 'append-only: api_idempotency cannot be deleted'); END;
CREATE TRIGGER api_signing_key_no_update BEFORE UPDATE ON api_signing_key
BEGIN SELECT RAISE(ABORT, 'append-only: api_signing_key cannot be updated'); END;
CREATE TRIGGER api_signing_key_no_delete BEFORE DELETE ON api_signing_key
BEGIN SELECT RAISE(ABORT, 'append-only: api_signing_key cannot be deleted'); END;
