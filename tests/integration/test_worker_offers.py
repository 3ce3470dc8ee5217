"""A worker's offers on its live stream (issue 15: MCP tools served by workers), through a real server on
both stores: capabilities replaced while effects run, tool descriptions in ListWorkers and list_tools(),
DeliverAgain (nothing recorded, delivered again), and bad offers refused with a code."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from effectd import Client, ToolDescription, ToolEffects, WorkerCapability
from effectd._controller import LocalExecutor, RemoteEffectController
from effectd._convert_workers import kind_to_proto
from effectd._effects import RuntimeEffectEnvelope, RuntimeEffectOutcome, ToolCallCommand, ToolCallDone, ToolCallOutcome
from effectd._errors import UnavailableError
from effectd._rpc import Rpc, error_from_rpc
from effectd._worker import DeliverAgain, RemoteWorkers, Worker, WorkerContext
from effectd.v1 import scope_pb2
from effectd.v1 import workers_pb2 as wpb
from effectd.v1 import workers_pb2_grpc as wpb_grpc
from effectd_server import RunningServer

from tests.integration.test_workers import FAST, RUNTIME, SCOPE, make_worker, running, tool, tool_output

SCHEMA = '{"type":"object","properties":{"q":{"type":"string"}}}'


@pytest.fixture
async def server(start_server: Any) -> AsyncIterator[RunningServer]:
    async with start_server(workers=FAST) as started:
        yield started


@pytest.fixture
async def rpc(server: RunningServer) -> AsyncIterator[Rpc]:
    async with await Rpc.connect(server.target) as connected:
        yield connected


def answer(text: str) -> Any:
    async def handle(envelope: RuntimeEffectEnvelope, ctx: WorkerContext) -> RuntimeEffectOutcome:
        assert isinstance(envelope.command, ToolCallCommand)
        return ToolCallOutcome(ToolCallDone({"output": text, "args": envelope.command.call.args}))

    return handle


def capability(name: str, server: str = "srv") -> WorkerCapability:
    return WorkerCapability("tool_call", name, "1.0", 0, ToolDescription(SCHEMA, f"the {name} tool", server))


async def offered_names(rpc: Rpc) -> set[str]:
    return {tool.name for tool in await Client(rpc).list_tools()}


async def until_offered(rpc: Rpc, names: set[str]) -> None:
    async with asyncio.timeout(20):
        while await offered_names(rpc) != names:  # noqa: ASYNC110 (polls the server, nothing to wait on here)
            await asyncio.sleep(0.02)


async def test_offers_replace_capabilities_on_the_live_stream_and_running_effects_go_on(rpc: Rpc) -> None:
    controller = RemoteEffectController(rpc)
    worker = make_worker(rpc, "mcp-host")
    release = asyncio.Event()
    started = asyncio.Event()

    async def slow(envelope: RuntimeEffectEnvelope, ctx: WorkerContext) -> RuntimeEffectOutcome:
        started.set()
        await release.wait()
        return await answer("slow")(envelope, ctx)

    worker.offer("mcp", [capability("slow")], slow)
    async with running(worker):
        instance = worker.instance_id
        await until_offered(rpc, {"slow"})
        in_flight = asyncio.create_task(
            controller.execute_effect(SCOPE, tool("slow", "k-slow"), LocalExecutor.remote())
        )
        await started.wait()
        # The list changes while `slow` runs: it is withdrawn, `fast` is offered.
        worker.offer("mcp", [capability("fast")], answer("fast"))
        await until_offered(rpc, {"fast"})
        fast = await controller.execute_effect(SCOPE, tool("fast", "k-fast"), LocalExecutor.remote())
        with pytest.raises(UnavailableError) as refused:
            # (On PostgreSQL it is offered to the other replicas first: a short schedule-to-start.)
            unrouted = LocalExecutor.remote(schedule_to_start_timeout=0.5)
            await controller.execute_effect(SCOPE, tool("slow", "k-slow-2"), unrouted)
        release.set()
        slow_outcome = await in_flight
        # An empty offer withdraws the group; the worker stays connected (same stream, same instance).
        worker.offer("mcp", [], slow)
        await until_offered(rpc, set())
        [info] = await RemoteWorkers(rpc).list_workers()
    assert tool_output(fast) == "fast" and tool_output(slow_outcome) == "slow"
    assert refused.value.code == "no_worker_available"
    assert (info.worker_id, info.instance_id, info.capabilities) == ("mcp-host", instance, ())


async def test_list_tools_shows_each_tool_once_with_its_workers_server_version_and_schema(rpc: Rpc) -> None:
    first = make_worker(rpc, "w1")
    second = make_worker(rpc, "w2")
    for worker in (first, second):
        worker.offer("mcp", [capability("search")], answer("x"))

    @first.tool("local", version="3", description="a handler's tool", input_schema={"type": "object"})
    async def local(args: Any, ctx: WorkerContext) -> Any:
        return args

    @second.durable_step("step")
    async def step(value: Any, ctx: WorkerContext) -> Any:
        return value

    async with running(first), running(second):
        await until_offered(rpc, {"search", "local"})
        tools = await Client(rpc).list_tools()
        [described] = [c for c in (await RemoteWorkers(rpc).describe_worker("w1")).capabilities if c.name == "local"]
    assert [tool.to_json() for tool in tools] == [
        {
            "name": "local",
            "server": "",
            "version": "3",
            "workers": ["w1"],
            "input_schema": {"type": "object"},
            "description": "a handler's tool",
        },
        {
            "name": "search",
            "server": "srv",
            "version": "1.0",
            "workers": ["w1", "w2"],
            "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
            "description": "the search tool",
        },
    ]
    assert described.tool == ToolDescription('{"type":"object"}', "a handler's tool", "")


async def test_deliver_again_records_nothing_and_the_effect_runs_again(rpc: Rpc) -> None:
    worker = make_worker(rpc, "flaky-host")
    attempts: list[int] = []

    async def flaky(envelope: RuntimeEffectEnvelope, ctx: WorkerContext) -> RuntimeEffectOutcome:
        attempts.append(ctx.attempt)
        if ctx.attempt == 1:
            raise DeliverAgain("the server behind the tool is down")
        return await answer(f"attempt {ctx.attempt}")(envelope, ctx)

    worker.offer("mcp", [capability("flaky")], flaky)
    async with running(worker):
        effects = ToolEffects(RemoteEffectController(rpc).scoped(SCOPE), RUNTIME)
        outcome = await effects.call_tool("flaky", {"q": "x"}, replay_key="k-flaky")
        again = await effects.call_tool("flaky", {"q": "x"}, replay_key="k-flaky")
    assert attempts == [1, 2]
    assert tool_output(outcome) == "attempt 2" and again == outcome


def _capabilities(*items: wpb.Capability) -> wpb.WorkerMessage:
    return wpb.WorkerMessage(capabilities=wpb.WorkerCapabilities(capabilities=list(items)))


def _tool(**fields: Any) -> wpb.Capability:
    return wpb.Capability(kind=kind_to_proto("tool_call"), name="t", tool=wpb.ToolDescription(**fields))


@pytest.mark.parametrize(
    ("offer", "code"),
    [
        (_capabilities(_tool(input_schema=scope_pb2.Json(text="[1]"))), "invalid_json"),
        (_capabilities(_tool(input_schema=scope_pb2.Json(text='{"a":'))), "invalid_json"),
        (
            _capabilities(
                wpb.Capability(kind=kind_to_proto("durable_step"), name="s", tool=wpb.ToolDescription(server="x"))
            ),
            "invalid_request",
        ),
        (_capabilities(wpb.Capability(kind=kind_to_proto("sleep"))), "invalid_request"),
    ],
)
async def test_a_bad_offer_on_the_live_stream_is_refused_with_a_code(
    rpc: Rpc, offer: wpb.WorkerMessage, code: str
) -> None:
    call = rpc.stub(wpb_grpc.WorkersStub).Connect()
    register = wpb.WorkerRegister(
        worker_id="w", slots=1, capabilities=[wpb.Capability(kind=kind_to_proto("tool_call"), name="t")]
    )
    await call.write(wpb.WorkerMessage(register=register))
    assert (await call.read()).WhichOneof("message") == "registered"
    await call.write(offer)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        while True:
            await call.read()
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_from_rpc(caught.value).code == code


async def test_a_worker_with_nothing_to_offer_waits_for_an_offer_before_it_registers(rpc: Rpc) -> None:
    worker = Worker(rpc, worker_id="late", heartbeat_interval=0.2)
    worker.offer("mcp", [], answer("x"))  # a server that is not up yet offers nothing
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.sleep(0.3)
        assert not worker.registered.is_set()
        assert await RemoteWorkers(rpc).list_workers() == []
        worker.offer("mcp", [capability("late_tool")], answer("late"))
        await until_offered(rpc, {"late_tool"})
        outcome = await RemoteEffectController(rpc).execute_effect(
            SCOPE, tool("late_tool", "k-late"), LocalExecutor.remote()
        )
    finally:
        task.cancel()
    assert tool_output(outcome) == "late"
