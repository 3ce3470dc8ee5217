"""The console over HTTP on a real server (both stores): with tokens configured only the admin role gets
in (a browser through the login page), forms write nothing without the form token and the confirmation,
and caller text is escaped."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from effectd import CustomWait, Ok, TurnScope
from effectd._client import Client, KeyPending
from effectd_server import RunningServer
from effectd_server.console import console_app
from effectd_server.edge.auth import Authorizer, append_token

from tests.console_seed import seed

TOKENS: dict[str, str] = {}
ADMIN: dict[str, str] = {}


@pytest.fixture
async def http(server: RunningServer, tmp_path: Path) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    tokens_file = str(tmp_path / "tokens.toml")
    TOKENS.update({role: append_token(tokens_file, role) for role in ("admin", "runtime")})  # type: ignore[arg-type]
    ADMIN["Authorization"] = f"Bearer {TOKENS['admin']}"
    root = web.Application()
    root.add_subapp("/console/", console_app(server.parts, authorizer=Authorizer(tokens_file)))
    async with TestClient(TestServer(root, host="127.0.0.1", port=0)) as client:
        yield client


async def test_only_the_admin_role_gets_in(http: TestClient[web.Request, web.Application], client: Client) -> None:
    seeded = await seed(client)
    runtime = {"Authorization": f"Bearer {TOKENS['runtime']}"}
    for path in ("", "sessions", "keys", f"key?id={seeded.pending.key_id}", "journal", "processes", "workers"):
        assert (await http.get("/console/" + path)).status == 401, path
        assert (await http.get("/console/" + path, headers={"Authorization": "Bearer nope"})).status == 401, path
        assert (await http.get("/console/" + path, headers=runtime)).status == 403, path
        assert (await http.get("/console/" + path, headers=ADMIN)).status == 200, path
    assert (await http.get("/console/live/overview")).status == 401
    refused_post = await http.post("/console/key/cancel", data={"key_id": seeded.pending.key_id})
    assert refused_post.status == 401
    assert (await http.get("/console/static/console.js")).status == 200  # no data in static files


async def test_a_browser_signs_in_with_an_admin_token(
    http: TestClient[web.Request, web.Application], client: Client
) -> None:
    await seed(client)
    html = {"Accept": "text/html"}
    sent = await http.get("/console/sessions", headers=html, allow_redirects=False)
    assert sent.status == 303 and sent.headers["Location"] == "/console/login"
    assert "Admin token" in await (await http.get("/console/login", headers=html)).text()
    wrong_role = await http.post("/console/login", data={"token": TOKENS["runtime"]}, allow_redirects=False)
    assert wrong_role.status == 403 and "not admin" in await wrong_role.text()
    signed_in = await http.post("/console/login", data={"token": TOKENS["admin"]}, allow_redirects=False)
    assert signed_in.status == 303
    cookie = signed_in.cookies["effectd_token"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    # The session cookie now opens every page.
    assert (await http.get("/console/sessions", headers=html)).status == 200


def form_token(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


async def test_forms_need_the_token_and_the_confirmation(
    http: TestClient[web.Request, web.Application], client: Client
) -> None:
    seeded = await seed(client)
    key_page = await (await http.get(f"/console/key?id={seeded.pending.key_id}", headers=ADMIN)).text()
    token = form_token(key_page)
    fields = {"key_id": seeded.pending.key_id, "outcome": "ok", "payload": '{"n": 1}'}

    stale = await http.post("/console/key/resolve", data={**fields, "csrf": "forged"}, headers=ADMIN)
    assert stale.status == 403
    confirm = await http.post("/console/key/resolve", data={**fields, "csrf": token}, headers=ADMIN)
    assert confirm.status == 200 and "Confirm resolve" in await confirm.text()
    assert isinstance(await client.peek(seeded.pending), KeyPending)

    done = await http.post(
        "/console/key/resolve", data={**fields, "csrf": token, "confirmed": "yes"}, headers=ADMIN, allow_redirects=False
    )
    assert done.status == 303 and "result=accepted" in done.headers["Location"]
    assert await client.peek(seeded.pending) == Ok({"n": 1})

    again = await http.post(
        "/console/key/resolve", data={**fields, "csrf": token, "confirmed": "yes"}, headers=ADMIN, allow_redirects=False
    )
    assert "result=already_resolved" in again.headers["Location"]

    err_without_code = {"key_id": seeded.waited.key_id, "outcome": "err", "code": " ", "csrf": token}
    bad = await http.post("/console/key/resolve", data=err_without_code, headers=ADMIN)
    assert bad.status == 400 and "an err resolution needs a code" in await bad.text()


async def test_caller_text_is_escaped(http: TestClient[web.Request, web.Application], client: Client) -> None:
    hostile = "<script>alert(1)</script>"
    key = await client.mint_key(TurnScope(hostile, "t"), CustomWait(hostile))
    for path in ("sessions", f"key?id={key.key_id}", "keys?state=any"):
        body = await (await http.get("/console/" + path, headers=ADMIN)).text()
        assert hostile not in body, path
        assert "&lt;script&gt;" in body, path
