"""Domain dataclasses → protobuf messages (one direction; `_from_proto` is the other)."""

from __future__ import annotations

import math
from typing import Any

from google.protobuf import struct_pb2

from effectd import _effects as fx
from effectd import _process as px
from effectd._lashjson import JsonValue, dumps, loads
from effectd._scope import (
    Accepted,
    AlreadyResolved,
    AwaitEventKey,
    AwaitEventWaitIdentity,
    Cancelled,
    CustomWait,
    Err,
    ExecutionScope,
    ExternalCompletionError,
    Ok,
    ProcessScope,
    ProcessSignalWait,
    QueueDrainScope,
    Resolution,
    ResolveOutcome,
    RuntimeOperationScope,
    SessionDeleteScope,
    Timeout,
    ToolCompletionWait,
    TurnScope,
    UnknownOrRevoked,
)
from effectd.v1 import envelope_pb2 as epb
from effectd.v1 import process_pb2 as ppb
from effectd.v1 import scope_pb2 as pb

__all__ = [
    "await_output",
    "causal_ref",
    "command",
    "envelope",
    "invocation",
    "json_value",
    "key",
    "outcome",
    "prepared_tool_call",
    "process_command",
    "process_event",
    "process_outcome",
    "process_record",
    "process_registration",
    "resolution",
    "resolve_outcome",
    "runtime_scope",
    "scope",
    "session_scope",
    "subject",
    "wait",
]


def json_value(value: JsonValue) -> struct_pb2.Value:
    """A JSON value as google.protobuf.Value (numbers become doubles on the wire)."""
    out = struct_pb2.Value()
    _fill_value(out, value)
    return out


def _fill_value(out: struct_pb2.Value, value: Any) -> None:
    if value is None:
        out.null_value = struct_pb2.NULL_VALUE
    elif value is True or value is False:
        out.bool_value = value
    elif isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("JSON numbers must be finite")
        out.number_value = value
    elif isinstance(value, str):
        out.string_value = value
    elif isinstance(value, dict):
        struct = out.struct_value
        struct.SetInParent()
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError("JSON object keys must be strings")
            _fill_value(struct.fields[k], v)
    elif isinstance(value, list | tuple):
        items = out.list_value
        items.SetInParent()
        for v in value:
            _fill_value(items.values.add(), v)
    else:
        raise TypeError(f"{type(value).__name__} is not a JSON value")


def scope(value: ExecutionScope) -> pb.ExecutionScope:
    match value:
        case TurnScope():
            return pb.ExecutionScope(turn=pb.TurnScope(session_id=value.session_id, turn_id=value.turn_id))
        case ProcessScope():
            return pb.ExecutionScope(process=pb.ProcessScope(process_id=value.process_id))
        case QueueDrainScope():
            return pb.ExecutionScope(
                queue_drain=pb.QueueDrainScope(session_id=value.session_id, drain_id=value.drain_id)
            )
        case SessionDeleteScope():
            return pb.ExecutionScope(session_delete=pb.SessionDeleteScope(session_id=value.session_id))
        case RuntimeOperationScope():
            return pb.ExecutionScope(runtime_operation=pb.RuntimeOperationScope(operation_id=value.operation_id))
    raise TypeError(f"not an execution scope: {value!r}")


def wait(value: AwaitEventWaitIdentity) -> pb.AwaitEventWaitIdentity:
    match value:
        case ToolCompletionWait():
            return pb.AwaitEventWaitIdentity(tool_completion=pb.ToolCompletionWait(tool_call_id=value.tool_call_id))
        case ProcessSignalWait():
            return pb.AwaitEventWaitIdentity(
                process_signal=pb.ProcessSignalWait(
                    process_id=value.process_id, signal_name=value.signal_name, ordinal=value.ordinal
                )
            )
        case CustomWait():
            return pb.AwaitEventWaitIdentity(custom=pb.CustomWait(key=value.key))
    raise TypeError(f"not an await-event wait identity: {value!r}")


def key(value: AwaitEventKey) -> pb.AwaitEventKey:
    return pb.AwaitEventKey(
        scope=scope(value.scope), wait=wait(value.wait), key_id=value.key_id, signature=value.signature
    )


def completion_error(value: ExternalCompletionError) -> pb.ExternalCompletionError:
    out = pb.ExternalCompletionError(code=value.code, message=value.message)
    if value.raw is not None:
        out.raw.CopyFrom(json_value(value.raw))
    return out


def resolution(value: Resolution) -> pb.Resolution:
    match value:
        case Ok():
            return pb.Resolution(ok=json_value(value.payload))
        case Err():
            return pb.Resolution(err=completion_error(value.payload))
        case Timeout():
            return pb.Resolution(timeout=pb.ResolutionTimeout())
        case Cancelled():
            return pb.Resolution(cancelled=pb.ResolutionCancelled())
    raise TypeError(f"not a resolution: {value!r}")


def resolve_outcome(value: ResolveOutcome) -> pb.ResolveOutcome:
    match value:
        case Accepted():
            return pb.ResolveOutcome(accepted=pb.ResolveAccepted())
        case AlreadyResolved():
            return pb.ResolveOutcome(already_resolved=pb.ResolveAlreadyResolved(terminal=resolution(value.terminal)))
        case UnknownOrRevoked():
            return pb.ResolveOutcome(unknown_or_revoked=pb.ResolveUnknownOrRevoked())
    raise TypeError(f"not a resolve outcome: {value!r}")


# -- effects (envelope.proto) -----------------------------------------------------------------------


def _plain(value: Any) -> JsonValue:
    """A typed value's lash JSON as plain values, for the fields the contract carries as JSON."""
    return loads(dumps(value))


def effect_kind(value: fx.RuntimeEffectKind) -> str:
    """The proto enum name (generated constructors take names or numbers)."""
    return "RUNTIME_EFFECT_KIND_" + fx.RuntimeEffectKind(value).value.upper()


def runtime_scope(value: fx.RuntimeScope) -> epb.RuntimeScope:
    return epb.RuntimeScope(
        session_id=value.session_id,
        turn_id=value.turn_id,
        turn_index=value.turn_index,
        protocol_iteration=value.protocol_iteration,
    )


def subject(value: fx.RuntimeSubject) -> epb.RuntimeSubject:
    match value:
        case fx.EffectSubject():
            return epb.RuntimeSubject(effect=epb.EffectSubject(effect_id=value.effect_id, kind=effect_kind(value.kind)))
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
    raise TypeError(f"not a runtime subject: {value!r}")


def causal_ref(value: fx.CausalRef) -> epb.CausalRef:
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
    raise TypeError(f"not a causal reference: {value!r}")


def invocation(value: fx.RuntimeInvocation) -> epb.RuntimeInvocation:
    out = epb.RuntimeInvocation(scope=runtime_scope(value.scope), subject=subject(value.subject))
    if value.caused_by is not None:
        out.caused_by.CopyFrom(causal_ref(value.caused_by))
    if value.replay is not None:
        out.replay.CopyFrom(epb.RuntimeReplay(key=value.replay.key))
    return out


def prepared_tool_call(value: fx.PreparedToolCall) -> epb.PreparedToolCall:
    out = epb.PreparedToolCall(call_id=value.call_id, tool_name=value.tool_name, args=json_value(value.args))
    if value.replay is not None:
        out.replay.CopyFrom(json_value(value.replay))
    if value.prepared_payload is not None:
        out.prepared_payload.CopyFrom(json_value(value.prepared_payload))
    return out


def checkpoint_kind(value: fx.CheckpointKind) -> str:
    return "CHECKPOINT_KIND_" + fx.CheckpointKind(value).value.upper()


def command(value: fx.RuntimeEffectCommand) -> epb.RuntimeEffectCommand:
    match value:
        case fx.LlmCallCommand():
            return epb.RuntimeEffectCommand(llm_call=epb.LlmCallCommand(request=json_value(value.request)))
        case fx.DirectCommand():
            return epb.RuntimeEffectCommand(
                direct=epb.DirectCommand(request=json_value(value.request), usage_source=value.usage_source)
            )
        case fx.ToolCallCommand():
            return epb.RuntimeEffectCommand(tool_call=epb.ToolCallCommand(call=prepared_tool_call(value.call)))
        case fx.ProcessEffectCommand():
            return epb.RuntimeEffectCommand(process=epb.ProcessEffectCommand(command=process_command(value.command)))
        case fx.ExecCodeCommand():
            return epb.RuntimeEffectCommand(exec_code=epb.ExecCodeCommand(code=value.code))
        case fx.CheckpointCommand():
            return epb.RuntimeEffectCommand(
                checkpoint=epb.CheckpointCommand(checkpoint=checkpoint_kind(value.checkpoint))
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
            return epb.RuntimeEffectCommand(await_event=epb.AwaitEventCommand(key=key(value.key)))
        case fx.DurableStepCommand():
            return epb.RuntimeEffectCommand(
                durable_step=epb.DurableStepCommand(step_id=value.step_id, input=json_value(value.input))
            )
    raise TypeError(f"not a runtime effect command: {value!r}")


def envelope(value: fx.RuntimeEffectEnvelope) -> epb.RuntimeEffectEnvelope:
    return epb.RuntimeEffectEnvelope(invocation=invocation(value.invocation), command=command(value.command))


def controller_error(value: fx.ControllerError) -> pb.ControllerError:
    return pb.ControllerError(code=value.code, message=value.message)


def _result(value: fx.Result, err: Any = json_value) -> dict[str, Any]:
    """A Result as the keyword of a `oneof result { ok; err }`; `err` converts the error side."""
    match value:
        case fx.ResultOk():
            return {"ok": json_value(value.value)}
        case fx.ResultErr():
            return {"err": err(value.error)}
    raise TypeError(f"not a result: {value!r}")


def _same(value: Any) -> Any:
    return value


def tool_call_launch(value: fx.ToolCallLaunch) -> epb.ToolCallLaunch:
    match value:
        case fx.ToolCallDone():
            return epb.ToolCallLaunch(done=epb.ToolCallDone(result=json_value(value.result)))
        case fx.ToolCallPending():
            return epb.ToolCallLaunch(
                pending=epb.ToolCallPending(
                    key=key(value.key), pending=json_value(value.pending), duration_ms=value.duration_ms
                )
            )
    raise TypeError(f"not a tool call launch: {value!r}")


def outcome(value: fx.RuntimeEffectOutcome) -> epb.RuntimeEffectOutcome:
    match value:
        case fx.LlmCallOutcome():
            return epb.RuntimeEffectOutcome(
                llm_call=epb.LlmCallOutcome(text_streamed=value.text_streamed, **_result(value.result))
            )
        case fx.DirectOutcome():
            return epb.RuntimeEffectOutcome(direct=epb.DirectOutcome(**_result(value.result)))
        case fx.ToolCallOutcome():
            return epb.RuntimeEffectOutcome(
                tool_call=epb.ToolCallOutcome(
                    launch=tool_call_launch(value.launch), triggers=[json_value(t) for t in value.triggers]
                )
            )
        case fx.ProcessOutcome():
            return epb.RuntimeEffectOutcome(process=epb.ProcessOutcome(result=process_outcome(value.result)))
        case fx.ExecCodeOutcome():
            return epb.RuntimeEffectOutcome(exec_code=epb.ExecCodeOutcome(**_result(value.result, _same)))
        case fx.CheckpointOutcome():
            return epb.RuntimeEffectOutcome(checkpoint=epb.CheckpointOutcome(**_result(value.result, controller_error)))
        case fx.SyncExecutionEnvironmentOutcome():
            return epb.RuntimeEffectOutcome(
                sync_execution_environment=epb.SyncExecutionEnvironmentOutcome(**_result(value.result, _same))
            )
        case fx.SleepOutcome():
            return epb.RuntimeEffectOutcome(sleep=epb.SleepOutcome())
        case fx.AwaitEventOutcome():
            return epb.RuntimeEffectOutcome(await_event=epb.AwaitEventOutcome(resolution=resolution(value.resolution)))
        case fx.DurableStepOutcome():
            return epb.RuntimeEffectOutcome(durable_step=epb.DurableStepOutcome(value=json_value(value.value)))
    raise TypeError(f"not a runtime effect outcome: {value!r}")


# -- processes (process.proto) ----------------------------------------------------------------------


def session_scope(value: px.SessionScope) -> ppb.SessionScope:
    return ppb.SessionScope(session_id=value.session_id, agent_frame_id=value.agent_frame_id)


def process_input(value: px.ProcessInput) -> ppb.ProcessInput:
    match value:
        case px.ToolCallProcessInput():
            return ppb.ProcessInput(tool_call=ppb.ToolCallProcessInput(call=json_value(_plain(value.call))))
        case px.LashlangProcessInput():
            return ppb.ProcessInput(
                lashlang_process=ppb.LashlangProcessInput(
                    module_ref=value.module_ref,
                    process_ref=ppb.LashlangProcessRef(
                        component=value.process_ref.component, pos=value.process_ref.pos
                    ),
                    host_requirements_ref=value.host_requirements_ref,
                    process_name=value.process_name,
                    args=json_value(dict(value.args)).struct_value,
                )
            )
        case px.SessionTurnProcessInput():
            return ppb.ProcessInput(
                session_turn=ppb.SessionTurnProcessInput(
                    create_request=json_value(value.create_request),
                    turn_input=json_value(value.turn_input),
                    output_contract=json_value(value.output_contract),
                )
            )
        case px.ExternalProcessInput():
            return ppb.ProcessInput(external=ppb.ExternalProcessInput(metadata=json_value(value.metadata)))
    raise TypeError(f"not a process input: {value!r}")


def originator(value: px.ProcessOriginator) -> ppb.ProcessOriginator:
    match value:
        case px.HostOriginator():
            return ppb.ProcessOriginator(host=ppb.HostOriginator())
        case px.SessionOriginator():
            return ppb.ProcessOriginator(session=ppb.SessionOriginator(scope=session_scope(value.scope)))
    raise TypeError(f"not a process originator: {value!r}")


def provenance(value: px.ProcessProvenance) -> ppb.ProcessProvenance:
    out = ppb.ProcessProvenance(originator=originator(value.originator), host_profile_id=value.host_profile_id)
    if value.caused_by is not None:
        out.caused_by.CopyFrom(json_value(_plain(value.caused_by)))
    return out


def event_type(value: px.ProcessEventType) -> ppb.ProcessEventType:
    semantics = ppb.ProcessEventSemanticsSpec()
    if value.semantics.terminal is not None:
        semantics.terminal.CopyFrom(json_value(_plain(value.semantics.terminal)))
    if value.semantics.wake is not None:
        semantics.wake.CopyFrom(json_value(_plain(value.semantics.wake)))
    return ppb.ProcessEventType(name=value.name, payload_schema=json_value(value.payload_schema), semantics=semantics)


def process_registration(value: px.ProcessRegistration) -> ppb.ProcessRegistration:
    out = ppb.ProcessRegistration(
        id=value.id,
        input=process_input(value.input),
        event_types=[event_type(t) for t in value.event_types],
        provenance=provenance(value.provenance),
        env_ref=value.env_ref,
    )
    if value.wake_target is not None:
        out.wake_target.CopyFrom(session_scope(value.wake_target))
    return out


def handle_descriptor(value: px.ProcessHandleDescriptor) -> ppb.ProcessHandleDescriptor:
    return ppb.ProcessHandleDescriptor(kind=value.kind, label=value.label)


def handle_grant(value: px.ProcessHandleGrant) -> ppb.ProcessHandleGrant:
    return ppb.ProcessHandleGrant(
        session_id=value.session_id, process_id=value.process_id, descriptor=handle_descriptor(value.descriptor)
    )


def failure_class(value: px.ToolFailureClass) -> int:
    return ppb.ToolFailureClass.Value("TOOL_FAILURE_CLASS_" + px.ToolFailureClass(value).value.upper())


def _optional_json(out: Any, name: str, value: JsonValue) -> None:
    if value is not None:
        getattr(out, name).CopyFrom(json_value(value))


def await_output(value: px.ProcessAwaitOutput) -> ppb.ProcessAwaitOutput:
    match value:
        case px.ProcessAwaitSuccess():
            success = ppb.ProcessAwaitSuccess(value=json_value(value.value))
            _optional_json(success, "control", value.control)
            return ppb.ProcessAwaitOutput(success=success)
        case px.ProcessAwaitFailure():
            failure = ppb.ProcessAwaitFailure(code=value.code, message=value.message)
            setattr(failure, "class", failure_class(value.class_))  # `class` is a Python keyword
            _optional_json(failure, "raw", value.raw)
            _optional_json(failure, "control", value.control)
            return ppb.ProcessAwaitOutput(failure=failure)
        case px.ProcessAwaitCancelled():
            cancelled = ppb.ProcessAwaitCancelled(message=value.message)
            _optional_json(cancelled, "raw", value.raw)
            _optional_json(cancelled, "control", value.control)
            return ppb.ProcessAwaitOutput(cancelled=cancelled)
    raise TypeError(f"not a process await output: {value!r}")


def process_status(value: px.ProcessStatus) -> ppb.ProcessStatus:
    match value:
        case px.ProcessRunning():
            return ppb.ProcessStatus(running=ppb.ProcessRunning())
        case px.ProcessCompleted():
            return ppb.ProcessStatus(completed=await_output(value.await_output))
        case px.ProcessFailed():
            return ppb.ProcessStatus(failed=await_output(value.await_output))
        case px.ProcessCancelled():
            return ppb.ProcessStatus(cancelled=await_output(value.await_output))
    raise TypeError(f"not a process status: {value!r}")


def wait_state(value: px.WaitState) -> ppb.WaitState:
    kind = value.kind
    return ppb.WaitState(
        signal=ppb.SignalWait(name=kind.name, event_type=kind.event_type, key=kind.key, ordinal=kind.ordinal),
        since_ms=value.since_ms,
    )


def external_ref(value: px.ProcessExternalRef) -> ppb.ProcessExternalRef:
    out = ppb.ProcessExternalRef(backend=value.backend, id=value.id)
    _optional_json(out, "metadata", value.metadata)
    return out


def process_record(value: px.ProcessRecord) -> ppb.ProcessRecord:
    out = ppb.ProcessRecord(
        id=value.id,
        registration_hash=value.registration_hash,
        input=process_input(value.input),
        event_types=[event_type(t) for t in value.event_types],
        provenance=provenance(value.provenance),
        env_ref=value.env_ref,
        created_at_ms=value.created_at_ms,
        updated_at_ms=value.updated_at_ms,
        status=process_status(value.status),
    )
    if value.wake_target is not None:
        out.wake_target.CopyFrom(session_scope(value.wake_target))
    if value.external_ref is not None:
        out.external_ref.CopyFrom(external_ref(value.external_ref))
    if value.wait is not None:
        out.wait.CopyFrom(wait_state(value.wait))
    return out


def handle_grant_entry(value: px.ProcessHandleGrantEntry) -> ppb.ProcessHandleGrantEntry:
    grant, record = value
    return ppb.ProcessHandleGrantEntry(grant=handle_grant(grant), record=process_record(record))


def append_request(value: px.ProcessEventAppendRequest) -> ppb.ProcessEventAppendRequest:
    out = ppb.ProcessEventAppendRequest(
        event_type=value.event_type,
        payload=json_value(value.payload),
        replay_key=value.replay.key if value.replay is not None else None,
    )
    if value.wake_target_scope is not None:
        out.wake_target_scope.CopyFrom(session_scope(value.wake_target_scope))
    return out


def process_event(value: px.ProcessEvent) -> ppb.ProcessEvent:
    """A process event; `occurred_at` travels as milliseconds (sub-millisecond precision is dropped)."""
    return ppb.ProcessEvent(
        process_id=value.process_id,
        sequence=value.sequence,
        event_type=value.event_type,
        payload=json_value(value.payload),
        invocation=json_value(_plain(value.invocation)),
        semantics=json_value(_plain(value.semantics)),
        occurred_at_ms=value.occurred_at.ms,
    )


def delete_report(value: px.ProcessSessionDeleteReport) -> ppb.ProcessSessionDeleteReport:
    return ppb.ProcessSessionDeleteReport(
        session_id=value.session_id,
        revoked_handle_count=value.revoked_handle_count,
        deleted_wake_count=value.deleted_wake_count,
        orphaned_process_ids=list(value.orphaned_process_ids),
        preserved_process_ids=list(value.preserved_process_ids),
    )


def list_mode(value: px.ProcessListMode) -> str:
    return "PROCESS_LIST_MODE_" + px.ProcessListMode(value).value.upper()


def process_command(value: px.ProcessCommand) -> ppb.ProcessCommand:
    match value:
        case px.ProcessStartOp():
            start = ppb.ProcessStartOp(registration=process_registration(value.registration))
            if value.grant is not None:
                start.grant.CopyFrom(
                    ppb.ProcessStartGrant(
                        session_scope=session_scope(value.grant.session_scope),
                        descriptor=handle_descriptor(value.grant.descriptor),
                    )
                )
            if value.execution_context is not None:
                context = start.execution_context
                context.SetInParent()
                _optional_json(context, "causal_invocation", _plain(value.execution_context.causal_invocation))
            return ppb.ProcessCommand(start=start)
        case px.ProcessListOp():
            return ppb.ProcessCommand(
                list=ppb.ProcessListOp(session_scope=session_scope(value.session_scope), mode=list_mode(value.mode))
            )
        case px.ProcessTransferOp():
            return ppb.ProcessCommand(
                transfer=ppb.ProcessTransferOp(
                    from_scope=session_scope(value.from_scope),
                    to_scope=session_scope(value.to_scope),
                    process_ids=list(value.process_ids),
                )
            )
        case px.ProcessDeleteSessionOp():
            return ppb.ProcessCommand(delete_session=ppb.ProcessDeleteSessionOp(session_id=value.session_id))
        case px.ProcessAwaitOp():
            awaiting = ppb.ProcessCommand()
            getattr(awaiting, "await").process_id = value.process_id
            return awaiting
        case px.ProcessCancelOp():
            return ppb.ProcessCommand(cancel=ppb.ProcessCancelOp(process_id=value.process_id, reason=value.reason))
        case px.ProcessSignalOp():
            return ppb.ProcessCommand(
                signal=ppb.ProcessSignalOp(
                    process_id=value.process_id,
                    signal_name=value.signal_name,
                    signal_id=value.signal_id,
                    request=append_request(value.request),
                )
            )
    raise TypeError(f"not a process command: {value!r}")


def process_outcome(value: px.ProcessEffectOutcome) -> ppb.ProcessEffectOutcome:
    match value:
        case px.ProcessStartResult():
            return ppb.ProcessEffectOutcome(start=ppb.ProcessStartResult(record=process_record(value.record)))
        case px.ProcessListResult():
            return ppb.ProcessEffectOutcome(
                list=ppb.ProcessListResult(entries=[handle_grant_entry(e) for e in value.entries])
            )
        case px.ProcessTransferResult():
            return ppb.ProcessEffectOutcome(transfer=ppb.ProcessTransferResult())
        case px.ProcessDeleteSessionResult():
            return ppb.ProcessEffectOutcome(
                delete_session=ppb.ProcessDeleteSessionResult(report=delete_report(value.report))
            )
        case px.ProcessAwaitResult():
            awaited = ppb.ProcessEffectOutcome()
            getattr(awaited, "await").output.CopyFrom(await_output(value.output))
            return awaited
        case px.ProcessCancelResult():
            return ppb.ProcessEffectOutcome(cancel=ppb.ProcessCancelResult(record=process_record(value.record)))
        case px.ProcessSignalResult():
            return ppb.ProcessEffectOutcome(signal=ppb.ProcessSignalResult(event=process_event(value.event)))
    raise TypeError(f"not a process effect outcome: {value!r}")
