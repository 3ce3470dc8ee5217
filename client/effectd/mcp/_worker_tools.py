"""A worker serving MCP servers' tools: what `effectd worker run --mcp NAME=COMMAND...` runs.

    worker = Worker(rpc, worker_id="tools-host")
    async with McpWorkerTools(worker, [McpServerSpec.parse("fs=npx server-filesystem /tmp")]):
        await worker.run()

The bridge's tools are the worker's `tool_call` capabilities (name, server version, description, input
schema), offered again on the live stream whenever the tool list changes (a server announced it, went
down or came back). A routed call runs `tools/call` with the envelope's arguments:

- the reply is the recorded outcome (lash's `CompletedToolCall`, see `effectd.mcp._results`);
- arguments against the tool's input schema are refused before the call: the executor error
  `invalid_tool_arguments` (recorded: the same envelope is refused the same way);
- a server that is down, crashed or timed out is no answer: `DeliverAgain`, nothing recorded. The tool
  is withdrawn first (the server hears it before the give-up), so the redelivery waits for a worker
  whose server is up instead of spending its budget here;
- progress notifications are the effect's live progress (`ctx.progress`);
- a cancelled effect sends the MCP cancellation to the server before the handler stops.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from contextlib import suppress
from types import TracebackType
from typing import Any

from effectd._controller import ExecutorError
from effectd._convert_workers import ToolDescription, WorkerCapability
from effectd._effects import RuntimeEffectEnvelope, RuntimeEffectOutcome
from effectd._worker import DeliverAgain, Worker, WorkerContext
from effectd.mcp._bridge import McpBridge, McpTool, ToolProgress
from effectd.mcp._errors import InvalidToolArgumentsError, McpServerUnavailableError
from effectd.mcp._spec import McpServerSpec

__all__ = ["McpWorkerTools"]

GROUP = "mcp"
"""The worker's offer group the MCP tools are kept under (its own handlers stay beside them)."""


def capability_of(tool: McpTool) -> WorkerCapability:
    schema = json.dumps(tool.input_schema, separators=(",", ":"), ensure_ascii=False)
    return WorkerCapability(
        "tool_call", tool.name, tool.version, 0, ToolDescription(schema, tool.description or "", tool.server)
    )


class McpWorkerTools:
    """Connects MCP servers (an `McpBridge`) and offers their tools on `worker`. Use `async with`."""

    def __init__(
        self,
        worker: Worker,
        servers: Sequence[McpServerSpec],
        *,
        prefix: bool = False,
        on_offered: Callable[[tuple[McpTool, ...]], None] | None = None,
        cancel_grace: float = 5.0,
        withdraw_grace: float = 5.0,
        **bridge_options: Any,
    ) -> None:
        self.worker = worker
        self.cancel_grace = cancel_grace
        """How long a cancelled call waits for the server to hear the cancellation."""
        self.withdraw_grace = withdraw_grace
        """How long a call whose server went away waits for its tool to be withdrawn before giving up."""
        self._on_offered = on_offered
        self._generation = 0
        self._published = asyncio.Event()
        self.bridge = McpBridge(servers, prefix=prefix, on_tools_changed=self._offer, **bridge_options)

    async def __aenter__(self) -> McpWorkerTools:
        await self.bridge.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.bridge.close()

    async def _offer(self, tools: tuple[McpTool, ...]) -> None:
        self.worker.offer(GROUP, [capability_of(tool) for tool in tools], self.handle)
        self._generation += 1
        published, self._published = self._published, asyncio.Event()
        published.set()
        if self._on_offered is not None:
            self._on_offered(tools)

    async def handle(self, envelope: RuntimeEffectEnvelope, ctx: WorkerContext) -> RuntimeEffectOutcome:
        """Run a routed `tool_call` on the server that offers the tool."""
        generation = self._generation
        cancel = asyncio.Event()

        async def progress(value: ToolProgress) -> None:
            await ctx.progress(value.to_json())

        call = asyncio.ensure_future(self.bridge.execute(envelope, on_progress=progress, cancel=cancel))
        try:
            return await asyncio.shield(call)
        except asyncio.CancelledError:
            # The effect was cancelled (or this worker stops): tell the server, then stop.
            cancel.set()
            with suppress(BaseException):
                await asyncio.wait_for(call, self.cancel_grace)
            raise
        except InvalidToolArgumentsError as exc:
            raise ExecutorError("invalid_tool_arguments", exc.message) from None
        except McpServerUnavailableError as exc:
            await self._withdrawn_since(generation)
            raise DeliverAgain(f"{exc.code}: {exc.message}") from None

    async def _withdrawn_since(self, generation: int) -> None:
        """Wait until an offer newer than `generation` went out (the lost server's tools withdrawn)."""
        with suppress(TimeoutError):
            async with asyncio.timeout(self.withdraw_grace):
                while self._generation <= generation:
                    await self._published.wait()
