"""Durable deadlines of await-event keys. The store is the truth; the heap only says when to look next."""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections.abc import Awaitable, Callable

from effectd._errors import EffectdError

from effectd_server.store.await_events import AwaitEventsStore

__all__ = ["FIRE_LIMIT", "DeadlineTimers"]

log = logging.getLogger("effectd.await_events")

FIRE_LIMIT = 1000
"""Deadlines fired per store call; the loop calls again while a call fires this many."""


def _now_ms() -> int:
    return int(time.time() * 1000)


class DeadlineTimers:
    def __init__(self, store: AwaitEventsStore, fire_due: Callable[[], Awaitable[int]]) -> None:
        self._store = store
        self._fire_due = fire_due
        # A safety poll for deadlines set elsewhere (other replicas); the heap wakes the loop for every
        # deadline this server scheduled itself.
        self._poll_s = store.deadline_poll_s
        self._heap: list[int] = []
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        for _, deadline in await self._store.pending_deadlines():
            heapq.heappush(self._heap, deadline)
        self._task = asyncio.create_task(self._run(), name="effectd-deadline-timers")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    def schedule(self, deadline_ms: int) -> None:
        heapq.heappush(self._heap, deadline_ms)
        self._changed.set()

    async def _run(self) -> None:
        while True:
            self._changed.clear()
            delay = self._poll_s
            if self._heap:
                delay = min(delay, max(0.0, (self._heap[0] - _now_ms()) / 1000))
            if delay > 0:
                try:
                    await asyncio.wait_for(self._changed.wait(), timeout=delay)
                    continue
                except TimeoutError:
                    pass
            current = _now_ms()
            while self._heap and self._heap[0] <= current:
                heapq.heappop(self._heap)
            try:
                while await self._fire_due() >= FIRE_LIMIT:
                    pass
            except EffectdError as exc:
                log.warning("firing deadlines failed, will retry: %s", exc)
