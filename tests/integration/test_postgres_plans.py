"""The hot statements of the PostgreSQL store stay key lookups as tables grow (no timing here).

asyncpg prepares every statement; after five executions PostgreSQL may pick a generic plan costed on the
table as it was (empty) and keep it: every resolve then read every pending key (47-90 resolves/s at
25,000 pending). Each statement is prepared on a connection with the store's session settings, run six
times on an empty table, the table grows to 20,000 rows, and the plan of the cached statement must not
scan await_keys.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from effectd_server.store.postgres import PostgresBackend
from effectd_server.store.postgres._backend import SESSION_SETTINGS, parse_url
from effectd_server.store.postgres.await_events import _FIRE_DUE, _LOCK_KEYS, RESOLVE_STATEMENTS

from tests.pg import fresh_schema, require_postgres

KEY = "k-missing"
NOTE = ',"t":"r","k":"x","d":"s","o":"o"}'
ARGS: dict[str, tuple[Any, ...]] = {
    "resolve_one_update": (KEY, '{"status":"ok","payload":1}', "s", 1, NOTE, "runtime ipv4:127.0.0.1:1"),
    "resolve_one_insert": (KEY, "{}", "{}", "s", '{"status":"ok","payload":1}', 1, NOTE, "console"),
    "resolve_one_read": (KEY, "s"),
    "resolve_update": ([KEY], ['{"status":"ok"}'], ["s"], 1, ["console"]),
    "resolve_insert": ([KEY], ["{}"], ["{}"], ["s"], ['{"status":"ok"}'], 1, ["console"]),
    "resolve_read": ([KEY], ["s"]),
    "lock_keys": ([KEY],),
    "fire_due": (1, 10, '{"status":"timeout"}', NOTE),
    "key_states": ([KEY],),
}
STATEMENTS = {
    **RESOLVE_STATEMENTS,
    "lock_keys": _LOCK_KEYS,
    "fire_due": _FIRE_DUE,
    "key_states": "SELECT key_id, terminal_json FROM await_keys k WHERE k.key_id = ANY($1::text[])",
}


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
        # No ANALYZE behind the test's back: it would replace a cached plan, as nothing does in production
        # between the moment a table is small and the moment it is large.
        await connection.execute("ALTER TABLE await_keys SET (autovacuum_enabled = false)")
        try:
            yield connection
        finally:
            await connection.close()


def _literal(value: Any) -> str:
    if isinstance(value, list):
        return "ARRAY[" + ", ".join(_literal(v) for v in value) + "]::text[]"
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


@pytest.mark.parametrize("name", sorted(STATEMENTS))
async def test_a_cached_hot_statement_stays_a_key_lookup_as_the_table_grows(conn: Any, name: str) -> None:
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
        "INSERT INTO await_keys (key_id, scope_json, wait_json, session_id, created_at_ms, deadline_ms)"
        " SELECT 'key-' || g, '{}', '{}', 's', 1, 10 + g FROM generate_series(1, 20000) AS g"
    )
    explained = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {_execute(args)}")
    plan = json.loads(explained)[0]["Plan"]
    scans = _scans(plan)
    assert ("Seq Scan", "await_keys") not in scans, scans
    assert ("Bitmap Heap Scan", "await_keys") not in scans or name == "fire_due", scans
    assert any(relation == "await_keys" for _, relation in scans), scans


async def test_the_store_connections_plan_each_execution() -> None:
    """What keeps the plans above from going stale: every pool and listener connection of the store runs
    with custom plans (a generic plan chosen while a table was small scanned every pending key later)."""
    await require_postgres()
    async with fresh_schema() as url:
        backend = PostgresBackend(url)
        await backend.open()
        try:

            async def mode(conn: Any) -> str:
                return str(await conn.fetchval("SHOW plan_cache_mode"))

            assert await backend.run("plan_cache_mode", mode) == "force_custom_plan"
        finally:
            await backend.close()
