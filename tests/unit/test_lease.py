"""`held_lease`: renewals at a fraction of the TTL, the lost event, running work under a lease."""

from __future__ import annotations

import asyncio
import time

import pytest
from effectd._errors import LeaseLostError, UnavailableError
from effectd._lease import held_lease, release_quietly


class Renewals:
    """A renew() that records when it was called and answers what the test says."""

    def __init__(self, answers: list[BaseException | None] | None = None) -> None:
        self.calls: list[float] = []
        self.answers = list(answers or [])
        self.third_call = asyncio.Event()

    async def __call__(self) -> int:
        self.calls.append(time.monotonic())
        if len(self.calls) >= 3:
            self.third_call.set()
        answer = self.answers.pop(0) if self.answers else None
        if answer is not None:
            raise answer
        return 1_000 * len(self.calls)


async def test_renews_at_a_third_of_the_ttl_and_stops_on_exit() -> None:
    renew = Renewals()
    started = time.monotonic()
    async with held_lease(renew, ttl=0.3) as lease:
        await asyncio.sleep(0.35)
        assert not lease.lost.is_set()
    count = len(renew.calls)
    assert 2 <= count <= 4
    assert renew.calls[0] - started >= 0.09
    assert lease.renewals == count and lease.expires_at_unix_ms == 1_000 * count
    await asyncio.sleep(0.25)
    assert len(renew.calls) == count  # no renewal after the block


async def test_the_fraction_sets_the_interval() -> None:
    renew = Renewals()
    async with held_lease(renew, ttl=1.0, fraction=0.1):
        await asyncio.sleep(0.35)
    assert 2 <= len(renew.calls) <= 4


async def test_a_lost_lease_sets_lost_and_stops_renewing() -> None:
    renew = Renewals([None, LeaseLostError("effect_replay_lease_lost", "taken over")])
    async with held_lease(renew, ttl=0.15) as lease:
        await asyncio.wait_for(lease.lost.wait(), 1)
        assert lease.renewals == 1
        await asyncio.sleep(0.15)
        assert len(renew.calls) == 2


async def test_transient_failures_do_not_lose_the_lease() -> None:
    down = UnavailableError("unavailable", "down")
    renew = Renewals([down, down])
    async with held_lease(renew, ttl=0.15) as lease:
        await asyncio.wait_for(renew.third_call.wait(), 2)
        assert not lease.lost.is_set()
        assert lease.renewals == 1


async def test_run_returns_the_work_result_and_its_errors() -> None:
    async with held_lease(Renewals(), ttl=10) as lease:
        assert await lease.run(asyncio.sleep(0.01, result="done")) == "done"

        async def fail() -> None:
            raise RuntimeError("broken")

        with pytest.raises(RuntimeError, match="broken"):
            await lease.run(fail())


async def test_run_cancels_the_work_when_the_lease_is_lost() -> None:
    renew = Renewals([LeaseLostError("effect_replay_lease_lost", "taken over")])
    stopped = asyncio.Event()

    async def long_work() -> str:
        try:
            await asyncio.sleep(60)
        finally:
            stopped.set()
        return "never"

    async with held_lease(renew, ttl=0.15, description="the lease on 'k'") as lease:
        with pytest.raises(LeaseLostError) as raised:
            await lease.run(long_work())
    assert raised.value.code == "effect_replay_lease_lost"
    assert raised.value.message == "the lease on 'k' was lost while running"
    await asyncio.wait_for(stopped.wait(), 1)


async def test_cancelling_the_caller_cancels_the_work() -> None:
    stopped = asyncio.Event()

    async def long_work() -> None:
        try:
            await asyncio.sleep(60)
        finally:
            stopped.set()

    async def holder() -> None:
        async with held_lease(Renewals(), ttl=10) as lease:
            await lease.run(long_work())

    task = asyncio.create_task(holder())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(stopped.wait(), 1)


async def test_bad_arguments_are_value_errors() -> None:
    with pytest.raises(ValueError, match="ttl"):
        async with held_lease(Renewals(), ttl=0):
            pass
    with pytest.raises(ValueError, match="fraction"):
        async with held_lease(Renewals(), ttl=1, fraction=1.0):
            pass


async def test_release_quietly_ignores_failures_and_survives_cancellation() -> None:
    released: list[str] = []

    async def failing() -> None:
        raise UnavailableError("unavailable", "down")

    await release_quietly(failing)

    async def slow() -> None:
        await asyncio.sleep(0.1)
        released.append("released")

    task = asyncio.create_task(release_quietly(slow))
    await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.sleep(0.15)
    assert released == ["released"]  # shielded: the release went on
