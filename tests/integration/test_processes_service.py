"""The Processes service through the SDK (`RemoteProcessRegistry`) on a real server: every RPC, the
streams (push, resumable), the signal rules, and every process error code."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from effectd import (
    ExternalProcessInput,
    HostOriginator,
    LashlangProcessInput,
    LashlangProcessRef,
    Ok,
    OrphanPolicy,
    ProcessAwaitFailure,
    ProcessAwaitSuccess,
    ProcessCompleted,
    ProcessDefinitionSelector,
    ProcessEventAppendRequest,
    ProcessEventSemanticsSpec,
    ProcessEventType,
    ProcessExternalRef,
    ProcessHandleDescriptor,
    ProcessLeaseCompletion,
    ProcessListFilter,
    ProcessProvenance,
    ProcessRegistration,
    ProcessRunning,
    ProcessScope,
    ProcessSignalWait,
    ProcessStatusFilter,
    ProcessTerminalSpec,
    ProcessWakeSpec,
    RemoteProcessRegistry,
    RuntimeReplay,
    SessionScope,
    SignalWait,
    ToolFailureClass,
    WaitState,
)
from effectd._client import Client, KeyPending
from effectd._errors import ConflictError, EffectdError, InvalidArgumentError, LeaseLostError, NotFoundError
from effectd_server import RunningServer
from effectd_server.processes import rules
from effectd_server.processes.core import ProcessRegistryCore

from tests.integration.codes import provoked


@pytest.fixture
async def registry(client: Client) -> AsyncIterator[RemoteProcessRegistry]:
    yield RemoteProcessRegistry(client, heartbeat_interval=1.0)


def core_of(server: RunningServer) -> ProcessRegistryCore:
    core = server.parts["processes"]
    assert isinstance(core, ProcessRegistryCore)
    return core


async def until_waiting(server: RunningServer, count: int = 1) -> None:
    for _ in range(400):
        if core_of(server).waiting >= count:
            return
        await asyncio.sleep(0.005)
    raise AssertionError("nobody started waiting")


def registration(pid: str, *event_types: ProcessEventType, **fields: Any) -> ProcessRegistration:
    return ProcessRegistration(
        id=pid,
        input=fields.pop("input", ExternalProcessInput()),
        event_types=event_types,
        provenance=ProcessProvenance(HostOriginator(), "service-host"),
        **fields,
    )


def signal_type(name: str) -> ProcessEventType:
    return ProcessEventType(name=f"signal.{name}")


def signal_wait(pid: str, name: str, ordinal: int) -> WaitState:
    return WaitState(SignalWait(name, f"signal.{name}", f"process:{pid}:signal.{name}:{ordinal}", ordinal), 1)


WAKE = ProcessEventType(
    name="note",
    semantics=ProcessEventSemanticsSpec(wake=ProcessWakeSpec(when={"present": "/text"}, input={"pointer": "/text"})),
)


async def test_every_registry_rpc_through_the_sdk(registry: RemoteProcessRegistry) -> None:
    s1, s2 = SessionScope("s1"), SessionScope("s2")
    reg = registration("p1", WAKE, wake_target=s1)
    record = await registry.register_process(reg)
    assert record.id == "p1" and record.status == ProcessRunning()
    assert await registry.register_process(reg) == record  # idempotent by hash
    assert await registry.get_process("p1") == record
    assert await registry.get_process("nope") is None
    lash = LashlangProcessInput("lashlang:v1:sha256:aa", LashlangProcessRef("main", 3), "lashlang-host:x", "job")
    await registry.register_process(registration("p2", input=lash, env_ref="process-env:sha256:bb"))

    assert [r.id for r in await registry.list_processes()] == ["p1", "p2"]
    definition = ProcessDefinitionSelector(
        "lashlang:v1:sha256:aa", "lashlang-host:x", LashlangProcessRef("main", 3), "job"
    )
    assert [r.id for r in await registry.list_processes(ProcessListFilter(definition=definition))] == ["p2"]
    assert [r.id for r in await registry.list_non_terminal()] == ["p1", "p2"]

    with_ref = await registry.set_external_ref("p1", ProcessExternalRef("restate", "wf-1", {"n": 1}))
    assert with_ref.external_ref == ProcessExternalRef("restate", "wf-1", {"n": 1})

    waiting = await registry.set_process_wait("p1", signal_wait("p1", "go", 1))
    assert waiting.wait == signal_wait("p1", "go", 1)
    assert [r.id for r in await registry.list_processes(ProcessListFilter(waiting=True))] == ["p1"]
    assert (await registry.clear_process_wait("p1")).wait is None

    grant = await registry.grant_handle(s1, "p1", ProcessHandleDescriptor(kind="job", label="first"))
    assert grant.session_id == "s1" and grant.descriptor.label == "first"
    await registry.grant_handle(s1, "p2")
    assert await registry.has_handle_grant(s1, "p1")
    assert not await registry.has_handle_grant(s2, "p1")
    assert [g.process_id for g, _ in await registry.list_handle_grants(s1)] == ["p1", "p2"]
    await registry.transfer_handle_grants(s1, s2, ["p2"])
    assert [g.process_id for g, _ in await registry.list_handle_grants(s2)] == ["p2"]
    await registry.grant_handle(s2, "p1")
    assert [g.session_id for g in await registry.handle_grants_for_process("p1")] == ["s1", "s2"]
    await registry.revoke_handle(s2, "p1")
    await registry.revoke_handle(s2, "p1")  # nothing happens when there is none

    appended = await registry.append_event("p1", ProcessEventAppendRequest("note", {"text": "hello"}))
    assert appended.event.sequence == 1
    assert appended.wake_delivery is not None and appended.wake_delivery.input == "hello"
    assert appended.wake_delivery.target_scope_id == "session:s1"
    await registry.append_event("p1", ProcessEventAppendRequest("note", {"other": 1}))
    assert [e.sequence for e in await registry.events_after("p1", 0)] == [1, 2]
    assert [e.sequence for e in await registry.wake_events_after("p1", 0)] == [1]
    await registry.ack_wake("p1", 1)
    assert await registry.wake_events_after("p1", 0) == []
    assert await registry.count_events_through("p1", "note", 2) == 2
    assert [e.sequence for e in await registry.recent_events("p1", 1)] == [2]

    done = await registry.complete_process("p1", ProcessAwaitSuccess({"answer": 42}))
    assert done.status == ProcessCompleted(ProcessAwaitSuccess({"answer": 42}))
    assert await registry.await_process("p1") == ProcessAwaitSuccess({"answer": 42})
    assert await registry.list_live_handle_grants(s1) == []
    assert [r.id for r in await registry.list_processes(ProcessListFilter(status=ProcessStatusFilter.ANY))] == [
        "p1",
        "p2",
    ]

    lease = await registry.claim_process_lease("p2", "owner-a", 60_000)
    assert lease.fencing_token == 1 and lease.owner_id == "owner-a"
    renewed = await registry.renew_process_lease(lease, 120_000)
    assert renewed.expires_at_epoch_ms >= lease.expires_at_epoch_ms
    await registry.complete_process_lease(ProcessLeaseCompletion.from_lease(lease))
    again = await registry.claim_process_lease("p2", "owner-b", 60_000)
    assert again.fencing_token == 2

    report = await registry.delete_session_process_state("s2")
    assert report.revoked_handle_count == 1 and report.orphaned_process_ids == ("p2",)


async def test_delete_session_can_cancel_its_orphans(registry: RemoteProcessRegistry) -> None:
    await registry.register_process(registration("orphan"))
    await registry.grant_handle(SessionScope("gone"), "orphan")
    report = await registry.delete_session_process_state("gone", OrphanPolicy.CANCEL)
    assert report.orphaned_process_ids == ("orphan",)
    events = await registry.events_after("orphan", 0)
    assert [e.event_type for e in events] == ["process.cancel_requested"]
    assert events[0].payload == {"reason": "session `gone` deleted"}


async def test_cancel_is_idempotent_by_reason(registry: RemoteProcessRegistry) -> None:
    await registry.register_process(registration("c1"))
    first = await registry.cancel_process("c1", "stop")
    await registry.cancel_process("c1", "stop")
    await registry.cancel_process("c1", "other reason")
    assert first.status == ProcessRunning()  # a request: the runner decides
    assert [e.payload for e in await registry.events_after("c1", 0)] == [{"reason": "stop"}, {"reason": "other reason"}]


async def test_wait_event_after_is_woken_by_an_append(registry: RemoteProcessRegistry, server: RunningServer) -> None:
    await registry.register_process(registration("w1", signal_type("go")))
    waiter = asyncio.create_task(registry.wait_event_after("w1", "signal.go", 0))
    await until_waiting(server)
    appended = await registry.append_event("w1", ProcessEventAppendRequest("signal.go", {"n": 1}))
    event = await asyncio.wait_for(waiter, 5)
    assert event == appended.event
    # An event already there answers at once; one before the cursor does not count.
    assert (await registry.wait_event_after("w1", "signal.go", 0)).sequence == 1
    later = asyncio.create_task(registry.wait_event_after("w1", "signal.go", 1))
    await until_waiting(server)
    await registry.append_event("w1", ProcessEventAppendRequest("signal.go", {"n": 2}))
    assert (await asyncio.wait_for(later, 5)).payload == {"n": 2}


async def test_no_wake_up_is_lost_between_read_and_wait(registry: RemoteProcessRegistry) -> None:
    """Waiters and appends racing: every waiter gets its event (a lost wake-up would hang one)."""
    await registry.register_process(registration("race", signal_type("go")))
    for sequence in range(20):
        waiter = asyncio.create_task(registry.wait_event_after("race", "signal.go", sequence))
        await registry.append_event("race", ProcessEventAppendRequest("signal.go", {"n": sequence}))
        assert (await asyncio.wait_for(waiter, 5)).sequence == sequence + 1


async def test_await_process_is_woken_by_the_terminal(registry: RemoteProcessRegistry, server: RunningServer) -> None:
    await registry.register_process(registration("a1"))
    waiter = asyncio.create_task(registry.await_process("a1"))
    await until_waiting(server)
    await asyncio.sleep(1.2)  # a heartbeat passes while it waits
    assert not waiter.done()
    failure = ProcessAwaitFailure(ToolFailureClass.EXECUTION, "boom", "it broke")
    await registry.complete_process("a1", failure)
    assert await asyncio.wait_for(waiter, 5) == failure


async def test_a_waiting_stream_is_woken_by_built_in_events_too(
    registry: RemoteProcessRegistry, server: RunningServer
) -> None:
    """The process declares only `signal.go`; the terminal and the cancel request are built-in event types.
    A stream that waits wakes on them too."""
    await registry.register_process(registration("b1", signal_type("go")))
    followed: list[str] = []

    async def follow() -> None:
        async for event in registry.stream_events("b1", until_terminal=True):
            followed.append(event.event_type)

    follower = asyncio.create_task(follow())
    await until_waiting(server)
    await registry.cancel_process("b1", "stop")
    for _ in range(200):
        if followed:
            break
        await asyncio.sleep(0.01)
    assert followed == ["process.cancel_requested"]
    await until_waiting(server)
    await registry.complete_process("b1", ProcessAwaitSuccess("done"))
    await asyncio.wait_for(follower, 5)
    assert followed == ["process.cancel_requested", "process.completed"]


async def test_a_stream_until_terminal_ends_when_the_terminal_lands_between_its_two_reads(
    registry: RemoteProcessRegistry, server: RunningServer
) -> None:
    """The stream reads the record (running), then the log, which by then holds the terminal event: it
    must end after delivering it, not wait for an event that never comes."""
    core = server.parts["processes"]
    await registry.register_process(registration("race", signal_type("go")))
    original = core.get_process
    reads = 0

    async def record_then_complete(process_id: str) -> Any:
        # The stream reads the record once to know the process, then once per turn of its loop: the
        # terminal lands right after the first turn's read.
        nonlocal reads
        record = await original(process_id)
        reads += 1
        if reads == 2:
            assert record is not None and record.status == ProcessRunning()
            await core.complete_process("race", ProcessAwaitSuccess("raced"))
        return record

    core.get_process = record_then_complete
    try:
        events = [e.event_type async for e in _bounded(registry.stream_events("race", until_terminal=True))]
    finally:
        core.get_process = original
    assert events == ["process.completed"]


async def _bounded(events: AsyncIterator[Any]) -> AsyncIterator[Any]:
    async with asyncio.timeout(5):
        async for event in events:
            yield event


async def test_stream_events_follows_and_resumes_from_a_cursor(
    registry: RemoteProcessRegistry, server: RunningServer
) -> None:
    await registry.register_process(registration("s1", signal_type("go")))
    for n in range(3):
        await registry.append_event("s1", ProcessEventAppendRequest("signal.go", {"n": n}))
    seen: list[int] = []
    stream = registry.stream_events("s1", after_sequence=1)
    async for event in stream:
        seen.append(event.sequence)
        if event.sequence == 3:
            break
    await stream.aclose()  # type: ignore[attr-defined]
    assert seen == [2, 3]

    # Resume after the last sequence received: only what came after, pushed as it is appended.
    followed: list[int] = []

    async def follow() -> None:
        async for event in registry.stream_events("s1", after_sequence=3, until_terminal=True):
            followed.append(event.sequence)

    follower = asyncio.create_task(follow())
    await until_waiting(server)
    await registry.append_event("s1", ProcessEventAppendRequest("signal.go", {"n": 3}))
    await registry.complete_process("s1", ProcessAwaitSuccess(None))
    await asyncio.wait_for(follower, 5)
    assert followed == [4, 5]
    # A terminal process streams what is left and ends.
    assert [e.sequence async for e in registry.stream_events("s1", 5, until_terminal=True)] == []


async def test_stream_events_resumes_after_a_dropped_stream(start_server: Any) -> None:
    """The server restarts under an open stream: the SDK reopens it after the last sequence it got."""
    async with start_server() as first:
        port = first.port
        client = await Client.connect(first.target)
        registry = RemoteProcessRegistry(client, heartbeat_interval=1.0)
        await registry.register_process(registration("r1", signal_type("go")))
        await registry.append_event("r1", ProcessEventAppendRequest("signal.go", {"n": 1}))
        received: list[int] = []
        got_first = asyncio.Event()

        async def follow() -> None:
            async for event in registry.stream_events("r1", until_terminal=True):
                received.append(event.sequence)
                got_first.set()

        follower = asyncio.create_task(follow())
        await asyncio.wait_for(got_first.wait(), 5)
    async with start_server(listen=f"127.0.0.1:{port}") as second, await Client.connect(second.target) as writer:
        other = RemoteProcessRegistry(writer)
        await other.append_event("r1", ProcessEventAppendRequest("signal.go", {"n": 2}))
        await other.complete_process("r1", ProcessAwaitSuccess(None))
        await asyncio.wait_for(follower, 15)
        assert received == [1, 2, 3]
        assert second.port == port
    await client.close()


# -- signals (issue 9 §2) -----------------------------------------------------------------------------


async def signal_key_state(client: Client, pid: str, name: str, ordinal: int) -> Any:
    key = await client.mint_key(ProcessScope(pid), ProcessSignalWait(pid, name, ordinal))
    return await client.peek(key)


async def test_a_signal_resolves_the_key_of_its_own_ordinal(registry: RemoteProcessRegistry, client: Client) -> None:
    """lash resolves the process's *current* wait ordinal: here the wait for signal #2, with #1's
    payload. effectd resolves #1's key and leaves #2 pending."""
    await registry.register_process(registration("sig", signal_type("go")))
    await registry.set_process_wait("sig", signal_wait("sig", "go", 2))
    receipt = await registry.signal("sig", "go", "first", {"n": 1})
    assert not receipt.replayed and receipt.event.sequence == 1
    first_key = await client.mint_key(ProcessScope("sig"), ProcessSignalWait("sig", "go", 1))
    assert receipt.resolved_key_id == first_key.key_id
    assert await client.peek(first_key) == Ok({"n": 1})
    assert await signal_key_state(client, "sig", "go", 2) == KeyPending(None)
    second = await registry.signal("sig", "go", "second", {"n": 2})
    assert second.event.sequence == 2
    assert await signal_key_state(client, "sig", "go", 2) == Ok({"n": 2})


async def test_a_replayed_signal_resolves_nothing(registry: RemoteProcessRegistry, client: Client) -> None:
    """lash resolves the current wait again after a deduplicated append: a resend of signal #1 while the
    process waits for #2 would wake #2 with #1's payload. effectd resolves nothing for a replay."""
    await registry.register_process(registration("dup", signal_type("go")))
    await registry.signal("dup", "go", "once", {"n": 1})
    await registry.set_process_wait("dup", signal_wait("dup", "go", 2))
    again = await registry.signal("dup", "go", "once", {"n": 1})
    assert again.replayed and again.resolved_key_id == "" and again.event.sequence == 1
    assert await signal_key_state(client, "dup", "go", 2) == KeyPending(None)
    assert len(await registry.events_after("dup", 0)) == 1
    with pytest.raises(ConflictError) as raised:
        await registry.signal("dup", "go", "once", {"n": "other"})
    assert raised.value.code == provoked("process_event_replay_conflict")


async def test_a_replayed_signal_delivers_a_signal_whose_first_resolve_was_lost(
    registry: RemoteProcessRegistry, client: Client
) -> None:
    """The server committed the signal event and died before resolving its key (here: the event appended
    as the signal appends it, and no resolve). The sender's retry is a replay; it resolves the key of the
    original event's ordinal, so the waiter is not left waiting forever, and never any other ordinal."""
    await registry.register_process(registration("lost", signal_type("go")))
    await registry.append_event("lost", rules.signal_append_request("lost", "go", "once", {"n": 1}))
    assert await signal_key_state(client, "lost", "go", 1) == KeyPending(None)
    await registry.set_process_wait("lost", signal_wait("lost", "go", 2))
    retry = await registry.signal("lost", "go", "once", {"n": 1})
    first_key = await client.mint_key(ProcessScope("lost"), ProcessSignalWait("lost", "go", 1))
    assert retry.replayed and retry.event.sequence == 1 and retry.resolved_key_id == first_key.key_id
    assert await client.peek(first_key) == Ok({"n": 1})
    assert await signal_key_state(client, "lost", "go", 2) == KeyPending(None)
    assert len(await registry.events_after("lost", 0)) == 1


async def test_an_early_signal_satisfies_its_wait(registry: RemoteProcessRegistry, client: Client) -> None:
    await registry.register_process(registration("early", signal_type("ready")))
    await registry.signal("early", "ready", "s-1", {"go": True})
    # The waiter comes later: it mints the key of its first `ready` signal and finds it resolved.
    key = await client.mint_key(ProcessScope("early"), ProcessSignalWait("early", "ready", 1))
    assert await asyncio.wait_for(client.await_event(key), 5) == Ok({"go": True})


async def test_a_waiting_signal_key_is_woken(registry: RemoteProcessRegistry, client: Client) -> None:
    await registry.register_process(registration("late", signal_type("ready")))
    key = await client.mint_key(ProcessScope("late"), ProcessSignalWait("late", "ready", 1))
    waiter = asyncio.create_task(client.await_event(key))
    await asyncio.sleep(0.1)
    await registry.signal("late", "ready", "s-1", "now")
    assert await asyncio.wait_for(waiter, 5) == Ok("now")


# -- errors ---------------------------------------------------------------------------------------------


async def expect(code: str, error: type[EffectdError], call: Any) -> None:
    with pytest.raises(error) as raised:
        await call
    assert raised.value.code == provoked(code), raised.value


async def test_every_process_error_code(registry: RemoteProcessRegistry) -> None:
    r = registry
    lash = LashlangProcessInput("lashlang:v1:sha256:aa", LashlangProcessRef("main", 0), "lashlang-host:x", "job")
    await expect("process_id_required", InvalidArgumentError, r.register_process(registration("")))
    bad_host = ProcessRegistration(
        id="h", input=ExternalProcessInput(), provenance=ProcessProvenance(HostOriginator(), "")
    )
    await expect("process_host_profile_required", InvalidArgumentError, r.register_process(bad_host))
    await expect("process_env_ref_required", InvalidArgumentError, r.register_process(registration("e", input=lash)))
    await expect(
        "process_env_ref_forbidden",
        InvalidArgumentError,
        r.register_process(registration("e", env_ref="process-env:x")),
    )
    await expect(
        "process_event_type_empty", InvalidArgumentError, r.register_process(registration("t", ProcessEventType("")))
    )
    await expect(
        "process_event_type_duplicate",
        InvalidArgumentError,
        r.register_process(registration("t", ProcessEventType("x"), ProcessEventType("x"))),
    )
    failed = ProcessEventType("x.failed", semantics=ProcessEventSemanticsSpec(terminal=ProcessTerminalSpec("failed")))
    await expect(
        "process_terminal_output_required", InvalidArgumentError, r.register_process(registration("t", failed))
    )
    bad_selector = ProcessEventType("x", semantics=ProcessEventSemanticsSpec(wake=ProcessWakeSpec(input={"bogus": 1})))
    await expect("process_selector_invalid", InvalidArgumentError, r.register_process(registration("t", bad_selector)))

    schema = ProcessEventType("typed", payload_schema={"schema": {"type": "object", "required": ["x"]}})
    await r.register_process(registration("p", schema, signal_type("go")))
    await expect(
        "process_registration_hash_conflict", ConflictError, r.register_process(registration("p", signal_type("go")))
    )
    await expect("process_unknown", NotFoundError, r.events_after("missing", 0))
    await expect(
        "process_handle_not_granted",
        NotFoundError,
        r.transfer_handle_grants(SessionScope("a"), SessionScope("b"), ["p"]),
    )
    await expect(
        "process_event_undeclared", InvalidArgumentError, r.append_event("p", ProcessEventAppendRequest("nope", {}))
    )
    await expect(
        "process_event_replay_key_required",
        InvalidArgumentError,
        r.append_event("p", ProcessEventAppendRequest("process.cancel_requested", {"reason": None})),
    )
    await expect(
        "process_event_payload_invalid",
        InvalidArgumentError,
        r.append_event("p", ProcessEventAppendRequest("typed", {})),
    )
    await expect(
        "process_selector_no_match",
        InvalidArgumentError,
        r.append_event("p", ProcessEventAppendRequest("process.completed", {}, RuntimeReplay("done"))),
    )
    await r.complete_process("p", ProcessAwaitSuccess(1))
    await expect(
        "process_already_terminal",
        ConflictError,
        r.complete_process("p", ProcessAwaitFailure(ToolFailureClass.INTERNAL, "x", "y")),
    )
    await expect("process_terminal_wait", ConflictError, r.set_process_wait("p", signal_wait("p", "go", 1)))
    lease = await r.claim_process_lease("p", "a", 60_000)
    await expect("process_lease_conflict", ConflictError, r.claim_process_lease("p", "b", 60_000))
    await r.claim_process_lease("p", "a", 60_000)  # the same owner re-claims: the first token is stale
    await expect("process_lease_lost", LeaseLostError, r.renew_process_lease(lease, 60_000))


async def test_edge_checks_on_process_requests(registry: RemoteProcessRegistry) -> None:
    await registry.register_process(registration("edge"))
    with pytest.raises(InvalidArgumentError) as raised:
        await registry.claim_process_lease("edge", "a", 86_400_001)
    assert raised.value.code == "value_out_of_range"
    with pytest.raises(InvalidArgumentError) as raised:
        await registry.events_after("edge", 2**63)
    assert raised.value.code == "value_out_of_range"
    with pytest.raises(InvalidArgumentError) as raised:
        await registry.get_process("x" * 2000)
    assert raised.value.code == "id_too_long"
    with pytest.raises(InvalidArgumentError) as raised:
        await registry.signal("edge", "bad name", "1", {})
    assert raised.value.code == "invalid_request"
