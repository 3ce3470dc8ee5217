"""An MCP server for the bridge tests, written with the MCP SDK's own server library (stdio).

It appends one JSON line per event to the file named by ``--count-file`` (opened and closed per line, so
a crash loses nothing written before it): ``{"event": "call", "tool": ..., "arguments": ...}`` for every
tools/call it receives, ``{"event": "cancelled", "tool": ...}`` when a call is cancelled, and
``{"event": "start", "pid": ...}`` when the process starts. Tools:

- ``echo {text}``: succeeds with the text as one text block;
- ``fail {reason}``: a result marked as an error (isError);
- ``add {a, b}``: declares an output schema and returns structured content ``{"sum": a + b}``;
- ``progress {steps}``: reports progress 1..steps, then succeeds;
- ``wait_cancel``: waits until the client cancels it (records ``cancelled``);
- ``crash``: exits the process in the middle of the call (with ``--crash-marker PATH``: only when PATH
  does not exist yet, creating it first, so the call succeeds on the restarted server);
- ``add_tool {name}``: adds a tool ``name`` (an echo) while running and announces that the list changed.

Tools are listed two per page, so a client must follow the cursor. ``--legacy`` refuses the 2026
``server/discover`` probe, so clients fall back to the initialize handshake, where the list change is a
plain notification (in the 2026 era it rides a ``subscriptions/listen`` stream). ``--http-port-file``
serves Streamable HTTP on a free loopback port instead, and writes the port to that file.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
from typing import Any

import anyio
import mcp_types as types
import uvicorn
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.lowlevel.server import NotificationOptions
from mcp.server.runner import serve_loop
from mcp.server.stdio import stdio_server
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler
from mcp.shared.exceptions import MCPError
from mcp.shared.subscriptions import ToolsListChanged
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

PAGE_SIZE = 2

_OBJECT: dict[str, Any] = {"type": "object"}


def _tool(name: str, properties: dict[str, Any], required: list[str], **extra: Any) -> types.Tool:
    schema = {**_OBJECT, "properties": properties, "required": required, "additionalProperties": False}
    return types.Tool(name=name, description=f"the {name} tool", input_schema=schema, **extra)


BUILTIN_TOOLS = [
    _tool("echo", {"text": {"type": "string"}}, ["text"]),
    _tool("fail", {"reason": {"type": "string"}}, ["reason"]),
    _tool(
        "add",
        {"a": {"type": "integer"}, "b": {"type": "integer"}},
        ["a", "b"],
        output_schema={**_OBJECT, "properties": {"sum": {"type": "integer"}}, "required": ["sum"]},
    ),
    _tool("progress", {"steps": {"type": "integer", "minimum": 1}}, ["steps"]),
    _tool("wait_cancel", {}, []),
    _tool("crash", {}, []),
    _tool("add_tool", {"name": {"type": "string"}}, ["name"]),
]


class CountingServer:
    def __init__(self, name: str, version: str, count_file: str, legacy: bool, crash_marker: str | None = None) -> None:
        self.count_file = count_file
        self.crash_marker = crash_marker
        self.legacy = legacy
        self.tools = list(BUILTIN_TOOLS)
        self.bus = InMemorySubscriptionBus()
        self.server: Server[Any] = Server(
            name,
            version=version,
            on_list_tools=self.list_tools,
            on_call_tool=self.call_tool,
            on_subscriptions_listen=ListenHandler(self.bus),
        )
        if legacy:
            self.server.add_request_handler("server/discover", types.RequestParams, self.refuse_discover)

    def record(self, event: dict[str, Any]) -> None:
        with open(self.count_file, "a", encoding="utf-8") as out:
            out.write(json.dumps(event) + "\n")

    def first_crash(self) -> bool:
        """Whether `crash` exits now: always, or with a marker only the first time."""
        if self.crash_marker is None:
            return True
        if os.path.exists(self.crash_marker):
            return False
        with open(self.crash_marker, "w", encoding="utf-8"):
            return True

    async def refuse_discover(self, ctx: ServerRequestContext[Any], params: types.RequestParams) -> Any:
        raise MCPError(code=types.METHOD_NOT_FOUND, message="Method not found")

    async def list_tools(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        start = int(params.cursor) if params is not None and params.cursor else 0
        end = start + PAGE_SIZE
        next_cursor = str(end) if end < len(self.tools) else None
        return types.ListToolsResult(tools=self.tools[start:end], next_cursor=next_cursor)

    async def call_tool(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        arguments = params.arguments or {}
        self.record({"event": "call", "tool": params.name, "arguments": arguments})
        if params.name == "echo" or params.name not in {tool.name for tool in BUILTIN_TOOLS}:
            return _text(str(arguments.get("text", "")))
        if params.name == "fail":
            return types.CallToolResult(content=[_block(f"it broke: {arguments['reason']}")], is_error=True)
        if params.name == "add":
            total = arguments["a"] + arguments["b"]
            return types.CallToolResult(content=[_block(str(total))], structured_content={"sum": total})
        if params.name == "progress":
            steps = int(arguments["steps"])
            for step in range(1, steps + 1):
                await ctx.session.report_progress(step, steps, f"step {step}")
            return _text("done")
        if params.name == "wait_cancel":
            try:
                await anyio.sleep_forever()
            except anyio.get_cancelled_exc_class():
                self.record({"event": "cancelled", "tool": params.name})
                raise
        if params.name == "crash":
            if self.first_crash():
                os._exit(3)
            return _text("survived")
        if params.name == "add_tool":
            self.tools.append(_tool(str(arguments["name"]), {"text": {"type": "string"}}, ["text"]))
            if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
                await self.bus.publish(ToolsListChanged())
            else:
                await ctx.session.send_tool_list_changed()
            return _text("added")
        raise MCPError(code=types.METHOD_NOT_FOUND, message=f"unknown tool {params.name}")

    async def serve_http(self, listener: socket.socket) -> None:
        """Streamable HTTP on an already listening socket."""
        self.record({"event": "start", "pid": os.getpid()})
        app = self.server.streamable_http_app()
        await uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on")).serve([listener])

    async def run(self) -> None:
        self.record({"event": "start", "pid": os.getpid()})
        options = self.server.create_initialization_options(NotificationOptions(tools_changed=True))
        async with stdio_server() as (read_stream, write_stream):
            if not self.legacy:
                await self.server.run(read_stream, write_stream, options)
                return
            # The handshake-only loop: a 2025-era server.
            async with self.server.lifespan(self.server) as state:
                await serve_loop(self.server, read_stream, write_stream, lifespan_state=state, init_options=options)


def _block(text: str) -> types.TextContent:
    return types.TextContent(type="text", text=text)


def _text(text: str) -> types.CallToolResult:
    return types.CallToolResult(content=[_block(text)])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", default="counting")
    parser.add_argument("--version", default="1.0.0")
    parser.add_argument("--count-file", required=True)
    parser.add_argument("--legacy", action="store_true")
    parser.add_argument("--crash-marker", help="`crash` exits only when this file does not exist yet")
    parser.add_argument("--http-port-file", help="serve Streamable HTTP instead of stdio; the port goes here")
    args = parser.parse_args()
    server = CountingServer(args.name, args.version, args.count_file, args.legacy, args.crash_marker)
    if args.http_port_file is None:
        anyio.run(server.run)
        return
    # Listening before the port is published: a client that reads it can connect at once.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    with open(args.http_port_file + ".tmp", "w", encoding="utf-8") as out:
        out.write(str(listener.getsockname()[1]))
    os.replace(args.http_port_file + ".tmp", args.http_port_file)
    anyio.run(server.serve_http, listener)


if __name__ == "__main__":
    main()
