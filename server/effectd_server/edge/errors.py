"""Error mapping: every failure becomes a status with google.rpc.ErrorInfo and one JSON log line (with
the call's request id, which the status's trailing metadata echoes too): INFO for a caller's error, ERROR
for a server fault."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import grpc
from effectd._errors import DOMAIN, EffectdError, InternalError, InvalidArgumentError
from effectd._errors import status_for as _status_for
from google.protobuf import any_pb2
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from effectd_server.edge.logs import REQUEST_ID_KEY, safe

__all__ = ["classify", "failed_status", "is_server_fault", "shutting_down", "status_for_error"]

log = logging.getLogger("effectd.rpc")


def shutting_down() -> EffectdError:
    """Streams end at once on shutdown; clients reconnect (to another replica, or after the restart)."""
    from effectd._errors import UnavailableError

    return UnavailableError("server_shutting_down", "the server is shutting down; reconnect")


MAX_MESSAGE_CHARS = 1000
"""Messages quote caller text (ids, names); the message travels twice in trailing metadata (grpc-message
and the status details), which clients cap at 16 KiB by default: past that they see RESOURCE_EXHAUSTED
without the error's code."""


def bounded_message(message: str) -> str:
    if len(message) <= MAX_MESSAGE_CHARS:
        return message
    return message[:MAX_MESSAGE_CHARS] + f"… ({len(message) - MAX_MESSAGE_CHARS} more characters)"


def status_for_error(error: EffectdError) -> grpc.Status:
    """The status (with ErrorInfo in its details) that answers `error`."""
    code = _status_for(error)
    detail = any_pb2.Any()
    detail.Pack(error_details_pb2.ErrorInfo(reason=error.code, domain=DOMAIN))
    status = status_pb2.Status(code=code.value[0], message=bounded_message(error.message), details=[detail])
    return rpc_status.to_status(status)


_FAULT_STATUSES = frozenset({grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DATA_LOSS})
_FAULT_CODES = frozenset({"store_unavailable"})


def is_server_fault(error: EffectdError, status: grpc.StatusCode) -> bool:
    """A failure of the server (logged at ERROR), as opposed to a caller's mistake or a refusal by rule
    (logged at INFO): the caller did nothing wrong and an operator may have to act."""
    return status in _FAULT_STATUSES or error.code in _FAULT_CODES


def classify(method: str, exc: BaseException) -> EffectdError:
    if isinstance(exc, EffectdError):
        return exc
    if isinstance(exc, DecodeError):
        return InvalidArgumentError("malformed_request", "the request is not a valid protobuf message")
    if isinstance(exc, ValueError):
        # Values the protobuf runtime or our converters refuse (e.g. non-finite numbers).
        return InvalidArgumentError("invalid_request", str(exc)[:1000] or type(exc).__name__)
    log.exception("unexpected error in %s", method)
    return InternalError("internal", "internal error; the server logged the details")


def failed_status(method: str, exc: BaseException, request_id: str = "") -> grpc.Status | _Status:
    """The status answering a call that failed with `exc` (ErrorInfo in its details, the request id in its
    trailing metadata), logged as one JSON line."""
    error = classify(method, exc)
    status = status_for_error(error)
    fields = {
        "event": "rpc_error",
        "rpc": method,
        "request_id": safe(request_id),
        "code": error.code,
        "status": status.code.name,
        "message": safe(error.message),
    }
    level = logging.ERROR if is_server_fault(error, status.code) else logging.INFO
    log.log(level, json.dumps(fields, ensure_ascii=True), extra={"fields": fields})
    if not request_id:
        return status
    return _Status(status.code, status.details, (*status.trailing_metadata, (REQUEST_ID_KEY, request_id)))


@dataclass(frozen=True, slots=True)
class _Status:
    code: grpc.StatusCode
    details: str
    trailing_metadata: tuple[tuple[str, str | bytes], ...]
