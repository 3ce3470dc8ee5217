"""ScopedEffectController mirrors lash's: execution_scope, scope_id, turn_id; the host hands them out."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from effectd import (
    DurabilityTier,
    ExecutionScope,
    InvalidArgumentError,
    ProcessScope,
    QueueDrainScope,
    RemoteEffectController,
    RemoteEffectHost,
    Rpc,
    RuntimeOperationScope,
    ScopedEffectController,
    SessionDeleteScope,
    TurnScope,
)


@pytest.fixture
async def rpc() -> AsyncIterator[Rpc]:
    # A channel is lazy: nothing connects until a call, and these tests make none.
    async with Rpc(grpc.aio.insecure_channel("127.0.0.1:1")) as opened:
        yield opened


@pytest.mark.parametrize(
    ("scope", "scope_id", "turn_id"),
    [
        (TurnScope("s1", "t1"), "t1", "t1"),
        (ProcessScope("p1"), "p1", None),
        (QueueDrainScope("s1", "q1"), "q1", None),
        (SessionDeleteScope("s1"), "s1", None),
        (RuntimeOperationScope("op1"), "op1", None),
    ],
)
async def test_scope_accessors(rpc: Rpc, scope: ExecutionScope, scope_id: str, turn_id: str | None) -> None:
    controller = RemoteEffectController(rpc)
    for scoped in (controller.scoped(scope), RemoteEffectHost(rpc, controller=controller).scoped(scope)):
        assert isinstance(scoped, ScopedEffectController)
        assert scoped.execution_scope == scope
        assert scoped.scope_id == scope_id == scope.id
        assert scoped.turn_id == turn_id
        assert scoped.controller is controller


async def test_the_scope_is_validated(rpc: Rpc) -> None:
    host = RemoteEffectHost(rpc)
    for blank in (TurnScope("s1", " "), ProcessScope("")):
        with pytest.raises(InvalidArgumentError) as raised:
            host.scoped(blank)
        assert raised.value.code == "missing_execution_scope_id"


async def test_the_scope_cannot_be_reassigned(rpc: Rpc) -> None:
    scoped = RemoteEffectController(rpc).scoped(TurnScope("s1", "t1"))
    with pytest.raises(AttributeError):
        scoped.execution_scope = TurnScope("s1", "t2")  # type: ignore[misc]


async def test_the_host_forwards_the_controller_flags(rpc: Rpc) -> None:
    host = RemoteEffectHost(rpc)
    assert host.durability_tier == DurabilityTier.DURABLE
    assert host.supports_durable_effects
    assert not host.requires_durable_attachment_store


async def test_a_lease_ttl_must_be_positive(rpc: Rpc) -> None:
    with pytest.raises(ValueError, match="lease_ttl"):
        RemoteEffectController(rpc, lease_ttl=0)
