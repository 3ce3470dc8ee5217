"""The scale-out store: one PostgreSQL database shared by several effectd replicas.

Every rule that SQLite gets from its single writer is a database primitive here: first writer wins is a
conditional UPDATE, deadlines are claimed with `FOR UPDATE SKIP LOCKED`, journal rows are claimed under
a row lock, the keyring has a unique partial index on its active key. Each change also sends a
`pg_notify('effectd_events', ...)` in its own transaction; a dedicated listener connection turns the
notifications of the other replicas into `StoreEvent`s.

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
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
from effectd._errors import ConflictError, EffectdError, InvalidArgumentError, NotFoundError

from effectd_server.store._migrations import migrations_for
from effectd_server.store._protocol import (
    ClaimResult,
    ClaimStatus,
    EffectClaim,
    EffectFinished,
    EffectRow,
    KeyRevokedEvent,
    KeyringChanged,
    KeyRow,
    KeyState,
    ListenerResumed,
    ResolveItem,
    ResolveResult,
    SessionRevokedEvent,
    SigningKeyRow,
    StoreEvent,
    StoreListener,
    StoreUnavailableError,
    TerminalRecorded,
)

__all__ = ["PostgresStore"]

log = logging.getLogger("effectd.store.postgres")

T = TypeVar("T")

CHANNEL = "effectd_events"
TIMEOUT_JSON = '{"status":"timeout"}'
# pg_advisory_xact_lock key held while migrating: "effectd" in ASCII.
MIGRATION_LOCK_ID = 0x65666665637464
# pg_advisory_xact_lock(class, hashtext(scope_json)) orders new journal rows of one scope ("effd").
_SCOPE_LOCK_CLASS = 0x65666664
# pg_advisory_xact_lock(class, 0) orders rotations of the keyring ("efkr").
_KEYRING_LOCK_CLASS = 0x65666B72
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
_RESOLVE_ROUNDS = 8
_IN_CHUNK = 10_000

_OPTION_NAMES = ("schema", "pool_min", "pool_max", "statement_timeout_ms", "connect_timeout_s")


@dataclass(frozen=True, slots=True)
class _Options:
    dsn: str
    schema: str | None
    pool_min: int
    pool_max: int
    statement_timeout_ms: int
    connect_timeout_s: float


def _parse_url(url: str) -> _Options:
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


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _fits(payload: str) -> bool:
    return len(payload.encode("utf-8")) <= NOTIFY_LIMIT_BYTES


# -- SQL ---------------------------------------------------------------------------------------
_EFFECT_COLUMNS = (
    "scope_json, replay_key, seq, envelope_hash, kind, envelope_pb, status, outcome_pb, error_json, lease_owner,"
    " lease_token, lease_expires_at_ms, due_at_ms, created_at_ms, updated_at_ms"
)

_NO_REVOKED_SESSION = "NOT EXISTS (SELECT 1 FROM revoked_sessions r WHERE r.session_id = v.session_id)"

# Lock the batch's existing keys in one order, so that two batches never wait for each other in a cycle.
_LOCK_KEYS = 'SELECT 1 FROM await_keys WHERE key_id = ANY($1::text[]) ORDER BY key_id COLLATE "C" FOR UPDATE'

# First writer wins: a pending, unrevoked key takes the terminal. $4 holds each item's notification
# payload after its sequence number, which only the database knows.
_RESOLVE_UPDATE = f"""
WITH v AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS v(key_id, terminal, session_id, note)
), u AS (
    UPDATE await_keys k
    SET terminal_json = v.terminal, resolved_at_ms = $5, resolution_seq = nextval('resolution_seq')
    FROM v
    WHERE k.key_id = v.key_id AND k.terminal_json IS NULL AND k.revoked_at_ms IS NULL AND {_NO_REVOKED_SESSION}
    RETURNING k.key_id, k.resolution_seq, v.note
)
SELECT key_id, resolution_seq, pg_notify('{CHANNEL}', '{{"q":' || resolution_seq || note) FROM u
"""

# A resolution that arrives before the key was recorded is kept: the key is inserted with it.
_RESOLVE_INSERT = f"""
WITH v AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
        AS v(key_id, scope_json, wait_json, session_id, terminal, note)
), i AS (
    INSERT INTO await_keys AS k (key_id, scope_json, wait_json, session_id, created_at_ms, terminal_json,
                                 resolved_at_ms, resolution_seq)
    SELECT v.key_id, v.scope_json, v.wait_json, v.session_id, $7, v.terminal, $7, nextval('resolution_seq')
    FROM v WHERE {_NO_REVOKED_SESSION}
    ORDER BY v.key_id COLLATE "C"
    ON CONFLICT (key_id) DO NOTHING
    RETURNING k.key_id, k.resolution_seq
)
SELECT i.key_id, i.resolution_seq, pg_notify('{CHANNEL}', '{{"q":' || i.resolution_seq || v.note)
FROM i JOIN v ON v.key_id = i.key_id
"""

_RESOLVE_READ = """
SELECT v.key_id, k.key_id IS NOT NULL, k.terminal_json, k.resolution_seq, k.revoked_at_ms IS NOT NULL,
       EXISTS (SELECT 1 FROM revoked_sessions r WHERE r.session_id = v.session_id)
FROM unnest($1::text[], $2::text[]) AS v(key_id, session_id)
LEFT JOIN await_keys k ON k.key_id = v.key_id
"""

# Each due deadline is claimed by one replica (SKIP LOCKED) and rechecked under its row lock.
_FIRE_DUE = f"""
WITH due AS (
    SELECT key_id, session_id, revoked_at_ms IS NULL
           AND NOT EXISTS (SELECT 1 FROM revoked_sessions r WHERE r.session_id = a.session_id) AS usable
    FROM await_keys a
    WHERE terminal_json IS NULL AND deadline_ms IS NOT NULL AND deadline_ms <= $1
    ORDER BY deadline_ms
    LIMIT $2
    FOR UPDATE SKIP LOCKED
), fired AS (
    UPDATE await_keys k
    SET terminal_json = $3, resolved_at_ms = $1, resolution_seq = nextval('resolution_seq')
    FROM due
    WHERE k.key_id = due.key_id AND due.usable AND k.terminal_json IS NULL AND k.revoked_at_ms IS NULL
    RETURNING k.key_id, k.resolution_seq
), forgotten AS (
    UPDATE await_keys k SET deadline_ms = NULL
    FROM due
    WHERE k.key_id = due.key_id AND NOT due.usable
)
SELECT key_id, resolution_seq,
       pg_notify('{CHANNEL}', '{{"q":' || resolution_seq || ',"t":"r","k":' || to_json(key_id)::text || $4)
FROM fired
ORDER BY resolution_seq
"""

_CLAIM_INSERT = f"""
INSERT INTO effect_journal (scope_json, replay_key, seq, envelope_hash, kind, envelope_pb, status, lease_owner,
                            lease_token, lease_expires_at_ms, due_at_ms, created_at_ms, updated_at_ms)
SELECT $1, $2, COALESCE(MAX(seq), 0) + 1, $3, $4, $5, 'in_progress', $6, $7, $8, $9, $10, $10
FROM effect_journal WHERE scope_json = $1
ON CONFLICT (scope_json, replay_key) DO NOTHING
RETURNING {_EFFECT_COLUMNS}
"""


def _effect_from(r: Any) -> EffectRow:
    return EffectRow(
        scope_json=r[0],
        replay_key=r[1],
        seq=int(r[2]),
        envelope_hash=r[3],
        kind=r[4],
        envelope_pb=bytes(r[5]),
        status=r[6],
        outcome_pb=None if r[7] is None else bytes(r[7]),
        error_json=r[8],
        lease_owner=r[9],
        lease_token=r[10],
        lease_expires_at_ms=int(r[11]),
        due_at_ms=None if r[12] is None else int(r[12]),
        created_at_ms=int(r[13]),
        updated_at_ms=int(r[14]),
    )


def _signing_key(r: Any) -> SigningKeyRow:
    return SigningKeyRow(kid=r[0], secret=bytes(r[1]), state=r[2], created_at_ms=int(r[3]))


async def _all_signing_keys(conn: Any) -> list[SigningKeyRow]:
    rows = await conn.fetch(
        'SELECT kid, secret, state, created_at_ms FROM signing_keys ORDER BY created_at_ms, kid COLLATE "C"'
    )
    return [_signing_key(r) for r in rows]


class _Retry(Exception):
    """Run the transaction again (a race another transaction won while this one looked)."""


# Errors after which the whole transaction is simply run again.
_RUN_AGAIN: tuple[type[BaseException], ...] = (_Retry, asyncpg.DeadlockDetectedError, asyncpg.SerializationError)


class PostgresStore:
    """`Store` on PostgreSQL, shared by any number of effectd processes."""

    shared = True
    deadline_poll_s = 1.0
    listener_ping_s = 5.0
    """How often the listener connection is checked when no notification shows it alive."""

    def __init__(self, url: str) -> None:
        self._options = _parse_url(url)
        self._origin = secrets.token_hex(8)
        """Marks this store's notifications, so that it does not report its own changes back."""
        self._pool: Any = None
        self._schema_name = ""
        self._listener: StoreListener | None = None
        self._listen_conn: Any = None
        self._listen_lost: asyncio.Event | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._closing = False
        self._resync_payload = ""
        self._timeout_note = ""
        self._tail = ""

    # -- lifecycle ---------------------------------------------------------------------------
    def set_listener(self, listener: StoreListener) -> None:
        self._listener = listener

    @property
    def listener_backend_pid(self) -> int | None:
        """The server process id of the listener connection (diagnostics and tests)."""
        conn = self._listen_conn
        if conn is None or conn.is_closed():
            return None
        return int(conn.get_server_pid())

    def _server_settings(self, role: str) -> dict[str, str]:
        settings = {
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
        self._tail = "," + _dumps({"d": self._schema_name, "o": self._origin})[1:]
        self._resync_payload = '{"t":"x"' + self._tail
        self._timeout_note = ',"j":' + _dumps(TIMEOUT_JSON) + self._tail

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
                self._emit(ListenerResumed())
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
        event = self._decode(payload)
        if event is not None:
            self._emit(event)

    def _decode(self, payload: str) -> StoreEvent | None:
        try:
            data = json.loads(payload)
            if data.get("d") != self._schema_name or data.get("o") == self._origin:
                return None
            kind = data["t"]
            if kind == "r":
                return TerminalRecorded(str(data["k"]), data.get("j"), int(data["q"]))
            if kind == "k":
                return KeyRevokedEvent(str(data["k"]))
            if kind == "s":
                return SessionRevokedEvent(str(data["s"]))
            if kind == "g":
                return KeyringChanged()
            if kind == "e":
                return EffectFinished(str(data["c"]), str(data["r"]))
            if kind == "x":
                return ListenerResumed()
        except (ValueError, KeyError, TypeError, AttributeError):
            pass
        log.warning("ignoring a malformed notification on %s: %.200s", CHANNEL, payload)
        return None

    def _emit(self, event: StoreEvent) -> None:
        listener = self._listener
        if listener is None:
            return
        try:
            listener(event)
        except Exception:
            log.exception("the store listener failed on %s", event)

    def _payload(self, body: dict[str, str]) -> str:
        """A notification; one that does not fit says "re-read everything" instead."""
        payload = _dumps(body)[:-1] + self._tail
        return payload if _fits(payload) else self._resync_payload

    def _terminal_note(self, key_id: str, terminal_json: str) -> str:
        """A terminal's notification after its sequence number: `{"q":<seq>` + this."""
        note = "," + _dumps({"t": "r", "k": key_id, "j": terminal_json})[1:-1] + self._tail
        if _fits(note + '{"q":12345678901234567890'):
            return note
        note = "," + _dumps({"t": "r", "k": key_id, "j": None})[1:-1] + self._tail
        if _fits(note + '{"q":12345678901234567890'):
            return note
        return ',"t":"x"' + self._tail  # read as "re-read everything"

    # -- running statements ------------------------------------------------------------------
    async def _run(
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

    # -- keyring -----------------------------------------------------------------------------
    async def signing_keys(self) -> list[SigningKeyRow]:
        return await self._run("signing_keys", _all_signing_keys)

    async def ensure_signing_key(self, candidate: SigningKeyRow) -> list[SigningKeyRow]:
        payload = self._payload({"t": "g"})

        async def run(conn: Any) -> list[SigningKeyRow]:
            # The unique index on the active key settles two replicas starting at once.
            await conn.execute(
                "WITH i AS (INSERT INTO signing_keys (kid, secret, state, created_at_ms)"
                " VALUES ($1, $2, 'active', $3) ON CONFLICT DO NOTHING RETURNING kid)"
                f" SELECT pg_notify('{CHANNEL}', $4) FROM i",
                candidate.kid,
                candidate.secret,
                candidate.created_at_ms,
                payload,
            )
            return await _all_signing_keys(conn)

        return await self._run("ensure_signing_key", run)

    async def rotate_signing_key(self, candidate: SigningKeyRow) -> list[SigningKeyRow]:
        payload = self._payload({"t": "g"})

        async def run(conn: Any) -> list[SigningKeyRow]:
            # Rotations take turns, so each demotes the key the one before made active. (A first key that
            # ensure_signing_key commits meanwhile makes the insert a unique violation: run again.)
            await conn.execute("SELECT pg_advisory_xact_lock($1, 0)", _KEYRING_LOCK_CLASS)
            await conn.execute("UPDATE signing_keys SET state = 'verify_only' WHERE state = 'active'")
            await conn.execute(
                "INSERT INTO signing_keys (kid, secret, state, created_at_ms) VALUES ($1, $2, 'active', $3)",
                candidate.kid,
                candidate.secret,
                candidate.created_at_ms,
            )
            await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, payload)
            return await _all_signing_keys(conn)

        return await self._run("rotate_signing_key", run, transaction=True, retry_unique=True)

    async def retire_signing_key(self, kid: str, now_ms: int) -> SigningKeyRow:
        payload = self._payload({"t": "g"})

        async def run(conn: Any) -> SigningKeyRow:
            row = await conn.fetchrow(
                "SELECT kid, secret, state, created_at_ms FROM signing_keys WHERE kid = $1 FOR UPDATE", kid
            )
            if row is None:
                raise NotFoundError("signing_key_not_found", f"no signing key with kid {kid!r}")
            if row[2] == "active":
                raise ConflictError("signing_key_active", f"signing key {kid!r} is active; rotate before retiring it")
            await conn.execute(
                "UPDATE signing_keys SET state = 'retired', retired_at_ms = COALESCE(retired_at_ms, $1) WHERE kid = $2",
                now_ms,
                kid,
            )
            await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, payload)
            return SigningKeyRow(kid=row[0], secret=bytes(row[1]), state="retired", created_at_ms=int(row[3]))

        return await self._run("retire_signing_key", run, transaction=True)

    # -- await-event keys --------------------------------------------------------------------
    async def record_keys(self, rows: Sequence[KeyRow], now_ms: int) -> None:
        if not rows:
            return
        ordered = sorted(rows, key=lambda r: r.key_id)

        async def run(conn: Any) -> None:
            await conn.execute(
                "INSERT INTO await_keys (key_id, scope_json, wait_json, session_id, created_at_ms)"
                " SELECT v.key_id, v.scope_json, v.wait_json, v.session_id, $5"
                " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])"
                " AS v(key_id, scope_json, wait_json, session_id)"
                ' ORDER BY v.key_id COLLATE "C" ON CONFLICT (key_id) DO NOTHING',
                [r.key_id for r in ordered],
                [r.scope_json for r in ordered],
                [r.wait_json for r in ordered],
                [r.session_id for r in ordered],
                now_ms,
            )

        await self._run("record_keys", run)

    async def resolve(self, items: Sequence[ResolveItem], now_ms: int) -> list[ResolveResult]:
        if not items:
            return []
        # Within one call the first item of a key competes; later items of the same key get its outcome.
        first: dict[str, int] = {}
        for index, item in enumerate(items):
            first.setdefault(item.key.key_id, index)
        unique = sorted(first.values(), key=lambda i: items[i].key.key_id)
        notes = {i: self._terminal_note(items[i].key.key_id, items[i].terminal_json) for i in unique}

        async def run(conn: Any) -> dict[int, ResolveResult]:
            decided: dict[int, ResolveResult] = {}
            if len(unique) > 1:
                await conn.execute(_LOCK_KEYS, [items[i].key.key_id for i in unique])
            todo = unique
            for _ in range(_RESOLVE_ROUNDS):
                todo = await self._resolve_round(conn, items, todo, notes, now_ms, decided)
                if not todo:
                    return decided
            raise _Retry("resolve did not settle")

        decided = await self._run("resolve", run, transaction=len(unique) > 1)
        results: list[ResolveResult] = []
        for index, item in enumerate(items):
            winner = decided[first[item.key.key_id]]
            if first[item.key.key_id] == index or winner.status == "revoked":
                results.append(winner)
            else:
                results.append(ResolveResult("already_resolved", winner.terminal_json, winner.resolution_seq))
        return results

    async def _resolve_round(
        self,
        conn: Any,
        items: Sequence[ResolveItem],
        todo: list[int],
        notes: dict[int, str],
        now_ms: int,
        decided: dict[int, ResolveResult],
    ) -> list[int]:
        """One pass of update / insert-if-missing / read; returns the items still undecided."""
        keys = [items[i].key for i in todo]
        rows = await conn.fetch(
            _RESOLVE_UPDATE,
            [k.key_id for k in keys],
            [items[i].terminal_json for i in todo],
            [k.session_id for k in keys],
            [notes[i] for i in todo],
            now_ms,
        )
        accepted = {r[0]: int(r[1]) for r in rows}
        rest = []
        for i in todo:
            seq = accepted.get(items[i].key.key_id)
            if seq is None:
                rest.append(i)
            else:
                decided[i] = ResolveResult("accepted", items[i].terminal_json, seq)
        if not rest:
            return []
        keys = [items[i].key for i in rest]
        rows = await conn.fetch(
            _RESOLVE_INSERT,
            [k.key_id for k in keys],
            [k.scope_json for k in keys],
            [k.wait_json for k in keys],
            [k.session_id for k in keys],
            [items[i].terminal_json for i in rest],
            [notes[i] for i in rest],
            now_ms,
        )
        accepted = {r[0]: int(r[1]) for r in rows}
        unsettled = []
        for i in rest:
            seq = accepted.get(items[i].key.key_id)
            if seq is None:
                unsettled.append(i)
            else:
                decided[i] = ResolveResult("accepted", items[i].terminal_json, seq)
        if not unsettled:
            return []
        rows = await conn.fetch(
            _RESOLVE_READ,
            [items[i].key.key_id for i in unsettled],
            [items[i].key.session_id for i in unsettled],
        )
        states = {r[0]: r for r in rows}
        again = []
        for i in unsettled:
            found, terminal, seq, key_revoked, session_revoked = states[items[i].key.key_id][1:]
            if session_revoked or (found and key_revoked):
                decided[i] = ResolveResult("revoked", None, None)
            elif found and terminal is not None:
                decided[i] = ResolveResult("already_resolved", terminal, int(seq))
            else:
                # Pending again (its row appeared between our statements): take another pass.
                again.append(i)
        return again

    async def key_states(self, key_ids: Sequence[str]) -> dict[str, KeyState]:
        ids = list(dict.fromkeys(key_ids))
        if not ids:
            return {}

        async def run(conn: Any) -> dict[str, KeyState]:
            states: dict[str, KeyState] = {}
            for start in range(0, len(ids), _IN_CHUNK):
                for r in await conn.fetch(
                    "SELECT k.key_id, k.terminal_json, k.resolution_seq, k.deadline_ms,"
                    " k.revoked_at_ms IS NOT NULL"
                    " OR EXISTS (SELECT 1 FROM revoked_sessions r WHERE r.session_id = k.session_id)"
                    " FROM await_keys k WHERE k.key_id = ANY($1::text[])",
                    ids[start : start + _IN_CHUNK],
                ):
                    states[r[0]] = KeyState(
                        r[0],
                        r[1],
                        None if r[2] is None else int(r[2]),
                        None if r[3] is None else int(r[3]),
                        bool(r[4]),
                    )
            return states

        return await self._run("key_states", run)

    async def set_deadline(self, row: KeyRow, deadline_ms: int, now_ms: int) -> int | None:
        update = (
            "UPDATE await_keys SET deadline_ms = LEAST(COALESCE(deadline_ms, $2), $2)"
            " WHERE key_id = $1 AND terminal_json IS NULL RETURNING deadline_ms"
        )

        async def run(conn: Any) -> int | None:
            found = await conn.fetchrow(update, row.key_id, deadline_ms)
            if found is None:
                inserted = await conn.fetchrow(
                    "INSERT INTO await_keys (key_id, scope_json, wait_json, session_id, created_at_ms, deadline_ms)"
                    " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (key_id) DO NOTHING RETURNING deadline_ms",
                    row.key_id,
                    row.scope_json,
                    row.wait_json,
                    row.session_id,
                    now_ms,
                    deadline_ms,
                )
                found = inserted or await conn.fetchrow(update, row.key_id, deadline_ms)
            return None if found is None else int(found[0])

        return await self._run("set_deadline", run)

    async def pending_deadlines(self) -> list[tuple[str, int]]:
        async def run(conn: Any) -> list[tuple[str, int]]:
            rows = await conn.fetch(
                "SELECT key_id, deadline_ms FROM await_keys WHERE terminal_json IS NULL AND deadline_ms IS NOT NULL"
            )
            return [(r[0], int(r[1])) for r in rows]

        return await self._run("pending_deadlines", run)

    async def fire_due_deadlines(self, now_ms: int, limit: int) -> list[tuple[str, ResolveResult]]:
        async def run(conn: Any) -> list[tuple[str, ResolveResult]]:
            rows = await conn.fetch(_FIRE_DUE, now_ms, limit, TIMEOUT_JSON, self._timeout_note)
            return [(r[0], ResolveResult("accepted", TIMEOUT_JSON, int(r[1]))) for r in rows]

        return await self._run("fire_due_deadlines", run)

    async def revoke_key(self, row: KeyRow, now_ms: int) -> None:
        payload = self._payload({"t": "k", "k": row.key_id})

        async def run(conn: Any) -> None:
            await conn.execute(
                "WITH r AS (INSERT INTO await_keys AS k (key_id, scope_json, wait_json, session_id, created_at_ms,"
                " revoked_at_ms) VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (key_id)"
                " DO UPDATE SET revoked_at_ms = COALESCE(k.revoked_at_ms, EXCLUDED.revoked_at_ms) RETURNING 1)"
                f" SELECT pg_notify('{CHANNEL}', $6) FROM r",
                row.key_id,
                row.scope_json,
                row.wait_json,
                row.session_id,
                now_ms,
                payload,
            )

        await self._run("revoke_key", run)

    async def revoke_session(self, session_id: str, now_ms: int) -> None:
        payload = self._payload({"t": "s", "s": session_id})

        async def run(conn: Any) -> None:
            await conn.execute(
                "WITH r AS (INSERT INTO revoked_sessions (session_id, revoked_at_ms) VALUES ($1, $2)"
                f" ON CONFLICT (session_id) DO NOTHING) SELECT pg_notify('{CHANNEL}', $3)",
                session_id,
                now_ms,
                payload,
            )

        await self._run("revoke_session", run)

    async def revoked_sessions(self) -> set[str]:
        async def run(conn: Any) -> set[str]:
            return {r[0] for r in await conn.fetch("SELECT session_id FROM revoked_sessions")}

        return await self._run("revoked_sessions", run)

    async def pending_keys_of_session(self, session_id: str) -> list[KeyRow]:
        async def run(conn: Any) -> list[KeyRow]:
            rows = await conn.fetch(
                "SELECT key_id, scope_json, wait_json, session_id FROM await_keys"
                " WHERE session_id = $1 AND terminal_json IS NULL AND revoked_at_ms IS NULL"
                ' ORDER BY created_at_ms, key_id COLLATE "C"',
                session_id,
            )
            return [KeyRow(r[0], r[1], r[2], r[3]) for r in rows]

        return await self._run("pending_keys_of_session", run)

    # -- the effect journal ------------------------------------------------------------------
    async def claim_effect(self, claim: EffectClaim, now_ms: int) -> ClaimResult:
        owner, token, expires = (
            (claim.owner, claim.lease_token, now_ms + claim.lease_ttl_ms) if claim.exclusive else (None, None, 0)
        )
        new_status: ClaimStatus = "claimed" if claim.exclusive else "shared"

        async def insert(conn: Any) -> EffectRow | None:
            """A new row with the scope's next seq (MAX + 1); None when the row exists."""
            created = await conn.fetchrow(
                _CLAIM_INSERT,
                claim.scope_json,
                claim.replay_key,
                claim.envelope_hash,
                claim.kind,
                claim.envelope_pb,
                owner,
                token,
                expires,
                claim.due_at_ms,
                now_ms,
            )
            return None if created is None else _effect_from(created)

        async def insert_alone(conn: Any) -> tuple[bool, EffectRow | None]:
            try:
                return False, await insert(conn)
            except asyncpg.UniqueViolationError:
                # A concurrent claim in this scope took the same seq.
                return True, None

        async def insert_in_turn(conn: Any) -> EffectRow | None:
            # New rows of one scope take turns (until commit), so each reads the seq the one before wrote.
            await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", _SCOPE_LOCK_CLASS, claim.scope_json)
            return await insert(conn)

        if not claim.strict:
            contended, created = await self._run("claim_effect", insert_alone)
            if contended:
                created = await self._run("claim_effect", insert_in_turn, transaction=True, retry_unique=True)
            if created is not None:
                return ClaimResult(new_status, created)
            # The row exists. Recorded rows and hash conflicts never change: answer them without a lock.
            existing = await self.get_effect(claim.scope_json, claim.replay_key)
            if existing is not None:
                answer = _settled_claim(claim, existing)
                if answer is not None:
                    return answer

        async def run(conn: Any) -> ClaimResult:
            found = await conn.fetchrow(
                f"SELECT {_EFFECT_COLUMNS} FROM effect_journal WHERE scope_json = $1 AND replay_key = $2 FOR UPDATE",
                claim.scope_json,
                claim.replay_key,
            )
            if found is None:
                if claim.strict:
                    return ClaimResult("missing", None)
                created = await insert_in_turn(conn)
                if created is None:
                    raise _Retry("the journal row appeared meanwhile")
                return ClaimResult(new_status, created)
            row = _effect_from(found)
            answer = _settled_claim(claim, row)
            if answer is not None:
                return answer
            if row.lease_expires_at_ms > now_ms and row.lease_token is not None:
                return ClaimResult("busy", row)
            taken = await conn.fetchrow(
                "UPDATE effect_journal SET lease_owner = $1, lease_token = $2, lease_expires_at_ms = $3,"
                f" updated_at_ms = $4 WHERE scope_json = $5 AND replay_key = $6 RETURNING {_EFFECT_COLUMNS}",
                claim.owner,
                claim.lease_token,
                now_ms + claim.lease_ttl_ms,
                now_ms,
                claim.scope_json,
                claim.replay_key,
            )
            return ClaimResult("claimed", _effect_from(taken))

        return await self._run("claim_effect", run, transaction=True, retry_unique=True)

    async def finish_effect(
        self,
        scope_json: str,
        replay_key: str,
        lease_token: str | None,
        outcome_pb: bytes | None,
        error_json: str | None,
        now_ms: int,
    ) -> EffectRow | None:
        status = "completed" if outcome_pb is not None else "failed"
        payload = self._payload({"t": "e", "c": scope_json, "r": replay_key})
        guard = " AND lease_token = $8" if lease_token is not None else ""
        params: tuple[Any, ...] = (status, outcome_pb, error_json, now_ms, scope_json, replay_key, payload)
        if lease_token is not None:
            params += (lease_token,)

        async def run(conn: Any) -> EffectRow | None:
            updated = await conn.fetchrow(
                "WITH u AS (UPDATE effect_journal SET status = $1, outcome_pb = $2, error_json = $3,"
                " lease_owner = NULL, lease_token = NULL, lease_expires_at_ms = 0, updated_at_ms = $4"
                " WHERE scope_json = $5 AND replay_key = $6 AND status = 'in_progress'"
                + guard
                + f" RETURNING {_EFFECT_COLUMNS})"
                f" SELECT u.*, pg_notify('{CHANNEL}', $7) FROM u",
                *params,
            )
            if updated is not None:
                return _effect_from(updated)
            if lease_token is not None:
                return None
            # Another executor finished first: its record is the answer.
            existing = await conn.fetchrow(
                f"SELECT {_EFFECT_COLUMNS} FROM effect_journal WHERE scope_json = $1 AND replay_key = $2",
                scope_json,
                replay_key,
            )
            return None if existing is None else _effect_from(existing)

        return await self._run("finish_effect", run)

    async def release_effect(self, scope_json: str, replay_key: str, lease_token: str, now_ms: int) -> bool:
        payload = self._payload({"t": "e", "c": scope_json, "r": replay_key})

        async def run(conn: Any) -> bool:
            rows = await conn.fetch(
                "WITH u AS (UPDATE effect_journal SET lease_owner = NULL, lease_token = NULL,"
                " lease_expires_at_ms = 0, updated_at_ms = $1 WHERE scope_json = $2 AND replay_key = $3"
                " AND lease_token = $4 AND status = 'in_progress' RETURNING 1)"
                f" SELECT pg_notify('{CHANNEL}', $5) FROM u",
                now_ms,
                scope_json,
                replay_key,
                lease_token,
                payload,
            )
            return len(rows) == 1

        return await self._run("release_effect", run)

    async def renew_effect(
        self, scope_json: str, replay_key: str, lease_token: str, ttl_ms: int, now_ms: int
    ) -> int | None:
        expires = now_ms + ttl_ms

        async def run(conn: Any) -> int | None:
            changed = await conn.fetchrow(
                "UPDATE effect_journal SET lease_expires_at_ms = $1, updated_at_ms = $2"
                " WHERE scope_json = $3 AND replay_key = $4 AND lease_token = $5 AND status = 'in_progress'"
                " AND lease_expires_at_ms > $2 RETURNING 1",
                expires,
                now_ms,
                scope_json,
                replay_key,
                lease_token,
            )
            return None if changed is None else expires

        return await self._run("renew_effect", run)

    async def get_effect(self, scope_json: str, replay_key: str) -> EffectRow | None:
        async def run(conn: Any) -> EffectRow | None:
            found = await conn.fetchrow(
                f"SELECT {_EFFECT_COLUMNS} FROM effect_journal WHERE scope_json = $1 AND replay_key = $2",
                scope_json,
                replay_key,
            )
            return None if found is None else _effect_from(found)

        return await self._run("get_effect", run)

    async def list_effects(self, scope_json: str, after_seq: int, limit: int) -> list[EffectRow]:
        async def run(conn: Any) -> list[EffectRow]:
            rows = await conn.fetch(
                f"SELECT {_EFFECT_COLUMNS} FROM effect_journal WHERE scope_json = $1 AND seq > $2"
                " ORDER BY seq LIMIT $3",
                scope_json,
                after_seq,
                limit,
            )
            return [_effect_from(r) for r in rows]

        return await self._run("list_effects", run)


def _settled_claim(claim: EffectClaim, row: EffectRow) -> ClaimResult | None:
    """The answer to a claim on an existing row when no lease changes hands, else None."""
    if row.envelope_hash != claim.envelope_hash:
        return ClaimResult("conflict", row)
    if row.status != "in_progress":
        return ClaimResult("recorded", row)
    if not claim.exclusive:
        return ClaimResult("shared", row)
    return None


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
