"""The Store protocol's contract, run against every backend through one parametrized fixture.

The PostgreSQL tests get a fresh schema each; the tests at the end cover what only a shared database
has: notifications between stores, deadlines and resolves racing from several stores, listener recovery.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from effectd._errors import ConflictError, NotFoundError
from effectd_server.store import ListenerResumed, StoreUnavailableError
from effectd_server.store._migrations import migrations_for
from effectd_server.store.await_events import (
    KeyRevokedEvent,
    KeyringChanged,
    KeyRow,
    ResolveItem,
    SessionRevokedEvent,
    SigningKeyRow,
    TerminalRecorded,
    TerminalsRecorded,
)
from effectd_server.store.journal import EffectClaim, EffectFinished
from effectd_server.store.postgres import parse_url as _parse_url

from tests.pg import POSTGRES_DSN, fresh_schema, require_postgres, with_query
from tests.store_parts import StoreUnderTest as Store
from tests.store_parts import postgres_store as PostgresStore
from tests.store_parts import sqlite_store as SqliteStore

OK = '{"status":"ok","payload":1}'
OTHER = '{"status":"ok","payload":2}'
SCOPE = '{"type":"turn","session_id":"s","turn_id":"t"}'


def _row(i: int, session: str | None = "s") -> KeyRow:
    return KeyRow(f"key-{i}", '{"type":"turn"}', '{"type":"custom"}', session)


def _claim(
    replay_key: str, *, token: str = "tok-1", hash_: str = "h1", exclusive: bool = True, **kw: object
) -> EffectClaim:
    fields: dict[str, object] = {
        "scope_json": SCOPE,
        "replay_key": replay_key,
        "envelope_hash": hash_,
        "kind": "llm",
        "envelope_pb": b"\x01\x02",
        "owner": "owner-1",
        "lease_token": token,
        "lease_ttl_ms": 1000,
        "due_at_ms": None,
        "exclusive": exclusive,
        "strict": False,
    }
    fields.update(kw)
    return EffectClaim(**fields)  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", "postgres"])
async def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Callable[[], Store]]:
    if request.param == "sqlite":
        yield lambda: SqliteStore(tmp_path / "store.db")
        return
    await require_postgres()
    async with fresh_schema() as url:
        yield lambda: PostgresStore(url)


@pytest.fixture
async def store(open_store: Callable[[], Store]) -> AsyncIterator[Store]:
    opened = open_store()
    await opened.open()
    yield opened
    await opened.close()


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    await require_postgres()
    async with fresh_schema() as url:
        yield url


class Events:
    """A store listener that records what it is told."""

    def __init__(self) -> None:
        self.seen: list[object] = []
        self._changed = asyncio.Event()

    def __call__(self, event: object) -> None:
        self.seen.append(event)
        self._changed.set()

    async def wait_for(self, predicate: Callable[[list[object]], bool], timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate(self.seen):
                self._changed.clear()
                await self._changed.wait()


@pytest.fixture
async def two_stores(pg_url: str) -> AsyncIterator[tuple[Store, Store]]:
    a, b = PostgresStore(pg_url), PostgresStore(pg_url)
    await a.open()
    await b.open()
    yield a, b
    await a.close()
    await b.close()


# -- the contract, on every backend ----------------------------------------------------------------
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


async def test_a_batch_resolves_in_order_with_repeats_and_unknown_keys(store: Store) -> None:
    await store.record_keys([_row(1), _row(2)], 1)
    await store.resolve([ResolveItem(_row(2), OTHER)], 2)
    items = [
        ResolveItem(_row(1), OK),
        ResolveItem(_row(1), OTHER),  # the same key again: the first item of the batch won
        ResolveItem(_row(2), OK),  # resolved before
        ResolveItem(_row(3), OK),  # never recorded: kept
    ]
    results = await store.resolve(items, 3)
    assert [r.status for r in results] == ["accepted", "already_resolved", "already_resolved", "accepted"]
    assert [r.terminal_json for r in results] == [OK, OK, OTHER, OK]
    assert results[1].resolution_seq == results[0].resolution_seq
    states = await store.key_states(["key-1", "key-2", "key-3"])
    assert [states[k].terminal_json for k in ("key-1", "key-2", "key-3")] == [OK, OTHER, OK]


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


async def test_revoked_keys_never_recorded_and_revoked_sessions_of_unknown_keys(store: Store) -> None:
    await store.revoke_key(_row(1, None), 1)  # revoking a key nobody recorded yet
    await store.revoke_session("gone", 1)
    results = await store.resolve([ResolveItem(_row(1, None), OK), ResolveItem(_row(2, "gone"), OK)], 2)
    assert [r.status for r in results] == ["revoked", "revoked"]
    assert set(await store.key_states(["key-1", "key-2"])) == {"key-1"}


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


async def test_deadlines_of_revoked_keys_never_fire(store: Store) -> None:
    await store.record_keys([_row(1, "a"), _row(2, None), _row(3, "b")], 1)
    for i, session in ((1, "a"), (2, None), (3, "b")):
        await store.set_deadline(_row(i, session), 100, 1)
    assert await store.set_deadline(_row(4), 100, 1) == 100  # an unknown key is recorded with its deadline
    await store.revoke_session("a", 2)
    await store.revoke_key(_row(2, None), 2)
    fired = await store.fire_due_deadlines(200, 10)
    assert sorted(key_id for key_id, _ in fired) == ["key-3", "key-4"]
    assert all(r.status == "accepted" and r.terminal_json == '{"status":"timeout"}' for _, r in fired)
    assert await store.pending_deadlines() == []


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


async def test_journal_claims(store: Store) -> None:
    claimed = await store.claim_effect(_claim("r1"), 100)
    assert claimed.status == "claimed" and claimed.row is not None
    assert (claimed.row.seq, claimed.row.lease_token, claimed.row.lease_expires_at_ms) == (1, "tok-1", 1100)
    assert (await store.claim_effect(_claim("r1", token="tok-2"), 200)).status == "busy"
    assert (await store.claim_effect(_claim("r1", token="tok-2", hash_="h2"), 200)).status == "conflict"
    assert (await store.claim_effect(_claim("r2", strict=True), 200)).status == "missing"
    assert await store.get_effect(SCOPE, "r2") is None
    # The lease expires: another caller takes over and the first one lost it.
    taken = await store.claim_effect(_claim("r1", token="tok-2"), 1200)
    assert taken.status == "claimed" and taken.row is not None and taken.row.lease_token == "tok-2"
    assert await store.renew_effect(SCOPE, "r1", "tok-1", 1000, 1200) is None
    assert await store.finish_effect(SCOPE, "r1", "tok-1", b"late", None, 1200) is None
    assert await store.renew_effect(SCOPE, "r1", "tok-2", 5000, 1300) == 6300
    done = await store.finish_effect(SCOPE, "r1", "tok-2", b"outcome", None, 1400)
    assert done is not None and (done.status, done.outcome_pb, done.lease_token) == ("completed", b"outcome", None)
    recorded = await store.claim_effect(_claim("r1", token="tok-3"), 1500)
    assert recorded.status == "recorded" and recorded.row is not None and recorded.row.outcome_pb == b"outcome"
    assert (await store.claim_effect(_claim("r1", strict=True), 1500)).status == "recorded"
    assert (await store.claim_effect(_claim("r1", hash_="h2"), 1500)).status == "conflict"


async def test_journal_release_errors_and_shared_rows(store: Store) -> None:
    assert (await store.claim_effect(_claim("r1"), 100)).status == "claimed"
    assert not await store.release_effect(SCOPE, "r1", "not-mine", 150)
    assert await store.release_effect(SCOPE, "r1", "tok-1", 150)
    again = await store.claim_effect(_claim("r1", token="tok-2"), 160)  # at once, no waiting for the expiry
    assert again.status == "claimed"
    failed = await store.finish_effect(SCOPE, "r1", "tok-2", None, '{"code":"x","message":"y"}', 170)
    assert failed is not None and (failed.status, failed.error_json) == ("failed", '{"code":"x","message":"y"}')
    # Server-owned kinds share the row; the first finish wins and a later finish returns its record.
    shared = await store.claim_effect(_claim("sleep", exclusive=False, kind="sleep", due_at_ms=900), 200)
    assert shared.status == "shared" and shared.row is not None
    assert (shared.row.due_at_ms, shared.row.lease_token, shared.row.seq) == (900, None, 2)
    assert (await store.claim_effect(_claim("sleep", exclusive=False, kind="sleep"), 210)).status == "shared"
    first = await store.finish_effect(SCOPE, "sleep", None, b"first", None, 300)
    second = await store.finish_effect(SCOPE, "sleep", None, b"second", None, 310)
    assert first is not None and second is not None and second.outcome_pb == b"first"
    assert await store.finish_effect(SCOPE, "nothing", None, b"x", None, 310) is None
    listed = await store.list_effects(SCOPE, 0, 10)
    assert [(r.replay_key, r.seq) for r in listed] == [("r1", 1), ("sleep", 2)]
    assert [r.replay_key for r in await store.list_effects(SCOPE, 1, 10)] == ["sleep"]


async def test_journal_seq_is_unique_per_scope_under_concurrency(store: Store) -> None:
    results = await asyncio.gather(*(store.claim_effect(_claim(f"r{i}", token=f"t{i}"), 100) for i in range(60)))
    assert all(r.status == "claimed" for r in results)
    seqs = sorted(r.row.seq for r in results if r.row is not None)
    assert seqs == list(range(1, 61))
    # The same replay key claimed concurrently: one claim, the others find it busy.
    racing = await asyncio.gather(*(store.claim_effect(_claim("same", token=f"s{i}"), 100) for i in range(20)))
    assert sorted(r.status for r in racing) == ["busy"] * 19 + ["claimed"]


# -- PostgreSQL: migrations and connections ---------------------------------------------------------
async def test_postgres_newer_schema_is_refused(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    await store.open()
    await store.close()
    schema = _parse_url(pg_url).schema
    conn = await asyncpg.connect(POSTGRES_DSN, server_settings={"search_path": f'"{schema}"'})
    try:
        await conn.execute("INSERT INTO schema_migrations VALUES (9999, 'future', 0)")
    finally:
        await conn.close()
    with pytest.raises(RuntimeError, match="newer than this effectd"):
        await PostgresStore(pg_url).open()


async def test_postgres_migrations_from_stores_opening_concurrently(pg_url: str) -> None:
    stores = [PostgresStore(pg_url) for _ in range(4)]
    await asyncio.gather(*(s.open() for s in stores))
    try:
        schema = _parse_url(pg_url).schema
        conn = await asyncpg.connect(POSTGRES_DSN, server_settings={"search_path": f'"{schema}"'})
        try:
            versions = [r[0] for r in await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")]
        finally:
            await conn.close()
        assert versions == [m.version for m in migrations_for("postgres")]
        # Every store works on the one schema, and two keyrings starting at once agree on one active key.
        rings = await asyncio.gather(
            *(s.ensure_signing_key(SigningKeyRow(f"k{i}", b"k" * 32, "active", i)) for i, s in enumerate(stores))
        )
        actives = {k.kid for ring in rings for k in ring if k.state == "active"}
        assert len(actives) == 1
    finally:
        await asyncio.gather(*(s.close() for s in stores))


async def test_postgres_concurrent_rotations_leave_one_active_key(
    two_stores: tuple[Store, Store],
) -> None:
    a, b = two_stores
    await a.ensure_signing_key(SigningKeyRow("first", b"0" * 32, "active", 0))
    await asyncio.gather(
        *(
            (a if i % 2 else b).rotate_signing_key(SigningKeyRow(f"r{i}", bytes([i]) * 32, "active", i + 1))
            for i in range(10)
        )
    )
    keys = await a.signing_keys()
    assert len(keys) == 11
    assert [k.state for k in keys].count("active") == 1


def test_postgres_url_parameters_are_stripped() -> None:
    options = _parse_url(
        "postgresql://u@h:5432/db?sslmode=disable&schema=s1&pool_min=1&pool_max=3&connect_timeout_s=2.5"
    )
    assert options.dsn == "postgresql://u@h:5432/db?sslmode=disable"
    assert (options.schema, options.pool_min, options.pool_max) == ("s1", 1, 3)
    assert (options.statement_timeout_ms, options.connect_timeout_s) == (10_000, 2.5)
    defaults = _parse_url("postgresql://h/db")
    assert (defaults.dsn, defaults.schema, defaults.pool_min, defaults.pool_max) == ("postgresql://h/db", None, 2, 10)
    for bad in ("postgresql://h/db?pool_max=x", "postgresql://h/db?pool_min=5&pool_max=2", "mysql://h/db"):
        with pytest.raises(ValueError):
            _parse_url(bad)


async def test_postgres_unreachable_is_unavailable() -> None:
    store = PostgresStore("postgresql://postgres@127.0.0.1:1/test?connect_timeout_s=2")
    with pytest.raises(StoreUnavailableError):
        await store.open()
    with pytest.raises(StoreUnavailableError):
        await store.key_states(["key-1"])


async def test_postgres_statement_timeout_is_unavailable(pg_url: str) -> None:
    holder = await asyncpg.connect(POSTGRES_DSN)
    store = PostgresStore(with_query(pg_url, statement_timeout_ms="300"))
    await store.open()
    try:
        schema = _parse_url(pg_url).schema
        await store.record_keys([_row(1)], 1)
        tx = holder.transaction()
        await tx.start()
        await holder.execute(f"SELECT 1 FROM \"{schema}\".await_keys WHERE key_id = 'key-1' FOR UPDATE")
        with pytest.raises(StoreUnavailableError):
            await store.resolve([ResolveItem(_row(1), OK)], 2)
        await tx.rollback()
        assert (await store.resolve([ResolveItem(_row(1), OK)], 2))[0].status == "accepted"
    finally:
        await holder.close()
        await store.close()


async def test_postgres_pool_recovers_after_its_connections_are_terminated(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    await store.open()
    try:
        await store.record_keys([_row(1)], 1)
        admin = await asyncpg.connect(POSTGRES_DSN)
        try:
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
                f"effectd-pool {store._origin}",
            )
        finally:
            await admin.close()
        assert killed >= 1
        # The next calls may see the dead connections once; then the pool has reconnected.
        for _ in range(20):
            try:
                states = await store.key_states(["key-1"])
                break
            except StoreUnavailableError:
                await asyncio.sleep(0.05)
        assert set(states) == {"key-1"}
        assert (await store.resolve([ResolveItem(_row(1), OK)], 2))[0].status == "accepted"
    finally:
        await store.close()


# -- PostgreSQL: change notifications between stores -------------------------------------------------
async def test_postgres_changes_reach_the_other_store(two_stores: tuple[Store, Store]) -> None:
    a, b = two_stores
    on_a, on_b = Events(), Events()
    a.set_listener(on_a)
    b.set_listener(on_b)
    await a.record_keys([_row(1), _row(2, None)], 1)
    [accepted] = await a.resolve([ResolveItem(_row(1), OK)], 2)
    await on_b.wait_for(lambda seen: TerminalRecorded("key-1", OK, accepted.resolution_seq or 0) in seen)
    await a.revoke_key(_row(2, None), 3)
    await on_b.wait_for(lambda seen: KeyRevokedEvent("key-2") in seen)
    await a.revoke_session("s", 3)
    await on_b.wait_for(lambda seen: SessionRevokedEvent("s") in seen)
    await a.ensure_signing_key(SigningKeyRow("k1", b"1" * 32, "active", 1))
    await a.rotate_signing_key(SigningKeyRow("k2", b"2" * 32, "active", 2))
    await a.retire_signing_key("k1", 3)
    await on_b.wait_for(lambda seen: seen.count(KeyringChanged()) == 3)
    # The journal: a finished row and a released lease.
    assert (await a.claim_effect(_claim("r1"), 100)).status == "claimed"
    await a.finish_effect(SCOPE, "r1", "tok-1", b"out", None, 110)
    await on_b.wait_for(lambda seen: seen.count(EffectFinished(SCOPE, "r1")) == 1)
    assert (await a.claim_effect(_claim("r2"), 100)).status == "claimed"
    assert await a.release_effect(SCOPE, "r2", "tok-1", 110)
    await on_b.wait_for(lambda seen: EffectFinished(SCOPE, "r2") in seen)
    # Deadlines fired by A (session "s" is revoked by now: a key of another session).
    row = KeyRow("key-4", '{"type":"turn"}', '{"type":"custom"}', "fresh")
    await a.set_deadline(row, 100, 1)
    [(key_id, fired)] = await a.fire_due_deadlines(200, 10)
    assert key_id == "key-4"
    await on_b.wait_for(
        lambda seen: TerminalRecorded("key-4", '{"status":"timeout"}', fired.resolution_seq or 0) in seen
    )
    # A store is not told about its own changes; B's own changes reach A.
    assert on_a.seen == []
    await b.revoke_session("from-b", 5)
    await on_a.wait_for(lambda seen: SessionRevokedEvent("from-b") in seen)
    assert not any(isinstance(e, SessionRevokedEvent) and e.session_id == "from-b" for e in on_b.seen)


async def test_postgres_a_large_terminal_is_announced_without_its_payload(
    two_stores: tuple[Store, Store],
) -> None:
    a, b = two_stores
    on_b = Events()
    b.set_listener(on_b)
    big = '{"status":"ok","payload":"' + 'é\\n\\"' * 4000 + '"}'
    [accepted] = await a.resolve([ResolveItem(_row(1), big)], 2)
    await on_b.wait_for(lambda seen: TerminalRecorded("key-1", None, accepted.resolution_seq or 0) in seen)
    assert (await b.key_states(["key-1"]))["key-1"].terminal_json == big
    # Exact text survives the notification: non-ASCII and escapes included.
    small = '{"status":"ok","payload":"é \\" \\\\ \\u0001"}'
    [accepted] = await a.resolve([ResolveItem(_row(2), small)], 2)
    await on_b.wait_for(lambda seen: TerminalRecorded("key-2", small, accepted.resolution_seq or 0) in seen)


async def test_postgres_a_change_too_large_to_announce_asks_for_a_catch_up(
    two_stores: tuple[Store, Store],
) -> None:
    a, b = two_stores
    on_b = Events()
    b.set_listener(on_b)
    long_session = "s" * 9000  # no notification carries it: the listener is told to re-read instead
    await a.revoke_session(long_session, 1)
    await on_b.wait_for(lambda seen: ListenerResumed() in seen)
    assert long_session in await b.revoked_sessions()


async def test_postgres_other_schemas_are_not_reported(two_stores: tuple[Store, Store]) -> None:
    a, _ = two_stores
    on_a = Events()
    a.set_listener(on_a)
    async with fresh_schema() as other_url:
        other = PostgresStore(other_url)
        await other.open()
        try:
            await other.revoke_session("elsewhere", 1)
        finally:
            await other.close()
    await asyncio.sleep(0.3)
    assert on_a.seen == []


# -- PostgreSQL: racing stores ---------------------------------------------------------------------
async def test_postgres_deadlines_fire_once_across_stores(two_stores: tuple[Store, Store]) -> None:
    a, b = two_stores
    rows = [_row(i) for i in range(200)]
    await a.record_keys(rows, 1)
    for r in rows:
        await (a if r.key_id[-1] in "02468" else b).set_deadline(r, 500 + int(r.key_id.split("-")[1]), 1)

    async def fire(store: PostgresStore) -> list[str]:
        fired: list[str] = []
        while batch := await store.fire_due_deadlines(10_000, 7):
            fired.extend(key_id for key_id, _ in batch)
        return fired

    results = await asyncio.gather(*(fire(s) for s in (a, b, a, b, a, b)))
    everything = [key_id for fired in results for key_id in fired]
    assert sorted(everything) == sorted(r.key_id for r in rows)  # each key once, by exactly one store
    assert sum(1 for fired in results if fired) >= 2
    states = await b.key_states([r.key_id for r in rows])
    assert all(s.terminal_json == '{"status":"timeout"}' for s in states.values())
    assert len({s.resolution_seq for s in states.values()}) == 200


async def test_postgres_one_winner_per_key_with_resolvers_on_two_stores(
    two_stores: tuple[Store, Store],
) -> None:
    a, b = two_stores
    rows = [_row(i) for i in range(200)]
    await a.record_keys(rows[:100], 1)  # the other half is resolved before anyone recorded it

    async def resolver(n: int, store: PostgresStore) -> list[tuple[str, str, str | None]]:
        rng = random.Random(n)
        order = rows[:]
        rng.shuffle(order)
        answers: list[tuple[str, str, str | None]] = []
        position = 0
        while position < len(order):
            size = rng.choice([1, 1, 5, 20])  # single resolves and batches, in different orders
            chunk = order[position : position + size]
            position += size
            items = [ResolveItem(r, f'{{"status":"ok","payload":"{n}:{r.key_id}"}}') for r in chunk]
            for item, result in zip(items, await store.resolve(items, 2), strict=True):
                answers.append((item.key.key_id, result.status, result.terminal_json))
        return answers

    results = await asyncio.gather(*(resolver(n, a if n % 2 else b) for n in range(8)))
    answers = [answer for per_resolver in results for answer in per_resolver]
    assert len(answers) == 8 * 200
    winners: dict[str, str | None] = {}
    for key_id, status, terminal in answers:
        if status == "accepted":
            assert key_id not in winners, f"{key_id} accepted twice"
            winners[key_id] = terminal
    assert len(winners) == 200
    for key_id, status, terminal in answers:
        assert status in ("accepted", "already_resolved")
        assert terminal == winners[key_id]
    states = await a.key_states([r.key_id for r in rows])
    assert {k: s.terminal_json for k, s in states.items()} == winners
    assert len({s.resolution_seq for s in states.values()}) == 200


async def test_postgres_listener_resumes_after_its_connection_is_terminated(
    two_stores: tuple[Store, Store],
) -> None:
    a, b = two_stores
    on_b = Events()
    b.set_listener(on_b)
    pid = b.listener_backend_pid
    assert pid is not None
    admin = await asyncpg.connect(POSTGRES_DSN)
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()
    await on_b.wait_for(lambda seen: ListenerResumed() in seen)
    assert b.listener_backend_pid not in (None, pid)
    # Listening again: A's changes reach B.
    await a.revoke_session("after", 1)
    await on_b.wait_for(lambda seen: SessionRevokedEvent("after") in seen)


class _Proxy:
    """A TCP proxy in front of PostgreSQL that a test cuts and restores: an outage without stopping the server."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._server: asyncio.Server | None = None
        self._transports: set[asyncio.WriteTransport] = set()
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for transport in list(self._transports):
            transport.abort()
        self._transports.clear()
        await self._server.wait_closed()
        self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.transport.abort()
            return
        self._transports.update((writer.transport, up_writer.transport))

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except OSError:
                pass
            finally:
                sink.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


async def test_postgres_store_recovers_after_an_outage(pg_url: str) -> None:
    parts = urlsplit(pg_url)
    proxy = _Proxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    await proxy.start()
    user = f"{parts.username}@" if parts.username else ""
    url = with_query(urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{proxy.port}")), connect_timeout_s="1")
    store = PostgresStore(url)
    store.listener_ping_s = 0.2
    events = Events()
    store.set_listener(events)
    other = PostgresStore(pg_url)  # straight to the database, unaffected by the outage
    await store.open()
    await other.open()
    try:
        await store.record_keys([_row(1), _row(2)], 1)
        await proxy.cut()
        with pytest.raises(StoreUnavailableError):
            await store.key_states(["key-1"])
        with pytest.raises(StoreUnavailableError):
            await store.resolve([ResolveItem(_row(1), OK)], 2)
        await other.revoke_session("during-the-outage", 2)  # missed by the listener: ListenerResumed covers it
        await asyncio.sleep(0.5)  # the listener tries to reconnect and fails meanwhile
        assert ListenerResumed() not in events.seen
        await proxy.start()
        async with asyncio.timeout(15):
            while True:
                try:
                    states = await store.key_states(["key-1"])
                    break
                except StoreUnavailableError:
                    await asyncio.sleep(0.1)
        assert states["key-1"].terminal_json is None
        assert (await store.resolve([ResolveItem(_row(1), OK)], 3))[0].status == "accepted"
        await events.wait_for(lambda seen: ListenerResumed() in seen, timeout=15)
        await other.revoke_session("after-the-outage", 4)
        await events.wait_for(lambda seen: SessionRevokedEvent("after-the-outage") in seen)
        assert await store.revoked_sessions() == {"during-the-outage", "after-the-outage"}
    finally:
        await store.close()
        await other.close()
        if proxy._server is not None:
            await proxy.cut()


async def test_sqlite_writer_survives_any_failure_in_a_batch(tmp_path: Path) -> None:
    """A failure of any kind in the middle of a batch is answered to its caller; the others commit and
    the store stays writable (an OverflowError once left a transaction open and wedged every write)."""
    store = SqliteStore(tmp_path / "wedge.db")
    await store.open()
    try:
        backend = store.backend

        def overflow(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE await_keys SET deadline_ms = ? WHERE key_id = 'x'", (2**70,))

        def breaks_the_transaction(conn: sqlite3.Connection) -> None:
            conn.execute("COMMIT")  # the savepoint and the batch's transaction are gone after this

        # Submitted in one loop iteration, so they share one batch with good writes around them.
        first = store.record_keys([_row(1)], 1)
        bad = backend.write(overflow)
        after = store.record_keys([_row(2)], 1)
        await first
        with pytest.raises(StoreUnavailableError):
            await bad
        await after
        assert set(await store.key_states(["key-1", "key-2"])) == {"key-1", "key-2"}

        broken = backend.write(breaks_the_transaction)
        alongside = store.record_keys([_row(3)], 1)
        results = await asyncio.gather(broken, alongside, return_exceptions=True)
        assert any(isinstance(r, StoreUnavailableError) for r in results)
        # Whatever that batch became, the next writes commit.
        await store.record_keys([_row(4)], 1)
        assert (await store.resolve([ResolveItem(_row(4), OK)], 2))[0].status == "accepted"
        assert "key-4" in await store.key_states(["key-4"])
    finally:
        await store.close()


async def test_concurrent_resolves_share_one_transaction_and_one_notification(
    two_stores: tuple[Store, Store],
) -> None:
    """Single resolves that arrive together are gathered into one transaction, which announces them in
    one NOTIFY (each used to be its own transaction and its own notification)."""
    a, b = two_stores
    events = Events()
    b.set_listener(events)
    rows = [_row(1000 + i) for i in range(50)]
    await a.record_keys(rows, 1)
    results = await asyncio.gather(*(a.resolve([ResolveItem(row, OK)], 2) for row in rows))
    assert all(result[0].status == "accepted" for result in results)
    seqs = [result[0].resolution_seq for result in results]
    assert len(set(seqs)) == 50
    await events.wait_for(lambda seen: any(isinstance(e, TerminalsRecorded) for e in seen))
    batches = [e for e in events.seen if isinstance(e, TerminalsRecorded)]
    assert len(batches) == 1 and not [e for e in events.seen if isinstance(e, TerminalRecorded)]
    assert sorted(t.key_id for t in batches[0].terminals) == sorted(row.key_id for row in rows)
    assert all(t.terminal_json == OK for t in batches[0].terminals)
