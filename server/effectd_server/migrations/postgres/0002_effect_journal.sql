-- The effect journal: the first recorded outcome of each (scope, replay key).
-- Mirrors migrations/sqlite/0002_effect_journal.sql.
CREATE TABLE effect_journal (
    scope_json           TEXT NOT NULL,
    replay_key           TEXT NOT NULL,
    seq                  BIGINT NOT NULL,
    envelope_hash        TEXT NOT NULL,
    kind                 TEXT NOT NULL,
    envelope_pb          BYTEA NOT NULL,
    status               TEXT NOT NULL CHECK (status IN ('in_progress', 'completed', 'failed')),
    outcome_pb           BYTEA,
    error_json           TEXT,
    lease_owner          TEXT,
    lease_token          TEXT,
    lease_expires_at_ms  BIGINT NOT NULL DEFAULT 0,
    due_at_ms            BIGINT,
    created_at_ms        BIGINT NOT NULL,
    updated_at_ms        BIGINT NOT NULL,
    PRIMARY KEY (scope_json, replay_key)
);
CREATE UNIQUE INDEX effect_journal_scope_order ON effect_journal (scope_json, seq);
CREATE INDEX effect_journal_leases ON effect_journal (status, lease_expires_at_ms);
