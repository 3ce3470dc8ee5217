"""The embedded store: one SQLite file in WAL mode.

One writer thread owns the write connection and groups concurrent writes into shared transactions
(group commit): each request runs in its own savepoint, the batch commits once (one fsync), and only
then are the callers answered. Reads run on a second connection in their own thread, so they never
wait behind a commit.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import fcntl
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, TypeVar

from effectd._errors import ConflictError, EffectdError, NotFoundError

from effectd_server.store._migrations import migrations_for
from effectd_server.store._protocol import (
    ClaimResult,
    EffectClaim,
    EffectRow,
    KeyRow,
    KeyState,
    ResolveItem,
    ResolveResult,
    SigningKeyRow,
    StoreListener,
    StoreUnavailableError,
)

__all__ = ["SqliteStore"]

log = logging.getLogger("effectd.store.sqlite")

T = TypeVar("T")
_BATCH_LIMIT = 512
TIMEOUT_JSON = '{"status":"timeout"}'


def _lock_exclusively(path: str) -> IO[bytes]:
    """One server per SQLite file: its sequence numbers and wake-ups live in that process.

    flock on the database file itself: SQLite's own locks are POSIX record locks, which flock does not touch.
    """
    handle = open(path, "ab")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise OSError(
            f"another effectd is serving {path}; one SQLite file serves one server (use PostgreSQL for replicas)"
        ) from None
    return handle


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL: a committed transaction survives power loss, not only a killed process.
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


class _GroupCommitter:
    """Group commit with the statements on the event loop and only the COMMIT (the fsync) in a thread.

    Writes submitted while a commit is in flight form the next batch, each in its own savepoint, so one
    bad item does not fail the others. Running the statements on the loop avoids handing the GIL back
    and forth for every statement; only the slow, GIL-free fsync leaves it.
    """

    def __init__(self, conn: sqlite3.Connection, on_rollback: Callable[[sqlite3.Connection], None]) -> None:
        self._conn = conn
        self._on_rollback = on_rollback
        self._pending: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]] = []
        self._flushing: asyncio.Task[None] | None = None
        self._committer = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="effectd-sqlite-commit")

    def submit(self, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._pending.append((fn, future))
        if self._flushing is None:
            self._flushing = loop.create_task(self._flush())
        return future

    async def _flush(self) -> None:
        try:
            await asyncio.sleep(0)  # let the writes of this loop iteration join the batch
            while self._pending:
                batch, self._pending = self._pending[:_BATCH_LIMIT], self._pending[_BATCH_LIMIT:]
                results = await self._run_batch(batch)
                for (_, future), (ok, value) in zip(batch, results, strict=True):
                    if future.done():
                        continue
                    if ok:
                        future.set_result(value)
                    else:
                        future.set_exception(value)
        finally:
            self._flushing = None
            if self._pending:  # a failure above left work behind: fail it rather than strand it
                for _, future in self._pending:
                    if not future.done():
                        future.set_exception(StoreUnavailableError("the sqlite writer stopped"))
                self._pending = []

    async def _run_batch(self, batch: list[tuple[Callable[[sqlite3.Connection], Any], Any]]) -> list[tuple[bool, Any]]:
        conn = self._conn
        results: list[tuple[bool, Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            log.error("sqlite begin failed: %s", exc)
            return [(False, StoreUnavailableError(f"sqlite begin failed: {exc}"))] * len(batch)
        for fn, _ in batch:
            conn.execute("SAVEPOINT item")
            try:
                value = fn(conn)
            except EffectdError as exc:
                conn.execute("ROLLBACK TO item")
                conn.execute("RELEASE item")
                results.append((False, exc))
                continue
            except sqlite3.Error as exc:
                log.error("sqlite write failed: %s", exc)
                conn.execute("ROLLBACK TO item")
                conn.execute("RELEASE item")
                results.append((False, StoreUnavailableError(f"sqlite write failed: {exc}")))
                continue
            conn.execute("RELEASE item")
            results.append((True, value))
        loop = asyncio.get_running_loop()
        try:
            # Shielded: a cancelled caller must not leave the connection mid-commit.
            await asyncio.shield(loop.run_in_executor(self._committer, conn.execute, "COMMIT"))
        except sqlite3.Error as exc:
            log.error("sqlite commit failed: %s", exc)
            try:
                conn.execute("ROLLBACK")
                self._on_rollback(conn)  # state kept beside the database must match it again
            except sqlite3.Error:
                pass
            return [(False, StoreUnavailableError(f"sqlite commit failed: {exc}"))] * len(batch)
        return results

    async def stop(self) -> None:
        while self._flushing is not None:
            await asyncio.shield(self._flushing)
        self._committer.shutdown(wait=True)
        self._conn.close()


def _signing_key(row: sqlite3.Row | tuple[Any, ...]) -> SigningKeyRow:
    return SigningKeyRow(kid=row[0], secret=bytes(row[1]), state=row[2], created_at_ms=row[3])


def _all_signing_keys(conn: sqlite3.Connection) -> list[SigningKeyRow]:
    rows = conn.execute(
        "SELECT kid, secret, state, created_at_ms FROM signing_keys ORDER BY created_at_ms, kid"
    ).fetchall()
    return [_signing_key(r) for r in rows]


class SqliteStore:
    """`Store` on one SQLite file, served by one process (the file is locked)."""

    shared = False
    deadline_poll_s = 30.0

    def set_listener(self, listener: StoreListener) -> None:
        """One process writes this file, so there are no foreign changes to report."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._writer: _GroupCommitter | None = None
        self._reader: sqlite3.Connection | None = None
        # Owned by the writer thread: the next resolution sequence number.
        self._last_seq = 0
        self._lock_file: IO[bytes] | None = None
        # Owned by the writer thread: revoked sessions, so that a resolve needs no lookup for them.
        self._revoked_sessions: set[str] = set()

    # -- lifecycle ---------------------------------------------------------------------------
    async def open(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._lock_file = _lock_exclusively(self.path)
        try:
            write_conn = await asyncio.to_thread(_connect, self.path)
            await asyncio.to_thread(self._migrate, write_conn)
            read_conn = await asyncio.to_thread(_connect, self.path)
        except sqlite3.Error as exc:
            raise StoreUnavailableError(f"cannot open sqlite database {self.path}: {exc}") from exc
        self._writer = _GroupCommitter(write_conn, on_rollback=self._load_writer_state)
        # Reads run on the loop thread too: WAL readers never wait for the writer, and point reads
        # take microseconds, less than a thread hop.
        self._reader = read_conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at_ms INTEGER NOT NULL)"
            )
            applied = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
            known = migrations_for("sqlite")
            newest_known = known[-1].version if known else 0
            if applied and max(applied) > newest_known:
                raise RuntimeError(
                    f"database {self.path} has schema version {max(applied)}, newer than this effectd "
                    f"({newest_known}); upgrade effectd"
                )
            for migration in known:
                if migration.version in applied:
                    continue
                for statement in migration.statements():
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES (?, ?, ?)",
                    (migration.version, migration.name, int(time.time() * 1000)),
                )
            self._load_writer_state(conn)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _load_writer_state(self, conn: sqlite3.Connection) -> None:
        row = conn.execute("SELECT COALESCE(MAX(resolution_seq), 0) FROM await_keys").fetchone()
        self._last_seq = int(row[0])
        self._revoked_sessions = {r[0] for r in conn.execute("SELECT session_id FROM revoked_sessions")}

    async def close(self) -> None:
        writer, reader = self._writer, self._reader
        self._writer = self._reader = None
        if writer is not None:
            await writer.stop()
        if reader is not None:
            reader.close()
        if self._lock_file is not None:
            self._lock_file.close()  # closing the descriptor releases the lock
            self._lock_file = None

    def _write(self, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        if self._writer is None:
            raise StoreUnavailableError("the store is closed")
        return self._writer.submit(fn)

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._reader is None:
            raise StoreUnavailableError("the store is closed")
        try:
            return fn(self._reader)
        except sqlite3.Error as exc:
            log.error("sqlite read failed: %s", exc)
            raise StoreUnavailableError(f"sqlite read failed: {exc}") from exc

    # -- keyring -----------------------------------------------------------------------------
    async def signing_keys(self) -> list[SigningKeyRow]:
        return await self._read(_all_signing_keys)

    async def ensure_signing_key(self, candidate: SigningKeyRow) -> list[SigningKeyRow]:
        def run(conn: sqlite3.Connection) -> list[SigningKeyRow]:
            active = conn.execute("SELECT 1 FROM signing_keys WHERE state = 'active'").fetchone()
            if active is None:
                conn.execute(
                    "INSERT INTO signing_keys (kid, secret, state, created_at_ms) VALUES (?, ?, 'active', ?)",
                    (candidate.kid, candidate.secret, candidate.created_at_ms),
                )
            return _all_signing_keys(conn)

        return await self._write(run)

    async def rotate_signing_key(self, candidate: SigningKeyRow) -> list[SigningKeyRow]:
        def run(conn: sqlite3.Connection) -> list[SigningKeyRow]:
            conn.execute("UPDATE signing_keys SET state = 'verify_only' WHERE state = 'active'")
            conn.execute(
                "INSERT INTO signing_keys (kid, secret, state, created_at_ms) VALUES (?, ?, 'active', ?)",
                (candidate.kid, candidate.secret, candidate.created_at_ms),
            )
            return _all_signing_keys(conn)

        return await self._write(run)

    async def retire_signing_key(self, kid: str, now_ms: int) -> SigningKeyRow:
        def run(conn: sqlite3.Connection) -> SigningKeyRow:
            row = conn.execute(
                "SELECT kid, secret, state, created_at_ms FROM signing_keys WHERE kid = ?", (kid,)
            ).fetchone()
            if row is None:
                raise NotFoundError("signing_key_not_found", f"no signing key with kid {kid!r}")
            if row[2] == "active":
                raise ConflictError("signing_key_active", f"signing key {kid!r} is active; rotate before retiring it")
            conn.execute(
                "UPDATE signing_keys SET state = 'retired', retired_at_ms = COALESCE(retired_at_ms, ?) WHERE kid = ?",
                (now_ms, kid),
            )
            return SigningKeyRow(kid=row[0], secret=bytes(row[1]), state="retired", created_at_ms=row[3])

        return await self._write(run)

    # -- await-event keys --------------------------------------------------------------------
    async def record_keys(self, rows: Sequence[KeyRow], now_ms: int) -> None:
        params = [(r.key_id, r.scope_json, r.wait_json, r.session_id, now_ms) for r in rows]

        def run(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT OR IGNORE INTO await_keys (key_id, scope_json, wait_json, session_id, created_at_ms)"
                " VALUES (?, ?, ?, ?, ?)",
                params,
            )

        await self._write(run)

    async def resolve(self, items: Sequence[ResolveItem], now_ms: int) -> list[ResolveResult]:
        def run(conn: sqlite3.Connection) -> list[ResolveResult]:
            return [self._resolve_one(conn, item, now_ms) for item in items]

        return await self._write(run)

    def _resolve_one(self, conn: sqlite3.Connection, item: ResolveItem, now_ms: int) -> ResolveResult:
        key = item.key
        if key.session_id is not None and key.session_id in self._revoked_sessions:
            return ResolveResult("revoked", None, None)
        # The common case in one statement: a pending, unrevoked key takes this terminal.
        seq = self._last_seq + 1
        updated = conn.execute(
            "UPDATE await_keys SET terminal_json = ?, resolved_at_ms = ?, resolution_seq = ?"
            " WHERE key_id = ? AND terminal_json IS NULL AND revoked_at_ms IS NULL",
            (item.terminal_json, now_ms, seq, key.key_id),
        ).rowcount
        if updated:
            self._last_seq = seq
            return ResolveResult("accepted", item.terminal_json, seq)
        row = conn.execute(
            "SELECT terminal_json, resolution_seq, revoked_at_ms FROM await_keys WHERE key_id = ?", (key.key_id,)
        ).fetchone()
        if row is None:
            self._last_seq = seq
            conn.execute(
                "INSERT INTO await_keys (key_id, scope_json, wait_json, session_id, created_at_ms,"
                " terminal_json, resolved_at_ms, resolution_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (key.key_id, key.scope_json, key.wait_json, key.session_id, now_ms, item.terminal_json, now_ms, seq),
            )
            return ResolveResult("accepted", item.terminal_json, seq)
        if row[2] is not None:
            return ResolveResult("revoked", None, None)
        return ResolveResult("already_resolved", row[0], row[1])

    async def key_states(self, key_ids: Sequence[str]) -> dict[str, KeyState]:
        ids = list(key_ids)

        def run(conn: sqlite3.Connection) -> dict[str, KeyState]:
            revoked_sessions = {r[0] for r in conn.execute("SELECT session_id FROM revoked_sessions")}
            states: dict[str, KeyState] = {}
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for r in conn.execute(
                    "SELECT key_id, terminal_json, resolution_seq, deadline_ms, revoked_at_ms, session_id"
                    f" FROM await_keys WHERE key_id IN ({marks})",
                    chunk,
                ):
                    revoked = r[4] is not None or (r[5] is not None and r[5] in revoked_sessions)
                    states[r[0]] = KeyState(r[0], r[1], r[2], r[3], revoked)
            return states

        return await self._read(run)

    async def set_deadline(self, row: KeyRow, deadline_ms: int, now_ms: int) -> int | None:
        def run(conn: sqlite3.Connection) -> int | None:
            conn.execute(
                "INSERT OR IGNORE INTO await_keys (key_id, scope_json, wait_json, session_id, created_at_ms)"
                " VALUES (?, ?, ?, ?, ?)",
                (row.key_id, row.scope_json, row.wait_json, row.session_id, now_ms),
            )
            conn.execute(
                "UPDATE await_keys SET deadline_ms = MIN(COALESCE(deadline_ms, ?), ?)"
                " WHERE key_id = ? AND terminal_json IS NULL",
                (deadline_ms, deadline_ms, row.key_id),
            )
            found = conn.execute(
                "SELECT deadline_ms FROM await_keys WHERE key_id = ? AND terminal_json IS NULL", (row.key_id,)
            ).fetchone()
            return None if found is None else int(found[0])

        return await self._write(run)

    async def pending_deadlines(self) -> list[tuple[str, int]]:
        def run(conn: sqlite3.Connection) -> list[tuple[str, int]]:
            return [
                (r[0], int(r[1]))
                for r in conn.execute(
                    "SELECT key_id, deadline_ms FROM await_keys WHERE terminal_json IS NULL AND deadline_ms IS NOT NULL"
                )
            ]

        return await self._read(run)

    async def fire_due_deadlines(self, now_ms: int, limit: int) -> list[tuple[str, ResolveResult]]:
        def run(conn: sqlite3.Connection) -> list[tuple[str, ResolveResult]]:
            due = conn.execute(
                "SELECT key_id, scope_json, wait_json, session_id FROM await_keys"
                " WHERE terminal_json IS NULL AND deadline_ms IS NOT NULL AND deadline_ms <= ?"
                " ORDER BY deadline_ms LIMIT ?",
                (now_ms, limit),
            ).fetchall()
            fired: list[tuple[str, ResolveResult]] = []
            for r in due:
                result = self._resolve_one(conn, ResolveItem(KeyRow(r[0], r[1], r[2], r[3]), TIMEOUT_JSON), now_ms)
                if result.status == "accepted":
                    fired.append((r[0], result))
                elif result.status == "revoked":
                    # A revoked key never fires; forget its deadline.
                    conn.execute("UPDATE await_keys SET deadline_ms = NULL WHERE key_id = ?", (r[0],))
            return fired

        return await self._write(run)

    async def revoke_key(self, row: KeyRow, now_ms: int) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR IGNORE INTO await_keys (key_id, scope_json, wait_json, session_id, created_at_ms)"
                " VALUES (?, ?, ?, ?, ?)",
                (row.key_id, row.scope_json, row.wait_json, row.session_id, now_ms),
            )
            conn.execute(
                "UPDATE await_keys SET revoked_at_ms = COALESCE(revoked_at_ms, ?) WHERE key_id = ?",
                (now_ms, row.key_id),
            )

        await self._write(run)

    async def revoke_session(self, session_id: str, now_ms: int) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR IGNORE INTO revoked_sessions (session_id, revoked_at_ms) VALUES (?, ?)",
                (session_id, now_ms),
            )
            # Seen by resolves of later transactions; a batch whose commit fails reloads it (see _GroupCommitter).
            self._revoked_sessions.add(session_id)

        await self._write(run)

    async def revoked_sessions(self) -> set[str]:
        def run(conn: sqlite3.Connection) -> set[str]:
            return {r[0] for r in conn.execute("SELECT session_id FROM revoked_sessions")}

        return await self._read(run)

    async def pending_keys_of_session(self, session_id: str) -> list[KeyRow]:
        def run(conn: sqlite3.Connection) -> list[KeyRow]:
            return [
                KeyRow(r[0], r[1], r[2], r[3])
                for r in conn.execute(
                    "SELECT key_id, scope_json, wait_json, session_id FROM await_keys"
                    " WHERE session_id = ? AND terminal_json IS NULL AND revoked_at_ms IS NULL",
                    (session_id,),
                )
            ]

        return await self._read(run)

    # -- the effect journal ------------------------------------------------------------------
    async def claim_effect(self, claim: EffectClaim, now_ms: int) -> ClaimResult:
        def run(conn: sqlite3.Connection) -> ClaimResult:
            row = _effect_row(conn, claim.scope_json, claim.replay_key)
            if row is None:
                if claim.strict:
                    return ClaimResult("missing", None)
                seq = conn.execute(
                    "SELECT COALESCE(MAX(seq), 0) + 1 FROM effect_journal WHERE scope_json = ?", (claim.scope_json,)
                ).fetchone()[0]
                owner, token, expires = (
                    (claim.owner, claim.lease_token, now_ms + claim.lease_ttl_ms)
                    if claim.exclusive
                    else (None, None, 0)
                )
                conn.execute(
                    "INSERT INTO effect_journal (scope_json, replay_key, seq, envelope_hash, kind, envelope_pb,"
                    " status, lease_owner, lease_token, lease_expires_at_ms, due_at_ms, created_at_ms, updated_at_ms)"
                    " VALUES (?, ?, ?, ?, ?, ?, 'in_progress', ?, ?, ?, ?, ?, ?)",
                    (
                        claim.scope_json,
                        claim.replay_key,
                        seq,
                        claim.envelope_hash,
                        claim.kind,
                        claim.envelope_pb,
                        owner,
                        token,
                        expires,
                        claim.due_at_ms,
                        now_ms,
                        now_ms,
                    ),
                )
                created = _effect_row(conn, claim.scope_json, claim.replay_key)
                return ClaimResult("claimed" if claim.exclusive else "shared", created)
            if row.envelope_hash != claim.envelope_hash:
                return ClaimResult("conflict", row)
            if row.status != "in_progress":
                return ClaimResult("recorded", row)
            if not claim.exclusive:
                return ClaimResult("shared", row)
            if row.lease_expires_at_ms > now_ms and row.lease_token is not None:
                return ClaimResult("busy", row)
            conn.execute(
                "UPDATE effect_journal SET lease_owner = ?, lease_token = ?, lease_expires_at_ms = ?,"
                " updated_at_ms = ? WHERE scope_json = ? AND replay_key = ?",
                (
                    claim.owner,
                    claim.lease_token,
                    now_ms + claim.lease_ttl_ms,
                    now_ms,
                    claim.scope_json,
                    claim.replay_key,
                ),
            )
            return ClaimResult("claimed", _effect_row(conn, claim.scope_json, claim.replay_key))

        return await self._write(run)

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

        def run(conn: sqlite3.Connection) -> EffectRow | None:
            guard = " AND lease_token = ?" if lease_token is not None else ""
            params: tuple[Any, ...] = (status, outcome_pb, error_json, now_ms, scope_json, replay_key)
            if lease_token is not None:
                params += (lease_token,)
            updated = conn.execute(
                "UPDATE effect_journal SET status = ?, outcome_pb = ?, error_json = ?, lease_owner = NULL,"
                " lease_token = NULL, lease_expires_at_ms = 0, updated_at_ms = ?"
                " WHERE scope_json = ? AND replay_key = ? AND status = 'in_progress'" + guard,
                params,
            ).rowcount
            row = _effect_row(conn, scope_json, replay_key)
            if updated == 0 and lease_token is not None:
                return None
            return row

        return await self._write(run)

    async def release_effect(self, scope_json: str, replay_key: str, lease_token: str, now_ms: int) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            return (
                conn.execute(
                    "UPDATE effect_journal SET lease_owner = NULL, lease_token = NULL, lease_expires_at_ms = 0,"
                    " updated_at_ms = ? WHERE scope_json = ? AND replay_key = ? AND lease_token = ?"
                    " AND status = 'in_progress'",
                    (now_ms, scope_json, replay_key, lease_token),
                ).rowcount
                == 1
            )

        return await self._write(run)

    async def renew_effect(
        self, scope_json: str, replay_key: str, lease_token: str, ttl_ms: int, now_ms: int
    ) -> int | None:
        def run(conn: sqlite3.Connection) -> int | None:
            expires = now_ms + ttl_ms
            changed = conn.execute(
                "UPDATE effect_journal SET lease_expires_at_ms = ?, updated_at_ms = ?"
                " WHERE scope_json = ? AND replay_key = ? AND lease_token = ? AND status = 'in_progress'"
                " AND lease_expires_at_ms > ?",
                (expires, now_ms, scope_json, replay_key, lease_token, now_ms),
            ).rowcount
            return expires if changed == 1 else None

        return await self._write(run)

    async def get_effect(self, scope_json: str, replay_key: str) -> EffectRow | None:
        return await self._read(lambda conn: _effect_row(conn, scope_json, replay_key))

    async def list_effects(self, scope_json: str, after_seq: int, limit: int) -> list[EffectRow]:
        def run(conn: sqlite3.Connection) -> list[EffectRow]:
            rows = conn.execute(
                f"SELECT {_EFFECT_COLUMNS} FROM effect_journal WHERE scope_json = ? AND seq > ? ORDER BY seq LIMIT ?",
                (scope_json, after_seq, limit),
            ).fetchall()
            return [_effect_from(r) for r in rows]

        return await self._read(run)


_EFFECT_COLUMNS = (
    "scope_json, replay_key, seq, envelope_hash, kind, envelope_pb, status, outcome_pb, error_json, lease_owner,"
    " lease_token, lease_expires_at_ms, due_at_ms, created_at_ms, updated_at_ms"
)


def _effect_from(r: Any) -> EffectRow:
    return EffectRow(
        scope_json=r[0],
        replay_key=r[1],
        seq=r[2],
        envelope_hash=r[3],
        kind=r[4],
        envelope_pb=bytes(r[5]),
        status=r[6],
        outcome_pb=None if r[7] is None else bytes(r[7]),
        error_json=r[8],
        lease_owner=r[9],
        lease_token=r[10],
        lease_expires_at_ms=r[11],
        due_at_ms=r[12],
        created_at_ms=r[13],
        updated_at_ms=r[14],
    )


def _effect_row(conn: sqlite3.Connection, scope_json: str, replay_key: str) -> EffectRow | None:
    r = conn.execute(
        f"SELECT {_EFFECT_COLUMNS} FROM effect_journal WHERE scope_json = ? AND replay_key = ?",
        (scope_json, replay_key),
    ).fetchone()
    return None if r is None else _effect_from(r)
