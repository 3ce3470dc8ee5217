"""Many waiters: 10,000 concurrent Await streams and 100,000 keys on one Watch stream.

1. Mint every key with 64 MintKey calls in flight (reported as mint throughput).
2. Await: open `--awaits` Await streams spread over `--channels` client channels (each its own TCP
   connection), each with a long heartbeat; a stream counts as registered when its first heartbeat
   arrives (sent as soon as the wait is registered). Then resolve every key with ResolveMany (`--batch`
   items, `--batch-concurrency` in flight) and time until every waiter has read its terminal. Server RSS
   before, with all streams open, and after.
3. Watch: `client.watch(keys)` with `--watch-keys` keys plus one already-resolved sentinel key at the end:
   the server adds keys in order, so the sentinel's terminal proves every key is registered. Then
   resolve them all with ResolveMany and time until the watch has delivered every terminal. Server RSS
   peak over the phase (target <= 400 MB).
4. Echo: a server-streaming echo that sends `--watch-keys` messages on one stream, and unary
   throughput with 64 in flight, as the gRPC ceiling of this run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from typing import Any

from _common import (
    DEFAULT_POSTGRES,
    ECHO_STREAM,
    CpuMeter,
    echo_channel,
    echo_server,
    echo_unary_throughput,
    effectd_server,
    emit,
    environment,
    fresh_schema,
    latency_summary_ms,
    log,
    new_channel,
    percentile,
    proc_status,
    rnd,
    run_all,
)
from effectd import Accepted, AwaitEventKey, Client, Ok, ToolCompletionWait, TurnScope, WatchTerminal
from effectd._convert_scope import key_to_proto
from effectd.v1 import await_events_pb2 as pb
from effectd.v1 import await_events_pb2_grpc as pb_grpc

TARGET_WATCH_PEAK_RSS_MB = 400
RESOLUTION = Ok({"answer": 42})


def client_memory() -> dict[str, float]:
    """This (client) process's RSS and peak RSS."""
    status = proc_status(os.getpid())
    return {"rss_mb": rnd(status["VmRSS"] / 1024, 1), "peak_rss_mb": rnd(status["VmHWM"] / 1024, 1)}


async def mint_keys(client: Client, prefix: str, count: int, in_flight: int) -> list[AwaitEventKey]:
    async def mint(i: int) -> AwaitEventKey:
        return await client.mint_key(TurnScope(f"{prefix}-s{i // 100}", f"t{i}"), ToolCompletionWait(f"c{i}"))

    done = 0

    async def mint_logged(i: int) -> AwaitEventKey:
        nonlocal done
        key = await mint(i)
        done += 1
        if done % 20_000 == 0:
            log(f"minted {done}/{count}")
        return key

    return await run_all(range(count), mint_logged, in_flight=in_flight)


async def resolve_all(client: Client, keys: list[AwaitEventKey], batch: int, concurrency: int) -> int:
    """Resolve every key with ResolveMany; the number accepted."""
    batches = [keys[i : i + batch] for i in range(0, len(keys), batch)]
    results = await run_all(
        batches,
        lambda part: client.resolve_many([(key, RESOLUTION) for key in part], timeout=120.0),
        in_flight=concurrency,
    )
    return sum(isinstance(outcome, Accepted) for part in results for outcome in part)


def spread(times: list[float], start: float) -> dict[str, float]:
    """When the p50/p99/last events happened, in seconds after `start`."""
    offsets = [t - start for t in times]
    return {
        "p50_s": rnd(percentile(offsets, 50)),
        "p99_s": rnd(percentile(offsets, 99)),
        "last_s": rnd(max(offsets)),
    }


async def bench_awaits(
    server: Any, resolver: Client, keys: list[AwaitEventKey], args: argparse.Namespace
) -> dict[str, Any]:
    channels = [new_channel(server.target, index=i) for i in range(args.channels)]
    try:
        await asyncio.gather(*(channel.channel_ready() for channel in channels))
        stubs = [pb_grpc.AwaitEventsStub(channel) for channel in channels]
        await asyncio.sleep(0.5)
        memory_before = server.memory()
        server.reset_peak()
        client_before = client_memory()
        registered_at: list[float] = []
        woken_at: list[float] = []
        heartbeats_after_first = 0
        all_registered = asyncio.Event()

        async def waiter(index: int, key: AwaitEventKey) -> None:
            nonlocal heartbeats_after_first
            request = pb.AwaitRequest(key=key_to_proto(key), heartbeat_interval_ms=args.heartbeat_ms)
            call = stubs[index % len(stubs)].Await(request)
            first = True
            async for response in call:
                if response.WhichOneof("event") == "terminal":
                    woken_at.append(time.perf_counter())
                    return
                if first:
                    first = False
                    registered_at.append(time.perf_counter())
                    if len(registered_at) == len(keys):
                        all_registered.set()
                else:
                    heartbeats_after_first += 1
            raise RuntimeError("an Await stream ended without a terminal")

        log(f"Await: opening {len(keys)} streams over {len(channels)} channels (heartbeat {args.heartbeat_ms} ms)")
        cpu_open = CpuMeter(server.pid)
        opened = time.perf_counter()
        tasks = [asyncio.create_task(waiter(i, key)) for i, key in enumerate(keys)]
        registered_wait = asyncio.create_task(all_registered.wait())
        done, _ = await asyncio.wait(
            [registered_wait, *tasks], timeout=args.heartbeat_ms / 1000 + 120, return_when=asyncio.FIRST_COMPLETED
        )
        if registered_wait not in done:
            failed = [t for t in tasks if t.done()]
            if failed:
                failed[0].result()
            raise RuntimeError(f"only {len(registered_at)} of {len(keys)} Await streams registered")
        open_cpu = cpu_open.result()
        log(f"Await: all {len(keys)} streams registered {time.perf_counter() - opened:.1f}s after opening")
        memory_open = server.memory()
        client_open = client_memory()

        log("Await: resolving every key with ResolveMany")
        cpu = CpuMeter(server.pid)
        heartbeats_before_wake = heartbeats_after_first
        start = time.perf_counter()
        accepted = await resolve_all(resolver, keys, args.batch, args.batch_concurrency)
        resolved = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*tasks), 120.0)
        finished = time.perf_counter()
        wake_cpu = cpu.result()
        log(f"Await: all {len(keys)} waiters woken in {finished - start:.2f}s")
        await asyncio.sleep(0.5)
        memory_after = server.memory()
        if accepted != len(keys) or len(woken_at) != len(keys):
            raise RuntimeError(f"accepted {accepted}, woken {len(woken_at)} of {len(keys)}")
        per_stream_kb = (memory_open["rss_mb"] - memory_before["rss_mb"]) * 1024 / len(keys)
        return {
            "streams": len(keys),
            "channels": len(channels),
            "channels_note": (
                "all streams multiplexed on one channel (one TCP connection); none stalled"
                if len(channels) == 1
                else f"streams spread round-robin over {len(channels)} channels, each its own TCP connection"
            ),
            "heartbeat_interval_ms": args.heartbeat_ms,
            "open": {
                "registered_after": spread(registered_at, opened),
                # The server sends the first heartbeat as soon as a wait is registered.
                "setup_estimate_s": rnd(max(registered_at) - opened),
                "note": "a stream counts as registered at its first heartbeat, which the server sends one heartbeat "
                "interval after setting the wait up: setup_estimate_s = registered_after.last_s - interval",
                "cpu": open_cpu,
            },
            "wake_all": {
                "resolve_many_s": rnd(resolved - start),
                "all_woken_s": rnd(finished - start),
                "woken_after": spread(woken_at, start),
                "wakeups_per_s": rnd(len(keys) / (finished - start), 1),
                "batch": args.batch,
                "batches_in_flight": args.batch_concurrency,
                "heartbeats_during_wake": heartbeats_after_first - heartbeats_before_wake,
                "cpu": wake_cpu,
            },
            "server_memory": {
                "before": memory_before,
                "streams_open": memory_open,
                "after_wake": memory_after,
                "per_stream_kb": rnd(per_stream_kb, 2),
            },
            "client_memory": {"before": client_before, "streams_open": client_open},
        }
    finally:
        for channel in channels:
            await channel.close()


async def bench_watch(
    server: Any, resolver: Client, keys: list[AwaitEventKey], sentinel: AwaitEventKey, args: argparse.Namespace
) -> dict[str, Any]:
    watcher = Client(new_channel(server.target, index=1000))
    try:
        await asyncio.sleep(0.5)
        memory_before = server.memory()
        peak_reset = server.reset_peak()
        sentinel_seen = asyncio.Event()
        delivered_at: list[float] = []
        wanted = {key.key_id for key in keys}

        async def consume() -> None:
            async for event in watcher.watch([*keys, sentinel]):
                if not isinstance(event, WatchTerminal):
                    raise RuntimeError(f"watch rejected a key: {event}")
                if event.key_id == sentinel.key_id:
                    sentinel_seen.set()
                elif event.key_id in wanted:
                    delivered_at.append(time.perf_counter())

        log(f"Watch: adding {len(keys)} keys (+1 sentinel) on one stream")
        cpu = CpuMeter(server.pid)
        started = time.perf_counter()
        consumer = asyncio.create_task(consume())
        waiting = asyncio.create_task(sentinel_seen.wait())
        done, _ = await asyncio.wait([waiting, consumer], timeout=300, return_when=asyncio.FIRST_COMPLETED)
        if waiting not in done:
            if consumer.done():
                consumer.result()
            raise RuntimeError("the watch did not register its keys in time")
        registered = time.perf_counter()
        add_cpu = cpu.result()
        memory_registered = server.memory()
        log(f"Watch: {len(keys)} keys registered in {registered - started:.2f}s; resolving them with ResolveMany")
        if delivered_at:
            raise RuntimeError(f"{len(delivered_at)} terminals arrived before any resolve")

        cpu = CpuMeter(server.pid)
        start = time.perf_counter()
        accepted = await resolve_all(resolver, keys, args.batch, args.batch_concurrency)
        resolved = time.perf_counter()
        await asyncio.wait_for(consumer, 300.0)
        finished = time.perf_counter()
        deliver_cpu = cpu.result()
        log(f"Watch: all {len(keys)} terminals delivered {finished - start:.2f}s after the first resolve")
        memory_after = server.memory()
        if accepted != len(keys) or len(delivered_at) != len(keys):
            raise RuntimeError(f"accepted {accepted}, delivered {len(delivered_at)} of {len(keys)}")
        return {
            "keys": len(keys),
            "register": {
                "seconds": rnd(registered - started),
                "keys_per_s": rnd(len(keys) / (registered - started), 1),
                "cpu": add_cpu,
            },
            "deliver_all": {
                "resolve_many_s": rnd(resolved - start),
                "all_delivered_s": rnd(finished - start),
                "delivered_after": spread(delivered_at, start),
                "terminals_per_s": rnd(len(keys) / (finished - start), 1),
                "batch": args.batch,
                "batches_in_flight": args.batch_concurrency,
                "cpu": deliver_cpu,
            },
            "server_memory": {
                "before": memory_before,
                "registered": memory_registered,
                "after": memory_after,
                "peak_rss_mb": memory_after["peak_rss_mb"],
                "peak_is_since_phase_start": peak_reset,
                "per_key_kb": rnd((memory_registered["rss_mb"] - memory_before["rss_mb"]) * 1024 / len(keys), 2),
            },
            "client_memory": client_memory(),
        }
    finally:
        await watcher.close()


async def echo_stream_throughput(target: str, messages: int) -> dict[str, Any]:
    """One server stream sending `messages` small messages: messages/s as seen by the reader."""
    async with echo_channel(target) as channel:
        method = channel.unary_stream(ECHO_STREAM)
        request = f"{messages}:".encode() + b"x" * 100
        received = 0
        start = time.perf_counter()
        async for _ in method(request, timeout=300.0):
            received += 1
        seconds = time.perf_counter() - start
    return {"messages": received, "seconds": rnd(seconds), "messages_per_s": rnd(received / seconds, 1)}


async def echo_open_streams(echo: Any, streams: int) -> dict[str, Any]:
    """`streams` server streams held open on the echo server (its handler awaits a future, as an
    Await does): setup time, and echo server RSS per open stream."""
    async with echo_channel(echo.target) as channel:
        method = channel.unary_stream(ECHO_STREAM)
        await channel.channel_ready()
        await asyncio.sleep(0.3)
        before = echo.memory()
        client_before = client_memory()
        start = time.perf_counter()
        calls = [method(f"wake-open-{i}".encode()) for i in range(streams)]
        firsts = await asyncio.gather(*(call.read() for call in calls))
        seconds = time.perf_counter() - start
        if any(first != b"registered" for first in firsts):
            raise RuntimeError("an echo stream did not register")
        await asyncio.sleep(0.3)
        opened = echo.memory()
        client_opened = client_memory()
        for call in calls:
            call.cancel()
    return {
        "streams": streams,
        "channels": 1,
        "setup_s": rnd(seconds),
        "streams_per_s": rnd(streams / seconds, 1),
        "server_memory": {
            "before": before,
            "streams_open": opened,
            "per_stream_kb": rnd((opened["rss_mb"] - before["rss_mb"]) * 1024 / streams, 2),
        },
        "client_memory": {"before": client_before, "streams_open": client_opened},
    }


async def bench_snapshot(client: Client, target: str, count: int, in_flight: int) -> dict[str, Any]:
    """A late subscriber: `2 * count` keys, `count` of them resolved already, added on one Watch in one
    request; the time from the request to each existing terminal. Then `count` Awaits of resolved keys
    opened at once: the time to each terminal."""
    keys = await mint_keys(client, "snapshot", 2 * count, in_flight)
    resolved = keys[:count]
    for start in range(0, count, 1000):
        await client.resolve_many([(key, RESOLUTION) for key in resolved[start : start + 1000]])
    order = [keys[i // 2] if i % 2 == 0 else keys[count + i // 2] for i in range(2 * count)]  # interleaved
    async with new_channel(target, index=2000) as channel:
        stub = pb_grpc.AwaitEventsStub(channel)
        await channel.channel_ready()
        requests: asyncio.Queue[pb.WatchRequest | None] = asyncio.Queue()

        async def feed() -> Any:
            while (request := await requests.get()) is not None:
                yield request

        call = stub.Watch(feed())
        arrived: list[float] = []
        start = time.perf_counter()
        await requests.put(pb.WatchRequest(add_keys=[key_to_proto(key) for key in order]))
        while len(arrived) < count:
            response = await call.read()
            which = response.WhichOneof("event")
            if which == "terminal":
                arrived.append(time.perf_counter() - start)
            elif which == "terminals":
                now = time.perf_counter() - start
                arrived.extend([now] * len(response.terminals.terminals))
        await requests.put(None)
        call.cancel()
        watch = latency_summary_ms(arrived)
        awaited: list[float] = []

        async def await_one(key: AwaitEventKey, opened: float) -> None:
            async for response in stub.Await(pb.AwaitRequest(key=key_to_proto(key))):
                if response.WhichOneof("event") == "terminal":
                    awaited.append(time.perf_counter() - opened)
                    return

        opened = time.perf_counter()
        await asyncio.gather(*(await_one(key, opened) for key in resolved))
    return {
        "keys_added": 2 * count,
        "already_resolved": count,
        "watch_one_request": watch,
        "awaits_opened_at_once": latency_summary_ms(awaited),
        "target_watch_p99_ms": "< 50",
        "met": watch["p99_ms"] < 50,
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    async with effectd_server() as server, await Client.connect(server.target, default_timeout=60.0) as client:
        total = args.awaits + args.watch_keys + 1
        log(f"minting {total} keys, {args.in_flight} in flight")
        cpu = CpuMeter(server.pid)
        t0 = time.perf_counter()
        keys = await mint_keys(client, "streams", total, args.in_flight)
        mint_s = time.perf_counter() - t0
        mint = {
            "keys": total,
            "in_flight": args.in_flight,
            "seconds": rnd(mint_s),
            "keys_per_s": rnd(total / mint_s, 1),
            "cpu": cpu.result(),
        }
        log(f"minted {total} keys at {mint['keys_per_s']}/s")
        await_keys, watch_keys, sentinel = keys[: args.awaits], keys[args.awaits : -1], keys[-1]
        if not isinstance(await client.resolve(sentinel, RESOLUTION), Accepted):
            raise RuntimeError("the sentinel key was not accepted")
        awaits = await bench_awaits(server, client, await_keys, args)
        watch = await bench_watch(server, client, watch_keys, sentinel, args)
        log(f"snapshot: a late subscriber adds {2 * args.snapshot_keys} keys, {args.snapshot_keys} resolved")
        snapshot = {"sqlite": await bench_snapshot(client, server.target, args.snapshot_keys, args.in_flight)}
        memory_end = server.memory()
    if args.postgres:
        log("snapshot on PostgreSQL")
        async with (
            fresh_schema(args.postgres) as pg_url,
            effectd_server(store_url=pg_url) as pg_server,
            await Client.connect(pg_server.target, default_timeout=60.0) as pg_client,
        ):
            snapshot["postgres"] = await bench_snapshot(pg_client, pg_server.target, args.snapshot_keys, args.in_flight)
    async with echo_server() as echo:
        log(f"echo: one server stream of {args.echo_stream_messages} messages")
        echo_stream = await echo_stream_throughput(echo.target, args.echo_stream_messages)
        log(f"echo: {args.awaits} open server streams")
        echo_streams = await echo_open_streams(echo, args.awaits)
        log("echo: unary, 64 in flight")
        echo_unary = await echo_unary_throughput(echo.target, in_flight=64, duration=3.0, server_pid=echo.pid)
    peak = watch["server_memory"]["peak_rss_mb"]
    return {
        "benchmark": "streams",
        "description": "10k concurrent Await streams and 100k keys on one Watch stream, woken by ResolveMany",
        "environment": environment(),
        "effectd": {
            "mint_key": mint,
            "await_streams": awaits,
            "watch": watch,
            "snapshot": snapshot,
            "server_memory_end": memory_end,
        },
        "echo": {"server_stream": echo_stream, "open_streams": echo_streams, "unary": echo_unary},
        "ratios": {
            "watch_terminals_per_s_over_echo_stream_messages_per_s": rnd(
                watch["deliver_all"]["terminals_per_s"] / echo_stream["messages_per_s"]
            ),
            "await_wakeups_per_s_over_echo_unary_per_s": rnd(
                awaits["wake_all"]["wakeups_per_s"] / echo_unary["calls_per_s"], 2
            ),
            "await_stream_kb_over_echo_stream_kb": rnd(
                awaits["server_memory"]["per_stream_kb"] / max(echo_streams["server_memory"]["per_stream_kb"], 0.01), 2
            ),
            "await_setup_s_over_echo_setup_s": rnd(awaits["open"]["setup_estimate_s"] / echo_streams["setup_s"], 2),
            "mint_over_echo_unary": rnd(mint["keys_per_s"] / echo_unary["calls_per_s"]),
        },
        "targets": {
            "watch_peak_rss_mb": {
                "target": f"<= {TARGET_WATCH_PEAK_RSS_MB}",
                "value": peak,
                "met": peak <= TARGET_WATCH_PEAK_RSS_MB,
            },
        },
        "elapsed_s": rnd(time.perf_counter() - started, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--awaits", type=int, default=10_000, help="concurrent Await streams")
    parser.add_argument(
        "--channels",
        type=int,
        default=1,
        help="client channels (TCP connections) for them; one channel multiplexes 10,000 streams without stalling",
    )
    parser.add_argument("--heartbeat-ms", type=int, default=10_000, help="heartbeat interval of the Await streams")
    parser.add_argument("--watch-keys", type=int, default=100_000, help="keys on the one Watch stream")
    parser.add_argument("--echo-stream-messages", type=int, default=50_000, help="messages on the echo stream")
    parser.add_argument("--in-flight", type=int, default=64, help="concurrent MintKey calls")
    parser.add_argument("--snapshot-keys", type=int, default=1000, help="resolved keys a late subscriber adds")
    parser.add_argument(
        "--postgres",
        default=DEFAULT_POSTGRES,
        help="PostgreSQL for the snapshot on that store too ('' to skip)",
    )
    parser.add_argument("--batch", type=int, default=1000, help="items per ResolveMany")
    parser.add_argument("--batch-concurrency", type=int, default=4, help="ResolveMany calls in flight")
    args = parser.parse_args()
    emit(asyncio.run(main_async(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
