"""Await events: signed keys resolved exactly once, awaited and watched over streams."""

from __future__ import annotations

from effectd_server.await_events.core import AwaitEventCore
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
