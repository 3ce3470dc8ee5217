"""`effects.call_tool(name, arguments, replay_key=...)`: a runtime's tool call run once through the journal.

    effects = ToolEffects(scoped, RuntimeScope("s1", "t1", 0, 0))
    outcome = await effects.call_tool("search", {"q": "x"}, replay_key="s1:t1:0:0:tool_call:1")
    completed = into_tool_call(outcome)          # lash's CompletedToolCall as JSON

It builds the ordinary `tool_call` envelope (lash's `PreparedToolCall`), so any client that sends that
envelope gets the same: the first execution runs the executor and records its outcome; every later one
returns the recorded outcome without calling the tool. The default executor is `LocalExecutor.remote()`:
a worker that offers the tool runs it (`effectd worker run --mcp ...` serves an MCP server's tools);
`executor=bridge.local_executor()` calls an MCP server from the runtime itself (`effectd.mcp`). An
executor that raises anything but `ExecutorError` records nothing. Needs only the core SDK.
"""

from __future__ import annotations

from effectd._controller import LocalExecutor, ScopedEffectController
from effectd._effects import RuntimeEffectEnvelope, ToolCallCommand, ToolCallOutcome, into_tool_call_effect
from effectd._errors import InvalidArgumentError
from effectd._lashjson import JsonValue
from effectd._lineage import PreparedToolCall, RuntimeEffectKind, RuntimeInvocation, RuntimeScope
from effectd._scope import blank

__all__ = ["ToolEffects"]


class ToolEffects:
    """Tool calls of one runtime scope, each journaled under its replay key."""

    def __init__(self, scoped: ScopedEffectController, runtime_scope: RuntimeScope) -> None:
        self.scoped = scoped
        self.runtime_scope = runtime_scope

    def envelope(
        self,
        name: str,
        arguments: JsonValue,
        *,
        replay_key: str,
        call_id: str | None = None,
        effect_id: str | None = None,
    ) -> RuntimeEffectEnvelope:
        """The `tool_call` envelope: `call_id` defaults to the replay key, `effect_id` to the call id."""
        if blank(replay_key):
            raise InvalidArgumentError("runtime_effect_replay_required", "a tool call needs a replay key")
        call_id = replay_key if call_id is None else call_id
        invocation = RuntimeInvocation.effect(
            self.runtime_scope, call_id if effect_id is None else effect_id, RuntimeEffectKind.TOOL_CALL, replay_key
        )
        return RuntimeEffectEnvelope(invocation, ToolCallCommand(PreparedToolCall(call_id, name, arguments)))

    async def call_tool(
        self,
        name: str,
        arguments: JsonValue,
        *,
        replay_key: str,
        executor: LocalExecutor | None = None,
        call_id: str | None = None,
        effect_id: str | None = None,
        strict_replay: bool = False,
    ) -> ToolCallOutcome:
        """The recorded outcome of the call: run by `executor` (default: a worker offering the tool) the
        first time, replayed after. `LocalExecutor.remote(on_progress=..., cancel=...)` follows the
        worker's progress and can cancel the call."""
        envelope = self.envelope(name, arguments, replay_key=replay_key, call_id=call_id, effect_id=effect_id)
        run = executor if executor is not None else LocalExecutor.remote()
        outcome = await self.scoped.execute_effect(envelope, run, strict_replay=strict_replay)
        return into_tool_call_effect(outcome)
