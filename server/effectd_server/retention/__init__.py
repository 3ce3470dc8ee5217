"""Retention: resolved keys, finished journal rows and terminal processes expire after a configurable
time per kind, swept in the background and by `effectd gc`."""

from __future__ import annotations

from effectd_server.component import Component, ComponentContext
from effectd_server.config import ServerConfig
from effectd_server.retention.sweeper import KINDS, Sweeper, SweepReport
from effectd_server.store import open_backend
from effectd_server.store.await_events import await_events_store
from effectd_server.store.journal import journal_store
from effectd_server.store.processes import processes_store

__all__ = ["KINDS", "SweepReport", "Sweeper", "build", "sweep_store"]


def build(context: ComponentContext) -> Component:
    processes = context.parts.get("processes")
    sweeper = Sweeper(
        context.parts["await_events"].store,
        context.parts["journal"].store,
        None if processes is None else processes.store,
        context.config.retention,
        context.metrics,
    )
    context.parts["retention"] = sweeper
    return Component("retention", [], start=sweeper.start, stop=sweeper.stop)


async def sweep_store(config: ServerConfig, *, dry_run: bool = False) -> SweepReport:
    """One sweep of the store `config` names, without a server (`effectd gc`). A SQLite file that a
    server is serving is locked: sweep through that server's admin listener instead."""
    backend = open_backend(
        config.store.url if config.store.is_postgres() else config.store.sqlite_path(),
        is_postgres=config.store.is_postgres(),
    )
    await backend.open()
    try:
        sweeper = Sweeper(
            await_events_store(backend), journal_store(backend), processes_store(backend), config.retention
        )
        return await sweeper.sweep(dry_run=dry_run)
    finally:
        await backend.close()
