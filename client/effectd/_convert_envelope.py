"""envelope.proto ⇄ domain: effect envelopes, commands and outcomes.

Both directions side by side. JSON fields travel as lash-json text and are read back strictly; errors
name the field (e.g. ``command.durable_step.input``). An envelope is not validated here (see
`validate_envelope`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from effectd import _effects as fx
from effectd._convert_process import (
    process_command_from_proto,
    process_command_to_proto,
    process_outcome_from_proto,
    process_outcome_to_proto,
)
from effectd._convert_scope import (
    controller_error_from_proto,
    controller_error_to_proto,
    json_from_proto,
    json_to_proto,
    key_from_proto,
    key_to_proto,
    missing,
    optional_json_from_proto,
    resolution_from_proto,
    resolution_to_proto,
    set_optional_json,
)
from effectd._errors import InvalidArgumentError
from effectd.v1 import envelope_pb2 as epb

__all__ = [
    "causal_ref_from_proto",
    "causal_ref_to_proto",
    "checkpoint_kind_from_proto",
    "checkpoint_kind_to_proto",
    "command_from_proto",
    "command_to_proto",
    "effect_kind_from_proto",
    "effect_kind_to_proto",
    "envelope_from_proto",
    "envelope_to_proto",
    "invocation_from_proto",
    "invocation_to_proto",
    "outcome_from_proto",
    "outcome_to_proto",
    "prepared_tool_call_from_proto",
    "prepared_tool_call_to_proto",
    "runtime_scope_from_proto",
    "runtime_scope_to_proto",
    "subject_from_proto",
    "subject_to_proto",
    "tool_call_launch_from_proto",
    "tool_call_launch_to_proto",
]


def _opt(msg: Any, name: str) -> Any:
    """The value of an `optional` scalar field, or None when unset."""
    return getattr(msg, name) if msg.HasField(name) else None


def _enum(value: int, prefix: str, names: Any, what: str) -> Any:
    """A proto enum value as its domain StrEnum value; UNSPECIFIED and unknown numbers are rejected."""
    for name, number in names.items():
        if number == value and name.startswith(prefix) and not name.endswith("_UNSPECIFIED"):
            return name[len(prefix) :].lower()
    raise InvalidArgumentError("invalid_request", f"{what} is required (got enum value {value})")


# -- kinds -------------------------------------------------------------------------------------------


def effect_kind_to_proto(value: fx.RuntimeEffectKind) -> str:
    """The proto enum name (generated constructors take names or numbers)."""
    return "RUNTIME_EFFECT_KIND_" + fx.RuntimeEffectKind(value).value.upper()


def effect_kind_from_proto(value: int) -> fx.RuntimeEffectKind:
    return fx.RuntimeEffectKind(_enum(value, "RUNTIME_EFFECT_KIND_", epb.RuntimeEffectKind, "effect kind"))


def checkpoint_kind_to_proto(value: fx.CheckpointKind) -> str:
    return "CHECKPOINT_KIND_" + fx.CheckpointKind(value).value.upper()


def checkpoint_kind_from_proto(value: int) -> fx.CheckpointKind:
    return fx.CheckpointKind(_enum(value, "CHECKPOINT_KIND_", epb.CheckpointKind, "checkpoint kind"))


# -- invocations -------------------------------------------------------------------------------------


def runtime_scope_to_proto(value: fx.RuntimeScope) -> epb.RuntimeScope:
    return epb.RuntimeScope(
        session_id=value.session_id,
        turn_id=value.turn_id,
        turn_index=value.turn_index,
        protocol_iteration=value.protocol_iteration,
    )


def runtime_scope_from_proto(msg: epb.RuntimeScope) -> fx.RuntimeScope:
    return fx.RuntimeScope(
        session_id=msg.session_id,
        turn_id=_opt(msg, "turn_id"),
        turn_index=_opt(msg, "turn_index"),
        protocol_iteration=_opt(msg, "protocol_iteration"),
    )


def subject_to_proto(value: fx.RuntimeSubject) -> epb.RuntimeSubject:
    match value:
        case fx.EffectSubject():
            return epb.RuntimeSubject(
                effect=epb.EffectSubject(effect_id=value.effect_id, kind=effect_kind_to_proto(value.kind))
            )
        case fx.ProcessSubject():
            return epb.RuntimeSubject(process=epb.ProcessSubject(process_id=value.process_id))
        case fx.ProcessEventSubject():
            return epb.RuntimeSubject(
                process_event=epb.ProcessEventSubject(
                    process_id=value.process_id, sequence=value.sequence, event_type=value.event_type
                )
            )
        case fx.TriggerOccurrenceSubject():
            return epb.RuntimeSubject(
                trigger_occurrence=epb.TriggerOccurrenceSubject(occurrence_id=value.occurrence_id)
            )
        case fx.SessionNodeSubject():
            return epb.RuntimeSubject(session_node=epb.SessionNodeSubject(node_id=value.node_id))
    raise InvalidArgumentError("invalid_request", f"not a runtime subject: {value!r}")


def subject_from_proto(msg: epb.RuntimeSubject) -> fx.RuntimeSubject:
    which = msg.WhichOneof("subject")
    if which == "effect":
        return fx.EffectSubject(effect_id=msg.effect.effect_id, kind=effect_kind_from_proto(msg.effect.kind))
    if which == "process":
        return fx.ProcessSubject(process_id=msg.process.process_id)
    if which == "process_event":
        event = msg.process_event
        return fx.ProcessEventSubject(process_id=event.process_id, sequence=event.sequence, event_type=event.event_type)
    if which == "trigger_occurrence":
        return fx.TriggerOccurrenceSubject(occurrence_id=msg.trigger_occurrence.occurrence_id)
    if which == "session_node":
        return fx.SessionNodeSubject(node_id=msg.session_node.node_id)
    raise missing("invocation subject")


def causal_ref_to_proto(value: fx.CausalRef) -> epb.CausalRef:
    match value:
        case fx.TurnRef():
            return epb.CausalRef(turn=epb.TurnRef(session_id=value.session_id, turn_id=value.turn_id))
        case fx.EffectRef():
            return epb.CausalRef(
                effect=epb.EffectRef(session_id=value.session_id, turn_id=value.turn_id, effect_id=value.effect_id)
            )
        case fx.ToolCallRef():
            return epb.CausalRef(tool_call=epb.ToolCallRef(session_id=value.session_id, call_id=value.call_id))
        case fx.ProcessRef():
            return epb.CausalRef(process=epb.ProcessRef(process_id=value.process_id))
        case fx.ProcessEventRef():
            return epb.CausalRef(
                process_event=epb.ProcessEventRef(process_id=value.process_id, sequence=value.sequence)
            )
        case fx.TriggerOccurrenceRef():
            return epb.CausalRef(trigger_occurrence=epb.TriggerOccurrenceRef(occurrence_id=value.occurrence_id))
        case fx.SessionNodeRef():
            return epb.CausalRef(session_node=epb.SessionNodeRef(session_id=value.session_id, node_id=value.node_id))
    raise InvalidArgumentError("invalid_request", f"not a causal reference: {value!r}")


def causal_ref_from_proto(msg: epb.CausalRef) -> fx.CausalRef:
    which = msg.WhichOneof("ref")
    if which == "turn":
        return fx.TurnRef(session_id=msg.turn.session_id, turn_id=msg.turn.turn_id)
    if which == "effect":
        ref = msg.effect
        return fx.EffectRef(session_id=ref.session_id, turn_id=_opt(ref, "turn_id"), effect_id=ref.effect_id)
    if which == "tool_call":
        return fx.ToolCallRef(session_id=msg.tool_call.session_id, call_id=msg.tool_call.call_id)
    if which == "process":
        return fx.ProcessRef(process_id=msg.process.process_id)
    if which == "process_event":
        return fx.ProcessEventRef(process_id=msg.process_event.process_id, sequence=msg.process_event.sequence)
    if which == "trigger_occurrence":
        return fx.TriggerOccurrenceRef(occurrence_id=msg.trigger_occurrence.occurrence_id)
    if which == "session_node":
        return fx.SessionNodeRef(session_id=msg.session_node.session_id, node_id=msg.session_node.node_id)
    raise missing("causal reference")


def invocation_to_proto(value: fx.RuntimeInvocation) -> epb.RuntimeInvocation:
    out = epb.RuntimeInvocation(scope=runtime_scope_to_proto(value.scope), subject=subject_to_proto(value.subject))
    if value.caused_by is not None:
        out.caused_by.CopyFrom(causal_ref_to_proto(value.caused_by))
    if value.replay is not None:
        out.replay.CopyFrom(epb.RuntimeReplay(key=value.replay.key))
    return out


def invocation_from_proto(msg: epb.RuntimeInvocation) -> fx.RuntimeInvocation:
    return fx.RuntimeInvocation(
        scope=runtime_scope_from_proto(msg.scope),
        subject=subject_from_proto(msg.subject),
        caused_by=causal_ref_from_proto(msg.caused_by) if msg.HasField("caused_by") else None,
        replay=fx.RuntimeReplay(msg.replay.key) if msg.HasField("replay") else None,
    )


# -- commands ----------------------------------------------------------------------------------------


def prepared_tool_call_to_proto(value: fx.PreparedToolCall) -> epb.PreparedToolCall:
    out = epb.PreparedToolCall(call_id=value.call_id, tool_name=value.tool_name, args=json_to_proto(value.args))
    set_optional_json(out, "replay", value.replay)
    set_optional_json(out, "prepared_payload", value.prepared_payload)
    return out


def prepared_tool_call_from_proto(msg: epb.PreparedToolCall, field: str = "call") -> fx.PreparedToolCall:
    return fx.PreparedToolCall(
        call_id=msg.call_id,
        tool_name=msg.tool_name,
        args=json_from_proto(msg.args, f"{field}.args"),
        replay=optional_json_from_proto(msg, "replay", f"{field}.replay"),
        prepared_payload=optional_json_from_proto(msg, "prepared_payload", f"{field}.prepared_payload"),
    )


def command_to_proto(value: fx.RuntimeEffectCommand) -> epb.RuntimeEffectCommand:
    match value:
        case fx.LlmCallCommand():
            return epb.RuntimeEffectCommand(llm_call=epb.LlmCallCommand(request=json_to_proto(value.request)))
        case fx.DirectCommand():
            return epb.RuntimeEffectCommand(
                direct=epb.DirectCommand(request=json_to_proto(value.request), usage_source=value.usage_source)
            )
        case fx.ToolCallCommand():
            return epb.RuntimeEffectCommand(tool_call=epb.ToolCallCommand(call=prepared_tool_call_to_proto(value.call)))
        case fx.ProcessEffectCommand():
            return epb.RuntimeEffectCommand(
                process=epb.ProcessEffectCommand(command=process_command_to_proto(value.command))
            )
        case fx.ExecCodeCommand():
            return epb.RuntimeEffectCommand(exec_code=epb.ExecCodeCommand(code=value.code))
        case fx.CheckpointCommand():
            return epb.RuntimeEffectCommand(
                checkpoint=epb.CheckpointCommand(checkpoint=checkpoint_kind_to_proto(value.checkpoint))
            )
        case fx.SyncExecutionEnvironmentCommand():
            return epb.RuntimeEffectCommand(
                sync_execution_environment=epb.SyncExecutionEnvironmentCommand(
                    update_machine_config=value.update_machine_config
                )
            )
        case fx.SleepCommand():
            return epb.RuntimeEffectCommand(sleep=epb.SleepCommand(duration_ms=value.duration_ms))
        case fx.AwaitEventCommand():
            return epb.RuntimeEffectCommand(await_event=epb.AwaitEventCommand(key=key_to_proto(value.key)))
        case fx.DurableStepCommand():
            return epb.RuntimeEffectCommand(
                durable_step=epb.DurableStepCommand(step_id=value.step_id, input=json_to_proto(value.input))
            )
    raise InvalidArgumentError("invalid_request", f"not a runtime effect command: {value!r}")


def command_from_proto(msg: epb.RuntimeEffectCommand, field: str = "command") -> fx.RuntimeEffectCommand:
    which = msg.WhichOneof("command")
    if which == "llm_call":
        return fx.LlmCallCommand(request=json_from_proto(msg.llm_call.request, f"{field}.llm_call.request"))
    if which == "direct":
        return fx.DirectCommand(
            request=json_from_proto(msg.direct.request, f"{field}.direct.request"),
            usage_source=msg.direct.usage_source,
        )
    if which == "tool_call":
        return fx.ToolCallCommand(call=prepared_tool_call_from_proto(msg.tool_call.call, f"{field}.tool_call.call"))
    if which == "process":
        return fx.ProcessEffectCommand(
            command=process_command_from_proto(msg.process.command, f"{field}.process.command")
        )
    if which == "exec_code":
        return fx.ExecCodeCommand(code=msg.exec_code.code)
    if which == "checkpoint":
        return fx.CheckpointCommand(checkpoint=checkpoint_kind_from_proto(msg.checkpoint.checkpoint))
    if which == "sync_execution_environment":
        return fx.SyncExecutionEnvironmentCommand(
            update_machine_config=msg.sync_execution_environment.update_machine_config
        )
    if which == "sleep":
        return fx.SleepCommand(duration_ms=msg.sleep.duration_ms)
    if which == "await_event":
        return fx.AwaitEventCommand(key=key_from_proto(msg.await_event.key))
    if which == "durable_step":
        return fx.DurableStepCommand(
            step_id=msg.durable_step.step_id,
            input=json_from_proto(msg.durable_step.input, f"{field}.durable_step.input"),
        )
    raise missing("effect command")


def envelope_to_proto(value: fx.RuntimeEffectEnvelope) -> epb.RuntimeEffectEnvelope:
    return epb.RuntimeEffectEnvelope(
        invocation=invocation_to_proto(value.invocation), command=command_to_proto(value.command)
    )


def envelope_from_proto(msg: epb.RuntimeEffectEnvelope, field: str = "envelope") -> fx.RuntimeEffectEnvelope:
    """An envelope as sent; it is not validated here (see `validate_envelope`)."""
    return fx.RuntimeEffectEnvelope(
        invocation=invocation_from_proto(msg.invocation), command=command_from_proto(msg.command, f"{field}.command")
    )


# -- outcomes ----------------------------------------------------------------------------------------


def _same(value: Any) -> Any:
    return value


def _result_to_proto(value: fx.Result, err: Callable[[Any], Any] = json_to_proto) -> dict[str, Any]:
    """A Result as the keyword of a `oneof result { ok; err }`; `err` converts the error side."""
    match value:
        case fx.ResultOk():
            return {"ok": json_to_proto(value.value)}
        case fx.ResultErr():
            return {"err": err(value.error)}
    raise InvalidArgumentError("invalid_request", f"not a result: {value!r}")


def _result_from_proto(msg: Any, field: str, err: Callable[[Any], Any] | None = None) -> fx.Result:
    """`err` converts the error side; None means it is Json too."""
    which = msg.WhichOneof("result")
    if which == "ok":
        return fx.ResultOk(json_from_proto(msg.ok, f"{field}.ok"))
    if which == "err":
        return fx.ResultErr(json_from_proto(msg.err, f"{field}.err") if err is None else err(msg.err))
    raise missing(f"{field} result (ok or err)")


def tool_call_launch_to_proto(value: fx.ToolCallLaunch) -> epb.ToolCallLaunch:
    match value:
        case fx.ToolCallDone():
            return epb.ToolCallLaunch(done=epb.ToolCallDone(result=json_to_proto(value.result)))
        case fx.ToolCallPending():
            return epb.ToolCallLaunch(
                pending=epb.ToolCallPending(
                    key=key_to_proto(value.key), pending=json_to_proto(value.pending), duration_ms=value.duration_ms
                )
            )
    raise InvalidArgumentError("invalid_request", f"not a tool call launch: {value!r}")


def tool_call_launch_from_proto(msg: epb.ToolCallLaunch, field: str = "launch") -> fx.ToolCallLaunch:
    which = msg.WhichOneof("launch")
    if which == "done":
        return fx.ToolCallDone(result=json_from_proto(msg.done.result, f"{field}.done.result"))
    if which == "pending":
        pending = msg.pending
        return fx.ToolCallPending(
            key=key_from_proto(pending.key),
            pending=json_from_proto(pending.pending, f"{field}.pending.pending"),
            duration_ms=pending.duration_ms,
        )
    raise missing("tool call launch (done or pending)")


def outcome_to_proto(value: fx.RuntimeEffectOutcome) -> epb.RuntimeEffectOutcome:
    match value:
        case fx.LlmCallOutcome():
            return epb.RuntimeEffectOutcome(
                llm_call=epb.LlmCallOutcome(text_streamed=value.text_streamed, **_result_to_proto(value.result))
            )
        case fx.DirectOutcome():
            return epb.RuntimeEffectOutcome(direct=epb.DirectOutcome(**_result_to_proto(value.result)))
        case fx.ToolCallOutcome():
            return epb.RuntimeEffectOutcome(
                tool_call=epb.ToolCallOutcome(
                    launch=tool_call_launch_to_proto(value.launch), triggers=[json_to_proto(t) for t in value.triggers]
                )
            )
        case fx.ProcessOutcome():
            return epb.RuntimeEffectOutcome(process=epb.ProcessOutcome(result=process_outcome_to_proto(value.result)))
        case fx.ExecCodeOutcome():
            return epb.RuntimeEffectOutcome(exec_code=epb.ExecCodeOutcome(**_result_to_proto(value.result, _same)))
        case fx.CheckpointOutcome():
            return epb.RuntimeEffectOutcome(
                checkpoint=epb.CheckpointOutcome(**_result_to_proto(value.result, controller_error_to_proto))
            )
        case fx.SyncExecutionEnvironmentOutcome():
            return epb.RuntimeEffectOutcome(
                sync_execution_environment=epb.SyncExecutionEnvironmentOutcome(**_result_to_proto(value.result, _same))
            )
        case fx.SleepOutcome():
            return epb.RuntimeEffectOutcome(sleep=epb.SleepOutcome())
        case fx.AwaitEventOutcome():
            return epb.RuntimeEffectOutcome(
                await_event=epb.AwaitEventOutcome(resolution=resolution_to_proto(value.resolution))
            )
        case fx.DurableStepOutcome():
            return epb.RuntimeEffectOutcome(durable_step=epb.DurableStepOutcome(value=json_to_proto(value.value)))
    raise InvalidArgumentError("invalid_request", f"not a runtime effect outcome: {value!r}")


def outcome_from_proto(msg: epb.RuntimeEffectOutcome, field: str = "outcome") -> fx.RuntimeEffectOutcome:
    which = msg.WhichOneof("outcome")
    if which == "llm_call":
        return fx.LlmCallOutcome(
            result=_result_from_proto(msg.llm_call, f"{field}.llm_call"), text_streamed=msg.llm_call.text_streamed
        )
    if which == "direct":
        return fx.DirectOutcome(result=_result_from_proto(msg.direct, f"{field}.direct"))
    if which == "tool_call":
        return fx.ToolCallOutcome(
            launch=tool_call_launch_from_proto(msg.tool_call.launch, f"{field}.tool_call.launch"),
            triggers=tuple(
                json_from_proto(t, f"{field}.tool_call.triggers[{i}]") for i, t in enumerate(msg.tool_call.triggers)
            ),
        )
    if which == "process":
        return fx.ProcessOutcome(result=process_outcome_from_proto(msg.process.result, f"{field}.process.result"))
    if which == "exec_code":
        return fx.ExecCodeOutcome(result=_result_from_proto(msg.exec_code, f"{field}.exec_code", _same))
    if which == "checkpoint":
        return fx.CheckpointOutcome(
            result=_result_from_proto(msg.checkpoint, f"{field}.checkpoint", controller_error_from_proto)
        )
    if which == "sync_execution_environment":
        return fx.SyncExecutionEnvironmentOutcome(
            result=_result_from_proto(msg.sync_execution_environment, f"{field}.sync_execution_environment", _same)
        )
    if which == "sleep":
        return fx.SleepOutcome()
    if which == "await_event":
        return fx.AwaitEventOutcome(
            resolution=resolution_from_proto(msg.await_event.resolution, f"{field}.await_event.resolution")
        )
    if which == "durable_step":
        return fx.DurableStepOutcome(value=json_from_proto(msg.durable_step.value, f"{field}.durable_step.value"))
    raise missing("effect outcome")
