"""Retention: resolved keys, finished journal rows and terminal processes expire after a configurable
time per kind, swept in the background and by `effectd gc`."""

from __future__ import annotations

from effectd_server.component import Component, ComponentContext
from effectd_server.retention.sweeper import KINDS, Sweeper, SweepReport

__all__ = ["KINDS", "SweepReport", "Sweeper", "build"]


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
