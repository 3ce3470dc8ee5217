"""Dead-link detection without a network: the heartbeat an SDK stream asks for, the silence bound, the
watchdog that cancels a silent call, and the channel replaced once per dead connection."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest
from effectd import Rpc
from effectd._errors import InvalidArgumentError, UnavailableError
from effectd._rpc import DEFAULT_HEARTBEAT_S, Reconnect, Watchdog, heartbeat_ms, stall_after
from effectd.v1 import await_events_pb2_grpc


def test_streams_ask_for_a_heartbeat_and_the_bound_is_two_intervals_and_a_margin() -> None:
    assert heartbeat_ms(None) == 5000 == DEFAULT_HEARTBEAT_S * 1000
    assert stall_after(heartbeat_ms(None)) == 11.0
    assert heartbeat_ms(1.0) == 1000 and stall_after(1000) == 3.0
    # The server raises what it is asked for to its 1 s minimum; so does the bound.
    assert heartbeat_ms(0.05) == 50 and stall_after(50) == 3.0
    assert heartbeat_ms(0.0001) == 1
    for bad in (0, -1, float("nan"), float("inf"), 3601):
        with pytest.raises(InvalidArgumentError, match="heartbeat_interval"):
            heartbeat_ms(bad)


class FakeCall:
    def __init__(self) -> None:
        self.cancelled = 0

    def cancel(self) -> bool:
        self.cancelled += 1
        return True


class FakeChannel:
    def __init__(self, name: str) -> None:
        self.name = name
        self.closed = False

    async def close(self, grace: float | None = None) -> None:
        self.closed = True


def fake_rpc() -> tuple[Rpc, list[FakeChannel]]:
    opened = [FakeChannel("first")]

    def reopen() -> Any:
        opened.append(FakeChannel(f"channel {len(opened)}"))
        return opened[-1]

    return Rpc(opened[0], reopen=reopen), opened  # type: ignore[arg-type]


async def test_the_watchdog_cancels_a_silent_call_and_not_one_that_hears() -> None:
    rpc, opened = fake_rpc()
    heard, silent = FakeCall(), FakeCall()
    one, two = Watchdog(rpc, 0.2), Watchdog(rpc, 0.2)
    one.watch(heard)  # type: ignore[arg-type]
    two.watch(silent)  # type: ignore[arg-type]
    for _ in range(6):
        await asyncio.sleep(0.1)
        one.heard()
    assert (heard.cancelled, one.fired) == (0, False)
    assert (silent.cancelled, two.fired) == (1, True)
    one.stop()
    await asyncio.sleep(0.3)
    assert heard.cancelled == 0
    # The CancelledError the silent call raises is a lost link: the channel is replaced, once for both.
    assert two.lost(asyncio.CancelledError())
    assert rpc.generation == 1 and rpc.channel is opened[1]  # type: ignore[comparison-overlap]
    assert not one.lost(asyncio.CancelledError())  # it never fired, and its channel was not closed under it
    cancelled = grpc.aio.AioRpcError(grpc.StatusCode.CANCELLED, grpc.aio.Metadata(), grpc.aio.Metadata())
    assert one.lost(cancelled)  # CANCELLED on a replaced channel: resume
    assert not one.lost(grpc.aio.AioRpcError(grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata()))
    assert len(opened) == 2
    await rpc.close()
    assert all(channel.closed for channel in opened)


async def test_a_cancelled_task_is_not_a_lost_link() -> None:
    rpc, _ = fake_rpc()
    watchdog = Watchdog(rpc, 0.05)
    watchdog.watch(FakeCall())  # type: ignore[arg-type]
    await asyncio.sleep(0.1)
    assert watchdog.fired
    seen: list[bool] = []

    async def cancelled_while_reading() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError as exc:
            seen.append(watchdog.lost(exc))
            raise

    task = asyncio.create_task(cancelled_while_reading())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen == [False] and rpc.generation == 0
    await rpc.close()


async def test_stubs_follow_the_renewed_channel() -> None:
    # Channels connect lazily: nothing here touches the network.
    rpc = Rpc(grpc.aio.insecure_channel("127.0.0.1:1"), reopen=lambda: grpc.aio.insecure_channel("127.0.0.1:1"))
    stub = rpc.stub(await_events_pb2_grpc.AwaitEventsStub)
    before = stub.Peek
    assert rpc.renew_channel(0)
    assert stub is rpc.stub(await_events_pb2_grpc.AwaitEventsStub)
    assert stub.Peek is not before
    assert stub.Peek is rpc._current_stub(await_events_pb2_grpc.AwaitEventsStub).Peek
    await rpc.close()


async def test_the_channel_is_replaced_once_per_dead_connection_and_old_ones_closed_in_the_end() -> None:
    rpc, opened = fake_rpc()
    for generation in range(7):
        assert rpc.renew_channel(generation)
        assert not rpc.renew_channel(generation)  # a second stream on the same dead connection
    assert rpc.generation == 7 and len(opened) == 8
    await asyncio.sleep(0.05)
    # The oldest retired channels are closing (after a grace); the last few stay open for calls on them.
    assert [channel.closed for channel in opened] == [True, True, True] + [False] * 5
    await rpc.close()
    assert all(channel.closed for channel in opened)


async def test_a_wrapped_channel_without_reopen_is_kept() -> None:
    async with Rpc(grpc.aio.insecure_channel("127.0.0.1:1")) as rpc:
        channel = rpc.channel
        assert not rpc.renew_channel(0)
        assert rpc.channel is channel and rpc.generation == 0


def test_a_stream_silent_on_every_attempt_gives_up(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    monkeypatch.setattr("effectd._rpc.time.monotonic", lambda: now[0])
    reconnect = Reconnect(give_up_after=10)
    watchdog: Any = type("W", (), {"after": 3.0})()
    reconnect.lost(watchdog)
    now[0] += 10
    reconnect.lost(watchdog)
    now[0] += 0.1
    with pytest.raises(UnavailableError, match="sent nothing for 3 s"):
        reconnect.lost(watchdog)
