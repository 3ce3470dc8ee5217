"""Tracing (issue 11 §5): one trace from a runtime's execute to the journal commit, through the SDK's
`traceparent` metadata and the server's spans, recorded by OpenTelemetry's in-memory exporter."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from effectd import NotFoundError, TurnScope
from effectd._client import Client
from effectd._controller import LocalExecutor, RemoteEffectController
from effectd._effects import (
    DurableStepCommand,
    RuntimeEffectEnvelope,
    RuntimeEffectKind,
    RuntimeInvocation,
    RuntimeScope,
    SleepCommand,
)
from effectd_server import RunningServer, ServerConfig, StoreConfig, serve
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.integration.conftest import ServerFactory

SCOPE = TurnScope("traced-session", "turn-1")
RUNTIME = RuntimeScope("traced-session", "turn-1", 1, 0)

_EXPORTER = InMemorySpanExporter()
_PROVIDER = TracerProvider()
_PROVIDER.add_span_processor(SimpleSpanProcessor(_EXPORTER))


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """The runtime's spans (the SDK uses the global provider, which can be set once per process) and the
    server's go to one in-memory exporter, emptied for each test."""
    current = trace.get_tracer_provider()
    if current is not _PROVIDER:
        trace.set_tracer_provider(_PROVIDER)
    assert trace.get_tracer_provider() is _PROVIDER
    _EXPORTER.clear()
    yield _EXPORTER
    _EXPORTER.clear()


@pytest.fixture
async def traced(store_url: str, spans: InMemorySpanExporter) -> AsyncIterator[RunningServer]:
    config = ServerConfig(listen="127.0.0.1:0", store=StoreConfig(url=store_url))
    async with serve(config, tracer_provider=_PROVIDER) as running:
        yield running


def step(step_id: str) -> RuntimeEffectEnvelope:
    return RuntimeEffectEnvelope(
        RuntimeInvocation.effect(RUNTIME, f"durable-step:{step_id}", RuntimeEffectKind.DURABLE_STEP, f"r:{step_id}"),
        DurableStepCommand(step_id, {"x": 1}),
    )


def by_name(finished: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [s for s in finished if s.name == name]


def ancestors(span: ReadableSpan, finished: tuple[ReadableSpan, ...]) -> list[str]:
    """The names of `span`'s parents, nearest first."""
    index = {s.context.span_id: s for s in finished if s.context is not None}
    names: list[str] = []
    parent = span.parent
    while parent is not None and parent.span_id in index:
        found = index[parent.span_id]
        names.append(found.name)
        parent = found.parent
    return names


async def test_one_trace_from_the_runtime_execute_to_the_journal_commit(
    traced: RunningServer, spans: InMemorySpanExporter
) -> None:
    async with await Client.connect(traced.target) as client:
        controller = RemoteEffectController(client, lease_ttl=5.0)
        tracer = trace.get_tracer("a-runtime")
        with tracer.start_as_current_span("runtime.turn") as turn:
            await controller.scoped(SCOPE).execute_effect(step("a"), LocalExecutor.durable_step(lambda v: v))
        trace_id = turn.get_span_context().trace_id

    finished = spans.get_finished_spans()
    assert {s.context.trace_id for s in finished if s.context is not None} == {trace_id}
    [execute_rpc] = by_name(finished, "effectd.v1.EffectController/Execute")
    [complete_rpc] = by_name(finished, "effectd.v1.EffectController/Complete")
    assert execute_rpc.kind == trace.SpanKind.SERVER
    assert execute_rpc.attributes is not None and execute_rpc.attributes["rpc.grpc.status_code"] == "OK"
    [execute] = by_name(finished, "effect.execute")
    [claim] = by_name(finished, "effect.claim")
    [run] = by_name(finished, "effect.run")
    [commit] = by_name(finished, "effect.complete")
    # Each step sits under the runtime's span: execute and claim on the server inside the Execute call,
    # the run in the runtime, the commit on the server inside the Complete call.
    assert ancestors(claim, finished) == ["effect.execute", execute_rpc.name, "runtime.turn"]
    assert ancestors(execute, finished) == [execute_rpc.name, "runtime.turn"]
    assert ancestors(run, finished) == ["runtime.turn"]
    assert ancestors(commit, finished) == [complete_rpc.name, "runtime.turn"]


async def test_a_server_run_effect_is_traced_to_its_commit(traced: RunningServer, spans: InMemorySpanExporter) -> None:
    sleep = RuntimeEffectEnvelope(
        RuntimeInvocation.effect(RUNTIME, "sleep-effect", RuntimeEffectKind.SLEEP, "r:sleep"), SleepCommand(1)
    )
    async with await Client.connect(traced.target) as client:
        controller = RemoteEffectController(client)
        with trace.get_tracer("a-runtime").start_as_current_span("runtime.turn"):
            await controller.scoped(SCOPE).execute_effect(sleep, LocalExecutor.sleep())
    finished = spans.get_finished_spans()
    [run] = by_name(finished, "effect.run")
    [commit] = by_name(finished, "effect.complete")
    rpc = "effectd.v1.EffectController/Execute"
    assert ancestors(run, finished) == ["effect.execute", rpc, "runtime.turn"]
    assert ancestors(commit, finished) == ["effect.execute", rpc, "runtime.turn"]


async def test_a_failed_call_marks_its_span_with_the_error_code(
    traced: RunningServer, spans: InMemorySpanExporter
) -> None:
    async with await Client.connect(traced.target) as client:
        controller = RemoteEffectController(client)
        with trace.get_tracer("a-runtime").start_as_current_span("runtime.turn"), pytest.raises(NotFoundError):
            await controller.scoped(SCOPE).execute_effect(
                step("never"), LocalExecutor.durable_step(lambda v: v), strict_replay=True
            )
    [execute_rpc] = by_name(spans.get_finished_spans(), "effectd.v1.EffectController/Execute")
    attributes: Any = execute_rpc.attributes
    assert attributes["effectd.error_code"] == "effect_replay_missing"
    assert attributes["rpc.grpc.status_code"] == "NOT_FOUND"
    assert not execute_rpc.status.is_ok


async def test_without_a_provider_the_server_records_no_span(
    start_server: ServerFactory, spans: InMemorySpanExporter
) -> None:
    async with start_server() as running, await Client.connect(running.target) as client:
        controller = RemoteEffectController(client)
        await controller.scoped(SCOPE).execute_effect(step("quiet"), LocalExecutor.durable_step(lambda v: v))
    assert spans.get_finished_spans() == ()


async def test_a_delegated_effect_is_traced_through_the_worker_to_its_commit(
    traced: RunningServer, spans: InMemorySpanExporter
) -> None:
    """The runtime's trace goes with the effect to the worker that runs it (the Assign carries its context)
    and comes back: the worker's run and the server's commit of its result are in the runtime's trace."""
    from effectd import Worker

    async with await Client.connect(traced.target) as client:
        worker = Worker(client.rpc, worker_id="traced-worker", slots=1)

        @worker.durable_step("delegated")
        async def delegated(value: Any, ctx: Any) -> Any:
            return value

        running = asyncio.create_task(worker.run())
        try:
            await asyncio.wait_for(worker.registered.wait(), 10)
            controller = RemoteEffectController(client)
            with trace.get_tracer("a-runtime").start_as_current_span("runtime.turn") as turn:
                await controller.scoped(SCOPE).execute_effect(step("delegated"), LocalExecutor.remote())
            trace_id = turn.get_span_context().trace_id
        finally:
            worker.drain()
            await asyncio.wait_for(running, 10)

    finished = spans.get_finished_spans()
    rpc = "effectd.v1.EffectController/Execute"
    [worker_run] = by_name(finished, "worker.run")
    assert worker_run.context is not None and worker_run.context.trace_id == trace_id
    assert ancestors(worker_run, finished)[-2:] == [rpc, "runtime.turn"]
    [execute] = by_name(finished, "effect.execute")
    assert ancestors(execute, finished) == [rpc, "runtime.turn"]
