"""Resolve over plain HTTP, as a webhook or an approval link would: no SDK, no gRPC on that side.

.venv/bin/effectd serve --http-listen 127.0.0.1:8080           # in one terminal
.venv/bin/python examples/http_resolve.py                         # in another
(EFFECTD_TARGET and EFFECTD_HTTP pick other addresses; default 127.0.0.1:50551 and http://127.0.0.1:8080)
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import urllib.error
import urllib.request
from typing import Any

from effectd import Client, CustomWait, Ok, TurnScope

TARGET = os.environ.get("EFFECTD_TARGET", "127.0.0.1:50551")
HTTP = os.environ.get("EFFECTD_HTTP", "http://127.0.0.1:8080")


def http(method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """What a webhook sender does: one request, a status and a JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(HTTP + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


async def main() -> None:
    session = f"example-http-{secrets.token_hex(4)}"
    async with await Client.connect(TARGET) as client:
        key = await client.mint_key(TurnScope(session, "turn-1"), CustomWait("payment-webhook"))
        token = key.token  # hand this to the outside system, e.g. in the webhook URL

        print("GET  /v1/keys/{token}    ->", *http("GET", f"/v1/keys/{token}"))
        answers = [
            http("POST", f"/v1/resolve/{token}", {"ok": {"paid": 1200, "currency": "EUR"}}),
            http("POST", f"/v1/resolve/{token}", {"ok": {"paid": 1200, "currency": "EUR"}}),  # a resend
            http("POST", f"/v1/resolve/{token}", {"cancelled": True}),  # too late: another answer won
            http("POST", f"/v1/resolve/{token}", {"okay": 1}),  # a bad body
        ]
        for status, answer in answers:
            print("POST /v1/resolve/{token} ->", status, answer)
        assert [status for status, _ in answers] == [200, 200, 409, 400]

        resolution = await client.await_event(key, timeout=10)
        assert resolution == Ok({"paid": 1200, "currency": "EUR"})
        print("the runtime got", resolution)


if __name__ == "__main__":
    asyncio.run(main())
