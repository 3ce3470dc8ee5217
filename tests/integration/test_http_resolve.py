"""The HTTP resolve endpoint (issue 12 §3) through aiohttp's client against a real server on port 0:
the same first-writer-wins rules, strict JSON and size limits as the gRPC servicer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import Any

import aiohttp
import grpc
import pytest
from effectd import AuthError, AwaitEventKey, CustomWait, Err, ExternalCompletionError, Ok, TurnScope
from effectd._client import Client
from effectd_server import RunningServer
from effectd_server.http import start_http_listener
from effectd_server.http.auth import ACTION_METHODS

from tests.integration.conftest import ServerFactory

SCOPE = TurnScope("http-session", "turn-1")


@pytest.fixture
async def http_server(start_server: ServerFactory) -> AsyncIterator[RunningServer]:
    async with start_server(http_listen="127.0.0.1:0") as running:
        yield running


@pytest.fixture
async def client(http_server: RunningServer) -> AsyncIterator[Client]:
    async with await Client.connect(http_server.target) as connected:
        yield connected


@pytest.fixture
async def http(http_server: RunningServer) -> AsyncIterator[aiohttp.ClientSession]:
    assert http_server.http is not None
    async with aiohttp.ClientSession(base_url=http_server.http.url) as session:
        yield session


async def _post(http: aiohttp.ClientSession, token: str, body: str | bytes) -> tuple[int, Any]:
    async with http.post(f"/v1/resolve/{token}", data=body) as response:
        return response.status, await response.json()


async def _key(client: Client, name: str) -> AwaitEventKey:
    return await client.mint_key(SCOPE, CustomWait(name))


async def test_accepted_once_then_the_winner(client: Client, http: aiohttp.ClientSession) -> None:
    key = await _key(client, "first")
    body = '{"ok": {"big": 18446744073709551615, "float": 1.0, "neg": -9223372036854775808}}'
    assert await _post(http, key.token, body) == (200, {"status": "accepted"})
    # Exact numbers are kept: what the SDK reads back is what the sender wrote.
    resolution = await client.await_event(key, timeout=5)
    assert resolution == Ok({"big": 2**64 - 1, "float": 1.0, "neg": -(2**63)})
    assert isinstance(resolution, Ok) and isinstance(resolution.payload["float"], float)  # type: ignore[index]

    status, answer = await _post(http, key.token, '{"cancelled": true}')
    assert status == 409
    assert answer["status"] == "already_resolved"
    assert answer["terminal"]["status"] == "ok" and answer["terminal"]["payload"]["big"] == 2**64 - 1


async def test_a_resend_of_the_winner_is_200(client: Client, http: aiohttp.ClientSession) -> None:
    key = await _key(client, "resend")
    body = '{"ok": [1, 2]}'
    assert await _post(http, key.token, body) == (200, {"status": "accepted"})
    assert await _post(http, key.token, body) == (
        200,
        {"status": "already_resolved", "terminal": {"status": "ok", "payload": [1, 2]}},
    )


async def test_err_and_cancelled_bodies(client: Client, http: aiohttp.ClientSession) -> None:
    failed, cancelled = await _key(client, "err"), await _key(client, "cancelled")
    body = '{"err": {"code": "tool_failed", "message": "it broke", "raw": {"exit": 3}}}'
    assert await _post(http, failed.token, body) == (200, {"status": "accepted"})
    assert await client.await_event(failed, timeout=5) == Err(
        ExternalCompletionError("tool_failed", "it broke", {"exit": 3})
    )
    assert await _post(http, cancelled.token, '{"cancelled": true}') == (200, {"status": "accepted"})
    async with http.get(f"/v1/keys/{cancelled.token}") as response:
        assert response.status == 200
        assert await response.json() == {"status": "resolved", "terminal": {"status": "cancelled"}}


async def test_unknown_tampered_and_revoked_keys_are_404(client: Client, http: aiohttp.ClientSession) -> None:
    key = await _key(client, "tampered")
    position = len(key.token) - 2
    tampered = key.token[:position] + ("A" if key.token[position] != "A" else "B") + key.token[position + 1 :]
    for token in (tampered, "ek1_" + "x" * 40, "not-a-token"):
        assert await _post(http, token, '{"ok": 1}') == (404, {"status": "unknown_or_revoked"})
        async with http.get(f"/v1/keys/{token}") as response:
            assert (response.status, await response.json()) == (404, {"status": "unknown_or_revoked"})
    revoked = await client.mint_key(TurnScope("http-revoked", "t"), CustomWait("r"))
    await client.revoke_session("http-revoked")
    assert await _post(http, revoked.token, '{"ok": 1}') == (404, {"status": "unknown_or_revoked"})


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"not json", "invalid_json"),
        (b"", "invalid_json"),
        (b'{"ok": 1, "ok": 2}', "invalid_json"),
        (b'{"ok": NaN}', "invalid_json"),
        (b"\xff\xfe", "invalid_json"),
        (b"[" * 200 + b"]" * 200, "invalid_json"),
        (b'{"ok": 1, "cancelled": true}', "invalid_resolution"),
        (b'{"cancelled": false}', "invalid_resolution"),
        (b'{"err": {"message": "no code"}}', "invalid_resolution"),
        (b'{"err": {"code": " ", "message": "blank code"}}', "invalid_resolution"),
        (b'{"timeout": true}', "invalid_resolution"),
        (b"[1]", "invalid_resolution"),
    ],
)
async def test_a_bad_body_is_400_and_resolves_nothing(
    client: Client, http: aiohttp.ClientSession, body: bytes, code: str
) -> None:
    key = await _key(client, "bad-body")
    status, answer = await _post(http, key.token, body)
    assert status == 400
    assert answer["code"] == code and answer["message"]
    async with http.get(f"/v1/keys/{key.token}") as response:
        assert await response.json() == {"status": "pending", "deadline_unix_ms": None}


async def test_size_limits_as_on_grpc(client: Client, http_server: RunningServer, http: aiohttp.ClientSession) -> None:
    key = await _key(client, "large")
    limit = http_server.config.limits.max_payload_bytes
    just_over = '{"ok": "' + "x" * limit + '"}'
    status, answer = await _post(http, key.token, just_over)
    assert (status, answer["code"]) == (413, "payload_too_large")
    far_over = '{"ok": "' + "x" * (2 * limit) + '"}'
    status, answer = await _post(http, key.token, far_over)
    assert (status, answer["code"]) == (413, "payload_too_large")
    long_token = "ek1_" + "A" * http_server.config.limits.max_key_bytes
    status, answer = await _post(http, long_token, '{"ok": 1}')
    assert (status, answer["code"]) == (414, "id_too_long")
    async with http.get(f"/v1/keys/{key.token}") as response:
        assert (await response.json())["status"] == "pending"


async def test_peek_shows_the_deadline(client: Client, http: aiohttp.ClientSession) -> None:
    key = await _key(client, "deadline")
    waiting = asyncio.create_task(client.await_event(key, timeout=3600))
    try:
        answer: Any = None
        for _ in range(200):  # until the waiter's durable deadline is stored
            async with http.get(f"/v1/keys/{key.token}") as response:
                answer = await response.json()
            if answer["deadline_unix_ms"] is not None:
                break
            await asyncio.sleep(0.02)
        assert answer["status"] == "pending" and isinstance(answer["deadline_unix_ms"], int)
    finally:
        waiting.cancel()


async def test_unknown_routes_and_methods_answer_json(http: aiohttp.ClientSession) -> None:
    async with http.get("/v1/nothing") as response:
        assert response.status == 404
        assert (await response.json())["code"] == "invalid_request"
    async with http.get("/v1/resolve/ek1_x") as response:
        assert response.status == 405
        assert (await response.json())["code"] == "invalid_request"


class _Unauthenticated(AuthError):
    status = grpc.StatusCode.UNAUTHENTICATED


class _TokenRoles:
    """A checker as the edge's token authorizer is one: a bearer token's role, and what the role may call."""

    def __init__(self, roles: dict[str, set[str]]) -> None:
        self._roles = roles

    def check(self, method: str, metadata: Iterable[Any] | None) -> None:
        header = dict(metadata or ()).get("authorization", "")
        allowed = self._roles.get(header.removeprefix("Bearer "))
        if allowed is None:
            raise _Unauthenticated("unauthenticated", "this call needs a known bearer token")
        if method not in allowed:
            raise AuthError("permission_denied", f"may not call {method}")


async def test_the_authorisation_seam(client: Client, http_server: RunningServer) -> None:
    checker = _TokenRoles({"resolver": {ACTION_METHODS["resolve"], ACTION_METHODS["peek"]}, "reader": set()})
    listener = await start_http_listener(
        "127.0.0.1:0", http_server.parts["await_events"], http_server.config.limits, checker=checker
    )
    key = await _key(client, "authorised")
    try:
        async with aiohttp.ClientSession(base_url=listener.url) as http:
            status, answer = await _post(http, key.token, '{"ok": 1}')
            assert (status, answer["code"]) == (401, "unauthenticated")
            headers = {"Authorization": "Bearer reader"}
            async with http.post(f"/v1/resolve/{key.token}", data='{"ok": 1}', headers=headers) as response:
                assert (response.status, (await response.json())["code"]) == (403, "permission_denied")
            headers = {"Authorization": "Bearer resolver"}
            async with http.post(f"/v1/resolve/{key.token}", data='{"ok": 1}', headers=headers) as response:
                assert (response.status, await response.json()) == (200, {"status": "accepted"})
    finally:
        await listener.stop()
