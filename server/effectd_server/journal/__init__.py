"""The effect journal: each effect's first outcome, by scope and replay key, replayed after a crash."""

from __future__ import annotations

from effectd_server.component import Component, ComponentContext
from effectd_server.journal.core import Journal
from effectd_server.journal.executors import SleepExecutor
from effectd_server.journal.servicer import EffectControllerServicer
from effectd_server.store.journal import journal_store

__all__ = ["Journal", "build"]


def build(context: ComponentContext) -> Component:
    store = journal_store(context.backend)
    journal = Journal(
        store, context.executors, context.config.journal, metrics=context.metrics, tracing=context.tracing
    )
    store.set_listener(journal.on_store_event)
    context.executors["sleep"] = SleepExecutor()
    context.parts["journal"] = journal
    servicer = EffectControllerServicer(journal, context.streams, limits=context.config.limits)
    return Component("journal", [("effectd.v1.EffectController", servicer)], start=store.open)
