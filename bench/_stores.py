"""The deployments the suite measures, and keys written straight into their store.

- `sqlite`: one effectd on a SQLite file in a temporary folder.
- `pg1`: one effectd on a fresh PostgreSQL schema; `pg2`: two replicas on one fresh schema.
  The schema (`effectd_bench_<hex>`) is dropped at the end, also when the run fails.

`insert_keys` writes synthetic await-event keys into the store's `await_keys` table, with valid rows: each
key_id is sha256 of `[scope_json,wait_json]` as effectd computes it, and the scope, wait and terminal texts
are those effectd wrote for a real key minted and resolved through it (`key_template`), with the
session, turn and call ids changed. Nine in ten are resolved (with their own resolution sequence number),
one in ten pending, 100 keys per session. SQLite is written while its server is stopped (one process
holds the file); PostgreSQL while the replicas run (INSERT … SELECT generate_series, then ANALYZE, as
autovacuum would after such a load).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import DEFAULT_POSTGRES, EffectdProcess, fresh_schema, log, start_effectd
from effectd import Accepted, Client, Ok, ToolCompletionWait, TurnScope

__all__ = ["DEPLOYMENTS", "Deployment", "KeyTemplate", "postgres_reachable"]

DEPLOYMENTS = {
    "sqlite": "SQLite",
    "pg1": "PostgreSQL x1",
    "pg2": "PostgreSQL x2",
}
_SESSION, _TURN, _CALL = "GROWTHSESSION", "GROWTHTURN", "GROWTHCALL"
_KEY_COLUMNS = "key_id, scope_json, wait_json, session_id, created_at_ms, terminal_json, resolved_at_ms, resolution_seq"


@dataclass(frozen=True)
class KeyTemplate:
    scope_json: str
    wait_json: str
    session_id: str
    terminal_json: str

    def row(self, i: int, now_ms: int, seq: int | None) -> tuple[Any, ...]:
        """Key number `i`: resolved (with `seq`) unless `seq` is None."""
        scope = self.scope_json.replace(_SESSION, f"grow-s{i // 100}").replace(_TURN, f"t{i}")
        wait = self.wait_json.replace(_CALL, f"c{i}")
        key_id = hashlib.sha256(f"[{scope},{wait}]".encode()).hexdigest()
        session = self.session_id.replace(_SESSION, f"grow-s{i // 100}")
        if seq is None:
            return (key_id, scope, wait, session, now_ms, None, None, None)
        return (key_id, scope, wait, session, now_ms, self.terminal_json, now_ms, seq)


async def postgres_reachable(dsn: str = DEFAULT_POSTGRES) -> str | None:
    """None when PostgreSQL answers at `dsn`, else why not."""
    try:
        import asyncpg

        conn = await asyncpg.connect(dsn, timeout=5)
        await conn.close()
        return None
    except Exception as exc:  # any failure means: skip PostgreSQL
        return f"{type(exc).__name__}: {exc}"


class Deployment:
    """effectd on one store: one process on SQLite, or `replicas` processes on one PostgreSQL schema."""

    def __init__(self, name: str, *, postgres_dsn: str = DEFAULT_POSTGRES) -> None:
        self.name = name
        self.label = DEPLOYMENTS[name]
        self.postgres = name != "sqlite"
        self.replica_count = 2 if name == "pg2" else 1
        self._dsn = postgres_dsn
        self._stack = contextlib.AsyncExitStack()
        self._folder = ""
        self.store_url: str | None = None
        self.replicas: list[EffectdProcess] = []

    @property
    def targets(self) -> list[str]:
        return [r.target for r in self.replicas]

    @property
    def pids(self) -> list[int]:
        return [r.pid for r in self.replicas]

    async def __aenter__(self) -> Deployment:
        try:
            self._folder = self._stack.enter_context(tempfile.TemporaryDirectory(prefix=f"effectd-bench-{self.name}-"))
            if self.postgres:
                self.store_url = await self._stack.enter_async_context(fresh_schema(self._dsn))
            self._stack.push_async_callback(self._stop_async)
            await self.start()
        except BaseException:
            await self._stack.aclose()  # the replicas that did start, the schema, the folder
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    async def start(self, attempts: int = 4) -> None:
        for i in range(self.replica_count):
            folder = Path(self._folder) / f"replica-{i}"
            folder.mkdir(exist_ok=True)
            for attempt in range(1, attempts + 1):
                try:
                    if self.postgres:
                        self.replicas.append(await start_effectd(folder, self.store_url))
                    else:  # SQLite: the file stays in the first folder across restarts
                        self.replicas.append(await start_effectd(Path(self._folder), None))
                    break
                except (RuntimeError, TimeoutError) as exc:
                    # Others on this machine restart PostgreSQL now and then (tests of outages).
                    if attempt == attempts:
                        raise
                    log(f"{self.label}: effectd did not start ({str(exc).splitlines()[0]}); retrying in 5 s")
                    await asyncio.sleep(5)

    def stop(self) -> None:
        for replica in self.replicas:
            code = replica.stop()
            log(f"effectd (pid {replica.pid}) stopped, exit code {code}")
        self.replicas = []

    async def _stop_async(self) -> None:
        self.stop()

    async def restart(self) -> None:
        self.stop()
        await self.start()

    @property
    def sqlite_path(self) -> Path:
        return Path(self._folder) / "effectd.db"

    # -- keys written into the store --------------------------------------------------------------
    async def key_template(self) -> KeyTemplate:
        """Mint and resolve one key through effectd, and read back the row it wrote."""
        async with await Client.connect(self.targets[0]) as client:
            key = await client.mint_key(TurnScope(_SESSION, _TURN), ToolCompletionWait(_CALL))
            if not isinstance(await client.resolve(key, Ok({"answer": 42, "note": "growth"})), Accepted):
                raise RuntimeError("the template key was not accepted")
        query = "SELECT scope_json, wait_json, session_id, terminal_json FROM await_keys WHERE key_id = "
        if self.postgres:
            async with self._pg() as conn:
                row = await conn.fetchrow(query + "$1", key.key_id)
        else:
            with contextlib.closing(sqlite3.connect(self.sqlite_path)) as conn:
                row = conn.execute(query + "?", (key.key_id,)).fetchone()
        if row is None:
            raise RuntimeError("the template key is not in the store")
        return KeyTemplate(row[0], row[1], row[2], row[3])

    @contextlib.asynccontextmanager
    async def _pg(self) -> Any:
        import asyncpg

        assert self.store_url is not None
        from urllib.parse import parse_qsl, urlsplit

        schema = dict(parse_qsl(urlsplit(self.store_url).query))["schema"]
        conn = await asyncpg.connect(self._dsn, timeout=10, server_settings={"search_path": schema})
        try:
            yield conn
        finally:
            await conn.close()

    async def count_keys(self) -> int:
        if self.postgres:
            async with self._pg() as conn:
                return int(await conn.fetchval("SELECT count(*) FROM await_keys"))
        with contextlib.closing(sqlite3.connect(self.sqlite_path)) as conn:
            return int(conn.execute("SELECT count(*) FROM await_keys").fetchone()[0])

    async def insert_keys(self, template: KeyTemplate, first: int, count: int) -> float:
        """Keys number `first` .. `first + count - 1` written into the store; the seconds it took.
        SQLite: the servers are stopped first and started again after."""
        started = time.perf_counter()
        now_ms = int(time.time() * 1000)
        if self.postgres:
            async with self._pg() as conn:
                await conn.execute(
                    f"INSERT INTO await_keys ({_KEY_COLUMNS})"
                    " SELECT encode(sha256(convert_to('[' || s || ',' || w || ']', 'UTF8')), 'hex'), s, w, sess,"
                    " $1::bigint, CASE WHEN i % 10 <> 0 THEN $2::text END, CASE WHEN i % 10 <> 0 THEN $1::bigint END,"
                    " CASE WHEN i % 10 <> 0 THEN nextval('resolution_seq') END"
                    " FROM (SELECT i,"
                    "   replace(replace($3::text, $6::text, 'grow-s' || (i / 100)), $7::text, 't' || i) AS s,"
                    "   replace($4::text, $8::text, 'c' || i) AS w,"
                    "   replace($5::text, $6::text, 'grow-s' || (i / 100)) AS sess"
                    "   FROM generate_series($9::bigint, $10::bigint) AS i) AS g",
                    now_ms,
                    template.terminal_json,
                    template.scope_json,
                    template.wait_json,
                    template.session_id,
                    _SESSION,
                    _TURN,
                    _CALL,
                    first,
                    first + count - 1,
                )
                await conn.execute("ANALYZE await_keys")
        else:
            self.stop()
            with contextlib.closing(sqlite3.connect(self.sqlite_path)) as conn:
                conn.execute("PRAGMA synchronous=OFF")
                seq = int(conn.execute("SELECT COALESCE(MAX(resolution_seq), 0) FROM await_keys").fetchone()[0])
                rows = (
                    template.row(i, now_ms, None if i % 10 == 0 else seq + 1 + i - first)
                    for i in range(first, first + count)
                )
                with conn:
                    conn.executemany(f"INSERT INTO await_keys ({_KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            await self.start()
        seconds = time.perf_counter() - started
        log(f"{self.label}: wrote {count} keys into the store in {seconds:.1f}s")
        return seconds
