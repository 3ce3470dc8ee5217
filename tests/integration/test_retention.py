"""Retention (issue 11 §7): finished journal rows, resolved keys and terminal processes expire after their
retention, swept in bounded batches, on SQLite and PostgreSQL. Sweeps are given the time to sweep as of
(`now_ms`), so no test waits for a retention to pass, except the one of the background sweeper."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from effectd import CustomWait, KeyPending, NotFoundError, Ok, TurnScope, UnknownOrRevoked
from effectd._client import Client
from effectd._controller import LocalExecutor, RemoteEffectController
from effectd._convert_envelope import envelope_to_proto
from effectd._convert_scope import scope_to_proto
from effectd._effects import (
    DurableStepCommand,
    DurableStepOutcome,
    RuntimeEffectEnvelope,
    RuntimeEffectKind,
    RuntimeInvocation,
    RuntimeScope,
)
from effectd.v1 import effect_controller_pb2 as ec_pb
from effectd.v1 import effect_controller_pb2_grpc as ec_grpc
from effectd_server import RunningServer, ServerConfig, StoreConfig, serve
from effectd_server.config import RetentionConfig
from effectd_server.retention import Sweeper
from effectd_server.store.processes import ProcessRow

from tests.integration.codes import provoked
from tests.integration.conftest import ServerFactory

HOUR_S = 3600.0
RETAIN = RetentionConfig(resolved_keys_s=HOUR_S, journal_s=HOUR_S, processes_s=HOUR_S, sweep_interval_s=0, batch_size=7)
"""An hour each, no background sweeps, and batches small enough that a sweep takes several."""
LATER_MS = int((HOUR_S + 60) * 1000)


def step(step_id: str, session: str = "s", turn: str = "t") -> RuntimeEffectEnvelope:
    return RuntimeEffectEnvelope(
        RuntimeInvocation.effect(
            RuntimeScope(session, turn, 1, 0), f"durable-step:{step_id}", RuntimeEffectKind.DURABLE_STEP, f"r:{step_id}"
        ),
        DurableStepCommand(step_id, {"x": 1}),
    )


def now_ms() -> int:
    return int(time.time() * 1000)


def never_called(_: object) -> object:
    raise AssertionError("the local executor ran on a replay")


@pytest.fixture
async def server(start_server: ServerFactory) -> AsyncIterator[RunningServer]:
    async with start_server(retention=RETAIN) as running:
        yield running


def sweeper(server: RunningServer) -> Sweeper:
    found: Sweeper = server.parts["retention"]
    return found


async def test_a_replay_within_the_retention_hits_and_after_it_strict_replay_is_missing(
    server: RunningServer, client: Client
) -> None:
    scoped = RemoteEffectController(client).scoped(TurnScope("s", "t"))
    await scoped.execute_effect(step("a"), LocalExecutor.durable_step(lambda v: "recorded"))

    within = await sweeper(server).sweep(now_ms=now_ms())
    assert within.deleted["journal"] == 0
    replay = await scoped.execute_effect(step("a"), LocalExecutor.durable_step(never_called), strict_replay=True)
    assert replay == DurableStepOutcome("recorded")

    after = await sweeper(server).sweep(now_ms=now_ms() + LATER_MS)
    assert after.deleted["journal"] == 1
    with pytest.raises(NotFoundError) as missing:
        await scoped.execute_effect(step("a"), LocalExecutor.durable_step(never_called), strict_replay=True)
    assert missing.value.code == provoked("effect_replay_missing")


async def test_a_scope_keeps_its_journal_while_an_effect_is_in_progress(server: RunningServer, client: Client) -> None:
    scope = TurnScope("busy", "t")
    scoped = RemoteEffectController(client).scoped(scope)
    for name in ("a", "b"):
        await scoped.execute_effect(step(name, "busy"), LocalExecutor.durable_step(lambda v: v))
    await (
        RemoteEffectController(client)
        .scoped(TurnScope("idle", "t"))
        .execute_effect(step("c", "idle"), LocalExecutor.durable_step(lambda v: v))
    )
    # An effect of the busy scope is claimed and still running (its lease is held).
    async with grpc.aio.insecure_channel(server.target) as channel:
        request = ec_pb.ExecuteRequest(
            scope=scope_to_proto(scope), envelope=envelope_to_proto(step("running", "busy")), lease_ttl_ms=600_000
        )
        async for answer in ec_grpc.EffectControllerStub(channel).Execute(request):
            assert answer.WhichOneof("event") == "lease"
            break

    report = await sweeper(server).sweep(now_ms=now_ms() + LATER_MS)
    assert report.deleted["journal"] == 1  # the idle scope's row only
    replay = await scoped.execute_effect(
        step("a", "busy"), LocalExecutor.durable_step(never_called), strict_replay=True
    )
    assert replay == DurableStepOutcome({"x": 1})


async def test_many_rows_are_swept_in_bounded_batches(server: RunningServer, client: Client) -> None:
    scoped = RemoteEffectController(client).scoped(TurnScope("s", "t"))
    await asyncio.gather(
        *(scoped.execute_effect(step(f"e{i}"), LocalExecutor.durable_step(lambda v: v)) for i in range(30))
    )
    dry = await sweeper(server).sweep(dry_run=True, now_ms=now_ms() + LATER_MS)
    assert dry.deleted["journal"] == 30 and dry.dry_run
    assert len(await RemoteEffectController(client).list_effects(TurnScope("s", "t"))) == 30
    report = await sweeper(server).sweep(now_ms=now_ms() + LATER_MS)
    assert report.deleted["journal"] == 30  # 7 rows a batch
    assert await RemoteEffectController(client).list_effects(TurnScope("s", "t")) == []


async def test_resolved_keys_expire_but_revoked_and_pending_keys_stay(server: RunningServer, client: Client) -> None:
    scope = TurnScope("keys", "t")
    resolved = [await client.mint_key(scope, CustomWait(f"r{i}")) for i in range(3)]
    for key in resolved:
        await client.resolve(key, Ok(1))
    revoked = await client.mint_key(scope, CustomWait("revoked"))
    await client.resolve(revoked, Ok(1))
    await client.revoke_key(revoked)
    newest = await client.mint_key(scope, CustomWait("newest"))
    await client.resolve(newest, Ok("newest"))
    pending = await client.mint_key(scope, CustomWait("pending"))

    within = await sweeper(server).sweep(now_ms=now_ms())
    assert within.deleted["resolved_keys"] == 0
    report = await sweeper(server).sweep(now_ms=now_ms() + LATER_MS)
    # The three resolved keys; SQLite keeps the newest resolution (its sequence resumes from it).
    assert report.deleted["resolved_keys"] == (3 if server.backend.kind == "sqlite" else 4)
    for key in resolved:
        assert isinstance(await client.peek(key), KeyPending)
    assert await client.peek(revoked) == Ok(1)  # its row stays: a new one would make the key usable again
    assert isinstance(await client.resolve(revoked, Ok(2)), UnknownOrRevoked)
    assert isinstance(await client.peek(pending), KeyPending)


async def test_resolution_numbers_keep_growing_across_a_sweep_and_a_restart(start_server: ServerFactory) -> None:
    """Watch cursors are resolution numbers: a number is never handed out twice."""
    scope = TurnScope("seq", "t")
    async with start_server(retention=RETAIN) as running, await Client.connect(running.target) as client:
        keys = [await client.mint_key(scope, CustomWait(f"k{i}")) for i in range(4)]
        for key in keys:
            await client.resolve(key, Ok(1))
        states = await running.parts["await_events"].states([k.key_id for k in keys])
        highest = max(s.resolution_seq for s in states.values())
        await sweeper(running).sweep(now_ms=now_ms() + LATER_MS)
    async with start_server(retention=RETAIN) as running, await Client.connect(running.target) as client:
        later = await client.mint_key(scope, CustomWait("after-restart"))
        await client.resolve(later, Ok(2))
        [state] = (await running.parts["await_events"].states([later.key_id])).values()
        assert state.resolution_seq > highest


async def test_terminal_processes_expire_with_their_parts_and_running_ones_stay(server: RunningServer) -> None:
    store = server.parts["processes"].store
    old = now_ms()
    for process_id, status in (("done", "completed"), ("broke", "failed"), ("live", "running")):
        await store.insert_process(ProcessRow(process_id, "h", status, False, b"", old, old))
    assert (await sweeper(server).sweep(dry_run=True, now_ms=old + LATER_MS)).deleted["processes"] == 2
    report = await sweeper(server).sweep(now_ms=old + LATER_MS)
    assert report.deleted["processes"] == 2
    assert await store.get_process("done") is None
    assert await store.get_process("broke") is None
    assert await store.get_process("live") is not None


async def test_a_retention_of_zero_keeps_everything(start_server: ServerFactory) -> None:
    forever = RetentionConfig(resolved_keys_s=0, journal_s=0, processes_s=0, sweep_interval_s=0)
    async with start_server(retention=forever) as running, await Client.connect(running.target) as client:
        scoped = RemoteEffectController(client).scoped(TurnScope("s", "t"))
        await scoped.execute_effect(step("kept"), LocalExecutor.durable_step(lambda v: v))
        report = await sweeper(running).sweep(now_ms=now_ms() + 10 * LATER_MS)
        assert report.deleted == {}
        await scoped.execute_effect(step("kept"), LocalExecutor.durable_step(never_called), strict_replay=True)


async def test_the_background_sweeper_expires_rows_on_its_own(start_server: ServerFactory) -> None:
    quick = RetentionConfig(journal_s=0.05, sweep_interval_s=0.05)
    async with start_server(retention=quick) as running, await Client.connect(running.target) as client:
        scoped = RemoteEffectController(client).scoped(TurnScope("s", "t"))
        await scoped.execute_effect(step("brief"), LocalExecutor.durable_step(lambda v: v))
        for _ in range(400):
            if not await RemoteEffectController(client).list_effects(TurnScope("s", "t")):
                break
            await asyncio.sleep(0.025)
        with pytest.raises(NotFoundError):
            await scoped.execute_effect(step("brief"), LocalExecutor.durable_step(never_called), strict_replay=True)


async def test_the_database_file_stops_growing_under_steady_load(tmp_path: Path) -> None:
    """Rounds of the same load, each followed by a sweep of what expired: once the freed pages are reused,
    the file keeps its size (compared after a checkpoint, so that the WAL's pages are in the file)."""
    path = tmp_path / "steady.db"
    config = ServerConfig(listen="127.0.0.1:0", store=StoreConfig(url=str(path)), retention=RETAIN)
    sizes: list[int] = []
    async with serve(config) as running, await Client.connect(running.target) as client:
        controller = RemoteEffectController(client)
        for round_number in range(8):
            scope = TurnScope(f"load-{round_number}", "t")
            scoped = controller.scoped(scope)
            await asyncio.gather(
                *(
                    scoped.execute_effect(
                        step(f"e{i}", f"load-{round_number}"), LocalExecutor.durable_step(lambda v: v)
                    )
                    for i in range(150)
                )
            )
            keys = [await client.mint_key(scope, CustomWait(f"k{i}")) for i in range(150)]
            await asyncio.gather(*(client.resolve(key, Ok({"payload": "x" * 200})) for key in keys))
            await sweeper(running).sweep(now_ms=now_ms() + LATER_MS)
            with sqlite3.connect(path) as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            sizes.append(path.stat().st_size)
    assert max(sizes[3:]) == sizes[2], sizes
