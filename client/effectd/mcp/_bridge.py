"""The MCP bridge: MCP servers' tools as `tool_call` capabilities, called through the official `mcp` SDK.

    async with McpBridge([McpServerSpec.parse("fs=npx server-filesystem /tmp")], on_tools_changed=register) as bridge:
        outcome = await bridge.call_tool("read_file", {"path": "/tmp/x"}, on_progress=report, cancel=cancel)

Each server has one supervisor task: it connects (starting a stdio server as a subprocess), lists the tools
page by page, follows the server's tool-list changes (a notification in the handshake era, a
`subscriptions/listen` stream in the 2026 era) and, when the connection drops (a crashed stdio server),
connects again after a backoff that doubles up to `restart_backoff_max`. A server that is down offers no
tools, so `on_tools_changed` withdraws them and offers them again once it is back.

A call checks its arguments against the tool's input schema first (`invalid_tool_arguments`, nothing
sent), then maps the reply to the outcome a `tool_call` effect records (`_results`). A server that is
down, crashes during the call or does not answer in time raises `McpServerUnavailableError`: not an
answer, so nothing is recorded and the call can run again.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, suppress
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TextIO

import mcp_types as types
from mcp import Client, StdioServerParameters
from mcp.client.session import IncomingMessage
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import ValidationError

from effectd._controller import ExecutorError, LocalExecutor
from effectd._effects import RuntimeEffectEnvelope, ToolCallCommand, ToolCallOutcome
from effectd._lashjson import JsonValue
from effectd._lineage import PreparedToolCall
from effectd.mcp._errors import McpServerUnavailableError
from effectd.mcp._output import ToolCallOutput, completed_tool_call
from effectd.mcp._results import output_from_result, request_error_output, unusable_result_output
from effectd.mcp._schema import ArgumentsValidator
from effectd.mcp._spec import McpServerSpec
from effectd.mcp._transport import WatchedTransport

__all__ = ["McpBridge", "McpServerStatus", "McpTool", "ToolProgress"]

logger = logging.getLogger(__name__)

_MAX_PAGES = 1000
"""A server whose tools/list cursor never ends is cut off here."""


@dataclass(frozen=True, slots=True)
class McpTool:
    """One tool an MCP server offers, as the bridge exposes it."""

    name: str
    """The name callers use: the server's tool name, or `SERVER.tool` when the bridge prefixes."""
    server: str
    """The server's name (its `McpServerSpec.name`)."""
    server_tool: str
    """The tool's name on its server."""
    version: str
    """The server's version, from its initialize answer (or 2026 server info); "" when it gave none."""
    input_schema: dict[str, JsonValue]
    output_schema: dict[str, JsonValue] | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class ToolProgress:
    """A progress notification the server sent during a call."""

    progress: float
    total: float | None = None
    message: str | None = None

    def to_json(self) -> dict[str, JsonValue]:
        value: dict[str, JsonValue] = {"progress": self.progress}
        if self.total is not None:
            value["total"] = self.total
        if self.message is not None:
            value["message"] = self.message
        return value


@dataclass(frozen=True, slots=True)
class McpServerStatus:
    name: str
    target: str
    """The command line or URL."""
    connected: bool
    version: str
    protocol_version: str
    tools: int
    restarts: int
    """Connections made again after the first (a crashed stdio server was restarted)."""
    last_error: str | None


ToolsChanged = Callable[[tuple[McpTool, ...]], Awaitable[None]]
OnProgress = Callable[[ToolProgress], Awaitable[None]]


class McpBridge:
    """Connects MCP servers and serves their tools. Use `async with`, or `start()` and `close()`."""

    def __init__(
        self,
        servers: Sequence[McpServerSpec],
        *,
        prefix: bool = False,
        on_tools_changed: ToolsChanged | None = None,
        call_timeout: float | None = 300.0,
        connect_timeout: float = 30.0,
        restart_backoff: float = 0.5,
        restart_backoff_max: float = 30.0,
    ) -> None:
        names = [spec.name for spec in servers]
        if len(set(names)) != len(names):
            raise ValueError(f"MCP server names must be unique, got {names}")
        if call_timeout is not None and call_timeout <= 0:
            raise ValueError(f"call_timeout must be positive, got {call_timeout!r}")
        if connect_timeout <= 0 or restart_backoff <= 0 or restart_backoff_max < restart_backoff:
            raise ValueError("connect_timeout and restart_backoff must be positive, restart_backoff_max >= backoff")
        self.prefix = prefix
        self.call_timeout = call_timeout
        self.connect_timeout = connect_timeout
        self.restart_backoff = restart_backoff
        self.restart_backoff_max = restart_backoff_max
        self._on_tools_changed = on_tools_changed
        self._servers = [_Server(self, spec) for spec in servers]
        self._tools: dict[str, tuple[McpTool, _Server]] = {}
        self._changed = asyncio.Event()
        self._delivered = asyncio.Event()
        self._published: tuple[McpTool, ...] | None = None
        self._publisher: asyncio.Task[None] | None = None

    # -- lifecycle --

    async def __aenter__(self) -> McpBridge:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def start(self) -> None:
        """Connect every server; returns once each has connected and listed its tools, or failed once
        (a failed server keeps being retried in the background)."""
        self._publisher = asyncio.create_task(self._publish_changes(), name="mcp-bridge-publisher")
        for server in self._servers:
            server.start()
        await asyncio.gather(*(server.first_attempt.wait() for server in self._servers))
        await self._settle()

    async def close(self) -> None:
        """Disconnect every server (stopping the stdio ones)."""
        await asyncio.gather(*(server.stop() for server in self._servers))
        if self._publisher is not None:
            await self._settle()  # `on_tools_changed` hears that the tools are gone
            self._publisher.cancel()
            with suppress(asyncio.CancelledError):
                await self._publisher

    # -- what is offered --

    @property
    def tools(self) -> tuple[McpTool, ...]:
        """Every tool offered now, servers in the order given, each server's tools in its listing order."""
        return tuple(tool for tool, _ in self._tools.values())

    def tool(self, name: str) -> McpTool | None:
        entry = self._tools.get(name)
        return entry[0] if entry is not None else None

    def status(self) -> tuple[McpServerStatus, ...]:
        return tuple(server.status() for server in self._servers)

    def _rebuild(self) -> None:
        tools: dict[str, tuple[McpTool, _Server]] = {}
        for server in self._servers:
            for tool in server.offered():
                name = f"{server.spec.name}.{tool.name}" if self.prefix else tool.name
                if name in tools:
                    logger.warning(
                        "MCP servers %r and %r both offer tool %r; %r serves it (prefix tools to keep both)",
                        tools[name][1].spec.name,
                        server.spec.name,
                        name,
                        tools[name][1].spec.name,
                    )
                    continue
                exposed = McpTool(
                    name=name,
                    server=server.spec.name,
                    server_tool=tool.name,
                    version=server.version,
                    input_schema=dict(tool.input_schema),
                    output_schema=dict(tool.output_schema) if tool.output_schema is not None else None,
                    description=tool.description,
                )
                tools[name] = (exposed, server)
        self._tools = tools
        self._changed.set()

    async def _publish_changes(self) -> None:
        """One task calls `on_tools_changed`, in order, once per distinct tool set."""
        while True:
            await self._changed.wait()
            self._changed.clear()
            snapshot = self.tools
            if snapshot != self._published and self._on_tools_changed is not None:
                try:
                    await self._on_tools_changed(snapshot)
                except Exception:
                    logger.exception("on_tools_changed raised; the next change is delivered all the same")
            self._published = snapshot
            self._delivered.set()

    async def _settle(self) -> None:
        """Wait until the publisher has delivered the current tool set."""
        while self._published != self.tools:
            self._delivered.clear()
            self._changed.set()
            await self._delivered.wait()

    # -- calls --

    async def call_tool(
        self,
        name: str,
        arguments: JsonValue,
        *,
        call_id: str = "",
        replay: JsonValue = None,
        on_progress: OnProgress | None = None,
        cancel: asyncio.Event | None = None,
        timeout: float | None = None,
    ) -> ToolCallOutcome:
        """Call a tool and return the outcome a `tool_call` effect records (lash's `CompletedToolCall`).

        Raises InvalidToolArgumentsError (nothing sent) or McpServerUnavailableError (nothing answered).
        `cancel` set during the call sends the MCP cancellation and answers a cancelled output.
        `timeout` (default: the bridge's `call_timeout`) bounds the wait for the server's answer."""
        return await self.call(
            PreparedToolCall(call_id, name, arguments, replay),
            on_progress=on_progress,
            cancel=cancel,
            timeout=timeout,
        )

    async def call(
        self,
        call: PreparedToolCall,
        *,
        on_progress: OnProgress | None = None,
        cancel: asyncio.Event | None = None,
        timeout: float | None = None,
    ) -> ToolCallOutcome:
        """`call_tool` for a prepared call (the `tool_call` envelope's command)."""
        started = time.monotonic()
        output = await self.output(call.tool_name, call.args, on_progress=on_progress, cancel=cancel, timeout=timeout)
        return completed_tool_call(call, output, int((time.monotonic() - started) * 1000))

    async def execute(
        self,
        envelope: RuntimeEffectEnvelope,
        *,
        on_progress: OnProgress | None = None,
        cancel: asyncio.Event | None = None,
    ) -> ToolCallOutcome:
        """Run a `tool_call` envelope (what a worker is assigned, or a runtime's local executor runs)."""
        command = envelope.command
        if not isinstance(command, ToolCallCommand):
            raise ExecutorError(
                "runtime_effect_local_executor_mismatch",
                f"the MCP bridge cannot execute {command.kind.value} command",
            )
        return await self.call(command.call, on_progress=on_progress, cancel=cancel)

    def local_executor(
        self, *, on_progress: OnProgress | None = None, cancel: asyncio.Event | None = None
    ) -> LocalExecutor:
        """A local executor that runs `tool_call` envelopes through this bridge."""

        async def run(envelope: RuntimeEffectEnvelope) -> ToolCallOutcome:
            return await self.execute(envelope, on_progress=on_progress, cancel=cancel)

        return LocalExecutor.runner(run)

    async def output(
        self,
        name: str,
        arguments: JsonValue,
        *,
        on_progress: OnProgress | None = None,
        cancel: asyncio.Event | None = None,
        timeout: float | None = None,
    ) -> ToolCallOutput:
        """The tool's output alone (lash's `ToolCallOutput`)."""
        entry = self._tools.get(name)
        if entry is None:
            raise McpServerUnavailableError("", f"no connected MCP server offers tool {name!r}")
        tool, server = entry
        server.validator(tool).check(arguments)
        client = server.client
        if client is None:
            raise McpServerUnavailableError(server.spec.name, f"MCP server {server.spec.name!r} is not connected")
        if cancel is not None and cancel.is_set():
            return ToolCallOutput.cancelled("the tool call was cancelled before it was sent")
        progress = _progress_callback(on_progress)
        wait = timeout if timeout is not None else self.call_timeout
        request = asyncio.ensure_future(
            client.call_tool(tool.server_tool, arguments, read_timeout_seconds=wait, progress_callback=progress)
        )
        try:
            if cancel is not None and not await _first_done(request, cancel):
                # The SDK sends notifications/cancelled for the abandoned request.
                request.cancel()
                with suppress(asyncio.CancelledError, Exception):
                    await request
                return ToolCallOutput.cancelled("the tool call was cancelled")
            result = await request
        except asyncio.CancelledError:
            request.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await request
            raise
        except MCPError as exc:
            if exc.code == types.CONNECTION_CLOSED:
                server.connection_lost(f"the connection closed during a call of {name!r}", client)
                raise McpServerUnavailableError(
                    server.spec.name, f"MCP server {server.spec.name!r} went away during the call of {name!r}"
                ) from None
            if exc.code == types.REQUEST_TIMEOUT:
                raise McpServerUnavailableError(
                    server.spec.name, f"MCP server {server.spec.name!r} did not answer {name!r} within {wait}s"
                ) from None
            return request_error_output(exc.error)
        except (ValidationError, RuntimeError) as exc:
            # A result the protocol version or the tool's output schema does not allow.
            return unusable_result_output(str(exc))
        except Exception as exc:
            # A transport failure (a broken pipe, an HTTP error): the connection is no longer usable.
            server.connection_lost(_describe(exc), client)
            raise McpServerUnavailableError(
                server.spec.name,
                f"MCP server {server.spec.name!r} failed during the call of {name!r}: {_describe(exc)}",
            ) from None
        return output_from_result(tool.output_schema is not None, result)


async def _first_done(request: asyncio.Future[Any], cancel: asyncio.Event) -> bool:
    """Whether `request` finished before `cancel` was set."""
    cancelled = asyncio.ensure_future(cancel.wait())
    try:
        await asyncio.wait({request, cancelled}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        cancelled.cancel()
    return request.done()


def _progress_callback(on_progress: OnProgress | None) -> Any:
    if on_progress is None:
        return None

    async def progress(value: float, total: float | None, message: str | None) -> None:
        try:
            await on_progress(ToolProgress(value, total, message))
        except Exception:
            # The call goes on: a progress report that cannot be delivered is not the tool's failure.
            logger.exception("on_progress raised; the call goes on")

    return progress


def _describe(exc: BaseException) -> str:
    """An exception for a log line or a status; a task group's exceptions by their first leaf."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"


def _errlog() -> TextIO:
    """Where a stdio server's stderr goes: ours, or the process's own when ours has no file descriptor."""
    for stream in (sys.stderr, sys.__stderr__):
        try:
            if stream is not None:
                stream.fileno()
                return stream
        except (AttributeError, OSError, ValueError):
            continue
    raise RuntimeError("no stderr with a file descriptor to give an MCP server")


class _Server:
    """One MCP server: its supervisor task, its connection, its listed tools."""

    def __init__(self, bridge: McpBridge, spec: McpServerSpec) -> None:
        self.bridge = bridge
        self.spec = spec
        self.client: Client | None = None
        self.version = ""
        self.protocol_version = ""
        self.restarts = 0
        self.last_error: str | None = None
        self.first_attempt = asyncio.Event()
        self._listed: dict[str, types.Tool] = {}
        self._validators: dict[str, tuple[dict[str, JsonValue], ArgumentsValidator]] = {}
        self._wake = asyncio.Event()
        self._lost = False
        self._relist = False
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._connected_at: float | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._supervise(), name=f"mcp-server-{self.spec.name}")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task

    def offered(self) -> list[types.Tool]:
        return list(self._listed.values()) if self.client is not None else []

    def status(self) -> McpServerStatus:
        return McpServerStatus(
            name=self.spec.name,
            target=self.spec.describe(),
            connected=self.client is not None,
            version=self.version,
            protocol_version=self.protocol_version,
            tools=len(self.offered()),
            restarts=self.restarts,
            last_error=self.last_error,
        )

    def validator(self, tool: McpTool) -> ArgumentsValidator:
        cached = self._validators.get(tool.server_tool)
        if cached is None or cached[0] != tool.input_schema:
            cached = (tool.input_schema, ArgumentsValidator(tool.name, tool.input_schema))
            self._validators[tool.server_tool] = cached
        return cached[1]

    def connection_lost(self, reason: str, client: Client | None = None) -> None:
        """The connection (of `client`, if given: a late failure of an earlier one changes nothing) is gone."""
        if client is not None and client is not self.client:
            return
        if not self._lost and not self._stopping:
            logger.warning("MCP server %r: connection lost (%s)", self.spec.name, reason)
            self.last_error = reason
        self._lost = True
        self._wake.set()

    def relist(self) -> None:
        self._relist = True
        self._wake.set()

    async def _supervise(self) -> None:
        backoff = self.bridge.restart_backoff
        while not self._stopping:
            self._connected_at = None
            try:
                await self._connection()
            except Exception as exc:
                self.last_error = _describe(exc)
                logger.warning("MCP server %r (%s): %s", self.spec.name, self.spec.describe(), self.last_error)
            finally:
                self.client = None
                self.first_attempt.set()
                self.bridge._rebuild()
            if self._stopping:
                return
            connected_at = self._connected_at
            if connected_at is not None and time.monotonic() - connected_at >= self.bridge.restart_backoff_max:
                backoff = self.bridge.restart_backoff  # it ran long enough: start counting again
            with suppress(TimeoutError):
                await asyncio.wait_for(self._stopped(), timeout=backoff)
            if self._stopping:
                return
            backoff = min(backoff * 2, self.bridge.restart_backoff_max)
            self.restarts += 1
            logger.info("MCP server %r: connecting again (restart %d)", self.spec.name, self.restarts)

    async def _stopped(self) -> None:
        while not self._stopping:
            self._wake.clear()
            await self._wake.wait()

    async def _connection(self) -> None:
        """Connect, list, then follow changes until the connection is lost or the bridge stops."""
        self._lost = False
        self._relist = False
        transport = WatchedTransport(self._transport(), on_closed=lambda: self.connection_lost("the stream ended"))
        client = Client(
            transport,
            cache=None,
            message_handler=self._on_message,
            client_info=types.Implementation(name="effectd", version="1"),
        )
        async with AsyncExitStack() as stack:
            async with asyncio.timeout(self.bridge.connect_timeout):
                await stack.enter_async_context(client)
                self.protocol_version = client.protocol_version
                self.version = client.server_info.version if client.server_info is not None else ""
                tools_capability = client.server_capabilities.tools
                if (
                    self.protocol_version in MODERN_PROTOCOL_VERSIONS
                    and tools_capability
                    and tools_capability.list_changed
                ):
                    # Subscribe before listing, so a change between the two is not missed.
                    subscription = await stack.enter_async_context(client.listen(tools_list_changed=True))
                    follower = asyncio.create_task(self._follow(subscription))
                    stack.callback(follower.cancel)
                await self._list(client)
            self.client = client
            self._connected_at = time.monotonic()
            self.last_error = None
            self.bridge._rebuild()
            self.first_attempt.set()
            logger.info(
                "MCP server %r connected (version %r, protocol %s, %d tools)",
                self.spec.name,
                self.version,
                self.protocol_version,
                len(self._listed),
            )
            while True:
                await self._wake.wait()
                self._wake.clear()
                if self._stopping or self._lost:
                    return
                if self._relist:
                    self._relist = False
                    async with asyncio.timeout(self.bridge.connect_timeout):
                        await self._list(client)
                    self.bridge._rebuild()

    def _transport(self) -> Any:
        if self.spec.transport == "http":
            return streamable_http_client(self.spec.url)
        parameters = StdioServerParameters(command=self.spec.command, args=list(self.spec.args), env=self.spec.env)
        return stdio_client(parameters, errlog=_errlog())

    async def _list(self, client: Client) -> None:
        listed: dict[str, types.Tool] = {}
        cursor: str | None = None
        for _ in range(_MAX_PAGES):
            page = await client.list_tools(cursor=cursor)
            for tool in page.tools:
                listed.setdefault(tool.name, tool)
            cursor = page.next_cursor
            if not cursor:
                break
        else:
            logger.warning(
                "MCP server %r: tools/list still had pages after %d; the rest is ignored", self.spec.name, _MAX_PAGES
            )
        self._listed = listed

    async def _follow(self, subscription: Any) -> None:
        try:
            async for _event in subscription:
                self.relist()
        except Exception as exc:
            self.connection_lost(f"the tool-change subscription ended: {exc}")

    async def _on_message(self, message: IncomingMessage) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            self.relist()
        elif isinstance(message, Exception):
            logger.warning("MCP server %r: transport error: %s", self.spec.name, message)
