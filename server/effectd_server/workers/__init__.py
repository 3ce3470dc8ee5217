"""Workers: effects delegated to other hosts. Each worker holds one stream; the server pushes it the
effects it registered for, leases them in their journal row, redelivers a dead worker's effects at once,
and records each result once by compare-and-set on a fencing token."""

from __future__ import annotations

from effectd_server.await_events.core import AwaitEventCore
from effectd_server.component import Component, ComponentContext
from effectd_server.journal.core import Journal
from effectd_server.processes.core import ProcessRegistryCore
from effectd_server.store.workers import workers_store
from effectd_server.workers.dispatch import Dispatcher
from effectd_server.workers.journal_executor import WorkerDelegator
from effectd_server.workers.process_runners import ProcessRunners
from effectd_server.workers.registry import Registry
from effectd_server.workers.servicer import WorkersServicer

__all__ = ["Dispatcher", "build"]


def build(context: ComponentContext) -> Component:
    config = context.config.workers
    store = workers_store(context.backend)
    journal: Journal = context.parts["journal"]
    dispatcher = Dispatcher(store, journal, Registry(fail_fast_unmatched=config.fail_fast_unmatched), config)
    store.set_listener(dispatcher.on_store_event)
    journal.delegator = WorkerDelegator(dispatcher, config)
    await_events: AwaitEventCore = context.parts["await_events"]
    await_events.session_revoked.append(dispatcher.session_revoked)
    context.parts["workers"] = dispatcher
    workers = dispatcher.registry.workers
    context.metrics.gauge_function(
        "effectd_workers_connected", "Workers holding a stream to this server.", lambda: len(workers)
    )
    context.metrics.gauge_function(
        "effectd_worker_effects_in_flight",
        "Effects delivered to this server's workers and not yet answered.",
        lambda: sum(len(w.in_flight) for w in list(workers.values())),
    )

    processes: ProcessRegistryCore | None = context.parts.get("processes")
    runners = None if processes is None else ProcessRunners(dispatcher.registry, processes)

    async def start() -> None:
        await store.open()
        await dispatcher.start()
        if runners is not None:
            await runners.start()

    async def stop() -> None:
        if runners is not None:
            await runners.stop()
        await dispatcher.stop()

    servicer = WorkersServicer(dispatcher, context.streams, limits=context.config.limits, process_runners=runners)
    return Component("workers", [("effectd.v1.Workers", servicer)], start=start, stop=stop)
