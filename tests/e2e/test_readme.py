"""The README's first commands work as written (issue 12 §2): its command-line block and its SDK
program run in order against a fresh server, twice (each uses sessions of its own, so a second run on
the same server works too)."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

from .conftest import ServerProcess, clean_env

README = Path(__file__).resolve().parents[2] / "README.md"


def block(after_heading: str, language: str) -> str:
    """The first ```language block after the heading."""
    text = README.read_text()
    start = text.index(after_heading)
    match = re.compile(rf"```{language}\n(.*?)```", re.DOTALL).search(text, start)
    assert match is not None, (after_heading, language)
    return match.group(1)


async def run(argv: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=clean_env(env)
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_the_command_line_block_runs_as_written(server: ServerProcess) -> None:
    script = block("## The command line", "sh")
    env = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "EFFECTD_TARGET": server.target}
    for attempt in range(2):
        rc, out, err = await run(["bash", "-e", "-c", script], env)
        assert rc == 0 and "Traceback" not in err, (attempt, rc, out, err)
        if attempt == 0:
            assert '{"status":"accepted"}' in out and '"payload":{"answer":42}' in out, out


async def test_the_sdk_program_runs_as_written(server: ServerProcess) -> None:
    program = block("## The SDK", "python").replace("127.0.0.1:50551", server.target)
    for attempt in range(2):
        rc, out, err = await run([sys.executable, "-c", program], {})
        assert rc == 0, (attempt, out, err)
