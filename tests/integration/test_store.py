"""The Store protocol's contract, run against every backend through one parametrized fixture."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from effectd._errors import ConflictError, NotFoundError
from effectd_server.store import KeyRow, ResolveItem, SigningKeyRow, SqliteStore, Store

OK = '{"status":"ok","payload":1}'
OTHER = '{"status":"ok","payload":2}'


def _row(i: int, session: str | None = "s") -> KeyRow:
    return KeyRow(f"key-{i}", '{"type":"turn"}', '{"type":"custom"}', session)


@pytest.fixture(params=["sqlite"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Store]:
    def make() -> Store:
        return SqliteStore(tmp_path / "store.db")

    return make


@pytest.fixture
async def store(open_store: Callable[[], Store]) -> AsyncIterator[Store]:
    opened = open_store()
    await opened.open()
    yield opened
    await opened.close()


async def test_migrations_are_safe_to_run_twice(open_store: Callable[[], Store]) -> None:
    first = open_store()
    await first.open()
    await first.record_keys([_row(1)], 1)
    await first.close()
    second = open_store()
    await second.open()
    assert set(await second.key_states(["key-1"])) == {"key-1"}
    await second.close()


async def test_one_sqlite_file_serves_one_server(tmp_path: Path) -> None:
    first = SqliteStore(tmp_path / "one.db")
    await first.open()
    with pytest.raises(OSError, match="another effectd is serving"):
        await SqliteStore(tmp_path / "one.db").open()
    await first.close()
    again = SqliteStore(tmp_path / "one.db")
    await again.open()
    await again.close()


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "new.db")
    await store.open()
    await store.close()
    with sqlite3.connect(tmp_path / "new.db") as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (9999, 'future', 0)")
    with pytest.raises(RuntimeError, match="newer than this effectd"):
        await SqliteStore(tmp_path / "new.db").open()


async def test_first_writer_wins_under_concurrency(store: Store) -> None:
    await store.record_keys([_row(1)], 1)
    results = await asyncio.gather(
        *(store.resolve([ResolveItem(_row(1), f'{{"status":"ok","payload":{i}}}')], 2) for i in range(50))
    )
    flat = [r[0] for r in results]
    accepted = [r for r in flat if r.status == "accepted"]
    assert len(accepted) == 1
    assert all(
        r.status == "already_resolved" and r.terminal_json == accepted[0].terminal_json
        for r in flat
        if r is not accepted[0]
    )


async def test_concurrent_writes_share_transactions_and_all_commit(
    store: Store, open_store: Callable[[], Store]
) -> None:
    rows = [_row(i) for i in range(1000)]
    await asyncio.gather(*(store.record_keys([r], 1) for r in rows))
    results = await asyncio.gather(*(store.resolve([ResolveItem(r, OK)], 2) for r in rows))
    seqs = [r[0].resolution_seq for r in results]
    assert all(r[0].status == "accepted" for r in results)
    assert len(set(seqs)) == 1000
    await store.close()
    reopened = open_store()
    await reopened.open()
    states = await reopened.key_states([r.key_id for r in rows])
    assert all(states[r.key_id].terminal_json == OK for r in rows)
    await reopened.close()
    await store.open()


async def test_revocations(store: Store) -> None:
    await store.record_keys([_row(1, "a"), _row(2, "b"), _row(3, None)], 1)
    await store.revoke_session("a", 2)
    await store.revoke_key(_row(3, None), 2)
    rows = [_row(1, "a"), _row(2, "b"), _row(3, None)]
    results = await store.resolve([ResolveItem(row, OK) for row in rows], 3)
    assert [r.status for r in results] == ["revoked", "accepted", "revoked"]
    assert await store.revoked_sessions() == {"a"}
    states = await store.key_states(["key-1", "key-2", "key-3"])
    assert [states[k].revoked for k in ("key-1", "key-2", "key-3")] == [True, False, True]


async def test_deadlines_keep_the_earliest_and_fire_once(store: Store) -> None:
    row = _row(1)
    await store.record_keys([row], 1)
    assert await store.set_deadline(row, 500, 1) == 500
    assert await store.set_deadline(row, 900, 1) == 500
    assert await store.pending_deadlines() == [("key-1", 500)]
    assert await store.fire_due_deadlines(499, 10) == []
    fired = await store.fire_due_deadlines(500, 10)
    assert [key_id for key_id, _ in fired] == ["key-1"]
    assert await store.fire_due_deadlines(1000, 10) == []
    assert (await store.resolve([ResolveItem(row, OTHER)], 2))[0].terminal_json == '{"status":"timeout"}'
    assert await store.set_deadline(row, 100, 1) is None


async def test_pending_keys_of_a_session(store: Store) -> None:
    await store.record_keys([_row(1, "s"), _row(2, "s"), _row(3, "t")], 1)
    await store.resolve([ResolveItem(_row(2, "s"), OK)], 2)
    assert [r.key_id for r in await store.pending_keys_of_session("s")] == ["key-1"]


async def test_keyring_rows(store: Store) -> None:
    first = SigningKeyRow("a", b"1" * 32, "active", 1)
    assert [k.kid for k in await store.ensure_signing_key(first)] == ["a"]
    assert [k.kid for k in await store.ensure_signing_key(SigningKeyRow("b", b"2" * 32, "active", 2))] == ["a"]
    rotated = await store.rotate_signing_key(SigningKeyRow("c", b"3" * 32, "active", 3))
    assert {k.kid: k.state for k in rotated} == {"a": "verify_only", "c": "active"}
    with pytest.raises(ConflictError):
        await store.retire_signing_key("c", 4)
    with pytest.raises(NotFoundError):
        await store.retire_signing_key("zzz", 4)
    assert (await store.retire_signing_key("a", 4)).state == "retired"
    assert {k.kid: k.state for k in await store.signing_keys()} == {"a": "retired", "c": "active"}
