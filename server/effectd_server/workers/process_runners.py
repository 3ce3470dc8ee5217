"""Processes run on workers: a worker that offers capability `process` with a host profile id is given
the non-terminal processes of that profile, each with a fenced process lease claimed for it. A runner
that dies keeps its leases until they run out; the next sweep then gives those processes to another
runner (the lease claim is the fence: one live runner per process). Knows nothing of gRPC.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from effectd._errors import EffectdError

from effectd_server.processes.core import ProcessRegistryCore
from effectd_server.workers.registry import ConnectedWorker, Registry

__all__ = ["ProcessRunners"]

log = logging.getLogger("effectd.workers")

_SWEEP_S = 0.25
_MIN_LEASE_S = 1.0


def _profiles(worker: ConnectedWorker) -> set[str]:
    return {c.name for c in worker.capabilities if c.kind == "process" and c.name}


class ProcessRunners:
    def __init__(self, registry: Registry, processes: ProcessRegistryCore) -> None:
        self._registry = registry
        self._processes = processes
        self._assigned: dict[str, str] = {}
        """Process id → the runner it was given to (and whose lease fences it)."""
        self._sweeper: asyncio.Task[None] | None = None
        self._kick = asyncio.Event()

    @staticmethod
    def lease_ttl_ms(worker: ConnectedWorker) -> int:
        """A runner's process leases last three of its heartbeats (at least a second): a dead runner's
        processes move soon after its leases run out."""
        return int(max(_MIN_LEASE_S, 3 * worker.heartbeat_s) * 1000)

    async def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="effectd-process-runners")

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper

    def changed(self) -> None:
        """A runner came or went: look again at once."""
        self._kick.set()

    def runner_lost(self, worker: ConnectedWorker) -> None:
        for process_id, runner in list(self._assigned.items()):
            if runner == worker.worker_id:
                del self._assigned[process_id]
        self._kick.set()

    async def _sweep_forever(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), _SWEEP_S)
            self._kick.clear()
            try:
                await self.sweep()
            except EffectdError as exc:
                log.warning("process runners: %s", exc)

    async def sweep(self) -> None:
        """Give every non-terminal process of a served profile that no live runner holds to a runner."""
        runners = [w for w in self._registry.workers.values() if w.alive and not w.draining and _profiles(w)]
        if not runners and not self._assigned:
            return
        live = {w.worker_id for w in runners}
        processes = await self._processes.list_non_terminal()
        running = {record.id for record in processes}
        for process_id, runner in list(self._assigned.items()):
            if process_id not in running or runner not in live:
                del self._assigned[process_id]
        for record in processes:
            if record.id in self._assigned:
                continue
            profile = record.provenance.host_profile_id
            candidates = [w for w in runners if profile in _profiles(w)]
            if not candidates:
                continue
            worker = min(candidates, key=lambda w: sum(1 for r in self._assigned.values() if r == w.worker_id))
            try:
                lease = await self._processes.claim_process_lease(
                    record.id, worker.worker_id, self.lease_ttl_ms(worker)
                )
            except EffectdError:
                continue  # another runner's lease is still live: the next sweep tries again
            self._assigned[record.id] = worker.worker_id
            worker.send(("run_process", (record, lease)))
