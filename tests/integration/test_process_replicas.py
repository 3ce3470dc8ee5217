"""The process registry on several replicas: two PostgreSQL stores on one fresh schema (two backends, two
pools, two listeners), a registry core on each, sharing one clock. An append or a terminal on one replica
wakes the waiters of the other; leases fence across replicas; appends from both get one gap-free log."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from effectd import Client
from effectd._errors import ConflictError, LeaseLostError
from effectd._process import ProcessAwaitSuccess, ProcessLeaseCompletion, ProcessListFilter, SessionScope
from effectd._processes import RemoteProcessRegistry
from effectd_server import ServerConfig, StoreConfig, serve
from effectd_server.processes.core import OrphanPolicy, ProcessRegistryCore
from effectd_server.store.postgres import PostgresBackend
from effectd_server.store.processes import processes_store

from tests.integration.test_process_registry import (
    Clock,
    plain,
    registration,
    request,
    signal_wait,
    until_waiting,
)
from tests.pg import POSTGRES_DSN, fresh_schema, require_postgres


class Replica:
    def __init__(self, url: str, clock: Clock) -> None:
        self.backend = PostgresBackend(url)
        self.store = processes_store(self.backend)
        self.core = ProcessRegistryCore(self.store, clock=clock)
        self.store.set_listener(self.core.on_store_event)

    async def open(self) -> None:
        await self.backend.open()
        await self.store.open()

    async def close(self) -> None:
        await self.backend.close()


@pytest.fixture
async def replicas() -> AsyncIterator[tuple[Replica, Replica]]:
    await require_postgres()
    clock = Clock()
    async with fresh_schema() as url:
        a, b = Replica(url, clock), Replica(url, clock)
        await a.open()
        await b.open()
        try:
            yield a, b
        finally:
            await a.close()
            await b.close()


async def test_an_append_on_one_replica_wakes_wait_event_after_on_the_other(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    await a.core.register_process(registration("proc-x", plain("line"), plain("done")))
    waiter = asyncio.create_task(b.core.wait_event_after("proc-x", "done", 0))
    await until_waiting(b.core)
    await a.core.append_event("proc-x", request("line", {"n": 1}))
    await asyncio.sleep(0.1)
    assert not waiter.done()  # another type: B read again and waits on
    appended = await a.core.append_event("proc-x", request("done", {"n": 2}))
    assert await asyncio.wait_for(waiter, 5) == appended.event
    assert b.core.waiting == 0
    assert a.core.waiting == 0


async def test_a_terminal_on_one_replica_wakes_await_on_the_other(replicas: tuple[Replica, Replica]) -> None:
    a, b = replicas
    await a.core.register_process(registration("proc-await"))
    awaiting = [asyncio.create_task(b.core.await_process("proc-await")) for _ in range(3)]
    await until_waiting(b.core, 3)
    await a.core.complete_process("proc-await", ProcessAwaitSuccess("from A"))
    outputs = await asyncio.wait_for(asyncio.gather(*awaiting), 5)
    assert outputs == [ProcessAwaitSuccess("from A")] * 3
    assert b.core.waiting == 0


async def test_a_session_deleted_on_one_replica_wakes_a_wait_for_the_cancel_request_on_the_other(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    await a.core.register_process(registration("proc-orphan"))
    await a.core.grant_handle(SessionScope("s-1"), "proc-orphan")
    waiter = asyncio.create_task(b.core.wait_event_after("proc-orphan", "process.cancel_requested", 0))
    await until_waiting(b.core)
    report = await a.core.delete_session_process_state("s-1", OrphanPolicy.CANCEL)
    assert report.orphaned_process_ids == ("proc-orphan",)
    event = await asyncio.wait_for(waiter, 5)
    assert (event.sequence, event.payload) == (1, {"reason": "session `s-1` deleted"})


async def test_a_wait_state_set_on_one_replica_is_read_on_the_other(replicas: tuple[Replica, Replica]) -> None:
    a, b = replicas
    await a.core.register_process(registration("proc-wait"))
    await a.core.set_process_wait("proc-wait", signal_wait("proc-wait"))
    waiting = await b.core.list_processes(ProcessListFilter(waiting=True))
    assert [r.id for r in waiting] == ["proc-wait"]
    await b.core.clear_process_wait("proc-wait")
    assert await a.core.list_processes(ProcessListFilter(waiting=True)) == []


async def test_a_waiter_misses_nothing_while_its_listener_reconnects(replicas: tuple[Replica, Replica]) -> None:
    a, b = replicas
    b.backend.listener_ping_s = 0.1
    await a.core.register_process(registration("proc-gap", plain("done")))
    waiter = asyncio.create_task(b.core.wait_event_after("proc-gap", "done", 0))
    await until_waiting(b.core)
    pid = b.backend.listener_backend_pid
    assert pid is not None
    admin = await asyncpg.connect(POSTGRES_DSN)
    try:
        # The append commits while B's listener is gone: B hears nothing of it, and re-reads on resuming.
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        appended = await a.core.append_event("proc-gap", request("done", {}))
    finally:
        await admin.close()
    assert await asyncio.wait_for(waiter, 10) == appended.event
    assert b.backend.listener_backend_pid not in (None, pid)


async def test_leases_fence_across_replicas(replicas: tuple[Replica, Replica]) -> None:
    a, b = replicas
    clock = a.core._clock
    assert isinstance(clock, Clock)
    await a.core.register_process(registration("proc-lease"))
    held = await a.core.claim_process_lease("proc-lease", "runner-a", 1000)
    assert held.fencing_token == 1
    with pytest.raises(ConflictError) as exc:
        await b.core.claim_process_lease("proc-lease", "runner-b", 1000)
    assert exc.value.code == "process_lease_conflict"
    clock.ms += 1001  # runner-a stopped renewing: its lease expired
    taken = await b.core.claim_process_lease("proc-lease", "runner-b", 1000)
    assert (taken.owner_id, taken.fencing_token) == ("runner-b", 2)
    with pytest.raises(LeaseLostError):
        await a.core.renew_process_lease(held, 1000)
    await a.core.complete_process_lease(ProcessLeaseCompletion.from_lease(held))  # stale: a silent no-op
    with pytest.raises(ConflictError):
        await a.core.claim_process_lease("proc-lease", "runner-c", 1000)
    assert (await a.core.renew_process_lease(taken, 1000)).lease_token == taken.lease_token
    await b.core.complete_process_lease(ProcessLeaseCompletion.from_lease(taken))
    again = await a.core.claim_process_lease("proc-lease", "runner-a", 1000)
    assert again.fencing_token == 3  # strictly greater across claims and releases, whichever replica


async def test_competing_claims_from_both_replicas_have_one_winner(replicas: tuple[Replica, Replica]) -> None:
    a, b = replicas
    for n in range(10):
        pid = f"proc-race-{n}"
        await a.core.register_process(registration(pid))
        claims = [(a if i % 2 == 0 else b).core.claim_process_lease(pid, f"runner-{i}", 60_000) for i in range(8)]
        results = await asyncio.gather(*claims, return_exceptions=True)
        won = [r for r in results if not isinstance(r, BaseException)]
        lost = [r for r in results if isinstance(r, BaseException)]
        assert len(won) == 1, results
        assert all(isinstance(e, ConflictError) and e.code == "process_lease_conflict" for e in lost), lost
        assert won[0].fencing_token == 1
        stored = await b.store.get_lease(pid)
        assert stored is not None and stored.lease_token == won[0].lease_token


async def test_a_lease_renewed_on_both_replicas_keeps_its_token_and_fencing(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    await a.core.register_process(registration("proc-renew"))
    lease = await a.core.claim_process_lease("proc-renew", "runner", 1000)
    renewed = await asyncio.gather(*((a, b)[i % 2].core.renew_process_lease(lease, 1000 + i) for i in range(20)))
    assert {(r.lease_token, r.fencing_token) for r in renewed} == {(lease.lease_token, 1)}
    stored = await a.store.get_lease("proc-renew")
    assert stored is not None and stored.fencing_token == 1 and stored.lease_token == lease.lease_token


async def test_concurrent_appends_from_both_replicas_get_unique_gap_free_sequences(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    await a.core.register_process(registration("proc-log", plain("tick")))
    waiter = asyncio.create_task(b.core.wait_event_after("proc-log", "tick", 99))
    appends = [
        (a if n % 2 == 0 else b).core.append_event("proc-log", request("tick", {"n": n}, None if n % 3 else f"k{n}"))
        for n in range(120)
    ]
    results = await asyncio.gather(*appends)
    sequences = sorted(r.event.sequence for r in results)
    assert sequences == list(range(1, 121))
    log = await b.core.events_after("proc-log", 0)
    assert [e.sequence for e in log] == list(range(1, 121))
    assert sorted(e.payload["n"] for e in log) == list(range(120))  # type: ignore[index]
    assert (await asyncio.wait_for(waiter, 5)).sequence == 100


async def test_a_keyed_append_replayed_on_both_replicas_is_appended_once(replicas: tuple[Replica, Replica]) -> None:
    a, b = replicas
    await a.core.register_process(registration("proc-keyed", plain("tick")))
    outcomes = await asyncio.gather(
        *((a, b)[i % 2].core.append("proc-keyed", request("tick", {"same": True}, "the-key")) for i in range(10))
    )
    assert sum(not o.replayed for o in outcomes) == 1
    assert {o.result.event.sequence for o in outcomes} == {1}
    assert len(await a.core.events_after("proc-keyed", 0)) == 1
    with pytest.raises(ConflictError):
        await b.core.append_event("proc-keyed", request("tick", {"same": False}, "the-key"))


# -- over gRPC: two servers on one database ---------------------------------------------------------


@pytest.fixture
async def two_servers() -> AsyncIterator[tuple[RemoteProcessRegistry, RemoteProcessRegistry]]:
    """Two effectd servers (replicas) on one fresh PostgreSQL schema, and a registry client on each."""
    await require_postgres()
    async with fresh_schema() as url, contextlib.AsyncExitStack() as stack:
        registries = []
        for _ in range(2):
            running = await stack.enter_async_context(
                serve(ServerConfig(listen="127.0.0.1:0", store=StoreConfig(url=url)))
            )
            client = await stack.enter_async_context(await Client.connect(running.target))
            registries.append(RemoteProcessRegistry(client, heartbeat_interval=1.0))
        yield registries[0], registries[1]


async def test_stream_events_on_one_server_follows_appends_and_the_terminal_made_on_the_other(
    two_servers: tuple[RemoteProcessRegistry, RemoteProcessRegistry],
) -> None:
    a, b = two_servers
    await b.register_process(registration("followed", plain("step")))
    await b.append_event("followed", request("step", {"n": 1}))
    seen: list[tuple[int, str]] = []
    first_two = asyncio.Event()

    async def follow() -> None:
        async for event in a.stream_events("followed", 0, until_terminal=True):
            seen.append((event.sequence, event.event_type))
            if len(seen) == 2:
                first_two.set()

    follower = asyncio.create_task(follow())
    # The event appended before the stream opened comes first; the next ones arrive as B appends them.
    await b.append_event("followed", request("step", {"n": 2}))
    await asyncio.wait_for(first_two.wait(), 5)
    waiter = asyncio.create_task(a.wait_event_after("followed", "step", seen[-1][0]))
    awaiting = asyncio.create_task(a.await_process("followed"))
    await asyncio.sleep(0.2)
    assert not waiter.done() and not awaiting.done()
    third = await b.append_event("followed", request("step", {"n": 3}))
    assert (await asyncio.wait_for(waiter, 5)).sequence == third.event.sequence
    await b.complete_process("followed", ProcessAwaitSuccess({"ok": True}))
    assert await asyncio.wait_for(awaiting, 5) == ProcessAwaitSuccess({"ok": True})
    await asyncio.wait_for(follower, 5)  # until_terminal: the stream ends after the terminal event
    sequences = [s for s, _ in seen]
    assert sequences == sorted(set(sequences)) and len(sequences) == 4
    assert [t for _, t in seen][:3] == ["step", "step", "step"]


async def test_a_stream_reopened_on_the_other_server_resumes_from_its_cursor(
    two_servers: tuple[RemoteProcessRegistry, RemoteProcessRegistry],
) -> None:
    a, b = two_servers
    await a.register_process(registration("resumed", plain("step")))
    for n in range(3):
        await a.append_event("resumed", request("step", {"n": n}))
    first = [e.sequence async for e in _take(a.stream_events("resumed", 0), 2)]
    # The follower moves to the other replica with the cursor it had: it gets the rest, none twice.
    rest = [e.sequence async for e in _take(b.stream_events("resumed", first[-1]), 1)]
    assert first + rest == sorted(set(first + rest)) and len(first + rest) == 3


async def _take(events: AsyncIterator[Any], count: int) -> AsyncIterator[Any]:
    taken = 0
    async for event in events:
        yield event
        taken += 1
        if taken == count:
            return
