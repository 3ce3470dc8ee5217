"""The console over HTTP on a real server (both stores): the authorize seam guards every route, forms
write nothing without the form token and the confirmation, and caller text is escaped."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from effectd import CustomWait, Ok, TurnScope
from effectd._client import Client, KeyPending
from effectd_server import RunningServer
from effectd_server.console import console_app

from tests.console_seed import seed


async def refuse(request: web.Request) -> None:
    if request.headers.get("Authorization") != "Bearer admin-token":
        raise web.HTTPForbidden(text="the console needs the admin role")


@pytest.fixture
async def http(server: RunningServer) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    root = web.Application()
    root.add_subapp("/console/", console_app(server.parts, authorize=refuse))
    async with TestClient(TestServer(root, host="127.0.0.1", port=0)) as client:
        yield client


ADMIN = {"Authorization": "Bearer admin-token"}


async def test_authorize_guards_every_route(http: TestClient[web.Request, web.Application], client: Client) -> None:
    seeded = await seed(client)
    for path in ("", "sessions", "keys", f"key?id={seeded.pending.key_id}", "journal", "processes", "workers"):
        refused = await http.get("/console/" + path)
        assert refused.status == 403, path
        allowed = await http.get("/console/" + path, headers=ADMIN)
        assert allowed.status == 200, path
    assert (await http.get("/console/live/overview")).status == 403
    assert (await http.get("/console/static/console.js")).status == 403
    refused_post = await http.post("/console/key/cancel", data={"key_id": seeded.pending.key_id})
    assert refused_post.status == 403


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
