"""The operator queries the console reads, on both stores: counts, pages after a cursor, search, the
scopes of a session, grants of a session, and an operator's resolve by key id waking a waiter."""

from __future__ import annotations

import asyncio

from effectd import Accepted, AlreadyResolved, Cancelled, Ok, UnknownOrRevoked
from effectd._client import Client
from effectd_server import RunningServer
from effectd_server.await_events.core import AwaitEventCore
from effectd_server.journal.core import Journal, session_scope_prefixes
from effectd_server.processes.core import ProcessRegistryCore

from tests.console_seed import PROCESS_ID, REVOKED_SESSION, SCOPE, SESSION, seed


def cores(server: RunningServer) -> tuple[AwaitEventCore, Journal, ProcessRegistryCore]:
    return server.parts["await_events"], server.parts["journal"], server.parts["processes"]


async def test_counts(server: RunningServer, client: Client) -> None:
    await seed(client)
    keys, journal, processes = cores(server)
    counts = await keys.count_keys()
    # The revoked session's key is not counted as pending: it refuses every resolve.
    assert (counts.pending, counts.resolved, counts.revoked_sessions) == (2, 1, 1)
    assert await journal.count_by_status() == {"completed": 1, "failed": 1}
    assert await processes.count_by_status() == {"running": 1}


async def test_keys_by_state_session_search_and_cursor(server: RunningServer, client: Client) -> None:
    seeded = await seed(client)
    keys, _, _ = cores(server)
    pending = await keys.list_keys(state="pending", session_id=SESSION)
    assert {k.key_id for k in pending} == {seeded.pending.key_id, seeded.waited.key_id}
    assert [k.key_id for k in pending] == sorted(k.key_id for k in pending)
    resolved = await keys.list_keys(state="resolved", session_id=SESSION)
    assert [k.key_id for k in resolved] == [seeded.resolved.key_id]
    assert resolved[0].terminal_json == '{"status":"ok","payload":{"approved":true,"by":"ops"}}'
    assert resolved[0].resolved_at_ms is not None
    # One page at a time, after a cursor, never repeating.
    first = await keys.list_keys(limit=2)
    second = await keys.list_keys(after_key_id=first[-1].key_id, limit=2)
    assert len(first) == 2 and len(second) == 2
    assert first[-1].key_id < second[0].key_id
    assert await keys.list_keys(after_key_id=second[-1].key_id, limit=2) == []
    found = await keys.list_keys(contains="deploy-gate")
    assert [k.key_id for k in found] == [seeded.waited.key_id]
    revoked = await keys.get_key(seeded.revoked.key_id)
    assert revoked is not None and revoked.revoked and revoked.session_id == REVOKED_SESSION
    assert await keys.get_key("0" * 64) is None


async def test_sessions_and_their_scopes_and_grants(server: RunningServer, client: Client) -> None:
    await seed(client)
    keys, journal, processes = cores(server)
    sessions = await keys.list_sessions()
    assert [(s.session_id, s.revoked) for s in sessions] == [(SESSION, False), (REVOKED_SESSION, True)]
    assert [s.session_id for s in await keys.list_sessions(after=SESSION)] == [REVOKED_SESSION]
    assert [s.session_id for s in await keys.list_sessions(contains="revoked")] == [REVOKED_SESSION]
    assert await processes.list_grant_sessions() == [SESSION]
    scopes = await journal.list_scopes(session_id=SESSION)
    assert [(s.effects, s.failed, s.in_progress) for s in scopes] == [(2, 1, 0)]
    assert scopes[0].scope_json == '{"type":"turn","session_id":"session-alpha","turn_id":"turn-1"}'
    assert await journal.list_scopes(session_id="session-alp") == []
    assert await journal.list_scopes(contains="nothing-like-this") == []
    grants = await processes.grants_of_session(SESSION)
    assert [(g.scope_id, r.id) for g, r in grants] == [(f"session:{SESSION}", PROCESS_ID)]
    records = await journal.list_rows(scopes[0].scope_json, 0, 10)
    assert [r.replay_key for r in records] == ["replay:fetch", "replay:bill"]


def test_session_scope_prefixes_match_the_lash_json_of_each_session_scope() -> None:
    from effectd import QueueDrainScope, SessionDeleteScope
    from effectd._lashjson import dumps

    prefixes = session_scope_prefixes('s"1')
    for scope in (SCOPE.__class__('s"1', "t"), QueueDrainScope('s"1', "d"), SessionDeleteScope('s"1')):
        assert any(dumps(scope).startswith(p) for p in prefixes)
    assert not any(dumps(SessionDeleteScope('s"10')).startswith(p) for p in prefixes)


async def test_processes_page_and_follow(server: RunningServer, client: Client) -> None:
    await seed(client)
    _, _, processes = cores(server)
    assert [r.id for r in await processes.page_processes(status="running")] == [PROCESS_ID]
    assert await processes.page_processes(status="completed") == []
    assert await processes.page_processes(contains="nope") == []
    assert [e.sequence for e in await processes.events_page(PROCESS_ID, 0, 10)] == [1, 2]
    follow = asyncio.create_task(processes.follow_events(PROCESS_ID, 2, 10))
    await asyncio.sleep(0.05)
    assert not follow.done()
    from effectd import ProcessEventAppendRequest, RemoteProcessRegistry

    await RemoteProcessRegistry(client).append_event(PROCESS_ID, ProcessEventAppendRequest("progress", {"p": 90}))
    events = await asyncio.wait_for(follow, 10)
    assert [e.sequence for e in events] == [3]


async def test_operator_resolve_wakes_a_waiter_and_keeps_first_writer_wins(
    server: RunningServer, client: Client
) -> None:
    seeded = await seed(client)
    keys, _, _ = cores(server)
    waiting = asyncio.create_task(client.await_event(seeded.waited))
    await asyncio.sleep(0.05)
    assert await keys.resolve_stored(seeded.waited.key_id, Ok({"go": True})) == Accepted()
    assert await asyncio.wait_for(waiting, 10) == Ok({"go": True})
    assert await keys.resolve_stored(seeded.waited.key_id, Cancelled()) == AlreadyResolved(Ok({"go": True}))
    assert await keys.resolve_stored(seeded.revoked.key_id, Cancelled()) == UnknownOrRevoked()
    assert await keys.resolve_stored("f" * 64, Cancelled()) == UnknownOrRevoked()


async def test_a_terminal_keeps_who_recorded_it(server: RunningServer, client: Client) -> None:
    """The key page says who resolved a key: the caller's address over gRPC (with its role when tokens are
    configured), the console, a deadline, or the process signal that resolved it."""
    from effectd import CustomWait, ProcessScope, ProcessSignalWait, Timeout, TurnScope

    keys, _, processes = cores(server)
    by_grpc = await client.mint_key(TurnScope("who", "t"), CustomWait("grpc"))
    assert await client.resolve(by_grpc, Ok(1)) == Accepted()
    listed = await keys.get_key(by_grpc.key_id)
    assert listed is not None and listed.resolved_by is not None
    assert listed.resolved_by.startswith("ipv4:127.0.0.1:")

    by_console = await client.mint_key(TurnScope("who", "t"), CustomWait("console"))
    assert await keys.resolve_stored(by_console.key_id, Ok(2)) == Accepted()
    listed = await keys.get_key(by_console.key_id)
    assert listed is not None and listed.resolved_by == "console"

    by_deadline = await client.mint_key(TurnScope("who", "t"), CustomWait("deadline"))
    assert await asyncio.wait_for(client.await_event(by_deadline, timeout=0.2), 10) == Timeout()
    listed = await keys.get_key(by_deadline.key_id)
    assert listed is not None and listed.resolved_by == "deadline"

    from tests.integration.test_process_registry import registration, signal_wait
    from tests.integration.test_processes_service import signal_type

    await processes.register_process(registration("who-p", signal_type("go")))
    await processes.set_process_wait("who-p", signal_wait("who-p", "go", 1))
    from effectd_server.processes.signals import send_signal

    await send_signal(processes, keys, "who-p", "go", "s-1", {"n": 1})
    signal_key = await client.mint_key(ProcessScope("who-p"), ProcessSignalWait("who-p", "go", 1))
    listed = await keys.get_key(signal_key.key_id)
    assert listed is not None and listed.resolved_by == "signal go of process who-p"
