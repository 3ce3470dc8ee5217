"""A request id: `x-request-id` is echoed in every call's trailing metadata (a generated one when the
call has none, or one that is not 1 to 128 printable ASCII characters) and appears in the server's log
lines for the call: the error line (`effectd.rpc`) and the access line (`effectd.access`, INFO)."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import grpc
import pytest
from effectd import CustomWait, Ok, TurnScope
from effectd._client import Client
from effectd._convert_scope import key_to_proto
from effectd.v1 import await_events_pb2 as pb
from effectd.v1 import await_events_pb2_grpc as pb_grpc
from effectd.v1 import scope_pb2
from effectd_server import RunningServer
from google.rpc import error_details_pb2, status_pb2

KEY = "x-request-id"
GENERATED = re.compile(r"[0-9a-f]{32}")
NO_SCOPE = pb.MintKeyRequest(wait=scope_pb2.AwaitEventWaitIdentity(custom=scope_pb2.CustomWait(key="k")))


@pytest.fixture
async def stub(server: RunningServer) -> Any:
    async with grpc.aio.insecure_channel(server.target) as channel:
        yield pb_grpc.AwaitEventsStub(channel)


@pytest.fixture
async def resolved(client: Client) -> Any:
    key = await client.mint_key(TurnScope("s-rid", "t"), CustomWait("done"))
    await client.resolve(key, Ok(1))
    return key


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="effectd")  # the access lines and error lines
    return caplog


def echoed(metadata: Any) -> list[str]:
    return [value for name, value in metadata or () if name == KEY]


def lines(caplog: pytest.LogCaptureFixture, logger: str) -> list[dict[str, Any]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == logger and r.getMessage()[:1] == "{"]


def error_reason(metadata: Any) -> str:
    for name, value in metadata or ():
        if name == "grpc-status-details-bin":
            for detail in status_pb2.Status.FromString(value).details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info):
                    return info.reason
    raise AssertionError(f"no ErrorInfo in {metadata}")


async def test_a_unary_call_echoes_its_request_id_and_logs_it(stub: Any, resolved: Any, logs: Any) -> None:
    request = pb.PeekRequest(key=key_to_proto(resolved))
    call = stub.Peek(request, metadata=((KEY, "req-1.a_B:c"),))
    await call
    assert echoed(await call.trailing_metadata()) == ["req-1.a_B:c"]
    [line] = [x for x in lines(logs, "effectd.access") if x["request_id"] == "req-1.a_B:c"]
    assert line["rpc"] == "effectd.v1.AwaitEvents/Peek"
    assert line["status"] == "OK"
    assert line["duration_ms"] >= 0


async def test_a_call_without_one_gets_a_generated_request_id(stub: Any, resolved: Any, logs: Any) -> None:
    request = pb.PeekRequest(key=key_to_proto(resolved))
    first, second = stub.Peek(request), stub.Peek(request)
    await first
    await second
    [one] = echoed(await first.trailing_metadata())
    [two] = echoed(await second.trailing_metadata())
    assert GENERATED.fullmatch(one) and GENERATED.fullmatch(two) and one != two
    logged = {x["request_id"] for x in lines(logs, "effectd.access")}
    assert {one, two} <= logged


async def test_a_failed_call_echoes_its_request_id_beside_its_error_info(stub: Any, logs: Any) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await stub.MintKey(NO_SCOPE, metadata=((KEY, "req-failed"),))
    assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert echoed(failed.value.trailing_metadata()) == ["req-failed"]
    assert error_reason(failed.value.trailing_metadata()) == "missing_execution_scope_id"
    [error] = [x for x in lines(logs, "effectd.rpc") if x["request_id"] == "req-failed"]
    assert error["code"] == "missing_execution_scope_id"
    [access] = [x for x in lines(logs, "effectd.access") if x["request_id"] == "req-failed"]
    assert access["status"] == "INVALID_ARGUMENT"


async def test_streams_echo_their_request_id(stub: Any, resolved: Any, logs: Any) -> None:
    # Await (server streaming): the terminal at once, then the end of the stream.
    waiting = stub.Await(pb.AwaitRequest(key=key_to_proto(resolved)), metadata=((KEY, "req-await"),))
    assert [r async for r in waiting]
    assert echoed(await waiting.trailing_metadata()) == ["req-await"]

    # Watch (both ways): add the key, read its terminal, close our side.
    watch = stub.Watch(metadata=((KEY, "req-watch"),))
    await watch.write(pb.WatchRequest(add_keys=[key_to_proto(resolved)]))
    async for response in watch:
        if response.WhichOneof("event") == "terminal":
            break
    await watch.done_writing()
    _ = [r async for r in watch]  # what is left (its ack), then the end of the stream
    assert echoed(await watch.trailing_metadata()) == ["req-watch"]

    # A stream that fails: the id beside the ErrorInfo.
    failing = stub.Await(pb.AwaitRequest(token="ek1_not-a-key"), metadata=((KEY, "req-await-failed"),))
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        _ = [r async for r in failing]
    assert echoed(failed.value.trailing_metadata()) == ["req-await-failed"]
    assert error_reason(failed.value.trailing_metadata()) == "await_event_unknown_or_revoked"

    statuses = {x["request_id"]: x["status"] for x in lines(logs, "effectd.access")}
    assert statuses["req-await"] == "OK"
    assert statuses["req-watch"] == "OK"
    assert statuses["req-await-failed"] == "NOT_FOUND"


@pytest.mark.parametrize(
    "hostile",
    [
        "x" * 129,  # one over the limit
        'evil"} {"forged": 1' + "y" * 120,  # quotes: fine in JSON, but over the limit anyway
        "w" * 7 * 1024,  # reaches the server (under gRPC's 8 KiB metadata limit)
        "z" * 10 * 1024,  # over it: gRPC may refuse the call before any handler runs
    ],
)
async def test_a_hostile_request_id_is_not_echoed_or_logged(stub: Any, hostile: str, logs: Any) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await stub.MintKey(NO_SCOPE, metadata=((KEY, hostile),))
    if failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT:  # the call reached the server
        [generated] = echoed(failed.value.trailing_metadata())
        assert GENERATED.fullmatch(generated)
    else:  # gRPC itself refused headers this large before any handler ran
        assert failed.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert echoed(failed.value.trailing_metadata()) == []
    assert all(hostile[:100] not in r.getMessage() for r in logs.records)


@pytest.mark.parametrize("hostile", ["line\nforged", "tab\there", "bell\x07", "caf\u00e9"])
async def test_a_request_id_with_control_or_non_ascii_characters_never_reaches_a_log(
    stub: Any, hostile: str, logs: Any
) -> None:
    """gRPC refuses such metadata before sending it (the server's own guard is tested in tests/unit)."""
    with pytest.raises(Exception) as refused:
        await stub.MintKey(NO_SCOPE, metadata=((KEY, hostile),))
    assert not isinstance(refused.value, grpc.aio.AioRpcError) or refused.value.code() != grpc.StatusCode.OK
    assert all(hostile not in r.getMessage() for r in logs.records)
    assert not [x for x in lines(logs, "effectd.rpc") if x["code"] == "missing_execution_scope_id"]
