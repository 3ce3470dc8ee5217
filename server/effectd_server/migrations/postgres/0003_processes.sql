-- The process registry: records, their event logs (the source of truth), wake acks, handle grants, leases.
-- Mirrors migrations/sqlite/0003_processes.sql: BIGINT for ms timestamps, sequences and tokens, BYTEA
-- for protobuf, BOOLEAN flags. Ids sort as SQLite and lash sort them (bytes of UTF-8): COLLATE "C".
-- A replay key is unique through its sha256 (`replay_hash`, computed by the store), since a key may be
-- longer than a btree entry can hold.
CREATE TABLE processes (
    process_id         TEXT COLLATE "C" PRIMARY KEY,
    registration_hash  TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'cancelled')),
    waiting            BOOLEAN NOT NULL DEFAULT FALSE,
    record_pb          BYTEA NOT NULL,
    created_at_ms      BIGINT NOT NULL,
    updated_at_ms      BIGINT NOT NULL
);
CREATE INDEX processes_by_status ON processes (status, process_id);

CREATE TABLE process_events (
    process_id      TEXT COLLATE "C" NOT NULL REFERENCES processes (process_id),
    sequence        BIGINT NOT NULL,
    event_type      TEXT COLLATE "C" NOT NULL,
    payload_hash    TEXT NOT NULL,
    replay_key      TEXT,
    replay_hash     BYTEA,
    has_wake        BOOLEAN NOT NULL,
    occurred_at_ms  BIGINT NOT NULL,
    event_pb        BYTEA NOT NULL,
    PRIMARY KEY (process_id, sequence),
    CHECK ((replay_key IS NULL) = (replay_hash IS NULL))
);
CREATE UNIQUE INDEX process_events_replay_key ON process_events (process_id, replay_hash) WHERE replay_hash IS NOT NULL;
CREATE INDEX process_events_by_type ON process_events (process_id, event_type, sequence);

CREATE TABLE process_wake_acks (
    process_id  TEXT COLLATE "C" NOT NULL REFERENCES processes (process_id),
    sequence    BIGINT NOT NULL,
    PRIMARY KEY (process_id, sequence)
);

CREATE TABLE process_handle_grants (
    scope_id         TEXT COLLATE "C" NOT NULL,
    process_id       TEXT COLLATE "C" NOT NULL REFERENCES processes (process_id),
    session_id       TEXT COLLATE "C" NOT NULL,
    descriptor_json  TEXT NOT NULL,
    PRIMARY KEY (scope_id, process_id)
);
CREATE INDEX process_handle_grants_by_session ON process_handle_grants (session_id);
CREATE INDEX process_handle_grants_by_process ON process_handle_grants (process_id, session_id, scope_id);

CREATE TABLE process_leases (
    process_id     TEXT COLLATE "C" PRIMARY KEY REFERENCES processes (process_id),
    owner_id       TEXT,
    lease_token    TEXT,
    fencing_token  BIGINT NOT NULL,
    claimed_at_ms  BIGINT NOT NULL,
    expires_at_ms  BIGINT NOT NULL
);
