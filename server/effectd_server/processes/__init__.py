"""The process registry: lash's `ProcessRegistry` as a service (registrations, handle grants, an ordered
event log, signals, await, fenced leases), and the `process` effects the journal runs with it."""

from __future__ import annotations

from effectd_server.await_events.core import AwaitEventCore
from effectd_server.component import Component, ComponentContext
from effectd_server.processes.core import ProcessRegistryCore
from effectd_server.processes.journal_executor import ProcessExecutor
from effectd_server.processes.servicer import ProcessesServicer
from effectd_server.store.processes import processes_store

__all__ = ["ProcessRegistryCore", "build"]


def build(context: ComponentContext) -> Component:
    store = processes_store(context.backend)
    core = ProcessRegistryCore(store)
    store.set_listener(core.on_store_event)
    await_events: AwaitEventCore = context.parts["await_events"]
    context.executors["process"] = ProcessExecutor(core, await_events)
    context.parts["processes"] = core
    by_status = context.metrics.gauge("effectd_processes", "Process records by status (stored).", ("status",))

    async def refresh() -> None:
        counts = await store.count_by_status()
        for status in ("running", "completed", "failed", "cancelled"):
            by_status.labels(status).set(counts.get(status, 0))

    context.metrics.on_scrape(refresh)
    servicer = ProcessesServicer(core, await_events, context.streams, limits=context.config.limits)
    return Component("processes", [("effectd.v1.Processes", servicer)], start=store.open)
