"""Run work under a lease and keep it renewed: shared by runtimes (leased journal effects) and workers.

    async with held_lease(renew, ttl=30.0) as lease:
        try:
            value = await lease.run(work())        # LeaseLostError if the lease is lost first
        except BaseException:
            await release_quietly(release)         # nothing recorded; the next caller runs it at once
            raise
        await complete(value)

`renew()` extends the lease on the server and returns its new expiry (unix ms); it is called every
`ttl * fraction` seconds while the block runs. When it raises `LeaseLostError` (someone else took the
lease over) `lease.lost` is set and `lease.run` cancels the work. Other errors are taken as transient:
the next renewal tries again before the lease runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from effectd._errors import EffectdError, LeaseLostError

__all__ = ["HeldLease", "held_lease", "release_quietly"]

T = TypeVar("T")

MIN_RENEW_INTERVAL_S = 0.05


class HeldLease:
    """A lease kept alive by `held_lease`: `lost` is set once it was taken over."""

    def __init__(self, ttl: float, description: str) -> None:
        self.ttl = ttl
        self.description = description
        self.lost = asyncio.Event()
        """Set when a renewal answered `LeaseLostError`: the work must stop and record nothing."""
        self.renewals = 0
        """How many renewals succeeded."""
        self.expires_at_unix_ms: int | None = None
        """The expiry the last successful renewal answered (None before the first)."""

    async def run(self, work: Awaitable[T]) -> T:
        """Await `work` while the lease holds; if it is lost first, cancel the work and raise LeaseLostError."""
        running = asyncio.ensure_future(work)
        lost = asyncio.ensure_future(self.lost.wait())
        try:
            done, _ = await asyncio.wait({running, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
            if not running.done():  # the lease was lost, or the caller was cancelled
                running.cancel()
                running.add_done_callback(_retrieve)
        if running not in done:
            raise LeaseLostError("effect_replay_lease_lost", f"{self.description} was lost while running")
        return running.result()

    async def _renew_forever(self, renew: Callable[[], Awaitable[int]], interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                self.expires_at_unix_ms = await renew()
            except LeaseLostError:
                self.lost.set()
                return
            except EffectdError:
                continue  # transient: try again before the lease runs out
            self.renewals += 1


@contextlib.asynccontextmanager
async def held_lease(
    renew: Callable[[], Awaitable[int]],
    ttl: float,
    *,
    fraction: float = 1 / 3,
    description: str = "the lease",
) -> AsyncIterator[HeldLease]:
    """Keep a lease of `ttl` seconds alive while the block runs, renewing every `ttl * fraction` seconds
    (at least every 50 ms apart). `renew()` returns the new expiry in unix ms."""
    if ttl <= 0:
        raise ValueError(f"a lease ttl must be positive, got {ttl!r}")
    if not 0 < fraction < 1:
        raise ValueError(f"the renewal fraction must be between 0 and 1, got {fraction!r}")
    lease = HeldLease(ttl, description)
    renewer = asyncio.create_task(
        lease._renew_forever(renew, max(MIN_RENEW_INTERVAL_S, ttl * fraction)), name="effectd-lease-renew"
    )
    try:
        yield lease
    finally:
        renewer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewer


async def release_quietly(release: Callable[[], Awaitable[object]]) -> None:
    """Give a lease back after a crash or a cancellation: shielded from the caller's cancellation, and
    failures ignored (an unreleased lease expires by itself)."""
    with contextlib.suppress(EffectdError, asyncio.CancelledError):
        await asyncio.shield(release())


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Read a cancelled work's end so that an error it raised while stopping is not logged as unretrieved."""
    if not task.cancelled():
        task.exception()
