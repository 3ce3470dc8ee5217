"""process.proto ⇄ domain: process commands, outcomes and the records they carry.

Both directions side by side. Typed values the contract carries as JSON (a PreparedToolCall, a
CausalRef, selectors, invocations) travel as their lash JSON text and are read back through the strict
parser and the domain's `*_from_lash` readers. `field` arguments name the message in errors.
"""

from __future__ import annotations

from typing import Any

from effectd import _effects as fx
from effectd import _process as px
from effectd._convert_scope import (
    json_from_proto,
    json_to_proto,
    missing,
    optional_json_from_proto,
    set_optional_json,
)
from effectd._errors import InvalidArgumentError
from effectd.v1 import process_pb2 as ppb

__all__ = [
    "append_request_from_proto",
    "append_request_to_proto",
    "append_result_from_proto",
    "append_result_to_proto",
    "await_output_from_proto",
    "await_output_to_proto",
    "definition_selector_from_proto",
    "definition_selector_to_proto",
    "delete_report_from_proto",
    "delete_report_to_proto",
    "event_type_from_proto",
    "event_type_to_proto",
    "external_ref_from_proto",
    "external_ref_to_proto",
    "failure_class_from_proto",
    "failure_class_to_proto",
    "handle_descriptor_from_proto",
    "handle_descriptor_to_proto",
    "handle_grant_entry_from_proto",
    "handle_grant_entry_to_proto",
    "handle_grant_from_proto",
    "handle_grant_to_proto",
    "lease_from_proto",
    "lease_to_proto",
    "list_filter_from_proto",
    "list_filter_to_proto",
    "list_mode_from_proto",
    "list_mode_to_proto",
    "originator_from_proto",
    "originator_to_proto",
    "process_command_from_proto",
    "process_command_to_proto",
    "process_event_from_proto",
    "process_event_to_proto",
    "process_input_from_proto",
    "process_input_to_proto",
    "process_outcome_from_proto",
    "process_outcome_to_proto",
    "process_record_from_proto",
    "process_record_to_proto",
    "process_registration_from_proto",
    "process_registration_to_proto",
    "process_status_from_proto",
    "process_status_to_proto",
    "provenance_from_proto",
    "provenance_to_proto",
    "session_scope_from_proto",
    "session_scope_to_proto",
    "status_filter_from_proto",
    "status_filter_to_proto",
    "wait_state_from_proto",
    "wait_state_to_proto",
    "wake_delivery_from_proto",
    "wake_delivery_to_proto",
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


# -- session scopes ----------------------------------------------------------------------------------


def session_scope_to_proto(value: px.SessionScope) -> ppb.SessionScope:
    return ppb.SessionScope(session_id=value.session_id, agent_frame_id=value.agent_frame_id)


def session_scope_from_proto(msg: ppb.SessionScope) -> px.SessionScope:
    return px.SessionScope(session_id=msg.session_id, agent_frame_id=_opt(msg, "agent_frame_id"))


# -- process inputs ----------------------------------------------------------------------------------


def process_input_to_proto(value: px.ProcessInput) -> ppb.ProcessInput:
    match value:
        case px.ToolCallProcessInput():
            return ppb.ProcessInput(tool_call=ppb.ToolCallProcessInput(call=json_to_proto(value.call)))
        case px.LashlangProcessInput():
            return ppb.ProcessInput(
                lashlang_process=ppb.LashlangProcessInput(
                    module_ref=value.module_ref,
                    process_ref=ppb.LashlangProcessRef(
                        component=value.process_ref.component, pos=value.process_ref.pos
                    ),
                    host_requirements_ref=value.host_requirements_ref,
                    process_name=value.process_name,
                    args=json_to_proto(dict(value.args)),
                )
            )
        case px.SessionTurnProcessInput():
            return ppb.ProcessInput(
                session_turn=ppb.SessionTurnProcessInput(
                    create_request=json_to_proto(value.create_request),
                    turn_input=json_to_proto(value.turn_input),
                    output_contract=json_to_proto(value.output_contract),
                )
            )
        case px.ExternalProcessInput():
            return ppb.ProcessInput(external=ppb.ExternalProcessInput(metadata=json_to_proto(value.metadata)))
    raise InvalidArgumentError("invalid_request", f"not a process input: {value!r}")


def process_input_from_proto(msg: ppb.ProcessInput, field: str = "input") -> px.ProcessInput:
    which = msg.WhichOneof("input")
    if which == "tool_call":
        call = json_from_proto(msg.tool_call.call, f"{field}.tool_call.call")
        return px.ToolCallProcessInput(call=fx.prepared_tool_call_from_lash(call))
    if which == "lashlang_process":
        lashlang = msg.lashlang_process
        args = json_from_proto(lashlang.args, f"{field}.lashlang_process.args")
        if not isinstance(args, dict):
            raise InvalidArgumentError("invalid_json", f"{field}.lashlang_process.args: must be a JSON object")
        return px.LashlangProcessInput(
            module_ref=lashlang.module_ref,
            process_ref=px.LashlangProcessRef(component=lashlang.process_ref.component, pos=lashlang.process_ref.pos),
            host_requirements_ref=lashlang.host_requirements_ref,
            process_name=lashlang.process_name,
            args=args,
        )
    if which == "session_turn":
        turn = msg.session_turn
        prefix = f"{field}.session_turn"
        return px.SessionTurnProcessInput(
            create_request=json_from_proto(turn.create_request, f"{prefix}.create_request"),
            turn_input=json_from_proto(turn.turn_input, f"{prefix}.turn_input"),
            output_contract=json_from_proto(turn.output_contract, f"{prefix}.output_contract"),
        )
    if which == "external":
        return px.ExternalProcessInput(metadata=json_from_proto(msg.external.metadata, f"{field}.external.metadata"))
    raise missing("process input")


# -- provenance --------------------------------------------------------------------------------------


def originator_to_proto(value: px.ProcessOriginator) -> ppb.ProcessOriginator:
    match value:
        case px.HostOriginator():
            return ppb.ProcessOriginator(host=ppb.HostOriginator())
        case px.SessionOriginator():
            return ppb.ProcessOriginator(session=ppb.SessionOriginator(scope=session_scope_to_proto(value.scope)))
    raise InvalidArgumentError("invalid_request", f"not a process originator: {value!r}")


def originator_from_proto(msg: ppb.ProcessOriginator) -> px.ProcessOriginator:
    which = msg.WhichOneof("originator")
    if which == "host":
        return px.HostOriginator()
    if which == "session":
        return px.SessionOriginator(scope=session_scope_from_proto(msg.session.scope))
    raise missing("process originator (host or session)")


def provenance_to_proto(value: px.ProcessProvenance) -> ppb.ProcessProvenance:
    out = ppb.ProcessProvenance(originator=originator_to_proto(value.originator), host_profile_id=value.host_profile_id)
    set_optional_json(out, "caused_by", value.caused_by)
    return out


def provenance_from_proto(msg: ppb.ProcessProvenance, field: str = "provenance") -> px.ProcessProvenance:
    caused_by = optional_json_from_proto(msg, "caused_by", f"{field}.caused_by")
    return px.ProcessProvenance(
        originator=originator_from_proto(msg.originator),
        host_profile_id=msg.host_profile_id,
        caused_by=fx.causal_ref_from_lash(caused_by) if msg.HasField("caused_by") else None,
    )


# -- event types and registrations -----------------------------------------------------------------


def event_type_to_proto(value: px.ProcessEventType) -> ppb.ProcessEventType:
    semantics = ppb.ProcessEventSemanticsSpec()
    set_optional_json(semantics, "terminal", value.semantics.terminal)
    set_optional_json(semantics, "wake", value.semantics.wake)
    return ppb.ProcessEventType(
        name=value.name, payload_schema=json_to_proto(value.payload_schema), semantics=semantics
    )


def event_type_from_proto(msg: ppb.ProcessEventType, field: str = "event_type") -> px.ProcessEventType:
    semantics = msg.semantics
    terminal = optional_json_from_proto(semantics, "terminal", f"{field}.semantics.terminal")
    wake = optional_json_from_proto(semantics, "wake", f"{field}.semantics.wake")
    return px.ProcessEventType(
        name=msg.name,
        payload_schema=json_from_proto(msg.payload_schema, f"{field}.payload_schema"),
        semantics=px.ProcessEventSemanticsSpec(
            terminal=px.terminal_spec_from_lash(terminal) if semantics.HasField("terminal") else None,
            wake=px.wake_spec_from_lash(wake) if semantics.HasField("wake") else None,
        ),
    )


def process_registration_to_proto(value: px.ProcessRegistration) -> ppb.ProcessRegistration:
    out = ppb.ProcessRegistration(
        id=value.id,
        input=process_input_to_proto(value.input),
        event_types=[event_type_to_proto(t) for t in value.event_types],
        provenance=provenance_to_proto(value.provenance),
        env_ref=value.env_ref,
    )
    if value.wake_target is not None:
        out.wake_target.CopyFrom(session_scope_to_proto(value.wake_target))
    return out


def process_registration_from_proto(
    msg: ppb.ProcessRegistration, field: str = "registration"
) -> px.ProcessRegistration:
    return px.ProcessRegistration(
        id=msg.id,
        input=process_input_from_proto(msg.input, f"{field}.input"),
        event_types=tuple(event_type_from_proto(t, f"{field}.event_types[{i}]") for i, t in enumerate(msg.event_types)),
        provenance=provenance_from_proto(msg.provenance, f"{field}.provenance"),
        env_ref=_opt(msg, "env_ref"),
        wake_target=session_scope_from_proto(msg.wake_target) if msg.HasField("wake_target") else None,
    )


# -- handles -----------------------------------------------------------------------------------------


def handle_descriptor_to_proto(value: px.ProcessHandleDescriptor) -> ppb.ProcessHandleDescriptor:
    return ppb.ProcessHandleDescriptor(kind=value.kind, label=value.label)


def handle_descriptor_from_proto(msg: ppb.ProcessHandleDescriptor) -> px.ProcessHandleDescriptor:
    return px.ProcessHandleDescriptor(kind=_opt(msg, "kind"), label=_opt(msg, "label"))


def handle_grant_to_proto(value: px.ProcessHandleGrant) -> ppb.ProcessHandleGrant:
    return ppb.ProcessHandleGrant(
        session_id=value.session_id,
        process_id=value.process_id,
        descriptor=handle_descriptor_to_proto(value.descriptor),
    )


def handle_grant_from_proto(msg: ppb.ProcessHandleGrant) -> px.ProcessHandleGrant:
    return px.ProcessHandleGrant(
        session_id=msg.session_id, process_id=msg.process_id, descriptor=handle_descriptor_from_proto(msg.descriptor)
    )


# -- await outputs and status ------------------------------------------------------------------------


def failure_class_to_proto(value: px.ToolFailureClass) -> int:
    return ppb.ToolFailureClass.Value("TOOL_FAILURE_CLASS_" + px.ToolFailureClass(value).value.upper())


def failure_class_from_proto(value: int) -> px.ToolFailureClass:
    return px.ToolFailureClass(_enum(value, "TOOL_FAILURE_CLASS_", ppb.ToolFailureClass, "tool failure class"))


def await_output_to_proto(value: px.ProcessAwaitOutput) -> ppb.ProcessAwaitOutput:
    match value:
        case px.ProcessAwaitSuccess():
            success = ppb.ProcessAwaitSuccess(value=json_to_proto(value.value))
            set_optional_json(success, "control", value.control)
            return ppb.ProcessAwaitOutput(success=success)
        case px.ProcessAwaitFailure():
            failure = ppb.ProcessAwaitFailure(code=value.code, message=value.message)
            setattr(failure, "class", failure_class_to_proto(value.class_))  # `class` is a Python keyword
            set_optional_json(failure, "raw", value.raw)
            set_optional_json(failure, "control", value.control)
            return ppb.ProcessAwaitOutput(failure=failure)
        case px.ProcessAwaitCancelled():
            cancelled = ppb.ProcessAwaitCancelled(message=value.message)
            set_optional_json(cancelled, "raw", value.raw)
            set_optional_json(cancelled, "control", value.control)
            return ppb.ProcessAwaitOutput(cancelled=cancelled)
    raise InvalidArgumentError("invalid_request", f"not a process await output: {value!r}")


def await_output_from_proto(msg: ppb.ProcessAwaitOutput, field: str = "output") -> px.ProcessAwaitOutput:
    which = msg.WhichOneof("output")
    if which == "success":
        success = msg.success
        return px.ProcessAwaitSuccess(
            value=json_from_proto(success.value, f"{field}.success.value"),
            control=optional_json_from_proto(success, "control", f"{field}.success.control"),
        )
    if which == "failure":
        failure = msg.failure
        return px.ProcessAwaitFailure(
            class_=failure_class_from_proto(getattr(failure, "class")),
            code=failure.code,
            message=failure.message,
            raw=optional_json_from_proto(failure, "raw", f"{field}.failure.raw"),
            control=optional_json_from_proto(failure, "control", f"{field}.failure.control"),
        )
    if which == "cancelled":
        cancelled = msg.cancelled
        return px.ProcessAwaitCancelled(
            message=cancelled.message,
            raw=optional_json_from_proto(cancelled, "raw", f"{field}.cancelled.raw"),
            control=optional_json_from_proto(cancelled, "control", f"{field}.cancelled.control"),
        )
    raise missing("process await output (success, failure or cancelled)")


def process_status_to_proto(value: px.ProcessStatus) -> ppb.ProcessStatus:
    match value:
        case px.ProcessRunning():
            return ppb.ProcessStatus(running=ppb.ProcessRunning())
        case px.ProcessCompleted():
            return ppb.ProcessStatus(completed=await_output_to_proto(value.await_output))
        case px.ProcessFailed():
            return ppb.ProcessStatus(failed=await_output_to_proto(value.await_output))
        case px.ProcessCancelled():
            return ppb.ProcessStatus(cancelled=await_output_to_proto(value.await_output))
    raise InvalidArgumentError("invalid_request", f"not a process status: {value!r}")


def process_status_from_proto(msg: ppb.ProcessStatus, field: str = "status") -> px.ProcessStatus:
    which = msg.WhichOneof("state")
    if which == "running":
        return px.ProcessRunning()
    if which == "completed":
        return px.ProcessCompleted(await_output_from_proto(msg.completed, f"{field}.completed"))
    if which == "failed":
        return px.ProcessFailed(await_output_from_proto(msg.failed, f"{field}.failed"))
    if which == "cancelled":
        return px.ProcessCancelled(await_output_from_proto(msg.cancelled, f"{field}.cancelled"))
    raise missing("process status")


def wait_state_to_proto(value: px.WaitState) -> ppb.WaitState:
    kind = value.kind
    return ppb.WaitState(
        signal=ppb.SignalWait(name=kind.name, event_type=kind.event_type, key=kind.key, ordinal=kind.ordinal),
        since_ms=value.since_ms,
    )


def wait_state_from_proto(msg: ppb.WaitState) -> px.WaitState:
    if not msg.HasField("signal"):
        raise missing("wait state kind (signal)")
    signal = msg.signal
    return px.WaitState(
        kind=px.SignalWait(name=signal.name, event_type=signal.event_type, key=signal.key, ordinal=signal.ordinal),
        since_ms=msg.since_ms,
    )


# -- records -----------------------------------------------------------------------------------------


def external_ref_to_proto(value: px.ProcessExternalRef) -> ppb.ProcessExternalRef:
    out = ppb.ProcessExternalRef(backend=value.backend, id=value.id)
    set_optional_json(out, "metadata", value.metadata)
    return out


def external_ref_from_proto(msg: ppb.ProcessExternalRef, field: str = "external_ref") -> px.ProcessExternalRef:
    return px.ProcessExternalRef(
        backend=msg.backend, id=msg.id, metadata=optional_json_from_proto(msg, "metadata", f"{field}.metadata")
    )


def process_record_to_proto(value: px.ProcessRecord) -> ppb.ProcessRecord:
    out = ppb.ProcessRecord(
        id=value.id,
        registration_hash=value.registration_hash,
        input=process_input_to_proto(value.input),
        event_types=[event_type_to_proto(t) for t in value.event_types],
        provenance=provenance_to_proto(value.provenance),
        env_ref=value.env_ref,
        created_at_ms=value.created_at_ms,
        updated_at_ms=value.updated_at_ms,
        status=process_status_to_proto(value.status),
    )
    if value.wake_target is not None:
        out.wake_target.CopyFrom(session_scope_to_proto(value.wake_target))
    if value.external_ref is not None:
        out.external_ref.CopyFrom(external_ref_to_proto(value.external_ref))
    if value.wait is not None:
        out.wait.CopyFrom(wait_state_to_proto(value.wait))
    return out


def process_record_from_proto(msg: ppb.ProcessRecord, field: str = "record") -> px.ProcessRecord:
    return px.ProcessRecord(
        id=msg.id,
        registration_hash=msg.registration_hash,
        input=process_input_from_proto(msg.input, f"{field}.input"),
        event_types=tuple(event_type_from_proto(t, f"{field}.event_types[{i}]") for i, t in enumerate(msg.event_types)),
        provenance=provenance_from_proto(msg.provenance, f"{field}.provenance"),
        env_ref=_opt(msg, "env_ref"),
        wake_target=session_scope_from_proto(msg.wake_target) if msg.HasField("wake_target") else None,
        created_at_ms=msg.created_at_ms,
        updated_at_ms=msg.updated_at_ms,
        external_ref=external_ref_from_proto(msg.external_ref, f"{field}.external_ref")
        if msg.HasField("external_ref")
        else None,
        wait=wait_state_from_proto(msg.wait) if msg.HasField("wait") else None,
        status=process_status_from_proto(msg.status, f"{field}.status"),
    )


def handle_grant_entry_to_proto(value: px.ProcessHandleGrantEntry) -> ppb.ProcessHandleGrantEntry:
    grant, record = value
    return ppb.ProcessHandleGrantEntry(grant=handle_grant_to_proto(grant), record=process_record_to_proto(record))


def handle_grant_entry_from_proto(msg: ppb.ProcessHandleGrantEntry, field: str = "entry") -> px.ProcessHandleGrantEntry:
    return (handle_grant_from_proto(msg.grant), process_record_from_proto(msg.record, f"{field}.record"))


# -- events ------------------------------------------------------------------------------------------


def append_request_to_proto(value: px.ProcessEventAppendRequest) -> ppb.ProcessEventAppendRequest:
    out = ppb.ProcessEventAppendRequest(
        event_type=value.event_type,
        payload=json_to_proto(value.payload),
        replay_key=value.replay.key if value.replay is not None else None,
    )
    if value.wake_target_scope is not None:
        out.wake_target_scope.CopyFrom(session_scope_to_proto(value.wake_target_scope))
    return out


def append_request_from_proto(
    msg: ppb.ProcessEventAppendRequest, field: str = "request"
) -> px.ProcessEventAppendRequest:
    return px.ProcessEventAppendRequest(
        event_type=msg.event_type,
        payload=json_from_proto(msg.payload, f"{field}.payload"),
        replay=fx.RuntimeReplay(msg.replay_key) if msg.HasField("replay_key") else None,
        wake_target_scope=session_scope_from_proto(msg.wake_target_scope)
        if msg.HasField("wake_target_scope")
        else None,
    )


def process_event_to_proto(value: px.ProcessEvent) -> ppb.ProcessEvent:
    """A process event; `occurred_at` travels as milliseconds (sub-millisecond precision is dropped)."""
    return ppb.ProcessEvent(
        process_id=value.process_id,
        sequence=value.sequence,
        event_type=value.event_type,
        payload=json_to_proto(value.payload),
        invocation=json_to_proto(value.invocation),
        semantics=json_to_proto(value.semantics),
        occurred_at_ms=value.occurred_at.ms,
    )


def process_event_from_proto(msg: ppb.ProcessEvent, field: str = "event") -> px.ProcessEvent:
    return px.ProcessEvent(
        process_id=msg.process_id,
        sequence=msg.sequence,
        event_type=msg.event_type,
        payload=json_from_proto(msg.payload, f"{field}.payload"),
        invocation=fx.invocation_from_lash(json_from_proto(msg.invocation, f"{field}.invocation")),
        semantics=px.event_semantics_from_lash(json_from_proto(msg.semantics, f"{field}.semantics")),
        occurred_at=px.SystemTime.from_ms(msg.occurred_at_ms),
    )


def delete_report_to_proto(value: px.ProcessSessionDeleteReport) -> ppb.ProcessSessionDeleteReport:
    return ppb.ProcessSessionDeleteReport(
        session_id=value.session_id,
        revoked_handle_count=value.revoked_handle_count,
        deleted_wake_count=value.deleted_wake_count,
        orphaned_process_ids=list(value.orphaned_process_ids),
        preserved_process_ids=list(value.preserved_process_ids),
    )


def delete_report_from_proto(msg: ppb.ProcessSessionDeleteReport) -> px.ProcessSessionDeleteReport:
    return px.ProcessSessionDeleteReport(
        session_id=msg.session_id,
        revoked_handle_count=msg.revoked_handle_count,
        deleted_wake_count=msg.deleted_wake_count,
        orphaned_process_ids=tuple(msg.orphaned_process_ids),
        preserved_process_ids=tuple(msg.preserved_process_ids),
    )


# -- commands and outcomes ---------------------------------------------------------------------------


def list_mode_to_proto(value: px.ProcessListMode) -> str:
    return "PROCESS_LIST_MODE_" + px.ProcessListMode(value).value.upper()


def list_mode_from_proto(value: int) -> px.ProcessListMode:
    if value == ppb.PROCESS_LIST_MODE_LIVE:
        return px.ProcessListMode.LIVE
    if value == ppb.PROCESS_LIST_MODE_ALL:
        return px.ProcessListMode.ALL
    raise InvalidArgumentError("invalid_request", f"unknown process list mode {value}")


def process_command_to_proto(value: px.ProcessCommand) -> ppb.ProcessCommand:
    match value:
        case px.ProcessStartOp():
            start = ppb.ProcessStartOp(registration=process_registration_to_proto(value.registration))
            if value.grant is not None:
                start.grant.CopyFrom(
                    ppb.ProcessStartGrant(
                        session_scope=session_scope_to_proto(value.grant.session_scope),
                        descriptor=handle_descriptor_to_proto(value.grant.descriptor),
                    )
                )
            if value.execution_context is not None:
                context = start.execution_context
                context.SetInParent()
                set_optional_json(context, "causal_invocation", value.execution_context.causal_invocation)
            return ppb.ProcessCommand(start=start)
        case px.ProcessListOp():
            return ppb.ProcessCommand(
                list=ppb.ProcessListOp(
                    session_scope=session_scope_to_proto(value.session_scope), mode=list_mode_to_proto(value.mode)
                )
            )
        case px.ProcessTransferOp():
            return ppb.ProcessCommand(
                transfer=ppb.ProcessTransferOp(
                    from_scope=session_scope_to_proto(value.from_scope),
                    to_scope=session_scope_to_proto(value.to_scope),
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
                    request=append_request_to_proto(value.request),
                )
            )
    raise InvalidArgumentError("invalid_request", f"not a process command: {value!r}")


def process_command_from_proto(msg: ppb.ProcessCommand, field: str = "command") -> px.ProcessCommand:
    which = msg.WhichOneof("op")
    if which == "start":
        start = msg.start
        grant = (
            px.ProcessStartGrant(
                session_scope=session_scope_from_proto(start.grant.session_scope),
                descriptor=handle_descriptor_from_proto(start.grant.descriptor),
            )
            if start.HasField("grant")
            else None
        )
        context = start.execution_context
        causal = (
            fx.invocation_from_lash(
                json_from_proto(context.causal_invocation, f"{field}.start.execution_context.causal_invocation")
            )
            if start.HasField("execution_context") and context.HasField("causal_invocation")
            else None
        )
        return px.ProcessStartOp(
            registration=process_registration_from_proto(start.registration, f"{field}.start.registration"),
            grant=grant,
            execution_context=px.ProcessExecutionContext(causal) if causal is not None else None,
        )
    if which == "list":
        return px.ProcessListOp(
            session_scope=session_scope_from_proto(msg.list.session_scope), mode=list_mode_from_proto(msg.list.mode)
        )
    if which == "transfer":
        transfer = msg.transfer
        return px.ProcessTransferOp(
            from_scope=session_scope_from_proto(transfer.from_scope),
            to_scope=session_scope_from_proto(transfer.to_scope),
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
            request=append_request_from_proto(signal.request, f"{field}.signal.request"),
        )
    raise missing("process command op")


def process_outcome_to_proto(value: px.ProcessEffectOutcome) -> ppb.ProcessEffectOutcome:
    match value:
        case px.ProcessStartResult():
            return ppb.ProcessEffectOutcome(start=ppb.ProcessStartResult(record=process_record_to_proto(value.record)))
        case px.ProcessListResult():
            return ppb.ProcessEffectOutcome(
                list=ppb.ProcessListResult(entries=[handle_grant_entry_to_proto(e) for e in value.entries])
            )
        case px.ProcessTransferResult():
            return ppb.ProcessEffectOutcome(transfer=ppb.ProcessTransferResult())
        case px.ProcessDeleteSessionResult():
            return ppb.ProcessEffectOutcome(
                delete_session=ppb.ProcessDeleteSessionResult(report=delete_report_to_proto(value.report))
            )
        case px.ProcessAwaitResult():
            awaited = ppb.ProcessEffectOutcome()
            getattr(awaited, "await").output.CopyFrom(await_output_to_proto(value.output))
            return awaited
        case px.ProcessCancelResult():
            return ppb.ProcessEffectOutcome(
                cancel=ppb.ProcessCancelResult(record=process_record_to_proto(value.record))
            )
        case px.ProcessSignalResult():
            return ppb.ProcessEffectOutcome(signal=ppb.ProcessSignalResult(event=process_event_to_proto(value.event)))
    raise InvalidArgumentError("invalid_request", f"not a process effect outcome: {value!r}")


def process_outcome_from_proto(msg: ppb.ProcessEffectOutcome, field: str = "result") -> px.ProcessEffectOutcome:
    which = msg.WhichOneof("op")
    if which == "start":
        return px.ProcessStartResult(record=process_record_from_proto(msg.start.record, f"{field}.start.record"))
    if which == "list":
        return px.ProcessListResult(
            entries=tuple(
                handle_grant_entry_from_proto(e, f"{field}.list.entries[{i}]") for i, e in enumerate(msg.list.entries)
            )
        )
    if which == "transfer":
        return px.ProcessTransferResult()
    if which == "delete_session":
        return px.ProcessDeleteSessionResult(report=delete_report_from_proto(msg.delete_session.report))
    if which == "await":
        return px.ProcessAwaitResult(
            output=await_output_from_proto(getattr(msg, "await").output, f"{field}.await.output")
        )
    if which == "cancel":
        return px.ProcessCancelResult(record=process_record_from_proto(msg.cancel.record, f"{field}.cancel.record"))
    if which == "signal":
        return px.ProcessSignalResult(event=process_event_from_proto(msg.signal.event, f"{field}.signal.event"))
    raise missing("process outcome op")


# -- the Processes service: append results, leases, list filters ------------------------------------


def wake_delivery_to_proto(value: px.ProcessWakeDelivery) -> ppb.ProcessWakeDelivery:
    out = ppb.ProcessWakeDelivery(
        wake_id=value.wake_id,
        target_session_id=value.target_session_id,
        target_scope_id=value.target_scope_id,
        process_id=value.process_id,
        sequence=value.sequence,
        event_type=value.event_type,
        event_invocation=json_to_proto(value.event_invocation),
        dedupe_key=value.dedupe_key,
        input=value.input,
        created_at_ms=value.created_at_ms,
    )
    if value.process_caused_by is not None:
        out.process_caused_by.CopyFrom(json_to_proto(value.process_caused_by))
    return out


def wake_delivery_from_proto(msg: ppb.ProcessWakeDelivery, field: str = "wake_delivery") -> px.ProcessWakeDelivery:
    caused_by = optional_json_from_proto(msg, "process_caused_by", f"{field}.process_caused_by")
    return px.ProcessWakeDelivery(
        wake_id=msg.wake_id,
        target_session_id=msg.target_session_id,
        target_scope_id=msg.target_scope_id,
        process_id=msg.process_id,
        sequence=msg.sequence,
        event_type=msg.event_type,
        event_invocation=fx.invocation_from_lash(json_from_proto(msg.event_invocation, f"{field}.event_invocation")),
        process_caused_by=fx.causal_ref_from_lash(caused_by) if msg.HasField("process_caused_by") else None,
        dedupe_key=msg.dedupe_key,
        input=msg.input,
        created_at_ms=msg.created_at_ms,
    )


def append_result_to_proto(value: px.ProcessEventAppendResult) -> ppb.ProcessEventAppendResult:
    out = ppb.ProcessEventAppendResult(event=process_event_to_proto(value.event))
    if value.wake_delivery is not None:
        out.wake_delivery.CopyFrom(wake_delivery_to_proto(value.wake_delivery))
    return out


def append_result_from_proto(msg: ppb.ProcessEventAppendResult, field: str = "result") -> px.ProcessEventAppendResult:
    return px.ProcessEventAppendResult(
        event=process_event_from_proto(msg.event, f"{field}.event"),
        wake_delivery=wake_delivery_from_proto(msg.wake_delivery, f"{field}.wake_delivery")
        if msg.HasField("wake_delivery")
        else None,
    )


def lease_to_proto(value: px.ProcessLease) -> ppb.ProcessLease:
    return ppb.ProcessLease(
        schema_version=value.schema_version,
        process_id=value.process_id,
        owner_id=value.owner_id,
        lease_token=value.lease_token,
        fencing_token=value.fencing_token,
        claimed_at_epoch_ms=value.claimed_at_epoch_ms,
        expires_at_epoch_ms=value.expires_at_epoch_ms,
    )


def lease_from_proto(msg: ppb.ProcessLease) -> px.ProcessLease:
    return px.ProcessLease(
        schema_version=msg.schema_version,
        process_id=msg.process_id,
        owner_id=msg.owner_id,
        lease_token=msg.lease_token,
        fencing_token=msg.fencing_token,
        claimed_at_epoch_ms=msg.claimed_at_epoch_ms,
        expires_at_epoch_ms=msg.expires_at_epoch_ms,
    )


def status_filter_to_proto(value: px.ProcessStatusFilter) -> Any:
    return ppb.ProcessStatusFilter.Value("PROCESS_STATUS_FILTER_" + px.ProcessStatusFilter(value).value.upper())


def status_filter_from_proto(value: int) -> px.ProcessStatusFilter:
    for name, number in ppb.ProcessStatusFilter.items():
        if number == value:
            return px.ProcessStatusFilter(name.removeprefix("PROCESS_STATUS_FILTER_").lower())
    raise InvalidArgumentError("invalid_request", f"unknown process status filter {value}")


def definition_selector_to_proto(value: px.ProcessDefinitionSelector) -> ppb.ProcessDefinitionSelector:
    return ppb.ProcessDefinitionSelector(
        module_ref=value.module_ref,
        host_requirements_ref=value.host_requirements_ref,
        process_ref=ppb.LashlangProcessRef(component=value.process_ref.component, pos=value.process_ref.pos),
        process_name=value.process_name,
    )


def definition_selector_from_proto(msg: ppb.ProcessDefinitionSelector) -> px.ProcessDefinitionSelector:
    return px.ProcessDefinitionSelector(
        module_ref=msg.module_ref,
        host_requirements_ref=msg.host_requirements_ref,
        process_ref=px.LashlangProcessRef(component=msg.process_ref.component, pos=msg.process_ref.pos),
        process_name=msg.process_name,
    )


def list_filter_to_proto(value: px.ProcessListFilter) -> ppb.ListProcessesRequest:
    out = ppb.ListProcessesRequest(status=status_filter_to_proto(value.status), waiting=value.waiting)
    if value.definition is not None:
        out.definition.CopyFrom(definition_selector_to_proto(value.definition))
    return out


def list_filter_from_proto(msg: ppb.ListProcessesRequest) -> px.ProcessListFilter:
    return px.ProcessListFilter(
        definition=definition_selector_from_proto(msg.definition) if msg.HasField("definition") else None,
        status=status_filter_from_proto(msg.status),
        waiting=_opt(msg, "waiting"),
    )
