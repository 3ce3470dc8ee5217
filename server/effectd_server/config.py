"""Server configuration: small frozen dataclasses, one loader from flags and EFFECTD_* variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

__all__ = ["ServerConfig", "StoreConfig", "load_config"]


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


@dataclass(frozen=True, slots=True)
class ServerConfig:
    listen: str = "127.0.0.1:50551"
    """host:port to listen on; port 0 picks a free port."""
    store: StoreConfig = field(default_factory=StoreConfig)
    heartbeat_interval_s: float = 10.0
    """How often pending Await and Watch streams get a heartbeat."""
    shutdown_grace_s: float = 10.0
    """How long in-flight calls may finish after SIGTERM."""
    max_payload_bytes: int = 1 << 20
    """Largest resolution a resolve may record."""
    max_batch: int = 10_000
    """Most items in one ResolveMany."""
    max_watched_keys: int = 1_000_000
    """Most keys on one Watch stream."""
    reuse_port: bool = False

    def __post_init__(self) -> None:
        host, sep, port = self.listen.rpartition(":")
        if not sep or not host or not port.isdigit() or int(port) > 65535:
            raise ValueError(f"listen must be HOST:PORT, got {self.listen!r}")
        if self.heartbeat_interval_s <= 0 or self.shutdown_grace_s < 0:
            raise ValueError("heartbeat_interval_s must be > 0 and shutdown_grace_s >= 0")
        if self.max_payload_bytes <= 0 or self.max_batch <= 0 or self.max_watched_keys <= 0:
            raise ValueError("limits must be positive")


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
