"""A backend with every capability's store part, as one object for the store contract tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from effectd_server.store import Backend
from effectd_server.store.await_events import await_events_store
from effectd_server.store.journal import journal_store
from effectd_server.store.postgres import PostgresBackend
from effectd_server.store.sqlite import SqliteBackend

__all__ = ["StoreUnderTest", "postgres_store", "sqlite_store"]


class StoreUnderTest:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.await_events = await_events_store(backend)
        self.journal = journal_store(backend)

    async def open(self) -> None:
        await self.backend.open()
        await self.await_events.open()
        await self.journal.open()

    async def close(self) -> None:
        await self.backend.close()

    def set_listener(self, listener: Any) -> None:
        self.await_events.set_listener(listener)
        self.journal.set_listener(listener)

    def __getattr__(self, name: str) -> Any:
        for part in (self.await_events, self.journal, self.backend):
            if hasattr(part, name):
                return getattr(part, name)
        raise AttributeError(name)


def sqlite_store(path: str | Path) -> StoreUnderTest:
    return StoreUnderTest(SqliteBackend(path))


def postgres_store(url: str) -> StoreUnderTest:
    return StoreUnderTest(PostgresBackend(url))
