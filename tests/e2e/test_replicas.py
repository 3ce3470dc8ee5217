"""Two effectd replicas as subprocesses on one PostgreSQL database (DESIGN.md "Storage and scale")."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from effectd import (
    Accepted,
    AlreadyResolved,
    CustomWait,
    DurableStepCommand,
    LocalExecutor,
    Ok,
    RemoteEffectController,
    RuntimeEffectEnvelope,
    RuntimeEffectKind,
    RuntimeInvocation,
    RuntimeScope,
    Timeout,
    TurnScope,
    UnknownOrRevoked,
    UnknownOrRevokedError,
    into_durable_step,
)
from effectd._client import Client, KeyPending
from effectd._errors import EffectdError

from tests.pg import fresh_schema, require_postgres

from .conftest import ServerProcess, SpawnServer, free_port

SCOPE = TurnScope("replica-session", "turn-1")


@pytest.fixture
async def store_url() -> AsyncIterator[str]:
    await require_postgres()
    async with fresh_schema() as url:
        yield url


async def replica(spawn_server: SpawnServer, url: str, port: int | None = None) -> ServerProcess:
    port = port or free_port()
    return await spawn_server(args=["serve", "--listen", f"127.0.0.1:{port}", "--store", url], port=port)


@pytest.fixture
async def pair(spawn_server: SpawnServer, store_url: str) -> tuple[ServerProcess, ServerProcess]:
    return await replica(spawn_server, store_url), await replica(spawn_server, store_url)


async def test_a_resolve_on_one_replica_wakes_a_waiter_on_the_other(
    pair: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = pair
    async with await a.connect() as on_a, await b.connect() as on_b:
        key = await on_a.mint_key(SCOPE, CustomWait("cross"))
        waiting = asyncio.create_task(on_a.await_event(key, heartbeat_interval=0.05))
        watch = on_a.watch([key])
        await asyncio.sleep(0.3)
        started = time.monotonic()
        assert await on_b.resolve(key, Ok("from b")) == Accepted()
        assert await asyncio.wait_for(waiting, 10) == Ok("from b")
        woken = time.monotonic() - started
        events = [event async for event in watch]
        assert [e.resolution for e in events] == [Ok("from b")]  # type: ignore[union-attr]
        # Loose bound: the benchmark measures the real latency; here only "promptly, not by polling".
        assert woken < 2.0
        # A revocation on B reaches A's open waiters too.
        other = await on_a.mint_key(SCOPE, CustomWait("revoked"))
        doomed = asyncio.create_task(on_a.await_event(other))
        await asyncio.sleep(0.3)
        await on_b.revoke_session(SCOPE.session_id)
        with pytest.raises(UnknownOrRevokedError):
            await asyncio.wait_for(doomed, 10)
        assert await on_a.resolve(other, Ok(1)) == UnknownOrRevoked()


async def test_racing_resolvers_over_both_replicas_have_one_winner(
    pair: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = pair
    async with await a.connect() as on_a, await b.connect() as on_b:
        limit = asyncio.Semaphore(64)

        async def mint(i: int) -> Any:
            async with limit:
                return await on_a.mint_key(SCOPE, CustomWait(f"race-{i}"))

        keys = await asyncio.gather(*(mint(i) for i in range(1000)))

        async def resolve(key: Any, resolver: int) -> tuple[str, int, Any]:
            client = on_a if resolver % 2 else on_b
            async with limit:
                return key.key_id, resolver, await client.resolve(key, Ok(resolver))

        results = await asyncio.gather(*(resolve(k, r) for k in keys for r in range(16)))
    by_key: dict[str, list[tuple[int, Any]]] = {}
    for key_id, resolver, outcome in results:
        by_key.setdefault(key_id, []).append((resolver, outcome))
    assert len(by_key) == 1000
    for outcomes in by_key.values():
        winners = [r for r, outcome in outcomes if outcome == Accepted()]
        assert len(winners) == 1
        assert all(o == AlreadyResolved(Ok(winners[0])) for r, o in outcomes if r != winners[0])


async def test_a_journal_key_claimed_on_one_replica_replays_on_the_other(
    pair: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = pair
    envelope = RuntimeEffectEnvelope(
        RuntimeInvocation.effect(RuntimeScope("replica-session"), "1", RuntimeEffectKind.DURABLE_STEP, "replica:1"),
        DurableStepCommand("create", {"x": 1}),
    )
    async with await a.connect() as on_a, await b.connect() as on_b:
        gate = asyncio.Event()

        async def slow(value: Any) -> Any:
            await gate.wait()
            return {"made_on": "a"}

        first = asyncio.create_task(
            RemoteEffectController(on_a).execute_effect(SCOPE, envelope, LocalExecutor.durable_step(slow))
        )
        await asyncio.sleep(0.3)

        def never(_: Any) -> Any:
            raise AssertionError("ran twice")

        # B waits for A's lease holder and is woken by A's completion (a notification across replicas).
        second = asyncio.create_task(
            RemoteEffectController(on_b).execute_effect(SCOPE, envelope, LocalExecutor.durable_step(never))
        )
        await asyncio.sleep(0.2)
        gate.set()
        assert into_durable_step(await first) == {"made_on": "a"}
        assert into_durable_step(await asyncio.wait_for(second, 10)) == {"made_on": "a"}
        replay = await RemoteEffectController(on_b).execute_effect(SCOPE, envelope, LocalExecutor.durable_step(never))
        assert into_durable_step(replay) == {"made_on": "a"}


async def test_a_deadline_fires_once_for_waiters_on_both_replicas(
    pair: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = pair
    async with await a.connect() as on_a, await b.connect() as on_b:
        key = await on_a.mint_key(SCOPE, CustomWait("deadline"))
        deadline_ms = int(time.time() * 1000) + 500
        waiters = [
            asyncio.create_task(client.await_event(key, deadline_unix_ms=deadline_ms)) for client in (on_a, on_b)
        ]
        assert await asyncio.wait_for(asyncio.gather(*waiters), 15) == [Timeout(), Timeout()]
        assert await on_b.resolve(key, Ok("late")) == AlreadyResolved(Timeout())


async def test_kill_9_one_replica_under_load_loses_nothing_acknowledged(
    pair: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = pair
    async with await Client.connect([a.target, b.target]) as client, await b.connect() as survivor:
        keys = [await survivor.mint_key(SCOPE, CustomWait(f"load-{i}")) for i in range(400)]
        acknowledged: dict[str, int] = {}
        failed: list[BaseException] = []
        limit = asyncio.Semaphore(16)
        quarter_done = asyncio.Event()

        async def resolve(i: int) -> None:
            async with limit:
                try:
                    outcome = await client.resolve(keys[i], Ok(i), timeout=20)
                except EffectdError as exc:
                    failed.append(exc)
                    return
                if outcome in (Accepted(), AlreadyResolved(Ok(i))):
                    acknowledged[keys[i].key_id] = i
                    if len(acknowledged) >= 100:
                        quarter_done.set()

        load = asyncio.gather(*(resolve(i) for i in range(400)))
        await asyncio.wait_for(quarter_done.wait(), 30)
        a.kill9()
        await asyncio.wait_for(load, 60)
        # The client moved to the surviving replica: nearly everything went through.
        assert len(acknowledged) + len(failed) == 400
        assert len(failed) <= 16, failed[:3]
        for i, key in enumerate(keys):
            if key.key_id in acknowledged:
                assert await survivor.peek(key) == Ok(i)


async def test_postgres_restart_under_load_recovers_without_restarting_replicas(
    pair: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = pair
    async with await a.connect() as on_a, await b.connect() as on_b:
        before = await on_a.mint_key(SCOPE, CustomWait("across-restart"))
        waiting = asyncio.create_task(on_a.await_event(before, heartbeat_interval=0.2))
        keys = [await on_a.mint_key(SCOPE, CustomWait(f"pg-{i}")) for i in range(200)]
        acknowledged: dict[str, int] = {}
        stop = asyncio.Event()

        async def resolver(worker: int) -> None:
            client = on_a if worker % 2 else on_b
            for i in range(worker, len(keys), 4):
                if stop.is_set():
                    return
                try:
                    if await client.resolve(keys[i], Ok(i), timeout=5) in (Accepted(), AlreadyResolved(Ok(i))):
                        acknowledged[keys[i].key_id] = i
                except EffectdError:
                    await asyncio.sleep(0.05)

        load = asyncio.gather(*(resolver(w) for w in range(4)))
        await asyncio.sleep(0.2)
        version = os.listdir("/etc/postgresql")[0]
        await asyncio.to_thread(
            subprocess.run,
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart", "-m", "immediate"],
            check=True,
            capture_output=True,
        )
        await asyncio.wait_for(load, 120)
        stop.set()
        # Both replicas serve again without a restart of their own.
        for client in (on_a, on_b):
            for attempt in range(100):
                try:
                    fresh = await client.mint_key(SCOPE, CustomWait(f"after-{attempt}-{id(client)}"))
                    assert isinstance(await client.peek(fresh), KeyPending)
                    break
                except EffectdError:
                    await asyncio.sleep(0.2)
            else:
                raise AssertionError("a replica did not recover after the PostgreSQL restart")
        # A waiter opened before the restart is woken by a resolve on the other replica after it.
        assert await on_b.resolve(before, Ok("after restart")) == Accepted()
        assert await asyncio.wait_for(waiting, 30) == Ok("after restart")
        for i, key in enumerate(keys):
            if key.key_id in acknowledged:
                assert await on_b.peek(key) == Ok(i)
        assert len(acknowledged) > 0
