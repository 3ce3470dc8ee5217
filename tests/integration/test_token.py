"""Key tokens through a real server (issue 8 §2): every RPC that takes a key takes its token, and a token
with any character changed answers like a tampered key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from effectd import (
    Accepted,
    AlreadyResolved,
    Cancelled,
    CustomWait,
    KeyPending,
    Ok,
    TurnScope,
    UnknownOrRevoked,
    UnknownOrRevokedError,
    WatchRejected,
    WatchTerminal,
    key_from_token,
)
from effectd._client import Client
from effectd._convert_scope import resolution_to_proto
from effectd.v1 import await_events_pb2 as pb
from effectd.v1 import await_events_pb2_grpc as pb_grpc
from effectd.v1 import scope_pb2 as spb
from effectd_server import RunningServer

from tests.integration.codes import provoked

SCOPE = TurnScope("session-1", "turn-1")


def _tampered(token: str) -> list[str]:
    """Tokens with one character changed: early (the scope), in the middle, at the end (the signature)."""
    out = []
    for position in (6, len(token) // 2, len(token) - 2):
        char = "A" if token[position] != "A" else "B"
        out.append(token[:position] + char + token[position + 1 :])
    return [*out, "ek1_" + "x" * 40, "not-a-token"]


@pytest.fixture
async def stub(server: RunningServer) -> AsyncIterator[Any]:
    async with grpc.aio.insecure_channel(server.target) as channel:
        yield pb_grpc.AwaitEventsStub(channel)


async def test_mint_key_returns_the_token(client: Client, stub: Any) -> None:
    key = await client.mint_key(SCOPE, CustomWait("mint"))
    response = await stub.MintKey(
        pb.MintKeyRequest(
            scope=spb.ExecutionScope(turn=spb.TurnScope(session_id="session-1", turn_id="turn-1")),
            wait=spb.AwaitEventWaitIdentity(custom=spb.CustomWait(key="mint")),
        )
    )
    assert response.token == key.token
    assert key_from_token(response.token) == key


async def test_every_key_taking_rpc_accepts_the_token(client: Client, stub: Any) -> None:
    key = await client.mint_key(SCOPE, CustomWait("by-token"))
    token = key.token
    assert await client.peek(token) == KeyPending(None)
    raw_peek = await stub.Peek(pb.PeekRequest(token=token))
    assert raw_peek.WhichOneof("state") == "pending"
    assert await client.resolve(token, Ok({"id": 9007199254740993})) == Accepted()
    assert await client.await_event(token) == Ok({"id": 9007199254740993})
    assert await client.peek(token) == Ok({"id": 9007199254740993})
    assert await client.cancel(token) == AlreadyResolved(Ok({"id": 9007199254740993}))
    many = await client.resolve_many([(token, Ok(2))])
    assert many == [AlreadyResolved(Ok({"id": 9007199254740993}))]
    events = [event async for event in client.watch([token])]
    assert events == [WatchTerminal(key.key_id, Ok({"id": 9007199254740993}), events[0].cursor)]  # type: ignore[union-attr]
    # Raw Await and Watch with tokens.
    terminals = [r async for r in stub.Await(pb.AwaitRequest(token=token))]
    assert terminals[-1].terminal.ok.text == '{"id":9007199254740993}'

    async def watch_requests() -> AsyncIterator[pb.WatchRequest]:
        yield pb.WatchRequest(add_tokens=[token])

    call = stub.Watch(watch_requests())
    async for response in call:
        if response.WhichOneof("event") == "terminal":
            assert response.terminal.key_id == key.key_id
            break
    call.cancel()
    # RevokeKey by token: later uses of the key, by token or structured, are refused.
    other = await client.mint_key(SCOPE, CustomWait("revoke-by-token"))
    await client.revoke_key(other.token)
    assert await client.resolve(other, Ok(1)) == UnknownOrRevoked()
    with pytest.raises(UnknownOrRevokedError):
        await client.peek(other.token)


async def test_cancel_by_token(client: Client) -> None:
    key = await client.mint_key(SCOPE, CustomWait("cancel-by-token"))
    assert await client.cancel(key.token) == Accepted()
    assert await client.peek(key) == Cancelled()


async def test_a_tampered_token_answers_unknown_or_revoked(client: Client, stub: Any) -> None:
    key = await client.mint_key(SCOPE, CustomWait("tampered"))
    for bad in _tampered(key.token):
        assert await client.resolve(bad, Ok(1)) == UnknownOrRevoked(), bad
        assert await client.cancel(bad) == UnknownOrRevoked(), bad
        assert await client.resolve_many([(bad, Ok(1))]) == [UnknownOrRevoked()], bad
        with pytest.raises(UnknownOrRevokedError) as peeked:
            await client.peek(bad)
        assert peeked.value.code == provoked("await_event_unknown_or_revoked")
        with pytest.raises(grpc.aio.AioRpcError) as awaited:
            [r async for r in stub.Await(pb.AwaitRequest(token=bad))]
        assert awaited.value.code() == grpc.StatusCode.NOT_FOUND
        await client.revoke_key(bad)  # revoking what is unusable changes nothing and says nothing
        events = [event async for event in client.watch([bad])]
        assert len(events) == 1 and isinstance(events[0], WatchRejected), bad
        assert events[0].code == "await_event_unknown_or_revoked"
    # The real key was untouched by all of that.
    assert await client.peek(key) == KeyPending(None)
    assert await client.resolve(key.token, Ok("real")) == Accepted()


async def test_an_undecodable_token_in_watch_is_rejected_with_the_token(stub: Any) -> None:
    async def requests() -> AsyncIterator[pb.WatchRequest]:
        yield pb.WatchRequest(add_tokens=["ek1_nonsense"])

    call = stub.Watch(requests())
    async for response in call:
        if response.WhichOneof("event") == "rejected":
            assert response.rejected.token == "ek1_nonsense"
            assert response.rejected.key_id == ""
            assert response.rejected.code == "await_event_unknown_or_revoked"
            break
    call.cancel()


async def test_a_tampered_token_is_like_a_tampered_key_on_the_wire(client: Client, stub: Any) -> None:
    key = await client.mint_key(SCOPE, CustomWait("wire"))
    bad = _tampered(key.token)[-1]
    ok = resolution_to_proto(Ok(1))
    response = await stub.Resolve(pb.ResolveRequest(token=bad, resolution=ok))
    assert response.outcome.WhichOneof("outcome") == "unknown_or_revoked"
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.Peek(pb.PeekRequest(token=bad))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
