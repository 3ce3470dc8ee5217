"""Bearer tokens and roles at the edge: every RPC of the contract called with every role's token, with an
unknown token and with none; the SDK's distinct errors; tokens added while the server runs; the
loopback-only rule. Auth is checked before any store is touched, so these run on SQLite only."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from effectd import (
    AuthError,
    CustomWait,
    Ok,
    PermissionDeniedError,
    TurnScope,
    UnauthenticatedError,
)
from effectd._client import Client, WatchTerminal
from effectd._rpc import error_from_rpc
from effectd_server import RunningServer, ServerConfig, StoreConfig, serve
from effectd_server.config import AuthConfig
from effectd_server.edge.auth import METHOD_ROLES, ROLES, Role, append_token
from effectd_server.server import _SERVICES

from tests.integration.codes import provoked

SCOPE = TurnScope("s", "t")
ALLOWED_CALL_TIMEOUT_S = 2.0


@pytest.fixture
def tokens(tmp_path: Path) -> dict[Role, str]:
    path = str(tmp_path / "tokens.toml")
    return {role: append_token(path, role, name=f"test {role}") for role in ROLES}


@contextlib.asynccontextmanager
async def _server(tmp_path: Path, **auth: object) -> AsyncIterator[RunningServer]:
    config = ServerConfig(
        listen=str(auth.pop("listen", "127.0.0.1:0")),
        store=StoreConfig(url=str(tmp_path / "effectd.db")),
        auth=AuthConfig(**auth),  # type: ignore[arg-type]
    )
    async with serve(config) as running:
        yield running


@pytest.fixture
async def server(tmp_path: Path, tokens: dict[Role, str]) -> AsyncIterator[RunningServer]:
    async with _server(tmp_path, tokens_file=str(tmp_path / "tokens.toml")) as running:
        yield running


def _all_methods() -> list[tuple[str, bool, bool]]:
    """(path, client_streaming, server_streaming) of every RPC the server serves, from the descriptors."""
    return [
        (f"{service.full_name}/{method.name}", method.client_streaming, method.server_streaming)
        for service in _SERVICES.values()
        for method in service.methods
    ]


def test_every_rpc_of_the_contract_has_its_roles() -> None:
    assert {path for path, _, _ in _all_methods()} == set(METHOD_ROLES)
    for path, allowed in METHOD_ROLES.items():
        assert "admin" in allowed, path


async def _status(
    channel: grpc.aio.Channel, path: str, streams: tuple[bool, bool], token: str | None
) -> grpc.aio.AioRpcError | None:
    """Call `path` with an empty request; the error it ended with (None if it succeeded)."""
    metadata = (("authorization", f"Bearer {token}"),) if token is not None else ()
    client_streaming, server_streaming = streams
    path = "/" + path
    identity = bytes
    try:
        if client_streaming and server_streaming:
            call = channel.stream_stream(path, request_serializer=identity, response_deserializer=identity)(
                iter([b""]), metadata=metadata, timeout=ALLOWED_CALL_TIMEOUT_S
            )
            async for _ in call:
                pass
        elif server_streaming:
            stream = channel.unary_stream(path, request_serializer=identity, response_deserializer=identity)(
                b"", metadata=metadata, timeout=ALLOWED_CALL_TIMEOUT_S
            )
            async for _ in stream:
                pass
        else:
            await channel.unary_unary(path, request_serializer=identity, response_deserializer=identity)(
                b"", metadata=metadata, timeout=ALLOWED_CALL_TIMEOUT_S
            )
    except grpc.aio.AioRpcError as exc:
        return exc
    return None


async def test_every_rpc_with_every_role(server: RunningServer, tokens: dict[Role, str]) -> None:
    callers: dict[str, str | None] = {**tokens, "no token": None, "unknown token": "edt_not-a-known-token"}
    async with grpc.aio.insecure_channel(server.target) as channel:
        for path, client_streaming, server_streaming in _all_methods():
            for caller, token in callers.items():
                failure = await _status(channel, path, (client_streaming, server_streaming), token)
                code = None if failure is None else failure.code()
                where = f"{path} as {caller}"
                if token is None or caller == "unknown token":
                    assert code == grpc.StatusCode.UNAUTHENTICATED, where
                    assert failure is not None and error_from_rpc(failure).code == provoked("unauthenticated"), where
                elif caller in METHOD_ROLES[path]:
                    refused = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)
                    assert code not in (*refused, grpc.StatusCode.UNIMPLEMENTED), where
                else:
                    assert code == grpc.StatusCode.PERMISSION_DENIED, where
                    assert failure is not None and error_from_rpc(failure).code == provoked("permission_denied"), where


async def test_the_sdk_raises_distinct_errors_and_streams_carry_the_token(
    server: RunningServer, tokens: dict[Role, str]
) -> None:
    async with await Client.connect(server.target) as anonymous:
        with pytest.raises(UnauthenticatedError) as unauthenticated:
            await anonymous.mint_key(SCOPE, CustomWait("a"))
        assert unauthenticated.value.code == "unauthenticated"
    async with (
        await Client.connect(server.target, token=tokens["runtime"]) as runtime,
        await Client.connect(server.target, token=tokens["resolver"]) as resolver,
    ):
        key = await runtime.mint_key(SCOPE, CustomWait("a"))
        with pytest.raises(PermissionDeniedError) as denied:
            await resolver.mint_key(SCOPE, CustomWait("b"))
        assert denied.value.code == "permission_denied"
        assert isinstance(denied.value, AuthError) and not isinstance(denied.value, UnauthenticatedError)

        # Both streams of the runtime (Await, Watch) go through the token interceptor.
        async def watched() -> list[object]:
            return [item async for item in runtime.watch([key])]

        waiting = asyncio.create_task(runtime.await_event(key))
        watching = asyncio.create_task(watched())
        await resolver.resolve(key, Ok("done"))
        assert await waiting == Ok("done")
        [terminal] = await watching
        assert isinstance(terminal, WatchTerminal) and terminal.resolution == Ok("done")
        with pytest.raises(PermissionDeniedError):
            await resolver.await_event(key)


async def test_tokens_added_while_the_server_runs_are_accepted(
    server: RunningServer, tokens: dict[Role, str], tmp_path: Path
) -> None:
    late = append_token(str(tmp_path / "tokens.toml"), "admin", name="added later")
    async with await Client.connect(server.target, token=late) as admin:
        for _ in range(50):  # the file is looked at again at most once a second
            try:
                await admin.list_signing_keys()
                break
            except UnauthenticatedError:
                await asyncio.sleep(0.1)
        assert [key.state for key in await admin.list_signing_keys()] == ["active"]


async def test_a_non_loopback_listen_needs_tls_and_tokens_or_insecure(
    tmp_path: Path, tokens: dict[Role, str], caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(ValueError, match=r"not a loopback address.*no TLS and no bearer tokens"):
        async with _server(tmp_path, listen="0.0.0.0:0"):
            pass
    with pytest.raises(ValueError, match="no TLS"):
        async with _server(tmp_path, listen="0.0.0.0:0", tokens_file=str(tmp_path / "tokens.toml")):
            pass
    with caplog.at_level(logging.WARNING, logger="effectd.server"):
        async with _server(tmp_path, listen="0.0.0.0:0", insecure=True) as running:
            async with await Client.connect(f"127.0.0.1:{running.port}") as client:
                await client.mint_key(SCOPE, CustomWait("open"))
    assert any("INSECURE" in record.getMessage() for record in caplog.records)
