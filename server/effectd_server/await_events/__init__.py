"""Await events: signed keys resolved exactly once, awaited and watched over streams."""

from __future__ import annotations

from effectd_server.await_events.core import AwaitEventCore, now_ms
from effectd_server.await_events.hub import Hub
from effectd_server.await_events.journal_executor import AwaitEventExecutor
from effectd_server.await_events.keyring import Keyring
from effectd_server.await_events.servicer import AwaitEventsServicer, KeyringServicer
from effectd_server.component import Component, ComponentContext
from effectd_server.secrets import SecretBox, load_master_keys
from effectd_server.store.await_events import await_events_store

__all__ = ["AwaitEventCore", "build"]


def build(context: ComponentContext) -> Component:
    config = context.config
    store = await_events_store(context.backend)
    keyring = Keyring(
        store, SecretBox(load_master_keys(file=config.secrets.master_key_file, value=config.secrets.master_key))
    )
    core = AwaitEventCore(store, keyring, Hub(), config.limits, config.await_events)
    store.set_listener(core.on_store_event)
    context.executors["await_event"] = AwaitEventExecutor(core)
    context.parts["await_events"] = core
    _observe(context, core)

    async def start() -> None:
        await store.open()
        await keyring.load()
        await core.start()

    servicer = AwaitEventsServicer(
        core, context.streams, limits=config.limits, streams_config=config.streams, config=config.await_events
    )
    return Component(
        "await_events",
        [("effectd.v1.AwaitEvents", servicer), ("effectd.v1.Keyring", KeyringServicer(keyring))],
        start=start,
        stop=core.stop,
    )


def _observe(context: ComponentContext, core: AwaitEventCore) -> None:
    """This capability's metrics: the resolve→wake latency, and gauges read at scrape time."""
    metrics = context.metrics
    core.resolve_to_wake = metrics.resolve_to_wake
    metrics.gauge_function(
        "effectd_watched_keys", "Keys with a waiter or a watch stream on this server.", core.hub.__len__
    )
    pending = metrics.gauge("effectd_pending_keys", "Keys minted or awaited and not resolved yet (stored).")
    due = metrics.gauge("effectd_due_timers", "Await deadlines that have passed and not fired yet (stored).")

    async def refresh() -> None:
        counts = await core.store.count_open(now_ms())
        pending.set(counts[0])
        due.set(counts[1])

    metrics.on_scrape(refresh)
