"""The retention sweeper: deletes what outlived its retention, kind by kind, in bounded batches.

Each batch is one short write transaction (at most `batch_size` rows), and the loop yields between
batches, so a sweep of a million rows never holds the writer long nor starves the calls being served.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from effectd_server.config import RetentionConfig
from effectd_server.edge.metrics import Metrics
from effectd_server.store import Swept
from effectd_server.store.await_events import AwaitEventsStore
from effectd_server.store.journal import JournalStore
from effectd_server.store.processes import ProcessesStore

__all__ = ["KINDS", "SweepReport", "Sweeper"]

log = logging.getLogger("effectd.retention")

KINDS = ("resolved_keys", "journal", "processes")
"""What expires, each after its own retention (`RetentionConfig.<kind>_s`)."""


@dataclass(frozen=True, slots=True)
class SweepReport:
    deleted: dict[str, int]
    """Rows deleted by kind (on a dry run: rows that would be)."""
    dry_run: bool


Sweep = Callable[[int, int], Awaitable[Swept]]
Count = Callable[[int], Awaitable[int]]


class Sweeper:
    def __init__(
        self,
        keys: AwaitEventsStore,
        journal: JournalStore,
        processes: ProcessesStore | None,
        config: RetentionConfig,
        metrics: Metrics | None = None,
    ) -> None:
        self.config = config
        self._metrics = metrics
        self._task: asyncio.Task[None] | None = None
        self._kinds: dict[str, tuple[float, Sweep, Count]] = {
            "resolved_keys": (config.resolved_keys_s, keys.sweep_resolved_keys, keys.count_resolved_keys),
            "journal": (config.journal_s, journal.sweep_finished_effects, journal.count_finished_effects),
        }
        if processes is not None:
            self._kinds["processes"] = (
                config.processes_s,
                processes.sweep_terminal_processes,
                processes.count_terminal_processes,
            )

    async def sweep(self, *, dry_run: bool = False, now_ms: int | None = None) -> SweepReport:
        """Delete (or, on a dry run, count) every record past its retention as of `now_ms` (default now).
        A kind whose retention is 0 is kept forever."""
        now = int(time.time() * 1000) if now_ms is None else now_ms
        deleted: dict[str, int] = {}
        for kind, (retention_s, sweep, count) in self._kinds.items():
            if retention_s <= 0:
                continue
            before = now - int(retention_s * 1000)
            if dry_run:
                deleted[kind] = await count(before)
                continue
            total = 0
            while True:
                swept = await sweep(before, self.config.batch_size)
                total += swept.deleted
                if not swept.more:
                    break
                await asyncio.sleep(0)  # between batches, the calls being served go first
            deleted[kind] = total
            if total and self._metrics is not None:
                self._metrics.retention_deleted.labels(kind).inc(total)
        return SweepReport(deleted, dry_run)

    async def _run(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                report = await self.sweep()
            except Exception:  # the next sweep tries again; serving goes on
                log.exception("retention sweep failed")
                continue
            if any(report.deleted.values()):
                log.info("retention sweep deleted %s", report.deleted)

    async def start(self) -> None:
        if self.config.sweep_interval_s > 0:
            self._task = asyncio.get_running_loop().create_task(
                self._run(self.config.sweep_interval_s), name="effectd-retention"
            )

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
