"""Signals: append the signal event, then resolve the await-event key its own ordinal names.

Shared by the `Signal` RPC and the `signal` process effect. The registry core decides which key a
signal resolves (SEED-SPEC §7 items 8 and 9: the event's own ordinal, never the process's current
wait); the await-event core mints that key (deterministic) and resolves it with `ok(payload)`, first
writer wins. A resolution that comes before anyone waits is kept by the await-event store, so an early
signal satisfies the wait that is registered later.

A replayed (deduplicated) signal resolves nothing new: it resolves again only the key of the original
event's ordinal with the original payload, which its first append already resolved, so first writer
wins makes that a no-op. It changes something only when the first append was committed and the server
died before resolving: then the retry delivers the signal instead of losing it.
"""

from __future__ import annotations

from dataclasses import dataclass

from effectd._lashjson import JsonValue
from effectd._process import ProcessEvent, SessionScope
from effectd._scope import Accepted, AwaitEventKey

from effectd_server.await_events.core import AwaitEventCore
from effectd_server.processes.core import ProcessRegistryCore

__all__ = ["SignalAnswer", "send_signal"]


@dataclass(frozen=True, slots=True)
class SignalAnswer:
    event: ProcessEvent
    replayed: bool
    """A deduplicated signal: nothing was appended."""
    resolved: AwaitEventKey | None
    """The key this call resolved: None for a replay whose first append had resolved it already."""


async def send_signal(
    registry: ProcessRegistryCore,
    await_events: AwaitEventCore,
    process_id: str,
    signal_name: str,
    signal_id: str,
    payload: JsonValue,
    wake_target_scope: SessionScope | None = None,
) -> SignalAnswer:
    outcome = await registry.signal(process_id, signal_name, signal_id, payload, wake_target_scope)
    key = None
    if outcome.delivery is not None:
        key = await await_events.mint(outcome.delivery.scope, outcome.delivery.wait)
        resolved = await await_events.resolve(
            key, outcome.delivery.resolution, resolved_by=f"signal {signal_name} of process {process_id}"
        )
        if outcome.replayed and not isinstance(resolved, Accepted):
            key = None
    return SignalAnswer(outcome.event, outcome.replayed, key)
