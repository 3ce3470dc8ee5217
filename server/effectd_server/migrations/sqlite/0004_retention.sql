-- Retention: the sweeper finds finished journal rows and terminal processes by age without a scan.
-- (Resolved await-event keys are found in resolution order, through the resolution_seq index.)
CREATE INDEX IF NOT EXISTS effect_journal_finished ON effect_journal (updated_at_ms) WHERE status <> 'in_progress';
CREATE INDEX IF NOT EXISTS processes_terminal ON processes (updated_at_ms) WHERE status <> 'running';
