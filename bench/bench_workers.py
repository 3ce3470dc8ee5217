"""Workers: runtime → worker → recorded outcome, against a bare echo and a bare (Celery-style,
non-durable) hand-off measured in the same run. JSON on stdout, progress on stderr.

- effectd: `RemoteEffectController.execute_effect(..., LocalExecutor.remote())` of a durable step that a
  worker subprocess (`effectd worker run`) answers at once: the server picks the worker, claims the
  journal row with a fencing token, pushes the assignment, records the result by compare-and-set and
  answers the runtime. Sequential p50/p99 (fresh replay keys), and effects per second with 64 in flight.
- hand-off: the same round trip with nothing stored (bench/_handoff.py: a relay pushes the runtime's
  unary call onto a worker's stream and relays the answer), the shape of a Celery round trip.
- echo: a bare grpc.aio unary round trip and unary @64 (the ceiling of any RPC on this machine).
- redelivery: two worker subprocesses; an effect is held by one, which is killed with SIGKILL; the time
  until the other holds it (the server sees the stream end; no timeout is involved).

Targets (issue 10 §7): p50 <= 3 ms, p99 <= 10 ms, >= 1,500 effects/s with 64 in flight.

    python bench/bench_workers.py [--store postgresql://...] [--iterations 1000] [--seconds 3]
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
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from _common import (
    EFFECTD,
    HERE,
    PYTHON,
    CpuMeter,
    echo_sequential_latency,
    echo_server,
    echo_unary_throughput,
    effectd_server,
    emit,
    environment,
    free_port,
    fresh_schema,
    latency_summary_ms,
    log,
    new_channel,
    rnd,
    run_closed_loop,
)
from effectd import (
    Client,
    DurableStepCommand,
    LocalExecutor,
    RemoteEffectController,
    RemoteWorkers,
    RuntimeEffectEnvelope,
    RuntimeEffectKind,
    RuntimeInvocation,
    RuntimeScope,
    TurnScope,
)
from effectd._convert_envelope import envelope_to_proto

TARGET_P50_MS = 3.0
TARGET_P99_MS = 10.0
TARGET_PER_S = 1500.0
SCOPE = TurnScope("bench-workers", "turn-1")
RUNTIME = RuntimeScope("bench-workers", "turn-1", 1, 0)
PAYLOAD = {"invoice": 1, "amount_cents": 1250, "currency": "EUR"}


def envelope(key: str, step: str = "echo", value: Any = None) -> RuntimeEffectEnvelope:
    return RuntimeEffectEnvelope(
        RuntimeInvocation.effect(RUNTIME, f"step:{key}", RuntimeEffectKind.DURABLE_STEP, key),
        DurableStepCommand(step, PAYLOAD if value is None else value),
    )


@contextlib.contextmanager
def subprocesses() -> Any:
    started: list[subprocess.Popen[bytes]] = []

    def spawn(argv: list[str], log_path: Path) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        env.setdefault("EFFECTD_LOG_LEVEL", "WARNING")
        env["PYTHONPATH"] = str(HERE) + os.pathsep + env.get("PYTHONPATH", "")
        with log_path.open("ab") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        started.append(proc)
        return proc

    try:
        yield spawn
    finally:
        for proc in started:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in started:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def worker_argv(target: str, worker_id: str, slots: int) -> list[str]:
    return [
        EFFECTD,
        "--target",
        target,
        "worker",
        "run",
        "_workers_app:setup",
        "--worker-id",
        worker_id,
        "--slots",
        str(slots),
        "--heartbeat",
        "0.5",
    ]


async def wait_for_workers(client: Client, *worker_ids: str, timeout: float = 30.0) -> None:
    workers = RemoteWorkers(client.rpc)
    deadline = time.monotonic() + timeout
    while not set(worker_ids) <= {w.worker_id for w in await workers.list_workers()}:
        if time.monotonic() > deadline:
            raise TimeoutError(f"workers {worker_ids} did not register")
        await asyncio.sleep(0.05)


async def bench_effectd(args: argparse.Namespace, folder: Path, spawn: Any) -> dict[str, Any]:
    async with effectd_server(store_url=args.store) as server:
        spawn(worker_argv(server.target, "bench-worker", 128), folder / "worker.log")
        async with await Client.connect(server.target) as client:
            await wait_for_workers(client, "bench-worker")
            controller = RemoteEffectController(client)
            remote = LocalExecutor.remote()
            for i in range(args.warmup):
                await controller.execute_effect(SCOPE, envelope(f"warm-{i}"), remote)
            log(f"effectd: sequential, {args.iterations} delegated effects")
            samples = []
            for i in range(args.iterations):
                start = time.perf_counter()
                await controller.execute_effect(SCOPE, envelope(f"seq-{i}"), remote)
                samples.append(time.perf_counter() - start)
            sequential = latency_summary_ms(samples)
            log(f"effectd: sequential p50 {sequential['p50_ms']} ms, p99 {sequential['p99_ms']} ms")
            counter = iter(range(10**9))

            async def one() -> None:
                await controller.execute_effect(SCOPE, envelope(f"tp-{next(counter)}"), remote)

            meters: list[CpuMeter] = []
            done, seconds = await run_closed_loop(
                one,
                in_flight=args.in_flight,
                duration=args.seconds,
                on_start=lambda: meters.append(CpuMeter(server.pid)),
            )
            throughput = {"per_s": rnd(done / seconds, 1), "effects": done, "cpu": meters[0].result()}
            log(f"effectd: {throughput['per_s']} delegated effects/s @{args.in_flight}")
        return {"store": args.store or "sqlite", "sequential": sequential, "throughput": throughput}


async def bench_redelivery(args: argparse.Namespace, folder: Path, spawn: Any) -> dict[str, Any]:
    """Kill -9 the worker holding an effect; the time until the other worker holds it."""
    samples = []
    async with effectd_server(store_url=args.store) as server, await Client.connect(server.target) as client:
        controller = RemoteEffectController(client)
        workers = RemoteWorkers(client.rpc)
        for rep in range(args.kill_reps):
            names = (f"a{rep}", f"b{rep}")
            procs = {name: spawn(worker_argv(server.target, name, 4), folder / f"{name}.log") for name in names}
            await wait_for_workers(client, *names)
            key = f"kill-{rep}"
            call = asyncio.create_task(
                controller.execute_effect(SCOPE, envelope(key, "hold", {"sleep": 0.5}), LocalExecutor.remote())
            )
            holder = None
            while holder is None:
                for info in await workers.list_workers():
                    if any(ref.replay_key == key for ref in info.in_flight):
                        holder = info.worker_id
                await asyncio.sleep(0.001)
            other = next(name for name in names if name != holder)
            killed = time.perf_counter()
            os.kill(procs[holder].pid, signal.SIGKILL)
            while not any(ref.replay_key == key for ref in (await workers.describe_worker(other)).in_flight):  # noqa: ASYNC110 - polls the server
                await asyncio.sleep(0.0005)
            samples.append(time.perf_counter() - killed)
            await call
            os.kill(procs[other].pid, signal.SIGTERM)
            log(f"redelivery rep {rep + 1}/{args.kill_reps}: {samples[-1] * 1000:.1f} ms")
    return {"after_kill9": latency_summary_ms(samples), "reps": len(samples), "heartbeat_s": 0.5}


@contextlib.asynccontextmanager
async def handoff(folder: Path, spawn: Any) -> AsyncIterator[str]:
    port = free_port()
    target = f"127.0.0.1:{port}"
    spawn([PYTHON, str(HERE / "_handoff.py"), "relay", "--port", str(port)], folder / "relay.log")
    channel = new_channel(target)
    await asyncio.wait_for(channel.channel_ready(), 30)
    spawn([PYTHON, str(HERE / "_handoff.py"), "worker", "--target", target], folder / "handoff-worker.log")
    method = channel.unary_unary("/bench.Handoff/Call")
    deadline = time.monotonic() + 30
    while True:
        try:
            await method(b"ping", timeout=2)
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)
    try:
        yield target
    finally:
        await channel.close()


async def bench_handoff(args: argparse.Namespace, folder: Path, spawn: Any) -> dict[str, Any]:
    payload = envelope_to_proto(envelope("payload")).SerializeToString()  # what an assignment carries
    async with handoff(folder, spawn) as target:
        channel = new_channel(target)
        method = channel.unary_unary("/bench.Handoff/Call")
        for _ in range(args.warmup):
            await method(payload, timeout=10)
        samples = []
        for _ in range(args.iterations):
            start = time.perf_counter()
            await method(payload, timeout=10)
            samples.append(time.perf_counter() - start)

        async def one() -> None:
            await method(payload, timeout=10)

        done, seconds = await run_closed_loop(one, in_flight=args.in_flight, duration=args.seconds)
        await channel.close()
    return {"sequential": latency_summary_ms(samples), "per_s": rnd(done / seconds, 1), "payload_bytes": len(payload)}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as name, subprocesses() as spawn:
        folder = Path(name)
        async with echo_server() as echo:
            log("echo: unary @64 and sequential round trips")
            echo_unary = await echo_unary_throughput(echo.target, in_flight=args.in_flight, duration=args.seconds)
            echo_rtt = await echo_sequential_latency(echo.target, iterations=args.iterations)
        log("hand-off (non-durable, Celery-style)")
        bare = await bench_handoff(args, folder, spawn)
        log(f"hand-off: p50 {bare['sequential']['p50_ms']} ms, {bare['per_s']}/s")
        async with contextlib.AsyncExitStack() as stack:
            if args.store:  # a schema of its own, dropped at the end
                args.store = await stack.enter_async_context(fresh_schema(args.store))
            effectd = await bench_effectd(args, folder, spawn)
            redelivery = await bench_redelivery(args, folder, spawn)
    p50 = effectd["sequential"]["p50_ms"]
    p99 = effectd["sequential"]["p99_ms"]
    per_s = effectd["throughput"]["per_s"]
    return {
        "benchmark": "workers",
        "description": "runtime → worker → recorded outcome (effectd) vs a bare hand-off and a bare echo, same run",
        "environment": environment(),
        "effectd": effectd,
        "handoff": bare,
        "echo": {"unary": echo_unary, "unary_round_trip": echo_rtt},
        "redelivery": redelivery,
        "ratios": {
            "p50_over_echo_rtt": rnd(p50 / echo_rtt["p50_ms"], 2),
            "p50_over_handoff": rnd(p50 / bare["sequential"]["p50_ms"], 2),
            "per_s_over_echo": rnd(per_s / echo_unary["calls_per_s"], 3),
            "per_s_over_handoff": rnd(per_s / bare["per_s"], 3),
        },
        "targets": {
            "sequential_p50_ms": {"target": f"<= {TARGET_P50_MS}", "value": p50, "met": p50 <= TARGET_P50_MS},
            "sequential_p99_ms": {"target": f"<= {TARGET_P99_MS}", "value": p99, "met": p99 <= TARGET_P99_MS},
            "per_s_at_64": {"target": f">= {TARGET_PER_S:g}", "value": per_s, "met": per_s >= TARGET_PER_S},
        },
        "elapsed_s": rnd(time.perf_counter() - started, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--store", help="a PostgreSQL URL, run on a fresh schema dropped after (default: SQLite in a temporary folder)"
    )
    parser.add_argument("--iterations", type=int, default=1000, help="sequential round trips")
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=3.0, help="each throughput measurement")
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--kill-reps", type=int, default=3)
    args = parser.parse_args()
    emit(asyncio.run(main_async(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
