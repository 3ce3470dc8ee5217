"""Resolve → waiter woken latency, sequential, against a bare grpc.aio echo in the same run.

Each iteration mints a key, opens an Await stream for it on the waiter's channel and waits for the first heartbeat,
sent as soon as the wait is registered, which proves the server has registered the
wait. Then it times from just before the resolver (a second Client on its own channel) calls `resolve`
until the waiter's task reads the terminal.

Two modes, because this machine answers any RPC that follows a few ms of quiet ~0.7 ms slower (a bare
echo too):
- warm: while waiting for the heartbeat the resolver makes back-to-back Peek calls, so the processes
  are busy right up to the resolve, as in the echo's back-to-back round trips (the headline figure);
- idle: the run just waits for the heartbeat (~50 ms of quiet before each resolve).
The echo analogue of each mode (a unary call releasing a server stream on another channel, after the
same 50 ms busy or idle) is measured in the same run.

Targets: p50 <= 1 ms, p99 <= 3 ms (warm mode).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

from _common import (
    echo_sequential_latency,
    echo_server,
    echo_stream_wakeup_latency,
    effectd_server,
    emit,
    environment,
    latency_summary_ms,
    log,
    new_channel,
    rnd,
)
from effectd import Accepted, Client, KeyPending, Ok, ToolCompletionWait, TurnScope
from effectd._convert_scope import key_to_proto
from effectd.v1 import await_events_pb2 as pb
from effectd.v1 import await_events_pb2_grpc as pb_grpc

TARGET_P50_MS = 1.0
TARGET_P99_MS = 3.0
HEARTBEAT_MS = 50  # raised to the server's minimum; the first heartbeat comes when the wait is registered
RESOLUTION = Ok({"answer": 42, "note": "latency benchmark"})


async def measure_wake(target: str, *, iterations: int, warmup: int, warm: bool) -> dict[str, Any]:
    mode = "warm" if warm else "idle"
    waiter_channel = new_channel(target, index=1)
    resolver = await Client.connect(target)
    try:
        await waiter_channel.channel_ready()
        stub = pb_grpc.AwaitEventsStub(waiter_channel)
        wake: list[float] = []
        resolve_rpc: list[float] = []
        mint_rpc: list[float] = []
        peek_rpc: list[float] = []
        woken_before_ack = 0
        for i in range(warmup + iterations):
            t_mint = time.perf_counter()
            key = await resolver.mint_key(TurnScope(f"latency-{mode}", f"turn-{i}"), ToolCompletionWait(f"call-{i}"))
            t_peek = time.perf_counter()
            state = await resolver.peek(key)
            t_peeked = time.perf_counter()
            if not isinstance(state, KeyPending):
                raise RuntimeError(f"a fresh key is not pending: {state}")
            call = stub.Await(pb.AwaitRequest(key=key_to_proto(key), heartbeat_interval_ms=HEARTBEAT_MS))
            registered = asyncio.ensure_future(call.read())
            if warm:
                while not registered.done():
                    await resolver.peek(key)
            first = await registered
            if first.WhichOneof("event") != "heartbeat":
                raise RuntimeError(f"expected a heartbeat first, got {first}")
            woken_at: list[float] = []

            async def read_terminal(call: Any = call, woken_at: list[float] = woken_at) -> None:
                while True:
                    response = await call.read()
                    if response.WhichOneof("event") == "terminal":
                        woken_at.append(time.perf_counter())
                        return

            reader = asyncio.create_task(read_terminal())
            await asyncio.sleep(0)  # the reader now waits in read()
            start = time.perf_counter()
            outcome = await resolver.resolve(key, RESOLUTION)
            acked = time.perf_counter()
            await asyncio.wait_for(reader, 10.0)
            if not isinstance(outcome, Accepted):
                raise RuntimeError(f"resolve answered {outcome}")
            if i >= warmup:
                wake.append(woken_at[0] - start)
                resolve_rpc.append(acked - start)
                mint_rpc.append(t_peek - t_mint)
                peek_rpc.append(t_peeked - t_peek)
                woken_before_ack += woken_at[0] < acked
            if (i + 1) % 100 == 0:
                log(f"wake latency ({mode}): {i + 1}/{warmup + iterations}")
        return {
            "resolve_to_woken": latency_summary_ms(wake),
            "resolve_rpc": latency_summary_ms(resolve_rpc),
            "woken_before_resolve_ack": woken_before_ack,
            "mint_key_rpc": latency_summary_ms(mint_rpc),
            "peek_rpc": latency_summary_ms(peek_rpc),
        }
    finally:
        await resolver.close()
        await waiter_channel.close()


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    gap = HEARTBEAT_MS / 1000
    async with echo_server() as echo:
        log("echo: sequential unary round trips")
        echo_rtt = await echo_sequential_latency(echo.target, iterations=args.echo_iterations)
        log("echo: unary releases an open stream, warm")
        echo_warm = await echo_stream_wakeup_latency(
            echo.target, iterations=args.echo_wake_iterations, gap_s=gap, warm=True
        )
        log("echo: unary releases an open stream, after idle")
        echo_idle = await echo_stream_wakeup_latency(echo.target, iterations=args.echo_wake_iterations, gap_s=gap)
    async with effectd_server() as server:
        memory_before = server.memory()
        log(f"effectd: {args.iterations} sequential resolve → woken, warm")
        warm = await measure_wake(server.target, iterations=args.iterations, warmup=args.warmup, warm=True)
        log(f"effectd: {args.idle_iterations} sequential resolve → woken, after idle")
        idle = await measure_wake(server.target, iterations=args.idle_iterations, warmup=args.warmup, warm=False)
        memory_after = server.memory()
    woken = warm["resolve_to_woken"]
    woken_idle = idle["resolve_to_woken"]
    return {
        "benchmark": "latency",
        "description": "resolve → waiter woken, one at a time; waiter and resolver on separate channels",
        "environment": environment(),
        "effectd": {
            "warm": warm,
            "idle": idle,
            "heartbeat_interval_ms": HEARTBEAT_MS,
            "server_memory_before": memory_before,
            "server_memory_after": memory_after,
        },
        "echo": {
            "unary_round_trip": echo_rtt,
            "unary_releases_stream_warm": echo_warm,
            "unary_releases_stream_idle": echo_idle,
        },
        "ratios": {
            "woken_p50_over_echo_rtt_p50": rnd(woken["p50_ms"] / echo_rtt["p50_ms"], 2),
            "woken_p99_over_echo_rtt_p99": rnd(woken["p99_ms"] / echo_rtt["p99_ms"], 2),
            "woken_p50_over_echo_wake_warm_p50": rnd(woken["p50_ms"] / echo_warm["p50_ms"], 2),
            "idle_woken_p50_over_echo_wake_idle_p50": rnd(woken_idle["p50_ms"] / echo_idle["p50_ms"], 2),
        },
        "targets": {
            "woken_p50_ms": {
                "target": f"<= {TARGET_P50_MS}",
                "value": woken["p50_ms"],
                "met": woken["p50_ms"] <= TARGET_P50_MS,
            },
            "woken_p99_ms": {
                "target": f"<= {TARGET_P99_MS}",
                "value": woken["p99_ms"],
                "met": woken["p99_ms"] <= TARGET_P99_MS,
            },
        },
        "elapsed_s": rnd(time.perf_counter() - started, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=500, help="measured iterations, warm mode")
    parser.add_argument("--idle-iterations", type=int, default=300, help="measured iterations, idle mode")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--echo-iterations", type=int, default=2000)
    parser.add_argument("--echo-wake-iterations", type=int, default=200)
    args = parser.parse_args()
    emit(asyncio.run(main_async(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
