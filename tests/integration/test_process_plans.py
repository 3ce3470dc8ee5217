"""The hot statements of the processes part of the PostgreSQL store stay key lookups as tables grow.

As test_postgres_plans.py does for await keys: each statement is prepared on a connection with the
store's session settings, run six times on empty tables (past the point where PostgreSQL may settle on a
generic plan), the tables grow to 20,000 events over 200 processes, and the cached statement's plan
must not scan a process table.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from effectd_server.store.postgres import PostgresBackend
from effectd_server.store.postgres._backend import SESSION_SETTINGS, parse_url
from effectd_server.store.postgres.processes import STATEMENTS

from tests.pg import fresh_schema, require_postgres

PID = "proc-7"
HASH = b"\x01" * 32
ARGS: dict[str, tuple[Any, ...]] = {
    "lock_process": (PID,),
    "append_context": (PID, HASH, "key-1"),
    "first_event_after": (PID, "tick", 50),
    "events_after": (PID, 50, 10),
    "lease_with_process": (PID,),
    "lease_swap": (PID, "o", "t", 2, 1, 1, "o", "t", 1, 1, 1),
}
TABLES = ("processes", "process_events", "process_leases")


@pytest.fixture
async def conn() -> AsyncIterator[Any]:
    await require_postgres()
    async with fresh_schema() as url:
        backend = PostgresBackend(url)
        await backend.open()  # migrations
        await backend.close()
        options = parse_url(url)
        settings = {**SESSION_SETTINGS, "search_path": f'"{options.schema}"'}
        connection = await asyncpg.connect(options.dsn, server_settings=settings)
        for table in TABLES:  # no ANALYZE behind the test's back (it would replace a cached plan)
            await connection.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
        try:
            yield connection
        finally:
            await connection.close()


def _literal(value: Any) -> str:
    if isinstance(value, bytes):
        return f"'\\x{value.hex()}'::bytea"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _execute(args: tuple[Any, ...]) -> str:
    return "EXECUTE hot(" + ", ".join(_literal(a) for a in args) + ")"


def _scans(plan: dict[str, Any]) -> list[tuple[str, str]]:
    found = [(plan.get("Node Type", ""), plan.get("Relation Name", ""))]
    for child in plan.get("Plans", []):
        found.extend(_scans(child))
    return found


def test_every_hot_statement_is_checked() -> None:
    assert set(ARGS) == set(STATEMENTS)


@pytest.mark.parametrize("name", sorted(STATEMENTS))
async def test_a_cached_hot_statement_stays_a_key_lookup_as_the_tables_grow(conn: Any, name: str) -> None:
    args = ARGS[name]
    await conn.execute(f"PREPARE hot AS {STATEMENTS[name]}")
    transaction = conn.transaction()
    await transaction.start()
    try:
        for _ in range(6):  # past the five executions after which a generic plan may be chosen
            await conn.fetch(_execute(args))
    finally:
        await transaction.rollback()
    await conn.execute(
        "INSERT INTO processes (process_id, registration_hash, status, waiting, record_pb, created_at_ms,"
        " updated_at_ms) SELECT 'proc-' || g, 'h', 'running', false, '\\x00', 1, 1 FROM generate_series(1, 200) g"
    )
    await conn.execute(
        "INSERT INTO process_events (process_id, sequence, event_type, payload_hash, replay_key, replay_hash,"
        " has_wake, occurred_at_ms, event_pb)"
        " SELECT 'proc-' || p, s, 'tick', 'h', 'key-' || s, sha256(('key-' || s)::bytea), false, 1, '\\x00'"
        " FROM generate_series(1, 200) p, generate_series(1, 100) s"
    )
    await conn.execute(
        "INSERT INTO process_leases (process_id, owner_id, lease_token, fencing_token, claimed_at_ms, expires_at_ms)"
        " SELECT 'proc-' || g, 'o', 't', 1, 1, 1 FROM generate_series(1, 200) g"
    )
    explained = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {_execute(args)}")
    scans = _scans(json.loads(explained)[0]["Plan"])
    for table in TABLES:
        assert ("Seq Scan", table) not in scans, scans
        assert ("Bitmap Heap Scan", table) not in scans, scans
    assert any(relation in TABLES for _, relation in scans), scans
