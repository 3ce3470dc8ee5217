"""The embedded backend: one SQLite file in WAL mode, served by one process (the file is locked).

Writes go through a group committer on the event loop: concurrent writes share one transaction, each in
its own savepoint, the batch commits once (one fsync, in a thread), and only then are the callers
answered. Reads run inline on a second connection: WAL readers never wait for the writer.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import fcntl
import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Literal, TypeVar

from effectd._errors import EffectdError

from effectd_server.store._base import CommitObserver, StoreUnavailableError
from effectd_server.store._migrations import migrations_for

__all__ = ["SqliteBackend"]

log = logging.getLogger("effectd.store.sqlite")

T = TypeVar("T")
_BATCH_LIMIT = 512
RollbackHook = Callable[[sqlite3.Connection], None]


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


def _item_failure(exc: Exception) -> EffectdError:
    if isinstance(exc, EffectdError):
        return exc
    log.error("sqlite write failed: %s: %s", type(exc).__name__, exc)
    return StoreUnavailableError(f"sqlite write failed: {type(exc).__name__}: {exc}")


class _GroupCommitter:
    """Group commit with the statements on the event loop and only the COMMIT (the fsync) in a thread.

    Writes submitted while a commit is in flight form the next batch, each in its own savepoint, so one
    bad item does not fail the others. Whatever goes wrong, the transaction is rolled back and every
    caller of the batch is answered, so the store stays writable.
    """

    def __init__(self, conn: sqlite3.Connection, rollback_hooks: list[RollbackHook], owner: SqliteBackend) -> None:
        self._owner = owner
        self._conn = conn
        self._rollback_hooks = rollback_hooks
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
                started = time.perf_counter()
                try:
                    results = await self._run_batch(batch)
                except Exception as exc:  # never strand a caller, whatever failed
                    log.error("sqlite batch failed: %s: %s", type(exc).__name__, exc)
                    self._roll_back()
                    failure = StoreUnavailableError(f"sqlite batch failed: {type(exc).__name__}: {exc}")
                    results = [(False, failure)] * len(batch)
                observer = self._owner.commit_observer
                if observer is not None:
                    observer(time.perf_counter() - started, len(batch))
                for (_, future), (ok, value) in zip(batch, results, strict=True):
                    if future.done():
                        continue
                    if ok:
                        future.set_result(value)
                    else:
                        future.set_exception(value)
        finally:
            self._flushing = None
            if self._pending:  # cancelled (only at close): fail what is left rather than strand it
                for _, future in self._pending:
                    if not future.done():
                        future.set_exception(StoreUnavailableError("the sqlite writer stopped"))
                self._pending = []

    def _roll_back(self) -> None:
        """Undo an open transaction and reload the state kept beside the database."""
        conn = self._conn
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for hook in self._rollback_hooks:
                hook(conn)
        except sqlite3.Error as exc:
            log.error("sqlite rollback failed: %s", exc)

    async def _run_batch(self, batch: list[tuple[Callable[[sqlite3.Connection], Any], Any]]) -> list[tuple[bool, Any]]:
        conn = self._conn
        results: list[tuple[bool, Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            log.error("sqlite begin failed: %s", exc)
            self._roll_back()
            return [(False, StoreUnavailableError(f"sqlite begin failed: {exc}"))] * len(batch)
        for fn, _ in batch:
            conn.execute("SAVEPOINT item")
            try:
                value = fn(conn)
            except Exception as exc:  # any failure undoes this item only
                conn.execute("ROLLBACK TO item")
                conn.execute("RELEASE item")
                results.append((False, _item_failure(exc)))
                continue
            conn.execute("RELEASE item")
            results.append((True, value))
        loop = asyncio.get_running_loop()
        try:
            # Shielded: a cancelled caller must not leave the connection mid-commit.
            await asyncio.shield(loop.run_in_executor(self._committer, conn.execute, "COMMIT"))
        except sqlite3.Error as exc:
            log.error("sqlite commit failed: %s", exc)
            self._roll_back()
            return [(False, StoreUnavailableError(f"sqlite commit failed: {exc}"))] * len(batch)
        return results

    async def stop(self) -> None:
        while self._flushing is not None:
            await asyncio.shield(self._flushing)
        self._committer.shutdown(wait=True)
        self._conn.close()


class SqliteBackend:
    """One SQLite file: the write path (group commit) and the read connection the store parts use."""

    kind: Literal["sqlite"] = "sqlite"

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._writer: _GroupCommitter | None = None
        self._reader: sqlite3.Connection | None = None
        self._lock_file: IO[bytes] | None = None
        self._rollback_hooks: list[RollbackHook] = []
        self.commit_observer: CommitObserver | None = None
        """Told the duration and size of each group-committed batch (metrics)."""

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
        self._writer = _GroupCommitter(write_conn, self._rollback_hooks, self)
        # Reads run on the loop thread too: point reads take microseconds, less than a thread hop.
        self._reader = read_conn

    def on_rollback(self, hook: RollbackHook) -> None:
        """Run `hook(conn)` on the write connection after a rolled-back batch, so that state a part keeps
        beside the database matches it again."""
        self._rollback_hooks.append(hook)

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
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

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

    def write(self, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        """Run `fn` in the next group-committed transaction; the future resolves after the commit."""
        if self._writer is None:
            raise StoreUnavailableError("the store is closed")
        return self._writer.submit(fn)

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._reader is None:
            raise StoreUnavailableError("the store is closed")
        try:
            return fn(self._reader)
        except sqlite3.Error as exc:
            log.error("sqlite read failed: %s", exc)
            raise StoreUnavailableError(f"sqlite read failed: {exc}") from exc
