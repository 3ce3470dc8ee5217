"""What the console reads, taken from the server's parts by name. Capabilities that are not there yet
(workers) are reached through one adapter each, so wiring them in is one place."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from effectd_server.await_events.core import AwaitEventCore
from effectd_server.console.figures import MetricFigures
from effectd_server.journal.core import Journal
from effectd_server.processes.core import ProcessRegistryCore

__all__ = ["SOURCES_KEY", "Sources", "WorkerView", "sources_from", "workers_of"]


@dataclass(frozen=True, slots=True)
class WorkerView:
    """One connected worker as the workers page shows it."""

    worker_id: str
    capabilities: tuple[str, ...]
    labels: dict[str, str]
    slots: int
    in_flight: int
    last_heartbeat_ms: int | None
    draining: bool


def workers_of(parts: dict[str, Any]) -> Any | None:
    """The workers capability's core, or None while this server has none (the page says so). The
    workers page calls `list_workers()` on it, answering WorkerView-shaped items."""
    return parts.get("workers")


@dataclass(frozen=True, slots=True)
class Sources:
    await_events: AwaitEventCore
    journal: Journal
    processes: ProcessRegistryCore | None
    workers: Any | None
    figures: MetricFigures | None
    """The server's own metrics (calls, resolve→wake latency), when it keeps them."""


SOURCES_KEY = web.AppKey("console_sources", Sources)


def sources_from(parts: dict[str, Any], metrics: Any | None = None) -> Sources:
    return Sources(
        await_events=parts["await_events"],
        journal=parts["journal"],
        processes=parts.get("processes"),
        workers=workers_of(parts),
        figures=None if metrics is None else MetricFigures(metrics),
    )
