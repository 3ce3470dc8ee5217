"""The scale-out backend: one PostgreSQL database shared by several effectd replicas.

Every rule that SQLite gets from its single writer is a database primitive here: first writer wins is a
conditional UPDATE, deadlines are claimed with `FOR UPDATE SKIP LOCKED`, journal rows are claimed under
a row lock. Each change also sends a `pg_notify('effectd_events', ...)` in its own transaction; a
dedicated listener connection turns the notifications of the other replicas into change events, each
capability decoding its own tags.

The URL is a postgresql:// DSN with optional extra query parameters, stripped before connecting:
`schema` (created if missing, first in search_path), `pool_min` (2), `pool_max` (10),
`statement_timeout_ms` (10000) and `connect_timeout_s` (5).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
from effectd._errors import EffectdError, InvalidArgumentError

from effectd_server.store._base import ChangeListener, CommitObserver, ListenerResumed, StoreUnavailableError
from effectd_server.store._migrations import migrations_for

__all__ = ["CHANNEL", "SESSION_SETTINGS", "PostgresBackend", "Retry", "fits", "parse_url", "redact_url"]

log = logging.getLogger("effectd.store.postgres")

T = TypeVar("T")
Decoder = Callable[[dict[str, Any]], Any]

CHANNEL = "effectd_events"
_RESYNC_TAG = "x"
# pg_advisory_xact_lock key held while migrating: "effectd" in ASCII.
MIGRATION_LOCK_ID = 0x65666665637464
# pg_notify refuses payloads of 8000 bytes and more; terminals that do not fit are read back instead.
NOTIFY_LIMIT_BYTES = 7000

# Everything asyncpg or the OS raises when the database is unreachable, slow, or refuses an operation.
_DATABASE_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
    TimeoutError,
)
_ATTEMPTS = 8

_OPTION_NAMES = ("schema", "pool_min", "pool_max", "statement_timeout_ms", "connect_timeout_s")


@dataclass(frozen=True, slots=True)
class _Options:
    dsn: str
    schema: str | None
    pool_min: int
    pool_max: int
    statement_timeout_ms: int
    connect_timeout_s: float


def parse_url(url: str) -> _Options:
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError(f"not a PostgreSQL URL: {url!r}")
    kept: list[tuple[str, str]] = []
    ours: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name in _OPTION_NAMES:
            ours[name] = value
        else:
            kept.append((name, value))
    dsn = urlunsplit(parts._replace(query=urlencode(kept)))

    def number(name: str, default: float, kind: type[int] | type[float], minimum: float) -> Any:
        raw = ours.get(name)
        if raw is None:
            return kind(default)
        try:
            value = kind(raw)
        except ValueError:
            raise ValueError(f"store URL parameter {name}={raw!r} is not a number") from None
        if value < minimum:
            raise ValueError(f"store URL parameter {name}={raw!r} must be at least {minimum}")
        return value

    schema = ours.get("schema") or None
    if schema is not None and (len(schema.encode()) > 63 or "\x00" in schema):
        raise ValueError(f"store URL parameter schema={schema!r} is not a valid PostgreSQL schema name")
    options = _Options(
        dsn=dsn,
        schema=schema,
        pool_min=number("pool_min", 2, int, 0),
        pool_max=number("pool_max", 10, int, 1),
        statement_timeout_ms=number("statement_timeout_ms", 10_000, int, 0),
        connect_timeout_s=number("connect_timeout_s", 5.0, float, 0.001),
    )
    if options.pool_min > options.pool_max:
        raise ValueError(f"store URL: pool_min ({options.pool_min}) is larger than pool_max ({options.pool_max})")
    return options


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def dumps_compact(value: object) -> str:
    """Compact JSON for notification payloads."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def redact_url(url: str) -> str:
    """`url` without its password, for logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable store URL>"
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")
    userinfo = netloc[0].partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{userinfo}:***@{netloc[2]}"))


def fits(payload: str) -> bool:
    return len(payload.encode("utf-8")) <= NOTIFY_LIMIT_BYTES


SESSION_SETTINGS = {
    # asyncpg prepares and caches every statement; after five executions PostgreSQL may switch to a
    # generic plan costed on the table as it was then (small) and keep it as the table grows: every
    # resolve then read every pending key. Custom plans are costed on each execution.
    "plan_cache_mode": "force_custom_plan",
}


class Retry(Exception):
    """Run the transaction again (a race another transaction won while this one looked)."""


# Errors after which the whole transaction is simply run again.
_RUN_AGAIN: tuple[type[BaseException], ...] = (Retry, asyncpg.DeadlockDetectedError, asyncpg.SerializationError)


class PostgresBackend:
    """PostgreSQL shared by any number of effectd processes: the pool, the listener, the retries."""

    kind: Literal["postgres"] = "postgres"
    listener_ping_s = 5.0
    """How often the listener connection is checked when no notification shows it alive."""

    def __init__(self, url: str) -> None:
        self._options = parse_url(url)
        self._origin = secrets.token_hex(8)
        """Marks this store's notifications, so that it does not report its own changes back."""
        self._pool: Any = None
        self._schema_name = ""
        self._decoders: dict[str, tuple[Decoder, ChangeListener]] = {}
        self._listeners: list[ChangeListener] = []
        self._listen_conn: Any = None
        self._listen_lost: asyncio.Event | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._closing = False
        self.resync_payload = ""
        self.tail = ""
        self.commit_observer: CommitObserver | None = None
        """Told the duration and size of each gathered write transaction (metrics)."""

    # -- lifecycle ---------------------------------------------------------------------------
    def listen(self, decoders: dict[str, Decoder], listener: ChangeListener) -> None:
        """Deliver the notifications tagged with `decoders`' keys (decoded by them) to `listener`, and
        ListenerResumed after every reconnect. Each capability registers its own tags."""
        for tag, decode in decoders.items():
            if tag in self._decoders or tag == _RESYNC_TAG:
                raise ValueError(f"notification tag {tag!r} is taken")
            self._decoders[tag] = (decode, listener)
        self._listeners.append(listener)

    @property
    def listener_backend_pid(self) -> int | None:
        """The server process id of the listener connection (diagnostics and tests)."""
        conn = self._listen_conn
        if conn is None or conn.is_closed():
            return None
        return int(conn.get_server_pid())

    def _server_settings(self, role: str) -> dict[str, str]:
        settings = {
            **SESSION_SETTINGS,
            "statement_timeout": str(self._options.statement_timeout_ms),
            "application_name": f"effectd-{role} {self._origin}",
        }
        if self._options.schema is not None:
            settings["search_path"] = _quote_ident(self._options.schema)
        return settings

    async def open(self) -> None:
        if self._pool is not None:
            return
        self._closing = False
        options = self._options
        try:
            pool = await asyncpg.create_pool(
                options.dsn,
                min_size=options.pool_min,
                max_size=options.pool_max,
                timeout=options.connect_timeout_s,
                # A client-side bound too, for a database that stopped answering without closing the socket.
                command_timeout=options.statement_timeout_ms / 1000 + options.connect_timeout_s
                if options.statement_timeout_ms
                else None,
                server_settings=self._server_settings("pool"),
            )
        except _DATABASE_ERRORS as exc:
            raise StoreUnavailableError(f"cannot connect to PostgreSQL: {_describe(exc)}") from exc
        try:
            async with pool.acquire(timeout=self._acquire_timeout_s) as conn:
                self._schema_name = await self._migrate(conn)
            self._build_payload_parts()
            await self._start_listener()
        except BaseException as exc:
            await _close_pool(pool)
            await self._stop_listener()
            if isinstance(exc, _DATABASE_ERRORS):
                raise StoreUnavailableError(f"cannot open the PostgreSQL store: {_describe(exc)}") from exc
            raise
        self._pool = pool
        self._supervisor = asyncio.get_running_loop().create_task(self._supervise(), name="effectd-postgres-listener")

    @property
    def _acquire_timeout_s(self) -> float:
        return self._options.connect_timeout_s + self._options.statement_timeout_ms / 1000

    async def _migrate(self, conn: Any) -> str:
        """Apply pending migrations in one transaction under an advisory lock; return the schema used."""
        schema = self._options.schema
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK_ID)
            if schema is not None:
                exists = await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", schema)
                if exists is None:
                    await conn.execute(f"CREATE SCHEMA {_quote_ident(schema)}")
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at_ms BIGINT NOT NULL)"
            )
            applied = {int(r[0]) for r in await conn.fetch("SELECT version FROM schema_migrations")}
            known = migrations_for("postgres")
            newest_known = known[-1].version if known else 0
            current = str(await conn.fetchval("SELECT current_schema()"))
            if applied and max(applied) > newest_known:
                raise RuntimeError(
                    f"database schema {current!r} has schema version {max(applied)}, newer than this effectd "
                    f"({newest_known}); upgrade effectd"
                )
            for migration in known:
                if migration.version in applied:
                    continue
                for statement in migration.statements():
                    await conn.execute(statement)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    int(time.time() * 1000),
                )
                log.info("applied migration %04d_%s to schema %s", migration.version, migration.name, current)
        return current

    def _build_payload_parts(self) -> None:
        # Every payload ends with the schema (replicas of other schemas share the channel) and our origin.
        self.tail = "," + dumps_compact({"d": self._schema_name, "o": self._origin})[1:]
        self.resync_payload = '{"t":"' + _RESYNC_TAG + '"' + self.tail

    async def close(self) -> None:
        self._closing = True
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            supervisor.cancel()
            try:
                await supervisor
            except asyncio.CancelledError:
                pass
        await self._stop_listener()
        pool, self._pool = self._pool, None
        if pool is not None:
            await _close_pool(pool)

    # -- change notifications ----------------------------------------------------------------
    async def _start_listener(self) -> None:
        options = self._options
        conn = await asyncpg.connect(
            options.dsn, timeout=options.connect_timeout_s, server_settings=self._server_settings("listen")
        )
        lost = asyncio.Event()  # one per connection (and created on the running loop)
        try:
            conn.add_termination_listener(lambda _conn: lost.set())
            await conn.add_listener(CHANNEL, self._on_notification)
        except BaseException:
            conn.terminate()
            raise
        self._listen_conn, self._listen_lost = conn, lost

    async def _stop_listener(self) -> None:
        conn, self._listen_conn, self._listen_lost = self._listen_conn, None, None
        if conn is None or conn.is_closed():
            return
        try:
            await asyncio.wait_for(conn.close(), timeout=2.0)
        except _DATABASE_ERRORS:
            conn.terminate()
        except asyncio.CancelledError:
            conn.terminate()
            raise

    async def _supervise(self) -> None:
        """Keep the listener connected; after a reconnect, tell the core that it may have missed changes."""
        backoff = 0.05
        while not self._closing:
            conn, lost = self._listen_conn, self._listen_lost
            if conn is None or lost is None or conn.is_closed():
                await self._stop_listener()
                try:
                    await self._start_listener()
                except Exception as exc:  # never let the listener task die: the store must recover
                    log.warning("PostgreSQL listener reconnect failed, retrying in %.2fs: %s", backoff, _describe(exc))
                    await asyncio.sleep(backoff * (0.5 + random.random()))
                    backoff = min(backoff * 2, 5.0)
                    continue
                backoff = 0.05
                log.info("PostgreSQL listener connected again")
                self._resumed()
                continue
            try:
                await asyncio.wait_for(lost.wait(), timeout=self.listener_ping_s)
                log.warning("PostgreSQL listener connection lost")
                await self._stop_listener()
            except TimeoutError:
                try:
                    await conn.fetchval("SELECT 1", timeout=max(1.0, self._options.connect_timeout_s))
                except Exception as exc:
                    log.warning("PostgreSQL listener connection unresponsive: %s", _describe(exc))
                    await self._stop_listener()

    def _on_notification(self, conn: Any, pid: int, channel: str, payload: str) -> None:
        try:
            data = json.loads(payload)
            if data.get("d") != self._schema_name or data.get("o") == self._origin:
                return
            tag = data["t"]
            if tag == _RESYNC_TAG:
                self._resumed()
                return
            decode, listener = self._decoders[tag]
            event = decode(data)
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("ignoring a malformed notification on %s: %.200s", CHANNEL, payload)
            return
        _deliver(listener, event)

    def _resumed(self) -> None:
        for listener in self._listeners:
            _deliver(listener, ListenerResumed())

    def payload(self, body: dict[str, Any]) -> str:
        """A notification with `body` (its "t" a registered tag); one that does not fit in pg_notify
        says "re-read everything" instead."""
        payload = dumps_compact(body)[:-1] + self.tail
        return payload if fits(payload) else self.resync_payload

    # -- running statements ------------------------------------------------------------------
    async def run(
        self,
        op: str,
        fn: Callable[[Any], Awaitable[T]],
        *,
        transaction: bool = False,
        retry_unique: bool = False,
    ) -> T:
        pool = self._pool
        if pool is None:
            raise StoreUnavailableError("the store is closed")
        attempt = 0
        while True:
            attempt += 1
            try:
                async with pool.acquire(timeout=self._acquire_timeout_s) as conn:
                    if not transaction:
                        return await fn(conn)
                    async with conn.transaction():
                        return await fn(conn)
            except EffectdError:
                raise
            except _RUN_AGAIN as exc:
                log.debug("postgres %s runs again (attempt %d): %s", op, attempt, _describe(exc))
                if attempt >= _ATTEMPTS:
                    raise StoreUnavailableError(f"postgres {op} kept conflicting: {_describe(exc)}") from exc
                await asyncio.sleep(random.random() * 0.002 * attempt)
            except asyncpg.UniqueViolationError as exc:
                if not retry_unique or attempt >= _ATTEMPTS:
                    log.error("postgres %s failed: %s", op, _describe(exc))
                    raise StoreUnavailableError(f"postgres {op} failed: {_describe(exc)}") from exc
            except asyncpg.ProgramLimitExceededError as exc:
                # An index entry too large (a huge scope or replay key): the input's fault, not the database's.
                raise InvalidArgumentError("payload_too_large", f"a value is too large to store: {exc}") from exc
            except _DATABASE_ERRORS as exc:
                log.error("postgres %s failed: %s", op, _describe(exc))
                raise StoreUnavailableError(f"postgres {op} failed: {_describe(exc)}") from exc


def _deliver(listener: ChangeListener, event: Any) -> None:
    try:
        listener(event)
    except Exception:
        log.exception("the store listener failed on %s", event)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def _close_pool(pool: Any) -> None:
    try:
        await asyncio.wait_for(pool.close(), timeout=5.0)
    except _DATABASE_ERRORS:
        pool.terminate()
    except asyncio.CancelledError:
        pool.terminate()
        raise
