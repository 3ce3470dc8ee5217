"""Workers through a real server on both stores: delegation, routing, slots, fencing, redelivery,
progress, cancel and drain (issue: workers)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import pytest
from effectd import TurnScope
from effectd._controller import ExecutorError, LocalExecutor, RemoteEffectController
from effectd._convert_effect_controller import execute_request
from effectd._convert_envelope import outcome_to_proto
from effectd._convert_scope import scope_to_proto
from effectd._convert_workers import kind_to_proto
from effectd._effects import (
    DurableStepCommand,
    DurableStepOutcome,
    LlmCallCommand,
    LlmCallOutcome,
    ResultOk,
    RuntimeEffectEnvelope,
    RuntimeEffectKind,
    RuntimeInvocation,
    RuntimeScope,
    ToolCallCommand,
    ToolCallDone,
    ToolCallOutcome,
    into_durable_step,
)
from effectd._errors import ConflictError, LeaseLostError, NotFoundError, ResourceExhaustedError, UnavailableError
from effectd._lineage import PreparedToolCall
from effectd._process import (
    ExternalProcessInput,
    HostOriginator,
    ProcessAwaitSuccess,
    ProcessEventAppendRequest,
    ProcessEventType,
    ProcessProvenance,
    ProcessRecord,
    ProcessRegistration,
)
from effectd._processes import RemoteProcessRegistry
from effectd._rpc import Rpc, error_from_rpc
from effectd._worker import (
    DelegatedEffect,
    ProcessRunContext,
    ProviderRateLimited,
    RemoteWorkers,
    Worker,
    WorkerContext,
)
from effectd.v1 import effect_controller_pb2_grpc as pb_grpc
from effectd.v1 import workers_pb2 as wpb
from effectd.v1 import workers_pb2_grpc as wpb_grpc
from effectd_server import RunningServer
from effectd_server.config import LimitRule, WorkersConfig

from tests.integration.codes import provoked

SCOPE = TurnScope("session-1", "turn-1")
RUNTIME = RuntimeScope("session-1", "turn-1", 1, 0)

FAST = WorkersConfig(heartbeat_interval_s=0.2, lease_ttl_ms=5_000, schedule_to_start_timeout_s=5.0)


def tool(name: str, replay_key: str, args: Any = None) -> RuntimeEffectEnvelope:
    return RuntimeEffectEnvelope(
        RuntimeInvocation.effect(RUNTIME, f"tool:{replay_key}", RuntimeEffectKind.TOOL_CALL, replay_key),
        ToolCallCommand(PreparedToolCall(f"call-{replay_key}", name, {"q": replay_key} if args is None else args)),
    )


def step(step_id: str, replay_key: str) -> RuntimeEffectEnvelope:
    return RuntimeEffectEnvelope(
        RuntimeInvocation.effect(RUNTIME, f"step:{replay_key}", RuntimeEffectKind.DURABLE_STEP, replay_key),
        DurableStepCommand(step_id, {"key": replay_key}),
    )


def tool_output(outcome: Any) -> Any:
    assert isinstance(outcome, ToolCallOutcome) and isinstance(outcome.launch, ToolCallDone)
    assert isinstance(outcome.launch.result, dict)
    return outcome.launch.result["output"]


@pytest.fixture
async def server(start_server: Any) -> AsyncIterator[RunningServer]:
    async with start_server(workers=FAST) as running:
        yield running


@pytest.fixture
async def rpc(server: RunningServer) -> AsyncIterator[Rpc]:
    async with await Rpc.connect(server.target) as connected:
        yield connected


@pytest.fixture
def controller(rpc: Rpc) -> RemoteEffectController:
    return RemoteEffectController(rpc)


@contextlib.asynccontextmanager
async def running(worker: Worker) -> AsyncIterator[asyncio.Task[None]]:
    """Run a worker until the block ends; waits until it is registered."""
    task = asyncio.create_task(worker.run())
    registered = asyncio.ensure_future(worker.registered.wait())
    await asyncio.wait({task, registered}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def holding_one(workers: RemoteWorkers, worker_id: str) -> None:
    """Wait until the worker holds an effect."""
    for _ in range(1000):
        if (await workers.describe_worker(worker_id)).in_flight:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{worker_id} never held an effect")


async def released(controller: RemoteEffectController, replay_key: str) -> Any:
    """The journal row once no lease holds it (the server gives a cancelled delivery up right after)."""
    for _ in range(1000):
        record = await controller.get_effect(SCOPE, replay_key)
        if record.lease_owner_id is None:
            return record
        await asyncio.sleep(0.01)
    raise AssertionError(f"{replay_key} stayed leased")


def make_worker(rpc: Rpc, worker_id: str, **options: Any) -> Worker:
    return Worker(rpc, worker_id=worker_id, heartbeat_interval=0.2, **options)


async def test_a_delegated_tool_call_runs_on_the_worker_once_and_replays(
    rpc: Rpc, controller: RemoteEffectController
) -> None:
    calls: list[Any] = []
    worker = make_worker(rpc, "search-host")

    @worker.tool("search", version="2")
    async def search(args: Any, ctx: WorkerContext) -> Any:
        calls.append(args)
        return {"hits": [args["q"]], "attempt": ctx.attempt}

    async with running(worker):
        first = await controller.execute_effect(SCOPE, tool("search", "k1"), LocalExecutor.remote())
        again = await controller.execute_effect(SCOPE, tool("search", "k1"), LocalExecutor.remote())
        record = await controller.get_effect(SCOPE, "k1")
    assert tool_output(first) == {"hits": ["k1"], "attempt": 1}
    assert again == first
    assert calls == [{"q": "k1"}]
    assert record.status.value == "completed" and record.lease_owner_id is None


async def test_routing_by_tool_name_and_an_unknown_tool_fails_fast_unrecorded(
    rpc: Rpc, controller: RemoteEffectController
) -> None:
    seen: dict[str, list[str]] = {"a": [], "b": []}
    worker_a = make_worker(rpc, "host-a")
    worker_b = make_worker(rpc, "host-b")

    @worker_a.tool("search")
    async def search(args: Any, ctx: WorkerContext) -> Any:
        seen["a"].append(ctx.replay_key)
        return "a"

    @worker_b.tool("browse")
    async def browse(args: Any, ctx: WorkerContext) -> Any:
        seen["b"].append(ctx.replay_key)
        return "b"

    async with running(worker_a), running(worker_b):
        outputs = await asyncio.gather(
            *(
                controller.execute_effect(SCOPE, tool("search" if i % 2 else "browse", f"r{i}"), LocalExecutor.remote())
                for i in range(20)
            )
        )
        with pytest.raises(UnavailableError) as caught:
            # (On PostgreSQL the other replicas are asked too: that takes the schedule-to-start timeout.)
            await controller.execute_effect(
                SCOPE, tool("translate", "t1"), LocalExecutor.remote(schedule_to_start_timeout=0.3)
            )
        with pytest.raises(NotFoundError):
            await controller.get_effect(SCOPE, "t1")
    assert caught.value.code == provoked("no_worker_available")
    assert "translate" in caught.value.message
    assert [tool_output(o) for o in outputs] == ["b" if i % 2 == 0 else "a" for i in range(20)]
    assert sorted(seen["a"]) == sorted(f"r{i}" for i in range(20) if i % 2)
    assert sorted(seen["b"]) == sorted(f"r{i}" for i in range(20) if i % 2 == 0)


async def test_no_free_slot_before_the_schedule_to_start_timeout_is_unavailable_and_unrecorded(
    rpc: Rpc, controller: RemoteEffectController
) -> None:
    release = asyncio.Event()
    worker = make_worker(rpc, "one-slot", slots=1)

    @worker.durable_step("slow")
    async def slow(value: Any, ctx: WorkerContext) -> Any:
        await release.wait()
        return value

    async with running(worker):
        holding = asyncio.create_task(controller.execute_effect(SCOPE, step("slow", "s1"), LocalExecutor.remote()))
        await holding_one(RemoteWorkers(rpc), "one-slot")
        with pytest.raises(UnavailableError) as caught:
            await controller.execute_effect(
                SCOPE, step("slow", "s2"), LocalExecutor.remote(schedule_to_start_timeout=0.3)
            )
        assert caught.value.code == "no_worker_available"
        with pytest.raises(NotFoundError):
            await controller.get_effect(SCOPE, "s2")
        release.set()
        assert into_durable_step(await holding) == {"key": "s1"}
        # The same call succeeds now that the slot is free.
        assert into_durable_step(
            await controller.execute_effect(SCOPE, step("slow", "s2"), LocalExecutor.remote())
        ) == {"key": "s2"}


async def test_slots_hold_under_a_thousand_effects(rpc: Rpc, controller: RemoteEffectController) -> None:
    active = 0
    most = 0
    worker = make_worker(rpc, "bounded", slots=4)

    @worker.durable_step("work")
    async def work(value: Any, ctx: WorkerContext) -> Any:
        nonlocal active, most
        active += 1
        most = max(most, active)
        await asyncio.sleep(0.005)
        active -= 1
        return value

    async with running(worker):
        outcomes = await asyncio.gather(
            *(controller.execute_effect(SCOPE, step("work", f"w{i}"), LocalExecutor.remote()) for i in range(1000))
        )
        receipts = [await asyncio.wait_for(worker.receipts.get(), 10) for _ in range(1000)]
    assert [into_durable_step(o) for o in outcomes] == [{"key": f"w{i}"} for i in range(1000)]
    assert 1 < most <= 4
    assert all(receipt.recorded for receipt in receipts)


async def test_progress_reaches_the_runtime_in_order_before_the_outcome_and_a_replay_carries_none(
    rpc: Rpc, controller: RemoteEffectController
) -> None:
    worker = make_worker(rpc, "llm-host")

    @worker.llm("openai", "gpt-4.1")
    async def complete(request: Any, ctx: WorkerContext) -> Any:
        for token in ["Hel", "lo", "!"]:
            await ctx.progress({"delta": token})
        return {"text": "Hello!"}

    seen: list[Any] = []
    envelope = RuntimeEffectEnvelope(
        RuntimeInvocation.effect(RUNTIME, "llm-1", RuntimeEffectKind.LLM_CALL, "llm-1"),
        LlmCallCommand({"model": "gpt-4.1", "messages": []}),
    )

    def on_progress(value: Any) -> None:
        seen.append(value)

    async with running(worker):
        outcome = await controller.execute_effect(SCOPE, envelope, LocalExecutor.remote(on_progress=on_progress))
        assert seen == [{"delta": "Hel"}, {"delta": "lo"}, {"delta": "!"}]
        replayed: list[Any] = []
        again = await controller.execute_effect(SCOPE, envelope, LocalExecutor.remote(on_progress=replayed.append))
    assert outcome == LlmCallOutcome(ResultOk({"text": "Hello!"}), False) == again
    assert replayed == []


async def test_an_executor_error_is_recorded_and_replayed_as_an_error(
    rpc: Rpc, controller: RemoteEffectController
) -> None:
    worker = make_worker(rpc, "failing")
    runs = 0

    @worker.durable_step("charge")
    async def charge(value: Any, ctx: WorkerContext) -> Any:
        nonlocal runs
        runs += 1
        raise ExecutorError("card_declined", "the card was declined")

    async with running(worker):
        for _ in range(2):
            with pytest.raises(ExecutorError) as caught:
                await controller.execute_effect(SCOPE, step("charge", "c1"), LocalExecutor.remote())
            assert caught.value.code == "card_declined"
    assert runs == 1


async def test_cancel_reaches_the_handler_and_records_nothing(rpc: Rpc, controller: RemoteEffectController) -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()
    reasons: list[str | None] = []
    worker = make_worker(rpc, "cancellable")

    @worker.durable_step("long")
    async def long(value: Any, ctx: WorkerContext) -> Any:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            reasons.append(ctx.cancel_reason)
            cancelled.set()
            raise
        return value

    cancel = asyncio.Event()
    async with running(worker):
        call = asyncio.create_task(
            controller.execute_effect(SCOPE, step("long", "l1"), LocalExecutor.remote(cancel=cancel))
        )
        await started.wait()
        cancel.set()
        with pytest.raises(ExecutorError) as caught:
            await call
        assert caught.value.code == "runtime_effect_remote_cancelled"
        await asyncio.wait_for(cancelled.wait(), 10)
        # The worker's lease is released right after the cancel (the server does it on its own time).
        for _ in range(100):
            record = await controller.get_effect(SCOPE, "l1")
            if record.lease_owner_id is None:
                break
            await asyncio.sleep(0.05)
    assert reasons == ["the runtime cancelled the effect"]
    assert record.status.value == "in_progress" and record.lease_owner_id is None


async def _raw_worker(rpc: Rpc, worker_id: str, capability: str) -> tuple[Any, wpb.ServerMessage]:
    """A hand-driven worker stream: registered for durable step `capability`, heartbeats left to the test."""
    call = rpc.stub(wpb_grpc.WorkersStub).Connect()
    await call.write(
        wpb.WorkerMessage(
            register=wpb.WorkerRegister(
                worker_id=worker_id,
                capabilities=[wpb.Capability(kind=kind_to_proto("durable_step"), name=capability)],
                slots=4,
                heartbeat_interval_ms=200,
            )
        )
    )
    registered = await call.read()
    assert registered.WhichOneof("message") == "registered"
    return call, registered


async def _holder(workers: RemoteWorkers, fencing_token: int) -> str:
    """The worker that holds the delivery with `fencing_token`."""
    for _ in range(1000):
        for info in await workers.list_workers():
            if any(ref.fencing_token == fencing_token for ref in info.in_flight):
                return info.worker_id
        await asyncio.sleep(0.01)
    raise AssertionError(f"no worker holds fencing token {fencing_token}")


async def _next(call: Any, which: str) -> Any:
    while True:
        message = await asyncio.wait_for(call.read(), 10)
        if message.WhichOneof("message") == which:
            return getattr(message, which)


async def test_a_silent_worker_loses_its_effect_at_once_and_its_late_result_gets_the_record(
    rpc: Rpc, controller: RemoteEffectController
) -> None:
    stalled, _ = await _raw_worker(rpc, "stalled", "pay")
    execute = asyncio.create_task(controller.execute_effect(SCOPE, step("pay", "p1"), LocalExecutor.remote()))
    assign = await _next(stalled, "assign")
    assert assign.attempt == 1 and assign.assignment.fencing_token == 1
    # The stalled worker sends no heartbeat; a healthy one joins and gets the effect redelivered.
    healthy = make_worker(rpc, "healthy")

    @healthy.durable_step("pay")
    async def pay(value: Any, ctx: WorkerContext) -> Any:
        return {"paid_by": "healthy", "attempt": ctx.attempt, "token": ctx.fencing_token}

    async with running(healthy):
        outcome = await execute
    assert into_durable_step(outcome) == {"paid_by": "healthy", "attempt": 2, "token": 2}
    # The stalled worker wakes up and answers with its stale token: it gets the recorded outcome.
    late = DurableStepOutcome({"paid_by": "stalled"})
    await stalled.write(
        wpb.WorkerMessage(
            result=wpb.WorkerResult(assignment=assign.assignment, outcome=outcome_to_proto(late)),
        )
    )
    ack = await _next(stalled, "result_ack")
    assert ack.WhichOneof("answer") == "already_recorded"
    assert ack.already_recorded.outcome.outcome.durable_step.value.text == '{"attempt":2,"paid_by":"healthy","token":2}'
    record = await controller.get_effect(SCOPE, "p1")
    assert record.outcome == outcome
    stalled.cancel()


async def test_an_effect_that_loses_every_worker_exhausts_its_redeliveries_unrecorded(start_server: Any) -> None:
    config = WorkersConfig(heartbeat_interval_s=0.2, lease_ttl_ms=5_000, max_redeliveries=1)
    async with start_server(workers=config) as server, await Rpc.connect(server.target) as rpc:
        controller = RemoteEffectController(rpc)
        first, _ = await _raw_worker(rpc, "w1", "crash")
        second, _ = await _raw_worker(rpc, "w2", "crash")
        third, _ = await _raw_worker(rpc, "w3", "crash")
        execute = asyncio.create_task(controller.execute_effect(SCOPE, step("crash", "x1"), LocalExecutor.remote()))
        streams = {"w1": first, "w2": second, "w3": third}
        for attempt in (1, 2):
            # Whoever gets it dies at once (its stream ends).
            holder = await _holder(RemoteWorkers(rpc), attempt)
            streams.pop(holder).cancel()
        with pytest.raises(LeaseLostError) as caught:
            await execute
        assert caught.value.code == provoked("worker_redelivery_exhausted")
        record = await released(controller, "x1")
        assert record.status.value == "in_progress" and record.lease_owner_id is None
        for stream in streams.values():
            stream.cancel()


async def test_list_describe_and_drain(rpc: Rpc, controller: RemoteEffectController) -> None:
    release = asyncio.Event()
    worker = make_worker(rpc, "drainable", labels={"zone": "eu"}, slots=2)

    @worker.tool("search", version="3")
    async def search(args: Any, ctx: WorkerContext) -> Any:
        await release.wait()
        return "done"

    workers = RemoteWorkers(rpc)
    async with running(worker) as task:
        held = asyncio.create_task(controller.execute_effect(SCOPE, tool("search", "d1"), LocalExecutor.remote()))
        await holding_one(workers, "drainable")
        [listed] = await workers.list_workers()
        assert listed.to_json()["capabilities"] == [{"kind": "tool_call", "name": "search", "version": "3", "slots": 0}]
        assert listed.labels == {"zone": "eu"} and listed.slots == 2 and not listed.draining
        drained = await workers.drain_worker("drainable")
        assert drained.draining
        # Draining: nothing new is taken (the only worker is draining, so the effect waits, then fails).
        with pytest.raises(UnavailableError):
            await controller.execute_effect(
                SCOPE, tool("search", "d2"), LocalExecutor.remote(schedule_to_start_timeout=0.2)
            )
        release.set()
        assert tool_output(await held) == "done"
        await asyncio.wait_for(task, 10)  # run() returns once what it held is recorded
    with pytest.raises(NotFoundError) as caught:
        await workers.describe_worker("drainable")
    assert caught.value.code == provoked("worker_unknown")


async def test_required_labels_and_versions_pick_the_worker(rpc: Rpc, controller: RemoteEffectController) -> None:
    eu = make_worker(rpc, "eu", labels={"zone": "eu"})
    us = make_worker(rpc, "us", labels={"zone": "us"})

    for w in (eu, us):

        def bind(name: str) -> Callable[[Any, WorkerContext], Awaitable[Any]]:
            async def search(args: Any, ctx: WorkerContext) -> Any:
                return name

            return search

        w.tool("search", version="1" if w is eu else "2")(bind(w.worker_id))

    async with running(eu), running(us):
        by_label = await controller.execute_effect(
            SCOPE, tool("search", "l-us"), LocalExecutor.remote(labels={"zone": "us"})
        )
        by_version = await controller.execute_effect(SCOPE, tool("search", "v-1"), LocalExecutor.remote(version="1"))
        with pytest.raises(UnavailableError):
            await controller.execute_effect(
                SCOPE,
                tool("search", "l-asia"),
                LocalExecutor.remote(labels={"zone": "asia"}, schedule_to_start_timeout=0.3),
            )
    assert tool_output(by_label) == "us"
    assert tool_output(by_version) == "eu"


async def test_server_routing_rules_delegate_without_the_runtime_asking(start_server: Any) -> None:
    config = WorkersConfig(heartbeat_interval_s=0.2, route_tools=("search",))
    async with start_server(workers=config) as server, await Rpc.connect(server.target) as rpc:
        controller = RemoteEffectController(rpc)
        worker = make_worker(rpc, "routed")

        @worker.tool("search")
        async def search(args: Any, ctx: WorkerContext) -> Any:
            await ctx.progress("halfway")
            return "from the worker"

        def never(_: Any) -> Any:
            raise AssertionError("the runtime ran a routed tool itself")

        async with running(worker):
            outcome = await controller.execute_effect(SCOPE, tool("search", "rr1"), LocalExecutor.runner(never))
            # The raw stream shows the live progress of a routed effect too.
            call = rpc.stub(pb_grpc.EffectControllerStub).Execute(
                execute_request(SCOPE, tool("search", "rr2"), owner_id="raw")
            )
            events = [response.WhichOneof("event") async for response in call]
        assert tool_output(outcome) == "from the worker"
        assert events == ["progress", "outcome"]


async def test_a_concurrency_key_and_a_rate_limit_hold_under_load(start_server: Any) -> None:
    limits = (
        LimitRule("tool:search", concurrency=2),
        LimitRule("tool:fetch", rate_per_s=50, burst=5),
    )
    config = WorkersConfig(heartbeat_interval_s=0.2, limits=limits, schedule_to_start_timeout_s=30)
    async with start_server(workers=config) as server, await Rpc.connect(server.target) as rpc:
        controller = RemoteEffectController(rpc)
        worker = make_worker(rpc, "limited", slots=16)
        active = 0
        most = 0
        fetched: list[float] = []

        @worker.tool("search")
        async def search(args: Any, ctx: WorkerContext) -> Any:
            nonlocal active, most
            active += 1
            most = max(most, active)
            await asyncio.sleep(0.02)
            active -= 1
            return "ok"

        @worker.tool("fetch")
        async def fetch(args: Any, ctx: WorkerContext) -> Any:
            fetched.append(time.monotonic())
            return "ok"

        async with running(worker):
            await asyncio.gather(
                *(
                    controller.execute_effect(SCOPE, tool("search", f"s{i}"), LocalExecutor.remote())
                    for i in range(200)
                ),
                *(controller.execute_effect(SCOPE, tool("fetch", f"f{i}"), LocalExecutor.remote()) for i in range(30)),
            )
    assert 1 < most <= 2
    # The bucket admits at most its burst plus what it refilled: 30 effects need at least (30 - 5) / 50 s.
    assert max(fetched) - min(fetched) >= (30 - 5) / 50 - 0.02


async def test_a_rate_limit_past_the_schedule_to_start_timeout_is_refused_and_llm_tokens_are_debited(
    start_server: Any,
) -> None:
    limits = (LimitRule("model:gpt-4.1", rate_per_s=1, burst=100, llm_tokens=True),)
    async with start_server(workers=WorkersConfig(heartbeat_interval_s=0.2, limits=limits)) as server:
        async with await Rpc.connect(server.target) as rpc:
            controller = RemoteEffectController(rpc)
            worker = make_worker(rpc, "llm")

            @worker.llm("openai", "gpt-4.1")
            async def complete(request: Any, ctx: WorkerContext) -> Any:
                return {"text": "hi", "usage": {"input_tokens": 300, "output_tokens": 200}}

            def llm(key: str) -> RuntimeEffectEnvelope:
                return RuntimeEffectEnvelope(
                    RuntimeInvocation.effect(RUNTIME, key, RuntimeEffectKind.LLM_CALL, key),
                    LlmCallCommand({"model": "gpt-4.1", "messages": []}),
                )

            async with running(worker):
                await controller.execute_effect(SCOPE, llm("m1"), LocalExecutor.remote())
                # 500 tokens used against a bucket of 100 refilled at 1/s: the key is in debt for minutes.
                with pytest.raises(ResourceExhaustedError) as caught:
                    await controller.execute_effect(
                        SCOPE, llm("m2"), LocalExecutor.remote(schedule_to_start_timeout=0.3)
                    )
                with pytest.raises(NotFoundError):
                    await controller.get_effect(SCOPE, "m2")
    assert caught.value.code == provoked("effect_rate_limited")


async def test_a_provider_rate_limit_pauses_the_model_fleet_wide_then_delivers_again(
    rpc: Rpc, controller: RemoteEffectController
) -> None:
    first = make_worker(rpc, "llm-a")
    second = make_worker(rpc, "llm-b")
    calls: list[tuple[str, int, float]] = []

    def bind(name: str) -> Callable[[Any, WorkerContext], Awaitable[Any]]:
        async def complete(request: Any, ctx: WorkerContext) -> Any:
            calls.append((name, ctx.attempt, time.monotonic()))
            if len(calls) == 1:
                raise ProviderRateLimited(0.4, "429 from the provider")
            return {"text": "ok", "by": name}

        return complete

    first.llm("openai", "gpt-4.1")(bind("llm-a"))
    second.llm("openai", "gpt-4.1")(bind("llm-b"))

    def llm(key: str) -> RuntimeEffectEnvelope:
        return RuntimeEffectEnvelope(
            RuntimeInvocation.effect(RUNTIME, key, RuntimeEffectKind.LLM_CALL, key),
            LlmCallCommand({"model": "gpt-4.1", "messages": []}),
        )

    async with running(first), running(second):
        outcome = await controller.execute_effect(SCOPE, llm("rl-1"), LocalExecutor.remote())
        other = await controller.execute_effect(SCOPE, llm("rl-2"), LocalExecutor.remote())
    assert isinstance(outcome, LlmCallOutcome) and isinstance(other, LlmCallOutcome)
    # The limited call ran again only after the pause; the next effect of that model waited it out too.
    (_, _, limited_at), (_, retry_attempt, retried_at), (_, _, next_at) = calls
    assert retried_at - limited_at >= 0.4 - 0.02 and next_at - limited_at >= 0.4 - 0.02
    assert retry_attempt == 2
    record = await controller.get_effect(SCOPE, "rl-1")
    assert record.status.value == "completed"


async def test_revoking_the_session_cancels_its_delegated_effects_unrecorded(
    rpc: Rpc, controller: RemoteEffectController
) -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()
    reasons: list[str | None] = []
    worker = make_worker(rpc, "revocable")

    @worker.durable_step("long")
    async def long(value: Any, ctx: WorkerContext) -> Any:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            reasons.append(ctx.cancel_reason)
            cancelled.set()
            raise
        return value

    async with running(worker):
        call = asyncio.create_task(controller.execute_effect(SCOPE, step("long", "rv1"), LocalExecutor.remote()))
        await started.wait()
        await controller.client.revoke_session(RUNTIME.session_id)
        with pytest.raises(ConflictError) as caught:
            await call
        await asyncio.wait_for(cancelled.wait(), 10)
        record = await released(controller, "rv1")
    assert caught.value.code == provoked("effect_session_revoked")
    assert reasons == ["the session was revoked"]
    assert record.status.value == "in_progress"


async def test_session_affinity_prefers_the_worker_of_the_sessions_previous_effect(
    rpc: Rpc, controller: RemoteEffectController
) -> None:
    release = asyncio.Event()
    holding = asyncio.Event()
    ran_on: dict[str, str] = {}
    workers = [make_worker(rpc, name, slots=4) for name in ("aff-a", "aff-b")]
    for w in workers:

        def bind(name: str) -> Callable[[Any, WorkerContext], Awaitable[Any]]:
            async def work(value: Any, ctx: WorkerContext) -> Any:
                ran_on[ctx.replay_key] = name
                if ctx.replay_key == "a1":
                    holding.set()
                    await release.wait()
                return value

            return work

        w.durable_step("work")(bind(w.worker_id))

    async with running(workers[0]), running(workers[1]):
        first = asyncio.create_task(
            controller.execute_effect(SCOPE, step("work", "a1"), LocalExecutor.remote(session_affinity=True))
        )
        await asyncio.wait_for(holding.wait(), 10)
        holder = ran_on["a1"]
        # The holder is busier than the other worker; affinity still sends the session's next effect there.
        await controller.execute_effect(SCOPE, step("work", "a2"), LocalExecutor.remote(session_affinity=True))
        await controller.execute_effect(SCOPE, step("work", "a3"), LocalExecutor.remote())
        release.set()
        await first
    assert ran_on["a2"] == holder
    assert ran_on["a3"] != holder  # least loaded without affinity


async def test_another_caller_watches_the_progress_then_the_end(rpc: Rpc, controller: RemoteEffectController) -> None:
    step_ahead = asyncio.Event()
    worker = make_worker(rpc, "watched")

    @worker.durable_step("report")
    async def report(value: Any, ctx: WorkerContext) -> Any:
        await step_ahead.wait()
        for percent in (25, 50, 100):
            await ctx.progress({"percent": percent})
        return "done"

    workers = RemoteWorkers(rpc)
    async with running(worker):
        call = asyncio.create_task(controller.execute_effect(SCOPE, step("report", "wp1"), LocalExecutor.remote()))
        await holding_one(workers, "watched")
        watch = rpc.stub(wpb_grpc.WorkersStub).WatchProgress(
            wpb.WatchProgressRequest(scope=scope_to_proto(SCOPE), replay_key="wp1")
        )
        first = await watch.read()
        assert first.WhichOneof("event") == "heartbeat"  # following from here on
        step_ahead.set()
        events = []
        for _ in range(20):
            message = await asyncio.wait_for(watch.read(), 10)
            if message is grpc.aio.EOF:
                break
            events.append(message)
        seen = [json.loads(e.progress.value.text) for e in events if e.WhichOneof("event") == "progress"]
        assert [e.progress.sequence for e in events[:3]] == [1, 2, 3]
        assert events[-1].WhichOneof("event") == "outcome"
        assert into_durable_step(await call) == "done"
        # A finished effect: the watch ends at once, with no progress.
        assert [v async for v in workers.watch_progress(SCOPE, "wp1")] == []
        with pytest.raises(NotFoundError):
            [v async for v in workers.watch_progress(SCOPE, "never-ran")]
    assert seen == [{"percent": 25}, {"percent": 50}, {"percent": 100}]


async def test_hard_affinity_waits_for_the_sessions_worker(rpc: Rpc, controller: RemoteEffectController) -> None:
    release = asyncio.Event()
    holding = asyncio.Event()
    ran_on: dict[str, str] = {}
    workers = [make_worker(rpc, name, slots=1) for name in ("hard-a", "hard-b")]
    for w in workers:

        def bind(name: str) -> Callable[[Any, WorkerContext], Awaitable[Any]]:
            async def work(value: Any, ctx: WorkerContext) -> Any:
                ran_on[ctx.replay_key] = name
                if ctx.replay_key == "h1":
                    holding.set()
                    await release.wait()
                return value

            return work

        w.durable_step("work")(bind(w.worker_id))

    hard = LocalExecutor.remote(hard_affinity=True)
    async with running(workers[0]), running(workers[1]):
        first = asyncio.create_task(controller.execute_effect(SCOPE, step("work", "h1"), hard))
        await asyncio.wait_for(holding.wait(), 10)
        # The session's worker has no free slot; the other one is idle, yet the effect waits for it.
        second = asyncio.create_task(controller.execute_effect(SCOPE, step("work", "h2"), hard))
        await asyncio.sleep(0.2)
        assert "h2" not in ran_on
        release.set()
        await first
        await second
    assert ran_on["h2"] == ran_on["h1"]


@pytest.mark.parametrize(
    ("first", "code"),
    [
        (wpb.WorkerMessage(heartbeat=wpb.WorkerHeartbeat()), "invalid_request"),
        (wpb.WorkerMessage(register=wpb.WorkerRegister(slots=1)), "invalid_request"),
        (wpb.WorkerMessage(register=wpb.WorkerRegister(worker_id="w", slots=0)), "value_out_of_range"),
        (wpb.WorkerMessage(register=wpb.WorkerRegister(worker_id="w", slots=1)), "invalid_request"),
        (
            wpb.WorkerMessage(
                register=wpb.WorkerRegister(worker_id="w", slots=1, capabilities=[wpb.Capability(kind=0)])
            ),
            "invalid_request",
        ),
        (
            wpb.WorkerMessage(
                register=wpb.WorkerRegister(
                    worker_id="w", slots=1, capabilities=[wpb.Capability(kind=kind_to_proto("sleep"))]
                )
            ),
            "invalid_request",
        ),
        (
            wpb.WorkerMessage(
                register=wpb.WorkerRegister(
                    worker_id="w",
                    slots=1,
                    heartbeat_interval_ms=5,
                    capabilities=[wpb.Capability(kind=kind_to_proto("tool_call"), name="t")],
                )
            ),
            "value_out_of_range",
        ),
    ],
)
async def test_a_bad_registration_is_refused_with_a_code(rpc: Rpc, first: wpb.WorkerMessage, code: str) -> None:
    call = rpc.stub(wpb_grpc.WorkersStub).Connect()
    await call.write(first)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call.read()
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_from_rpc(caught.value).code == code


async def test_a_runtime_reads_progress_with_async_for_then_the_outcome(
    rpc: Rpc, controller: RemoteEffectController
) -> None:
    worker = make_worker(rpc, "streaming")

    @worker.llm("openai", "gpt-4.1")
    async def complete(request: Any, ctx: WorkerContext) -> Any:
        for token in ["a", "b", "c"]:
            await ctx.progress(token)
        return {"text": "abc"}

    envelope = RuntimeEffectEnvelope(
        RuntimeInvocation.effect(RUNTIME, "llm-async-for", RuntimeEffectKind.LLM_CALL, "llm-async-for"),
        LlmCallCommand({"model": "gpt-4.1", "provider": "openai", "messages": []}),
    )
    async with running(worker):
        effect = DelegatedEffect.start(controller, SCOPE, envelope)
        tokens = [token async for token in effect.progress()]
        outcome = await effect.outcome()
        replay = DelegatedEffect.start(controller, SCOPE, envelope)
        replayed_tokens = [token async for token in replay.progress()]
        assert await replay.outcome() == outcome
    assert tokens == ["a", "b", "c"]
    assert replayed_tokens == []
    assert outcome == LlmCallOutcome(ResultOk({"text": "abc"}), False)


async def test_processes_run_on_a_runner_worker_and_move_when_it_dies(rpc: Rpc) -> None:
    registry = RemoteProcessRegistry(rpc)
    first = make_worker(rpc, "runner-a")
    second = make_worker(rpc, "runner-b")
    started: list[tuple[str, str, int]] = []
    release = asyncio.Event()
    first_appended = asyncio.Event()

    def bind(name: str) -> Callable[[Any, Any], Awaitable[Any]]:
        async def run(record: ProcessRecord, ctx: ProcessRunContext) -> Any:
            started.append((name, record.id, ctx.lease.fencing_token))
            await ctx.append(ProcessEventAppendRequest(event_type="progress", payload={"by": name}))
            if name == "runner-a":
                first_appended.set()
                await asyncio.sleep(60)  # dies holding it
            await release.wait()
            return ProcessAwaitSuccess({"done_by": name})

        return run

    first.process_runner("batch-host")(bind("runner-a"))
    second.process_runner("batch-host")(bind("runner-b"))
    await registry.register_process(
        ProcessRegistration(
            id="proc-1",
            input=ExternalProcessInput(),
            event_types=(ProcessEventType(name="progress"),),
            provenance=ProcessProvenance(HostOriginator(), "batch-host"),
        )
    )
    async with running(first) as first_task:
        # The runner dies (its stream ends, its lease runs out) once its progress event is written.
        await asyncio.wait_for(first_appended.wait(), 10)
        assert started[0][:2] == ("runner-a", "proc-1")
        first_task.cancel()
    async with running(second):
        release.set()
        output = await asyncio.wait_for(registry.await_process("proc-1"), 30)
    assert output == ProcessAwaitSuccess({"done_by": "runner-b"})
    assert [s[0] for s in started] == ["runner-a", "runner-b"]
    assert started[1][2] > started[0][2]  # the second runner's lease fences the first
    events = await registry.events_after("proc-1", 0)
    assert [e.payload for e in events if e.event_type == "progress"] == [{"by": "runner-a"}, {"by": "runner-b"}]
