"""Server configuration: small frozen dataclasses, one nested config per capability, one loader from
flags and EFFECTD_* variables. Validation raises ValueError."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Literal

__all__ = [
    "AwaitEventsConfig",
    "JournalConfig",
    "LimitsConfig",
    "LogConfig",
    "MetricsConfig",
    "RetentionConfig",
    "ServerConfig",
    "StoreConfig",
    "StreamsConfig",
    "TracingConfig",
    "load_config",
    "with_observability",
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


def _check_host_port(name: str, value: str) -> None:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"{name} must be HOST:PORT, got {value!r}")


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    admin_listen: str | None = None
    """HOST:PORT of the admin HTTP listener serving Prometheus text at /metrics; None: no listener."""

    def __post_init__(self) -> None:
        if self.admin_listen is not None:
            _check_host_port("admin_listen", self.admin_listen)


LogFormat = Literal["text", "json"]


@dataclass(frozen=True, slots=True)
class LogConfig:
    format: LogFormat = "text"
    """`text` (one human line per record) or `json` (one JSON object per record)."""
    access_log: bool = True
    """One INFO line per request on logger `effectd.access` (method, status, error code, duration, peer)."""

    def __post_init__(self) -> None:
        if self.format not in ("text", "json"):
            raise ValueError(f"log format must be text or json, got {self.format!r}")


@dataclass(frozen=True, slots=True)
class TracingConfig:
    otlp_endpoint: str | None = None
    """Where spans are exported over OTLP/gRPC (e.g. http://127.0.0.1:4317); None: no exporter (off)."""
    service_name: str = "effectd"
    """The `service.name` resource attribute of exported spans."""


_DAY_S = 86_400.0


@dataclass(frozen=True, slots=True)
class RetentionConfig:
    """How long finished records are kept; 0 keeps them forever. Revoked-session tombstones are never
    swept: any signing key that still verifies can sign a key of that session."""

    resolved_keys_s: float = 7 * _DAY_S
    """Await-event keys after their terminal was recorded (revoked keys are kept)."""
    journal_s: float = 7 * _DAY_S
    """Completed or failed journal rows after they finished; a scope's rows stay while any is in progress."""
    processes_s: float = 7 * _DAY_S
    """Terminal process records (with their events, grants and lease) after their last change."""
    sweep_interval_s: float = 60.0
    """How often the background sweeper runs; 0 turns it off (`effectd gc` still sweeps)."""
    batch_size: int = 1000
    """Rows deleted per transaction: a sweep never holds the writer long."""

    def __post_init__(self) -> None:
        for name in ("resolved_keys_s", "journal_s", "processes_s", "sweep_interval_s"):
            value = getattr(self, name)
            if not (0 <= value < float("inf")):
                raise ValueError(f"retention {name} must be a finite number of seconds >= 0, got {value!r}")
        if self.batch_size <= 0:
            raise ValueError("retention batch_size must be positive")


@dataclass(frozen=True, slots=True)
class ServerConfig:
    listen: str = "127.0.0.1:50551"
    """host:port to listen on; port 0 picks a free port."""
    store: StoreConfig = field(default_factory=StoreConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    streams: StreamsConfig = field(default_factory=StreamsConfig)
    await_events: AwaitEventsConfig = field(default_factory=AwaitEventsConfig)
    journal: JournalConfig = field(default_factory=JournalConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    logs: LogConfig = field(default_factory=LogConfig)
    tracing: TracingConfig = field(default_factory=TracingConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
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


def _env_seconds(environ: Mapping[str, str], name: str) -> float | None:
    text = environ.get(name)
    if text is None or text == "":
        return None
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, got {text!r}") from None


def with_observability(
    config: ServerConfig,
    *,
    admin_listen: str | None = None,
    log_format: str | None = None,
    otlp_endpoint: str | None = None,
    retention_resolved_keys_s: float | None = None,
    retention_journal_s: float | None = None,
    retention_processes_s: float | None = None,
    retention_sweep_interval_s: float | None = None,
    env: Mapping[str, str] | None = None,
) -> ServerConfig:
    """`config` with the metrics, logs, tracing and retention settings: flags win over EFFECTD_ADMIN_LISTEN,
    EFFECTD_LOG_FORMAT, EFFECTD_OTLP_ENDPOINT and EFFECTD_RETENTION_{KEYS,JOURNAL,PROCESSES,SWEEP}_S."""
    environ = os.environ if env is None else env
    admin = admin_listen or environ.get("EFFECTD_ADMIN_LISTEN") or config.metrics.admin_listen
    log_format = log_format or environ.get("EFFECTD_LOG_FORMAT") or config.logs.format
    endpoint = otlp_endpoint or environ.get("EFFECTD_OTLP_ENDPOINT") or config.tracing.otlp_endpoint

    def pick(flag: float | None, variable: str, current: float) -> float:
        if flag is not None:
            return flag
        from_env = _env_seconds(environ, variable)
        return current if from_env is None else from_env

    retention = config.retention
    return replace(
        config,
        metrics=replace(config.metrics, admin_listen=admin),
        logs=replace(config.logs, format=log_format),  # type: ignore[arg-type]  # checked in __post_init__
        tracing=replace(config.tracing, otlp_endpoint=endpoint),
        retention=replace(
            retention,
            resolved_keys_s=pick(retention_resolved_keys_s, "EFFECTD_RETENTION_KEYS_S", retention.resolved_keys_s),
            journal_s=pick(retention_journal_s, "EFFECTD_RETENTION_JOURNAL_S", retention.journal_s),
            processes_s=pick(retention_processes_s, "EFFECTD_RETENTION_PROCESSES_S", retention.processes_s),
            sweep_interval_s=pick(retention_sweep_interval_s, "EFFECTD_RETENTION_SWEEP_S", retention.sweep_interval_s),
        ),
    )
