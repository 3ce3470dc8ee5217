-- Workers: a delegated effect's lease is its journal row. Every delivery to a worker takes the next
-- fencing token; only the latest delivery's result is recorded. `deliveries` counts them against the
-- redelivery budget. Mirrors migrations/sqlite/0005_workers.sql (0004 is the retention migration).
ALTER TABLE effect_journal ADD COLUMN IF NOT EXISTS fencing_token BIGINT NOT NULL DEFAULT 0;
ALTER TABLE effect_journal ADD COLUMN IF NOT EXISTS deliveries BIGINT NOT NULL DEFAULT 0;
