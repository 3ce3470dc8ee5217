"""Domain dataclasses → protobuf messages (one direction; `_from_proto` is the other)."""

from __future__ import annotations

import math
from typing import Any

from google.protobuf import struct_pb2

from effectd._lashjson import JsonValue
from effectd._scope import (
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
    Accepted,
    AlreadyResolved,
    UnknownOrRevoked,
)
from effectd.v1 import scope_pb2 as pb

__all__ = ["json_value", "key", "resolution", "resolve_outcome", "scope", "wait"]


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
            return pb.ExecutionScope(
                runtime_operation=pb.RuntimeOperationScope(operation_id=value.operation_id)
            )
    raise TypeError(f"not an execution scope: {value!r}")


def wait(value: AwaitEventWaitIdentity) -> pb.AwaitEventWaitIdentity:
    match value:
        case ToolCompletionWait():
            return pb.AwaitEventWaitIdentity(
                tool_completion=pb.ToolCompletionWait(tool_call_id=value.tool_call_id)
            )
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
            return pb.ResolveOutcome(
                already_resolved=pb.ResolveAlreadyResolved(terminal=resolution(value.terminal))
            )
        case UnknownOrRevoked():
            return pb.ResolveOutcome(unknown_or_revoked=pb.ResolveUnknownOrRevoked())
    raise TypeError(f"not a resolve outcome: {value!r}")
