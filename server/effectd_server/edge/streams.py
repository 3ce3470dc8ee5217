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
        self._stops: set[asyncio.Future[None]] = set()
        self._per_peer: dict[str, int] = {}
        self.closing = False

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
        return stop

    def release(self, stop: asyncio.Future[None]) -> None:
        self._stops.discard(stop)
        if not stop.done():
            stop.cancel()

    def close(self) -> None:
        """End every open stream (they raise server_shutting_down)."""
        self.closing = True
        for stop in self._stops:
            if not stop.done():
                stop.set_result(None)
        self._stops.clear()

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
