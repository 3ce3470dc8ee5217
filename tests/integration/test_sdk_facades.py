"""The SDK's facades against a real server (`effectd.testing.start_local_server`): journal records as
dataclasses, scoped controllers from the host, one shared Rpc, and a lease kept alive by renewals."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from effectd import (
    Accepted,
    Client,
    ControllerDescription,
    ControllerError,
    CustomWait,
    DeadlineExceededError,
    DurabilityTier,
    DurableStepCommand,
    DurableStepOutcome,
    EffectRecord,
    EffectStatus,
    ExecutorError,
    LocalExecutor,
    Ok,
    ProcessScope,
    RemoteEffectController,
    RemoteEffectHost,
    Rpc,
    RuntimeEffectEnvelope,
    RuntimeEffectKind,
    RuntimeInvocation,
    RuntimeScope,
    ScopedEffectController,
    SleepCommand,
    SleepOutcome,
    TurnScope,
    into_durable_step,
)
from effectd.testing import start_local_server

SCOPE = TurnScope("session-f", "turn-f")
RUNTIME = RuntimeScope("session-f", "turn-f", 0, 0)


def step(name: str, value: Any = None) -> RuntimeEffectEnvelope:
    return RuntimeEffectEnvelope(
        RuntimeInvocation.effect(RUNTIME, f"step:{name}", RuntimeEffectKind.DURABLE_STEP, f"replay:{name}"),
        DurableStepCommand(name, {"n": 1} if value is None else value),
    )


def never_called(_: Any) -> Any:
    raise AssertionError("the local executor ran on a replay")


@pytest.fixture
async def rpc() -> AsyncIterator[Rpc]:
    async with start_local_server() as server, await Rpc.connect(server.target) as opened:
        yield opened


async def test_describe_returns_a_dataclass(rpc: Rpc) -> None:
    described = await RemoteEffectController(rpc).describe()
    assert described == ControllerDescription(
        durability_tier=DurabilityTier.DURABLE, supports_durable_effects=True, requires_durable_attachment_store=False
    )


async def test_get_effect_returns_the_record_of_a_completed_step(rpc: Rpc) -> None:
    controller = RemoteEffectController(rpc)
    before = int(time.time() * 1000)
    await controller.execute_effect(SCOPE, step("create"), LocalExecutor.durable_step(lambda v: {"id": v["n"]}))
    record = await controller.get_effect(SCOPE, "replay:create")
    assert isinstance(record, EffectRecord)
    assert record.scope == SCOPE
    assert record.replay_key == "replay:create"
    assert record.envelope == step("create")
    assert record.envelope_hash == step("create").stable_hash()
    assert record.status is EffectStatus.COMPLETED
    assert record.outcome == DurableStepOutcome({"id": 1})
    assert record.executor_error is None
    assert (record.lease_owner_id, record.lease_expires_at_unix_ms) == (None, None)  # cleared on completion
    assert record.due_at_unix_ms is None
    assert before - 1000 <= record.created_at_unix_ms <= record.updated_at_unix_ms <= int(time.time() * 1000) + 1000


async def test_a_failed_step_records_its_executor_error(rpc: Rpc) -> None:
    controller = RemoteEffectController(rpc)

    def reject(_: Any) -> Any:
        raise ExecutorError("invoice_rejected", "no billing address")

    with pytest.raises(ExecutorError):
        await controller.execute_effect(SCOPE, step("reject"), LocalExecutor.durable_step(reject))
    record = await controller.get_effect(SCOPE, "replay:reject")
    assert record.status is EffectStatus.FAILED
    assert record.executor_error == ControllerError("invoice_rejected", "no billing address")
    assert record.outcome is None


async def test_a_sleep_record_has_its_due_time(rpc: Rpc) -> None:
    controller = RemoteEffectController(rpc)
    envelope = RuntimeEffectEnvelope(
        RuntimeInvocation.effect(RUNTIME, "nap", RuntimeEffectKind.SLEEP, "replay:nap"), SleepCommand(50)
    )
    started = int(time.time() * 1000)
    assert await controller.execute_effect(SCOPE, envelope, LocalExecutor.sleep()) == SleepOutcome()
    record = await controller.get_effect(SCOPE, "replay:nap")
    assert record.status is EffectStatus.COMPLETED and record.outcome == SleepOutcome()
    assert record.due_at_unix_ms is not None and started + 50 - 1000 <= record.due_at_unix_ms <= started + 1050


async def test_list_effects_returns_dataclasses_in_order_across_pages(rpc: Rpc) -> None:
    controller = RemoteEffectController(rpc)
    names = ["one", "two", "three"]
    for name in names:
        await controller.execute_effect(SCOPE, step(name), LocalExecutor.durable_step(lambda v: v))
    records = await controller.list_effects(SCOPE, page_size=2)
    assert all(isinstance(r, EffectRecord) for r in records)
    assert [r.replay_key for r in records] == [f"replay:{n}" for n in names]
    assert [r.envelope for r in records] == [step(n) for n in names]
    assert await controller.list_effects(ProcessScope("nothing-here")) == []


async def test_the_host_hands_out_scoped_controllers(rpc: Rpc) -> None:
    host = RemoteEffectHost(Client(rpc))
    scoped = host.scoped(SCOPE)
    assert isinstance(scoped, ScopedEffectController)
    assert (scoped.execution_scope, scope_id := scoped.scope_id, scoped.turn_id) == (SCOPE, "turn-f", "turn-f")
    assert scope_id == SCOPE.turn_id
    runs: list[Any] = []

    def run(value: Any) -> Any:
        runs.append(value)
        return "ran"

    assert into_durable_step(await scoped.execute_effect(step("host"), LocalExecutor.durable_step(run))) == "ran"
    # Another host over the same server replays instead of running.
    again = RemoteEffectHost(rpc).scoped(SCOPE)
    assert (
        into_durable_step(await again.execute_effect(step("host"), LocalExecutor.durable_step(never_called))) == "ran"
    )
    assert runs == [{"n": 1}]
    # A process scope has no turn id and journals apart from the turn.
    process = host.scoped(ProcessScope("turn-f"))
    assert (process.scope_id, process.turn_id) == ("turn-f", None)
    outcome = await process.execute_effect(step("host"), LocalExecutor.durable_step(lambda v: "process"))
    assert into_durable_step(outcome) == "process"
    # The same host still serves await events over the same channel.
    key = await host.await_event_key(SCOPE, CustomWait("approval"))
    assert await host.resolve_await_event(key, Ok({"approved": True})) == Accepted()
    assert await host.await_await_event(key) == Ok({"approved": True})


@pytest.fixture
async def silent_target() -> AsyncIterator[str]:
    """A listener that accepts connections and never answers: every call waits out its deadline."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    listener = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        for writer in held:
            writer.close()
        listener.close()


async def test_unary_calls_have_the_default_deadline_or_their_own(silent_target: str) -> None:
    async with await Rpc.connect(silent_target, default_timeout=0.5, connect_timeout=None) as rpc:
        controller, client = RemoteEffectController(rpc), Client(rpc)
        for call, expected in [
            (lambda: controller.describe(), 0.5),
            (lambda: controller.describe(timeout=0.1), 0.1),
            (lambda: controller.get_effect(SCOPE, "r", timeout=0.2), 0.2),
            (lambda: client.list_signing_keys(), 0.5),
        ]:
            started = time.monotonic()
            with pytest.raises(DeadlineExceededError):
                await call()
            assert expected * 0.8 <= time.monotonic() - started < expected + 1.0


async def test_a_lease_is_renewed_while_a_long_local_effect_runs(rpc: Rpc) -> None:
    ttl = 0.4
    holder = RemoteEffectController(rpc, lease_ttl=ttl, owner_id="holder")
    other = RemoteEffectController(rpc, lease_ttl=5.0, owner_id="other")
    started = asyncio.Event()
    finish = asyncio.Event()

    async def long_step(value: Any) -> Any:
        started.set()
        await finish.wait()
        return "long"

    running = asyncio.create_task(holder.execute_effect(SCOPE, step("long"), LocalExecutor.durable_step(long_step)))
    await asyncio.wait_for(started.wait(), 5)
    first = await holder.get_effect(SCOPE, "replay:long")
    assert first.status is EffectStatus.IN_PROGRESS and first.lease_owner_id == "holder"
    assert first.lease_expires_at_unix_ms is not None
    # A second caller of the same key waits for the holder instead of taking the lease over.
    waiting = asyncio.create_task(other.execute_effect(SCOPE, step("long"), LocalExecutor.durable_step(never_called)))
    await asyncio.sleep(4 * ttl)  # four lease lengths: without renewals the lease would have expired
    later = await holder.get_effect(SCOPE, "replay:long")
    assert later.status is EffectStatus.IN_PROGRESS and later.lease_owner_id == "holder"
    assert later.lease_expires_at_unix_ms is not None
    assert later.lease_expires_at_unix_ms > first.lease_expires_at_unix_ms + 2 * ttl * 1000
    assert later.lease_expires_at_unix_ms > int(time.time() * 1000)
    assert not running.done() and not waiting.done()
    finish.set()
    assert into_durable_step(await asyncio.wait_for(running, 5)) == "long"
    assert into_durable_step(await asyncio.wait_for(waiting, 5)) == "long"
    assert (await holder.get_effect(SCOPE, "replay:long")).status is EffectStatus.COMPLETED
