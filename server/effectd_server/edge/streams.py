"""What every server stream shares: heartbeats while waiting, an end on shutdown, a cap per connection.

A waiting stream costs one future here and no task: the loop waits on the work's own future and on a
stop future that shutdown completes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from effectd._errors import ResourceExhaustedError

from effectd_server.edge.errors import shutting_down

__all__ = ["Streams"]

T = TypeVar("T")
R = TypeVar("R")


class Streams:
    """Open server streams: ended with UNAVAILABLE server_shutting_down on close; at most
    `max_per_connection` at once from one peer connection."""

    def __init__(self, *, max_per_connection: int, min_heartbeat_s: float, default_heartbeat_s: float) -> None:
        self.max_per_connection = max_per_connection
        self.min_heartbeat_s = min_heartbeat_s
        self.default_heartbeat_s = default_heartbeat_s
        self._stops: set[asyncio.Future[Any]] = set()
        # Stop futures made here end with a result; futures of others (`hold`) with the error.
        self._held_results: set[asyncio.Future[Any]] = set()
        self._per_peer: dict[str, int] = {}
        self.closing = False

    @property
    def open_count(self) -> int:
        """Streams open now (a gauge read at scrape time)."""
        return sum(self._per_peer.values())

    def heartbeat_s(self, requested_ms: int) -> float:
        """The heartbeat interval for a request: its own, raised to the server's minimum, or the default."""
        if requested_ms <= 0:
            return self.default_heartbeat_s
        return max(self.min_heartbeat_s, requested_ms / 1000)

    def enter(self, peer: str) -> None:
        """Count a stream of `peer`; over the cap it is refused with RESOURCE_EXHAUSTED."""
        count = self._per_peer.get(peer, 0)
        if count >= self.max_per_connection:
            raise ResourceExhaustedError(
                "too_many_streams", f"a connection may hold at most {self.max_per_connection} open streams"
            )
        self._per_peer[peer] = count + 1

    def leave(self, peer: str) -> None:
        count = self._per_peer.get(peer, 0) - 1
        if count <= 0:
            self._per_peer.pop(peer, None)
        else:
            self._per_peer[peer] = count

    def stop_future(self) -> asyncio.Future[None]:
        """A future completed when the server shuts down (forget it with `release`)."""
        stop: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.closing:
            stop.set_result(None)
        else:
            self._stops.add(stop)
            self._held_results.add(stop)
        return stop

    def release(self, stop: asyncio.Future[Any], *, cancel: bool = True) -> None:
        self._stops.discard(stop)
        self._held_results.discard(stop)
        if cancel and not stop.done():
            stop.cancel()

    def hold(self, future: asyncio.Future[Any]) -> None:
        """End `future` with server_shutting_down when the server closes (forget it with `release`).
        The cheapest way for a stream to hear of shutdown: no future of its own."""
        if self.closing:
            if not future.done():
                future.set_exception(shutting_down())
        else:
            self._stops.add(future)

    def close(self) -> None:
        """End every open stream (they raise server_shutting_down)."""
        self.closing = True
        for stop in self._stops:
            if not stop.done():
                if stop in self._held_results:
                    stop.set_result(None)
                else:
                    stop.set_exception(shutting_down())
        self._stops.clear()
        self._held_results.clear()

    @staticmethod
    async def done_within(future: asyncio.Future[Any], timeout_s: float) -> bool:
        """Wait until `future` is done or `timeout_s` passed (a timer and one future, no task)."""
        if future.done():
            return True
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()

        def wake(_: object = None) -> None:
            if not waiter.done():
                waiter.set_result(None)

        timer = loop.call_later(timeout_s, wake)
        future.add_done_callback(wake)
        try:
            await waiter
        finally:
            timer.cancel()
            future.remove_done_callback(wake)
        return future.done()

    async def wait_with_heartbeats(
        self, work: asyncio.Future[T], interval_s: float, heartbeat: Callable[[], R], respond: Callable[[T], R]
    ) -> AsyncIterator[R]:
        """Yield `heartbeat()` every `interval_s` until `work` is done, then `respond(result)`; raise
        server_shutting_down when the server closes first. The caller owns `work` (and cancels it)."""
        stop = self.stop_future()
        waiting: tuple[asyncio.Future[Any], ...] = (work, stop)
        try:
            while True:
                if not work.done():
                    await asyncio.wait(waiting, timeout=interval_s, return_when=asyncio.FIRST_COMPLETED)
                if work.done():
                    yield respond(work.result())
                    return
                if stop.done():
                    raise shutting_down()
                yield heartbeat()
        finally:
            self.release(stop)
