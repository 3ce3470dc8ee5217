"""Domain → protobuf → domain is the identity, and keeps lash-json (so every hash) unchanged.

JSON numbers: `google.protobuf.Value` carries every number as a double, and `_from_proto.json_value` reads an
integral double back as an int. So the generated JSON uses ints within ±2**53 (exact as doubles) and finite
floats that are not integral; an integral float such as 2.0 would come back as the int 2 (and lash-json
would print `2`, not `2.0`), and an int beyond 2**53 would lose precision. That is the contract's limit,
not a converter bug.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from effectd import _effects as fx
from effectd import _from_proto as from_pb
from effectd import _process as px
from effectd import _scope as sc
from effectd import _to_proto as to_pb
from effectd._errors import InvalidArgumentError
from effectd._lashjson import dumps
from effectd.v1 import envelope_pb2 as epb
from effectd.v1 import process_pb2 as ppb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SETTINGS = settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

# -- strategies ---------------------------------------------------------------------------------------

text = st.text(alphabet=st.characters(codec="utf-8"), max_size=8)
ids = st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=8)
u64 = st.integers(0, 2**64 - 1)
u32 = st.integers(0, 2**32 - 1)


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer())
    | text
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(text, children, max_size=3),
    max_leaves=8,
)
json_objects = st.dictionaries(text, json_values, max_size=3)
non_null_json = json_values.filter(lambda v: v is not None)

execution_scopes = st.one_of(
    st.builds(sc.TurnScope, ids, ids),
    st.builds(sc.ProcessScope, ids),
    st.builds(sc.QueueDrainScope, ids, ids),
    st.builds(sc.SessionDeleteScope, ids),
    st.builds(sc.RuntimeOperationScope, ids),
)
waits = st.one_of(
    st.builds(sc.ToolCompletionWait, ids),
    st.builds(sc.ProcessSignalWait, ids, ids, st.integers(1, 2**64 - 1)),
    st.builds(sc.CustomWait, ids),
)
keys = st.builds(sc.AwaitEventKey, execution_scopes, waits, text, text)
completion_errors = st.builds(sc.ExternalCompletionError, text, text, optional(non_null_json))
resolutions = st.one_of(
    st.builds(sc.Ok, json_values),
    st.builds(sc.Err, completion_errors),
    st.just(sc.Timeout()),
    st.just(sc.Cancelled()),
)
resolve_outcomes = st.one_of(
    st.just(sc.Accepted()), st.builds(sc.AlreadyResolved, resolutions), st.just(sc.UnknownOrRevoked())
)

kinds = st.sampled_from(fx.RuntimeEffectKind)
# Lineage types that the contract carries as JSON (a provenance's caused_by, a start's causal invocation, a
# process event's invocation) hold their u64 counters as doubles: only values up to 2**53 survive there.
u53 = st.integers(0, 2**53)


def runtime_scopes(nums: st.SearchStrategy[int]) -> st.SearchStrategy[fx.RuntimeScope]:
    return st.builds(fx.RuntimeScope, text, optional(text), optional(nums), optional(nums))


def subjects(nums: st.SearchStrategy[int]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.builds(fx.EffectSubject, text, kinds),
        st.builds(fx.ProcessSubject, text),
        st.builds(fx.ProcessEventSubject, text, nums, text),
        st.builds(fx.TriggerOccurrenceSubject, text),
        st.builds(fx.SessionNodeSubject, text),
    )


def causal_refs(nums: st.SearchStrategy[int]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.builds(fx.TurnRef, text, text),
        st.builds(fx.EffectRef, text, optional(text), text),
        st.builds(fx.ToolCallRef, text, text),
        st.builds(fx.ProcessRef, text),
        st.builds(fx.ProcessEventRef, text, nums),
        st.builds(fx.TriggerOccurrenceRef, text),
        st.builds(fx.SessionNodeRef, text, text),
    )


def invocations(nums: st.SearchStrategy[int]) -> st.SearchStrategy[fx.RuntimeInvocation]:
    return st.builds(
        fx.RuntimeInvocation,
        runtime_scopes(nums),
        subjects(nums),
        optional(causal_refs(nums)),
        optional(st.builds(fx.RuntimeReplay, text)),
    )


prepared_tool_calls = st.builds(
    fx.PreparedToolCall, text, text, json_values, optional(non_null_json), optional(non_null_json)
)

# -- processes

session_scopes = st.builds(px.SessionScope, text, optional(text))
selectors = st.recursive(
    st.just("payload")
    | st.builds(lambda p: {"pointer": p}, text)
    | st.builds(lambda v: {"const": v}, json_values)
    | st.builds(lambda p: {"present": p}, text),
    lambda children: st.builds(
        lambda t, f: {"template": {"template": t, "fields": f}}, text, st.dictionaries(text, children, max_size=2)
    ),
    max_leaves=4,
)
terminal_states = st.sampled_from(["completed", "failed", "cancelled"])
terminal_specs = st.builds(px.ProcessTerminalSpec, terminal_states, optional(selectors))
wake_specs = st.builds(
    px.ProcessWakeSpec,
    when=optional(selectors),
    input=selectors,
    dedupe_key=st.just("event_identity")
    | st.builds(lambda s: {"selector": s}, selectors)
    | st.builds(lambda c: {"const": c}, text),
)
event_types = st.builds(
    px.ProcessEventType,
    text,
    st.builds(lambda s: {"schema": s}, json_values),
    st.builds(px.ProcessEventSemanticsSpec, optional(terminal_specs), optional(wake_specs)),
)
process_inputs = st.one_of(
    st.builds(px.ToolCallProcessInput, prepared_tool_calls),
    st.builds(
        px.LashlangProcessInput,
        text,
        st.builds(px.LashlangProcessRef, text, u32),
        text,
        text,
        json_objects,
    ),
    st.builds(px.SessionTurnProcessInput, json_values, json_values, json_values),
    st.builds(px.ExternalProcessInput, json_values),
)
originators = st.just(px.HostOriginator()) | st.builds(px.SessionOriginator, session_scopes)
provenances = st.builds(px.ProcessProvenance, originators, text, optional(causal_refs(u53)))
registrations = st.builds(
    px.ProcessRegistration,
    text,
    process_inputs,
    event_types=st.lists(event_types, max_size=2).map(tuple),
    provenance=provenances,
    env_ref=optional(text),
    wake_target=optional(session_scopes),
)
descriptors = st.builds(px.ProcessHandleDescriptor, optional(text), optional(text))
failure_classes = st.sampled_from(px.ToolFailureClass)
await_outputs = st.one_of(
    st.builds(px.ProcessAwaitSuccess, json_values, optional(non_null_json)),
    st.builds(px.ProcessAwaitFailure, failure_classes, text, text, optional(non_null_json), optional(non_null_json)),
    st.builds(px.ProcessAwaitCancelled, text, optional(non_null_json), optional(non_null_json)),
)
statuses = st.one_of(
    st.just(px.ProcessRunning()),
    st.builds(px.ProcessCompleted, await_outputs),
    st.builds(px.ProcessFailed, await_outputs),
    st.builds(px.ProcessCancelled, await_outputs),
)
wait_states = st.builds(px.WaitState, st.builds(px.SignalWait, text, text, text, u64), u64)
records = st.builds(
    px.ProcessRecord,
    text,
    text,
    process_inputs,
    event_types=st.lists(event_types, max_size=2).map(tuple),
    provenance=provenances,
    env_ref=optional(text),
    wake_target=optional(session_scopes),
    created_at_ms=u64,
    updated_at_ms=u64,
    external_ref=optional(st.builds(px.ProcessExternalRef, text, text, optional(non_null_json))),
    wait=optional(wait_states),
    status=statuses,
)
grants = st.builds(px.ProcessHandleGrant, text, text, descriptors)
append_requests = st.builds(
    px.ProcessEventAppendRequest,
    text,
    json_values,
    optional(st.builds(fx.RuntimeReplay, text)),
    optional(session_scopes),
)
event_semantics = st.builds(
    px.ProcessEventSemantics,
    optional(st.builds(px.ProcessTerminalSemantics, terminal_states, await_outputs)),
    optional(st.builds(px.ProcessWakeSemantics, text, text)),
)
events = st.builds(
    px.ProcessEvent,
    text,
    u64,
    text,
    json_values,
    invocations(u53),
    event_semantics,
    # The contract carries milliseconds: whole milliseconds round-trip exactly.
    st.integers(0, 2**53).map(px.SystemTime.from_ms),
)
process_commands = st.one_of(
    st.builds(
        px.ProcessStartOp,
        registrations,
        optional(st.builds(px.ProcessStartGrant, session_scopes, descriptors)),
        optional(st.builds(px.ProcessExecutionContext, optional(invocations(u53)))),
    ),
    st.builds(px.ProcessListOp, session_scopes, st.sampled_from(px.ProcessListMode)),
    st.builds(px.ProcessTransferOp, session_scopes, session_scopes, st.lists(text, max_size=3).map(tuple)),
    st.builds(px.ProcessDeleteSessionOp, text),
    st.builds(px.ProcessAwaitOp, text),
    st.builds(px.ProcessCancelOp, text, optional(text)),
    st.builds(px.ProcessSignalOp, text, text, text, append_requests),
)
process_outcomes = st.one_of(
    st.builds(px.ProcessStartResult, records),
    st.builds(px.ProcessListResult, st.lists(st.tuples(grants, records), max_size=2).map(tuple)),
    st.just(px.ProcessTransferResult()),
    st.builds(
        px.ProcessDeleteSessionResult,
        st.builds(
            px.ProcessSessionDeleteReport,
            text,
            u64,
            u64,
            st.lists(text, max_size=2).map(tuple),
            st.lists(text, max_size=2).map(tuple),
        ),
    ),
    st.builds(px.ProcessAwaitResult, await_outputs),
    st.builds(px.ProcessCancelResult, records),
    st.builds(px.ProcessSignalResult, events),
)

# -- effects

commands = st.one_of(
    st.builds(fx.LlmCallCommand, json_values),
    st.builds(fx.DirectCommand, json_values, text),
    st.builds(fx.ToolCallCommand, prepared_tool_calls),
    st.builds(fx.ProcessEffectCommand, process_commands),
    st.builds(fx.ExecCodeCommand, text),
    st.builds(fx.CheckpointCommand, st.sampled_from(fx.CheckpointKind)),
    st.builds(fx.SyncExecutionEnvironmentCommand, st.booleans()),
    st.builds(fx.SleepCommand, u64),
    st.builds(fx.AwaitEventCommand, keys),
    st.builds(fx.DurableStepCommand, text, json_values),
)
envelopes = st.builds(fx.RuntimeEffectEnvelope, invocations(u64), commands)


def results(err: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.builds(fx.ResultOk, json_values) | st.builds(fx.ResultErr, err)


launches = st.builds(fx.ToolCallDone, json_values) | st.builds(fx.ToolCallPending, keys, json_values, u64)
outcomes = st.one_of(
    st.builds(fx.LlmCallOutcome, results(json_values), st.booleans()),
    st.builds(fx.DirectOutcome, results(json_values)),
    st.builds(fx.ToolCallOutcome, launches, st.lists(json_values, max_size=2).map(tuple)),
    st.builds(fx.ProcessOutcome, process_outcomes),
    st.builds(fx.ExecCodeOutcome, results(text)),
    st.builds(fx.CheckpointOutcome, results(st.builds(fx.ControllerError, text, text))),
    st.builds(fx.SyncExecutionEnvironmentOutcome, results(text)),
    st.just(fx.SleepOutcome()),
    st.builds(fx.AwaitEventOutcome, resolutions),
    st.builds(fx.DurableStepOutcome, json_values),
)

# -- the property -------------------------------------------------------------------------------------

PAIRS: list[tuple[str, st.SearchStrategy[Any], Callable[[Any], Any], Callable[[Any], Any]]] = [
    ("json", json_values, to_pb.json_value, from_pb.json_value),
    ("scope", execution_scopes, to_pb.scope, from_pb.scope),
    ("wait", waits, to_pb.wait, from_pb.wait),
    ("key", keys, to_pb.key, from_pb.key),
    ("resolution", resolutions, to_pb.resolution, from_pb.resolution),
    ("resolve_outcome", resolve_outcomes, to_pb.resolve_outcome, from_pb.resolve_outcome),
    ("invocation", invocations(u64), to_pb.invocation, from_pb.invocation),
    ("envelope", envelopes, to_pb.envelope, from_pb.envelope),
    ("command", commands, to_pb.command, from_pb.command),
    ("outcome", outcomes, to_pb.outcome, from_pb.outcome),
    ("process_command", process_commands, to_pb.process_command, from_pb.process_command),
    ("process_outcome", process_outcomes, to_pb.process_outcome, from_pb.process_outcome),
    ("process_registration", registrations, to_pb.process_registration, from_pb.process_registration),
    ("process_record", records, to_pb.process_record, from_pb.process_record),
    ("process_event", events, to_pb.process_event, from_pb.process_event),
]


@pytest.mark.parametrize(("strategy", "to", "back"), [p[1:] for p in PAIRS], ids=[p[0] for p in PAIRS])
def test_round_trip_is_identity(
    strategy: st.SearchStrategy[Any], to: Callable[[Any], Any], back: Callable[[Any], Any]
) -> None:
    @SETTINGS
    @given(strategy)
    def check(value: Any) -> None:
        message = to(value)
        # Through the wire bytes too, as a server would see it.
        decoded = type(message).FromString(message.SerializeToString())
        again = back(decoded)
        assert again == value
        assert dumps(again) == dumps(value)

    check()


@SETTINGS
@given(envelopes)
def test_envelope_hash_survives_the_round_trip(envelope: fx.RuntimeEffectEnvelope) -> None:
    assert from_pb.envelope(to_pb.envelope(envelope)).stable_hash() == envelope.stable_hash()


def test_every_command_and_outcome_kind_is_generated() -> None:
    """Guard against a strategy that silently stops covering a variant."""
    seen_commands: set[fx.RuntimeEffectKind] = set()
    seen_outcomes: set[fx.RuntimeEffectKind] = set()

    @settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(commands, outcomes)
    def collect(command: fx.RuntimeEffectCommand, outcome: fx.RuntimeEffectOutcome) -> None:
        seen_commands.add(command.kind)
        seen_outcomes.add(outcome.kind)

    collect()
    assert seen_commands == set(fx.RuntimeEffectKind)
    assert seen_outcomes == set(fx.RuntimeEffectKind)


def test_integral_doubles_come_back_as_ints() -> None:
    assert from_pb.json_value(to_pb.json_value(2.0)) == 2
    assert isinstance(from_pb.json_value(to_pb.json_value(2.0)), int)
    assert isinstance(from_pb.json_value(to_pb.json_value(2.5)), float)


def test_empty_execution_context_is_normalised_away() -> None:
    reg = px.ProcessRegistration(
        "p", px.ExternalProcessInput(), provenance=px.ProcessProvenance(px.HostOriginator(), "h")
    )
    start = px.ProcessStartOp(reg, execution_context=px.ProcessExecutionContext())
    assert start.execution_context is None
    assert from_pb.process_command(to_pb.process_command(start)) == start


# -- bad input ----------------------------------------------------------------------------------------

MISSING_ONEOFS: list[tuple[str, Callable[[], Any]]] = [
    ("envelope without command", lambda: from_pb.envelope(epb.RuntimeEffectEnvelope())),
    ("command", lambda: from_pb.command(epb.RuntimeEffectCommand())),
    ("outcome", lambda: from_pb.outcome(epb.RuntimeEffectOutcome())),
    ("subject", lambda: from_pb.subject(epb.RuntimeSubject())),
    ("causal ref", lambda: from_pb.causal_ref(epb.CausalRef())),
    ("llm result", lambda: from_pb.outcome(epb.RuntimeEffectOutcome(llm_call=epb.LlmCallOutcome()))),
    ("launch", lambda: from_pb.tool_call_launch(epb.ToolCallLaunch())),
    ("process command", lambda: from_pb.process_command(ppb.ProcessCommand())),
    ("process outcome", lambda: from_pb.process_outcome(ppb.ProcessEffectOutcome())),
    ("process input", lambda: from_pb.process_input(ppb.ProcessInput())),
    ("originator", lambda: from_pb.originator(ppb.ProcessOriginator())),
    ("await output", lambda: from_pb.await_output(ppb.ProcessAwaitOutput())),
    ("status", lambda: from_pb.process_status(ppb.ProcessStatus())),
    ("wait state", lambda: from_pb.wait_state(ppb.WaitState())),
    (
        "unspecified effect kind",
        lambda: from_pb.subject(epb.RuntimeSubject(effect=epb.EffectSubject(effect_id="e"))),
    ),
    (
        "unspecified checkpoint kind",
        lambda: from_pb.command(epb.RuntimeEffectCommand(checkpoint=epb.CheckpointCommand())),
    ),
    (
        "unknown failure class",
        lambda: from_pb.await_output(ppb.ProcessAwaitOutput(failure=ppb.ProcessAwaitFailure(**{"class": 99}))),
    ),
    (
        "caused_by that is not a causal ref",
        lambda: from_pb.provenance(
            ppb.ProcessProvenance(
                originator=ppb.ProcessOriginator(host=ppb.HostOriginator()), caused_by=to_pb.json_value(3)
            )
        ),
    ),
]


@pytest.mark.parametrize("convert", [m[1] for m in MISSING_ONEOFS], ids=[m[0] for m in MISSING_ONEOFS])
def test_missing_or_unknown_input_is_invalid_argument(convert: Callable[[], Any]) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        convert()
    assert info.value.code == "invalid_request"
