"""The process registry core on a real store (no gRPC), SQLite and PostgreSQL through one parametrized
fixture: lash's registry conformance cases (SEED-SPEC §3.6), the signal rules of issue 9 §2, leases with
fencing, push waits, and a restart. The replica tests (two PostgreSQL stores on one schema, a core each)
are in test_process_replicas.py."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from effectd._errors import ConflictError, InvalidArgumentError, LeaseLostError, NotFoundError
from effectd._lineage import RuntimeReplay
from effectd._process import (
    ExternalProcessInput,
    HostOriginator,
    LashlangProcessInput,
    LashlangProcessRef,
    ProcessAwaitCancelled,
    ProcessAwaitSuccess,
    ProcessCancelled,
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
    ProcessStatusFilter,
    ProcessTemplate,
    ProcessWakeSpec,
    SessionScope,
    SignalWait,
    TemplateSelector,
    WaitState,
    cancel_requested_request,
)
from effectd._scope import Ok, ProcessScope, ProcessSignalWait
from effectd_server.processes.core import OrphanPolicy, ProcessRegistryCore
from effectd_server.processes.rules import SignalDelivery
from effectd_server.store import Backend
from effectd_server.store.postgres import PostgresBackend
from effectd_server.store.processes import processes_store
from effectd_server.store.sqlite import SqliteBackend

from tests.pg import fresh_schema, require_postgres


class Clock:
    def __init__(self) -> None:
        self.ms = 1_700_000_000_000

    def __call__(self) -> int:
        return self.ms


class Registry:
    """A registry on one database (a SQLite file, a PostgreSQL schema) that can be closed and opened again."""

    def __init__(self, new_backend: Callable[[], Backend], clock: Clock) -> None:
        self.new_backend = new_backend
        self.clock = clock
        self.backend: Backend | None = None
        self.core: ProcessRegistryCore | None = None

    async def open(self) -> ProcessRegistryCore:
        self.backend = self.new_backend()
        await self.backend.open()
        store = processes_store(self.backend)
        await store.open()
        self.core = ProcessRegistryCore(store, clock=self.clock)
        store.set_listener(self.core.on_store_event)
        return self.core

    async def close(self) -> None:
        if self.backend is not None:
            await self.backend.close()
            self.backend = None


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["sqlite", "postgres"])
async def new_backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Callable[[], Backend]]:
    """Every registry test runs on both backends: a fresh SQLite file, a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield lambda: SqliteBackend(tmp_path / "processes.db")
        return
    await require_postgres()
    async with fresh_schema() as url:
        yield lambda: PostgresBackend(url)


@pytest.fixture
async def reopenable(new_backend: Callable[[], Backend], clock: Clock) -> AsyncIterator[Registry]:
    registry = Registry(new_backend, clock)
    await registry.open()
    yield registry
    await registry.close()


@pytest.fixture
def registry(reopenable: Registry) -> ProcessRegistryCore:
    assert reopenable.core is not None
    return reopenable.core


def registration(pid: str, *event_types: ProcessEventType, **fields: Any) -> ProcessRegistration:
    return ProcessRegistration(
        id=pid,
        input=fields.pop("input", ExternalProcessInput()),
        event_types=event_types,
        provenance=ProcessProvenance(HostOriginator(), "conformance-host"),
        **fields,
    )


def wake_type(name: str, **wake: Any) -> ProcessEventType:
    spec = wake or {"when": {"present": "/wake_input"}, "input": {"pointer": "/wake_input"}}
    return ProcessEventType(name=name, semantics=ProcessEventSemanticsSpec(wake=ProcessWakeSpec(**spec)))


def plain(name: str) -> ProcessEventType:
    return ProcessEventType(name=name)


def request(event_type: str, payload: Any, key: str | None = None, target: SessionScope | None = None) -> Any:
    return ProcessEventAppendRequest(
        event_type=event_type,
        payload=payload,
        replay=None if key is None else RuntimeReplay(key),
        wake_target_scope=target,
    )


def signal_wait(pid: str, name: str = "ready", ordinal: int = 1, since: int = 1) -> WaitState:
    return WaitState(SignalWait(name, f"signal.{name}", f"process:{pid}:signal.{name}:{ordinal}", ordinal), since)


async def until_waiting(registry: ProcessRegistryCore, count: int = 1) -> None:
    for _ in range(200):
        if registry.waiting >= count:
            return
        await asyncio.sleep(0.005)
    raise AssertionError("nobody started waiting")


# -- registration and records ------------------------------------------------------------------------


async def test_registration_is_idempotent_and_hash_conflicts_fail(registry: ProcessRegistryCore) -> None:
    first = await registry.register_process(registration("proc-idempotent"))
    second = await registry.register_process(registration("proc-idempotent"))
    assert first == second
    assert await registry.get_process("proc-idempotent") == first
    with pytest.raises(ConflictError) as exc:
        await registry.register_process(registration("proc-idempotent", wake_type("producer.wake")))
    assert exc.value.code == "process_registration_hash_conflict"
    assert first.registration_hash in exc.value.message
    assert exc.value.message.startswith("process `proc-idempotent` registration hash conflict: existing ")
    assert await registry.get_process("proc-idempotent") == first
    assert await registry.get_process("missing") is None


async def test_an_invalid_registration_stores_nothing(registry: ProcessRegistryCore) -> None:
    with pytest.raises(InvalidArgumentError):
        await registry.register_process(registration("p", env_ref="process-env:sha256:x"))
    assert await registry.get_process("p") is None


async def test_external_refs(registry: ProcessRegistryCore, clock: Clock) -> None:
    ref = ProcessExternalRef("restate", "wf-1", {"n": 1})
    with pytest.raises(NotFoundError) as exc:
        await registry.set_external_ref("missing", ref)
    assert (exc.value.code, exc.value.message) == ("process_unknown", "unknown process `missing`")
    created = await registry.register_process(registration("proc-ref"))
    clock.ms += 10
    updated = await registry.set_external_ref("proc-ref", ref)
    assert updated.external_ref == ref
    assert updated.updated_at_ms == created.updated_at_ms + 10
    assert (await registry.get_process("proc-ref")) == updated


# -- handle grants -----------------------------------------------------------------------------------


async def test_handle_grant_membership(registry: ProcessRegistryCore) -> None:
    s1, frame = SessionScope("s1"), SessionScope("s1", "f1")
    with pytest.raises(NotFoundError):
        await registry.grant_handle(s1, "missing", ProcessHandleDescriptor())
    for pid in ("b", "a"):
        await registry.register_process(registration(pid))
    grant = await registry.grant_handle(s1, "b", ProcessHandleDescriptor("tool", "demo"))
    assert (grant.session_id, grant.process_id, grant.descriptor) == (
        "s1",
        "b",
        ProcessHandleDescriptor("tool", "demo"),
    )
    await registry.grant_handle(s1, "a", ProcessHandleDescriptor(label="first"))
    # A re-grant replaces the descriptor; a frame is a scope of its own.
    await registry.grant_handle(s1, "b", ProcessHandleDescriptor("tool", "renamed"))
    await registry.grant_handle(frame, "a")
    entries = await registry.list_handle_grants(s1)
    assert [(g.process_id, g.descriptor.label) for g, _ in entries] == [("a", "first"), ("b", "renamed")]
    assert [r.id for _, r in entries] == ["a", "b"]
    assert await registry.has_handle_grant(s1, "a") and await registry.has_handle_grant(frame, "a")
    assert not await registry.has_handle_grant(frame, "b")
    assert [g.process_id for g, _ in await registry.list_handle_grants(frame)] == ["a"]
    await registry.complete_process("b", ProcessAwaitSuccess(None))
    assert [g.process_id for g, _ in await registry.list_live_handle_grants(s1)] == ["a"]
    assert len(await registry.list_handle_grants(s1)) == 2
    await registry.revoke_handle(s1, "a")
    await registry.revoke_handle(s1, "a")  # absent: a no-op
    assert not await registry.has_handle_grant(s1, "a")
    assert [g.process_id for g, _ in await registry.list_handle_grants(s1)] == ["b"]


async def test_several_sessions_hold_grants_and_transfer_moves_one(registry: ProcessRegistryCore) -> None:
    s1, s2, s3 = SessionScope("s1"), SessionScope("s2"), SessionScope("s3")
    await registry.register_process(registration("proc-5"))
    await registry.grant_handle(s2, "proc-5", ProcessHandleDescriptor("worker", "demo"))
    await registry.grant_handle(s1, "proc-5", ProcessHandleDescriptor("tool", "demo"))
    assert [g.session_id for g in await registry.handle_grants_for_process("proc-5")] == ["s1", "s2"]
    await registry.transfer_handle_grants(s1, s3, ["proc-5"])
    grants = await registry.handle_grants_for_process("proc-5")
    assert [(g.session_id, g.descriptor.kind) for g in grants] == [("s2", "worker"), ("s3", "tool")]
    assert await registry.events_after("proc-5", 0) == []
    with pytest.raises(NotFoundError):
        await registry.handle_grants_for_process("missing")


async def test_transfer_moves_addressability_all_or_nothing(registry: ProcessRegistryCore) -> None:
    s1, s2 = SessionScope("s1"), SessionScope("s2")
    for pid in ("proc-3", "proc-4"):
        await registry.register_process(registration(pid))
    await registry.grant_handle(s1, "proc-3", ProcessHandleDescriptor("tool", "demo"))
    with pytest.raises(NotFoundError) as exc:
        await registry.transfer_handle_grants(s1, s2, ["proc-3", "proc-4"])
    assert (exc.value.code, exc.value.message) == (
        "process_handle_not_granted",
        "process handle `proc-4` is not granted to session `s1`",
    )
    assert len(await registry.list_handle_grants(s1)) == 1  # nothing moved
    await registry.transfer_handle_grants(s1, s2, ["proc-3"])
    assert await registry.list_handle_grants(s1) == []
    [(grant, _)] = await registry.list_handle_grants(s2)
    assert (grant.session_id, grant.descriptor) == ("s2", ProcessHandleDescriptor("tool", "demo"))
    assert await registry.events_after("proc-3", 0) == []


async def test_processes_can_exist_with_zero_grants(registry: ProcessRegistryCore) -> None:
    await registry.register_process(registration("proc-4"))
    assert await registry.list_handle_grants(SessionScope("s1")) == []
    assert await registry.handle_grants_for_process("proc-4") == []


async def test_delete_session_reports_orphaned_and_preserved_and_keeps_acked_wakes(
    registry: ProcessRegistryCore,
) -> None:
    deleted, frame, remaining = SessionScope("deleted"), SessionScope("deleted", "f"), SessionScope("remaining")
    for pid in ("sole", "shared", "terminal"):
        await registry.register_process(registration(pid, wake_type("producer.wake")))
        await registry.grant_handle(deleted, pid, ProcessHandleDescriptor("test", pid))
    await registry.grant_handle(frame, "sole")
    await registry.grant_handle(remaining, "shared")
    await registry.complete_process("terminal", ProcessAwaitSuccess(None))
    await registry.append_event("sole", request("producer.wake", {"wake_input": "wake deleted"}, target=deleted))
    shared = await registry.append_event(
        "shared", request("producer.wake", {"wake_input": "wake shared"}, target=remaining)
    )
    await registry.ack_wake("shared", shared.event.sequence)
    assert await registry.wake_events_after("shared", 0) == []

    report = await registry.delete_session_process_state("deleted")
    assert report.session_id == "deleted"
    assert report.revoked_handle_count == 4  # every scope of the session, frames included
    assert report.deleted_wake_count == 0
    assert report.orphaned_process_ids == ("sole",)
    assert report.preserved_process_ids == ("shared",)
    assert await registry.list_handle_grants(deleted) == []
    assert await registry.list_handle_grants(frame) == []
    assert [g.process_id for g, _ in await registry.list_handle_grants(remaining)] == ["shared"]
    assert await registry.wake_events_after("shared", 0) == []  # acks are process-scoped and kept
    assert len(await registry.wake_events_after("sole", 0)) == 1
    # lash never cancels: the orphan keeps running with no cancel request.
    assert (await registry.get_process("sole")).status == ProcessRunning()  # type: ignore[union-attr]
    assert [e.event_type for e in await registry.events_after("sole", 0)] == ["producer.wake"]
    again = await registry.delete_session_process_state("deleted")
    assert (again.revoked_handle_count, again.orphaned_process_ids) == (0, ())


async def test_delete_session_can_cancel_its_orphans(registry: ProcessRegistryCore) -> None:
    gone, other = SessionScope("gone"), SessionScope("other")
    for pid in ("orphan", "kept", "done"):
        await registry.register_process(registration(pid))
        await registry.grant_handle(gone, pid)
    await registry.grant_handle(other, "kept")
    await registry.complete_process("done", ProcessAwaitSuccess(1))
    report = await registry.delete_session_process_state("gone", OrphanPolicy.CANCEL)
    assert (report.orphaned_process_ids, report.preserved_process_ids) == (("orphan",), ("kept",))
    [event] = await registry.events_after("orphan", 0)
    assert event.event_type == "process.cancel_requested"
    assert event.payload == {"reason": "session `gone` deleted"}
    assert event.invocation.replay == cancel_requested_request("orphan", "session `gone` deleted").replay
    assert await registry.events_after("kept", 0) == []
    assert [e.event_type for e in await registry.events_after("done", 0)] == ["process.completed"]
    # A cancel request is not a status change.
    assert (await registry.get_process("orphan")).status == ProcessRunning()  # type: ignore[union-attr]


# -- events ------------------------------------------------------------------------------------------


async def test_custom_events_are_validated_and_wakes_materialised_and_acked(registry: ProcessRegistryCore) -> None:
    line = ProcessEventType(
        name="producer.line",
        payload_schema={
            "schema": {
                "type": "object",
                "properties": {"line": {"type": "string"}, "wake_input": {"type": "string"}},
                "required": ["line"],
                "additionalProperties": True,
            }
        },
        semantics=ProcessEventSemanticsSpec(
            wake=ProcessWakeSpec(when={"present": "/wake_input"}, input={"pointer": "/wake_input"})
        ),
    )
    await registry.register_process(registration("proc-1", line))
    appended = await registry.append_event(
        "proc-1",
        request(
            "producer.line",
            {"line": "deploy failed", "wake_input": "Process event: deploy failed"},
            target=SessionScope("s1"),
        ),
    )
    assert appended.event.sequence == 1
    assert appended.wake_delivery is not None and appended.wake_delivery.input == "Process event: deploy failed"
    assert [e.sequence for e in await registry.wake_events_after("proc-1", 0)] == [1]
    await registry.ack_wake("proc-1", 1)
    assert await registry.wake_events_after("proc-1", 0) == []
    with pytest.raises(InvalidArgumentError) as exc:
        await registry.append_event("proc-1", request("producer.line", {"wake_input": "missing required line"}))
    assert exc.value.message == "invalid `producer.line` payload: line: required property missing"
    assert len(await registry.events_after("proc-1", 0)) == 1  # nothing stored
    with pytest.raises(NotFoundError):
        await registry.ack_wake("missing", 1)
    with pytest.raises(NotFoundError):
        await registry.append_event("missing", request("producer.line", {}))


async def test_the_wake_matrix_and_wake_events_after(registry: ProcessRegistryCore) -> None:
    template = TemplateSelector(
        ProcessTemplate("line {line} #{n}", {"line": {"pointer": "/line"}, "n": {"pointer": "/n"}})
    )
    await registry.register_process(
        registration(
            "proc-wake-matrix",
            wake_type("matrix.when_false", when={"const": False}, input={"const": "must not wake"}),
            wake_type("matrix.payload", input="payload"),
            wake_type("matrix.const_input", input={"const": "constant wake input"}),
            wake_type("matrix.template", input=template),
            wake_type(
                "matrix.selector_dedupe",
                input={"pointer": "/wake_input"},
                dedupe_key={"selector": {"pointer": "/dedupe"}},
            ),
            wake_type("matrix.const_dedupe", input={"pointer": "/wake_input"}, dedupe_key={"const": "constant-dedupe"}),
        )
    )
    root = SessionScope("root")
    pid = "proc-wake-matrix"
    assert (await registry.append_event(pid, request("matrix.when_false", {}, target=root))).wake_delivery is None
    payload = (await registry.append_event(pid, request("matrix.payload", "payload wake", target=root))).wake_delivery
    assert payload is not None and (payload.input, payload.dedupe_key) == ("payload wake", "proc-wake-matrix:2")
    assert payload.wake_id == "wake:30b52463052db6098c4f58bf0f0188b53a8bf71bbc338ee682f5e66496f3f2be"
    const = (await registry.append_event(pid, request("matrix.const_input", {}, target=root))).wake_delivery
    assert const is not None and const.input == "constant wake input"
    templ = (
        await registry.append_event(pid, request("matrix.template", {"line": "done", "n": 7}, target=root))
    ).wake_delivery
    assert templ is not None and templ.input == "line done #7"
    sel = [
        (
            await registry.append_event(
                pid, request("matrix.selector_dedupe", {"wake_input": w, "dedupe": "group-a"}, target=root)
            )
        ).wake_delivery
        for w in ("selector one", "selector two")
    ]
    assert sel[0] is not None and sel[1] is not None
    assert sel[0].dedupe_key == "group-a" and sel[0].wake_id == sel[1].wake_id
    cst = [
        (await registry.append_event(pid, request("matrix.const_dedupe", {"wake_input": w}, target=root))).wake_delivery
        for w in ("const one", "const two")
    ]
    assert cst[0] is not None and cst[1] is not None
    assert cst[0].dedupe_key == "constant-dedupe" and cst[0].wake_id == cst[1].wake_id
    assert [e.sequence for e in await registry.wake_events_after(pid, 0)] == [2, 3, 4, 5, 6, 7, 8]
    assert [e.sequence for e in await registry.wake_events_after(pid, 6)] == [7, 8]


async def test_keyed_events_are_idempotent_and_conflicts_fail(registry: ProcessRegistryCore) -> None:
    await registry.register_process(registration("proc-wake", wake_type("process.wake")))
    target = SessionScope("session")
    keyed = request(
        "process.wake",
        {"message": "deploy failed", "wake_input": "Process wake: deploy failed"},
        "wake:deploy failed",
        target,
    )
    first = await registry.append("proc-wake", keyed)  # the core's append also says whether it replayed
    second = await registry.append("proc-wake", keyed)
    assert (first.replayed, second.replayed) == (False, True)
    assert first.result == second.result
    assert first.result.wake_delivery is not None and first.result.wake_delivery.target_scope_id == "session:session"
    with pytest.raises(ConflictError) as exc:
        await registry.append_event("proc-wake", request("process.wake", {"message": "other"}, "wake:deploy failed"))
    assert (
        exc.value.message
        == "process `proc-wake` event replay key `wake:deploy failed` conflicts with an existing event"
    )
    assert len(await registry.events_after("proc-wake", 0)) == 1


async def test_a_replay_key_too_long_for_an_index_entry_is_still_idempotent(registry: ProcessRegistryCore) -> None:
    await registry.register_process(registration("proc-long-key", plain("e")))
    key = secrets.token_hex(8 * 1024)  # 16 KiB that do not compress: no btree entry holds it whole
    first = await registry.append("proc-long-key", request("e", {"n": 1}, key))
    again = await registry.append("proc-long-key", request("e", {"n": 1}, key))
    assert (first.replayed, again.replayed, again.result) == (False, True, first.result)
    with pytest.raises(ConflictError):
        await registry.append_event("proc-long-key", request("e", {"n": 2}, key))
    other = await registry.append("proc-long-key", request("e", {"n": 1}, key[:-1] + "x"))
    assert not other.replayed and other.result.event.sequence == 2


async def test_a_wake_event_without_target_records_without_delivery(registry: ProcessRegistryCore) -> None:
    await registry.register_process(registration("proc-missing-wake-target", wake_type("process.wake")))
    appended = await registry.append_event(
        "proc-missing-wake-target", request("process.wake", {"wake_input": "x"}, "wake:missing-target")
    )
    assert appended.event.sequence == 1 and appended.wake_delivery is None
    assert len(await registry.events_after("proc-missing-wake-target", 0)) == 1


async def test_terminal_and_cancel_events_require_keys(registry: ProcessRegistryCore) -> None:
    await registry.register_process(registration("proc-terminal"))
    with pytest.raises(InvalidArgumentError) as exc:
        await registry.append_event("proc-terminal", request("process.cancel_requested", {"reason": "stop"}))
    assert exc.value.code == "process_event_replay_key_required"
    with pytest.raises(InvalidArgumentError):
        await registry.append_event("proc-terminal", request("process.completed", {"await_output": 1}))
    await registry.append_event("proc-terminal", cancel_requested_request("proc-terminal", "stop"))
    # The same reason is the same key: idempotent. Another reason is another request.
    await registry.append_event("proc-terminal", cancel_requested_request("proc-terminal", "stop"))
    await registry.append_event("proc-terminal", cancel_requested_request("proc-terminal", "again"))
    assert len(await registry.events_after("proc-terminal", 0)) == 2
    done = await registry.complete_process("proc-terminal", ProcessAwaitCancelled("stopped"))
    assert done.status == ProcessCancelled(ProcessAwaitCancelled("stopped"))
    assert (await registry.get_process("proc-terminal")) == done


async def test_the_terminal_state_is_absorbing_and_complete_is_idempotent(registry: ProcessRegistryCore) -> None:
    await registry.register_process(registration("p"))
    done = await registry.complete_process("p", ProcessAwaitSuccess({"ok": True}))
    assert await registry.complete_process("p", ProcessAwaitSuccess({"ok": True})) == done
    with pytest.raises(ConflictError) as exc:
        await registry.complete_process("p", ProcessAwaitCancelled("late"))
    assert exc.value.code == "process_already_terminal"
    with pytest.raises(ConflictError):  # same key, other output
        await registry.complete_process("p", ProcessAwaitSuccess({"ok": False}))
    assert [e.event_type for e in await registry.events_after("p", 0)] == ["process.completed"]
    assert (await registry.get_process("p")) == done


async def test_await_reads_the_terminal_materialised_output(registry: ProcessRegistryCore) -> None:
    await registry.register_process(registration("proc-2"))
    await registry.complete_process("proc-2", ProcessAwaitSuccess({"ok": True}))
    assert await registry.await_process("proc-2") == ProcessAwaitSuccess({"ok": True})
    with pytest.raises(NotFoundError):
        await registry.await_process("missing")


async def test_await_blocks_until_the_terminal_event_and_can_be_cancelled(registry: ProcessRegistryCore) -> None:
    await registry.register_process(registration("proc-await"))
    waiter = asyncio.create_task(registry.await_process("proc-await"))
    await until_waiting(registry)
    await registry.append_event("proc-await", request("process.waiting", {}))
    await asyncio.sleep(0.02)
    assert not waiter.done()  # woken by a non-terminal event, it waits again
    await registry.complete_process("proc-await", ProcessAwaitCancelled("stop"))
    assert await asyncio.wait_for(waiter, 5) == ProcessAwaitCancelled("stop")
    await registry.register_process(registration("proc-forever"))
    cancelled = asyncio.create_task(registry.await_process("proc-forever"))
    await until_waiting(registry)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert registry.waiting == 0


async def test_wait_event_after_is_woken_by_an_append(registry: ProcessRegistryCore) -> None:
    await registry.register_process(registration("proc-stream", plain("producer.line"), plain("producer.future")))
    old = await registry.append_event("proc-stream", request("producer.future", {"n": 0}))
    # An event already there answers at once; older ones never leak.
    assert (await registry.wait_event_after("proc-stream", "producer.future", 0)).sequence == old.event.sequence
    waiter = asyncio.create_task(registry.wait_event_after("proc-stream", "producer.future", old.event.sequence))
    await until_waiting(registry)
    await registry.append_event("proc-stream", request("producer.line", {"n": 1}))
    await asyncio.sleep(0.02)
    assert not waiter.done()
    fresh = await registry.append_event("proc-stream", request("producer.future", {"n": 2}))
    got = await asyncio.wait_for(waiter, 5)
    assert got == fresh.event and got.sequence == 3
    with pytest.raises(NotFoundError):
        await registry.wait_event_after("missing", "producer.future", 0)
    assert registry.waiting == 0


async def test_many_waiters_and_concurrent_appends_lose_no_wake_up(registry: ProcessRegistryCore) -> None:
    await registry.register_process(registration("proc-many", plain("tick")))
    waiters = [asyncio.create_task(registry.wait_event_after("proc-many", "tick", n)) for n in range(20)]
    appends = [registry.append_event("proc-many", request("tick", {"n": n})) for n in range(20)]
    await asyncio.gather(*appends)
    events = await asyncio.wait_for(asyncio.gather(*waiters), 5)
    assert [e.sequence for e in events] == list(range(1, 21))
    assert [e.sequence for e in await registry.events_after("proc-many", 0)] == list(range(1, 21))


async def test_count_and_recent_events_match_the_log(registry: ProcessRegistryCore) -> None:
    with pytest.raises(NotFoundError):
        await registry.count_events_through("missing-process", "signal.ready", 10)
    with pytest.raises(NotFoundError):
        await registry.recent_events("missing-process", 4)
    await registry.register_process(registration("q", plain("signal.a"), plain("b")))
    sequences = []
    for index, event_type in enumerate(["signal.a", "b", "signal.a", "signal.a", "b"]):
        appended = await registry.append_event("q", request(event_type, {"n": index}, f"q:{index}"))
        sequences.append(appended.event.sequence)
    assert await registry.count_events_through("q", "signal.a", sequences[-1]) == 3
    assert await registry.count_events_through("q", "signal.a", sequences[2]) == 2
    assert await registry.count_events_through("q", "signal.missing", 2**64 - 1) == 0
    full = await registry.events_after("q", 0)
    assert [e.sequence for e in await registry.recent_events("q", 2)] == [e.sequence for e in full[-2:]]
    assert len(await registry.recent_events("q", 100)) == len(full)
    assert await registry.recent_events("q", 0) == []
    assert [e.sequence for e in await registry.events_after("q", 3)] == [4, 5]
    with pytest.raises(InvalidArgumentError):
        await registry.recent_events("q", -1)


# -- list filters and wait state ---------------------------------------------------------------------


async def test_list_processes_filters_by_status_definition_and_waiting(registry: ProcessRegistryCore) -> None:
    for pid in ("proc-list-running", "proc-list-waiting", "proc-list-done"):
        await registry.register_process(registration(pid))
    lashlang = LashlangProcessInput(
        "lashlang:v1:sha256:m", LashlangProcessRef("c", 3), "lashlang-host-requirements:v1:sha256:h", "target"
    )
    await registry.register_process(registration("proc-list-lashlang", input=lashlang, env_ref="process-env:sha256:e"))
    await registry.set_process_wait("proc-list-waiting", signal_wait("proc-list-waiting"))
    await registry.complete_process("proc-list-done", ProcessAwaitSuccess(None))

    async def ids(**filter: Any) -> list[str]:
        return [r.id for r in await registry.list_processes(ProcessListFilter(**filter))]

    assert await ids(status=ProcessStatusFilter.ANY) == [
        "proc-list-done",
        "proc-list-lashlang",
        "proc-list-running",
        "proc-list-waiting",
    ]
    assert await ids() == ["proc-list-lashlang", "proc-list-running", "proc-list-waiting"]
    assert await ids(status=ProcessStatusFilter.COMPLETED) == ["proc-list-done"]
    assert await ids(status=ProcessStatusFilter.FAILED) == []
    assert await ids(status=ProcessStatusFilter.ANY, waiting=True) == ["proc-list-waiting"]
    assert await ids(waiting=False) == ["proc-list-lashlang", "proc-list-running"]
    selector = ProcessDefinitionSelector(
        lashlang.module_ref, lashlang.host_requirements_ref, LashlangProcessRef("c", 3), "target"
    )
    assert await ids(definition=selector) == ["proc-list-lashlang"]
    other = ProcessDefinitionSelector(
        lashlang.module_ref, lashlang.host_requirements_ref, LashlangProcessRef("c", 4), "target"
    )
    assert await ids(definition=other) == []
    assert [r.id for r in await registry.list_non_terminal()] == [
        "proc-list-lashlang",
        "proc-list-running",
        "proc-list-waiting",
    ]


async def test_ids_sort_by_their_bytes_as_lash_sorts_them(registry: ProcessRegistryCore) -> None:
    pids = ["b", "B", "a-2", "a_1", "a10", "a9", "é", "Z", "z", "ä"]
    scope = SessionScope("sort-session")
    for pid in pids:
        await registry.register_process(registration(pid))
        await registry.grant_handle(scope, pid)
        await registry.grant_handle(SessionScope("sort-" + pid), pid)
    in_bytes = sorted(pids, key=lambda p: p.encode())
    assert [r.id for r in await registry.list_processes()] == in_bytes
    assert [g.process_id for g, _ in await registry.list_handle_grants(scope)] == in_bytes
    report = await registry.delete_session_process_state("sort-session")
    assert report.preserved_process_ids == tuple(in_bytes)
    for other in ("sort-B", "sort-b", "sort-é"):
        await registry.grant_handle(SessionScope(other), "Z")
    sessions = [g.session_id for g in await registry.handle_grants_for_process("Z")]
    assert sessions == sorted(sessions, key=lambda s: s.encode()) and len(sessions) == 4


async def test_postgres_ids_compare_as_bytes_whatever_the_database_collation() -> None:
    """The test above cannot tell a database whose default collation is C(.UTF-8) from one that is not:
    the id columns carry their own collation."""
    await require_postgres()
    async with fresh_schema() as url:
        backend = PostgresBackend(url)
        await backend.open()
        try:

            async def collations(conn: Any) -> list[Any]:
                return list(
                    await conn.fetch(
                        "SELECT table_name, column_name, collation_name FROM information_schema.columns"
                        " WHERE table_schema = current_schema() AND table_name LIKE 'process%'"
                        " AND column_name IN ('process_id', 'scope_id', 'session_id', 'event_type')"
                    )
                )

            rows = await backend.run("collations", collations)
        finally:
            await backend.close()
    assert len(rows) == 8
    assert {(r[0], r[1]): r[2] for r in rows if r[2] != "C"} == {}


async def test_the_wait_state_round_trips_and_clears_on_terminal(registry: ProcessRegistryCore, clock: Clock) -> None:
    with pytest.raises(NotFoundError):
        await registry.set_process_wait("missing-process", signal_wait("missing-process"))
    await registry.register_process(registration("proc-wait"))
    wait = signal_wait("proc-wait", since=1234)
    clock.ms += 5
    waiting = await registry.set_process_wait("proc-wait", wait)
    assert waiting.wait == wait and waiting.updated_at_ms == clock.ms
    assert (await registry.get_process("proc-wait")).wait == wait  # type: ignore[union-attr]
    resumed = await registry.clear_process_wait("proc-wait")
    assert resumed.wait is None
    await registry.set_process_wait("proc-wait", wait)
    completed = await registry.complete_process("proc-wait", ProcessAwaitSuccess({"done": True}))
    assert completed.wait is None
    with pytest.raises(ConflictError) as exc:
        await registry.set_process_wait("proc-wait", signal_wait("proc-wait", "again"))
    assert exc.value.message == "terminal process `proc-wait` cannot enter a wait state"
    with pytest.raises(NotFoundError):
        await registry.clear_process_wait("missing-process")


# -- signals -----------------------------------------------------------------------------------------


async def test_a_signal_resolves_the_key_of_its_own_ordinal_and_a_replay_names_only_the_original_key(
    registry: ProcessRegistryCore,
) -> None:
    await registry.register_process(registration("p1", plain("signal.ready")))
    # Signal #1 arrives before anyone waits: it still names key #1 (the await-event store keeps an early
    # resolution for the wait that comes later).
    first = await registry.signal("p1", "ready", "sig-a", {"n": 1})
    assert first.delivery == registry_delivery("p1", "ready", 1, {"n": 1})
    # The process now waits for #3 (lash would resolve the *current* wait ordinal): signal #2 resolves #2.
    await registry.set_process_wait("p1", signal_wait("p1", "ready", 3))
    second = await registry.signal("p1", "ready", "sig-b", {"n": 2})
    assert second.delivery == registry_delivery("p1", "ready", 2, {"n": 2})
    # A resend of signal #1 is a replay: the original event, naming key #1 again (already resolved, so
    # first writer wins makes it a no-op), never the current wait #3 (lash woke #3 with it).
    resend = await registry.signal("p1", "ready", "sig-a", {"n": 1})
    assert resend.replayed and resend.event == first.event and resend.delivery == first.delivery
    with pytest.raises(ConflictError):
        await registry.signal("p1", "ready", "sig-a", {"n": "other"})
    assert [e.payload for e in await registry.events_after("p1", 0)] == [{"n": 1}, {"n": 2}]
    with pytest.raises(InvalidArgumentError):
        await registry.signal("p1", "undeclared", "x", {})


def registry_delivery(pid: str, name: str, ordinal: int, payload: Any) -> SignalDelivery:
    return SignalDelivery(ProcessScope(pid), ProcessSignalWait(pid, name, ordinal), Ok(payload))


# -- leases ------------------------------------------------------------------------------------------


async def test_a_live_lease_fences_a_competing_owner(registry: ProcessRegistryCore, clock: Clock) -> None:
    with pytest.raises(NotFoundError):
        await registry.claim_process_lease("missing", "w1", 1000)
    await registry.register_process(registration("p"))
    lease = await registry.claim_process_lease("p", "w1", 1000)
    assert (lease.owner_id, lease.fencing_token, lease.expires_at_epoch_ms) == ("w1", 1, clock.ms + 1000)
    with pytest.raises(ConflictError) as exc:
        await registry.claim_process_lease("p", "w2", 1000)
    assert (exc.value.code, exc.value.message) == (
        "process_lease_conflict",
        f"process `p` is already leased by `w1` until {lease.expires_at_epoch_ms}",
    )
    again = await registry.claim_process_lease("p", "w1", 1000)  # the same owner may re-claim
    assert again.fencing_token == 2
    clock.ms += 1001
    taken = await registry.claim_process_lease("p", "w2", 1000)  # expired: another owner takes it
    assert (taken.owner_id, taken.fencing_token) == ("w2", 3)
    with pytest.raises(InvalidArgumentError):
        await registry.claim_process_lease("p", "", 1000)


async def test_a_superseded_lease_cannot_renew(registry: ProcessRegistryCore, clock: Clock) -> None:
    await registry.register_process(registration("p"))
    stale = await registry.claim_process_lease("p", "w1", 100)
    clock.ms += 101
    await registry.claim_process_lease("p", "w2", 100)
    with pytest.raises(LeaseLostError) as exc:
        await registry.renew_process_lease(stale, 100)
    assert (exc.value.code, exc.value.message) == ("process_lease_lost", "process lease for `p` is missing or expired")
    with pytest.raises(LeaseLostError):
        await registry.renew_process_lease(dataclasses.replace(stale, process_id="missing"), 100)


async def test_a_renewed_lease_survives_its_original_expiry(registry: ProcessRegistryCore, clock: Clock) -> None:
    await registry.register_process(registration("p"))
    lease = await registry.claim_process_lease("p", "w1", 100)
    clock.ms += 80
    renewed = await registry.renew_process_lease(lease, 100)
    assert renewed.expires_at_epoch_ms == clock.ms + 100
    assert (renewed.lease_token, renewed.fencing_token) == (lease.lease_token, lease.fencing_token)
    clock.ms += 80  # past the original expiry, within the renewed one
    with pytest.raises(ConflictError):
        await registry.claim_process_lease("p", "w2", 100)
    await registry.renew_process_lease(renewed, 100)
    clock.ms += 101
    with pytest.raises(LeaseLostError):  # expired: renew is refused
        await registry.renew_process_lease(renewed, 100)


async def test_a_completed_lease_releases_and_a_reclaim_bumps_fencing(registry: ProcessRegistryCore) -> None:
    await registry.register_process(registration("p"))
    first = await registry.claim_process_lease("p", "w1", 60_000)
    await registry.complete_process_lease(ProcessLeaseCompletion.from_lease(first))
    await registry.complete_process_lease(ProcessLeaseCompletion.from_lease(first))  # idempotent
    second = await registry.claim_process_lease("p", "w2", 60_000)  # released: no conflict
    assert second.fencing_token == first.fencing_token + 1
    with pytest.raises(LeaseLostError):
        await registry.renew_process_lease(first, 100)


async def test_a_stale_completion_cannot_release_the_live_lease(registry: ProcessRegistryCore, clock: Clock) -> None:
    await registry.register_process(registration("p"))
    stale = await registry.claim_process_lease("p", "w1", 100)
    clock.ms += 101
    live = await registry.claim_process_lease("p", "w2", 100)
    await registry.complete_process_lease(ProcessLeaseCompletion.from_lease(stale))  # a silent no-op
    with pytest.raises(ConflictError):
        await registry.claim_process_lease("p", "w3", 100)
    assert (await registry.renew_process_lease(live, 100)).owner_id == "w2"


# -- restart -----------------------------------------------------------------------------------------


async def test_the_registry_survives_a_restart(reopenable: Registry, clock: Clock) -> None:
    registry = reopenable.core
    assert registry is not None
    scope = SessionScope("reopen-session")
    await registry.register_process(registration("proc-reopen", wake_type("producer.reopen_wake")))
    await registry.grant_handle(scope, "proc-reopen", ProcessHandleDescriptor("test", "reopen"))
    keyed = request("producer.reopen_wake", {"wake_input": "survived reopen"}, "producer:reopen", scope)
    appended = await registry.append_event("proc-reopen", keyed)
    await registry.ack_wake("proc-reopen", appended.event.sequence)
    await registry.set_process_wait("proc-reopen", signal_wait("proc-reopen"))
    await registry.set_external_ref("proc-reopen", ProcessExternalRef("b", "1"))
    lease = await registry.claim_process_lease("proc-reopen", "w1", 10_000)
    await registry.complete_process_lease(ProcessLeaseCompletion.from_lease(lease))
    before = await registry.get_process("proc-reopen")

    await reopenable.close()
    reopened = await reopenable.open()
    assert await reopened.get_process("proc-reopen") == before
    events = await reopened.events_after("proc-reopen", 0)
    assert events == [appended.event]
    assert [g.descriptor.label for g, _ in await reopened.list_handle_grants(scope)] == ["reopen"]
    assert await reopened.wake_events_after("proc-reopen", 0) == []
    replayed = await reopened.append("proc-reopen", keyed)
    assert replayed.replayed and replayed.result == appended
    assert (await reopened.claim_process_lease("proc-reopen", "w2", 100)).fencing_token == 2
    done = await reopened.complete_process("proc-reopen", ProcessAwaitSuccess("bye"))
    assert done.status == ProcessCompleted(ProcessAwaitSuccess("bye")) and done.wait is None


async def test_u64_bounds_are_answered_not_crashed_on(registry: ProcessRegistryCore) -> None:
    await registry.register_process(registration("p", plain("e")))
    await registry.append_event("p", request("e", 1))
    top = 2**64 - 1
    assert await registry.events_after("p", top) == []
    assert await registry.wake_events_after("p", top) == []
    assert await registry.count_events_through("p", "e", top) == 1
    assert len(await registry.recent_events("p", top)) == 1
    await registry.ack_wake("p", top)
    lease = await registry.claim_process_lease("p", "w", top)
    assert lease.expires_at_epoch_ms == 2**63 - 1
    for bad in (-1, 2**64):
        with pytest.raises(InvalidArgumentError):
            await registry.events_after("p", bad)
        with pytest.raises(InvalidArgumentError):
            await registry.claim_process_lease("p", "w", bad)
