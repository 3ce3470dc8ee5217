"""The process registry's rules (SEED-SPEC §3.3-3.5, issue 9 §2), pure: registration, the append
algorithm, selectors and wakes, the state machine, leases, signals, and lash's payload schema check."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from effectd._errors import ConflictError, EffectdError, InvalidArgumentError, LeaseLostError, NotFoundError
from effectd._lashjson import dumps, sha256_hex
from effectd._lineage import (
    PreparedToolCall,
    ProcessEventSubject,
    ProcessRef,
    RuntimeReplay,
    RuntimeScope,
    SessionNodeRef,
)
from effectd._process import (
    ExternalProcessInput,
    HostOriginator,
    LashlangProcessInput,
    LashlangProcessRef,
    ProcessAwaitCancelled,
    ProcessAwaitFailure,
    ProcessAwaitSuccess,
    ProcessCancelled,
    ProcessCompleted,
    ProcessEventAppendRequest,
    ProcessEventSemanticsSpec,
    ProcessEventType,
    ProcessFailed,
    ProcessLease,
    ProcessProvenance,
    ProcessRecord,
    ProcessRegistration,
    ProcessRunning,
    ProcessTemplate,
    ProcessTerminalSpec,
    ProcessWakeSpec,
    SessionOriginator,
    SessionScope,
    SessionTurnProcessInput,
    SignalWait,
    TemplateSelector,
    ToolCallProcessInput,
    ToolFailureClass,
    WaitState,
    cancel_requested_request,
)
from effectd._scope import Ok, ProcessScope, ProcessSignalWait, await_event_key_id
from effectd_server.processes import rules
from effectd_server.processes.schema import json_equal, validate_payload

NOW = 1_700_000_000_000


def registration(pid: str = "proc", *event_types: ProcessEventType, **fields: Any) -> ProcessRegistration:
    return ProcessRegistration(
        id=pid,
        input=fields.pop("input", ExternalProcessInput()),
        event_types=event_types,
        provenance=fields.pop("provenance", ProcessProvenance(HostOriginator(), "conformance-host")),
        **fields,
    )


def record(pid: str = "proc", *event_types: ProcessEventType, **fields: Any) -> ProcessRecord:
    prepared, digest = rules.prepare_registration(registration(pid, *event_types, **fields))
    return rules.new_record(prepared, digest, NOW)


def wake_type(name: str, **wake: Any) -> ProcessEventType:
    return ProcessEventType(name=name, semantics=ProcessEventSemanticsSpec(wake=ProcessWakeSpec(**wake)))


def plain(name: str, schema: Any = None) -> ProcessEventType:
    if schema is None:
        return ProcessEventType(name=name)
    return ProcessEventType(name=name, payload_schema={"schema": schema})


def append(
    rec: ProcessRecord,
    event_type: str,
    payload: Any,
    *,
    sequence: int = 1,
    key: str | None = None,
    target: SessionScope | None = None,
    lookup: tuple[str, Any] | None = None,
    now: int = NOW,
) -> rules.PreparedAppend:
    request = ProcessEventAppendRequest(
        event_type=event_type,
        payload=payload,
        replay=None if key is None else RuntimeReplay(key),
        wake_target_scope=target,
    )
    return rules.prepare_event_append(rec, request, sequence, lookup, now)


def code_of(exc: pytest.ExceptionInfo[EffectdError]) -> str:
    return exc.value.code


# -- registration -------------------------------------------------------------------------------------


def test_core_event_types_are_appended_in_lash_order() -> None:
    prepared, _ = rules.prepare_registration(registration("p", plain("producer.line")))
    assert [t.name for t in prepared.event_types] == [
        "producer.line",
        "process.cancel_requested",
        "process.waiting",
        "process.resumed",
        "process.completed",
        "process.failed",
        "process.cancelled",
    ]
    terminal = prepared.event_types[4].semantics.terminal
    assert terminal == ProcessTerminalSpec(state="completed", await_output={"pointer": "/await_output"})
    assert all(t.payload_schema == {"schema": {}} for t in prepared.event_types)


def test_a_declared_core_type_is_kept_not_duplicated() -> None:
    mine = plain("process.waiting", {"type": "object"})
    prepared, _ = rules.prepare_registration(registration("p", mine))
    assert [t.name for t in prepared.event_types].count("process.waiting") == 1
    assert prepared.event_types[0] is mine


def test_the_registration_hash_is_the_sha256_of_the_prepared_registration() -> None:
    prepared, digest = rules.prepare_registration(registration("p"))
    assert digest == sha256_hex(prepared) == rules.registration_hash(prepared)
    again, digest_again = rules.prepare_registration(registration("p"))
    assert (again, digest_again) == (prepared, digest)
    # Preparing a prepared registration changes nothing: the hash is stable across replays.
    assert rules.prepare_registration(prepared)[1] == digest
    _, other = rules.prepare_registration(registration("p", wake_type("producer.wake", input="payload")))
    assert other != digest


def test_register_decision_same_hash_is_the_record_other_hash_conflicts() -> None:
    rec = record("proc-idempotent")
    assert rules.register_decision(rec, rec.registration_hash) is rec
    with pytest.raises(ConflictError) as exc:
        rules.register_decision(rec, "f" * 64)
    assert exc.value.code == "process_registration_hash_conflict"
    assert exc.value.message == (
        f"process `proc-idempotent` registration hash conflict: existing {rec.registration_hash}, new {'f' * 64}"
    )


def test_a_new_record_is_running_with_the_registration_fields() -> None:
    scope = SessionScope("s1", "f1")
    rec = record("p", wake_target=scope)
    assert rec.status == ProcessRunning()
    assert (rec.created_at_ms, rec.updated_at_ms, rec.wait, rec.external_ref) == (NOW, NOW, None, None)
    assert rec.wake_target == scope


@pytest.mark.parametrize(
    ("reg", "code", "message"),
    [
        (registration(" "), "process_id_required", "process id must be a non-empty string"),
        (
            registration("p", provenance=ProcessProvenance(HostOriginator(), " ")),
            "process_host_profile_required",
            "process `p` host profile id must be non-empty",
        ),
        (
            registration("p", input=ToolCallProcessInput(PreparedToolCall("c", "t", {}))),
            "process_env_ref_required",
            "process `p` requires a captured execution env",
        ),
        (
            registration("p", input=LashlangProcessInput("m", LashlangProcessRef("c", 1), "h", "n"), env_ref=None),
            "process_env_ref_required",
            "process `p` requires a captured execution env",
        ),
        (
            registration("p", env_ref="process-env:sha256:x"),
            "process_env_ref_forbidden",
            "process `p` must not capture an execution env for this input kind",
        ),
        (
            registration("p", input=SessionTurnProcessInput({}, {}, {}), env_ref="process-env:sha256:x"),
            "process_env_ref_forbidden",
            "process `p` must not capture an execution env for this input kind",
        ),
        (registration("p", plain(" ")), "process_event_type_empty", "process `p` declares an empty event type"),
        (
            registration("p", plain("a"), plain("a")),
            "process_event_type_duplicate",
            "process `p` declares duplicate event type `a`",
        ),
        (
            registration(
                "p",
                ProcessEventType(
                    name="boom", semantics=ProcessEventSemanticsSpec(terminal=ProcessTerminalSpec(state="failed"))
                ),
            ),
            "process_terminal_output_required",
            "terminal event `boom` for process `p` must declare await output",
        ),
    ],
)
def test_registration_validation_uses_lash_texts(reg: ProcessRegistration, code: str, message: str) -> None:
    with pytest.raises(InvalidArgumentError) as exc:
        rules.prepare_registration(reg)
    assert (exc.value.code, exc.value.message) == (code, message)


def test_tool_call_with_env_ref_and_completed_terminal_without_selector_are_valid() -> None:
    rules.prepare_registration(
        registration("p", input=ToolCallProcessInput(PreparedToolCall("c", "t", {})), env_ref="process-env:sha256:x")
    )
    done = ProcessEventType(
        name="done", semantics=ProcessEventSemanticsSpec(terminal=ProcessTerminalSpec(state="completed"))
    )
    rules.prepare_registration(registration("p", done))


@pytest.mark.parametrize(
    "wake",
    [
        {"input": {"pointer": 3}},
        {"input": "everything"},
        {"input": {"pointer": "/a", "const": 1}},
        {"input": "payload", "when": {"present": None}},
        {"input": "payload", "dedupe_key": "other"},
        {"input": "payload", "dedupe_key": {"const": 3}},
        {"input": TemplateSelector(ProcessTemplate("{a}", {"a": {"nope": 1}}))},
    ],
)
def test_selectors_lash_could_not_read_are_refused_at_registration(wake: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgumentError) as exc:
        rules.prepare_registration(registration("p", wake_type("w", **wake)))
    assert exc.value.code == "process_selector_invalid"


# -- selectors ----------------------------------------------------------------------------------------

PAYLOAD = {"a": {"b": [10, {"c": "x"}]}, "s/l": 1, "t~": 2, "": 3, "n": None, "f": 1.0}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("payload", PAYLOAD),
        ({"pointer": ""}, PAYLOAD),
        ({"pointer": "/a/b/0"}, 10),
        ({"pointer": "/a/b/1/c"}, "x"),
        ({"pointer": "/s~1l"}, 1),
        ({"pointer": "/t~0"}, 2),
        ({"pointer": "/"}, 3),
        ({"pointer": "/n"}, None),
        ({"const": {"k": [1]}}, {"k": [1]}),
        ({"present": "/n"}, True),
        ({"present": "/missing"}, False),
        ({"present": "/a/b/01"}, False),
        ({"present": "a"}, False),
    ],
)
def test_select_value(selector: Any, expected: Any) -> None:
    assert json_equal(rules.select_value(PAYLOAD, selector), expected)


@pytest.mark.parametrize("pointer", ["/missing", "/a/b/2", "/a/b/01", "/a/b/+1", "/a/b/x", "a", "/f/x"])
def test_a_pointer_that_matches_nothing_is_lash_error(pointer: str) -> None:
    with pytest.raises(InvalidArgumentError) as exc:
        rules.select_value(PAYLOAD, {"pointer": pointer})
    assert exc.value.code == "process_selector_no_match"
    assert exc.value.message == f"payload pointer `{pointer}` did not match"


def test_a_template_replaces_fields_in_key_order_with_their_text() -> None:
    selector = TemplateSelector(
        ProcessTemplate(
            "{b}|{a}|{a}|{obj}|{missing}",
            {"b": {"pointer": "/line"}, "a": {"pointer": "/n"}, "obj": {"const": {"z": 1, "y": [True, None]}}},
        )
    )
    rendered = rules.select_value({"line": "done", "n": 7}, selector)
    assert rendered == 'done|7|7|{"y":[true,null],"z":1}|{missing}'
    # A field whose value contains a later field's placeholder is replaced again (lash replaces in order).
    chained = TemplateSelector(ProcessTemplate("{a}", {"a": {"const": "{b}"}, "b": {"const": "B"}}))
    assert rules.select_value({}, chained) == "B"


def test_value_text() -> None:
    assert rules.value_text("plain") == "plain"
    assert rules.value_text(None) == "null"
    assert rules.value_text(1.0) == "1.0"
    assert rules.value_text({"b": 1, "a": "é"}) == '{"a":"é","b":1}'


# -- wakes (the conformance wake matrix) ----------------------------------------------------------------


def matrix_record() -> ProcessRecord:
    template = TemplateSelector(
        ProcessTemplate("line {line} #{n}", {"line": {"pointer": "/line"}, "n": {"pointer": "/n"}})
    )
    return record(
        "proc-wake-matrix",
        wake_type("matrix.when_false", when={"const": False}, input={"const": "must not wake"}),
        wake_type("matrix.payload", input="payload"),
        wake_type("matrix.const_input", input={"const": "constant wake input"}),
        wake_type("matrix.template", input=template),
        wake_type(
            "matrix.selector_dedupe", input={"pointer": "/wake_input"}, dedupe_key={"selector": {"pointer": "/dedupe"}}
        ),
        wake_type("matrix.const_dedupe", input={"pointer": "/wake_input"}, dedupe_key={"const": "constant-dedupe"}),
    )


def test_the_wake_semantics_matrix() -> None:
    rec = matrix_record()
    root = SessionScope("root")
    no_wake = append(rec, "matrix.when_false", {}, sequence=1, target=root)
    assert no_wake.event.semantics.wake is None and no_wake.wake_delivery is None

    payload = append(rec, "matrix.payload", "payload wake", sequence=2, target=root).wake_delivery
    assert payload is not None
    assert (payload.input, payload.dedupe_key) == ("payload wake", "proc-wake-matrix:2")
    assert payload.wake_id == "wake:30b52463052db6098c4f58bf0f0188b53a8bf71bbc338ee682f5e66496f3f2be"

    const_input = append(rec, "matrix.const_input", {}, sequence=3, target=root).wake_delivery
    assert const_input is not None and const_input.input == "constant wake input"

    template = append(rec, "matrix.template", {"line": "done", "n": 7}, sequence=4, target=root).wake_delivery
    assert template is not None and template.input == "line done #7"

    first = append(
        rec, "matrix.selector_dedupe", {"wake_input": "selector one", "dedupe": "group-a"}, sequence=5, target=root
    )
    second = append(
        rec, "matrix.selector_dedupe", {"wake_input": "selector two", "dedupe": "group-a"}, sequence=6, target=root
    )
    assert first.wake_delivery is not None and second.wake_delivery is not None
    assert first.wake_delivery.dedupe_key == "group-a"
    assert first.wake_delivery.wake_id == second.wake_delivery.wake_id
    assert first.wake_delivery.input != second.wake_delivery.input

    c1 = append(rec, "matrix.const_dedupe", {"wake_input": "const one"}, sequence=7, target=root).wake_delivery
    c2 = append(rec, "matrix.const_dedupe", {"wake_input": "const two"}, sequence=8, target=root).wake_delivery
    assert c1 is not None and c2 is not None
    assert c1.dedupe_key == "constant-dedupe" and c1.wake_id == c2.wake_id


@pytest.mark.parametrize(
    ("payload", "wakes"),
    [
        ({}, False),
        ({"w": None}, False),
        ({"w": False}, False),
        ({"w": ""}, False),
        ({"w": []}, False),
        ({"w": {}}, False),
        ({"w": 0}, True),
        ({"w": 0.0}, True),
        ({"w": True}, True),
        ({"w": "x"}, True),
        ({"w": [0]}, True),
    ],
)
def test_wake_when_truthiness(payload: dict[str, Any], wakes: bool) -> None:
    rec = record("p", wake_type("t", when={"pointer": "/w"} if payload else {"present": "/w"}, input="payload"))
    prepared = append(rec, "t", payload, target=SessionScope("s"))
    assert (prepared.wake_delivery is not None) is wakes


def test_a_wake_delivery_carries_the_event_and_the_process_provenance() -> None:
    caused_by = SessionNodeRef("target-session", "trigger:button")
    rec = record(
        "proc-provenance",
        wake_type("producer.custom_wake", when={"present": "/wake_input"}, input={"pointer": "/wake_input"}),
        provenance=ProcessProvenance(SessionOriginator(SessionScope("owner-session")), "host-profile", caused_by),
    )
    target = SessionScope("target-session", "target-frame")
    prepared = append(
        rec,
        "producer.custom_wake",
        {"line": "build failed", "wake_input": "custom wake: build failed"},
        key="custom-wake:build-failed",
        target=target,
    )
    event = prepared.event
    assert event.invocation.scope == RuntimeScope("runtime")
    assert event.invocation.subject == ProcessEventSubject("proc-provenance", 1, "producer.custom_wake")
    assert event.invocation.caused_by == ProcessRef("proc-provenance")
    assert event.invocation.replay == RuntimeReplay("custom-wake:build-failed")
    wake = prepared.wake_delivery
    assert wake is not None
    assert wake.event_type == "producer.custom_wake"
    assert wake.event_invocation == event.invocation
    assert wake.process_caused_by == caused_by
    assert (wake.target_session_id, wake.target_scope_id) == ("target-session", target.id)
    assert (wake.process_id, wake.sequence, wake.dedupe_key) == ("proc-provenance", 1, "proc-provenance:1")
    assert wake.input == "custom wake: build failed"
    assert wake.created_at_ms == NOW
    assert '"process_caused_by":{"type":"session_node"' in dumps(wake)


def test_without_a_target_a_wake_event_records_without_delivery_and_the_record_target_is_the_default() -> None:
    wake = wake_type("process.wake", input={"pointer": "/wake_input"})
    untargeted = append(record("p", wake), "process.wake", {"wake_input": "x"}, key="k")
    assert untargeted.event.semantics.wake is not None
    assert untargeted.wake_delivery is None
    rec = record("p", wake, wake_target=SessionScope("default"))
    by_record = append(rec, "process.wake", {"wake_input": "x"})
    assert by_record.wake_delivery is not None and by_record.wake_delivery.target_scope_id == "session:default"
    by_request = append(rec, "process.wake", {"wake_input": "x"}, target=SessionScope("other", "f"))
    assert by_request.wake_delivery is not None and by_request.wake_delivery.target_scope_id == "session:other/frame:f"


# -- keyed idempotency --------------------------------------------------------------------------------


def test_a_replayed_key_answers_the_original_event_and_rederives_its_wake() -> None:
    rec = record("proc-wake", wake_type("process.wake", input={"pointer": "/wake_input"}))
    payload = {"message": "deploy failed", "wake_input": "Process wake: deploy failed"}
    first = append(rec, "process.wake", payload, key="wake:deploy failed", target=SessionScope("session"), now=NOW)
    lookup = (first.payload_hash, first.event)
    again = append(
        rec,
        "process.wake",
        payload,
        sequence=9,
        key="wake:deploy failed",
        target=SessionScope("session"),
        lookup=lookup,
        now=NOW + 5,
    )
    assert again.replayed and not first.replayed
    assert again.event == first.event and again.event.sequence == 1
    assert again.wake_delivery == first.wake_delivery
    assert again.occurred_at_ms == NOW
    assert again.status_update is None and rules.apply_append(rec, again) is None
    # The replay re-derives the delivery for the request's target (lash does the same).
    elsewhere = append(rec, "process.wake", payload, key="wake:deploy failed", target=SessionScope("s2"), lookup=lookup)
    assert elsewhere.wake_delivery is not None and elsewhere.wake_delivery.target_scope_id == "session:s2"
    assert (
        first.payload_hash == rules.event_payload_hash("process.wake", payload) == sha256_hex(["process.wake", payload])
    )


@pytest.mark.parametrize(
    ("event_type", "payload"),
    [("process.wake", {"message": "other", "wake_input": "x"}), ("process.resumed", {"message": "deploy failed"})],
)
def test_the_same_key_with_another_type_or_payload_conflicts(event_type: str, payload: Any) -> None:
    rec = record("proc-wake", wake_type("process.wake", input="payload"))
    first = append(rec, "process.wake", {"message": "deploy failed"}, key="wake:deploy failed")
    with pytest.raises(ConflictError) as exc:
        append(rec, event_type, payload, key="wake:deploy failed", lookup=(first.payload_hash, first.event))
    assert exc.value.code == "process_event_replay_conflict"
    assert (
        exc.value.message
        == "process `proc-wake` event replay key `wake:deploy failed` conflicts with an existing event"
    )


def test_numbers_are_compared_as_written_for_idempotency() -> None:
    assert rules.event_payload_hash("t", {"n": 1}) != rules.event_payload_hash("t", {"n": 1.0})


# -- declared types, keys, schemas ------------------------------------------------------------------


def test_an_undeclared_event_type_is_refused() -> None:
    with pytest.raises(InvalidArgumentError) as exc:
        append(record("p"), "producer.nope", {})
    assert (exc.value.code, exc.value.message) == (
        "process_event_undeclared",
        "process `p` emitted undeclared event type `producer.nope`",
    )


@pytest.mark.parametrize("key", [None, ""])
@pytest.mark.parametrize(
    "event_type", ["process.cancel_requested", "process.completed", "process.failed", "process.cancelled"]
)
def test_terminal_and_cancel_events_require_a_key(event_type: str, key: str | None) -> None:
    with pytest.raises(InvalidArgumentError) as exc:
        append(record("proc-terminal"), event_type, {"await_output": {"type": "cancelled", "message": "m"}}, key=key)
    assert exc.value.code == "process_event_replay_key_required"
    assert exc.value.message == f"process `proc-terminal` event `{event_type}` requires a deterministic replay key"


def test_plain_events_need_no_key_and_an_empty_key_is_still_a_key() -> None:
    rec = record("p", plain("producer.line"))
    assert append(rec, "producer.line", 1).event.invocation.replay is None
    assert append(rec, "producer.line", 1, key="").event.invocation.replay == RuntimeReplay("")


def test_a_payload_its_schema_refuses_is_refused_with_lash_text() -> None:
    schema = {
        "type": "object",
        "properties": {"line": {"type": "string"}, "wake_input": {"type": "string"}},
        "required": ["line"],
        "additionalProperties": True,
    }
    rec = record("proc-1", plain("producer.line", schema))
    append(rec, "producer.line", {"line": "deploy failed", "extra": 1})
    with pytest.raises(InvalidArgumentError) as exc:
        append(rec, "producer.line", {"wake_input": "missing required line"})
    assert (exc.value.code, exc.value.message) == (
        "process_event_payload_invalid",
        "invalid `producer.line` payload: line: required property missing",
    )


# -- terminal events and the status projection ------------------------------------------------------


def test_complete_process_request_and_its_materialised_output() -> None:
    output = ProcessAwaitSuccess(value={"ok": True})
    request = rules.terminal_event_request("proc-2", output)
    assert request.event_type == "process.completed"
    assert request.replay == RuntimeReplay("process:proc-2:terminal:process.completed")
    assert request.payload == {"await_output": {"type": "success", "value": {"ok": True}}}
    prepared = rules.prepare_event_append(record("proc-2"), request, 1, None, NOW)
    assert prepared.status_update == ProcessCompleted(output)
    failure = ProcessAwaitFailure(ToolFailureClass.TIMEOUT, "slow", "too slow", raw={"s": 3})
    assert rules.terminal_event_request("p", failure).event_type == "process.failed"
    prepared = rules.prepare_event_append(record("p"), rules.terminal_event_request("p", failure), 1, None, NOW)
    assert prepared.status_update == ProcessFailed(failure)
    cancelled = ProcessAwaitCancelled("stopped")
    assert rules.terminal_event_request("p", cancelled).replay == RuntimeReplay("process:p:terminal:process.cancelled")


def test_a_selected_value_that_is_not_an_output_is_wrapped_by_state() -> None:
    rec = record("p")
    failed = append(rec, "process.failed", {"await_output": {"why": "disk"}}, key="k")
    assert failed.status_update == ProcessFailed(
        ProcessAwaitFailure(ToolFailureClass.EXECUTION, "process_failed", '{"why":"disk"}', raw={"why": "disk"})
    )
    cancelled = append(rec, "process.cancelled", {"await_output": "user stop"}, key="k")
    assert cancelled.status_update == ProcessCancelled(ProcessAwaitCancelled("user stop", raw="user stop"))
    completed = append(rec, "process.completed", {"await_output": [1, 2]}, key="k")
    assert completed.status_update == ProcessCompleted(ProcessAwaitSuccess([1, 2]))
    # Not an output: an unknown failure class, a success without a value.
    odd = append(rec, "process.completed", {"await_output": {"type": "success"}}, key="k")
    assert odd.status_update == ProcessCompleted(ProcessAwaitSuccess({"type": "success"}))
    bad_class = {"type": "failure", "class": "weird", "code": "c", "message": "m"}
    wrapped = append(rec, "process.failed", {"await_output": bad_class}, key="k")
    assert isinstance(wrapped.status_update, ProcessFailed)
    assert wrapped.status_update.await_output.raw == bad_class  # type: ignore[union-attr]


def test_a_completed_terminal_without_selector_completes_with_the_payload() -> None:
    done = ProcessEventType(
        name="done", semantics=ProcessEventSemanticsSpec(terminal=ProcessTerminalSpec(state="completed"))
    )
    prepared = append(record("p", done), "done", {"x": 1}, key="k")
    assert prepared.status_update == ProcessCompleted(ProcessAwaitSuccess({"x": 1}))


def test_materialising_a_failed_terminal_without_selector_fails() -> None:
    spec = ProcessEventSemanticsSpec(terminal=ProcessTerminalSpec(state="failed"))
    with pytest.raises(InvalidArgumentError) as exc:
        rules.materialize_semantics("p", 1, {}, spec)
    assert exc.value.message == "failed or cancelled terminal events must declare await output"


def test_a_terminal_event_on_a_terminal_process_is_refused_but_its_replay_is_not() -> None:
    rec = record("p")
    first = append(rec, "process.completed", {"await_output": {"type": "success", "value": 1}}, key="t")
    done = rules.apply_append(rec, first)
    assert done is not None and done.status == first.status_update
    with pytest.raises(ConflictError) as exc:
        append(done, "process.failed", {"await_output": "x"}, sequence=2, key="t2")
    assert (exc.value.code, exc.value.message) == ("process_already_terminal", "process `p` is already terminal")
    replay = append(
        done,
        "process.completed",
        {"await_output": {"type": "success", "value": 1}},
        key="t",
        lookup=(first.payload_hash, first.event),
    )
    assert replay.replayed and replay.status_update is None
    # Plain events still append to a terminal process.
    assert append(done, "process.resumed", {}, sequence=2).status_update is None


def test_a_replayed_terminal_repairs_a_record_that_is_not_terminal() -> None:
    waiting = dataclasses.replace(
        record("p"), wait=WaitState(SignalWait("ready", "signal.ready", "process:p:signal.ready:1", 1), 5)
    )
    first = append(waiting, "process.cancelled", {"await_output": "stop"}, key="t", now=NOW + 10)
    replay = append(
        waiting,
        "process.cancelled",
        {"await_output": "stop"},
        key="t",
        lookup=(first.payload_hash, first.event),
        now=NOW + 99,
    )
    assert replay.replayed
    assert replay.status_update == ProcessCancelled(ProcessAwaitCancelled("stop", raw="stop"))
    repaired = rules.apply_append(waiting, replay)
    assert repaired is not None
    assert repaired.status == replay.status_update
    assert repaired.wait is None
    assert repaired.updated_at_ms == NOW + 10  # the original event's time


def test_applying_a_plain_event_keeps_the_wait_and_bumps_updated_at() -> None:
    wait = WaitState(SignalWait("ready", "signal.ready", "process:p:signal.ready:1", 1), 5)
    rec = dataclasses.replace(record("p"), wait=wait)
    applied = rules.apply_append(rec, append(rec, "process.waiting", {}, now=NOW + 7))
    assert applied is not None and applied.wait == wait and applied.updated_at_ms == NOW + 7
    assert applied.status == ProcessRunning()


def test_the_state_machine_a_terminal_process_cannot_wait() -> None:
    rules.set_wait_check(record("p"))
    done = dataclasses.replace(record("p"), status=ProcessCompleted(ProcessAwaitSuccess(None)))
    with pytest.raises(ConflictError) as exc:
        rules.set_wait_check(done)
    assert (exc.value.code, exc.value.message) == (
        "process_terminal_wait",
        "terminal process `p` cannot enter a wait state",
    )
    assert rules.is_terminal(done.status) and not rules.is_terminal(ProcessRunning())
    assert rules.status_name(done.status) == "completed"
    assert rules.await_output_of(done.status) == ProcessAwaitSuccess(None)
    assert rules.await_output_of(ProcessRunning()) is None


def test_cancel_requested_is_a_request_not_a_status_and_its_keys_are_lash() -> None:
    assert cancel_requested_request("p", None).replay == RuntimeReplay(
        "process:p:cancel_requested:5532b5f3befaa3efc27b125b501ee870e6405e058b099410f23165e543d2a782"
    )
    host = cancel_requested_request("p", "requested by host")
    assert host.replay == RuntimeReplay(
        "process:p:cancel_requested:40805f9b946c5fe7758f2bedd78f1f2d86c3b289115f9589ab01322e9b3dc8c1"
    )
    prepared = rules.prepare_event_append(record("p"), host, 1, None, NOW)
    assert prepared.status_update is None and prepared.event.semantics.terminal is None


# -- leases -------------------------------------------------------------------------------------------


def lease(owner: str, fencing: int, expires: int, pid: str = "p") -> ProcessLease:
    return ProcessLease(1, pid, owner, f"{pid}:{owner}:0:{fencing}", fencing, 0, expires)


def test_a_claim_bumps_the_fencing_token_and_has_lash_token() -> None:
    first = rules.claim_lease("p", None, 0, "w1", 1000, NOW)
    assert first == ProcessLease(1, "p", "w1", f"p:w1:{NOW}:1", 1, NOW, NOW + 1000)
    # Released (no live lease) but the fencing token is kept: the next claim is 2 + 1.
    assert rules.claim_lease("p", None, 2, "w2", 10, NOW).fencing_token == 3


def test_a_live_lease_of_another_owner_conflicts_the_same_owner_reclaims() -> None:
    held = lease("w1", 4, NOW + 50)
    with pytest.raises(ConflictError) as exc:
        rules.claim_lease("p", held, 4, "w2", 10, NOW)
    assert (exc.value.code, exc.value.message) == (
        "process_lease_conflict",
        f"process `p` is already leased by `w1` until {NOW + 50}",
    )
    assert rules.claim_lease("p", held, 4, "w1", 10, NOW).fencing_token == 5
    expired = lease("w1", 4, NOW)
    assert rules.claim_lease("p", expired, 4, "w2", 10, NOW).owner_id == "w2"


def test_renew_needs_the_current_token_and_an_unexpired_lease() -> None:
    current = lease("w1", 2, NOW + 10)
    assert rules.renew_lease(current, current, 500, NOW).expires_at_epoch_ms == NOW + 500
    for stale, live in [(lease("w1", 1, NOW + 10), current), (current, lease("w1", 2, NOW)), (current, None)]:
        with pytest.raises(LeaseLostError) as exc:
            rules.renew_lease(stale, live, 500, NOW)
        assert (exc.value.code, exc.value.message) == (
            "process_lease_lost",
            "process lease for `p` is missing or expired",
        )
    assert rules.lease_is_live(current, NOW) and not rules.lease_is_live(lease("", 1, NOW + 10), NOW)


# -- signals ------------------------------------------------------------------------------------------


def signal_record() -> ProcessRecord:
    return record("p1", plain("signal.ready"))


def test_a_signal_request_is_keyed_by_its_signal_id() -> None:
    request = rules.signal_append_request("p1", "ready", "sig-7", {"go": True})
    assert request.event_type == "signal.ready"
    assert request.replay == RuntimeReplay("process:p1:signal.ready:sig-7")
    with pytest.raises(InvalidArgumentError):
        rules.signal_append_request("p1", "not ok", "s", None)


def test_a_signal_resolves_the_key_of_its_own_ordinal() -> None:
    event = rules.prepare_event_append(
        signal_record(), rules.signal_append_request("p1", "ready", "a", 1), 3, None, NOW
    ).event
    delivery = rules.signal_delivery(event, ordinal=1)
    assert delivery == rules.SignalDelivery(ProcessScope("p1"), ProcessSignalWait("p1", "ready", 1), Ok(1))
    # SEED-SPEC §2.4 example B: the key a waiter on the first `ready` signal of p1 holds.
    assert (
        await_event_key_id(delivery.scope, delivery.wait)
        == "c1e35a5be176c63490ba20c166c2c96937f38a1c67c2a46b8125145526e08cb5"
    )


def test_a_signal_without_an_ordinal_resolves_nothing() -> None:
    event = rules.prepare_event_append(
        signal_record(), rules.signal_append_request("p1", "ready", "a", 1), 1, None, NOW
    ).event
    assert rules.signal_delivery(event, ordinal=0) is None


def test_a_non_signal_event_resolves_nothing() -> None:
    event = append(record("p"), "process.waiting", {}).event
    assert rules.signal_delivery(event, ordinal=1) is None


# -- the payload schema check (lash's LashSchema) ---------------------------------------------------------

TOKEN = {
    "type": "object",
    "properties": {"access_token": {"type": "string"}},
    "required": ["access_token"],
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    ("schema", "value", "error"),
    [
        ({}, {"anything": [1]}, None),
        (TOKEN, {}, "access_token: required property missing"),
        (
            {
                "type": "object",
                "properties": {"page_limit": {"type": "integer", "maximum": 20}},
                "required": ["page_limit"],
            },
            {"page_limit": 100},
            "page_limit: expected integer <= 20, got 100",
        ),
        (
            {"type": "object", "properties": {"limit": {"type": "integer"}}, "required": ["limit"]},
            {"min_datetime": "2024", "limit": 20},
            "min_datetime: unexpected property",
        ),
        (
            {"type": "object", "properties": {"p": {"type": "string"}}, "additionalProperties": True},
            {"p": "x", "u": 1},
            None,
        ),
        ({"type": "object", "properties": {"q": {"type": "string"}}}, {"q": "x", "__session_id__": "s"}, None),
        (
            {"type": "object", "properties": {}, "additionalProperties": {"type": "integer"}},
            {"a": 1, "b": "2"},
            'b: expected integer, got "2"',
        ),
        ({"type": "string"}, 3, "arguments: expected string, got 3"),
        ({"type": "integer"}, 1.0, "arguments: expected integer, got 1.0"),
        ({"type": "integer"}, True, "arguments: expected integer, got true"),
        ({"type": "number"}, 2, None),
        ({"type": ["string", "null"]}, None, None),
        ({"type": ["string", "null"]}, 1, "arguments: expected string or null, got 1"),
        ({"enum": ["a", 1]}, 1.0, 'arguments: expected one of "a", 1, got 1.0'),
        ({"enum": ["a", 1]}, 1, None),
        ({"anyOf": [{"type": "string"}, {"type": "integer"}]}, 1.5, "arguments: expected matching schema, got 1.5"),
        ({"oneOf": [{"type": "string"}]}, "s", None),
        (
            {"type": "string", "minLength": 2, "maxLength": 3},
            "é",
            'arguments: expected string length >= 2 length <= 3, got "é"',
        ),
        ({"type": "array", "items": {"type": "integer"}}, [1, "x"], '[1]: expected integer, got "x"'),
        ({"type": "array", "maxItems": 1}, [1, 2], "arguments: expected array items <= 1, got 2 items"),
        ({"type": "number", "minimum": 0.5}, 0, "arguments: expected number >= 0.5, got 0"),
        (
            {"type": "object", "properties": {"a": {"type": "object", "properties": {"b": {"type": "null"}}}}},
            {"a": {"b": 'line\n"q"'}},
            'a.b: expected null, got "line\\n\\"q\\""',
        ),
        ({"type": "mystery"}, 1, None),
        (True, 1, None),
    ],
)
def test_validate_payload_like_lash(schema: Any, value: Any, error: str | None) -> None:
    assert validate_payload(schema, value) == error


def test_json_equal_is_serde_equality() -> None:
    assert json_equal({"a": [1, "x", None]}, {"a": [1, "x", None]})
    assert not json_equal(1, 1.0)
    assert not json_equal(True, 1)
    assert not json_equal([1], [1, 2])


def test_every_error_code_has_a_class_and_is_snake_case() -> None:
    for code, (cls, _) in rules.ERROR_CODES.items():
        assert code.startswith("process_") and code == code.lower()
        assert issubclass(cls, InvalidArgumentError | ConflictError | NotFoundError | LeaseLostError)
    assert rules.unknown_process("p").message == "unknown process `p`"
    assert isinstance(rules.unknown_process("p"), NotFoundError)
    assert rules.handle_not_granted("p", "s1").message == "process handle `p` is not granted to session `s1`"
