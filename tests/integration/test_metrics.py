"""Metrics (issue 11 §4): a real server with `--admin-listen`, known traffic, then a scrape of /metrics
whose counts must match that traffic exactly. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import aiohttp
import grpc
import pytest
from effectd import ConflictError, CustomWait, Ok, TurnScope
from effectd._client import Client
from effectd._controller import LocalExecutor, RemoteEffectController
from effectd._convert_envelope import envelope_to_proto
from effectd._convert_scope import scope_to_proto
from effectd._effects import (
    DurableStepCommand,
    RuntimeEffectEnvelope,
    RuntimeEffectKind,
    RuntimeInvocation,
    RuntimeScope,
)
from effectd.v1 import await_events_pb2 as pb
from effectd.v1 import await_events_pb2_grpc as pb_grpc
from effectd.v1 import effect_controller_pb2 as ec_pb
from effectd.v1 import effect_controller_pb2_grpc as ec_grpc
from effectd_server import RunningServer
from effectd_server.config import MetricsConfig
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import ServerFactory

SCOPE = TurnScope("metrics-session", "turn-1")
MINT = "effectd.v1.AwaitEvents/MintKey"
RESOLVE = "effectd.v1.AwaitEvents/Resolve"
EXECUTE = "effectd.v1.EffectController/Execute"
COMPLETE = "effectd.v1.EffectController/Complete"


def step(step_id: str, value: int = 1) -> RuntimeEffectEnvelope:
    return RuntimeEffectEnvelope(
        RuntimeInvocation.effect(
            RuntimeScope("metrics-session", "turn-1", 1, 0),
            f"durable-step:{step_id}",
            RuntimeEffectKind.DURABLE_STEP,
            f"replay:{step_id}",
        ),
        DurableStepCommand(step_id, {"x": value}),
    )


@pytest.fixture
async def server(start_server: ServerFactory) -> AsyncIterator[RunningServer]:
    async with start_server(metrics=MetricsConfig(admin_listen="127.0.0.1:0")) as running:
        yield running


async def scrape(server: RunningServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics by (name, sorted labels)."""
    assert server.admin is not None
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{server.admin.port}/metrics") as response,
    ):
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        text = await response.text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def rpc_count(samples: dict[Any, float], method: str, code: str) -> float:
    return samples.get(("effectd_rpc_requests_total", (("code", code), ("method", method))), 0.0)


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


async def test_a_scrape_counts_the_calls_by_method_and_code(server: RunningServer, client: Client) -> None:
    keys = [await client.mint_key(SCOPE, CustomWait(f"k{i}")) for i in range(3)]
    await client.resolve(keys[0], Ok(1))
    await client.resolve(keys[0], Ok(2))  # already_resolved is an answer: status OK
    async with grpc.aio.insecure_channel(server.target) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await pb_grpc.AwaitEventsStub(channel).MintKey(pb.MintKeyRequest())
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    samples = await scrape(server)
    assert rpc_count(samples, MINT, "OK") == 3
    assert rpc_count(samples, MINT, "INVALID_ARGUMENT") == 1
    assert rpc_count(samples, RESOLVE, "OK") == 2
    duration = ("effectd_rpc_duration_seconds_count", (("code", "OK"), ("method", RESOLVE)))
    assert samples[duration] == 2
    # Two keys were minted and never resolved.
    assert value(samples, "effectd_pending_keys") == 2
    assert value(samples, "effectd_due_timers") == 0
    assert value(samples, "effectd_processes", status="running") == 0
    # Every mint and resolve is a store write: the batches hold at least as many writes as that.
    backend = server.backend.kind
    assert value(samples, "effectd_store_batch_size_count", backend=backend) >= 1
    assert value(samples, "effectd_store_commit_seconds_count", backend=backend) >= 1


async def test_journal_claims_replays_and_conflicts_are_counted(server: RunningServer, client: Client) -> None:
    controller = RemoteEffectController(client, lease_ttl=5.0)
    scoped = controller.scoped(SCOPE)
    await scoped.execute_effect(step("a"), LocalExecutor.durable_step(lambda v: v))
    await scoped.execute_effect(step("b"), LocalExecutor.durable_step(lambda v: v))
    for _ in range(3):
        await scoped.execute_effect(step("a"), LocalExecutor.durable_step(lambda v: v))
    with pytest.raises(ConflictError):
        await scoped.execute_effect(step("a", 2), LocalExecutor.durable_step(lambda v: v))

    samples = await scrape(server)
    assert value(samples, "effectd_journal_claims_total") == 2
    assert value(samples, "effectd_journal_replays_total") == 3
    assert value(samples, "effectd_journal_conflicts_total") == 1
    assert value(samples, "effectd_journal_lease_takeovers_total") == 0
    assert rpc_count(samples, EXECUTE, "OK") == 5
    assert rpc_count(samples, EXECUTE, "FAILED_PRECONDITION") == 1
    assert rpc_count(samples, COMPLETE, "OK") == 2


async def test_an_expired_lease_taken_over_is_counted(server: RunningServer, client: Client) -> None:
    # A runtime claims the effect with a short lease and goes silent (never completes, never renews).
    async with grpc.aio.insecure_channel(server.target) as channel:
        request = ec_pb.ExecuteRequest(
            scope=scope_to_proto(SCOPE), envelope=envelope_to_proto(step("t")), owner_id="silent", lease_ttl_ms=200
        )
        async for answer in ec_grpc.EffectControllerStub(channel).Execute(request):
            assert answer.WhichOneof("event") == "lease"
            break
    # Another takes it over once the lease expired, and records the outcome.
    taker = RemoteEffectController(client, lease_ttl=5.0)
    assert await taker.scoped(SCOPE).execute_effect(step("t"), LocalExecutor.durable_step(lambda v: 7))
    samples = await scrape(server)
    assert value(samples, "effectd_journal_claims_total") == 2
    assert value(samples, "effectd_journal_lease_takeovers_total") == 1


async def test_streams_watched_keys_and_the_resolve_to_wake_latency(server: RunningServer, client: Client) -> None:
    key = await client.mint_key(SCOPE, CustomWait("woken"))
    waiting = asyncio.create_task(client.await_event(key))
    for _ in range(200):
        samples = await scrape(server)
        if value(samples, "effectd_watched_keys") == 1:
            break
        await asyncio.sleep(0.02)
    assert value(samples, "effectd_open_streams") == 1
    assert value(samples, "effectd_watched_keys") == 1
    assert value(samples, "effectd_resolve_to_wake_seconds_count") == 0

    await client.resolve(key, Ok("done"))
    assert await waiting == Ok("done")
    samples = await scrape(server)
    assert value(samples, "effectd_resolve_to_wake_seconds_count") == 1
    # A resolve of a key nobody waits for wakes nobody.
    await client.resolve(await client.mint_key(SCOPE, CustomWait("unwatched")), Ok(0))
    samples = await scrape(server)
    assert value(samples, "effectd_resolve_to_wake_seconds_count") == 1


async def test_two_servers_keep_their_own_counts(start_server: ServerFactory) -> None:
    """No process-global registry: a second server in the same process starts from zero."""
    config = MetricsConfig(admin_listen="127.0.0.1:0")
    async with start_server(metrics=config) as first:
        async with await Client.connect(first.target) as client:
            await client.mint_key(SCOPE, CustomWait("one"))
        assert rpc_count(await scrape(first), MINT, "OK") == 1
    async with start_server(metrics=replace(config)) as second:
        assert rpc_count(await scrape(second), MINT, "OK") == 0


async def test_without_admin_listen_there_is_no_listener(start_server: ServerFactory) -> None:
    async with start_server() as running:
        assert running.admin is None


async def test_workers_and_their_effects_in_flight_are_gauged(server: RunningServer, client: Client) -> None:
    from effectd import Worker

    samples = await scrape(server)
    assert value(samples, "effectd_workers_connected") == 0
    started, release = asyncio.Event(), asyncio.Event()
    worker = Worker(client.rpc, worker_id="gauged", slots=2)

    @worker.durable_step("held")
    async def held(value: Any, ctx: Any) -> Any:
        started.set()
        await release.wait()
        return value

    running = asyncio.create_task(worker.run())
    try:
        await asyncio.wait_for(worker.registered.wait(), 10)
        controller = RemoteEffectController(client)
        effect = asyncio.create_task(controller.execute_effect(SCOPE, step("held"), LocalExecutor.remote()))
        await asyncio.wait_for(started.wait(), 10)
        samples = await scrape(server)
        assert value(samples, "effectd_workers_connected") == 1
        assert value(samples, "effectd_worker_effects_in_flight") == 1
        release.set()
        await asyncio.wait_for(effect, 10)
        samples = await scrape(server)
        assert value(samples, "effectd_worker_effects_in_flight") == 0
    finally:
        worker.drain()
        await asyncio.wait_for(running, 10)
