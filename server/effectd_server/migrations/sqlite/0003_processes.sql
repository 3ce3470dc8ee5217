-- The process registry: records, their event logs (the source of truth), wake acks, handle grants, leases.
CREATE TABLE processes (
    process_id         TEXT PRIMARY KEY,
    registration_hash  TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'cancelled')),
    waiting            INTEGER NOT NULL DEFAULT 0,
    record_pb          BLOB NOT NULL,
    created_at_ms      INTEGER NOT NULL,
    updated_at_ms      INTEGER NOT NULL
);
CREATE INDEX processes_by_status ON processes (status, process_id);

CREATE TABLE process_events (
    process_id      TEXT NOT NULL REFERENCES processes (process_id),
    sequence        INTEGER NOT NULL,
    event_type      TEXT NOT NULL,
    payload_hash    TEXT NOT NULL,
    replay_key      TEXT,
    has_wake        INTEGER NOT NULL,
    occurred_at_ms  INTEGER NOT NULL,
    event_pb        BLOB NOT NULL,
    PRIMARY KEY (process_id, sequence)
);
CREATE UNIQUE INDEX process_events_replay_key ON process_events (process_id, replay_key) WHERE replay_key IS NOT NULL;
CREATE INDEX process_events_by_type ON process_events (process_id, event_type, sequence);

CREATE TABLE process_wake_acks (
    process_id  TEXT NOT NULL REFERENCES processes (process_id),
    sequence    INTEGER NOT NULL,
    PRIMARY KEY (process_id, sequence)
);

CREATE TABLE process_handle_grants (
    scope_id         TEXT NOT NULL,
    process_id       TEXT NOT NULL REFERENCES processes (process_id),
    session_id       TEXT NOT NULL,
    descriptor_json  TEXT NOT NULL,
    PRIMARY KEY (scope_id, process_id)
);
CREATE INDEX process_handle_grants_by_session ON process_handle_grants (session_id);
CREATE INDEX process_handle_grants_by_process ON process_handle_grants (process_id, session_id, scope_id);

CREATE TABLE process_leases (
    process_id     TEXT PRIMARY KEY REFERENCES processes (process_id),
    owner_id       TEXT,
    lease_token    TEXT,
    fencing_token  INTEGER NOT NULL,
    claimed_at_ms  INTEGER NOT NULL,
    expires_at_ms  INTEGER NOT NULL
);
