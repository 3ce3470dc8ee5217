"""Protobuf messages → domain dataclasses. Missing oneofs raise InvalidArgumentError with a stable code."""

from __future__ import annotations

from typing import Any

from google.protobuf import struct_pb2

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
from effectd.v1 import scope_pb2 as pb

__all__ = ["json_value", "key", "resolution", "resolve_outcome", "scope", "wait"]

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
