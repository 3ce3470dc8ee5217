"""The first hour cannot go wrong (issue 12 §1): every failure of the `effectd` command is one line
`effectd: <code>: <message>` with a status from the one exit table, never a traceback, and long commands
neither hang nor stay silent when the server goes away."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from effectd._cli import EXIT_STATUSES
from effectd._client import Client, KeyPending

from .conftest import EFFECTD, Cli, CliResult, ServerProcess, SpawnServer, clean_env, eventually, free_port, run_cli

SCOPE = '{"type":"turn","session_id":"errors-session","turn_id":"t1"}'
README = Path(__file__).resolve().parents[2] / "README.md"


def one_line(result: CliResult, rc: int, code: str) -> str:
    assert result.rc == rc, result
    assert "Traceback" not in result.stderr, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"effectd: {code}: "), result
    return lines[0]


async def mint(cli: Cli, name: str) -> str:
    result = await cli("key", "mint", "--scope", SCOPE, "--wait", json.dumps({"type": "custom", "key": name}))
    assert result.rc == 0, result
    return str(json.loads(result.stdout)["token"])


def test_the_readme_shows_the_exit_table() -> None:
    readme = README.read_text()
    for status in EXIT_STATUSES:
        assert f"| {status.status} | {status.meaning} |" in readme, status


async def test_bad_input_is_one_line_and_exit_2(cli: Cli, tmp_path: Path) -> None:
    binary = tmp_path / "binary"
    binary.write_bytes(b"\x7fELF\x02\x01\x01\x00\xff\xfe\x00")
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    token = await mint(cli, "bad-input")
    wait = '{"type":"custom","key":"k"}'
    cases = [
        (("key", "mint", "--scope", f"@{binary}", "--wait", wait), "invalid_request"),
        (("resolve", token, "--ok", f"@{deep}"), "invalid_json"),
        (("await", token, "--timeout", "1e17"), "value_out_of_range"),
        (("resolve", token), "invalid_request"),
        (("no-such-command",), "invalid_request"),
        (("sessions", "ls", "--limit", "0"), "value_out_of_range"),
    ]
    for argv, code in cases:
        one_line(await cli(*argv), 2, code)
    extra = '{"type":"turn","session_id":"s","turn_id":"t","extra":1}'
    line = one_line(await cli("key", "mint", "--scope", extra, "--wait", wait), 2, "invalid_request")
    assert "unknown field 'extra'" in line and "__init__" not in line
    # The same error exits the same way wherever it is found: here the server finds it.
    one_line(
        await cli("key", "mint", "--scope", SCOPE.replace("t1", " "), "--wait", wait), 2, "missing_execution_scope_id"
    )


async def test_a_closed_stdout_is_not_a_traceback(server: ServerProcess) -> None:
    proc = await asyncio.create_subprocess_shell(
        f"'{EFFECTD}' --target {server.target} keys list | true",
        stderr=asyncio.subprocess.PIPE,
        env=clean_env(),
    )
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0 and err == b"", err


async def test_a_refused_connection_fails_at_once_not_after_the_connect_timeout() -> None:
    # The connect timeout is a minute: only the refused connection itself can end this command early,
    # and its message says so.
    port = free_port()
    result = await run_cli("--target", f"127.0.0.1:{port}", "--connect-timeout", "60", "peek", "ek1_x", timeout=30)
    line = one_line(result, 3, "unavailable")
    assert "the connection failed" in line


async def test_targets_anywhere_and_comma_separated(server: ServerProcess) -> None:
    dead = f"127.0.0.1:{free_port()}"
    result = await run_cli("keys", "list", "--target", f"{dead},{server.target}")
    assert result.rc == 0 and json.loads(result.stdout)[0]["state"] == "active", result
    result = await run_cli("sessions", "--target", server.target, "ls")
    assert result.rc == 0, result


async def test_await_honours_its_timeout_when_the_server_is_gone(spawn_server: SpawnServer) -> None:
    server = await spawn_server()
    token = await mint(lambda *a: run_cli("--target", server.target, *a), "server-gone")
    proc = await asyncio.create_subprocess_exec(
        EFFECTD,
        "--target",
        server.target,
        "await",
        token,
        "--timeout",
        "4",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=clean_env(),
    )
    async with await server.connect() as client:
        # Once the waiter's deadline is stored, the CLI's Await stream is open on the server.
        await eventually(lambda: _has_deadline(client, token))
    server.kill9()
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    lines = err.decode().splitlines()
    assert proc.returncode == 3 and out == b"", (proc.returncode, out, err)
    assert any("reconnecting" in line for line in lines), lines
    assert lines[-1].startswith("effectd: unavailable: ") and "timeout" in lines[-1], lines


async def _has_deadline(client: Client, token: str) -> bool:
    state = await client.peek(token)
    return isinstance(state, KeyPending) and state.deadline_unix_ms is not None


async def test_watch_timeout_with_keys_pending_exits_5(cli: Cli) -> None:
    pending, resolved = await mint(cli, "watch-pending"), await mint(cli, "watch-resolved")
    assert (await cli("resolve", resolved, "--ok", "1")).rc == 0
    result = await cli("watch", pending, resolved, "--timeout", "1")
    assert result.rc == 5, result
    assert [json.loads(line)["terminal"] for line in result.stdout.splitlines()] == [{"status": "ok", "payload": 1}]
    assert result.stderr.startswith("effectd: timeout: 1 of 2 keys"), result


async def test_await_exit_statuses_for_timeout_and_cancelled(cli: Cli) -> None:
    timed_out, cancelled = await mint(cli, "await-timeout"), await mint(cli, "await-cancelled")
    result = await cli("await", timed_out, "--timeout", "0")
    assert (result.rc, result.stdout) == (5, '{"status":"timeout"}\n'), result
    assert (await cli("cancel", cancelled)).rc == 0
    result = await cli("await", cancelled)
    assert (result.rc, result.stdout) == (6, '{"status":"cancelled"}\n'), result
    revoked = await mint(cli, "await-revoked")
    assert (await cli("revoke-key", revoked)).rc == 0
    one_line(await cli("await", revoked), 4, "await_event_unknown_or_revoked")


async def test_serve_failures_are_one_line(tmp_path: Path) -> None:
    not_a_db = tmp_path / "notes.db"
    not_a_db.write_text("these are notes, not a database\n" * 100)
    listen = f"127.0.0.1:{free_port()}"
    one_line(await run_cli("serve", "--listen", listen, "--db", str(not_a_db)), 1, "store_unavailable")

    missing = tmp_path / "missing" / "dir" / "x.db"
    line = one_line(await run_cli("serve", "--listen", listen, "--db", str(missing)), 2, "invalid_request")
    assert "does not exist" in line and not missing.parent.parent.exists()

    one_line(
        await run_cli("serve", "--db", str(tmp_path / "x.db"), env={"EFFECTD_LOG_LEVEL": "bogus"}), 2, "invalid_request"
    )
    one_line(await run_cli("serve", "--listen", "nonsense"), 2, "invalid_request")
    one_line(await run_cli("serve", "--http-listen", "nonsense"), 2, "invalid_request")

    # Without the postgres extra (asyncpg made unimportable here), a postgresql:// store says what to install.
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "asyncpg.py").write_text("raise ImportError('asyncpg is not installed')\n")
    env = {"PYTHONPATH": str(shadow)}
    result = await run_cli("serve", "--listen", listen, "--store", "postgresql://u@127.0.0.1:1/db", env=env)
    assert "effectd[server,postgres]" in one_line(result, 2, "invalid_request")


async def test_listing_commands(cli: Cli, server: ServerProcess) -> None:
    token = await mint(cli, "listed")
    sessions = [json.loads(line) for line in (await cli("sessions", "ls")).stdout.splitlines()]
    assert {"session_id": "errors-session", "pending": 1, "resolved": 0, "revoked": False} == {
        k: v for k, v in sessions[0].items() if k != "last_activity_unix_ms"
    }
    pending = await cli("keys", "pending", "--session", "errors-session")
    assert pending.rc == 0, pending
    (listed,) = [json.loads(line) for line in pending.stdout.splitlines()]
    assert list(listed)[:2] == ["scope", "wait"] and listed["wait"] == {"type": "custom", "key": "listed"}
    # The listed token resolves the same key.
    assert (await cli("resolve", listed["token"], "--ok", "1")).rc == 0
    peeked = await cli("peek", token)
    assert json.loads(peeked.stdout) == {"status": "ok", "payload": 1}
    result = await cli("effects", "ls")
    assert (result.rc, result.stdout) == (0, ""), result
    del server
