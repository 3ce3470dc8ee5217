"""The PostgreSQL backend and its capability parts."""

from effectd_server.store.postgres._backend import PostgresBackend, parse_url, redact_url

__all__ = ["PostgresBackend", "parse_url", "redact_url"]
