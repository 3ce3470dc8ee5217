"""Domain → protobuf → domain is the identity, and keeps lash-json (so every hash) unchanged.

JSON travels as JSON text (`Json`), so every int within [-2**63, 2**64-1] and every finite float (2.0 and
-0.0 included) comes back exactly, as its own type. An int outside that range becomes the f64 serde_json
would hold for it, on the way out already (see `test_out_of_range_ints_become_floats`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from effectd import _convert_envelope as cenv
from effectd import _convert_process as cproc
from effectd import _convert_scope as cscope
from effectd import _convert_workers as cworkers
from effectd import _effects as fx
from effectd import _process as px
from effectd import _scope as sc
from effectd._errors import InvalidArgumentError
from effectd._lashjson import dumps
from effectd.v1 import envelope_pb2 as epb
from effectd.v1 import process_pb2 as ppb
from effectd.v1 import scope_pb2 as spb
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
    | st.integers(-(2**63), 2**64 - 1)
    | st.sampled_from([9007199254740993, 2**64 - 1, -(2**63), 0, -1])
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([1.0, -0.0, 0.0, 1e20, 1e-7, 0.1, 1e300, 5e-324, 2.0**64])
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
# process event's invocation) keep their u64 counters exactly: JSON text carries every u64.


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
provenances = st.builds(px.ProcessProvenance, originators, text, optional(causal_refs(u64)))
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
    invocations(u64),
    event_semantics,
    # The contract carries milliseconds: whole milliseconds round-trip exactly.
    st.integers(0, 2**53).map(px.SystemTime.from_ms),
)
process_commands = st.one_of(
    st.builds(
        px.ProcessStartOp,
        registrations,
        optional(st.builds(px.ProcessStartGrant, session_scopes, descriptors)),
        optional(st.builds(px.ProcessExecutionContext, optional(invocations(u64)))),
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

capabilities = st.builds(
    cworkers.WorkerCapability,
    st.sampled_from([kind.value for kind in fx.RuntimeEffectKind]),
    text,
    text,
    u32,
    optional(st.builds(cworkers.ToolDescription, text, text, text)),
)

# -- the property -------------------------------------------------------------------------------------


def _json_back(msg: spb.Json) -> Any:
    return cscope.json_from_proto(msg, "value")


PAIRS: list[tuple[str, st.SearchStrategy[Any], Callable[[Any], Any], Callable[[Any], Any]]] = [
    ("json", json_values, cscope.json_to_proto, _json_back),
    ("scope", execution_scopes, cscope.scope_to_proto, cscope.scope_from_proto),
    ("wait", waits, cscope.wait_to_proto, cscope.wait_from_proto),
    ("key", keys, cscope.key_to_proto, cscope.key_from_proto),
    ("resolution", resolutions, cscope.resolution_to_proto, cscope.resolution_from_proto),
    ("resolve_outcome", resolve_outcomes, cscope.resolve_outcome_to_proto, cscope.resolve_outcome_from_proto),
    ("invocation", invocations(u64), cenv.invocation_to_proto, cenv.invocation_from_proto),
    ("envelope", envelopes, cenv.envelope_to_proto, cenv.envelope_from_proto),
    ("command", commands, cenv.command_to_proto, cenv.command_from_proto),
    ("outcome", outcomes, cenv.outcome_to_proto, cenv.outcome_from_proto),
    ("process_command", process_commands, cproc.process_command_to_proto, cproc.process_command_from_proto),
    ("process_outcome", process_outcomes, cproc.process_outcome_to_proto, cproc.process_outcome_from_proto),
    (
        "process_registration",
        registrations,
        cproc.process_registration_to_proto,
        cproc.process_registration_from_proto,
    ),
    ("process_record", records, cproc.process_record_to_proto, cproc.process_record_from_proto),
    ("process_event", events, cproc.process_event_to_proto, cproc.process_event_from_proto),
    ("worker_capability", capabilities, cworkers.capability_to_proto, cworkers.capability_from_proto),
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
        # And back out to the very same bytes: what was recorded is what every replay returns.
        assert to(again).SerializeToString(deterministic=True) == message.SerializeToString(deterministic=True)

    check()


@SETTINGS
@given(envelopes)
def test_envelope_hash_survives_the_round_trip(envelope: fx.RuntimeEffectEnvelope) -> None:
    assert cenv.envelope_from_proto(cenv.envelope_to_proto(envelope)).stable_hash() == envelope.stable_hash()


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


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (9007199254740993, "9007199254740993"),
        (2**64 - 1, "18446744073709551615"),
        (-(2**63), "-9223372036854775808"),
        (1.0, "1.0"),
        (2.0, "2.0"),
        (-0.0, "-0.0"),
        (1e20, "1e20"),
        (1e-7, "1e-7"),
        (0.1, "0.1"),
        ({"order_id": 9007199254740993, "f": 1.0}, '{"f":1.0,"order_id":9007199254740993}'),
    ],
)
def test_numbers_travel_exactly(value: Any, text: str) -> None:
    message = cscope.json_to_proto(value)
    assert message.text == text
    again = cscope.json_from_proto(spb.Json.FromString(message.SerializeToString()), "value")
    assert again == value and type(again) is type(value)
    assert dumps(again) == text


@pytest.mark.parametrize(
    ("value", "text", "back"),
    [
        (10**30, "1e30", 1e30),
        (2**64, "1.8446744073709552e19", 2.0**64),
        (-(2**63) - 1, "-9.223372036854776e18", -(2.0**63)),
    ],
)
def test_out_of_range_ints_become_floats(value: int, text: str, back: float) -> None:
    """serde_json holds an integer outside i64/u64 as an f64: so does the wire, in both directions."""
    assert cscope.json_to_proto(value).text == text
    again = cscope.json_from_proto(cscope.json_to_proto(value), "value")
    assert again == back and isinstance(again, float)
    assert cscope.json_from_proto(spb.Json(text=str(value)), "value") == back


@pytest.mark.parametrize(
    ("convert", "field"),
    [
        (lambda: cscope.resolution_from_proto(spb.Resolution(ok=spb.Json())), "resolution.ok"),
        (lambda: cscope.resolution_from_proto(spb.Resolution(ok=spb.Json(text="NaN"))), "resolution.ok"),
        (
            lambda: cscope.resolution_from_proto(
                spb.Resolution(err=spb.ExternalCompletionError(code="c", raw=spb.Json()))
            ),
            "resolution.err.raw",
        ),
        (
            lambda: cenv.command_from_proto(epb.RuntimeEffectCommand(durable_step=epb.DurableStepCommand(step_id="s"))),
            "command.durable_step.input",
        ),
        (
            lambda: cenv.envelope_from_proto(
                epb.RuntimeEffectEnvelope(
                    invocation=epb.RuntimeInvocation(
                        subject=epb.RuntimeSubject(process=epb.ProcessSubject(process_id="p"))
                    ),
                    command=epb.RuntimeEffectCommand(
                        durable_step=epb.DurableStepCommand(step_id="s", input=spb.Json(text='{"a":1,"a":2}'))
                    ),
                )
            ),
            "envelope.command.durable_step.input",
        ),
        (
            lambda: cenv.outcome_from_proto(
                epb.RuntimeEffectOutcome(
                    tool_call=epb.ToolCallOutcome(
                        launch=epb.ToolCallLaunch(done=epb.ToolCallDone(result=spb.Json(text="1"))),
                        triggers=[spb.Json(text="1"), spb.Json(text="[")],
                    )
                )
            ),
            "outcome.tool_call.triggers[1]",
        ),
        (
            lambda: cproc.process_input_from_proto(
                ppb.ProcessInput(lashlang_process=ppb.LashlangProcessInput(args=spb.Json(text="[1]")))
            ),
            "input.lashlang_process.args",
        ),
        (
            lambda: cproc.provenance_from_proto(
                ppb.ProcessProvenance(
                    originator=ppb.ProcessOriginator(host=ppb.HostOriginator()), caused_by=spb.Json(text="")
                )
            ),
            "provenance.caused_by",
        ),
    ],
    ids=[
        "unset",
        "nan",
        "optional-set-empty",
        "required-unset",
        "duplicate-key",
        "repeated",
        "args-not-object",
        "optional-empty",
    ],
)
def test_invalid_json_is_refused_naming_the_field(convert: Callable[[], Any], field: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        convert()
    assert info.value.code == "invalid_json"
    assert info.value.message.startswith(field + ": ")


def test_an_unset_optional_json_is_none() -> None:
    error = cscope.completion_error_from_proto(spb.ExternalCompletionError(code="c", message="m"))
    assert error.raw is None
    null = cscope.completion_error_from_proto(spb.ExternalCompletionError(code="c", raw=spb.Json(text="null")))
    assert null.raw is None


def test_empty_execution_context_is_normalised_away() -> None:
    reg = px.ProcessRegistration(
        "p", px.ExternalProcessInput(), provenance=px.ProcessProvenance(px.HostOriginator(), "h")
    )
    start = px.ProcessStartOp(reg, execution_context=px.ProcessExecutionContext())
    assert start.execution_context is None
    assert cproc.process_command_from_proto(cproc.process_command_to_proto(start)) == start


# -- bad input ----------------------------------------------------------------------------------------

MISSING_ONEOFS: list[tuple[str, Callable[[], Any]]] = [
    ("envelope without command", lambda: cenv.envelope_from_proto(epb.RuntimeEffectEnvelope())),
    ("command", lambda: cenv.command_from_proto(epb.RuntimeEffectCommand())),
    ("outcome", lambda: cenv.outcome_from_proto(epb.RuntimeEffectOutcome())),
    ("subject", lambda: cenv.subject_from_proto(epb.RuntimeSubject())),
    ("causal ref", lambda: cenv.causal_ref_from_proto(epb.CausalRef())),
    ("llm result", lambda: cenv.outcome_from_proto(epb.RuntimeEffectOutcome(llm_call=epb.LlmCallOutcome()))),
    ("launch", lambda: cenv.tool_call_launch_from_proto(epb.ToolCallLaunch())),
    ("process command", lambda: cproc.process_command_from_proto(ppb.ProcessCommand())),
    ("process outcome", lambda: cproc.process_outcome_from_proto(ppb.ProcessEffectOutcome())),
    ("process input", lambda: cproc.process_input_from_proto(ppb.ProcessInput())),
    ("originator", lambda: cproc.originator_from_proto(ppb.ProcessOriginator())),
    ("await output", lambda: cproc.await_output_from_proto(ppb.ProcessAwaitOutput())),
    ("status", lambda: cproc.process_status_from_proto(ppb.ProcessStatus())),
    ("wait state", lambda: cproc.wait_state_from_proto(ppb.WaitState())),
    (
        "unspecified effect kind",
        lambda: cenv.subject_from_proto(epb.RuntimeSubject(effect=epb.EffectSubject(effect_id="e"))),
    ),
    (
        "unspecified checkpoint kind",
        lambda: cenv.command_from_proto(epb.RuntimeEffectCommand(checkpoint=epb.CheckpointCommand())),
    ),
    (
        "unknown failure class",
        lambda: cproc.await_output_from_proto(ppb.ProcessAwaitOutput(failure=ppb.ProcessAwaitFailure(**{"class": 99}))),
    ),
    (
        "caused_by that is not a causal ref",
        lambda: cproc.provenance_from_proto(
            ppb.ProcessProvenance(
                originator=ppb.ProcessOriginator(host=ppb.HostOriginator()), caused_by=cscope.json_to_proto(3)
            )
        ),
    ),
]


@pytest.mark.parametrize("convert", [m[1] for m in MISSING_ONEOFS], ids=[m[0] for m in MISSING_ONEOFS])
def test_missing_or_unknown_input_is_invalid_argument(convert: Callable[[], Any]) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        convert()
    assert info.value.code == "invalid_request"
