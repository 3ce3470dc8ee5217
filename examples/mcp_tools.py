"""MCP tools served by a worker and recorded once: a runtime calls an MCP server's tool through effectd,
crashes, starts again and gets the recorded result back instead of calling the tool a second time.

    make run                                  # in one terminal
    .venv/bin/python examples/mcp_tools.py    # in another (EFFECTD_TARGET picks another server)

The example starts three kinds of processes:
- a worker, `effectd worker run --mcp ledger=...`, which starts this file's small MCP server (stdio,
  written with the official `mcp` SDK) and offers its tools `charge` and `send_receipt` to effectd;
- the runtime, twice: the first run charges the card through effectd and the worker, then crashes
  before it sends the receipt; the second run replays the charge (the MCP server is not called again)
  and sends the receipt.
Needs `effectd[mcp]`.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
from effectd import Client, RemoteEffectController, RuntimeScope, ToolEffects, TurnScope, into_tool_call
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

TARGET = os.environ.get("EFFECTD_TARGET", "127.0.0.1:50551")
CRASHED = 17


# -- the MCP server (what the worker starts) --------------------------------------------------------


def mcp_server(ledger: Path) -> None:
    """A stdio MCP server with two tools; every call it receives is a line in the ledger."""
    integer = {"type": "integer"}
    order: dict[str, Any] = {"type": "object", "properties": {"order": integer}, "required": ["order"]}
    tools = [
        types.Tool(
            name="charge",
            description="charge the card for an order",
            input_schema={**order, "properties": {"order": integer, "amount": integer}},
            output_schema={"type": "object", "properties": {"charge_id": {"type": "string"}}},
        ),
        types.Tool(name="send_receipt", description="email the receipt of an order", input_schema=order),
    ]

    async def list_tools(ctx: ServerRequestContext[Any], params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tools)

    async def call_tool(ctx: ServerRequestContext[Any], params: types.CallToolRequestParams) -> types.CallToolResult:
        arguments = params.arguments or {}
        with ledger.open("a") as out:  # the side effect that must happen once
            out.write(json.dumps({"tool": params.name, "arguments": arguments}) + "\n")
        if params.name == "charge":
            charged = {"charge_id": f"ch_{arguments['order']}", "amount": arguments["amount"]}
            return types.CallToolResult(
                content=[types.TextContent(type="text", text="charged")], structured_content=charged
            )
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=f"receipt sent for {arguments['order']}")]
        )

    server: Server[Any] = Server("ledger", version="1.0.0", on_list_tools=list_tools, on_call_tool=call_tool)

    async def run() -> None:
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())

    anyio.run(run)


# -- the runtime ------------------------------------------------------------------------------------


async def runtime(session: str, crash: bool) -> None:
    """One turn of an agent: two tool calls, each journaled by (scope, replay key), run by a worker."""
    async with await Client.connect(TARGET) as client:
        scoped = RemoteEffectController(client).scoped(TurnScope(session, "turn-1"))
        effects = ToolEffects(scoped, RuntimeScope(session, "turn-1", 0, 0))
        charged = await effects.call_tool("charge", {"order": 7, "amount": 12}, replay_key=f"{session}:charge")
        print(f"  [runtime] charge -> {into_tool_call(charged)['output']}")
        if crash:
            print("  [runtime] crashing before the receipt is sent")
            sys.stdout.flush()
            os._exit(CRASHED)  # no cleanup, as in a real crash
        sent = await effects.call_tool("send_receipt", {"order": 7}, replay_key=f"{session}:receipt")
        print(f"  [runtime] send_receipt -> {into_tool_call(sent)['output']}")


# -- the example ------------------------------------------------------------------------------------


async def offered(names: set[str]) -> None:
    """Wait until a live worker offers the tools."""
    async with await Client.connect(TARGET) as client, asyncio.timeout(60):
        while not names <= {tool.name for tool in await client.list_tools()}:  # noqa: ASYNC110 (polls effectd)
            await asyncio.sleep(0.1)


def effectd_command() -> str:
    beside = Path(sys.executable).with_name("effectd")
    found = str(beside) if beside.exists() else shutil.which("effectd")
    if found is None:
        raise SystemExit("the `effectd` command is not installed")
    return found


def main() -> None:
    session = f"example-mcp-{secrets.token_hex(4)}"
    with tempfile.TemporaryDirectory() as folder:
        ledger = Path(folder) / "ledger.jsonl"
        server_command = f"{sys.executable} {__file__} --mcp-server {ledger}"
        worker_command = [
            effectd_command(), "--target", TARGET, "worker", "run", "--worker-id", session,
            "--mcp", f"ledger={server_command}",
        ]  # fmt: skip
        print("starting a worker with the MCP server `ledger`")
        worker = subprocess.Popen(worker_command, stdout=subprocess.DEVNULL)
        try:
            asyncio.run(offered({"charge", "send_receipt"}))
            for attempt, crash in ((1, True), (2, False)):
                print(f"run {attempt} of the runtime{' (it will crash)' if crash else ''}:")
                args = [sys.executable, __file__, "--runtime", session] + (["--crash"] if crash else [])
                code = subprocess.run(args, check=False).returncode
                assert code == (CRASHED if crash else 0), f"run {attempt} exited with {code}"
        finally:
            worker.send_signal(signal.SIGTERM)  # drains: finishes what it holds, stops its MCP server
            worker.wait(timeout=30)
        calls = [json.loads(line)["tool"] for line in ledger.read_text().splitlines()]
        assert calls == ["charge", "send_receipt"], calls
        print(f"the MCP server was called once per tool: {calls}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--mcp-server"]:
        mcp_server(Path(sys.argv[2]))
    elif sys.argv[1:2] == ["--runtime"]:
        asyncio.run(runtime(sys.argv[2], "--crash" in sys.argv[3:]))
    else:
        main()
