"""The bridge's errors: arguments refused before the call, and a server that could not answer."""

from __future__ import annotations

from effectd._errors import InvalidArgumentError, UnavailableError
from effectd._lashjson import JsonValue

__all__ = ["InvalidToolArgumentsError", "McpServerUnavailableError"]


class InvalidToolArgumentsError(InvalidArgumentError):
    """The arguments do not match the tool's input schema; nothing was sent to the server.

    `schema_error` is the schema error as JSON: `message`, `path` (a JSON pointer into the arguments),
    `schema_path` (a JSON pointer into the schema) and `validator` (the failing keyword)."""

    def __init__(self, tool: str, schema_error: dict[str, JsonValue]) -> None:
        where = schema_error.get("path") or "/"
        super().__init__(
            "invalid_tool_arguments",
            f"arguments of tool {tool!r} do not match its input schema at {where}: {schema_error.get('message')}",
        )
        self.tool = tool
        self.schema_error = schema_error


class McpServerUnavailableError(UnavailableError):
    """The MCP server behind a tool is down, crashed during the call, or did not answer in time.

    Not the tool's answer: nothing is recorded, and the call can run again (a worker turns it into a
    redelivery; a stdio server is restarted with backoff). `server` names the server."""

    def __init__(self, server: str, message: str) -> None:
        super().__init__("mcp_server_unavailable", message)
        self.server = server
