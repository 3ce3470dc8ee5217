"""Server-run effect kinds: the journal runs an envelope whose kind has an executor in its table.

Capabilities register theirs in the composition root (sleep here, await_event by await_events; the
process registry and workers add their kinds the same way).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from effectd._effects import RuntimeEffectEnvelope, RuntimeEffectOutcome, SleepCommand, SleepOutcome
from effectd._journal import RecordedError, RecordedOutcome

__all__ = [
    "DelegateOptions",
    "DelegatedCall",
    "Delegator",
    "ExecutorTable",
    "ServerCall",
    "ServerExecutor",
    "SleepExecutor",
]


@dataclass(frozen=True, slots=True)
class ServerCall:
    envelope: RuntimeEffectEnvelope
    due_at_ms: int | None
    """Kept from the first execution (sleeps): a replay or a restarted server waits only the rest."""
    await_deadline_ms: int | None
    """The caller's deadline for effects that wait on something outside (await_event)."""


class ServerExecutor(Protocol):
    def due_at_ms(self, envelope: RuntimeEffectEnvelope, now_ms: int) -> int | None:
        """When the effect is due, fixed at its first execution; None when time does not matter."""

    async def run(self, call: ServerCall) -> RuntimeEffectOutcome:
        """The effect's outcome; the journal records it. Raising records nothing."""


ExecutorTable = dict[str, ServerExecutor]
"""Effect kind (RuntimeEffectKind value) → the executor that runs it on the server."""


class SleepExecutor:
    """`sleep`: a durable timer. Its due time is stored at the first execution."""

    def due_at_ms(self, envelope: RuntimeEffectEnvelope, now_ms: int) -> int | None:
        command = envelope.command
        assert isinstance(command, SleepCommand)
        return now_ms + command.duration_ms

    async def run(self, call: ServerCall) -> RuntimeEffectOutcome:
        due = call.due_at_ms or int(time.time() * 1000)
        delay = (due - int(time.time() * 1000)) / 1000
        if delay > 0:
            await asyncio.sleep(delay)
        return SleepOutcome()


@dataclass(frozen=True, slots=True)
class DelegateOptions:
    """What the runtime asked of a delegated effect's worker (ExecuteRequest.delegate)."""

    capability: str = ""
    version: str = ""
    required_labels: tuple[tuple[str, str], ...] = ()
    schedule_to_start_timeout_ms: int = 0
    session_affinity: bool = False
    hard_affinity: bool = False


@dataclass(frozen=True, slots=True)
class DelegatedCall:
    scope_json: str
    replay_key: str
    envelope_hash: str
    envelope: RuntimeEffectEnvelope
    envelope_pb: bytes
    options: DelegateOptions | None
    progress: Callable[[str], None] | None
    """Receives the handler's live progress (JSON text), in order; never journaled."""


class Delegator(Protocol):
    """Runs effects on workers (the workers capability registers one with the journal)."""

    def routes(self, envelope: RuntimeEffectEnvelope, options: DelegateOptions | None) -> bool:
        """Whether this effect goes to a worker: the runtime asked, or a routing rule says so."""

    async def run(self, call: DelegatedCall) -> RecordedOutcome | RecordedError:
        """Deliver the effect to a worker and answer what was journaled (or the existing record)."""
