"""A tiny agent runtime for test_mcp_workers.py: it calls MCP tools through effectd and a worker.

    python -m tests.e2e.mcp_runtime TARGET OUTCOMES_FILE [--replay]

It calls each tool of `CALLS` with `ToolEffects.call_tool` (routed to a worker that offers the tool) and
appends one JSON line per call to OUTCOMES_FILE: the replay key and the outcome's lash-json text, as
received. Then it prints `done` and waits to be killed. With `--replay` every call must be a replay
(strict replay: a missing record is an error, nothing can run again), and it exits 0 after the calls.
"""

from __future__ import annotations

import asyncio
import json
import sys

from effectd import Client, RemoteEffectController, RuntimeScope, ToolEffects, TurnScope
from effectd._lashjson import JsonValue, dumps

SCOPE = TurnScope("mcp-e2e", "turn-1")
RUNTIME = RuntimeScope("mcp-e2e", "turn-1", 0, 0)
CALLS: list[tuple[str, str, JsonValue]] = [
    ("mcp:echo", "echo", {"text": "hello"}),
    ("mcp:add", "add", {"a": 40, "b": 2}),
    ("mcp:fail", "fail", {"reason": "disk full"}),
]


def append_line(path: str, line: str) -> None:
    with open(path, "a", encoding="utf-8") as out:
        out.write(line)


async def run(target: str, outcomes_file: str, replay: bool) -> None:
    async with await Client.connect(target) as client:
        effects = ToolEffects(RemoteEffectController(client).scoped(SCOPE), RUNTIME)
        for replay_key, tool, arguments in CALLS:
            outcome = await effects.call_tool(tool, arguments, replay_key=replay_key, strict_replay=replay)
            append_line(outcomes_file, json.dumps({"replay_key": replay_key, "outcome": dumps(outcome)}) + "\n")
        print("done", flush=True)
        if not replay:
            await asyncio.Event().wait()  # killed here with -9


if __name__ == "__main__":
    asyncio.run(run(sys.argv[1], sys.argv[2], "--replay" in sys.argv[3:]))
