-- Who recorded a key's terminal (the console's key page): the caller's role and address for a resolve or
-- cancel over gRPC or HTTP, "console" for an operator's, "deadline" for a timeout, "signal" for a process
-- signal. NULL for keys resolved before this column existed.
ALTER TABLE await_keys ADD COLUMN resolved_by TEXT;
