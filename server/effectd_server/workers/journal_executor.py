"""The journal's delegator: which effects go to workers (the runtime asked, or a routing rule names the
kind or the tool), and running them through the dispatcher."""

from __future__ import annotations

from effectd._effects import RuntimeEffectEnvelope, ToolCallCommand

from effectd_server.config import WorkersConfig
from effectd_server.journal.core import Recorded
from effectd_server.journal.executors import DelegatedCall, DelegateOptions
from effectd_server.workers.dispatch import Dispatcher

__all__ = ["WorkerDelegator"]


class WorkerDelegator:
    def __init__(self, dispatcher: Dispatcher, config: WorkersConfig) -> None:
        self._dispatcher = dispatcher
        self._kinds = frozenset(config.route_kinds)
        self._tools = frozenset(config.route_tools)

    def routes(self, envelope: RuntimeEffectEnvelope, options: DelegateOptions | None) -> bool:
        if options is not None:
            return True
        command = envelope.command
        if command.kind.value in self._kinds:
            return True
        return isinstance(command, ToolCallCommand) and command.call.tool_name in self._tools

    async def run(self, call: DelegatedCall) -> Recorded:
        recorded = await self._dispatcher.run(call)
        assert recorded is not None  # None only for an effect offered by another replica
        return recorded
