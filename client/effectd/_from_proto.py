"""Protobuf messages → domain dataclasses. Missing oneofs raise InvalidArgumentError with a stable code."""

from __future__ import annotations

from typing import Any

from google.protobuf import struct_pb2

from effectd import _effects as fx
from effectd import _process as px
from effectd._errors import InvalidArgumentError
from effectd._lashjson import JsonValue
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

# Doubles that hold an integer are read back as int, so that {"x": 1} hashes as lash writes it.
_MAX_EXACT_INT = 2**53


def json_value(value: struct_pb2.Value) -> JsonValue:
    kind = value.WhichOneof("kind")
    if kind is None or kind == "null_value":
        return None
    if kind == "bool_value":
        return value.bool_value
    if kind == "number_value":
        number = value.number_value
        if number.is_integer() and abs(number) <= _MAX_EXACT_INT:
            return int(number)
        return number
    if kind == "string_value":
        return value.string_value
    if kind == "struct_value":
        return {k: json_value(v) for k, v in value.struct_value.fields.items()}
    return [json_value(v) for v in value.list_value.values]


def _missing(what: str, code: str = "invalid_request") -> InvalidArgumentError:
    return InvalidArgumentError(code, f"{what} is required")


def scope(msg: pb.ExecutionScope) -> ExecutionScope:
    which = msg.WhichOneof("scope")
    if which == "turn":
        return TurnScope(session_id=msg.turn.session_id, turn_id=msg.turn.turn_id)
    if which == "process":
        return ProcessScope(process_id=msg.process.process_id)
    if which == "queue_drain":
        return QueueDrainScope(session_id=msg.queue_drain.session_id, drain_id=msg.queue_drain.drain_id)
    if which == "session_delete":
        return SessionDeleteScope(session_id=msg.session_delete.session_id)
    if which == "runtime_operation":
        return RuntimeOperationScope(operation_id=msg.runtime_operation.operation_id)
    raise InvalidArgumentError("missing_execution_scope_id", "execution scopes require non-empty stable ids")


def wait(msg: pb.AwaitEventWaitIdentity) -> AwaitEventWaitIdentity:
    which = msg.WhichOneof("wait")
    if which == "tool_completion":
        return ToolCompletionWait(tool_call_id=msg.tool_completion.tool_call_id)
    if which == "process_signal":
        sig = msg.process_signal
        return ProcessSignalWait(process_id=sig.process_id, signal_name=sig.signal_name, ordinal=sig.ordinal)
    if which == "custom":
        return CustomWait(key=msg.custom.key)
    raise InvalidArgumentError(
        "invalid_await_event_wait_identity", "await-event wait identity requires non-empty stable ids"
    )


def key(msg: pb.AwaitEventKey) -> AwaitEventKey:
    return AwaitEventKey(scope=scope(msg.scope), wait=wait(msg.wait), key_id=msg.key_id, signature=msg.signature)


def completion_error(msg: pb.ExternalCompletionError) -> ExternalCompletionError:
    raw: Any = json_value(msg.raw) if msg.HasField("raw") else None
    return ExternalCompletionError(code=msg.code, message=msg.message, raw=raw)


def resolution(msg: pb.Resolution) -> Resolution:
    which = msg.WhichOneof("resolution")
    if which == "ok":
        return Ok(json_value(msg.ok))
    if which == "err":
        return Err(completion_error(msg.err))
    if which == "timeout":
        return Timeout()
    if which == "cancelled":
        return Cancelled()
    raise _missing("resolution (ok, err, timeout or cancelled)", "invalid_resolution")


def resolve_outcome(msg: pb.ResolveOutcome) -> ResolveOutcome:
    which = msg.WhichOneof("outcome")
    if which == "accepted":
        return Accepted()
    if which == "already_resolved":
        return AlreadyResolved(resolution(msg.already_resolved.terminal))
    if which == "unknown_or_revoked":
        return UnknownOrRevoked()
    raise _missing("resolve outcome")


# -- effects (envelope.proto) -----------------------------------------------------------------------


def _enum(value: int, prefix: str, names: Any, what: str) -> Any:
    """A proto enum value as its domain StrEnum member; UNSPECIFIED and unknown numbers are rejected."""
    for name, number in names.items():
        if number == value and name.startswith(prefix) and not name.endswith("_UNSPECIFIED"):
            return name[len(prefix) :].lower()
    raise InvalidArgumentError("invalid_request", f"{what} is required (got enum value {value})")


def effect_kind(value: int) -> fx.RuntimeEffectKind:
    return fx.RuntimeEffectKind(_enum(value, "RUNTIME_EFFECT_KIND_", epb.RuntimeEffectKind, "effect kind"))


def _opt(msg: Any, name: str) -> Any:
    """The value of an `optional` scalar field, or None when unset."""
    return getattr(msg, name) if msg.HasField(name) else None


def runtime_scope(msg: epb.RuntimeScope) -> fx.RuntimeScope:
    return fx.RuntimeScope(
        session_id=msg.session_id,
        turn_id=_opt(msg, "turn_id"),
        turn_index=_opt(msg, "turn_index"),
        protocol_iteration=_opt(msg, "protocol_iteration"),
    )


def subject(msg: epb.RuntimeSubject) -> fx.RuntimeSubject:
    which = msg.WhichOneof("subject")
    if which == "effect":
        return fx.EffectSubject(effect_id=msg.effect.effect_id, kind=effect_kind(msg.effect.kind))
    if which == "process":
        return fx.ProcessSubject(process_id=msg.process.process_id)
    if which == "process_event":
        event = msg.process_event
        return fx.ProcessEventSubject(process_id=event.process_id, sequence=event.sequence, event_type=event.event_type)
    if which == "trigger_occurrence":
        return fx.TriggerOccurrenceSubject(occurrence_id=msg.trigger_occurrence.occurrence_id)
    if which == "session_node":
        return fx.SessionNodeSubject(node_id=msg.session_node.node_id)
    raise _missing("invocation subject")


def causal_ref(msg: epb.CausalRef) -> fx.CausalRef:
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
    raise _missing("causal reference")


def invocation(msg: epb.RuntimeInvocation) -> fx.RuntimeInvocation:
    return fx.RuntimeInvocation(
        scope=runtime_scope(msg.scope),
        subject=subject(msg.subject),
        caused_by=causal_ref(msg.caused_by) if msg.HasField("caused_by") else None,
        replay=fx.RuntimeReplay(msg.replay.key) if msg.HasField("replay") else None,
    )


def _opt_json(msg: Any, name: str) -> JsonValue:
    return json_value(getattr(msg, name)) if msg.HasField(name) else None


def prepared_tool_call(msg: epb.PreparedToolCall) -> fx.PreparedToolCall:
    return fx.PreparedToolCall(
        call_id=msg.call_id,
        tool_name=msg.tool_name,
        args=json_value(msg.args),
        replay=_opt_json(msg, "replay"),
        prepared_payload=_opt_json(msg, "prepared_payload"),
    )


def checkpoint_kind(value: int) -> fx.CheckpointKind:
    return fx.CheckpointKind(_enum(value, "CHECKPOINT_KIND_", epb.CheckpointKind, "checkpoint kind"))


def command(msg: epb.RuntimeEffectCommand) -> fx.RuntimeEffectCommand:
    which = msg.WhichOneof("command")
    if which == "llm_call":
        return fx.LlmCallCommand(request=json_value(msg.llm_call.request))
    if which == "direct":
        return fx.DirectCommand(request=json_value(msg.direct.request), usage_source=msg.direct.usage_source)
    if which == "tool_call":
        return fx.ToolCallCommand(call=prepared_tool_call(msg.tool_call.call))
    if which == "process":
        return fx.ProcessEffectCommand(command=process_command(msg.process.command))
    if which == "exec_code":
        return fx.ExecCodeCommand(code=msg.exec_code.code)
    if which == "checkpoint":
        return fx.CheckpointCommand(checkpoint=checkpoint_kind(msg.checkpoint.checkpoint))
    if which == "sync_execution_environment":
        return fx.SyncExecutionEnvironmentCommand(
            update_machine_config=msg.sync_execution_environment.update_machine_config
        )
    if which == "sleep":
        return fx.SleepCommand(duration_ms=msg.sleep.duration_ms)
    if which == "await_event":
        return fx.AwaitEventCommand(key=key(msg.await_event.key))
    if which == "durable_step":
        return fx.DurableStepCommand(step_id=msg.durable_step.step_id, input=json_value(msg.durable_step.input))
    raise _missing("effect command")


def envelope(msg: epb.RuntimeEffectEnvelope) -> fx.RuntimeEffectEnvelope:
    """An envelope as sent; it is not validated here (see `validate_envelope`)."""
    return fx.RuntimeEffectEnvelope(invocation=invocation(msg.invocation), command=command(msg.command))


def controller_error(msg: pb.ControllerError) -> fx.ControllerError:
    return fx.ControllerError(code=msg.code, message=msg.message)


def _result(msg: Any, what: str, err: Any = json_value) -> fx.Result:
    which = msg.WhichOneof("result")
    if which == "ok":
        return fx.ResultOk(json_value(msg.ok))
    if which == "err":
        return fx.ResultErr(err(msg.err))
    raise _missing(f"{what} result (ok or err)")


def _same(value: Any) -> Any:
    return value


def tool_call_launch(msg: epb.ToolCallLaunch) -> fx.ToolCallLaunch:
    which = msg.WhichOneof("launch")
    if which == "done":
        return fx.ToolCallDone(result=json_value(msg.done.result))
    if which == "pending":
        pending = msg.pending
        return fx.ToolCallPending(
            key=key(pending.key), pending=json_value(pending.pending), duration_ms=pending.duration_ms
        )
    raise _missing("tool call launch (done or pending)")


def outcome(msg: epb.RuntimeEffectOutcome) -> fx.RuntimeEffectOutcome:
    which = msg.WhichOneof("outcome")
    if which == "llm_call":
        return fx.LlmCallOutcome(result=_result(msg.llm_call, "llm_call"), text_streamed=msg.llm_call.text_streamed)
    if which == "direct":
        return fx.DirectOutcome(result=_result(msg.direct, "direct"))
    if which == "tool_call":
        return fx.ToolCallOutcome(
            launch=tool_call_launch(msg.tool_call.launch),
            triggers=tuple(json_value(t) for t in msg.tool_call.triggers),
        )
    if which == "process":
        return fx.ProcessOutcome(result=process_outcome(msg.process.result))
    if which == "exec_code":
        return fx.ExecCodeOutcome(result=_result(msg.exec_code, "exec_code", _same))
    if which == "checkpoint":
        return fx.CheckpointOutcome(result=_result(msg.checkpoint, "checkpoint", controller_error))
    if which == "sync_execution_environment":
        return fx.SyncExecutionEnvironmentOutcome(
            result=_result(msg.sync_execution_environment, "sync_execution_environment", _same)
        )
    if which == "sleep":
        return fx.SleepOutcome()
    if which == "await_event":
        return fx.AwaitEventOutcome(resolution=resolution(msg.await_event.resolution))
    if which == "durable_step":
        return fx.DurableStepOutcome(value=json_value(msg.durable_step.value))
    raise _missing("effect outcome")


# -- processes (process.proto) ----------------------------------------------------------------------


def session_scope(msg: ppb.SessionScope) -> px.SessionScope:
    return px.SessionScope(session_id=msg.session_id, agent_frame_id=_opt(msg, "agent_frame_id"))


def process_input(msg: ppb.ProcessInput) -> px.ProcessInput:
    which = msg.WhichOneof("input")
    if which == "tool_call":
        return px.ToolCallProcessInput(call=fx.prepared_tool_call_from_lash(json_value(msg.tool_call.call)))
    if which == "lashlang_process":
        lashlang = msg.lashlang_process
        return px.LashlangProcessInput(
            module_ref=lashlang.module_ref,
            process_ref=px.LashlangProcessRef(component=lashlang.process_ref.component, pos=lashlang.process_ref.pos),
            host_requirements_ref=lashlang.host_requirements_ref,
            process_name=lashlang.process_name,
            args={k: json_value(v) for k, v in lashlang.args.fields.items()},
        )
    if which == "session_turn":
        turn = msg.session_turn
        return px.SessionTurnProcessInput(
            create_request=json_value(turn.create_request),
            turn_input=json_value(turn.turn_input),
            output_contract=json_value(turn.output_contract),
        )
    if which == "external":
        return px.ExternalProcessInput(metadata=json_value(msg.external.metadata))
    raise _missing("process input")


def originator(msg: ppb.ProcessOriginator) -> px.ProcessOriginator:
    which = msg.WhichOneof("originator")
    if which == "host":
        return px.HostOriginator()
    if which == "session":
        return px.SessionOriginator(scope=session_scope(msg.session.scope))
    raise _missing("process originator (host or session)")


def provenance(msg: ppb.ProcessProvenance) -> px.ProcessProvenance:
    return px.ProcessProvenance(
        originator=originator(msg.originator),
        host_profile_id=msg.host_profile_id,
        caused_by=fx.causal_ref_from_lash(json_value(msg.caused_by)) if msg.HasField("caused_by") else None,
    )


def event_type(msg: ppb.ProcessEventType) -> px.ProcessEventType:
    semantics = msg.semantics
    return px.ProcessEventType(
        name=msg.name,
        payload_schema=json_value(msg.payload_schema),
        semantics=px.ProcessEventSemanticsSpec(
            terminal=px.terminal_spec_from_lash(json_value(semantics.terminal))
            if semantics.HasField("terminal")
            else None,
            wake=px.wake_spec_from_lash(json_value(semantics.wake)) if semantics.HasField("wake") else None,
        ),
    )


def process_registration(msg: ppb.ProcessRegistration) -> px.ProcessRegistration:
    return px.ProcessRegistration(
        id=msg.id,
        input=process_input(msg.input),
        event_types=tuple(event_type(t) for t in msg.event_types),
        provenance=provenance(msg.provenance),
        env_ref=_opt(msg, "env_ref"),
        wake_target=session_scope(msg.wake_target) if msg.HasField("wake_target") else None,
    )


def handle_descriptor(msg: ppb.ProcessHandleDescriptor) -> px.ProcessHandleDescriptor:
    return px.ProcessHandleDescriptor(kind=_opt(msg, "kind"), label=_opt(msg, "label"))


def handle_grant(msg: ppb.ProcessHandleGrant) -> px.ProcessHandleGrant:
    return px.ProcessHandleGrant(
        session_id=msg.session_id, process_id=msg.process_id, descriptor=handle_descriptor(msg.descriptor)
    )


def failure_class(value: int) -> px.ToolFailureClass:
    return px.ToolFailureClass(_enum(value, "TOOL_FAILURE_CLASS_", ppb.ToolFailureClass, "tool failure class"))


def await_output(msg: ppb.ProcessAwaitOutput) -> px.ProcessAwaitOutput:
    which = msg.WhichOneof("output")
    if which == "success":
        return px.ProcessAwaitSuccess(value=json_value(msg.success.value), control=_opt_json(msg.success, "control"))
    if which == "failure":
        failure = msg.failure
        return px.ProcessAwaitFailure(
            class_=failure_class(getattr(failure, "class")),
            code=failure.code,
            message=failure.message,
            raw=_opt_json(failure, "raw"),
            control=_opt_json(failure, "control"),
        )
    if which == "cancelled":
        cancelled = msg.cancelled
        return px.ProcessAwaitCancelled(
            message=cancelled.message, raw=_opt_json(cancelled, "raw"), control=_opt_json(cancelled, "control")
        )
    raise _missing("process await output (success, failure or cancelled)")


def process_status(msg: ppb.ProcessStatus) -> px.ProcessStatus:
    which = msg.WhichOneof("state")
    if which == "running":
        return px.ProcessRunning()
    if which == "completed":
        return px.ProcessCompleted(await_output(msg.completed))
    if which == "failed":
        return px.ProcessFailed(await_output(msg.failed))
    if which == "cancelled":
        return px.ProcessCancelled(await_output(msg.cancelled))
    raise _missing("process status")


def wait_state(msg: ppb.WaitState) -> px.WaitState:
    if not msg.HasField("signal"):
        raise _missing("wait state kind (signal)")
    signal = msg.signal
    return px.WaitState(
        kind=px.SignalWait(name=signal.name, event_type=signal.event_type, key=signal.key, ordinal=signal.ordinal),
        since_ms=msg.since_ms,
    )


def external_ref(msg: ppb.ProcessExternalRef) -> px.ProcessExternalRef:
    return px.ProcessExternalRef(backend=msg.backend, id=msg.id, metadata=_opt_json(msg, "metadata"))


def process_record(msg: ppb.ProcessRecord) -> px.ProcessRecord:
    return px.ProcessRecord(
        id=msg.id,
        registration_hash=msg.registration_hash,
        input=process_input(msg.input),
        event_types=tuple(event_type(t) for t in msg.event_types),
        provenance=provenance(msg.provenance),
        env_ref=_opt(msg, "env_ref"),
        wake_target=session_scope(msg.wake_target) if msg.HasField("wake_target") else None,
        created_at_ms=msg.created_at_ms,
        updated_at_ms=msg.updated_at_ms,
        external_ref=external_ref(msg.external_ref) if msg.HasField("external_ref") else None,
        wait=wait_state(msg.wait) if msg.HasField("wait") else None,
        status=process_status(msg.status),
    )


def handle_grant_entry(msg: ppb.ProcessHandleGrantEntry) -> px.ProcessHandleGrantEntry:
    return (handle_grant(msg.grant), process_record(msg.record))


def append_request(msg: ppb.ProcessEventAppendRequest) -> px.ProcessEventAppendRequest:
    return px.ProcessEventAppendRequest(
        event_type=msg.event_type,
        payload=json_value(msg.payload),
        replay=fx.RuntimeReplay(msg.replay_key) if msg.HasField("replay_key") else None,
        wake_target_scope=session_scope(msg.wake_target_scope) if msg.HasField("wake_target_scope") else None,
    )


def process_event(msg: ppb.ProcessEvent) -> px.ProcessEvent:
    return px.ProcessEvent(
        process_id=msg.process_id,
        sequence=msg.sequence,
        event_type=msg.event_type,
        payload=json_value(msg.payload),
        invocation=fx.invocation_from_lash(json_value(msg.invocation)),
        semantics=px.event_semantics_from_lash(json_value(msg.semantics)),
        occurred_at=px.SystemTime.from_ms(msg.occurred_at_ms),
    )


def delete_report(msg: ppb.ProcessSessionDeleteReport) -> px.ProcessSessionDeleteReport:
    return px.ProcessSessionDeleteReport(
        session_id=msg.session_id,
        revoked_handle_count=msg.revoked_handle_count,
        deleted_wake_count=msg.deleted_wake_count,
        orphaned_process_ids=tuple(msg.orphaned_process_ids),
        preserved_process_ids=tuple(msg.preserved_process_ids),
    )


def list_mode(value: int) -> px.ProcessListMode:
    if value == ppb.PROCESS_LIST_MODE_LIVE:
        return px.ProcessListMode.LIVE
    if value == ppb.PROCESS_LIST_MODE_ALL:
        return px.ProcessListMode.ALL
    raise InvalidArgumentError("invalid_request", f"unknown process list mode {value}")


def process_command(msg: ppb.ProcessCommand) -> px.ProcessCommand:
    which = msg.WhichOneof("op")
    if which == "start":
        start = msg.start
        grant = (
            px.ProcessStartGrant(
                session_scope=session_scope(start.grant.session_scope),
                descriptor=handle_descriptor(start.grant.descriptor),
            )
            if start.HasField("grant")
            else None
        )
        context = start.execution_context
        causal = (
            fx.invocation_from_lash(json_value(context.causal_invocation))
            if start.HasField("execution_context") and context.HasField("causal_invocation")
            else None
        )
        return px.ProcessStartOp(
            registration=process_registration(start.registration),
            grant=grant,
            execution_context=px.ProcessExecutionContext(causal) if causal is not None else None,
        )
    if which == "list":
        return px.ProcessListOp(session_scope=session_scope(msg.list.session_scope), mode=list_mode(msg.list.mode))
    if which == "transfer":
        transfer = msg.transfer
        return px.ProcessTransferOp(
            from_scope=session_scope(transfer.from_scope),
            to_scope=session_scope(transfer.to_scope),
            process_ids=tuple(transfer.process_ids),
        )
    if which == "delete_session":
        return px.ProcessDeleteSessionOp(session_id=msg.delete_session.session_id)
    if which == "await":
        return px.ProcessAwaitOp(process_id=getattr(msg, "await").process_id)
    if which == "cancel":
        return px.ProcessCancelOp(process_id=msg.cancel.process_id, reason=_opt(msg.cancel, "reason"))
    if which == "signal":
        signal = msg.signal
        return px.ProcessSignalOp(
            process_id=signal.process_id,
            signal_name=signal.signal_name,
            signal_id=signal.signal_id,
            request=append_request(signal.request),
        )
    raise _missing("process command op")


def process_outcome(msg: ppb.ProcessEffectOutcome) -> px.ProcessEffectOutcome:
    which = msg.WhichOneof("op")
    if which == "start":
        return px.ProcessStartResult(record=process_record(msg.start.record))
    if which == "list":
        return px.ProcessListResult(entries=tuple(handle_grant_entry(e) for e in msg.list.entries))
    if which == "transfer":
        return px.ProcessTransferResult()
    if which == "delete_session":
        return px.ProcessDeleteSessionResult(report=delete_report(msg.delete_session.report))
    if which == "await":
        return px.ProcessAwaitResult(output=await_output(getattr(msg, "await").output))
    if which == "cancel":
        return px.ProcessCancelResult(record=process_record(msg.cancel.record))
    if which == "signal":
        return px.ProcessSignalResult(event=process_event(msg.signal.event))
    raise _missing("process outcome op")
