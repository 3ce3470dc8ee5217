"""The RPC layer without a network: error mapping, deadlines, stubs, stream reconnect pacing."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from effectd import Client, RemoteEffectController, RemoteEffectHost, Rpc
from effectd._errors import (
    DOMAIN,
    ConflictError,
    DeadlineExceededError,
    EffectdError,
    UnavailableError,
    UnknownOrRevokedError,
)
from effectd._rpc import DEFAULT_TIMEOUT_S, Reconnect, backoff, call, error_from_rpc
from effectd.v1 import await_events_pb2_grpc, effect_controller_pb2_grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2


def rpc_error(status: grpc.StatusCode, details: str, reason: str | None = None, domain: str = DOMAIN) -> Any:
    trailing: list[tuple[str, str | bytes]] = []
    if reason is not None:
        detail = any_pb2.Any()
        detail.Pack(error_details_pb2.ErrorInfo(reason=reason, domain=domain))
        status_pb = status_pb2.Status(code=status.value[0], message=details, details=[detail])
        trailing.append(("grpc-status-details-bin", status_pb.SerializeToString()))
    return grpc.aio.AioRpcError(status, grpc.aio.Metadata(), grpc.aio.Metadata(*trailing), details=details)


def test_the_error_info_reason_is_the_code() -> None:
    error = error_from_rpc(
        rpc_error(grpc.StatusCode.FAILED_PRECONDITION, "hashes differ", "effect_replay_hash_conflict")
    )
    assert isinstance(error, ConflictError)
    assert (error.code, error.message) == ("effect_replay_hash_conflict", "hashes differ")


def test_a_status_without_error_info_maps_by_status() -> None:
    error = error_from_rpc(rpc_error(grpc.StatusCode.UNAVAILABLE, "connection refused"))
    assert isinstance(error, UnavailableError)
    assert (error.code, error.message) == ("unavailable", "connection refused")
    assert isinstance(error_from_rpc(rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED, "")), DeadlineExceededError)


def test_error_info_of_another_domain_is_ignored() -> None:
    error = error_from_rpc(rpc_error(grpc.StatusCode.NOT_FOUND, "gone", "unknown_or_revoked", domain="example.com"))
    assert error.code == "not_found"
    ours = error_from_rpc(rpc_error(grpc.StatusCode.NOT_FOUND, "x", "await_event_unknown_or_revoked"))
    assert isinstance(ours, UnknownOrRevokedError)


async def test_call_raises_the_typed_error_without_the_grpc_one() -> None:
    async def failing() -> None:
        raise rpc_error(grpc.StatusCode.UNAVAILABLE, "down")

    with pytest.raises(UnavailableError) as raised:
        await call(failing())
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


async def test_every_unary_call_gets_the_default_deadline_or_its_own() -> None:
    seen: list[float | None] = []

    async def method(request: Any, *, timeout: float | None = None) -> str:
        seen.append(timeout)
        return f"answer to {request}"

    async with Rpc(grpc.aio.insecure_channel("127.0.0.1:1")) as rpc:
        assert rpc.default_timeout == DEFAULT_TIMEOUT_S == 10.0
        assert await rpc.unary(method, "q") == "answer to q"
        assert await rpc.unary(method, "q", timeout=0.5) == "answer to q"
    async with Rpc(grpc.aio.insecure_channel("127.0.0.1:1"), default_timeout=3.0) as rpc:
        await rpc.unary(method, "q")
    assert seen == [10.0, 0.5, 3.0]


async def test_unary_maps_a_failed_call() -> None:
    async def method(request: Any, *, timeout: float | None = None) -> None:
        raise rpc_error(grpc.StatusCode.FAILED_PRECONDITION, "no", "effect_replay_hash_conflict")

    async with Rpc(grpc.aio.insecure_channel("127.0.0.1:1")) as rpc:
        with pytest.raises(ConflictError):
            await rpc.unary(method, None)


async def test_a_default_timeout_must_be_positive() -> None:
    channel = grpc.aio.insecure_channel("127.0.0.1:1")
    with pytest.raises(ValueError, match="default_timeout"):
        Rpc(channel, default_timeout=0)
    await channel.close()


async def test_one_stub_per_service_shared_by_every_facade() -> None:
    async with Rpc(grpc.aio.insecure_channel("127.0.0.1:1")) as rpc:
        assert rpc.stub(await_events_pb2_grpc.AwaitEventsStub) is rpc.stub(await_events_pb2_grpc.AwaitEventsStub)
        client = Client(rpc)
        controller = RemoteEffectController(rpc)
        host = RemoteEffectHost(rpc)
        assert client.rpc is controller.rpc is controller.client.rpc is host.client.rpc is host.controller.rpc is rpc
        assert RemoteEffectController(client).rpc is rpc
        assert controller._stub is rpc.stub(effect_controller_pb2_grpc.EffectControllerStub)
        assert client.default_timeout == rpc.default_timeout


async def test_a_client_over_a_channel_makes_its_own_rpc() -> None:
    channel = grpc.aio.insecure_channel("127.0.0.1:1")
    async with Client(channel, default_timeout=2.5) as client:
        assert client.rpc.channel is channel
        assert client.default_timeout == 2.5


async def test_a_host_refuses_a_controller_on_another_channel() -> None:
    async with (
        Rpc(grpc.aio.insecure_channel("127.0.0.1:1")) as one,
        Rpc(grpc.aio.insecure_channel("127.0.0.1:1")) as two,
    ):
        with pytest.raises(ValueError, match="share"):
            RemoteEffectHost(one, controller=RemoteEffectController(two))


async def test_connect_to_nothing_is_unavailable() -> None:
    with pytest.raises(UnavailableError):
        await Rpc.connect("127.0.0.1:1", connect_timeout=0.2)


def test_reconnect_raises_at_once_for_a_status_that_a_retry_cannot_help() -> None:
    reconnect = Reconnect(give_up_after=60)
    with pytest.raises(ConflictError):
        reconnect.failed(rpc_error(grpc.StatusCode.FAILED_PRECONDITION, "no", "effect_replay_hash_conflict"))


async def test_reconnect_retries_unavailable_until_it_gives_up(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr("effectd._rpc.time.monotonic", lambda: now[0])
    reconnect = Reconnect(give_up_after=5)
    down = rpc_error(grpc.StatusCode.UNAVAILABLE, "down")
    reconnect.failed(down)
    now[0] += 5
    reconnect.failed(down)
    reconnect.succeeded()  # a delivered message starts the count again
    now[0] += 10
    reconnect.failed(down)
    now[0] += 5.1
    with pytest.raises(UnavailableError):
        reconnect.failed(down)
    forever = Reconnect()
    now[0] += 1e6
    forever.failed(down)
    now[0] += 1e6
    forever.failed(down)


async def test_reconnect_backs_off(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr("effectd._rpc.asyncio.sleep", sleep)
    reconnect = Reconnect()
    for _ in range(3):
        await reconnect.wait()
    assert reconnect.attempt == 3
    assert 0.025 <= slept[0] <= 0.05 and 0.05 <= slept[1] <= 0.1 and 0.1 <= slept[2] <= 0.2
    reconnect.succeeded()
    assert reconnect.attempt == 0


def test_backoff_is_bounded() -> None:
    for attempt in range(40):
        assert 0.025 <= backoff(attempt) <= 2.0
    assert backoff(30) >= 1.0


def test_errors_are_effectd_errors() -> None:
    assert isinstance(error_from_rpc(rpc_error(grpc.StatusCode.INTERNAL, "boom")), EffectdError)
