"""The server's Prometheus metrics, in one registry per server (no process-global state).

Hot paths pay a dict lookup, a counter increment and a histogram observe: each (method, code) pair's
children are looked up once and kept. Gauges of in-memory state are read by callbacks at scrape time;
gauges of stored state (pending keys, due timers, processes by status) are refreshed by async callbacks
that the admin endpoint awaits before it renders the text.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

__all__ = ["LATENCY_BUCKETS_S", "Metrics", "RpcMetrics"]

LATENCY_BUCKETS_S = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
)
"""Sub-millisecond resolution at the bottom (a replay takes well under a millisecond); streams end at the top."""

_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)

Refresh = Callable[[], Awaitable[None]]


class RpcMetrics:
    """Count and latency of calls by method and status code: what the edge records for every call."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "effectd_rpc_requests",
            "Calls handled, by method and gRPC status code.",
            ["method", "code"],
            registry=registry,
        )
        self.duration = Histogram(
            "effectd_rpc_duration_seconds",
            "Time from a call's arrival to its end, by method and gRPC status code.",
            ["method", "code"],
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self._children: dict[tuple[str, str], tuple[Any, Any]] = {}

    def observe(self, method: str, code: str, seconds: float) -> None:
        children = self._children.get((method, code))
        if children is None:
            children = self._children[(method, code)] = (
                self.requests.labels(method, code),
                self.duration.labels(method, code),
            )
        children[0].inc()
        children[1].observe(seconds)


class Metrics:
    """Every metric of one server. Capabilities take the ones they record; gauges over in-memory or
    stored state are registered as callbacks (`gauge_function`, `on_scrape`)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.rpc = RpcMetrics(registry)
        self.resolve_to_wake = Histogram(
            "effectd_resolve_to_wake_seconds",
            "Time from a resolve's arrival to the wake of the waiters of its key on this server.",
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.journal_claims = Counter(
            "effectd_journal_claims", "Journal rows claimed: new effects and leases taken.", registry=registry
        )
        self.journal_replays = Counter(
            "effectd_journal_replays", "Executions answered with the recorded outcome.", registry=registry
        )
        self.journal_conflicts = Counter(
            "effectd_journal_conflicts", "Executions refused with effect_replay_hash_conflict.", registry=registry
        )
        self.journal_lease_takeovers = Counter(
            "effectd_journal_lease_takeovers", "Expired leases of in-progress effects taken over.", registry=registry
        )
        self.store_commit = Histogram(
            "effectd_store_commit_seconds",
            "Time of one store write transaction (a group-committed batch), by backend.",
            ["backend"],
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.store_batch = Histogram(
            "effectd_store_batch_size",
            "Writes sharing one transaction, by backend.",
            ["backend"],
            buckets=_BATCH_BUCKETS,
            registry=registry,
        )
        self.retention_deleted = Counter(
            "effectd_retention_deleted_rows",
            "Rows deleted by the retention sweeper, by kind.",
            ["kind"],
            registry=registry,
        )
        self._refreshes: list[Refresh] = []

    def gauge_function(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        """A gauge read by `read()` at each scrape (in-memory state: nothing is paid per call)."""
        Gauge(name, documentation, registry=self.registry).set_function(read)

    def gauge(self, name: str, documentation: str, labels: tuple[str, ...] = ()) -> Gauge:
        """A gauge set by an `on_scrape` refresh."""
        return Gauge(name, documentation, list(labels), registry=self.registry)

    def on_scrape(self, refresh: Refresh) -> None:
        """Await `refresh()` before each scrape renders (gauges over stored state)."""
        self._refreshes.append(refresh)

    async def render(self) -> bytes:
        """The Prometheus text exposition of every metric, stored-state gauges refreshed first."""
        for refresh in self._refreshes:
            await refresh()
        return generate_latest(self.registry)
