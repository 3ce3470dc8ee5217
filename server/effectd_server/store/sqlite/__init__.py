"""The embedded SQLite backend and its capability parts."""

from effectd_server.store.sqlite._backend import SqliteBackend

__all__ = ["SqliteBackend"]
