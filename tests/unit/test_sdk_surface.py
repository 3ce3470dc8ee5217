"""The public surface: `__all__` is pinned, and every RPC has exactly one SDK method."""

from __future__ import annotations

import inspect

import effectd
from effectd._client import RPC_METHODS, Client
from effectd._controller import RemoteEffectController
from effectd.v1 import await_events_pb2, effect_controller_pb2, envelope_pb2, process_pb2, scope_pb2

EXPECTED_ALL = {
    "Accepted",
    "AlreadyResolved",
    "AuthError",
    "AwaitEventKey",
    "AwaitEventWaitIdentity",
    "Cancelled",
    "Client",
    "ConflictError",
    "CustomWait",
    "DeadlineExceededError",
    "EffectdError",
    "Err",
    "ExecutionScope",
    "ExternalCompletionError",
    "InternalError",
    "InvalidArgumentError",
    "InvalidTokenError",
    "KeyPending",
    "LeaseLostError",
    "NotFoundError",
    "Ok",
    "ProcessScope",
    "ProcessSignalWait",
    "QueueDrainScope",
    "RemoteEffectHost",
    "Resolution",
    "ResolveOutcome",
    "ResourceExhaustedError",
    "RuntimeOperationScope",
    "SessionDeleteScope",
    "SigningKey",
    "Timeout",
    "ToolCompletionWait",
    "TurnScope",
    "UnavailableError",
    "UnknownOrRevoked",
    "UnknownOrRevokedError",
    "Watch",
    "WatchRejected",
    "WatchTerminal",
    "await_event_key_id",
    "key_from_token",
    "key_token",
}


def test_public_names_are_pinned() -> None:
    assert EXPECTED_ALL <= set(effectd.__all__)
    for name in effectd.__all__:
        assert hasattr(effectd, name), name


def test_every_rpc_has_exactly_one_sdk_method() -> None:
    rpcs = {
        f"{service.full_name}/{method.name}"
        for module in (await_events_pb2, effect_controller_pb2, envelope_pb2, process_pb2, scope_pb2)
        for service in module.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    }
    assert set(RPC_METHODS) == rpcs
    names = list(RPC_METHODS.values())
    assert len(names) == len(set(names))
    owners = {"Client": Client, "RemoteEffectController": RemoteEffectController}
    for name in names:
        owner, _, method = name.rpartition(".")
        assert callable(getattr(owners[owner or "Client"], method)), name


def test_unary_sdk_methods_take_a_per_call_timeout() -> None:
    streaming = {"await_event", "watch"}
    for name in {n for n in RPC_METHODS.values() if "." not in n} - streaming:
        parameters = inspect.signature(getattr(Client, name)).parameters
        assert parameters["timeout"].kind is inspect.Parameter.KEYWORD_ONLY, name
