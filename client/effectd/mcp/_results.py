"""An MCP `tools/call` reply as lash's tool output (what the `tool_call` effect records).

- success: the structured content when the tool declares an output schema, else its content blocks;
- a result marked as an error: a failure of class `execution`, code `mcp_tool_error`, its text as the
  message and the whole result as `raw`;
- a JSON-RPC error answer (the server refused the request): a failure with code `mcp_request_error`
  (class `invalid_request` for invalid params or an unknown method, else `external`), the error as `raw`;
- a reply the protocol or the tool's own output schema does not allow: a failure with code
  `mcp_invalid_result`, class `external`.
"""

from __future__ import annotations

import mcp_types as types

from effectd._lashjson import JsonValue
from effectd._process import ToolFailureClass
from effectd.mcp._output import ToolCallOutput, ToolFailure, tool_value

__all__ = ["output_from_result", "request_error_output", "unusable_result_output"]


def _json(model: types.CallToolResult | types.ContentBlock | types.ErrorData) -> JsonValue:
    return model.model_dump(by_alias=True, mode="json", exclude_none=True)


def output_from_result(has_output_schema: bool, result: types.CallToolResult) -> ToolCallOutput:
    if result.is_error:
        text = "\n".join(block.text for block in result.content if isinstance(block, types.TextContent))
        failure = ToolFailure(ToolFailureClass.EXECUTION, "mcp_tool_error", text, raw=tool_value(_json(result)))
        return ToolCallOutput.failure(failure)
    if has_output_schema and result.structured_content is not None:
        return ToolCallOutput.success(result.structured_content)
    return ToolCallOutput.success([_json(block) for block in result.content])


def request_error_output(error: types.ErrorData) -> ToolCallOutput:
    refused = error.code in (types.INVALID_PARAMS, types.METHOD_NOT_FOUND)
    failure_class = ToolFailureClass.INVALID_REQUEST if refused else ToolFailureClass.EXTERNAL
    return ToolCallOutput.failure(
        ToolFailure(failure_class, "mcp_request_error", error.message, raw=tool_value(_json(error)))
    )


def unusable_result_output(message: str) -> ToolCallOutput:
    return ToolCallOutput.failure(ToolFailure(ToolFailureClass.EXTERNAL, "mcp_invalid_result", message))
