"""MCP servers' tools for effectd, through the official `mcp` SDK (install `effectd[mcp]`).

- `McpServerSpec.parse("NAME=COMMAND ARGS...")` or `"NAME=URL"`: which servers to connect;
- `McpBridge`: connects them, lists and follows their tools, calls them and answers the outcome a
  `tool_call` effect records (lash's `CompletedToolCall`, built with the shapes of `_output`);
- `ToolEffects(scoped, runtime_scope).call_tool(name, arguments, replay_key=..., executor=...)`: a tool
  call run once through the journal (from the core SDK, `effectd.ToolEffects`; here for convenience);
- `McpWorkerTools(worker, bridge)`: a worker serving the bridge's tools (`effectd worker run --mcp`).
"""

from effectd._tool_effects import ToolEffects
from effectd.mcp._bridge import McpBridge, McpServerStatus, McpTool, ToolProgress
from effectd.mcp._errors import InvalidToolArgumentsError, McpServerUnavailableError
from effectd.mcp._output import (
    CompletedToolCall,
    ModelToolReturn,
    ToolCallOutput,
    ToolCancellation,
    ToolCancelled,
    ToolFailed,
    ToolFailure,
    ToolFailureSource,
    ToolSuccess,
    completed_tool_call,
    tool_value,
)
from effectd.mcp._spec import McpServerSpec
from effectd.mcp._worker_tools import McpWorkerTools

__all__ = [
    "CompletedToolCall",
    "InvalidToolArgumentsError",
    "McpBridge",
    "McpServerSpec",
    "McpServerStatus",
    "McpServerUnavailableError",
    "McpTool",
    "McpWorkerTools",
    "ModelToolReturn",
    "ToolCallOutput",
    "ToolCancellation",
    "ToolCancelled",
    "ToolEffects",
    "ToolFailed",
    "ToolFailure",
    "ToolFailureSource",
    "ToolProgress",
    "ToolSuccess",
    "completed_tool_call",
    "tool_value",
]
