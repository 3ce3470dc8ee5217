"""A half-dead link (issue 16, section 3): a connection dropped without a reset, black-holed by a TCP proxy
that keeps both sockets open and drops every byte. The SDK's Await and Watch notice the missing
heartbeats within `stall_after(interval)`, reconnect through the proxy on a new connection and deliver
every terminal once; a healthy link with heartbeats is never torn down."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from effectd import CustomWait, Ok, TurnScope
from effectd._client import Client, WatchRejected, WatchTerminal
from effectd._rpc import heartbeat_ms, stall_after
from effectd_server import RunningServer

from tests.tcp_proxy import start_proxy

HEARTBEAT_S = 1.0
BOUND_S = stall_after(heartbeat_ms(HEARTBEAT_S))  # 2 intervals + 1 s margin = 3 s
RECONNECT_SLACK_S = 1.5  # backoff (at most 50 ms on the first attempt), a new connection, the resume


async def _keys(client: Client, prefix: str, count: int) -> list[Any]:
    return [await client.mint_key(TurnScope("s", "t"), CustomWait(f"{prefix}{i}")) for i in range(count)]


async def test_a_black_holed_link_is_noticed_and_every_terminal_arrives_once(server: RunningServer) -> None:
    async with (
        start_proxy(server.target) as proxy,
        await Client.connect(server.target) as direct,
        await Client.connect(proxy.target) as proxied,
    ):
        awaited, early, late, added = await _keys(direct, "k", 4)
        arrived: dict[str, float] = {}
        events: list[WatchTerminal | WatchRejected] = []
        early_seen = asyncio.Event()
        watch = proxied.watch([early, late], heartbeat_interval=HEARTBEAT_S)

        async def collect() -> None:
            async for event in watch:
                events.append(event)
                arrived[event.key_id] = time.monotonic()
                if event.key_id == early.key_id:
                    early_seen.set()

        async def wait() -> Any:
            resolution = await proxied.await_event(awaited, heartbeat_interval=HEARTBEAT_S)
            arrived["await"] = time.monotonic()
            return resolution

        watching = asyncio.create_task(collect())
        waiting = asyncio.create_task(wait())
        # Both streams are live: the Watch delivers a terminal, and heartbeats flow for a while.
        await direct.resolve(early, Ok("early"))
        await asyncio.wait_for(early_seen.wait(), 5)
        await asyncio.sleep(1.5 * HEARTBEAT_S)
        assert proxy.connections == 1 and proxied.rpc.generation == 0

        proxy.black_hole()
        black_holed = time.monotonic()
        watch.add([added])  # goes into the hole with the rest; re-added after the reconnect
        # Resolved on the server directly, not through the proxy.
        await direct.resolve(awaited, Ok("awaited"))
        await direct.resolve(late, Ok("late"))
        await direct.resolve(added, Ok("added"))

        assert await asyncio.wait_for(waiting, BOUND_S + RECONNECT_SLACK_S + 5) == Ok("awaited")
        await asyncio.wait_for(watching, BOUND_S + RECONNECT_SLACK_S + 5)

        noticed = {name: at - black_holed for name, at in arrived.items() if at > black_holed}
        print(
            f"\ntime to notice a black-holed link (heartbeat {HEARTBEAT_S:g} s, bound {BOUND_S:g} s): "
            + ", ".join(f"{name[:8]} {seconds:.2f} s" for name, seconds in noticed.items())
        )
        assert set(noticed) == {"await", late.key_id, added.key_id}
        assert max(noticed.values()) < BOUND_S + RECONNECT_SLACK_S
        # Every terminal once, none twice; the one delivered before the hole is not delivered again.
        assert all(isinstance(e, WatchTerminal) for e in events)
        assert [(e.key_id, e.resolution) for e in events if isinstance(e, WatchTerminal)] == [
            (early.key_id, Ok("early")),
            *sorted([(late.key_id, Ok("late")), (added.key_id, Ok("added"))], key=lambda item: arrived[item[0]]),
        ]
        # Both streams noticed the same dead connection and replaced the channel once, through the proxy.
        assert proxied.rpc.generation == 1
        assert proxy.connections == 2
        assert proxy.dropped_bytes > 0


async def test_a_healthy_link_with_heartbeats_is_never_torn_down(server: RunningServer) -> None:
    async with (
        start_proxy(server.target) as proxy,
        await Client.connect(server.target) as direct,
        await Client.connect(proxy.target) as proxied,
    ):
        awaited, watched = await _keys(direct, "h", 2)
        watch = proxied.watch([watched], heartbeat_interval=HEARTBEAT_S)

        async def collect() -> list[WatchTerminal | WatchRejected]:
            return [event async for event in watch]

        watching = asyncio.create_task(collect())
        waiting = asyncio.create_task(proxied.await_event(awaited, heartbeat_interval=HEARTBEAT_S))
        # Well past twice the bound: only heartbeats arrive, and that is enough.
        await asyncio.sleep(2.5 * BOUND_S)
        assert not waiting.done() and not watching.done()
        await direct.resolve(awaited, Ok(1))
        await direct.resolve(watched, Ok(2))
        assert await asyncio.wait_for(waiting, 5) == Ok(1)
        events = await asyncio.wait_for(watching, 5)
        assert [(e.key_id, e.resolution) for e in events if isinstance(e, WatchTerminal)] == [(watched.key_id, Ok(2))]
        assert proxied.rpc.generation == 0
        assert proxy.connections == 1
        assert proxy.dropped_bytes == 0
