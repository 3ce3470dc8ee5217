"""`process` effects through the journal (`execute_effect` with `LocalExecutor.processes()`): each op runs
on the server against the registry, its `ProcessEffectOutcome` is journaled, and a replay answers the
recorded outcome without running the op again (SEED-SPEC §1.5, §1.7, §3.7)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from effectd import (
    EffectStatus,
    ExecutorError,
    ExternalProcessInput,
    HostOriginator,
    LocalExecutor,
    Ok,
    ProcessAwaitOp,
    ProcessAwaitResult,
    ProcessAwaitSuccess,
    ProcessCancelOp,
    ProcessCancelResult,
    ProcessCommand,
    ProcessDeleteSessionOp,
    ProcessDeleteSessionResult,
    ProcessEffectCommand,
    ProcessEventAppendRequest,
    ProcessEventType,
    ProcessHandleDescriptor,
    ProcessListMode,
    ProcessListOp,
    ProcessListResult,
    ProcessProvenance,
    ProcessRegistration,
    ProcessRunning,
    ProcessScope,
    ProcessSignalOp,
    ProcessSignalResult,
    ProcessSignalWait,
    ProcessStartGrant,
    ProcessStartOp,
    ProcessStartResult,
    ProcessTransferOp,
    ProcessTransferResult,
    RemoteEffectController,
    RemoteProcessRegistry,
    RuntimeEffectEnvelope,
    RuntimeEffectKind,
    RuntimeInvocation,
    RuntimeReplay,
    RuntimeScope,
    SessionScope,
    SignalWait,
    TurnScope,
    WaitState,
    into_process,
)
from effectd._client import Client, KeyPending
from effectd._errors import NotFoundError
from effectd_server import RunningServer

SCOPE = TurnScope("s1", "t1")
RUNTIME = RuntimeScope("s1", "t1", 0, 0)


@pytest.fixture
async def controller(client: Client) -> AsyncIterator[RemoteEffectController]:
    yield RemoteEffectController(client)


@pytest.fixture
def registry(client: Client) -> RemoteProcessRegistry:
    return RemoteProcessRegistry(client)


def envelope(command: ProcessCommand, replay_key: str | None = None) -> RuntimeEffectEnvelope:
    effect_id = command.effect_id()
    return RuntimeEffectEnvelope(
        RuntimeInvocation.effect(RUNTIME, effect_id, RuntimeEffectKind.PROCESS, replay_key or f"s1:t1:{effect_id}"),
        ProcessEffectCommand(command),
    )


def registration(pid: str) -> ProcessRegistration:
    return ProcessRegistration(
        id=pid,
        input=ExternalProcessInput({"job": pid}),
        event_types=(ProcessEventType("signal.ready"),),
        provenance=ProcessProvenance(HostOriginator(), "effects-host"),
    )


async def run(controller: RemoteEffectController, command: ProcessCommand, **kw: object) -> object:
    outcome = await controller.execute_effect(SCOPE, envelope(command), LocalExecutor.processes(**kw))  # type: ignore[arg-type]
    return into_process(outcome)


async def recorded(controller: RemoteEffectController) -> list[object]:
    """The outcomes journaled in SCOPE (a server-run effect that raised leaves its row in progress)."""
    return [r.outcome for r in await controller.list_effects(SCOPE) if r.status is not EffectStatus.IN_PROGRESS]


async def test_process_ops_run_on_the_server_and_replay(
    controller: RemoteEffectController, registry: RemoteProcessRegistry, client: Client
) -> None:
    s1, s2 = SessionScope("s1"), SessionScope("s2")
    start = ProcessStartOp(registration("job-1"), ProcessStartGrant(s1, ProcessHandleDescriptor(kind="job")))
    started = await run(controller, start)
    assert isinstance(started, ProcessStartResult) and started.record.id == "job-1"
    assert await registry.has_handle_grant(s1, "job-1")
    assert await run(controller, start) == started  # replayed from the journal

    listed = await run(controller, ProcessListOp(s1))
    assert isinstance(listed, ProcessListResult)
    assert [(g.process_id, r.id) for g, r in listed.entries] == [("job-1", "job-1")]

    cancel = ProcessCancelOp("job-1", "enough")
    cancelled = await run(controller, cancel)
    assert isinstance(cancelled, ProcessCancelResult) and cancelled.record.status == ProcessRunning()
    assert await run(controller, cancel) == cancelled
    # The same reason under another replay key is the same keyed event: still one.
    again = await controller.execute_effect(SCOPE, envelope(cancel, "another-key"), LocalExecutor.processes())
    assert isinstance(into_process(again), ProcessCancelResult)
    assert len(await registry.events_after("job-1", 0)) == 1

    request = ProcessEventAppendRequest("signal.ready", {"go": 1}, RuntimeReplay("process:job-1:signal.ready:sig-1"))
    signal = ProcessSignalOp("job-1", "ready", "sig-1", request)
    signalled = await run(controller, signal)
    assert isinstance(signalled, ProcessSignalResult) and signalled.event.sequence == 2
    key = await client.mint_key(ProcessScope("job-1"), ProcessSignalWait("job-1", "ready", 1))
    assert await client.peek(key) == Ok({"go": 1})
    # A replay from the journal runs nothing: the wait for signal #2 stays pending.
    await registry.set_process_wait(
        "job-1", WaitState(SignalWait("ready", "signal.ready", "process:job-1:signal.ready:2", 2), 1)
    )
    assert await run(controller, signal) == signalled
    second_key = await client.mint_key(ProcessScope("job-1"), ProcessSignalWait("job-1", "ready", 2))
    assert await client.peek(second_key) == KeyPending(None)
    assert len(await registry.events_after("job-1", 0)) == 2

    transfer = ProcessTransferOp(s1, s2, ("job-1",))
    assert await run(controller, transfer) == ProcessTransferResult()
    assert await run(controller, ProcessListOp(s2, ProcessListMode.ALL)) != ProcessListResult(())
    deleted = await run(controller, ProcessDeleteSessionOp("s2"))
    assert isinstance(deleted, ProcessDeleteSessionResult)
    assert deleted.report.orphaned_process_ids == ("job-1",)

    # Await blocks until the process is terminal, then is journaled.
    waiting = asyncio.create_task(run(controller, ProcessAwaitOp("job-1")))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    await registry.complete_process("job-1", ProcessAwaitSuccess({"done": True}))
    awaited = await asyncio.wait_for(waiting, 5)
    assert awaited == ProcessAwaitResult(ProcessAwaitSuccess({"done": True}))
    assert await run(controller, ProcessAwaitOp("job-1")) == awaited

    records = await controller.list_effects(SCOPE)
    assert {r.replay_key for r in records} >= {f"s1:t1:{start.effect_id()}", f"s1:t1:{signal.effect_id()}"}


async def test_a_registry_error_is_raised_and_not_journaled(
    controller: RemoteEffectController, registry: RemoteProcessRegistry
) -> None:
    with pytest.raises(NotFoundError) as raised:
        await run(controller, ProcessCancelOp("later", None))
    assert raised.value.code == "process_unknown"
    assert not await recorded(controller)
    await registry.register_process(registration("later"))
    assert isinstance(await run(controller, ProcessCancelOp("later", None)), ProcessCancelResult)


async def test_await_stops_on_the_callers_cancel_and_records_nothing(
    controller: RemoteEffectController, registry: RemoteProcessRegistry, server: RunningServer
) -> None:
    await registry.register_process(registration("slow"))
    cancel = asyncio.Event()
    waiting = asyncio.create_task(run(controller, ProcessAwaitOp("slow"), cancel=cancel))
    await asyncio.sleep(0.2)
    cancel.set()
    with pytest.raises(ExecutorError) as raised:
        await asyncio.wait_for(waiting, 5)
    assert raised.value.code == "runtime_effect_process_cancelled"
    assert not await recorded(controller)
    await registry.complete_process("slow", ProcessAwaitSuccess(1))
    assert await run(controller, ProcessAwaitOp("slow")) == ProcessAwaitResult(ProcessAwaitSuccess(1))


async def test_an_early_signal_satisfies_an_await_event_effect(
    controller: RemoteEffectController, registry: RemoteProcessRegistry, client: Client
) -> None:
    """The waiting side as lash runs it: an await_event effect on the process_signal key, after the signal."""
    from effectd import AwaitEventCommand, AwaitEventOutcome

    await registry.register_process(registration("early"))
    request = ProcessEventAppendRequest("signal.ready", "go", RuntimeReplay("process:early:signal.ready:x"))
    await run(controller, ProcessSignalOp("early", "ready", "x", request))
    key = await client.mint_key(ProcessScope("early"), ProcessSignalWait("early", "ready", 1))
    wait = RuntimeEffectEnvelope(
        RuntimeInvocation.effect(RUNTIME, "wait-ready-1", RuntimeEffectKind.AWAIT_EVENT, "s1:t1:wait-ready-1"),
        AwaitEventCommand(key),
    )
    outcome = await asyncio.wait_for(controller.execute_effect(SCOPE, wait, LocalExecutor.await_event()), 5)
    assert outcome == AwaitEventOutcome(Ok("go"))
