"""Server configuration: small frozen dataclasses, one nested config per capability, one loader from
flags and EFFECTD_* variables. Validation raises ValueError."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

__all__ = [
    "AwaitEventsConfig",
    "JournalConfig",
    "LimitRule",
    "LimitsConfig",
    "ServerConfig",
    "StoreConfig",
    "StreamsConfig",
    "WorkersConfig",
    "load_config",
]


@dataclass(frozen=True, slots=True)
class StoreConfig:
    url: str = "effectd.db"
    """A SQLite file path (or sqlite:///path), or a postgresql:// URL for replicas sharing one database.
    PostgreSQL URLs may carry `schema`, `pool_min`, `pool_max`, `statement_timeout_ms` and
    `connect_timeout_s` query parameters."""

    def is_postgres(self) -> bool:
        return self.url.startswith(("postgresql://", "postgres://"))

    def sqlite_path(self) -> str:
        url = self.url
        if url.startswith("sqlite:///"):
            return url.removeprefix("sqlite:///")
        if url.startswith("sqlite://"):
            return url.removeprefix("sqlite://")
        if "://" in url:
            raise ValueError(f"unsupported store URL {url!r}: use a SQLite file path or a postgresql:// URL")
        return url

    def redacted(self) -> str:
        """The URL for logs: a PostgreSQL password is never written out."""
        if not self.is_postgres():
            return self.url
        from effectd_server.store.postgres._backend import redact_url

        return redact_url(self.url)


@dataclass(frozen=True, slots=True)
class LimitsConfig:
    """Sizes a request may have; each is refused with its own code and the limit in the message."""

    max_id_bytes: int = 1024
    """Any id (session, turn, process, tool call, replay key, owner, ...): `id_too_long`."""
    max_key_bytes: int = 16_384
    """An await-event key or token as sent: `id_too_long`."""
    max_envelope_bytes: int = 4 << 20
    """An effect envelope, encoded: `envelope_too_large`."""
    max_payload_bytes: int = 1 << 20
    """A resolution or a recorded outcome: `payload_too_large`."""


@dataclass(frozen=True, slots=True)
class StreamsConfig:
    heartbeat_interval_s: float = 10.0
    """How often waiting streams get a heartbeat when the caller asks for none."""
    min_heartbeat_interval_s: float = 1.0
    """Requested heartbeat intervals are raised to this."""
    max_streams_per_connection: int = 10_000
    """Open streams one client connection may hold: `too_many_streams`."""
    max_queued_responses: int = 65_536
    """Responses a stream may have waiting for a slow reader before it is ended (`stream_too_slow`)."""
    max_queued_bytes: int = 16 << 20
    """Bytes a stream may have waiting for a slow reader before it is ended (`stream_too_slow`)."""


@dataclass(frozen=True, slots=True)
class AwaitEventsConfig:
    max_batch: int = 10_000
    """Most items in one ResolveMany."""
    max_watched_keys: int = 1_000_000
    """Most keys on one Watch stream."""


@dataclass(frozen=True, slots=True)
class JournalConfig:
    default_lease_ttl_ms: int = 30_000
    max_lease_ttl_ms: int = 3_600_000


@dataclass(frozen=True, slots=True)
class LimitRule:
    """A limit on delegated effects, selected on the envelope (see workers/limits.py)."""

    selector: str
    """`tool:NAME`, `model:NAME`, `session:*` or `kind:KIND`; `*` for a name keys the rule per value."""
    concurrency: int = 0
    """Effects under one key at once (0: no bound)."""
    rate_per_s: float = 0.0
    """Token bucket refill per second (0: no rate limit)."""
    burst: float = 1.0
    """Bucket size."""
    llm_tokens: bool = False
    """The bucket counts the LLM tokens results report (`usage`), debited after completion."""

    def __post_init__(self) -> None:
        what, sep, name = self.selector.partition(":")
        if not sep or what not in ("tool", "model", "session", "kind") or not name:
            raise ValueError(
                f"a limit selector is tool:NAME, model:NAME, session:* or kind:KIND, got {self.selector!r}"
            )
        if self.concurrency < 0 or self.rate_per_s < 0 or self.burst <= 0:
            raise ValueError(f"limit {self.selector}: concurrency and rate_per_s must be >= 0 and burst > 0")


@dataclass(frozen=True, slots=True)
class WorkersConfig:
    heartbeat_interval_s: float = 1.0
    """How often workers send heartbeats unless they ask for another interval; two missed ones make a
    worker dead and its effects go to another worker at once."""
    lease_ttl_ms: int = 30_000
    """A delivered effect's lease unless the worker extends it (progress extends it too)."""
    schedule_to_start_timeout_s: float = 10.0
    """How long an effect waits for a worker with a free slot before `no_worker_available`."""
    max_redeliveries: int = 3
    """Deliveries after the first before `worker_redelivery_exhausted` (workers that died or lost it)."""
    fail_fast_unmatched: bool = True
    """An effect no connected worker offers (an unknown tool) fails at once instead of waiting."""
    route_kinds: tuple[str, ...] = ()
    """Effect kinds always delegated to workers, even when the runtime does not ask."""
    route_tools: tuple[str, ...] = ()
    """Tool names whose tool_call effects are always delegated to workers."""
    limits: tuple[LimitRule, ...] = ()
    """Concurrency keys and token buckets on delegated effects."""


@dataclass(frozen=True, slots=True)
class ServerConfig:
    listen: str = "127.0.0.1:50551"
    """host:port to listen on; port 0 picks a free port."""
    store: StoreConfig = field(default_factory=StoreConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    streams: StreamsConfig = field(default_factory=StreamsConfig)
    await_events: AwaitEventsConfig = field(default_factory=AwaitEventsConfig)
    journal: JournalConfig = field(default_factory=JournalConfig)
    workers: WorkersConfig = field(default_factory=WorkersConfig)
    shutdown_grace_s: float = 10.0
    """How long in-flight calls may finish after SIGTERM."""
    reuse_port: bool = False

    def __post_init__(self) -> None:
        host, sep, port = self.listen.rpartition(":")
        if not sep or not host or not port.isdigit() or int(port) > 65535:
            raise ValueError(f"listen must be HOST:PORT, got {self.listen!r}")
        if self.shutdown_grace_s < 0:
            raise ValueError("shutdown_grace_s must be >= 0")
        if self.streams.heartbeat_interval_s <= 0 or self.streams.min_heartbeat_interval_s <= 0:
            raise ValueError("heartbeat intervals must be > 0")
        for part in (self.limits, self.streams, self.await_events, self.journal):
            for item in fields(part):
                if item.name.startswith("max_") and getattr(part, item.name) <= 0:
                    raise ValueError(f"{type(part).__name__}.{item.name} must be positive")
        if self.workers.heartbeat_interval_s <= 0 or self.workers.lease_ttl_ms <= 0:
            raise ValueError("workers.heartbeat_interval_s and workers.lease_ttl_ms must be > 0")
        if self.workers.schedule_to_start_timeout_s < 0 or self.workers.max_redeliveries < 0:
            raise ValueError("workers.schedule_to_start_timeout_s and workers.max_redeliveries must be >= 0")


def load_config(
    *,
    listen: str | None = None,
    db: str | None = None,
    store: str | None = None,
    env: Mapping[str, str] | None = None,
) -> ServerConfig:
    """Flags win over EFFECTD_LISTEN / EFFECTD_STORE / EFFECTD_DB, which win over defaults."""
    environ = os.environ if env is None else env
    config = ServerConfig()
    listen = listen or environ.get("EFFECTD_LISTEN")
    if listen:
        config = replace(config, listen=listen)
    store_url = store or db or environ.get("EFFECTD_STORE") or environ.get("EFFECTD_DB")
    if store_url:
        config = replace(config, store=StoreConfig(url=str(Path(store_url)) if "://" not in store_url else store_url))
    if not config.store.is_postgres():
        config.store.sqlite_path()  # a bad URL is a ValueError now, not at start
    return config
