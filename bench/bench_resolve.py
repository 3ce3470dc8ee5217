"""Durable resolve throughput against a bare grpc.aio echo in the same run.

1. Mint keys with 64 MintKey calls in flight (reported as mint throughput).
2. Resolve: every key resolved once (each an Accepted, durable write) with 64 `client.resolve` calls in
   flight on one channel. The same again through a raw-bytes stub with pre-serialized requests, whose
   client-side cost equals the echo client's, so that ratio isolates the server's cost.
3. ResolveMany: batches of `--batch` items, `--batch-concurrency` calls in flight.
4. Echo: unary calls with 64 in flight, with a payload the size of a ResolveRequest.

Targets: Resolve >= 80% of echo; ResolveMany >= 30,000 resolutions/s.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

from _common import (
    CpuMeter,
    echo_server,
    echo_unary_throughput,
    effectd_server,
    emit,
    environment,
    log,
    new_channel,
    rnd,
    run_all,
)
from effectd import Accepted, AwaitEventKey, Client, Ok, ToolCompletionWait, TurnScope
from effectd._convert_scope import key_to_proto, resolution_to_proto
from effectd.v1 import await_events_pb2 as pb

TARGET_RESOLVE_RATIO = 0.80
TARGET_RESOLVE_MANY_PER_S = 30_000
RESOLUTION = Ok({"answer": 42, "note": "resolve benchmark"})
RESOLVE_METHOD = "/effectd.v1.AwaitEvents/Resolve"


async def mint_keys(client: Client, prefix: str, count: int, in_flight: int) -> list[AwaitEventKey]:
    async def mint(i: int) -> AwaitEventKey:
        return await client.mint_key(TurnScope(f"{prefix}-s{i // 100}", f"t{i}"), ToolCompletionWait(f"c{i}"))

    return await run_all(range(count), mint, in_flight=in_flight)


def rate(count: int, seconds: float) -> float:
    return rnd(count / seconds, 1)


async def bench_effectd(args: argparse.Namespace) -> tuple[dict[str, Any], int]:
    async with effectd_server() as server, await Client.connect(server.target) as client:
        total = args.resolve_keys + args.raw_keys + args.many_keys
        log(f"minting {total} keys, {args.in_flight} in flight")
        cpu = CpuMeter(server.pid)
        start = time.perf_counter()
        keys = await mint_keys(client, "resolve", total, args.in_flight)
        mint_s = time.perf_counter() - start
        mint = {"keys": total, "in_flight": args.in_flight, "keys_per_s": rate(total, mint_s), "cpu": cpu.result()}
        log(f"minted {total} keys at {mint['keys_per_s']}/s")
        sdk_keys = keys[: args.resolve_keys]
        raw_keys = keys[args.resolve_keys : args.resolve_keys + args.raw_keys]
        many_keys = keys[args.resolve_keys + args.raw_keys :]

        # Resolve through the SDK.
        log(f"Resolve (SDK): {len(sdk_keys)} keys, {args.in_flight} in flight")
        cpu = CpuMeter(server.pid)
        start = time.perf_counter()
        outcomes = await run_all(sdk_keys, lambda key: client.resolve(key, RESOLUTION), in_flight=args.in_flight)
        seconds = time.perf_counter() - start
        accepted = sum(isinstance(o, Accepted) for o in outcomes)
        resolve_sdk = {
            "resolutions": len(sdk_keys),
            "accepted": accepted,
            "in_flight": args.in_flight,
            "seconds": rnd(seconds),
            "per_s": rate(len(sdk_keys), seconds),
            "cpu": cpu.result(),
        }
        log(f"Resolve (SDK): {resolve_sdk['per_s']}/s")

        # Resolve through a raw-bytes stub: no SDK conversion on the client side.
        requests = [
            pb.ResolveRequest(key=key_to_proto(key), resolution=resolution_to_proto(RESOLUTION)).SerializeToString()
            for key in raw_keys
        ]
        request_bytes = len(requests[0])
        channel = new_channel(server.target, index=7)
        try:
            await channel.channel_ready()
            method = channel.unary_unary(RESOLVE_METHOD)
            log(f"Resolve (raw stub): {len(requests)} keys, {args.in_flight} in flight")
            cpu = CpuMeter(server.pid)
            start = time.perf_counter()
            replies = await run_all(requests, lambda raw: method(raw, timeout=30.0), in_flight=args.in_flight)
            seconds = time.perf_counter() - start
        finally:
            await channel.close()
        accepted = sum(pb.ResolveResponse.FromString(r).outcome.HasField("accepted") for r in replies)
        resolve_raw = {
            "resolutions": len(requests),
            "accepted": accepted,
            "in_flight": args.in_flight,
            "request_bytes": request_bytes,
            "seconds": rnd(seconds),
            "per_s": rate(len(requests), seconds),
            "cpu": cpu.result(),
        }
        log(f"Resolve (raw stub): {resolve_raw['per_s']}/s")

        # ResolveMany.
        batches = [many_keys[i : i + args.batch] for i in range(0, len(many_keys), args.batch)]
        log(f"ResolveMany: {len(many_keys)} keys in {len(batches)} batches, {args.batch_concurrency} in flight")
        cpu = CpuMeter(server.pid)
        start = time.perf_counter()
        results = await run_all(
            batches,
            lambda batch: client.resolve_many([(key, RESOLUTION) for key in batch], timeout=60.0),
            in_flight=args.batch_concurrency,
        )
        seconds = time.perf_counter() - start
        accepted = sum(isinstance(o, Accepted) for batch in results for o in batch)
        resolve_many = {
            "resolutions": len(many_keys),
            "accepted": accepted,
            "batch": args.batch,
            "batches_in_flight": args.batch_concurrency,
            "seconds": rnd(seconds),
            "per_s": rate(len(many_keys), seconds),
            "cpu": cpu.result(),
        }
        log(f"ResolveMany: {resolve_many['per_s']}/s")
        memory = server.memory()
    for name, part in (("Resolve", resolve_sdk), ("Resolve (raw)", resolve_raw), ("ResolveMany", resolve_many)):
        if part["accepted"] != part["resolutions"]:
            raise RuntimeError(f"{name}: only {part['accepted']} of {part['resolutions']} accepted")
    result = {
        "mint_key": mint,
        "resolve": resolve_sdk,
        "resolve_raw_stub": resolve_raw,
        "resolve_many": resolve_many,
        "server_memory": memory,
    }
    return result, request_bytes


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    effectd, request_bytes = await bench_effectd(args)
    async with echo_server() as echo:
        log(f"echo: unary, {args.in_flight} in flight, {request_bytes}-byte payload")
        echo_unary = await echo_unary_throughput(
            echo.target,
            in_flight=args.in_flight,
            duration=args.echo_seconds,
            payload_bytes=request_bytes,
            server_pid=echo.pid,
        )
        log(f"echo: {echo_unary['calls_per_s']}/s")
    ceiling = echo_unary["calls_per_s"]
    ratio = effectd["resolve"]["per_s"] / ceiling
    many = effectd["resolve_many"]["per_s"]
    return {
        "benchmark": "resolve",
        "description": "durable resolves (each accepted and committed) vs bare grpc.aio unary echo",
        "environment": environment(),
        "effectd": effectd,
        "echo": {"unary": echo_unary},
        "ratios": {
            "resolve_over_echo": rnd(ratio),
            "resolve_raw_stub_over_echo": rnd(effectd["resolve_raw_stub"]["per_s"] / ceiling),
            "resolve_many_over_echo": rnd(many / ceiling, 2),
            "mint_over_echo": rnd(effectd["mint_key"]["keys_per_s"] / ceiling),
        },
        "targets": {
            "resolve_over_echo": {
                "target": f">= {TARGET_RESOLVE_RATIO}",
                "value": rnd(ratio),
                "met": ratio >= TARGET_RESOLVE_RATIO,
            },
            "resolve_many_per_s": {
                "target": f">= {TARGET_RESOLVE_MANY_PER_S}",
                "value": many,
                "met": many >= TARGET_RESOLVE_MANY_PER_S,
            },
        },
        "elapsed_s": rnd(time.perf_counter() - started, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resolve-keys", type=int, default=20_000, help="keys for Resolve through the SDK")
    parser.add_argument("--raw-keys", type=int, default=10_000, help="keys for Resolve through a raw stub")
    parser.add_argument("--many-keys", type=int, default=40_000, help="keys for ResolveMany")
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--batch-concurrency", type=int, default=4)
    parser.add_argument("--echo-seconds", type=float, default=4.0)
    args = parser.parse_args()
    emit(asyncio.run(main_async(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
