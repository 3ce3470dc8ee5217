"""Two effectd replicas on one PostgreSQL database, against a bare grpc.aio echo in the same run.

Runs on a fresh schema (`effectd_bench_<hex>`, dropped at the end, also when the run fails) of the
PostgreSQL database `--postgres` (env EFFECTD_BENCH_POSTGRES; default the local `test` database).
Replicas A and B are `effectd serve --store postgresql://...?schema=...` subprocesses.

0. Echo, first (the replicas up but idle, PostgreSQL quiet): unary calls with 64 in flight (a
   ResolveRequest-sized payload) and sequential round trips.
1. Resolve → waiter woken, sequential. Each iteration mints a key, opens a raw Await stream for it on
   A (its own channel) and waits for the first heartbeat (sent as soon as the wait is registered),
   which proves A has registered the wait; then it times from just before `resolve` until the waiter
   reads the terminal.
   - cross-replica: resolved through B; the wake goes B → PostgreSQL (commit, NOTIFY) → A (LISTEN).
   - same-replica: resolved through A, for comparison (the bench_latency measurement on PostgreSQL).
   Warm mode (the headline, as bench_latency's): while waiting for the heartbeat the run keeps every
   replica involved busy with back-to-back Peek calls (alternately through B and A when crossing),
   because this machine answers any RPC that follows a few ms of quiet ~0.7 ms slower (a bare echo
   too). The cross-replica figure after idle (~50 ms of quiet before each resolve) is measured too.
2. Resolve throughput: pre-minted keys, each resolved once (Accepted, a durable write), 64
   `client.resolve` calls in flight; through one replica (`Client.connect(a)`) and through both
   (`Client.connect([a, b])`: one channel, round robin over the two).
3. Journal: `--effects` durable_step effects recorded through A with `RemoteEffectController` (new
   local effects: Execute lease + Complete), then replayed with 64 in flight: through A, and through
   both replicas. The local executor's calls during the replays are counted (expected 0).

CPU seconds of the client, each replica and every local `postgres` process are reported per phase.
On a 2-core machine the client, two replicas and PostgreSQL share the cores, so a second replica
adds no CPU: expect no throughput gain from it there.

Target: cross-replica resolve → woken p50 <= 5 ms (warm mode).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any

from _common import (
    DEFAULT_POSTGRES,
    echo_sequential_latency,
    echo_server,
    echo_unary_throughput,
    effectd_server,
    emit,
    environment,
    fresh_schema,
    latency_summary_ms,
    log,
    new_channel,
    postgres_cpu_seconds,
    proc_cpu_seconds,
    rnd,
    run_all,
)
from bench_journal import LEASE_TTL_S, OWNER, CountingStep, envelope, step_result
from effectd import (
    Accepted,
    AwaitEventKey,
    Client,
    KeyPending,
    LocalExecutor,
    Ok,
    RemoteEffectController,
    RuntimeEffectEnvelope,
    ToolCompletionWait,
    TurnScope,
    into_durable_step,
)
from effectd._convert_scope import key_to_proto, resolution_from_proto, resolution_to_proto
from effectd.v1 import await_events_pb2 as pb
from effectd.v1 import await_events_pb2_grpc as pb_grpc

TARGET_CROSS_P50_MS = 5.0
HEARTBEAT_MS = 50  # raised to the server's minimum; the first heartbeat comes when the wait is registered
RESOLUTION = Ok({"answer": 42, "note": "replicas benchmark"})


# -- CPU --------------------------------------------------------------------------------------------
class PhaseCpu:
    """CPU seconds over a phase: this (client) process, each replica, local PostgreSQL."""

    def __init__(self, replicas: dict[str, int]) -> None:
        self._replicas = replicas
        self._wall = time.perf_counter()
        self._client = time.process_time()
        self._server = {name: proc_cpu_seconds(pid) for name, pid in replicas.items()}
        self._postgres = postgres_cpu_seconds()

    def result(self) -> dict[str, Any]:
        wall = time.perf_counter() - self._wall
        client = time.process_time() - self._client
        out: dict[str, Any] = {"wall_s": rnd(wall), "client_cpu_s": rnd(client)}
        for name, pid in self._replicas.items():
            out[f"{name}_cpu_s"] = rnd(proc_cpu_seconds(pid) - self._server[name])
        postgres = postgres_cpu_seconds()
        if postgres is not None and self._postgres is not None:
            out["postgres_cpu_s"] = rnd(postgres - self._postgres)
        busy = sum(v for k, v in out.items() if k.endswith("_cpu_s"))
        out["total_cpu_util"] = rnd(busy / wall, 2)  # in cores
        return out


# -- helpers --------------------------------------------------------------------------------------
def rate(count: int, seconds: float) -> float:
    return rnd(count / seconds, 1)


async def mint_keys(client: Client, prefix: str, count: int, in_flight: int) -> list[AwaitEventKey]:
    async def mint(i: int) -> AwaitEventKey:
        return await client.mint_key(TurnScope(f"{prefix}-s{i // 100}", f"t{i}"), ToolCompletionWait(f"c{i}"))

    return await run_all(range(count), mint, in_flight=in_flight)


# -- 1. resolve → woken -----------------------------------------------------------------------------
async def measure_wake(
    waiter_target: str,
    resolver_target: str,
    *,
    label: str,
    iterations: int,
    warmup: int,
    warm: bool,
) -> dict[str, Any]:
    """Sequential resolve → woken: the waiter's raw Await stream on `waiter_target`, resolve through
    `resolver_target`. In warm mode both replicas answer Peeks until the waiter's first heartbeat."""
    waiter_channel = new_channel(waiter_target, index=1)
    resolver = await Client.connect(resolver_target)
    # A client on the waiter's replica keeps it busy too when the resolver is elsewhere.
    warmers = [resolver]
    if waiter_target != resolver_target:
        warmers.append(await Client.connect(waiter_target))
    try:
        await waiter_channel.channel_ready()
        stub = pb_grpc.AwaitEventsStub(waiter_channel)
        wake: list[float] = []
        resolve_rpc: list[float] = []
        woken_before_ack = 0
        for i in range(warmup + iterations):
            key = await resolver.mint_key(TurnScope(f"wake-{label}", f"turn-{i}"), ToolCompletionWait(f"call-{i}"))
            state = await resolver.peek(key)
            if not isinstance(state, KeyPending):
                raise RuntimeError(f"a fresh key is not pending: {state}")
            call = stub.Await(pb.AwaitRequest(key=key_to_proto(key), heartbeat_interval_ms=HEARTBEAT_MS))
            registered = asyncio.ensure_future(call.read())
            peeks = 0
            if warm:
                while not registered.done():
                    await warmers[peeks % len(warmers)].peek(key)
                    peeks += 1
            first = await registered
            if first.WhichOneof("event") != "heartbeat":
                raise RuntimeError(f"expected a heartbeat first, got {first}")
            woken: list[tuple[float, Any]] = []

            async def read_terminal(call: Any = call, woken: list[tuple[float, Any]] = woken) -> None:
                while True:
                    response = await call.read()
                    if response.WhichOneof("event") == "terminal":
                        woken.append((time.perf_counter(), response.terminal))
                        return

            reader = asyncio.create_task(read_terminal())
            await asyncio.sleep(0)  # the reader now waits in read()
            start = time.perf_counter()
            outcome = await resolver.resolve(key, RESOLUTION)
            acked = time.perf_counter()
            await asyncio.wait_for(reader, 10.0)
            if not isinstance(outcome, Accepted):
                raise RuntimeError(f"resolve answered {outcome}")
            woken_at, terminal = woken[0]
            if resolution_from_proto(terminal) != RESOLUTION:
                raise RuntimeError(f"the waiter got {terminal}, not the resolution")
            if i >= warmup:
                wake.append(woken_at - start)
                resolve_rpc.append(acked - start)
                woken_before_ack += woken_at < acked
            if (i + 1) % 100 == 0:
                log(f"wake ({label}): {i + 1}/{warmup + iterations}")
        return {
            "waiter": waiter_target,
            "resolver": resolver_target,
            "warm": warm,
            "resolve_to_woken": latency_summary_ms(wake),
            "resolve_rpc": latency_summary_ms(resolve_rpc),
            "woken_before_resolve_ack": woken_before_ack,
        }
    finally:
        for client in warmers:
            await client.close()
        await waiter_channel.close()


# -- 2. resolve throughput --------------------------------------------------------------------------
async def resolve_throughput(
    targets: Sequence[str],
    keys: list[AwaitEventKey],
    warm_keys: list[AwaitEventKey],
    *,
    in_flight: int,
    replicas: dict[str, int],
) -> dict[str, Any]:
    """Every key resolved once, `in_flight` at a time, by one Client over `targets` (round robin)."""
    async with await Client.connect(list(targets)) as client:
        await run_all(warm_keys, lambda key: client.resolve(key, RESOLUTION), in_flight=in_flight)
        cpu = PhaseCpu(replicas)
        start = time.perf_counter()
        outcomes = await run_all(keys, lambda key: client.resolve(key, RESOLUTION), in_flight=in_flight)
        seconds = time.perf_counter() - start
    accepted = sum(isinstance(o, Accepted) for o in outcomes)
    if accepted != len(keys):
        raise RuntimeError(f"only {accepted} of {len(keys)} resolves accepted")
    return {
        "replicas": len(targets),
        "resolutions": len(keys),
        "accepted": accepted,
        "in_flight": in_flight,
        "seconds": rnd(seconds),
        "per_s": rate(len(keys), seconds),
        "cpu": cpu.result(),
    }


# -- 3. journal -------------------------------------------------------------------------------------
async def execute_all(
    controller: RemoteEffectController,
    scope: TurnScope,
    envelopes: list[RuntimeEffectEnvelope],
    executor: LocalExecutor,
    in_flight: int,
) -> list[Any]:
    return await run_all(envelopes, lambda e: controller.execute_effect(scope, e, executor), in_flight=in_flight)


async def journal(
    a: str, b: str, *, effects: int, warmup: int, in_flight: int, replicas: dict[str, int]
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    envelopes = [envelope(i, "r") for i in range(effects)]
    expected = [step_result(e.command.input) for e in envelopes]  # type: ignore[union-attr]
    scope = TurnScope("bench-replicas-journal", "turn-1")
    async with await Client.connect(a) as client:
        controller = RemoteEffectController(client, owner_id=OWNER, lease_ttl=LEASE_TTL_S)
        # Warm-up: both code paths (claim + complete, replay) once in a scope of their own.
        warm_scope = TurnScope("bench-replicas-warmup", "turn-1")
        warm = [envelope(i, "warm") for i in range(warmup)]
        for _ in range(2):
            await execute_all(controller, warm_scope, warm, LocalExecutor.durable_step(step_result), in_flight)

        counter = CountingStep()
        executor = LocalExecutor.durable_step(counter)
        log(f"journal: recording {effects} new local effects through A, {in_flight} in flight")
        cpu = PhaseCpu(replicas)
        start = time.perf_counter()
        outcomes = await execute_all(controller, scope, envelopes, executor, in_flight)
        seconds = time.perf_counter() - start
        correct = sum(into_durable_step(o) == v for o, v in zip(outcomes, expected, strict=True))
        result["record_new_local"] = {
            "effects": effects,
            "correct_outcomes": correct,
            "executor_calls": counter.calls,
            "in_flight": in_flight,
            "seconds": rnd(seconds),
            "per_s": rate(effects, seconds),
            "cpu": cpu.result(),
        }
        log(f"journal: recorded at {result['record_new_local']['per_s']}/s")
        if correct != effects or counter.calls != effects:
            raise RuntimeError(f"recording: {correct} correct outcomes, {counter.calls} executor calls of {effects}")

    for name, targets in (("replay_one_replica", [a]), ("replay_two_replicas", [a, b])):
        async with await Client.connect(targets) as client:
            controller = RemoteEffectController(client, owner_id=OWNER, lease_ttl=LEASE_TTL_S)
            # Warm the channel (both replicas when two) on the warm-up effects: replays too.
            await execute_all(controller, warm_scope, warm, LocalExecutor.durable_step(step_result), in_flight)
            counter = CountingStep()
            executor = LocalExecutor.durable_step(counter)
            log(f"journal: {name}: {effects} replays, {in_flight} in flight")
            cpu = PhaseCpu(replicas)
            start = time.perf_counter()
            outcomes = await execute_all(controller, scope, envelopes, executor, in_flight)
            seconds = time.perf_counter() - start
        correct = sum(into_durable_step(o) == v for o, v in zip(outcomes, expected, strict=True))
        if correct != effects:
            raise RuntimeError(f"{name}: only {correct} of {effects} outcomes correct")
        result[name] = {
            "replicas": len(targets),
            "effects": effects,
            "correct_outcomes": correct,
            "executor_calls": counter.calls,  # reported, not fatal: a finding
            "executor_calls_expected": 0,
            "in_flight": in_flight,
            "seconds": rnd(seconds),
            "per_s": rate(effects, seconds),
            "cpu": cpu.result(),
        }
        log(f"journal: {name}: {result[name]['per_s']}/s, executor calls {counter.calls}")
    return result


# -- the run --------------------------------------------------------------------------------------
async def bench_echo(args: argparse.Namespace, payload_bytes: int) -> dict[str, Any]:
    async with echo_server() as echo:
        log(f"echo: unary, {args.in_flight} in flight, {payload_bytes}-byte payload")
        unary = await echo_unary_throughput(
            echo.target,
            in_flight=args.in_flight,
            duration=args.echo_seconds,
            payload_bytes=payload_bytes,
            server_pid=echo.pid,
        )
        log(f"echo: unary {unary['calls_per_s']}/s; sequential round trips")
        rtt = await echo_sequential_latency(
            echo.target, iterations=args.echo_rtt_iterations, payload_bytes=payload_bytes
        )
        log(f"echo: round trip p50 {rtt['p50_ms']} ms")
    return {"unary": unary, "unary_round_trip": rtt}


async def bench_run(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """The effectd figures and the echo ceiling. The echo runs first, while the replicas idle and
    PostgreSQL is quiet, with a payload the size of a ResolveRequest of this run."""
    result: dict[str, Any] = {}
    async with (
        fresh_schema(args.postgres) as store_url,
        effectd_server(store_url=store_url) as a,
        effectd_server(store_url=store_url) as b,
    ):
        replicas = {"replica_a": a.pid, "replica_b": b.pid}
        async with await Client.connect(a.target) as client:
            sample = await client.mint_key(TurnScope("echo-payload", "t"), ToolCompletionWait("c"))
        request = pb.ResolveRequest(key=key_to_proto(sample), resolution=resolution_to_proto(RESOLUTION))
        echo = await bench_echo(args, len(request.SerializeToString()))
        result["memory_before"] = {"replica_a": a.memory(), "replica_b": b.memory()}

        log(f"wake: {args.iterations} sequential cross-replica resolve → woken (A waits, B resolves), warm")
        cpu = PhaseCpu(replicas)
        cross = await measure_wake(
            a.target, b.target, label="cross", iterations=args.iterations, warmup=args.warmup, warm=True
        )
        cross["cpu"] = cpu.result()
        log(f"wake: cross-replica p50 {cross['resolve_to_woken']['p50_ms']} ms")
        log(f"wake: {args.iterations} sequential same-replica resolve → woken (A waits, A resolves), warm")
        cpu = PhaseCpu(replicas)
        same = await measure_wake(
            a.target, a.target, label="same", iterations=args.iterations, warmup=args.warmup, warm=True
        )
        same["cpu"] = cpu.result()
        log(f"wake: same-replica p50 {same['resolve_to_woken']['p50_ms']} ms")
        log(f"wake: {args.idle_iterations} sequential cross-replica resolve → woken, after idle")
        cpu = PhaseCpu(replicas)
        cross_idle = await measure_wake(
            a.target, b.target, label="cross-idle", iterations=args.idle_iterations, warmup=args.warmup, warm=False
        )
        cross_idle["cpu"] = cpu.result()
        log(f"wake: cross-replica after idle p50 {cross_idle['resolve_to_woken']['p50_ms']} ms")
        result["wake"] = {
            "cross_replica": cross,
            "same_replica": same,
            "cross_replica_idle": cross_idle,
            "heartbeat_interval_ms": HEARTBEAT_MS,
        }

        warm_count = min(500, max(64, args.resolve_keys // 10))
        total = 2 * args.resolve_keys + 2 * warm_count
        log(f"resolve: minting {total} keys through A, {args.in_flight} in flight")
        async with await Client.connect(a.target) as client:
            cpu = PhaseCpu(replicas)
            start = time.perf_counter()
            keys = await mint_keys(client, "resolve", total, args.in_flight)
            seconds = time.perf_counter() - start
        result["mint_key"] = {
            "keys": total,
            "in_flight": args.in_flight,
            "keys_per_s": rate(total, seconds),
            "cpu": cpu.result(),
        }
        n = args.resolve_keys
        one_keys, two_keys = keys[:n], keys[n : 2 * n]
        one_warm, two_warm = keys[2 * n : 2 * n + warm_count], keys[2 * n + warm_count :]
        log(f"resolve: {n} keys through one replica (A), {args.in_flight} in flight")
        one = await resolve_throughput([a.target], one_keys, one_warm, in_flight=args.in_flight, replicas=replicas)
        log(f"resolve: one replica {one['per_s']}/s; {n} keys through both (round robin)")
        two = await resolve_throughput(
            [a.target, b.target], two_keys, two_warm, in_flight=args.in_flight, replicas=replicas
        )
        log(f"resolve: two replicas {two['per_s']}/s")
        result["resolve"] = {"one_replica": one, "two_replicas": two}

        result["journal"] = await journal(
            a.target,
            b.target,
            effects=args.effects,
            warmup=args.journal_warmup,
            in_flight=args.in_flight,
            replicas=replicas,
        )
        result["memory_after"] = {"replica_a": a.memory(), "replica_b": b.memory()}
    return result, echo


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    effectd, echo = await bench_run(args)

    ceiling = echo["unary"]["calls_per_s"]
    echo_p50 = echo["unary_round_trip"]["p50_ms"]
    cross = effectd["wake"]["cross_replica"]["resolve_to_woken"]
    same = effectd["wake"]["same_replica"]["resolve_to_woken"]
    one = effectd["resolve"]["one_replica"]["per_s"]
    two = effectd["resolve"]["two_replicas"]["per_s"]
    replay = effectd["journal"]["replay_one_replica"]["per_s"]
    replay_two = effectd["journal"]["replay_two_replicas"]["per_s"]
    return {
        "benchmark": "replicas",
        "description": (
            "two effectd replicas on one PostgreSQL schema: cross-replica resolve → woken latency, resolve"
            " throughput through one and two replicas, journal replay hits; vs bare grpc.aio echo"
        ),
        "environment": environment(),
        "effectd": effectd,
        "echo": echo,
        "ratios": {
            "cross_woken_p50_over_echo_rtt_p50": rnd(cross["p50_ms"] / echo_p50, 2),
            "same_woken_p50_over_echo_rtt_p50": rnd(same["p50_ms"] / echo_p50, 2),
            "cross_over_same_woken_p50": rnd(cross["p50_ms"] / same["p50_ms"], 2),
            "resolve_one_replica_over_echo": rnd(one / ceiling),
            "resolve_two_replicas_over_echo": rnd(two / ceiling),
            "resolve_two_over_one_replica": rnd(two / one, 2),
            "replay_over_echo": rnd(replay / ceiling),
            "replay_two_replicas_over_echo": rnd(replay_two / ceiling),
        },
        "targets": {
            "cross_replica_woken_p50_ms": {
                "target": f"<= {TARGET_CROSS_P50_MS}",
                "value": cross["p50_ms"],
                "met": cross["p50_ms"] <= TARGET_CROSS_P50_MS,
            },
        },
        "elapsed_s": rnd(time.perf_counter() - started, 1),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """main_async, cancelled on SIGTERM so that the servers stop and the schema is dropped."""
    task = asyncio.ensure_future(main_async(args))
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    return await task


def positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="database URL (default %(default)s)")
    parser.add_argument("--iterations", type=positive, default=300, help="measured wake iterations, each warm mode")
    parser.add_argument("--idle-iterations", type=positive, default=100, help="measured cross-replica wakes after idle")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured wake iterations first")
    parser.add_argument("--resolve-keys", type=positive, default=5_000, help="keys resolved per throughput phase")
    parser.add_argument("--effects", type=positive, default=3_000, help="effects recorded, then replayed")
    parser.add_argument("--journal-warmup", type=positive, default=300, help="effects recorded and replayed first")
    parser.add_argument("--in-flight", type=positive, default=64)
    parser.add_argument("--echo-seconds", type=float, default=3.0)
    parser.add_argument("--echo-rtt-iterations", type=positive, default=1000)
    args = parser.parse_args()
    try:
        result = asyncio.run(run(args))
    except asyncio.CancelledError:
        log("terminated (SIGTERM): replicas stopped, schema dropped")
        return 128 + signal.SIGTERM
    emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
