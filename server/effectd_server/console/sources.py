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

__all__ = ["SOURCES_KEY", "Sources", "WorkerView", "WorkersView", "sources_from", "workers_of"]


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


class WorkersView:
    """The connected workers of this server's dispatcher, as the workers page shows them."""

    def __init__(self, dispatcher: Any) -> None:
        self._dispatcher = dispatcher

    async def list_workers(self) -> list[WorkerView]:
        from effectd_server.workers.servicer import worker_info

        views = []
        for worker in sorted(self._dispatcher.registry.workers.values(), key=lambda w: w.worker_id):
            info = worker_info(worker)
            views.append(
                WorkerView(
                    worker_id=info.worker_id,
                    capabilities=tuple(
                        c.kind + (f" {c.name}" if c.name else "") + (f"@{c.version}" if c.version else "")
                        for c in info.capabilities
                    ),
                    labels=info.labels,
                    slots=info.slots,
                    in_flight=len(info.in_flight),
                    last_heartbeat_ms=info.last_heartbeat_unix_ms or None,
                    draining=info.draining,
                )
            )
        return views


def workers_of(parts: dict[str, Any]) -> WorkersView | None:
    """The workers capability, or None while this server has none (the page says so)."""
    dispatcher = parts.get("workers")
    return None if dispatcher is None else WorkersView(dispatcher)


@dataclass(frozen=True, slots=True)
class Sources:
    await_events: AwaitEventCore
    journal: Journal
    processes: ProcessRegistryCore | None
    workers: WorkersView | None
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
