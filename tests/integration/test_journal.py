"""The effect journal through a real server (DESIGN.md "Effect journal", issue: the effect journal)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from effectd import (
    Accepted,
    ConflictError,
    ControllerDescription,
    CustomWait,
    DurabilityTier,
    EffectStatus,
    InvalidArgumentError,
    LeaseLostError,
    NotFoundError,
    Ok,
    ProcessScope,
    TurnScope,
)
from effectd._client import Client
from effectd._controller import DurableSteps, ExecutorError, LocalExecutor, RemoteEffectController
from effectd._convert_envelope import envelope_to_proto, outcome_to_proto
from effectd._convert_scope import scope_to_proto
from effectd._effects import (
    AwaitEventCommand,
    AwaitEventOutcome,
    DurableStepCommand,
    DurableStepOutcome,
    EffectSubject,
    ExecCodeCommand,
    ExecCodeOutcome,
    ProcessEffectCommand,
    ResultOk,
    RuntimeEffectEnvelope,
    RuntimeEffectKind,
    RuntimeInvocation,
    RuntimeReplay,
    RuntimeScope,
    SleepCommand,
    SleepOutcome,
    TriggerOccurrenceSubject,
    into_durable_step,
)
from effectd._process import ProcessAwaitOp
from effectd.v1 import effect_controller_pb2 as pb
from effectd.v1 import effect_controller_pb2_grpc as pb_grpc
from effectd_server import RunningServer

from tests.integration.codes import provoked

SCOPE = TurnScope("session-1", "turn-1")
RUNTIME = RuntimeScope("session-1", "turn-1", 7, 0)


def step(step_id: str, input: Any = None, replay_key: str | None = None) -> RuntimeEffectEnvelope:
    return RuntimeEffectEnvelope(
        RuntimeInvocation.effect(
            RUNTIME, f"durable-step:{step_id}", RuntimeEffectKind.DURABLE_STEP, replay_key or f"replay:{step_id}"
        ),
        DurableStepCommand(step_id, {"x": 1} if input is None else input),
    )


def sleep(ms: int, replay_key: str = "replay:sleep") -> RuntimeEffectEnvelope:
    return RuntimeEffectEnvelope(
        RuntimeInvocation.effect(RUNTIME, "sleep-effect", RuntimeEffectKind.SLEEP, replay_key), SleepCommand(ms)
    )


def never_called(_: Any) -> Any:
    raise AssertionError("the local executor ran on a replay")


@pytest.fixture
async def controller(client: Client) -> AsyncIterator[RemoteEffectController]:
    yield RemoteEffectController(client, lease_ttl=2.0)


async def test_describe(controller: RemoteEffectController) -> None:
    described = await controller.describe()
    assert described == ControllerDescription(
        DurabilityTier.DURABLE, supports_durable_effects=True, requires_durable_attachment_store=False
    )


async def test_durable_step_success_is_recorded_and_replayed(controller: RemoteEffectController) -> None:
    calls: list[Any] = []

    def create(value: Any) -> Any:
        calls.append(value)
        return {"created": value["x"]}

    scoped = controller.scoped(SCOPE)
    first = await scoped.execute_effect(step("create"), LocalExecutor.durable_step(create))
    assert first == DurableStepOutcome({"created": 1})
    again = await scoped.execute_effect(step("create"), LocalExecutor.durable_step(never_called))
    assert again == first
    assert calls == [{"x": 1}]
    record = await controller.get_effect(SCOPE, "replay:create")
    assert record.status == EffectStatus.COMPLETED
    assert record.envelope_hash == step("create").stable_hash()


async def test_durable_step_error_is_recorded_and_replayed_as_an_error(controller: RemoteEffectController) -> None:
    def fail(_: Any) -> Any:
        raise ExecutorError("invoice_rejected", "the customer has no billing address")

    scoped = controller.scoped(SCOPE)
    with pytest.raises(ExecutorError) as first:
        await scoped.execute_effect(step("fail"), LocalExecutor.durable_step(fail))
    with pytest.raises(ExecutorError) as replayed:
        await scoped.execute_effect(step("fail"), LocalExecutor.durable_step(never_called))
    assert (first.value.code, first.value.message) == (replayed.value.code, replayed.value.message)
    assert replayed.value.code == "invoice_rejected"


async def test_the_seed_conformance_envelope_hash(controller: RemoteEffectController) -> None:
    envelope = RuntimeEffectEnvelope(
        RuntimeInvocation.effect(
            RuntimeScope("durable-step-session", "durable-step-turn", 7, 0),
            "durable-step:create",
            RuntimeEffectKind.DURABLE_STEP,
            "durable-step-replay:create",
        ),
        DurableStepCommand("create", {"x": 1}),
    )
    await controller.execute_effect(SCOPE, envelope, LocalExecutor.durable_step(lambda v: v))
    record = await controller.get_effect(SCOPE, "durable-step-replay:create")
    assert record.envelope_hash == "bf4898548f34388e75f112f85d2a5347421ccc7b2ed55ff66fc7f056fd392def"


async def test_concurrent_effects_completing_out_of_order_replay_in_any_order(
    controller: RemoteEffectController,
) -> None:
    gate = asyncio.Event()

    async def slow(value: Any) -> Any:
        await gate.wait()
        return "slow"

    scoped = controller.scoped(SCOPE)
    slow_task = asyncio.create_task(scoped.execute_effect(step("a"), LocalExecutor.durable_step(slow)))
    await asyncio.sleep(0.05)
    fast = await scoped.execute_effect(step("b"), LocalExecutor.durable_step(lambda v: "fast"))
    gate.set()
    assert into_durable_step(await slow_task) == "slow"
    assert into_durable_step(fast) == "fast"
    for name, expected in (("b", "fast"), ("a", "slow"), ("b", "fast")):
        replay = await scoped.execute_effect(step(name), LocalExecutor.durable_step(never_called))
        assert into_durable_step(replay) == expected


async def test_a_second_caller_waits_for_the_first_and_gets_its_outcome(controller: RemoteEffectController) -> None:
    release = asyncio.Event()
    runs: list[str] = []

    async def first_run(value: Any) -> Any:
        runs.append("first")
        await release.wait()
        return "first"

    scoped = controller.scoped(SCOPE)
    first = asyncio.create_task(scoped.execute_effect(step("shared"), LocalExecutor.durable_step(first_run)))
    await asyncio.sleep(0.1)
    second = asyncio.create_task(scoped.execute_effect(step("shared"), LocalExecutor.durable_step(never_called)))
    await asyncio.sleep(0.1)
    assert not second.done()
    started = time.monotonic()
    release.set()
    assert into_durable_step(await first) == "first"
    assert into_durable_step(await asyncio.wait_for(second, 5)) == "first"
    # Woken by the completion, not by waiting out the 2 s lease.
    assert time.monotonic() - started < 1.5
    assert runs == ["first"]


async def test_lease_takeover_after_expiry_and_lease_lost_for_the_first(server: RunningServer, client: Client) -> None:
    stalled = RemoteEffectController(client, lease_ttl=0.3)
    taker = RemoteEffectController(client, lease_ttl=5.0)
    # The stalled holder claims through the raw API and never renews.
    async with grpc.aio.insecure_channel(server.target) as channel:
        stub = pb_grpc.EffectControllerStub(channel)
        request = pb.ExecuteRequest(
            scope=scope_to_proto(SCOPE),
            envelope=envelope_to_proto(step("takeover")),
            owner_id="stalled",
            lease_ttl_ms=300,
        )
        (answer,) = [r async for r in stub.Execute(request)]
        lease = answer.lease
        assert lease.lease_token
        outcome = await taker.execute_effect(SCOPE, step("takeover"), LocalExecutor.durable_step(lambda v: "second"))
        assert into_durable_step(outcome) == "second"
        complete = pb.CompleteRequest(
            scope=scope_to_proto(SCOPE), replay_key="replay:takeover", lease_token=lease.lease_token
        )
        complete.outcome.CopyFrom(outcome_to_proto(DurableStepOutcome("first")))
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.Complete(complete)
        assert raised.value.code() == grpc.StatusCode.ABORTED
        assert provoked("effect_replay_lease_lost") in str(raised.value.trailing_metadata())
    replay = await stalled.execute_effect(SCOPE, step("takeover"), LocalExecutor.durable_step(never_called))
    assert into_durable_step(replay) == "second"


async def test_a_stalled_sdk_holder_gets_lease_lost(client: Client) -> None:
    short = RemoteEffectController(client, lease_ttl=0.3)
    other = RemoteEffectController(client, lease_ttl=5.0)
    stall = asyncio.Event()

    async def stalled(value: Any) -> Any:
        await stall.wait()
        return "late"

    # Renewal is what keeps a lease: a holder whose renewals stop (a stalled process) loses it.
    async def no_renewals(*args: Any) -> None:
        await asyncio.sleep(3600)

    short._renew = no_renewals  # type: ignore[method-assign]
    first = asyncio.create_task(short.execute_effect(SCOPE, step("stall"), LocalExecutor.durable_step(stalled)))
    await asyncio.sleep(0.5)
    outcome = await other.execute_effect(SCOPE, step("stall"), LocalExecutor.durable_step(lambda v: "taken over"))
    assert into_durable_step(outcome) == "taken over"
    stall.set()
    with pytest.raises(LeaseLostError):
        await first


async def test_renewals_keep_a_long_effect_leased(client: Client) -> None:
    holder = RemoteEffectController(client, lease_ttl=0.6)
    runs: list[str] = []

    async def long_effect(value: Any) -> Any:
        runs.append("ran")
        await asyncio.sleep(1.5)  # several lease lengths: only renewals keep the lease
        return "long"

    first = asyncio.create_task(holder.execute_effect(SCOPE, step("long"), LocalExecutor.durable_step(long_effect)))
    await asyncio.sleep(0.1)
    second = await RemoteEffectController(client).execute_effect(
        SCOPE, step("long"), LocalExecutor.durable_step(never_called)
    )
    assert into_durable_step(second) == "long" == into_durable_step(await first)
    assert runs == ["ran"]


async def test_hash_conflict_names_both_hashes(controller: RemoteEffectController) -> None:
    scoped = controller.scoped(SCOPE)
    await scoped.execute_effect(step("h", {"x": 1}), LocalExecutor.durable_step(lambda v: v))
    with pytest.raises(ConflictError) as raised:
        await scoped.execute_effect(step("h", {"x": 2}), LocalExecutor.durable_step(never_called))
    assert raised.value.code == provoked("effect_replay_hash_conflict")
    assert step("h", {"x": 1}).stable_hash() in raised.value.message
    assert step("h", {"x": 2}).stable_hash() in raised.value.message


async def test_strict_replay_missing(controller: RemoteEffectController) -> None:
    with pytest.raises(NotFoundError) as raised:
        await controller.execute_effect(
            SCOPE, step("missing"), LocalExecutor.durable_step(never_called), strict_replay=True
        )
    assert raised.value.code == provoked("effect_replay_missing")
    await controller.execute_effect(SCOPE, step("missing"), LocalExecutor.durable_step(lambda v: 1))
    replay = await controller.execute_effect(
        SCOPE, step("missing"), LocalExecutor.durable_step(never_called), strict_replay=True
    )
    assert into_durable_step(replay) == 1


def _with(envelope: RuntimeEffectEnvelope, **changes: Any) -> RuntimeEffectEnvelope:
    import dataclasses

    invocation = dataclasses.replace(envelope.invocation, **changes.pop("invocation", {}))
    return dataclasses.replace(envelope, invocation=invocation, **changes)


@pytest.mark.parametrize(
    ("envelope", "code"),
    [
        (
            _with(step("v"), invocation={"subject": TriggerOccurrenceSubject("occ")}),
            "runtime_effect_invocation_subject",
        ),
        (
            _with(step("v"), invocation={"subject": EffectSubject("  ", RuntimeEffectKind.DURABLE_STEP)}),
            "runtime_effect_invocation_subject",
        ),
        (
            _with(step("v"), invocation={"subject": EffectSubject("e", RuntimeEffectKind.SLEEP)}),
            "runtime_effect_invocation_kind",
        ),
        (_with(step("v"), invocation={"replay": None}), "runtime_effect_replay_required"),
        (_with(step("v"), invocation={"replay": RuntimeReplay("")}), "runtime_effect_replay_required"),
        (_with(step("v"), command=DurableStepCommand(" ", 1)), "runtime_effect_durable_step_id"),
    ],
)
async def test_invalid_envelopes_are_refused_and_nothing_is_stored(
    server: RunningServer, controller: RemoteEffectController, envelope: RuntimeEffectEnvelope, code: str
) -> None:
    async with grpc.aio.insecure_channel(server.target) as channel:
        stub = pb_grpc.EffectControllerStub(channel)
        request = pb.ExecuteRequest(scope=scope_to_proto(SCOPE), envelope=envelope_to_proto(envelope))
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            [r async for r in stub.Execute(request)]
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert provoked(code) in str(raised.value.trailing_metadata())
    assert await controller.list_effects(SCOPE) == []


async def test_missing_scope_is_refused(controller: RemoteEffectController) -> None:
    with pytest.raises(InvalidArgumentError):
        await controller.execute_effect(TurnScope("s", " "), step("x"), LocalExecutor.durable_step(never_called))


async def test_sleep_is_durable_and_replays_at_once(start_server: Any) -> None:
    async with start_server() as server, await Client.connect(server.target) as client:
        controller = RemoteEffectController(client)
        started = time.monotonic()
        sleeping = asyncio.create_task(controller.execute_effect(SCOPE, sleep(600), LocalExecutor.sleep()))
        await asyncio.sleep(0.2)
        sleeping.cancel()
        with pytest.raises(asyncio.CancelledError):
            await sleeping
    # A restarted server keeps the due time: the replay waits only the remainder.
    async with start_server() as server, await Client.connect(server.target) as client:
        controller = RemoteEffectController(client)
        outcome = await controller.execute_effect(SCOPE, sleep(600), LocalExecutor.sleep())
        total = time.monotonic() - started
        assert outcome == SleepOutcome()
        assert 0.55 < total < 3.0
        again = time.monotonic()
        assert await controller.execute_effect(SCOPE, sleep(600), LocalExecutor.sleep()) == SleepOutcome()
        assert time.monotonic() - again < 0.3


async def test_a_cancelled_sleep_records_nothing(controller: RemoteEffectController) -> None:
    cancel = asyncio.Event()
    sleeping = asyncio.create_task(
        controller.execute_effect(SCOPE, sleep(10_000, "replay:cancelled-sleep"), LocalExecutor.sleep(cancel))
    )
    await asyncio.sleep(0.1)
    cancel.set()
    with pytest.raises(ExecutorError) as raised:
        await sleeping
    assert raised.value.code == "runtime_effect_sleep_cancelled"
    record = await controller.get_effect(SCOPE, "replay:cancelled-sleep")
    assert record.status == EffectStatus.IN_PROGRESS


async def test_await_event_is_journaled(controller: RemoteEffectController, client: Client) -> None:
    key = await client.mint_key(SCOPE, CustomWait("approval"))
    envelope = RuntimeEffectEnvelope(
        RuntimeInvocation.effect(RUNTIME, "await-1", RuntimeEffectKind.AWAIT_EVENT, "replay:await"),
        AwaitEventCommand(key),
    )
    waiting = asyncio.create_task(controller.execute_effect(SCOPE, envelope, LocalExecutor.await_event()))
    await asyncio.sleep(0.1)
    assert await client.resolve(key, Ok({"approved": True})) == Accepted()
    assert await waiting == AwaitEventOutcome(Ok({"approved": True}))
    replay = await controller.execute_effect(SCOPE, envelope, LocalExecutor.await_event())
    assert replay == AwaitEventOutcome(Ok({"approved": True}))


async def test_await_event_cancel_and_deadline(controller: RemoteEffectController, client: Client) -> None:
    cancel = asyncio.Event()
    key = await client.mint_key(SCOPE, CustomWait("cancel-me"))
    envelope = RuntimeEffectEnvelope(
        RuntimeInvocation.effect(RUNTIME, "await-2", RuntimeEffectKind.AWAIT_EVENT, "replay:await-cancel"),
        AwaitEventCommand(key),
    )
    waiting = asyncio.create_task(controller.execute_effect(SCOPE, envelope, LocalExecutor.await_event(cancel)))
    await asyncio.sleep(0.1)
    cancel.set()
    from effectd import Cancelled, Timeout

    assert await waiting == AwaitEventOutcome(Cancelled())
    timed = await client.mint_key(SCOPE, CustomWait("deadline"))
    deadline_envelope = RuntimeEffectEnvelope(
        RuntimeInvocation.effect(RUNTIME, "await-3", RuntimeEffectKind.AWAIT_EVENT, "replay:await-deadline"),
        AwaitEventCommand(timed),
    )
    outcome = await controller.execute_effect(
        SCOPE, deadline_envelope, LocalExecutor.await_event(deadline=time.time() + 0.2)
    )
    assert outcome == AwaitEventOutcome(Timeout())


async def test_process_effects_are_unavailable_and_not_journaled(
    start_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server built without the process registry (as on a backend that has no processes part)."""
    from effectd_server import processes, server

    monkeypatch.setattr(server, "COMPONENTS", [b for b in server.COMPONENTS if b is not processes.build])
    envelope = RuntimeEffectEnvelope(
        RuntimeInvocation.effect(RUNTIME, "process:await:p1", RuntimeEffectKind.PROCESS, "replay:process"),
        ProcessEffectCommand(ProcessAwaitOp("p1")),
    )
    async with start_server() as running, await Client.connect(running.target) as client:
        controller = RemoteEffectController(client)
        with pytest.raises(ConflictError) as raised:
            await controller.execute_effect(SCOPE, envelope, LocalExecutor.processes())
        assert raised.value.code == provoked("process_registry_unavailable")
        assert await controller.list_effects(SCOPE) == []


async def test_unavailable_executor_records_nothing(controller: RemoteEffectController) -> None:
    exec_envelope = RuntimeEffectEnvelope(
        RuntimeInvocation.effect(RUNTIME, "1", RuntimeEffectKind.EXEC_CODE, "replay:exec"), ExecCodeCommand("print(1)")
    )
    with pytest.raises(ExecutorError) as raised:
        await controller.execute_effect(SCOPE, exec_envelope, LocalExecutor.unavailable())
    assert raised.value.code == "runtime_effect_local_executor_unavailable"
    # The lease was released: the next caller runs it at once.
    outcome = await controller.execute_effect(
        SCOPE, exec_envelope, LocalExecutor.runner(lambda e: ExecCodeOutcome(ResultOk({"observations": []})))
    )
    assert outcome == ExecCodeOutcome(ResultOk({"observations": []}))


async def test_scopes_never_collide(controller: RemoteEffectController) -> None:
    turn = TurnScope("s", "same-id")
    process = ProcessScope("same-id")
    await controller.execute_effect(turn, step("k"), LocalExecutor.durable_step(lambda v: "turn"))
    outcome = await controller.execute_effect(process, step("k"), LocalExecutor.durable_step(lambda v: "process"))
    assert into_durable_step(outcome) == "process"


async def test_list_and_get(controller: RemoteEffectController) -> None:
    for name in ("one", "two", "three"):
        await controller.execute_effect(SCOPE, step(name), LocalExecutor.durable_step(lambda v: v))
    records = await controller.list_effects(SCOPE, page_size=2)
    assert [r.replay_key for r in records] == ["replay:one", "replay:two", "replay:three"]
    with pytest.raises(NotFoundError) as raised:
        await controller.get_effect(SCOPE, "replay:none")
    provoked(raised.value.code)


async def test_run_json_runs_each_step_once(controller: RemoteEffectController) -> None:
    calls: list[str] = []

    def make(name: str) -> Any:
        def run(value: Any) -> Any:
            calls.append(name)
            return {"step": name, "input": value}

        return run

    steps = DurableSteps(controller.scoped(SCOPE), RUNTIME, "call-9")
    assert await steps.run_json("create", {"n": 1}, make("create")) == {"step": "create", "input": {"n": 1}}
    with pytest.raises(InvalidArgumentError) as raised:
        await steps.run_json("create", {"n": 1}, make("create"))
    assert raised.value.code == "durable_effect_duplicate_step_id"
    again = DurableSteps(controller.scoped(SCOPE), RUNTIME, "call-9")
    assert await again.run_json("create", {"n": 1}, never_called) == {"step": "create", "input": {"n": 1}}
    assert calls == ["create"]
