-- Workers: a delegated effect's lease is its journal row. Every delivery to a worker takes the next
-- fencing token; only the latest delivery's result is recorded. `deliveries` counts them against the
-- redelivery budget. (Numbered 0005: 0004 is the retention migration.)
ALTER TABLE effect_journal ADD COLUMN fencing_token INTEGER NOT NULL DEFAULT 0;
ALTER TABLE effect_journal ADD COLUMN deliveries INTEGER NOT NULL DEFAULT 0;
