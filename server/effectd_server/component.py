"""What a capability brings to the composition root: its servicers, and what to start and stop."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from effectd_server.config import ServerConfig
from effectd_server.edge.metrics import Metrics
from effectd_server.edge.streams import Streams
from effectd_server.edge.tracing import Tracing
from effectd_server.journal.executors import ExecutorTable
from effectd_server.store import Backend

__all__ = ["Component", "ComponentContext"]


@dataclass(slots=True)
class ComponentContext:
    """Shared by every component while the server is built."""

    config: ServerConfig
    backend: Backend
    streams: Streams
    executors: ExecutorTable = field(default_factory=dict)
    """The journal's table of server-run effect kinds; components register theirs."""
    parts: dict[str, Any] = field(default_factory=dict)
    """What components expose to the ones built after them (e.g. "await_events" → its core)."""
    metrics: Metrics = field(default_factory=Metrics)
    """The server's metrics: components record theirs and register gauges over their state."""
    tracing: Tracing = field(default_factory=Tracing)
    """Spans of effect steps (no-ops unless tracing is on)."""


@dataclass(slots=True)
class Component:
    name: str
    services: list[tuple[str, object]]
    """(full service name in effectd.v1, servicer) pairs."""
    start: Callable[[], Awaitable[None]] | None = None
    stop: Callable[[], Awaitable[None]] | None = None
