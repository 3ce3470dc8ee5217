"""Errors. Every failure has a stable snake_case code; on the wire it is a gRPC status plus
``google.rpc.ErrorInfo(reason=code, domain="effectd")``. This module is the one table that maps codes
to statuses, used by the server to answer and by the SDK to raise.

The tree::

    EffectdError                         .code, .message, .status
    ├── InvalidArgumentError             INVALID_ARGUMENT: the request is wrong; nothing was stored
    ├── NotFoundError                    NOT_FOUND
    │   └── UnknownOrRevokedError        await_event_unknown_or_revoked
    ├── ConflictError                    FAILED_PRECONDITION: e.g. effect_replay_hash_conflict
    ├── LeaseLostError                   ABORTED: effect_replay_lease_lost
    ├── ResourceExhaustedError           RESOURCE_EXHAUSTED: limits and overload
    ├── UnavailableError                 UNAVAILABLE: server or store down; safe to retry
    ├── DeadlineExceededError            DEADLINE_EXCEEDED: the call's deadline passed
    ├── AuthError                        UNAUTHENTICATED / PERMISSION_DENIED
    │   ├── UnauthenticatedError         unauthenticated: no bearer token, or one the server does not know
    │   └── PermissionDeniedError        permission_denied: the token's role may not call that RPC
    └── InternalError                    anything else (a bug: please report it)
"""

from __future__ import annotations

import grpc

__all__ = [
    "CODE_STATUS",
    "DOMAIN",
    "RETRYABLE",
    "AuthError",
    "ConflictError",
    "DeadlineExceededError",
    "EffectdError",
    "InternalError",
    "InvalidArgumentError",
    "LeaseLostError",
    "NotFoundError",
    "PermissionDeniedError",
    "ResourceExhaustedError",
    "UnauthenticatedError",
    "UnavailableError",
    "UnknownOrRevokedError",
    "error_for",
]

DOMAIN = "effectd"


class EffectdError(Exception):
    """Root of every error the SDK raises; `.code` is the stable code."""

    status: grpc.StatusCode = grpc.StatusCode.INTERNAL

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class InvalidArgumentError(EffectdError):
    status = grpc.StatusCode.INVALID_ARGUMENT


class NotFoundError(EffectdError):
    status = grpc.StatusCode.NOT_FOUND


class UnknownOrRevokedError(NotFoundError):
    """The await-event key is unknown, tampered with, signed by a retired key, or revoked."""


class ConflictError(EffectdError):
    status = grpc.StatusCode.FAILED_PRECONDITION


class LeaseLostError(EffectdError):
    status = grpc.StatusCode.ABORTED


class ResourceExhaustedError(EffectdError):
    status = grpc.StatusCode.RESOURCE_EXHAUSTED


class UnavailableError(EffectdError):
    status = grpc.StatusCode.UNAVAILABLE


class DeadlineExceededError(EffectdError):
    status = grpc.StatusCode.DEADLINE_EXCEEDED


class AuthError(EffectdError):
    status = grpc.StatusCode.PERMISSION_DENIED


class UnauthenticatedError(AuthError):
    """No bearer token was sent, or the server knows no such token."""

    status = grpc.StatusCode.UNAUTHENTICATED


class PermissionDeniedError(AuthError):
    """The token is known, but its role may not call this RPC."""


class InternalError(EffectdError):
    status = grpc.StatusCode.INTERNAL


# Every code the service answers with, and its status. Codes not listed map by their error class.
CODE_STATUS: dict[str, grpc.StatusCode] = {
    "missing_execution_scope_id": grpc.StatusCode.INVALID_ARGUMENT,
    "invalid_await_event_wait_identity": grpc.StatusCode.INVALID_ARGUMENT,
    "invalid_await_event_key": grpc.StatusCode.INVALID_ARGUMENT,
    "invalid_resolution": grpc.StatusCode.INVALID_ARGUMENT,
    "invalid_request": grpc.StatusCode.INVALID_ARGUMENT,
    "malformed_request": grpc.StatusCode.INVALID_ARGUMENT,
    "payload_too_large": grpc.StatusCode.INVALID_ARGUMENT,
    "missing_session_id": grpc.StatusCode.INVALID_ARGUMENT,
    "batch_too_large": grpc.StatusCode.INVALID_ARGUMENT,
    "runtime_effect_invocation_subject": grpc.StatusCode.INVALID_ARGUMENT,
    "runtime_effect_invocation_kind": grpc.StatusCode.INVALID_ARGUMENT,
    "runtime_effect_replay_required": grpc.StatusCode.INVALID_ARGUMENT,
    "runtime_effect_durable_step_id": grpc.StatusCode.INVALID_ARGUMENT,
    "invalid_json": grpc.StatusCode.INVALID_ARGUMENT,
    "id_too_long": grpc.StatusCode.INVALID_ARGUMENT,
    "envelope_too_large": grpc.StatusCode.INVALID_ARGUMENT,
    "value_out_of_range": grpc.StatusCode.INVALID_ARGUMENT,
    "await_event_unknown_or_revoked": grpc.StatusCode.NOT_FOUND,
    "effect_replay_missing": grpc.StatusCode.NOT_FOUND,
    "effect_not_found": grpc.StatusCode.NOT_FOUND,
    "effect_replay_hash_conflict": grpc.StatusCode.FAILED_PRECONDITION,
    "process_registry_unavailable": grpc.StatusCode.FAILED_PRECONDITION,
    "effect_replay_lease_lost": grpc.StatusCode.ABORTED,
    "signing_key_not_found": grpc.StatusCode.NOT_FOUND,
    "signing_key_active": grpc.StatusCode.FAILED_PRECONDITION,
    "too_many_watched_keys": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "too_many_streams": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "stream_too_slow": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "store_unavailable": grpc.StatusCode.UNAVAILABLE,
    "server_shutting_down": grpc.StatusCode.UNAVAILABLE,
    "unavailable": grpc.StatusCode.UNAVAILABLE,
    "deadline_exceeded": grpc.StatusCode.DEADLINE_EXCEEDED,
    "internal": grpc.StatusCode.INTERNAL,
    "process_id_required": grpc.StatusCode.INVALID_ARGUMENT,
    "process_host_profile_required": grpc.StatusCode.INVALID_ARGUMENT,
    "process_env_ref_required": grpc.StatusCode.INVALID_ARGUMENT,
    "process_env_ref_forbidden": grpc.StatusCode.INVALID_ARGUMENT,
    "process_event_type_empty": grpc.StatusCode.INVALID_ARGUMENT,
    "process_event_type_duplicate": grpc.StatusCode.INVALID_ARGUMENT,
    "process_terminal_output_required": grpc.StatusCode.INVALID_ARGUMENT,
    "process_selector_invalid": grpc.StatusCode.INVALID_ARGUMENT,
    "process_registration_hash_conflict": grpc.StatusCode.FAILED_PRECONDITION,
    "process_unknown": grpc.StatusCode.NOT_FOUND,
    "process_handle_not_granted": grpc.StatusCode.NOT_FOUND,
    "process_event_undeclared": grpc.StatusCode.INVALID_ARGUMENT,
    "process_event_replay_key_required": grpc.StatusCode.INVALID_ARGUMENT,
    "process_event_payload_invalid": grpc.StatusCode.INVALID_ARGUMENT,
    "process_selector_no_match": grpc.StatusCode.INVALID_ARGUMENT,
    "process_event_replay_conflict": grpc.StatusCode.FAILED_PRECONDITION,
    "process_already_terminal": grpc.StatusCode.FAILED_PRECONDITION,
    "process_terminal_wait": grpc.StatusCode.FAILED_PRECONDITION,
    "process_lease_conflict": grpc.StatusCode.FAILED_PRECONDITION,
    "process_lease_lost": grpc.StatusCode.ABORTED,
    "unauthenticated": grpc.StatusCode.UNAUTHENTICATED,
    "permission_denied": grpc.StatusCode.PERMISSION_DENIED,
    "invalid_tool_arguments": grpc.StatusCode.INVALID_ARGUMENT,
    "mcp_server_unavailable": grpc.StatusCode.UNAVAILABLE,
    "no_worker_available": grpc.StatusCode.UNAVAILABLE,
    "worker_redelivery_exhausted": grpc.StatusCode.ABORTED,
    "worker_unknown": grpc.StatusCode.NOT_FOUND,
    "effect_rate_limited": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "effect_session_revoked": grpc.StatusCode.FAILED_PRECONDITION,
}

# The codes for which retrying the same request later can succeed (the proto's ErrorReason says the same;
# a test keeps the two equal). Every other code of CODE_STATUS is final for that request.
RETRYABLE: frozenset[str] = frozenset(
    {
        "effect_replay_lease_lost",
        "too_many_streams",
        "stream_too_slow",
        "store_unavailable",
        "server_shutting_down",
        "unavailable",
        "deadline_exceeded",
        "process_lease_conflict",
        "mcp_server_unavailable",
        "no_worker_available",
        "effect_rate_limited",
    }
)

_STATUS_CLASS: dict[grpc.StatusCode, type[EffectdError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.OUT_OF_RANGE: InvalidArgumentError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.FAILED_PRECONDITION: ConflictError,
    grpc.StatusCode.ALREADY_EXISTS: ConflictError,
    grpc.StatusCode.ABORTED: LeaseLostError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhaustedError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
    grpc.StatusCode.UNAUTHENTICATED: UnauthenticatedError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
}

_CODE_CLASS: dict[str, type[EffectdError]] = {
    "await_event_unknown_or_revoked": UnknownOrRevokedError,
}


def status_for(error: EffectdError) -> grpc.StatusCode:
    """The gRPC status a server answers `error` with."""
    return CODE_STATUS.get(error.code, error.status)


def error_for(code: str, message: str, status: grpc.StatusCode | None = None) -> EffectdError:
    """The typed error for a code (as the SDK raises it)."""
    cls = _CODE_CLASS.get(code)
    if cls is None:
        resolved = status if status is not None else CODE_STATUS.get(code, grpc.StatusCode.INTERNAL)
        cls = _STATUS_CLASS.get(resolved, InternalError)
    return cls(code, message)
