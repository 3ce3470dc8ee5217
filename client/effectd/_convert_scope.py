"""scope.proto ⇄ domain: JSON text, execution scopes, wait identities, keys, resolutions.

Both directions side by side. JSON goes out as ``Json(text=lash-json)`` and comes in through the strict
parser (`_json.parse_json`), which names the field in its ``invalid_json`` error. Missing oneofs raise
InvalidArgumentError with a stable code.
"""

from __future__ import annotations

from typing import Any

from effectd._effects import ControllerError
from effectd._errors import InvalidArgumentError
from effectd._json import parse_json
from effectd._lashjson import JsonValue, dumps
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

__all__ = [
    "completion_error_from_proto",
    "completion_error_to_proto",
    "controller_error_from_proto",
    "controller_error_to_proto",
    "json_from_proto",
    "json_to_proto",
    "key_from_proto",
    "key_to_proto",
    "missing",
    "optional_json_from_proto",
    "resolution_from_proto",
    "resolution_to_proto",
    "resolve_outcome_from_proto",
    "resolve_outcome_to_proto",
    "scope_from_proto",
    "scope_to_proto",
    "set_optional_json",
    "wait_from_proto",
    "wait_to_proto",
]


# -- Json ------------------------------------------------------------------------------------------


def json_to_proto(value: Any) -> pb.Json:
    """A JSON value (or a domain object, rendered as its lash JSON) as Json text."""
    return pb.Json(text=dumps(value))


def json_from_proto(msg: pb.Json, field: str) -> JsonValue:
    """A required Json field: unset or empty text is `invalid_json`, like any text that is not JSON."""
    return parse_json(msg.text, field)


def optional_json_from_proto(parent: Any, name: str, field: str) -> JsonValue:
    """An `optional Json` field of `parent`: None when unset; set but empty is `invalid_json`."""
    if not parent.HasField(name):
        return None
    return parse_json(getattr(parent, name).text, field)


def set_optional_json(parent: Any, name: str, value: JsonValue) -> None:
    """Fill an `optional Json` field of `parent` unless `value` is None."""
    if value is not None:
        getattr(parent, name).text = dumps(value)


def missing(what: str, code: str = "invalid_request") -> InvalidArgumentError:
    return InvalidArgumentError(code, f"{what} is required")


# -- execution scopes and wait identities -------------------------------------------------------------


def scope_to_proto(value: ExecutionScope) -> pb.ExecutionScope:
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
    raise InvalidArgumentError("invalid_request", f"not an execution scope: {value!r}")


def scope_from_proto(msg: pb.ExecutionScope) -> ExecutionScope:
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


def wait_to_proto(value: AwaitEventWaitIdentity) -> pb.AwaitEventWaitIdentity:
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
    raise InvalidArgumentError("invalid_request", f"not an await-event wait identity: {value!r}")


def wait_from_proto(msg: pb.AwaitEventWaitIdentity) -> AwaitEventWaitIdentity:
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


# -- keys --------------------------------------------------------------------------------------------


def key_to_proto(value: AwaitEventKey) -> pb.AwaitEventKey:
    return pb.AwaitEventKey(
        scope=scope_to_proto(value.scope),
        wait=wait_to_proto(value.wait),
        key_id=value.key_id,
        signature=value.signature,
    )


def key_from_proto(msg: pb.AwaitEventKey) -> AwaitEventKey:
    return AwaitEventKey(
        scope=scope_from_proto(msg.scope), wait=wait_from_proto(msg.wait), key_id=msg.key_id, signature=msg.signature
    )


# -- resolutions ---------------------------------------------------------------------------------------


def completion_error_to_proto(value: ExternalCompletionError) -> pb.ExternalCompletionError:
    out = pb.ExternalCompletionError(code=value.code, message=value.message)
    set_optional_json(out, "raw", value.raw)
    return out


def completion_error_from_proto(
    msg: pb.ExternalCompletionError, field: str = "resolution.err"
) -> ExternalCompletionError:
    return ExternalCompletionError(
        code=msg.code, message=msg.message, raw=optional_json_from_proto(msg, "raw", f"{field}.raw")
    )


def resolution_to_proto(value: Resolution) -> pb.Resolution:
    match value:
        case Ok():
            return pb.Resolution(ok=json_to_proto(value.payload))
        case Err():
            return pb.Resolution(err=completion_error_to_proto(value.payload))
        case Timeout():
            return pb.Resolution(timeout=pb.ResolutionTimeout())
        case Cancelled():
            return pb.Resolution(cancelled=pb.ResolutionCancelled())
    raise InvalidArgumentError("invalid_request", f"not a resolution: {value!r}")


def resolution_from_proto(msg: pb.Resolution, field: str = "resolution") -> Resolution:
    which = msg.WhichOneof("resolution")
    if which == "ok":
        return Ok(json_from_proto(msg.ok, f"{field}.ok"))
    if which == "err":
        return Err(completion_error_from_proto(msg.err, f"{field}.err"))
    if which == "timeout":
        return Timeout()
    if which == "cancelled":
        return Cancelled()
    raise missing("resolution (ok, err, timeout or cancelled)", "invalid_resolution")


def resolve_outcome_to_proto(value: ResolveOutcome) -> pb.ResolveOutcome:
    match value:
        case Accepted():
            return pb.ResolveOutcome(accepted=pb.ResolveAccepted())
        case AlreadyResolved():
            return pb.ResolveOutcome(
                already_resolved=pb.ResolveAlreadyResolved(terminal=resolution_to_proto(value.terminal))
            )
        case UnknownOrRevoked():
            return pb.ResolveOutcome(unknown_or_revoked=pb.ResolveUnknownOrRevoked())
    raise InvalidArgumentError("invalid_request", f"not a resolve outcome: {value!r}")


def resolve_outcome_from_proto(msg: pb.ResolveOutcome) -> ResolveOutcome:
    which = msg.WhichOneof("outcome")
    if which == "accepted":
        return Accepted()
    if which == "already_resolved":
        return AlreadyResolved(
            resolution_from_proto(msg.already_resolved.terminal, "outcome.already_resolved.terminal")
        )
    if which == "unknown_or_revoked":
        return UnknownOrRevoked()
    raise missing("resolve outcome")


# -- controller errors -----------------------------------------------------------------------------------


def controller_error_to_proto(value: ControllerError) -> pb.ControllerError:
    return pb.ControllerError(code=value.code, message=value.message)


def controller_error_from_proto(msg: pb.ControllerError) -> ControllerError:
    return ControllerError(code=msg.code, message=msg.message)
