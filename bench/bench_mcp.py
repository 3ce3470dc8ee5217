"""MCP tools through effectd: runtime → effectd → worker → MCP server (stdio) → recorded, beside a direct
MCP client call to the same server program in the same run. JSON on stdout, progress on stderr.

- effectd: `ToolEffects.call_tool` (fresh replay keys) routed to a worker subprocess started with
  `effectd worker run --mcp echo=python bench/_mcp_echo_server.py`: the server picks the worker, claims
  the journal row, pushes the assignment; the worker checks the arguments against the tool's schema and
  sends `tools/call` over stdio; the reply is recorded by compare-and-set and answered to the runtime.
  Sequential p50/p99, and calls per second with 64 in flight.
- direct: the official `mcp` SDK's client on its own stdio server (the same program), calling `echo`
  the same way: what a runtime pays without durability and routing.
- ratios: effectd / direct, the overhead of durability and routing.

    python bench/bench_mcp.py [--store postgresql://...] [--iterations 1000] [--seconds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from _common import (
    EFFECTD,
    HERE,
    PYTHON,
    CpuMeter,
    effectd_server,
    emit,
    environment,
    fresh_schema,
    latency_summary_ms,
    log,
    rnd,
    run_closed_loop,
)
from effectd import Client, RemoteEffectController, RuntimeScope, ToolEffects, TurnScope
from mcp import Client as McpClient
from mcp import StdioServerParameters
from mcp.client.stdio import stdio_client

SCOPE = TurnScope("bench-mcp", "turn-1")
RUNTIME = RuntimeScope("bench-mcp", "turn-1", 0, 0)
SERVER = [PYTHON, str(HERE / "_mcp_echo_server.py")]
ARGUMENTS = {"text": "a line of a tool's answer, about the size of a small search hit or a file name"}


async def measure(call: Callable[[str], Awaitable[Any]], args: argparse.Namespace, pid: int | None) -> dict[str, Any]:
    """Sequential p50/p99 then calls/s with `in_flight` at once; `call(key)` makes one call."""
    for i in range(args.warmup):
        await call(f"warm-{i}")
    samples = []
    for i in range(args.iterations):
        start = time.perf_counter()
        await call(f"seq-{i}")
        samples.append(time.perf_counter() - start)
    counter = iter(range(10**9))
    meters: list[CpuMeter] = []

    async def one() -> None:
        await call(f"tp-{next(counter)}")

    done, seconds = await run_closed_loop(
        one, in_flight=args.in_flight, duration=args.seconds, on_start=lambda: meters.append(CpuMeter(pid))
    )
    return {
        "sequential": latency_summary_ms(samples),
        "per_s": rnd(done / seconds, 1),
        "calls": done,
        "cpu": meters[0].result(),
    }


async def bench_direct(args: argparse.Namespace) -> dict[str, Any]:
    parameters = StdioServerParameters(command=SERVER[0], args=SERVER[1:])
    async with McpClient(stdio_client(parameters), cache=None) as client:

        async def call(key: str) -> Any:
            result = await client.call_tool("echo", ARGUMENTS)
            assert not result.is_error
            return result

        return await measure(call, args, None)


def start_worker(argv: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, EFFECTD_LOG_LEVEL="WARNING")
    with log_path.open("ab") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def stop_worker(worker: subprocess.Popen[bytes]) -> None:
    """SIGTERM drains it (and stops its MCP server); SIGKILL if it does not exit."""
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(10)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


def worker_failed(name: str, log_path: Path) -> RuntimeError:
    return RuntimeError(f"the MCP worker did not offer {name!r}:\n{log_path.read_text(errors='replace')}")


async def wait_for_tool(client: Client, name: str, worker: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while name not in {tool.name for tool in await client.list_tools()}:
        if worker.poll() is not None or time.monotonic() > deadline:
            raise worker_failed(name, log_path)
        await asyncio.sleep(0.05)


async def bench_effectd(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    async with effectd_server(store_url=args.store) as server:
        log_path = folder / "worker.log"
        argv = [
            EFFECTD, "--target", server.target, "worker", "run", "--worker-id", "bench-mcp",
            "--slots", str(2 * args.in_flight), "--mcp", "echo=" + " ".join(SERVER),
        ]  # fmt: skip
        worker = start_worker(argv, log_path)
        try:
            async with await Client.connect(server.target) as client:
                await wait_for_tool(client, "echo", worker, log_path)
                effects = ToolEffects(RemoteEffectController(client).scoped(SCOPE), RUNTIME)

                async def call(key: str) -> Any:
                    return await effects.call_tool("echo", ARGUMENTS, replay_key=key)

                measured = await measure(call, args, server.pid)
        finally:
            stop_worker(worker)
    return {"store": args.store or "sqlite", **measured}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    log("direct: the mcp SDK's client on its own stdio server")
    direct = await bench_direct(args)
    log(f"direct: p50 {direct['sequential']['p50_ms']} ms, {direct['per_s']}/s @{args.in_flight}")
    with tempfile.TemporaryDirectory(prefix="bench-mcp-") as name:
        async with contextlib.AsyncExitStack() as stack:
            if args.store:  # a schema of its own, dropped at the end
                args.store = await stack.enter_async_context(fresh_schema(args.store))
            log("effectd: runtime → effectd → worker → MCP server (stdio) → recorded")
            effectd = await bench_effectd(args, Path(name))
    log(f"effectd: p50 {effectd['sequential']['p50_ms']} ms, {effectd['per_s']}/s @{args.in_flight}")
    ratios = {
        "p50_over_direct": rnd(effectd["sequential"]["p50_ms"] / direct["sequential"]["p50_ms"], 2),
        "p99_over_direct": rnd(effectd["sequential"]["p99_ms"] / direct["sequential"]["p99_ms"], 2),
        "per_s_over_direct": rnd(effectd["per_s"] / direct["per_s"], 3),
    }
    log(f"overhead of durability and routing: {ratios}")
    return {
        "benchmark": "mcp",
        "description": "an MCP tool call through effectd and a worker, recorded, vs a direct MCP client call, same run",
        "environment": environment(),
        "in_flight": args.in_flight,
        "effectd": effectd,
        "direct": direct,
        "ratios": ratios,
        "elapsed_s": rnd(time.perf_counter() - started, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--store", help="a PostgreSQL URL, run on a fresh schema dropped after (default: SQLite in a temporary folder)"
    )
    parser.add_argument("--iterations", type=int, default=1000, help="sequential calls")
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=3.0, help="the throughput measurement")
    parser.add_argument("--in-flight", type=int, default=64)
    args = parser.parse_args()
    emit(asyncio.run(main_async(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
