"""Bad input on every RPC: the right status, ErrorInfo with the code, nothing stored, still serving.

Every code the server can answer with is provoked here or in the other integration tests;
`test_every_server_code_is_provoked` checks that the list below covers the error table.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest
from effectd import CustomWait, Ok, TurnScope
from effectd._client import Client, KeyPending
from effectd._convert_scope import key_to_proto, resolution_to_proto
from effectd.v1 import await_events_pb2 as pb
from effectd.v1 import await_events_pb2_grpc as pb_grpc
from effectd.v1 import scope_pb2
from effectd_server import RunningServer
from effectd_server.config import AwaitEventsConfig, LimitsConfig
from google.rpc import error_details_pb2, status_pb2

from tests.integration.codes import PROVOKED


def _error_info(exc: grpc.aio.AioRpcError) -> str:
    for name, value in exc.trailing_metadata() or ():
        if name == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                info = error_details_pb2.ErrorInfo()
                assert detail.Unpack(info)
                assert info.domain == "effectd"
                return info.reason
    raise AssertionError(f"no ErrorInfo in {exc}")


async def expect_error(call: Awaitable[Any], status: grpc.StatusCode, code: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    assert raised.value.code() == status, raised.value
    assert _error_info(raised.value) == code
    PROVOKED.add(code)


@pytest.fixture
async def stub(server: RunningServer) -> Any:
    async with grpc.aio.insecure_channel(server.target) as channel:
        yield pb_grpc.AwaitEventsStub(channel)


@pytest.fixture
async def key(client: Client) -> scope_pb2.AwaitEventKey:
    return key_to_proto(await client.mint_key(TurnScope("s", "t"), CustomWait("k")))


INVALID = grpc.StatusCode.INVALID_ARGUMENT


async def test_mint_rejects_empty_ids_and_missing_oneofs(stub: Any) -> None:
    turn = scope_pb2.ExecutionScope(turn=scope_pb2.TurnScope(session_id="s", turn_id="  "))
    custom = scope_pb2.AwaitEventWaitIdentity(custom=scope_pb2.CustomWait(key="k"))
    await expect_error(stub.MintKey(pb.MintKeyRequest(scope=turn, wait=custom)), INVALID, "missing_execution_scope_id")
    await expect_error(stub.MintKey(pb.MintKeyRequest(wait=custom)), INVALID, "missing_execution_scope_id")
    good = scope_pb2.ExecutionScope(process=scope_pb2.ProcessScope(process_id="p"))
    ordinal_zero = scope_pb2.AwaitEventWaitIdentity(
        process_signal=scope_pb2.ProcessSignalWait(process_id="p", signal_name="ready", ordinal=0)
    )
    await expect_error(
        stub.MintKey(pb.MintKeyRequest(scope=good, wait=ordinal_zero)),
        INVALID,
        "invalid_await_event_wait_identity",
    )
    await expect_error(stub.MintKey(pb.MintKeyRequest(scope=good)), INVALID, "invalid_await_event_wait_identity")
    empty_call = scope_pb2.AwaitEventWaitIdentity(tool_completion=scope_pb2.ToolCompletionWait(tool_call_id=""))
    await expect_error(
        stub.MintKey(pb.MintKeyRequest(scope=good, wait=empty_call)),
        INVALID,
        "invalid_await_event_wait_identity",
    )


async def test_resolve_rejects_missing_parts(stub: Any, key: scope_pb2.AwaitEventKey) -> None:
    await expect_error(stub.Resolve(pb.ResolveRequest(key=key)), INVALID, "invalid_resolution")
    ok = resolution_to_proto(Ok(1))
    await expect_error(stub.Resolve(pb.ResolveRequest(resolution=ok)), INVALID, "invalid_await_event_key")
    no_signature = scope_pb2.AwaitEventKey()
    no_signature.CopyFrom(key)
    no_signature.signature = ""
    await expect_error(
        stub.Resolve(pb.ResolveRequest(key=no_signature, resolution=ok)), INVALID, "invalid_await_event_key"
    )
    empty_err = pb.ResolveRequest(key=key)
    empty_err.resolution.err.code = " "
    await expect_error(stub.Resolve(empty_err), INVALID, "invalid_resolution")
    for rpc in (stub.Await, stub.Peek, stub.Cancel, stub.RevokeKey):
        request_type = {
            stub.Await: pb.AwaitRequest,
            stub.Peek: pb.PeekRequest,
            stub.Cancel: pb.CancelRequest,
            stub.RevokeKey: pb.RevokeKeyRequest,
        }[rpc]
        call = rpc(request_type())
        if rpc is stub.Await:
            await expect_error(_drain(call), INVALID, "invalid_await_event_key")
        else:
            await expect_error(call, INVALID, "invalid_await_event_key")


async def _drain(call: Any) -> None:
    async for _ in call:
        pass


async def test_oversized_payload_is_refused_and_nothing_is_stored(start_server: Callable[..., Any]) -> None:
    async with (
        start_server(limits=LimitsConfig(max_payload_bytes=1000)) as small,
        await Client.connect(small.target) as small_client,
    ):
        key = await small_client.mint_key(TurnScope("s", "t"), CustomWait("big"))
        async with grpc.aio.insecure_channel(small.target) as channel:
            stub = pb_grpc.AwaitEventsStub(channel)
            request = pb.ResolveRequest(key=key_to_proto(key), resolution=resolution_to_proto(Ok("x" * 2000)))
            await expect_error(stub.Resolve(request), INVALID, "payload_too_large")
        assert await small_client.peek(key) == KeyPending(None)
        assert await small_client.resolve(key, Ok("small")) is not None


async def test_garbage_bytes_are_invalid_argument(server: RunningServer, client: Client) -> None:
    async with grpc.aio.insecure_channel(server.target) as channel:
        for method in ("MintKey", "Resolve", "ResolveMany", "Peek", "Cancel", "RevokeSession"):
            raw = channel.unary_unary(f"/effectd.v1.AwaitEvents/{method}")
            await expect_error(raw(b"\xff\xff\xff\xff garbage"), INVALID, "malformed_request")
        raw_stream = channel.unary_stream("/effectd.v1.AwaitEvents/Await")
        await expect_error(_drain(raw_stream(b"\x0a\xff\xff")), INVALID, "malformed_request")
    # Still serving.
    key = await client.mint_key(TurnScope("s", "t"), CustomWait("after-garbage"))
    assert await client.peek(key) == KeyPending(None)


async def test_session_ids_are_required(stub: Any) -> None:
    await expect_error(stub.RevokeSession(pb.RevokeSessionRequest(session_id="")), INVALID, "missing_session_id")
    await expect_error(
        stub.CancelSessionWaits(pb.CancelSessionWaitsRequest(session_id=" ")), INVALID, "missing_session_id"
    )


async def test_resolve_many_answers_each_item_on_its_own(stub: Any, key: scope_pb2.AwaitEventKey) -> None:
    ok = resolution_to_proto(Ok(1))
    broken = scope_pb2.AwaitEventKey()
    broken.CopyFrom(key)
    broken.wait.custom.key = ""
    tampered = scope_pb2.AwaitEventKey()
    tampered.CopyFrom(key)
    tampered.signature = key.signature[:-1] + ("0" if key.signature[-1] != "0" else "1")
    response = await stub.ResolveMany(
        pb.ResolveManyRequest(
            items=[
                pb.ResolveRequest(key=key, resolution=ok),
                pb.ResolveRequest(key=broken, resolution=ok),
                pb.ResolveRequest(key=key),
                pb.ResolveRequest(key=tampered, resolution=ok),
                pb.ResolveRequest(key=key, resolution=resolution_to_proto(Ok(2))),
            ]
        )
    )
    kinds = [r.WhichOneof("result") for r in response.results]
    assert kinds == ["outcome", "error", "error", "outcome", "outcome"]
    assert response.results[0].outcome.WhichOneof("outcome") == "accepted"
    assert response.results[1].error.code == "invalid_await_event_wait_identity"
    assert response.results[2].error.code == "invalid_resolution"
    assert response.results[3].outcome.WhichOneof("outcome") == "unknown_or_revoked"
    assert response.results[4].outcome.already_resolved.terminal.ok.text == "1"


async def test_resolve_many_batch_limit(start_server: Callable[..., Any]) -> None:
    async with (
        start_server(await_events=AwaitEventsConfig(max_batch=5)) as small,
        await Client.connect(small.target) as client,
    ):
        key = await client.mint_key(TurnScope("s", "t"), CustomWait("batch"))
        async with grpc.aio.insecure_channel(small.target) as channel:
            stub = pb_grpc.AwaitEventsStub(channel)
            item = pb.ResolveRequest(key=key_to_proto(key), resolution=resolution_to_proto(Ok(1)))
            await expect_error(stub.ResolveMany(pb.ResolveManyRequest(items=[item] * 6)), INVALID, "batch_too_large")
        assert await client.peek(key) == KeyPending(None)


async def test_watch_key_limit(start_server: Callable[..., Any]) -> None:
    async with (
        start_server(await_events=AwaitEventsConfig(max_watched_keys=3)) as small,
        await Client.connect(small.target) as client,
    ):
        keys = [key_to_proto(await client.mint_key(TurnScope("s", "t"), CustomWait(f"w{i}"))) for i in range(4)]
        async with grpc.aio.insecure_channel(small.target) as channel:
            stub = pb_grpc.AwaitEventsStub(channel)

            async def requests() -> Any:
                yield pb.WatchRequest(add_keys=keys)

            await expect_error(
                _drain(stub.Watch(requests())), grpc.StatusCode.RESOURCE_EXHAUSTED, "too_many_watched_keys"
            )


async def test_unknown_or_revoked_is_not_found_on_await_and_peek(stub: Any, key: scope_pb2.AwaitEventKey) -> None:
    tampered = scope_pb2.AwaitEventKey()
    tampered.CopyFrom(key)
    tampered.key_id = "f" * 64
    await expect_error(
        _drain(stub.Await(pb.AwaitRequest(key=tampered))),
        grpc.StatusCode.NOT_FOUND,
        "await_event_unknown_or_revoked",
    )
    await expect_error(
        stub.Peek(pb.PeekRequest(key=tampered)), grpc.StatusCode.NOT_FOUND, "await_event_unknown_or_revoked"
    )


async def test_keyring_errors(server: RunningServer) -> None:
    async with grpc.aio.insecure_channel(server.target) as channel:
        stub = pb_grpc.KeyringStub(channel)
        keys = (await stub.ListSigningKeys(pb.ListSigningKeysRequest())).keys
        (active,) = keys
        await expect_error(
            stub.RetireSigningKey(pb.RetireSigningKeyRequest(kid=active.kid)),
            grpc.StatusCode.FAILED_PRECONDITION,
            "signing_key_active",
        )
        await expect_error(
            stub.RetireSigningKey(pb.RetireSigningKeyRequest(kid="nope")),
            grpc.StatusCode.NOT_FOUND,
            "signing_key_not_found",
        )
        await expect_error(stub.RetireSigningKey(pb.RetireSigningKeyRequest(kid="")), INVALID, "invalid_request")


async def test_store_unavailable_is_unavailable_and_not_acknowledged(
    server: RunningServer, stub: Any, key: scope_pb2.AwaitEventKey
) -> None:
    await server.backend.close()
    request = pb.ResolveRequest(key=key, resolution=resolution_to_proto(Ok(1)))
    await expect_error(stub.Resolve(request), grpc.StatusCode.UNAVAILABLE, "store_unavailable")
    # The server itself keeps answering (health is a separate service).
    await expect_error(stub.Resolve(request), grpc.StatusCode.UNAVAILABLE, "store_unavailable")


async def test_open_streams_end_with_shutting_down_on_shutdown(
    server: RunningServer, stub: Any, key: scope_pb2.AwaitEventKey
) -> None:
    waiting = asyncio.ensure_future(_drain(stub.Await(pb.AwaitRequest(key=key))))
    await asyncio.sleep(0.1)
    shutdown = asyncio.ensure_future(server.shutdown(grace_s=30))
    await expect_error(waiting, grpc.StatusCode.UNAVAILABLE, "server_shutting_down")
    await asyncio.wait_for(shutdown, 5)  # far less than the grace: nothing was left to wait for
