"""`effectd serve --admin-listen HOST:PORT` serves the web console under /console/ beside gRPC, and SIGTERM still drains
and exits while a live page holds a server-sent event stream open."""

from __future__ import annotations

import signal
from pathlib import Path

import aiohttp
from effectd import CustomWait, TurnScope

from .conftest import SpawnServer, free_port, run_cli


async def test_serve_with_a_console(spawn_server: SpawnServer, tmp_path: Path) -> None:
    port, console_port = free_port(), free_port()
    server = await spawn_server(
        args=[
            "serve",
            "--listen",
            f"127.0.0.1:{port}",
            "--db",
            str(tmp_path / "console.db"),
            "--admin-listen",
            f"127.0.0.1:{console_port}",
        ],
        port=port,
    )
    assert f'"admin_listen": "127.0.0.1:{console_port}"' in server.log()
    async with await server.connect() as client:
        await client.mint_key(TurnScope("console-e2e", "t1"), CustomWait("shown"))

    base = f"http://127.0.0.1:{console_port}"
    async with aiohttp.ClientSession() as http:
        async with http.get(base + "/", allow_redirects=False) as root:
            assert root.status == 302 and root.headers["Location"] == "/console/"
        async with http.get(base + "/console/sessions") as sessions:
            assert sessions.status == 200
            assert "console-e2e" in await sessions.text()
            assert "default-src 'self'" in sessions.headers["Content-Security-Policy"]
        async with http.get(base + "/console/static/console.css") as css:
            assert css.status == 200
        live = await http.get(base + "/console/live/overview")
        assert live.headers["Content-Type"] == "text/event-stream"
        assert (await live.content.readline()).startswith(b"event: counts")

        server.signal(signal.SIGTERM)
        assert await server.wait_exit(30) == 0
        live.release()


async def test_serve_refuses_a_bad_admin_address(tmp_path: Path) -> None:

    result = await run_cli("serve", "--db", str(tmp_path / "x.db"), "--admin-listen", "no-port")
    assert result.rc != 0
    assert "admin_listen must be HOST:PORT" in result.stderr
