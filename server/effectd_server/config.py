"""Server configuration: small frozen dataclasses, one nested config per capability, and one loader that
layers a TOML file (`--config`), then EFFECTD_* variables, then flags. Validation raises ValueError.

Every field is reachable from each layer by its path: `[limits] max_id_bytes = 2048` in the file,
`EFFECTD_LIMITS_MAX_ID_BYTES=2048` in the environment (top-level fields: `EFFECTD_LISTEN`), and
`{"limits.max_id_bytes": 2048}` as an override from flags. Fields marked secret are redacted by
`redacted_config`, which `effectd config show` prints.
"""

from __future__ import annotations

import json
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "AuthConfig",
    "AwaitEventsConfig",
    "JournalConfig",
    "LimitRule",
    "LimitsConfig",
    "LogConfig",
    "MetricsConfig",
    "RetentionConfig",
    "SecretsConfig",
    "ServerConfig",
    "StoreConfig",
    "StreamsConfig",
    "TLSConfig",
    "TracingConfig",
    "WorkersConfig",
    "env_name",
    "load_config",
    "redacted_config",
]

REDACTED = "<redacted>"
_SECRET = {"secret": True}


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
    max_message_bytes: int = 16 << 20
    """A gRPC message in either direction (gRPC refuses larger ones with RESOURCE_EXHAUSTED)."""


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
class TLSConfig:
    """TLS for the gRPC listener. With `cert` and `key` the server speaks only TLS; with `client_ca` it also
    requires client certificates signed by that CA (mTLS). The files are re-read when they change."""

    cert: str | None = None
    """PEM certificate chain of the server."""
    key: str | None = None
    """PEM private key of `cert`."""
    client_ca: str | None = None
    """PEM CA bundle that client certificates must chain to; set, it requires them."""

    def __post_init__(self) -> None:
        if (self.cert is None) != (self.key is None):
            raise ValueError("tls.cert and tls.key go together: give both or neither")
        if self.client_ca is not None and self.cert is None:
            raise ValueError("tls.client_ca needs tls.cert and tls.key (client certificates need TLS)")

    @property
    def enabled(self) -> bool:
        return self.cert is not None


@dataclass(frozen=True, slots=True)
class AuthConfig:
    tokens_file: str | None = None
    """A file of bearer-token hashes and their roles (`effectd tokens add` writes it). Without it the
    server serves loopback only, unless `insecure`."""
    insecure: bool = False
    """Allow a non-loopback listen without TLS and tokens (logged as a warning at start)."""


@dataclass(frozen=True, slots=True)
class SecretsConfig:
    master_key_file: str | None = None
    """A file holding the master key (base64 of 32 bytes) that encrypts the signing keys at rest."""
    master_key: str | None = field(default=None, metadata=_SECRET)
    """The master key itself (base64), usually from EFFECTD_MASTER_KEY; a file is preferable."""

    def __post_init__(self) -> None:
        if self.master_key_file is not None and self.master_key is not None:
            raise ValueError("give the master key by file or by value, not both")


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
    tls: TLSConfig = field(default_factory=TLSConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    secrets: SecretsConfig = field(default_factory=SecretsConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    logs: LogConfig = field(default_factory=LogConfig)
    tracing: TracingConfig = field(default_factory=TracingConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    workers: WorkersConfig = field(default_factory=WorkersConfig)
    shutdown_grace_s: float = 10.0
    """How long in-flight calls may finish after SIGTERM."""
    reuse_port: bool = False
    http_listen: str | None = None
    """host:port of the public HTTP resolve endpoint (`POST /v1/resolve/{token}`); None serves none."""

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


# -- the loader ---------------------------------------------------------------------------------------

_ENV_ALIASES: dict[str, str] = {
    "EFFECTD_DB": "store.url",
    "EFFECTD_STORE": "store.url",
    "EFFECTD_MASTER_KEY": "secrets.master_key",
    "EFFECTD_MASTER_KEY_FILE": "secrets.master_key_file",
    "EFFECTD_TOKENS_FILE": "auth.tokens_file",
    "EFFECTD_INSECURE": "auth.insecure",
    "EFFECTD_ADMIN_LISTEN": "metrics.admin_listen",
    "EFFECTD_LOG_FORMAT": "logs.format",
    "EFFECTD_OTLP_ENDPOINT": "tracing.otlp_endpoint",
    "EFFECTD_RETENTION_KEYS_S": "retention.resolved_keys_s",
    "EFFECTD_RETENTION_JOURNAL_S": "retention.journal_s",
    "EFFECTD_RETENTION_PROCESSES_S": "retention.processes_s",
    "EFFECTD_RETENTION_SWEEP_S": "retention.sweep_interval_s",
}
"""Short names kept for the most used fields; the full names (EFFECTD_STORE_URL, ...) work too."""

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def env_name(path: str) -> str:
    """The EFFECTD_* variable of a field path: "limits.max_id_bytes" → EFFECTD_LIMITS_MAX_ID_BYTES."""
    return "EFFECTD_" + path.replace(".", "_").upper()


def _hints(cls: type[Any]) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _leaf_paths(cls: type[Any] = ServerConfig, prefix: str = "") -> dict[str, Any]:
    """Every settable field path and its type."""
    paths: dict[str, Any] = {}
    hints = _hints(cls)
    for item in fields(cls):
        kind = hints[item.name]
        if isinstance(kind, type) and is_dataclass(kind):
            paths.update(_leaf_paths(kind, f"{prefix}{item.name}."))
        else:
            paths[prefix + item.name] = kind
    return paths


def _coerce(path: str, kind: Any, value: object, source: str) -> object:
    """`value` as the field's type; strings (from the environment) are parsed, other values checked."""
    optional = typing.get_origin(kind) in (typing.Union, types.UnionType) and type(None) in typing.get_args(kind)
    base = next(arg for arg in typing.get_args(kind) if arg is not type(None)) if optional else kind
    if value is None and optional:
        return None
    if base is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
    elif base is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value.strip().replace("_", ""))
            except ValueError:
                pass
    elif base is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
    elif base is str:
        if isinstance(value, str):
            return value
    elif typing.get_origin(base) is tuple:
        return _coerce_tuple(path, typing.get_args(base)[0], value, source)
    elif typing.get_origin(base) is Literal:
        choices = typing.get_args(base)
        if isinstance(value, str) and value.strip() in choices:
            return value.strip()
        raise ValueError(f"{source}: {path} must be one of {', '.join(map(str, choices))}, got {value!r}")
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    raise ValueError(f"{source}: {path} must be {names.get(base, base)}, got {value!r}")


def _coerce_tuple(path: str, item: Any, value: object, source: str) -> tuple[Any, ...]:
    """A list setting: a TOML array (of tables, for rules), or in a variable a comma-separated list of names
    or a JSON array (of objects, for rules)."""
    items: object = value
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                items = json.loads(text)
            except ValueError:
                raise ValueError(f"{source}: {path} is not a valid JSON array") from None
        else:
            items = [part.strip() for part in text.split(",") if part.strip()]
    if not isinstance(items, list | tuple):
        raise ValueError(f"{source}: {path} must be a list, got {value!r}")
    if item is str:
        if not all(isinstance(x, str) for x in items):
            raise ValueError(f"{source}: {path} must be a list of strings")
        return tuple(items)
    if isinstance(item, type) and is_dataclass(item):
        known = {f.name for f in fields(item)}
        built = []
        for entry in items:
            if not isinstance(entry, dict) or not set(entry) <= known:
                raise ValueError(f"{source}: each of {path} is a table with {', '.join(sorted(known))}")
            built.append(item(**entry))
        return tuple(built)
    raise ValueError(f"{source}: {path} has an unsupported type")


def _flatten(table: Mapping[str, Any], prefix: str, source: str, known: Mapping[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name, value in table.items():
        path = prefix + name
        if isinstance(value, dict) and path not in known:
            if not any(p.startswith(path + ".") for p in known):
                raise ValueError(f"{source}: unknown section [{path}]")
            flat.update(_flatten(value, path + ".", source, known))
        elif path not in known:
            raise ValueError(f"{source}: unknown setting {path!r}")
        else:
            flat[path] = _coerce(path, known[path], value, source)
    return flat


def _read_file(path: str, known: Mapping[str, Any]) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            table = tomllib.load(handle)
    except OSError as exc:
        raise ValueError(f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"config file {path} is not valid TOML: {exc}") from None
    return _flatten(table, "", f"config file {path}", known)


def _read_env(environ: Mapping[str, str], known: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for alias, path in _ENV_ALIASES.items():
        if environ.get(alias):
            values[path] = _coerce(path, known[path], environ[alias], alias)
    for path, kind in known.items():
        name = env_name(path)
        if environ.get(name):
            values[path] = _coerce(path, kind, environ[name], name)
    return values


def _build(cls: type[Any], values: Mapping[str, Any], prefix: str = "") -> Any:
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    for item in fields(cls):
        kind = hints[item.name]
        path = prefix + item.name
        if isinstance(kind, type) and is_dataclass(kind):
            kwargs[item.name] = _build(kind, values, path + ".")
        elif path in values:
            kwargs[item.name] = values[path]
    return cls(**kwargs)


def load_config(
    *,
    config_file: str | None = None,
    overrides: Mapping[str, object] | None = None,
    listen: str | None = None,
    db: str | None = None,
    store: str | None = None,
    env: Mapping[str, str] | None = None,
) -> ServerConfig:
    """The effective configuration: defaults, then the TOML `config_file` (or EFFECTD_CONFIG), then
    EFFECTD_* variables, then `overrides` (field path → value, from flags; None means not given) and the
    `listen`/`db`/`store` flags."""
    environ = os.environ if env is None else env
    known = _leaf_paths()
    values: dict[str, Any] = {}
    config_file = config_file or environ.get("EFFECTD_CONFIG") or None
    if config_file:
        values.update(_read_file(config_file, known))
    values.update(_read_env(environ, known))
    flags: dict[str, object] = {"listen": listen, "store.url": store or db}
    flags.update(overrides or {})
    for path, value in flags.items():
        if value is None:
            continue
        if path not in known:
            raise ValueError(f"unknown setting {path!r}")
        values[path] = _coerce(path, known[path], value, "flag")
    url = values.get("store.url")
    if isinstance(url, str) and "://" not in url:
        values["store.url"] = str(Path(url))
    config: ServerConfig = _build(ServerConfig, values)
    if not config.store.is_postgres():
        config.store.sqlite_path()  # a bad URL is a ValueError now, not at start
    return config


def redacted_config(config: Any) -> dict[str, Any]:
    """The configuration as a dict of sections, secrets replaced by "<redacted>" and a PostgreSQL
    password removed from the store URL: what `effectd config show` prints and logs may hold."""
    result: dict[str, Any] = {}
    for item in fields(config):
        value = getattr(config, item.name)
        if is_dataclass(value) and not isinstance(value, type):
            result[item.name] = redacted_config(value)
        elif item.metadata.get("secret") and value is not None:
            result[item.name] = REDACTED
        elif isinstance(value, tuple):
            result[item.name] = [
                redacted_config(x) if is_dataclass(x) and not isinstance(x, type) else x for x in value
            ]
        else:
            result[item.name] = value
    if isinstance(config, StoreConfig):
        result["url"] = config.redacted()
    return result
