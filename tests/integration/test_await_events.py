"""Await-event semantics against a real server (DESIGN.md "Await events")."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time

import grpc
import pytest
from effectd import (
    Accepted,
    AlreadyResolved,
    AwaitEventKey,
    Cancelled,
    CustomWait,
    Err,
    ExternalCompletionError,
    Ok,
    ProcessScope,
    ProcessSignalWait,
    RuntimeOperationScope,
    Timeout,
    ToolCompletionWait,
    TurnScope,
    UnknownOrRevoked,
    UnknownOrRevokedError,
    await_event_key_id,
)
from effectd._client import Client, KeyPending
from effectd._convert_scope import key_to_proto
from effectd._host import RemoteEffectHost
from effectd.v1 import await_events_pb2 as pb
from effectd.v1 import await_events_pb2_grpc as pb_grpc
from effectd_server import RunningServer


async def test_mint_is_deterministic_and_lash_compatible(client: Client, scope: TurnScope) -> None:
    wait = ToolCompletionWait("call-1")
    first = await client.mint_key(scope, wait)
    second = await client.mint_key(scope, wait)
    assert first == second
    assert first.key_id == await_event_key_id(scope, wait)
    version, kid, mac = first.signature.split(".")
    assert version == "v1" and kid and len(mac) == 64


async def test_first_writer_wins_and_losers_get_the_winner(client: Client, scope: TurnScope) -> None:
    key = await client.mint_key(scope, CustomWait("approval"))
    assert await client.resolve(key, Ok({"approved": True})) == Accepted()
    assert await client.resolve(key, Ok({"approved": False})) == AlreadyResolved(Ok({"approved": True}))
    assert await client.cancel(key) == AlreadyResolved(Ok({"approved": True}))
    assert await client.await_event(key) == Ok({"approved": True})


async def test_early_resolution_is_kept_for_a_later_waiter(client: Client, scope: TurnScope) -> None:
    key = await client.mint_key(scope, CustomWait("early"))
    error = Err(ExternalCompletionError("tool_failed", "the tool failed", raw={"exit": 3}))
    assert await client.resolve(key, error) == Accepted()
    assert await client.peek(key) == error
    assert await client.await_event(key) == error


async def test_race_200_keys_16_resolvers_exactly_one_winner(client: Client, scope: TurnScope) -> None:
    keys = await asyncio.gather(*(client.mint_key(scope, CustomWait(f"race-{i}")) for i in range(200)))

    async def resolve(key: AwaitEventKey, resolver: int) -> tuple[str, int, object]:
        return key.key_id, resolver, await client.resolve(key, Ok({"resolver": resolver}))

    results = await asyncio.gather(*(resolve(k, r) for k in keys for r in range(16)))
    by_key: dict[str, list[tuple[int, object]]] = {}
    for key_id, resolver, outcome in results:
        by_key.setdefault(key_id, []).append((resolver, outcome))
    assert len(by_key) == 200
    for outcomes in by_key.values():
        winners = [resolver for resolver, outcome in outcomes if outcome == Accepted()]
        assert len(winners) == 1
        expected = AlreadyResolved(Ok({"resolver": winners[0]}))
        assert all(outcome == expected for resolver, outcome in outcomes if resolver != winners[0])


async def test_await_streams_heartbeats_while_pending(server: RunningServer, client: Client, scope: TurnScope) -> None:
    key = await client.mint_key(scope, CustomWait("heartbeats"))
    async with grpc.aio.insecure_channel(server.target) as channel:
        stub = pb_grpc.AwaitEventsStub(channel)
        call = stub.Await(pb.AwaitRequest(key=key_to_proto(key), heartbeat_interval_ms=50))
        events = []
        async for response in call:
            events.append(response.WhichOneof("event"))
            if events.count("heartbeat") == 2:
                await client.resolve(key, Ok("done"))
            if events[-1] == "terminal":
                assert response.terminal.ok.text == '"done"'
                break
    assert events[:2] == ["heartbeat", "heartbeat"] and events[-1] == "terminal"


async def test_deadline_records_timeout_and_first_writer_wins_after(client: Client, scope: TurnScope) -> None:
    key = await client.mint_key(scope, CustomWait("deadline"))
    assert await client.await_event(key, timeout=0.2) == Timeout()
    assert await client.peek(key) == Timeout()
    assert await client.resolve(key, Ok("too late")) == AlreadyResolved(Timeout())


async def test_deadline_fires_without_a_waiter(client: Client, scope: TurnScope) -> None:
    key = await client.mint_key(scope, CustomWait("deadline-no-waiter"))
    deadline_ms = int(time.time() * 1000) + 200
    waiter = asyncio.create_task(client.await_event(key, deadline_unix_ms=deadline_ms))
    await asyncio.sleep(0.05)
    waiter.cancel()  # the stream drops; the durable deadline still fires
    state = await client.peek(key)
    assert state == KeyPending(deadline_ms)
    for _ in range(100):
        if await client.peek(key) == Timeout():
            break
        await asyncio.sleep(0.05)
    assert await client.peek(key) == Timeout()


async def test_a_resolve_racing_the_deadline_wins_if_first(client: Client, scope: TurnScope) -> None:
    key = await client.mint_key(scope, CustomWait("beats-deadline"))
    waiter = asyncio.create_task(client.await_event(key, timeout=5.0))
    await asyncio.sleep(0.05)
    assert await client.resolve(key, Ok(1)) == Accepted()
    assert await waiter == Ok(1)


async def test_explicit_cancel_records_cancelled(client: Client, scope: TurnScope) -> None:
    key = await client.mint_key(scope, CustomWait("cancel"))
    waiter = asyncio.create_task(client.await_event(key))
    await asyncio.sleep(0.05)
    assert await client.cancel(key) == Accepted()
    assert await waiter == Cancelled()
    assert await client.resolve(key, Ok(1)) == AlreadyResolved(Cancelled())


async def test_host_cancel_event_records_cancelled(client: Client, scope: TurnScope) -> None:
    host = RemoteEffectHost(client)
    key = await host.await_event_key(scope, ToolCompletionWait("host-cancel"))
    cancel = asyncio.Event()
    waiting = asyncio.create_task(host.await_await_event(key, cancel=cancel))
    await asyncio.sleep(0.05)
    cancel.set()
    assert await waiting == Cancelled()
    pre_cancelled = asyncio.Event()
    pre_cancelled.set()
    other = await host.await_event_key(scope, ToolCompletionWait("host-pre-cancelled"))
    assert await host.await_await_event(other, cancel=pre_cancelled) == Cancelled()


async def test_host_deadline_and_resolution(client: Client, scope: TurnScope) -> None:
    host = RemoteEffectHost(client)
    key = await host.await_event_key(scope, ToolCompletionWait("host-deadline"))
    assert await host.await_await_event(key, deadline=time.time() + 0.1) == Timeout()
    resolved = await host.await_event_key(scope, ToolCompletionWait("host-resolved"))
    waiting = asyncio.create_task(host.await_await_event(resolved, cancel=asyncio.Event()))
    await asyncio.sleep(0.05)
    assert await host.resolve_await_event(resolved, Ok("v")) == Accepted()
    assert await waiting == Ok("v")


async def test_a_dropped_stream_resolves_nothing(client: Client, scope: TurnScope) -> None:
    key = await client.mint_key(scope, CustomWait("dropped"))
    waiter = asyncio.create_task(client.await_event(key))
    await asyncio.sleep(0.05)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await asyncio.sleep(0.05)
    assert await client.peek(key) == KeyPending(None)
    assert await client.resolve(key, Ok("later")) == Accepted()


async def test_no_lost_wakeup_when_resolve_races_the_wait(client: Client, scope: TurnScope) -> None:
    keys = await asyncio.gather(*(client.mint_key(scope, CustomWait(f"wake-{i}")) for i in range(300)))

    async def wait_and_resolve(i: int, key: AwaitEventKey) -> object:
        waiter = asyncio.create_task(client.await_event(key))
        await asyncio.sleep(0.0005 * (i % 5))
        await client.resolve(key, Ok(i))
        return await asyncio.wait_for(waiter, 20)

    results = await asyncio.gather(*(wait_and_resolve(i, k) for i, k in enumerate(keys)))
    assert results == [Ok(i) for i in range(300)]


async def test_revoke_session_fails_open_waiters_and_later_resolves(start_server, scope: TurnScope) -> None:
    async with start_server() as server, await Client.connect(server.target) as client:
        key = await client.mint_key(scope, CustomWait("revoked"))
        other_session = await client.mint_key(TurnScope("session-2", "t"), CustomWait("kept"))
        waiter = asyncio.create_task(client.await_event(key))
        await asyncio.sleep(0.05)
        await client.revoke_session("session-1")
        with pytest.raises(UnknownOrRevokedError) as raised:
            await asyncio.wait_for(waiter, 5)
        assert raised.value.code == "await_event_unknown_or_revoked"
        assert await client.resolve(key, Ok(1)) == UnknownOrRevoked()
        fresh = await client.mint_key(scope, CustomWait("minted-after-revoke"))
        assert await client.resolve(fresh, Ok(1)) == UnknownOrRevoked()
        assert await client.resolve(other_session, Ok(1)) == Accepted()
    # The tombstone is durable: a restarted server still refuses the session.
    async with start_server() as server, await Client.connect(server.target) as client:
        assert await client.resolve(key, Ok(2)) == UnknownOrRevoked()
        with pytest.raises(UnknownOrRevokedError):
            await client.peek(key)


async def test_revoke_session_refuses_keys_already_resolved(client: Client, scope: TurnScope) -> None:
    key = await client.mint_key(scope, CustomWait("resolved-then-revoked"))
    await client.resolve(key, Ok(1))
    await client.revoke_session(scope.session_id)
    with pytest.raises(UnknownOrRevokedError):
        await client.await_event(key)


async def test_cancel_session_waits_cancels_pending_keys_only(client: Client, scope: TurnScope) -> None:
    pending = [await client.mint_key(scope, CustomWait(f"p{i}")) for i in range(3)]
    done = await client.mint_key(scope, CustomWait("done"))
    await client.resolve(done, Ok("kept"))
    waiter = asyncio.create_task(client.await_event(pending[0]))
    await asyncio.sleep(0.05)
    assert await client.cancel_session_waits(scope.session_id) == 3
    assert await waiter == Cancelled()
    assert [await client.peek(k) for k in pending] == [Cancelled()] * 3
    assert await client.peek(done) == Ok("kept")
    # The session stays usable.
    fresh = await client.mint_key(scope, CustomWait("after"))
    assert await client.resolve(fresh, Ok(1)) == Accepted()
    assert await client.cancel_session_waits(scope.session_id) == 0


async def test_revoke_key_for_scopes_without_a_session(client: Client) -> None:
    key = await client.mint_key(ProcessScope("proc-1"), ProcessSignalWait("proc-1", "ready", 1))
    other = await client.mint_key(RuntimeOperationScope("op-1"), CustomWait("x"))
    waiter = asyncio.create_task(client.await_event(key))
    await asyncio.sleep(0.05)
    await client.revoke_key(key)
    with pytest.raises(UnknownOrRevokedError):
        await asyncio.wait_for(waiter, 5)
    assert await client.resolve(key, Ok(1)) == UnknownOrRevoked()
    assert await client.resolve(other, Ok(1)) == Accepted()


def _tampered(key: AwaitEventKey) -> dict[str, AwaitEventKey]:
    version, kid, mac = key.signature.split(".")
    flipped = ("0" if mac[0] != "0" else "1") + mac[1:]
    return {
        "signature mismatch": dataclasses.replace(key, signature=f"{version}.{kid}.{flipped}"),
        "unknown signing key": dataclasses.replace(key, signature=f"{version}.ffffffffffff.{mac}"),
        "malformed signature": dataclasses.replace(key, signature="not-a-signature"),
        "key_id does not match": dataclasses.replace(key, key_id="0" * 64),
        "signature mismatch (scope)": dataclasses.replace(
            key,
            scope=TurnScope("session-1", "other-turn"),
            key_id=await_event_key_id(TurnScope("session-1", "other-turn"), key.wait),
        ),
    }


async def test_tampered_keys_are_indistinguishable_and_logged(
    client: Client, scope: TurnScope, caplog: pytest.LogCaptureFixture
) -> None:
    key = await client.mint_key(scope, CustomWait("tamper"))
    caplog.set_level(logging.INFO, logger="effectd.await_events")
    for reason, bad in _tampered(key).items():
        caplog.clear()
        assert await client.resolve(bad, Ok(1)) == UnknownOrRevoked(), reason
        assert reason.split(" (")[0] in caplog.text, reason
        with pytest.raises(UnknownOrRevokedError) as raised:
            await client.await_event(bad)
        assert raised.value.message == "await-event key is invalid or revoked"
        with pytest.raises(UnknownOrRevokedError):
            await client.peek(bad)
    assert await client.peek(key) == KeyPending(None)


async def test_rotation_keeps_old_keys_until_their_kid_is_retired(client: Client, scope: TurnScope) -> None:
    old = await client.mint_key(scope, CustomWait("old"))
    old_kid = old.signature.split(".")[1]
    active = await client.rotate_signing_key()
    assert active.kid != old_kid
    new = await client.mint_key(scope, CustomWait("new"))
    assert new.signature.split(".")[1] == active.kid
    states = {k.kid: k.state for k in await client.list_signing_keys()}
    assert states == {old_kid: "verify_only", active.kid: "active"}
    # Minting is deterministic for a given signing key: the same key now carries the new kid.
    remint = await client.mint_key(scope, CustomWait("old"))
    assert remint.key_id == old.key_id and remint.signature != old.signature
    assert await client.peek(old) == KeyPending(None)
    retired = await client.retire_signing_key(old_kid)
    assert retired.state == "retired"
    assert await client.resolve(old, Ok(1)) == UnknownOrRevoked()
    assert await client.resolve(remint, Ok(2)) == Accepted()


async def test_keyring_survives_restart(start_server, scope: TurnScope) -> None:
    async with start_server() as server, await Client.connect(server.target) as client:
        key = await client.mint_key(scope, CustomWait("restart"))
    async with start_server() as server, await Client.connect(server.target) as client:
        assert await client.mint_key(scope, CustomWait("restart")) == key
        assert await client.resolve(key, Ok("after restart")) == Accepted()
