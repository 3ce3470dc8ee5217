"""The connected workers: what each can run, its slots and what it holds, and picking one for an effect.

Matching: capability (kind, then name and version), then required labels, then session affinity, then
the least loaded worker with a free slot. Each worker has an outbox of messages for its stream. Knows
nothing of gRPC.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from effectd._convert_workers import ToolDescription
from effectd._errors import UnavailableError

__all__ = [
    "AssignmentKey",
    "Capability",
    "ConnectedWorker",
    "Match",
    "Outgoing",
    "Registry",
    "no_worker_available",
]


@dataclass(frozen=True, slots=True)
class Capability:
    kind: str
    name: str = ""
    version: str = ""
    slots: int = 0
    """0: only the worker's own slots bound it."""
    tool: ToolDescription | None = None
    """tool_call: what `ListWorkers` shows of the tool (input schema, description, MCP server)."""

    def offers(self, match: Match) -> bool:
        if self.kind != match.kind:
            return False
        if self.version and match.version and self.version != match.version:
            return False
        if match.version and not self.version:
            return False
        if not self.name:
            return True
        # "provider/model" also matches an envelope naming only the model.
        return match.name == self.name or match.name == self.name.partition("/")[2]


@dataclass(frozen=True, slots=True)
class Match:
    """What an effect needs of a worker."""

    kind: str
    name: str
    version: str = ""
    labels: tuple[tuple[str, str], ...] = ()

    def describe(self) -> str:
        text = (
            self.kind + (f" `{self.name}`" if self.name else "") + (f" version {self.version}" if self.version else "")
        )
        if self.labels:
            text += " with labels " + ", ".join(f"{k}={v}" for k, v in self.labels)
        return text


@dataclass(frozen=True, slots=True)
class AssignmentKey:
    scope_json: str
    replay_key: str
    fencing_token: int


Outgoing = tuple[str, Any]
"""A message for a worker's stream: ("assign"|"cancel"|"evicted"|"ack"|"lease"|"drain", payload)."""


def no_worker_available(message: str) -> UnavailableError:
    return UnavailableError("no_worker_available", message)


@dataclass(eq=False, slots=True)
class ConnectedWorker:
    worker_id: str
    instance_id: str
    capabilities: tuple[Capability, ...]
    labels: dict[str, str]
    slots: int
    heartbeat_s: float
    connected_at_ms: int
    send: Callable[[Outgoing], None]
    """Queues a message on the worker's stream."""
    last_heard: float = field(default_factory=time.monotonic)
    last_heartbeat_ms: int = 0
    alive: bool = True
    draining: bool = False
    busy: int = 0
    """Slots taken (reserved for a delivery being claimed, or held by one)."""
    busy_by_capability: dict[Capability, int] = field(default_factory=dict)
    """Keyed by the capability itself: the list can be replaced while its effects run."""
    in_flight: dict[tuple[str, str], Any] = field(default_factory=dict)
    """(scope_json, replay_key) → the dispatcher's delivery."""
    completed: int = 0

    def capability_for(self, match: Match) -> Capability | None:
        """The capability that runs `match`, when the labels fit too."""
        for label, value in match.labels:
            if self.labels.get(label) != value:
                return None
        for capability in self.capabilities:
            if capability.offers(match):
                return capability
        return None

    def has_slot(self, capability: Capability) -> bool:
        if self.busy >= self.slots:
            return False
        limit = capability.slots
        return limit == 0 or self.busy_by_capability.get(capability, 0) < limit

    def take(self, capability: Capability) -> None:
        self.busy += 1
        self.busy_by_capability[capability] = self.busy_by_capability.get(capability, 0) + 1

    def give_back(self, capability: Capability) -> None:
        self.busy -= 1
        left = self.busy_by_capability.get(capability, 0) - 1
        if left > 0:
            self.busy_by_capability[capability] = left
        else:
            self.busy_by_capability.pop(capability, None)

    def load(self) -> float:
        return self.busy / self.slots


@dataclass(eq=False, slots=True)
class _Waiter:
    match: Match
    preferred: str | None
    hard: bool
    granted: asyncio.Future[tuple[ConnectedWorker, Capability]]


class Registry:
    def __init__(self, *, fail_fast_unmatched: bool) -> None:
        self.workers: dict[str, ConnectedWorker] = {}
        self.fail_fast_unmatched = fail_fast_unmatched
        self._waiters: list[_Waiter] = []
        """Effects waiting for a slot, oldest first: a freed slot goes to the oldest one it fits."""
        self.last_worker_of_session: dict[str, str] = {}

    def add(self, worker: ConnectedWorker) -> ConnectedWorker | None:
        """Register a connection; returns the connection it replaces (same worker id), if any."""
        previous = self.workers.get(worker.worker_id)
        self.workers[worker.worker_id] = worker
        self.slots_changed()
        return previous

    def replace_capabilities(self, worker: ConnectedWorker, capabilities: tuple[Capability, ...]) -> None:
        """A live worker's new capability list: effects it runs keep their slots; waiting effects are
        matched again (a tool that came back takes the redeliveries waiting for it)."""
        worker.capabilities = capabilities
        self.slots_changed()

    def remove(self, worker: ConnectedWorker) -> None:
        if self.workers.get(worker.worker_id) is worker:
            del self.workers[worker.worker_id]

    def offers(self, match: Match) -> bool:
        """Whether a live worker connected here offers `match` (busy or not)."""
        return any(w.alive and not w.draining and w.capability_for(match) is not None for w in self.workers.values())

    def _any_free(self) -> bool:
        return any(w.alive and not w.draining and w.busy < w.slots for w in self.workers.values())

    def slots_changed(self) -> None:
        """A slot was freed or a worker came: hand free slots to the waiting effects, oldest first."""
        if not self._waiters:
            return
        kept: list[_Waiter] = []
        waiters, self._waiters = self._waiters, kept
        for index, waiter in enumerate(waiters):
            if waiter.granted.done():
                continue
            picked = self._pick(waiter.match, waiter.preferred, hard=waiter.hard)
            if isinstance(picked, tuple):
                worker, capability = picked
                worker.take(capability)
                waiter.granted.set_result(picked)
                if not self._any_free():
                    kept.extend(w for w in waiters[index + 1 :] if not w.granted.done())
                    break
            else:
                kept.append(waiter)

    def _pick(
        self, match: Match, preferred: str | None, *, hard: bool = False
    ) -> tuple[ConnectedWorker, Capability] | bool | None:
        """A free worker (and its capability index); False when none offers `match`; None when all are busy.
        With `hard`, only the preferred worker will do (None while it is busy or away)."""
        if hard and preferred is not None:
            worker = self.workers.get(preferred)
            if worker is None or not worker.alive or worker.draining:
                return None
            capability = worker.capability_for(match)
            if capability is None or not worker.has_slot(capability):
                return None
            return worker, capability
        capable = False
        best: tuple[ConnectedWorker, Capability] | None = None
        for worker in self.workers.values():
            if not worker.alive or worker.draining:
                continue
            capability = worker.capability_for(match)
            if capability is None:
                continue
            capable = True
            if not worker.has_slot(capability):
                continue
            if worker.worker_id == preferred:
                return worker, capability
            if best is None or worker.load() < best[0].load():
                best = (worker, capability)
        if best is None and not capable:
            return False
        return best

    async def acquire(
        self,
        match: Match,
        timeout_s: float,
        preferred: str | None = None,
        *,
        redelivery: bool = False,
        hard: bool = False,
    ) -> tuple[ConnectedWorker, Capability]:
        """Take a slot on the best worker for `match`, waiting in line up to `timeout_s` for one to free up.
        A redelivery always waits (its worker just died; another may be connecting)."""
        picked = self._pick(match, preferred, hard=hard)
        if picked is False and self.fail_fast_unmatched and not redelivery:
            raise no_worker_available(f"no connected worker offers {match.describe()}")
        if isinstance(picked, tuple) and not self._waiters:
            worker, capability = picked
            worker.take(capability)
            return picked
        granted: asyncio.Future[tuple[ConnectedWorker, Capability]] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(match, preferred, hard, granted)
        self._waiters.append(waiter)
        self.slots_changed()
        try:
            return await asyncio.wait_for(asyncio.shield(granted), timeout_s)
        except TimeoutError:
            if granted.done():
                return granted.result()
            raise no_worker_available(
                f"no worker with a free slot for {match.describe()} within {timeout_s:g} s (schedule-to-start)"
            ) from None
        except BaseException:
            if granted.done() and not granted.cancelled():
                worker, capability = granted.result()
                worker.give_back(capability)
                self.slots_changed()
            raise
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
            if not granted.done():
                granted.cancel()
