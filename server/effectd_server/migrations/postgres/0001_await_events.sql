-- Await events: the signing keyring, keys with their terminals and deadlines, session tombstones.
-- Mirrors migrations/sqlite/0001_await_events.sql: BIGINT for ms timestamps, BYTEA for blobs, and a
-- sequence for the resolution sequence numbers (shared by every replica).
CREATE TABLE signing_keys (
    kid            TEXT PRIMARY KEY,
    secret         BYTEA NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('active', 'verify_only', 'retired')),
    created_at_ms  BIGINT NOT NULL,
    retired_at_ms  BIGINT
);
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (state) WHERE state = 'active';

CREATE SEQUENCE resolution_seq AS BIGINT;

CREATE TABLE await_keys (
    key_id          TEXT PRIMARY KEY,
    scope_json      TEXT NOT NULL,
    wait_json       TEXT NOT NULL,
    session_id      TEXT,
    created_at_ms   BIGINT NOT NULL,
    terminal_json   TEXT,
    resolved_at_ms  BIGINT,
    resolution_seq  BIGINT UNIQUE,
    deadline_ms     BIGINT,
    revoked_at_ms   BIGINT
);
CREATE INDEX await_keys_pending_by_session ON await_keys (session_id) WHERE terminal_json IS NULL;
CREATE INDEX await_keys_pending_deadlines ON await_keys (deadline_ms)
    WHERE terminal_json IS NULL AND deadline_ms IS NOT NULL;

CREATE TABLE revoked_sessions (
    session_id     TEXT PRIMARY KEY,
    revoked_at_ms  BIGINT NOT NULL
);
