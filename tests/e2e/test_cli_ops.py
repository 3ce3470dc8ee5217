"""The operator's CLI (issue 11 §4, §6, §7): `effectd serve --admin-listen --log-format json` and
`effectd gc [--dry-run]`, through a running server's admin listener and on a stopped server's file."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import aiohttp
from effectd import CustomWait, Ok, TurnScope

from .conftest import SpawnServer, free_port, run_cli


def json_lines(log: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.splitlines() if line.startswith("{")]


async def test_serve_logs_json_with_one_listening_line_and_one_access_line_per_call(
    spawn_server: SpawnServer, tmp_path: Path
) -> None:
    port, admin = free_port(), free_port()
    db = tmp_path / "ops.db"
    server = await spawn_server(
        args=["serve", "--listen", f"127.0.0.1:{port}", "--db", str(db), "--log-format", "json"],
        port=port,
        env={"EFFECTD_ADMIN_LISTEN": f"127.0.0.1:{admin}", "EFFECTD_RETENTION_JOURNAL_S": "120"},
    )
    async with await server.connect() as client:
        key = await client.mint_key(TurnScope("ops", "t"), CustomWait("logged"))
        await client.resolve(key, Ok({"secret-payload": 1}))
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{admin}/metrics") as response:
        assert response.status == 200
        assert 'effectd_rpc_requests_total{code="OK",method="effectd.v1.AwaitEvents/MintKey"} 1.0' in (
            await response.text()
        )
    server.signal(signal.SIGTERM)
    assert await server.wait_exit(15) == 0

    lines = json_lines(server.log())
    [listening] = [line for line in lines if line.get("event") == "listening"]
    assert listening["level"] == "INFO" and listening["logger"] == "effectd.server"
    assert listening["target"] == f"127.0.0.1:{port}"
    assert listening["config"]["metrics"]["admin_listen"] == f"127.0.0.1:{admin}"
    assert listening["config"]["retention"]["journal_s"] == 120
    assert listening["config"]["logs"]["format"] == "json"
    access = [line for line in lines if line.get("event") == "rpc" and line["logger"] == "effectd.access"]
    assert [line["rpc"] for line in access] == ["effectd.v1.AwaitEvents/MintKey", "effectd.v1.AwaitEvents/Resolve"]
    assert all(line["status"] == "OK" and line["code"] is None and line["peer"] for line in access)
    assert all(line["duration_ms"] >= 0 for line in access)
    assert "secret-payload" not in server.log()  # no payloads in logs


async def test_a_postgres_password_is_redacted_from_the_listening_line(
    spawn_server: SpawnServer, tmp_path: Path
) -> None:
    from tests.pg import fresh_schema, require_postgres, with_query

    await require_postgres()
    async with fresh_schema() as url:
        with_password = url.replace("postgres@", "postgres:hunter2@", 1)
        port = free_port()
        server = await spawn_server(
            args=[
                "serve",
                "--listen",
                f"127.0.0.1:{port}",
                "--store",
                with_query(with_password),
                "--log-format",
                "json",
            ],
            port=port,
        )
        server.signal(signal.SIGTERM)
        await server.wait_exit(15)
        [listening] = [line for line in json_lines(server.log()) if line.get("event") == "listening"]
        served = server.log().split("\n", 1)[1]  # after the harness's own line with the command
        assert "hunter2" not in served
        assert "hunter2" not in listening["config"]["store"]["url"]


async def test_caller_errors_are_info_lines_in_text_format(spawn_server: SpawnServer) -> None:
    server = await spawn_server()
    async with await server.connect() as client:
        try:
            await client.peek("not-a-token")
        except Exception as exc:  # the server refuses it: a caller's error
            assert getattr(exc, "code", None)
    log = server.log()
    [refused] = [line for line in log.splitlines() if '"event": "rpc_error"' in line]
    assert " INFO effectd.rpc " in refused


async def test_gc_through_the_admin_listener_and_on_a_stopped_servers_file(
    spawn_server: SpawnServer, tmp_path: Path
) -> None:
    port, admin = free_port(), free_port()
    db = tmp_path / "gc.db"
    server = await spawn_server(
        args=["serve", "--listen", f"127.0.0.1:{port}", "--db", str(db), "--admin-listen", f"127.0.0.1:{admin}"],
        port=port,
    )
    async with await server.connect() as client:
        key = await client.mint_key(TurnScope("gc", "t"), CustomWait("k"))
        await client.resolve(key, Ok(1))
    # Within the retention (7 days by default): nothing to delete.
    dry = await run_cli("gc", "--dry-run", "--admin", f"127.0.0.1:{admin}")
    assert dry.rc == 0, dry
    assert dry.json() == {"dry_run": True, "deleted": {"journal": 0, "processes": 0, "resolved_keys": 0}}
    swept = await run_cli("gc", "--admin", f"127.0.0.1:{admin}")
    assert swept.json() == {"dry_run": False, "deleted": {"journal": 0, "processes": 0, "resolved_keys": 0}}

    # The file is locked while served: gc says how to sweep it instead.
    locked = await run_cli("gc", "--db", str(db))
    assert locked.rc == 1 and "--admin" in locked.stderr

    server.signal(signal.SIGTERM)
    assert await server.wait_exit(15) == 0
    counted = await run_cli("gc", "--dry-run", "--db", str(db), "--retention-keys", "0.001")
    assert counted.rc == 0, counted
    # The only resolution is the newest, which SQLite keeps (its sequence resumes from it).
    assert counted.json()["deleted"]["resolved_keys"] == 0

    unreachable = await run_cli("gc", "--admin", f"127.0.0.1:{free_port()}")
    assert unreachable.rc == 3 and "admin listener" in unreachable.stderr
    bad = await run_cli("gc", "--db", str(db), "--retention-keys", "-1")
    assert bad.rc == 2 and "retention" in bad.stderr
