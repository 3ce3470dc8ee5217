"""kill -9 and restart: acknowledged means durable, keys keep verifying, waiters and deadlines survive.

DESIGN.md "Await events" and "Storage and scale": nothing is acknowledged before its transaction
commits; the keyring lives in the store; a waiter whose stream drops reconnects and waits again; a
waiter's deadline is a durable server-side timer.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from effectd import (
    Accepted,
    AlreadyResolved,
    AwaitEventKey,
    CustomWait,
    Ok,
    Timeout,
    ToolCompletionWait,
    TurnScope,
    UnavailableError,
    UnknownOrRevoked,
    UnknownOrRevokedError,
)
from effectd._client import Client, KeyPending, WatchTerminal

from .conftest import SpawnServer, eventually, probed_client

N_KEYS = 1000
KILL_AFTER_ACKS = 300
IN_FLIGHT = 64


def payload(i: int) -> dict[str, Any]:
    """A distinct payload per key (ints and strings only, so it round-trips exactly)."""
    return {"i": i, "text": f"payload-{i}", "tags": [i, f"t{i}", i % 7 == 0], "nested": {"square": i * i}}


async def bounded_gather(limit: int, coros: list[Any]) -> list[Any]:
    semaphore = asyncio.Semaphore(limit)

    async def one(coro: Any) -> Any:
        async with semaphore:
            return await coro

    return await asyncio.gather(*(one(c) for c in coros))


async def test_kill9_during_1000_concurrent_resolves_loses_no_acknowledged_resolution(
    spawn_server: SpawnServer,
) -> None:
    server = await spawn_server()
    scope = TurnScope("crash-session", "turn-1")
    async with await server.connect() as client:
        keys: list[AwaitEventKey] = await bounded_gather(
            IN_FLIGHT, [client.mint_key(scope, ToolCompletionWait(f"call-{i}")) for i in range(N_KEYS)]
        )
        # Keys minted before the crash that nobody resolves before it.
        spare: list[AwaitEventKey] = [await client.mint_key(scope, CustomWait(f"spare-{i}")) for i in range(4)]
        assert len({k.key_id for k in keys}) == N_KEYS

        acked: set[int] = set()
        attempted: set[int] = set()
        unexpected: list[tuple[int, object]] = []
        killed = False
        todo = iter(range(N_KEYS))

        async def resolver() -> None:
            nonlocal killed
            for i in todo:
                if killed:
                    return
                attempted.add(i)
                try:
                    outcome = await client.resolve(keys[i], Ok(payload(i)), timeout=30)
                except UnavailableError:
                    if killed:
                        return
                    raise
                if outcome != Accepted():
                    unexpected.append((i, outcome))
                    continue
                # Every answer read here was sent by the server before it died: an acknowledgement.
                acked.add(i)
                if len(acked) == KILL_AFTER_ACKS and not killed:
                    killed = True
                    server.kill9()

        await asyncio.gather(*(resolver() for _ in range(IN_FLIGHT)))

    assert killed
    assert unexpected == []
    assert KILL_AFTER_ACKS <= len(acked) < N_KEYS
    assert len(attempted) < N_KEYS  # the kill came while resolves were still being sent

    await server.start()  # same port, same database file
    async with await server.connect() as client:
        states = await bounded_gather(IN_FLIGHT, [client.peek(k) for k in keys])
        for i, state in enumerate(states):
            if i in acked:
                assert state == Ok(payload(i)), f"acknowledged resolution of key {i} lost: {state!r}"
            else:
                # Sent but never acknowledged: either it committed (with its own payload) or nothing did.
                assert state in (KeyPending(None), Ok(payload(i))), f"key {i}: {state!r}"
                if i not in attempted:
                    assert state == KeyPending(None)

        # A later resolve of an acknowledged key answers already_resolved with the winner.
        losers = await bounded_gather(IN_FLIGHT, [client.resolve(keys[i], Ok({"late": i})) for i in sorted(acked)])
        for i, outcome in zip(sorted(acked), losers, strict=True):
            assert outcome == AlreadyResolved(Ok(payload(i)))
        for i in sorted(acked)[:5]:
            assert await client.await_event(keys[i]) == Ok(payload(i))

        # Keys minted before the crash still verify: minting is deterministic, resolving is accepted.
        for key in spare:
            assert await client.mint_key(key.scope, key.wait) == key
            assert await client.resolve(key, Ok({"after": "restart"})) == Accepted()
            assert await client.peek(key) == Ok({"after": "restart"})
        for i in (0, N_KEYS // 2, N_KEYS - 1):
            assert await client.mint_key(keys[i].scope, keys[i].wait) == keys[i]

        # The keys whose resolve was lost can be resolved now, each exactly once.
        rest = [i for i in range(N_KEYS) if i not in acked]
        outcomes = await bounded_gather(IN_FLIGHT, [client.resolve(keys[i], Ok(payload(i))) for i in rest])
        for i, outcome, state in zip(rest, outcomes, [states[i] for i in rest], strict=True):
            expected = Accepted() if state == KeyPending(None) else AlreadyResolved(Ok(payload(i)))
            assert outcome == expected, f"key {i}: {outcome!r}"


async def test_waiter_reconnects_after_kill9_and_restart_on_the_same_port(spawn_server: SpawnServer) -> None:
    server = await spawn_server()
    async with await server.connect() as client:
        key = await client.mint_key(TurnScope("s-reconnect", "t1"), CustomWait("approval"))

    async with probed_client(server.target) as (waiter, probe):
        task = asyncio.create_task(waiter.await_event(key, heartbeat_interval=0.05))
        try:
            await probe.wait_until(lambda p: p.responses >= 1)  # a heartbeat: the stream is open
            assert probe.calls == 1

            server.kill9()
            await asyncio.sleep(0.3)
            assert not task.done(), "a broken stream must be retried, not turned into a result or an error"

            await server.start()
            async with await server.connect() as resolver:
                assert await resolver.peek(key) == KeyPending(None)
                assert await resolver.resolve(key, Ok({"approved": True})) == Accepted()

            assert await asyncio.wait_for(task, 30) == Ok({"approved": True})
            assert probe.calls >= 2  # the waiter opened a new stream to the restarted server
        finally:
            task.cancel()


async def _wait_for_deadline(client: Client, key: AwaitEventKey) -> int:
    """The key's durable deadline, once a waiter's Await registered it in the store."""
    found: list[int] = []

    async def registered() -> bool:
        state = await client.peek(key)
        assert isinstance(state, KeyPending), state
        if state.deadline_unix_ms is not None:
            found.append(state.deadline_unix_ms)
        return bool(found)

    await eventually(registered)
    return found[0]


async def test_durable_deadline_survives_kill9(spawn_server: SpawnServer) -> None:
    server = await spawn_server()
    scope = TurnScope("s-deadline", "t1")
    async with await server.connect() as client:
        key = await client.mint_key(scope, CustomWait("with-waiter"))
        orphan = await client.mint_key(scope, CustomWait("waiter-gone"))

        started = time.monotonic()
        async with probed_client(server.target) as (waiter, _):
            task = asyncio.create_task(waiter.await_event(key, timeout=1.0))
            # A second waiter registers a deadline, then goes away for good: after the restart nobody
            # sends that deadline again, so only the store can make it fire.
            orphan_task = asyncio.create_task(waiter.await_event(orphan, timeout=1.0))
            try:
                deadline = await _wait_for_deadline(client, key)
                orphan_deadline = await _wait_for_deadline(client, orphan)
                orphan_task.cancel()
                await asyncio.sleep(max(0.0, 0.3 - (time.monotonic() - started)))
                assert not task.done()

                server.kill9()
                await server.start()

                assert await asyncio.wait_for(task, 30) == Timeout()
                assert time.time() * 1000 >= deadline  # never before the deadline
            finally:
                task.cancel()
                orphan_task.cancel()

    async with await server.connect() as client:
        assert await client.peek(key) == Timeout()
        assert await client.resolve(key, Ok("too late")) == AlreadyResolved(Timeout())

        async def orphan_fired() -> bool:
            return not isinstance(await client.peek(orphan), KeyPending)

        await eventually(orphan_fired)
        assert time.time() * 1000 >= orphan_deadline
        assert await client.peek(orphan) == Timeout()
        assert await client.await_event(orphan) == Timeout()


async def test_watch_gets_terminals_recorded_across_a_kill9(spawn_server: SpawnServer) -> None:
    server = await spawn_server()
    scope = TurnScope("s-watch", "t1")
    async with await server.connect() as client:
        first = await client.mint_key(scope, CustomWait("first"))
        second = await client.mint_key(scope, CustomWait("second"))
        watch = client.watch([first, second], heartbeat_interval=0.05)
        events = aiter(watch)
        try:
            assert await client.resolve(first, Ok(1)) == Accepted()
            got = await asyncio.wait_for(anext(events), 20)
            assert isinstance(got, WatchTerminal)
            assert (got.key_id, got.resolution) == (first.key_id, Ok(1))
            first_cursor = got.cursor

            server.kill9()
            await server.start()
            async with await server.connect() as resolver:
                assert await resolver.resolve(second, Ok(2)) == Accepted()

            got = await asyncio.wait_for(anext(events), 30)
            assert isinstance(got, WatchTerminal)
            assert (got.key_id, got.resolution) == (second.key_id, Ok(2))
            assert got.cursor > first_cursor > 0  # cursors keep growing across the restart
            assert watch.pending == 0
        finally:
            await watch.aclose()


async def test_a_deadline_that_passed_while_the_server_was_down_fires_at_start(spawn_server: SpawnServer) -> None:
    server = await spawn_server()
    async with await server.connect() as client:
        key = await client.mint_key(TurnScope("s-deadline-down", "t1"), CustomWait("late"))
        async with probed_client(server.target) as (waiter, _):
            task = asyncio.create_task(waiter.await_event(key, timeout=0.5))
            try:
                deadline = await _wait_for_deadline(client, key)
            finally:
                task.cancel()
    server.kill9()
    await asyncio.sleep(max(0.0, deadline / 1000 - time.time()) + 0.2)

    await server.start()
    async with await server.connect() as client:

        async def fired() -> bool:
            return not isinstance(await client.peek(key), KeyPending)

        await eventually(fired)
        assert await client.peek(key) == Timeout()
        assert await client.resolve(key, Ok("late")) == AlreadyResolved(Timeout())


async def test_revocations_and_the_keyring_survive_kill9(spawn_server: SpawnServer) -> None:
    server = await spawn_server()
    live = TurnScope("s-live", "t1")
    async with await server.connect() as client:
        revoked_session = await client.mint_key(TurnScope("s-revoked", "t1"), CustomWait("w"))
        revoked_key = await client.mint_key(live, CustomWait("revoked"))
        retired_kid_key = await client.mint_key(live, CustomWait("retired-kid"))
        first_kid = retired_kid_key.signature.split(".")[1]
        await client.revoke_session("s-revoked")
        await client.revoke_key(revoked_key)
        second_kid = (await client.rotate_signing_key()).kid
        verify_only_key = await client.mint_key(live, CustomWait("verify-only-kid"))
        active_kid = (await client.rotate_signing_key()).kid
        assert (await client.retire_signing_key(first_kid)).state == "retired"
        active_key = await client.mint_key(live, CustomWait("active-kid"))
        assert verify_only_key.signature.split(".")[1] == second_kid
        assert active_key.signature.split(".")[1] == active_kid

    server.kill9()
    await server.start()
    async with await server.connect() as client:
        states = {k.kid: k.state for k in await client.list_signing_keys()}
        assert states == {first_kid: "retired", second_kid: "verify_only", active_kid: "active"}
        for key in (revoked_session, revoked_key, retired_kid_key):
            assert await client.resolve(key, Ok(1)) == UnknownOrRevoked()
            with pytest.raises(UnknownOrRevokedError):
                await client.await_event(key, reconnect_for=0)
        assert await client.resolve(verify_only_key, Ok(2)) == Accepted()
        assert await client.mint_key(active_key.scope, active_key.wait) == active_key
        assert await client.resolve(active_key, Ok(3)) == Accepted()
        # The revoked session's keys stay refused, minted before or after the restart.
        later = await client.mint_key(TurnScope("s-revoked", "t2"), CustomWait("w"))
        assert await client.resolve(later, Ok(1)) == UnknownOrRevoked()
