"""`await_event` effects run by the journal on the server: the key's terminal is journaled."""

from __future__ import annotations

from effectd._effects import AwaitEventCommand, AwaitEventOutcome, RuntimeEffectEnvelope, RuntimeEffectOutcome

from effectd_server.await_events.core import AwaitEventCore
from effectd_server.journal.executors import ServerCall

__all__ = ["AwaitEventExecutor"]


class AwaitEventExecutor:
    def __init__(self, core: AwaitEventCore) -> None:
        self._core = core

    def due_at_ms(self, envelope: RuntimeEffectEnvelope, now_ms: int) -> int | None:
        return None

    async def run(self, call: ServerCall) -> RuntimeEffectOutcome:
        command = call.envelope.command
        assert isinstance(command, AwaitEventCommand)
        return AwaitEventOutcome(await self._core.wait(command.key, call.await_deadline_ms))
