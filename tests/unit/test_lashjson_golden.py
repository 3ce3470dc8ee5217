"""lash-json against the golden vectors of SEED-SPEC (golden/lashjson.json).

The expected strings in the golden file come from the spec (or are written by hand from its rules); the
inputs are built here from effectd's domain types, so a change in field order, tags, omission rules, float
layout or escaping fails these tests.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import pytest
from effectd._convert_envelope import envelope_from_proto, envelope_to_proto
from effectd._convert_scope import json_to_proto
from effectd._effects import (
    CheckpointOutcome,
    ControllerError,
    DurableStepCommand,
    EffectSubject,
    ExecCodeOutcome,
    LlmCallOutcome,
    PreparedToolCall,
    ProcessEffectCommand,
    ProcessOutcome,
    ResultErr,
    ResultOk,
    RuntimeEffectEnvelope,
    RuntimeEffectKind,
    RuntimeInvocation,
    RuntimeReplay,
    RuntimeScope,
    SleepCommand,
    SleepOutcome,
    SyncExecutionEnvironmentOutcome,
    ToolCallDone,
    ToolCallOutcome,
)
from effectd._json import parse_json
from effectd._lashjson import dumps, format_float, sha256_hex
from effectd._process import (
    ExternalProcessInput,
    HostOriginator,
    ProcessAwaitFailure,
    ProcessAwaitOp,
    ProcessCancelOp,
    ProcessDeleteSessionOp,
    ProcessEventAppendRequest,
    ProcessEventSemanticsSpec,
    ProcessEventType,
    ProcessHandleDescriptor,
    ProcessHandleGrant,
    ProcessListMode,
    ProcessListOp,
    ProcessListResult,
    ProcessProvenance,
    ProcessRecord,
    ProcessRegistration,
    ProcessSignalOp,
    ProcessStartOp,
    ProcessTerminalSpec,
    ProcessTransferOp,
    ProcessTransferResult,
    ProcessWakeSpec,
    SessionScope,
    SignalWait,
    SystemTime,
    TemplateSelector,
    ToolFailureClass,
    WaitState,
    cancel_requested_replay_key,
    process_signal_wait_key,
    wake_id,
)
from effectd._scope import (
    Accepted,
    AlreadyResolved,
    Cancelled,
    Err,
    ExternalCompletionError,
    Ok,
    Timeout,
    ToolCompletionWait,
    TurnScope,
    UnknownOrRevoked,
    await_event_key_id,
    scope_from_lash,
    wait_from_lash,
)
from effectd.v1.envelope_pb2 import RuntimeEffectEnvelope as RuntimeEffectEnvelopePb

GOLDEN: dict[str, Any] = json.loads((Path(__file__).parent / "golden" / "lashjson.json").read_text("utf-8"))


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_golden_file_is_self_consistent() -> None:
    """Every hash in the golden file is the SHA-256 of its own JSON text (guards against a bad copy)."""
    for vector in GOLDEN["key_ids"]:
        assert _sha(vector["json"]) == vector["key_id"]
    for vector in GOLDEN["envelope_hashes"].values():
        assert _sha(vector["json"]) == vector["sha256"]


@pytest.mark.parametrize("vector", GOLDEN["key_ids"], ids=lambda v: v["name"])
def test_key_ids(vector: dict[str, Any]) -> None:
    scope = scope_from_lash(vector["scope"])
    wait = wait_from_lash(vector["wait"])
    assert dumps((scope, wait)) == vector["json"]
    assert await_event_key_id(scope, wait) == vector["key_id"]


def test_key_id_d_keeps_del_raw_and_escapes_controls() -> None:
    text = next(v for v in GOLDEN["key_ids"] if v["name"] == "D")["json"]
    assert "\x7f" in text and "\\u0001" in text and "\\n" in text and "é" in text and "😀" in text


def test_envelope_hash_durable_step() -> None:
    envelope = RuntimeEffectEnvelope(
        invocation=RuntimeInvocation(
            scope=RuntimeScope("durable-step-session", "durable-step-turn", 7, 0),
            subject=EffectSubject("durable-step:create", RuntimeEffectKind.DURABLE_STEP),
            replay=RuntimeReplay("durable-step-replay:create"),
        ),
        command=DurableStepCommand("create", {"x": 1}),
    )
    vector = GOLDEN["envelope_hashes"]["durable_step"]
    assert dumps(envelope) == vector["json"]
    assert envelope.stable_hash() == vector["sha256"]


def test_envelope_hash_sleep() -> None:
    envelope = RuntimeEffectEnvelope(
        invocation=RuntimeInvocation.effect(
            RuntimeScope("session-1"), "sleep-effect", RuntimeEffectKind.SLEEP, "trigger:button-1:sleep-effect"
        ),
        command=SleepCommand(0),
    )
    vector = GOLDEN["envelope_hashes"]["sleep"]
    assert dumps(envelope) == vector["json"]
    assert envelope.stable_hash() == vector["sha256"]


def test_transfer_effect_id() -> None:
    vector = GOLDEN["transfer_effect_id"]
    op = ProcessTransferOp(
        SessionScope(vector["from_session_id"]), SessionScope(vector["to_session_id"]), tuple(vector["process_ids"])
    )
    assert op.effect_id() == vector["effect_id"]


def test_process_effect_ids() -> None:
    ids = GOLDEN["process_effect_ids"]
    registration = ProcessRegistration(
        "proc-1", ExternalProcessInput(), provenance=ProcessProvenance(HostOriginator(), "host")
    )
    request = ProcessEventAppendRequest("signal.ready", {})
    assert ProcessStartOp(registration).effect_id() == ids["start"]
    assert ProcessListOp(SessionScope("s1", "f1"), ProcessListMode.ALL).effect_id() == ids["list"]
    assert ProcessDeleteSessionOp("s1").effect_id() == ids["delete_session"]
    assert ProcessAwaitOp("proc-1").effect_id() == ids["await"]
    assert ProcessCancelOp("proc-1", "why").effect_id() == ids["cancel"]
    assert ProcessSignalOp("proc-1", "ready", "sig-7", request).effect_id() == ids["signal"]


def test_session_scope_id_ignores_an_empty_frame() -> None:
    assert SessionScope("s1", "").id == "session:s1"
    assert SessionScope("s1", "f").id == "session:s1/frame:f"


@pytest.mark.parametrize("vector", GOLDEN["cancel_requested_replay_keys"], ids=lambda v: str(v["reason"]))
def test_cancel_requested_replay_keys(vector: dict[str, Any]) -> None:
    assert cancel_requested_replay_key(vector["process_id"], vector["reason"]) == vector["replay_key"]


def test_wake_id() -> None:
    vector = GOLDEN["wake_id"]
    assert wake_id(vector["target_scope_id"], vector["dedupe_key"]) == vector["wake_id"]


@pytest.mark.parametrize("vector", GOLDEN["appendix_b"], ids=lambda v: str(v["value"][0]))
def test_appendix_b(vector: dict[str, Any]) -> None:
    assert sha256_hex(vector["value"]) == vector["sha256"]


def test_appendix_b_scope_wait() -> None:
    assert sha256_hex((TurnScope("s1", "t1"), ToolCompletionWait("c1"))) == GOLDEN["appendix_b_scope_wait_sha256"]


def test_resolution_shapes() -> None:
    expected = GOLDEN["resolutions"]
    assert dumps(Ok({"b": None, "a": [1, "x"]})) == expected["ok"]
    assert dumps(Err(ExternalCompletionError("c", "m"))) == expected["err"]
    assert dumps(Err(ExternalCompletionError("c", "m", {"detail": 1}))) == expected["err_raw"]
    assert dumps(Timeout()) == expected["timeout"]
    assert dumps(Cancelled()) == expected["cancelled"]


def test_resolve_outcome_shapes() -> None:
    expected = GOLDEN["resolve_outcomes"]
    assert dumps(Accepted()) == expected["accepted"]
    assert dumps(AlreadyResolved(Timeout())) == expected["already_resolved"]
    assert dumps(UnknownOrRevoked()) == expected["unknown_or_revoked"]


def test_wait_state_shape() -> None:
    wait = WaitState(SignalWait("ready", "signal.ready", process_signal_wait_key("p", "ready", 1), 1), since_ms=1)
    assert dumps(wait) == GOLDEN["wait_state"]


def _record() -> ProcessRecord:
    return ProcessRecord("p", "h", ExternalProcessInput(), provenance=ProcessProvenance(HostOriginator(), "hp"))


def test_shapes() -> None:
    shapes = GOLDEN["shapes"]
    assert dumps(ProcessEffectCommand(ProcessCancelOp("p"))) == shapes["process_command_cancel_no_reason"]
    assert dumps(LlmCallOutcome(ResultOk({"text": "hi"}), text_streamed=True)) == shapes["llm_call_ok"]
    assert dumps(ExecCodeOutcome(ResultErr("boom"))) == shapes["exec_code_err"]
    assert dumps(CheckpointOutcome(ResultErr(ControllerError("c", "m")))) == shapes["checkpoint_err"]
    assert dumps(SyncExecutionEnvironmentOutcome(ResultOk(None))) == shapes["sync_ok_null"]
    assert dumps(SleepOutcome()) == shapes["sleep_outcome"]
    assert dumps(ToolCallOutcome(ToolCallDone({"call_id": "c1"}))) == shapes["tool_call_done_no_triggers"]
    assert dumps(ProcessOutcome(ProcessTransferResult())) == shapes["process_transfer_outcome"]
    failure = ProcessAwaitFailure(ToolFailureClass.EXECUTION, "process_failed", "m", raw={"b": 2, "a": 1})
    assert dumps(failure) == shapes["await_failure"]
    assert dumps(PreparedToolCall("c1", "search", {"q": "x", "a": 1})) == shapes["prepared_tool_call"]
    entry = (ProcessHandleGrant("s", "p", ProcessHandleDescriptor(label="L")), _record())
    assert dumps(ProcessListResult((entry,))) == shapes["list_entry"]
    completed = ProcessEventType(
        "process.completed",
        {"schema": {}},
        ProcessEventSemanticsSpec(terminal=ProcessTerminalSpec("completed", {"pointer": "/await_output"})),
    )
    assert dumps(completed) == shapes["terminal_event_type"]
    assert dumps(SystemTime.from_ms(1_700_000_000_123)) == shapes["process_event_time"]


def test_template_selector_keeps_declaration_order() -> None:
    """A template written as a plain dict is normalised so that `template` comes before `fields`."""
    wake = ProcessWakeSpec(
        when={"present": "/text"},
        input={
            "template": {"fields": {"who": "payload", "text": {"pointer": "/text"}}, "template": "{who} says {text}"}
        },
    )
    assert isinstance(wake.input, TemplateSelector)
    assert dumps(wake) == GOLDEN["shapes"]["wake_spec_template"]


@pytest.mark.parametrize("vector", GOLDEN["floats"], ids=lambda v: v["lash"])
def test_float_formatting(vector: dict[str, str]) -> None:
    value = float(vector["repr"])
    assert format_float(value) == vector["lash"]
    assert dumps(value) == vector["lash"]
    assert float(vector["lash"]) == value


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_floats_are_rejected(bad: float) -> None:
    with pytest.raises(ValueError):
        format_float(bad)


@pytest.mark.parametrize("vector", GOLDEN["strings"], ids=lambda v: repr(v["value"])[:20])
def test_string_escaping(vector: dict[str, str]) -> None:
    assert dumps(vector["value"]) == vector["lash"]


@pytest.mark.parametrize("vector", GOLDEN["opaque_sorting"], ids=lambda v: v["lash"][:20])
def test_opaque_objects_sort_by_utf8_bytes(vector: dict[str, Any]) -> None:
    assert dumps(vector["value"]) == vector["lash"]


def test_struct_fields_are_not_sorted() -> None:
    """Declaration order wins for structs even when opaque JSON inside them is sorted."""
    text = dumps(RuntimeScope("s", "t", 1, 2))
    assert text == '{"session_id":"s","turn_id":"t","turn_index":1,"protocol_iteration":2}'


# -- exact numbers (issue 8: integers past 2**53, floats, -0.0 and out-of-range integers) -------------

EXACT = GOLDEN["exact_numbers"]


@pytest.mark.parametrize("vector", EXACT["values"], ids=lambda v: v["json"])
def test_exact_number_vectors(vector: dict[str, str]) -> None:
    """Parsed as serde_json parses, rendered as serde_json renders, carried as that text on the wire."""
    value = parse_json(vector["json"], "value")
    assert type(value).__name__ == vector["type"]
    if vector["type"] == "int":
        assert value == int(vector["json"])
    else:
        assert value == float(vector["json"])
        assert math.copysign(1.0, value) == math.copysign(1.0, float(vector["json"]))
    assert dumps(value) == vector["lash"]
    assert json_to_proto(value).text == vector["lash"]
    # The rendering parses back to the same value: a replay renders the same bytes again.
    assert dumps(parse_json(vector["lash"], "value")) == vector["lash"]


def test_python_ints_beyond_u64_render_as_the_f64_serde_json_holds() -> None:
    assert dumps(10**30) == "1e30"
    assert dumps(10**30) == next(v for v in EXACT["values"] if v["json"] == str(10**30))["lash"]


def test_exact_number_payload() -> None:
    payload = parse_json(EXACT["payload_json"], "payload")
    assert dumps(payload) == EXACT["payload_lash"]
    assert dumps(Ok(payload)) == '{"status":"ok","payload":' + EXACT["payload_lash"] + "}"


def test_exact_number_envelope_hash() -> None:
    vector = EXACT["envelope"]
    assert _sha(vector["json"]) == vector["sha256"]
    envelope = RuntimeEffectEnvelope(
        invocation=RuntimeInvocation(
            scope=RuntimeScope("durable-step-session", "durable-step-turn", 7, 0),
            subject=EffectSubject("durable-step:create", RuntimeEffectKind.DURABLE_STEP),
            replay=RuntimeReplay("durable-step-replay:create"),
        ),
        command=DurableStepCommand("create", parse_json(EXACT["payload_json"], "input")),
    )
    assert dumps(envelope) == vector["json"]
    assert envelope.stable_hash() == vector["sha256"]
    # Through the wire and back (what the server hashes).
    again = envelope_from_proto(RuntimeEffectEnvelopePb.FromString(envelope_to_proto(envelope).SerializeToString()))
    assert again.stable_hash() == vector["sha256"]


def test_exact_number_key_id() -> None:
    vector = EXACT["key_id"]
    assert _sha(vector["json"]) == vector["key_id"]
    wait_json = {k: v for k, v in vector["wait"].items() if k != "ordinal_json"}
    wait_json["ordinal"] = int(vector["wait"]["ordinal_json"])
    scope, wait = scope_from_lash(vector["scope"]), wait_from_lash(wait_json)
    assert dumps((scope, wait)) == vector["json"]
    assert await_event_key_id(scope, wait) == vector["key_id"]
