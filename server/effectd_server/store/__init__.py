"""Storage: a backend (SQLite, the embedded default, or PostgreSQL for replicas) and, per capability, a
store protocol with one part per backend."""

from __future__ import annotations

from effectd_server.store._base import (
    Backend,
    BackendKind,
    ChangeListener,
    CommitObserver,
    ListenerResumed,
    StoreUnavailableError,
    Swept,
)

__all__ = [
    "Backend",
    "BackendKind",
    "ChangeListener",
    "CommitObserver",
    "ListenerResumed",
    "StoreUnavailableError",
    "Swept",
    "open_backend",
]


def open_backend(url: str, *, is_postgres: bool) -> Backend:
    """The backend for a store URL (not opened yet)."""
    if is_postgres:
        try:
            from effectd_server.store.postgres import PostgresBackend
        except ImportError as exc:  # asyncpg is the [postgres] extra
            raise RuntimeError("a PostgreSQL store needs: pip install 'effectd[postgres]'") from exc
        return PostgresBackend(url)
    from effectd_server.store.sqlite import SqliteBackend

    return SqliteBackend(url)
