"""Every program in examples/ runs to completion against a real server (issue 12 §2), as a user runs it:
`.venv/bin/python examples/NAME.py` with EFFECTD_TARGET naming the server."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from tests.pg import fresh_schema, require_postgres

from .conftest import ServerProcess, SpawnServer, clean_env, free_port

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
RUN_TIMEOUT_S = 120.0

AGAINST_ONE_SERVER = ["await_and_resolve", "journal_replay", "watch_many", "delegate_to_worker", "mcp_tools"]
WITH_OWN_SETUP = ["http_resolve", "two_replicas"]


async def run_example(name: str, *args: str, env: dict[str, str]) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLES / f"{name}.py"),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=clean_env(env),
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), RUN_TIMEOUT_S)
    except BaseException:
        proc.kill()
        await proc.wait()
        raise
    text = out.decode()
    assert proc.returncode == 0, f"examples/{name}.py exited with {proc.returncode}:\n{text}"
    return text


def test_every_example_is_run_here() -> None:
    assert sorted(p.stem for p in EXAMPLES.glob("*.py")) == sorted(AGAINST_ONE_SERVER + WITH_OWN_SETUP)


@pytest.mark.parametrize("name", AGAINST_ONE_SERVER)
async def test_example(name: str, server: ServerProcess) -> None:
    await run_example(name, env={"EFFECTD_TARGET": server.target})


async def test_example_twice_on_the_same_server(server: ServerProcess) -> None:
    """Each run uses sessions of its own: running an example again on the same server works too."""
    for _ in range(2):
        await run_example("await_and_resolve", env={"EFFECTD_TARGET": server.target})


async def test_http_resolve_example(spawn_server: SpawnServer, tmp_path: Path) -> None:
    port, http_port = free_port(), free_port()
    listen = f"127.0.0.1:{port}"
    args = ["serve", "--listen", listen, "--db", str(tmp_path / "http.db"), "--http-listen", f"127.0.0.1:{http_port}"]
    server = await spawn_server(args=args, port=port)
    output = await run_example(
        "http_resolve", env={"EFFECTD_TARGET": server.target, "EFFECTD_HTTP": f"http://127.0.0.1:{http_port}"}
    )
    assert "409" in output


async def test_two_replicas_example() -> None:
    await require_postgres()
    async with fresh_schema() as url:
        output = await run_example("two_replicas", url, env={})
    assert "woke with" in output
