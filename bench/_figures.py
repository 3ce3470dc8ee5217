"""One repetition of each measurement of the suite (run_all.py repeats them and summarises).

Throughput repetitions are time-bounded closed loops: `in_flight` workers call back to back until the
repetition's duration has passed (or a pre-minted key pool is used up: the rate is then over the
shorter time). With several replicas the workers are spread evenly over one client per replica
(32 + 32 for 64 in flight on two replicas). Every reply is parsed by the SDK and checked.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from _common import (
    PostgresCpu,
    echo_sequential_latency,
    echo_server,
    echo_stream_wakeup_latency,
    echo_unary_throughput,
    latency_summary_ms,
    log,
    machine_busy_seconds,
    proc_cpu_seconds,
    rnd,
    run_all,
    runqueue_wait_seconds,
)
from _stores import Deployment
from bench_journal import LEASE_TTL_S, OWNER, CountingStep, envelope, step_result
from bench_replicas import measure_wake
from effectd import (
    Accepted,
    AwaitEventKey,
    Client,
    LocalExecutor,
    Ok,
    RemoteEffectController,
    RuntimeEffectEnvelope,
    ToolCompletionWait,
    TurnScope,
    into_durable_step,
)
from effectd._convert_scope import key_to_proto, resolution_to_proto
from effectd.v1 import await_events_pb2 as pb

RESOLUTION = Ok({"answer": 42, "note": "bench"})


# -- statistics -------------------------------------------------------------------------------------
def stats(values: Sequence[float], digits: int = 3) -> dict[str, Any]:
    """Median and min-max of the repetitions, and every value."""
    return {
        "median": rnd(statistics.median(values), digits),
        "min": rnd(min(values), digits),
        "max": rnd(max(values), digits),
        "values": [rnd(v, digits) for v in values],
    }


class PhaseMeter:
    """Wall time and CPU over one repetition: this client, every effectd replica, and PostgreSQL (the
    backends serving the replicas, and every postgres process) when the store is PostgreSQL."""

    def __init__(self, deployment: Deployment) -> None:
        self._pids = deployment.pids
        self._pg = PostgresCpu(self._pids) if deployment.postgres else None
        self._wall = time.perf_counter()
        self._client = time.process_time()
        self._server = {pid: proc_cpu_seconds(pid) for pid in self._pids}
        self._waits = {pid: runqueue_wait_seconds(pid) for pid in self._pids}
        self._busy = machine_busy_seconds()

    def result(self, ops: int) -> dict[str, Any]:
        wall = time.perf_counter() - self._wall
        client = time.process_time() - self._client
        server = sum(proc_cpu_seconds(pid) - start for pid, start in self._server.items())
        per = 1e6 / max(ops, 1)
        out: dict[str, Any] = {
            "wall_s": rnd(wall),
            "client_cpu_s": rnd(client),
            "effectd_cpu_s": rnd(server),
            "effectd_cpu_util": rnd(server / wall, 2),
            "client_us_per_op": rnd(client * per, 1),
            "effectd_us_per_op": rnd(server * per, 1),
        }
        out["effectd_runqueue_wait_us_per_op"] = rnd(
            sum(runqueue_wait_seconds(pid) - start for pid, start in self._waits.items()) * per, 1
        )
        pg = self._pg.result() if self._pg else None
        ours = client + server + (pg["backends_cpu_s"] if pg else 0.0)
        # Cores busy with anything else meanwhile: other users' work, and our own idle processes.
        out["others_cpu_util"] = rnd(max(machine_busy_seconds() - self._busy - ours, 0.0) / wall, 2)
        if pg is not None:
            out.update(
                postgres_backends=pg["backends"],
                postgres_backends_cpu_s=pg["backends_cpu_s"],
                postgres_all_cpu_s=pg["all_cpu_s"],
                postgres_us_per_op=rnd(pg["backends_cpu_s"] * per, 1),
                postgres_all_us_per_op=rnd(pg["all_cpu_s"] * per, 1),
            )
        return out


async def timed_loop(op: Callable[[int], Awaitable[bool]], *, workers: int, duration: float) -> tuple[int, float]:
    """`workers` workers call `op(worker)` back to back until `duration` has passed or `op` answers False
    (nothing left); (completed calls, seconds until the last finished)."""
    done = 0
    start = time.perf_counter()
    stop_at = start + duration

    async def worker(index: int) -> None:
        nonlocal done
        while time.perf_counter() < stop_at:
            if not await op(index):
                return
            done += 1

    await asyncio.gather(*(worker(w) for w in range(workers)))
    return done, time.perf_counter() - start


async def connect_all(deployment: Deployment) -> list[Client]:
    return [await Client.connect(target) for target in deployment.targets]


async def close_all(clients: Sequence[Client]) -> None:
    for client in clients:
        await client.close()


def resolve_request_bytes(key: AwaitEventKey) -> int:
    return len(pb.ResolveRequest(key=key_to_proto(key), resolution=resolution_to_proto(RESOLUTION)).SerializeToString())


# -- echo ---------------------------------------------------------------------------------------------
async def echo_block(*, reps: int, rep_s: float, rtt_iterations: int, wake_iterations: int, payload: int) -> dict:
    """The bare grpc.aio echo of this machine, now: unary @64 (with its server's CPU per call), sequential
    round trips, and a unary call releasing a server stream on another channel (the same-stack wake)."""
    unary: list[dict[str, Any]] = []
    rtt: list[dict[str, Any]] = []
    wake: list[dict[str, Any]] = []
    async with echo_server() as echo:
        for rep in range(reps):
            unary.append(
                await echo_unary_throughput(
                    echo.target, in_flight=64, duration=rep_s, payload_bytes=payload, server_pid=echo.pid
                )
            )
            rtt.append(await echo_sequential_latency(echo.target, iterations=rtt_iterations, payload_bytes=payload))
            wake.append(
                await echo_stream_wakeup_latency(echo.target, iterations=wake_iterations, payload_bytes=payload)
            )
            log(
                f"echo rep {rep + 1}/{reps}: unary @64 {unary[-1]['calls_per_s']}/s, round trip p50 "
                f"{rtt[-1]['p50_ms']} ms, stream wake p50 {wake[-1]['p50_ms']} ms"
            )
    return {
        "payload_bytes": payload,
        "unary_per_s": stats([u["calls_per_s"] for u in unary], 1),
        "cpu_us_per_call": stats([u["cpu"]["server_cpu_s"] * 1e6 / u["calls"] for u in unary], 1),
        "others_cpu_util": stats([u["cpu"]["others_cpu_util"] for u in unary], 2),
        "round_trip_p50_ms": stats([r["p50_ms"] for r in rtt]),
        "stream_wake_p50_ms": stats([w["p50_ms"] for w in wake]),
        "stream_wake_p99_ms": stats([w["p99_ms"] for w in wake]),
        "reps": {"unary": unary, "round_trip": rtt, "stream_wake": wake},
    }


# -- await-event keys ----------------------------------------------------------------------------------
class KeyPool:
    """Keys minted ahead, used once each by resolves."""

    def __init__(self) -> None:
        self.keys: list[AwaitEventKey] = []
        self._serial = itertools.count()

    def take(self) -> AwaitEventKey | None:
        return self.keys.pop() if self.keys else None

    def next_id(self) -> int:
        return next(self._serial)

    async def mint_key(self, client: Client, prefix: str) -> AwaitEventKey:
        i = self.next_id()
        return await client.mint_key(TurnScope(f"{prefix}-s{i // 100}", f"t{i}"), ToolCompletionWait(f"c{i}"))


async def mint_rep(
    deployment: Deployment, clients: Sequence[Client], pool: KeyPool, prefix: str, *, duration: float, in_flight: int
) -> dict[str, Any]:
    """MintKey @`in_flight` for `duration`; the keys join `pool`."""

    async def op(worker: int) -> bool:
        pool.keys.append(await pool.mint_key(clients[worker % len(clients)], prefix))
        return True

    meter = PhaseMeter(deployment)
    done, seconds = await timed_loop(op, workers=in_flight, duration=duration)
    return {"keys": done, "seconds": rnd(seconds), "per_s": rnd(done / seconds, 1), "cpu": meter.result(done)}


async def top_up(clients: Sequence[Client], pool: KeyPool, prefix: str, count: int, in_flight: int) -> None:
    """Mint keys until `pool` holds `count`."""
    missing = count - len(pool.keys)
    if missing <= 0:
        return
    log(f"minting {missing} keys for the pool")

    async def mint(i: int) -> None:
        pool.keys.append(await pool.mint_key(clients[i % len(clients)], prefix))

    await run_all(range(missing), mint, in_flight=in_flight)


async def resolve_rep(
    deployment: Deployment, clients: Sequence[Client], pool: KeyPool, *, duration: float, in_flight: int
) -> dict[str, Any]:
    """Resolve @`in_flight`, each a pool key resolved once (Accepted: a durable write)."""
    refused = 0
    exhausted = False

    async def op(worker: int) -> bool:
        nonlocal refused, exhausted
        key = pool.take()
        if key is None:
            exhausted = True
            return False
        if not isinstance(await clients[worker % len(clients)].resolve(key, RESOLUTION), Accepted):
            refused += 1
        return True

    meter = PhaseMeter(deployment)
    done, seconds = await timed_loop(op, workers=in_flight, duration=duration)
    if refused:
        raise RuntimeError(f"{refused} of {done} resolves were not accepted")
    return {
        "resolutions": done,
        "seconds": rnd(seconds),
        "per_s": rnd(done / seconds, 1),
        "pool_used_up": exhausted,
        "cpu": meter.result(done),
    }


async def one_resolve_rep(
    deployment: Deployment, client: Client, pool: KeyPool, *, iterations: int, warmup: int
) -> dict[str, Any]:
    """One Resolve at a time, back to back, no waiter: the call's round trip."""
    samples: list[float] = []
    meter = PhaseMeter(deployment)
    for i in range(warmup + iterations):
        key = pool.take()
        if key is None:
            raise RuntimeError("the key pool is empty")
        start = time.perf_counter()
        outcome = await client.resolve(key, RESOLUTION)
        elapsed = time.perf_counter() - start
        if not isinstance(outcome, Accepted):
            raise RuntimeError(f"resolve answered {outcome}")
        if i >= warmup:
            samples.append(elapsed)
    return {**latency_summary_ms(samples), "cpu": meter.result(warmup + iterations)}


async def wake_rep(deployment: Deployment, label: str, *, iterations: int, warmup: int) -> dict[str, Any]:
    """Resolve → waiter woken, one at a time (bench_replicas.measure_wake, warm mode): the waiter on the
    first replica, the resolver on the last (another replica with two). Its `resolve_rpc` is one Resolve
    call with a waiter parked on the key."""
    targets = deployment.targets
    meter = PhaseMeter(deployment)
    result = await measure_wake(targets[0], targets[-1], label=label, iterations=iterations, warmup=warmup, warm=True)
    result["cpu"] = meter.result(warmup + iterations)
    return result


# -- the effect journal --------------------------------------------------------------------------------
class Journal:
    """RemoteEffectControllers (one per replica) and the effects recorded so far, to replay."""

    SCOPE = TurnScope("bench-journal", "turn-1")

    def __init__(self, clients: Sequence[Client]) -> None:
        self.controllers = [RemoteEffectController(c, owner_id=OWNER, lease_ttl=LEASE_TTL_S) for c in clients]
        self.recorded: list[RuntimeEffectEnvelope] = []
        self._serial = itertools.count()

    def _check(self, env: RuntimeEffectEnvelope, outcome: Any) -> bool:
        return bool(into_durable_step(outcome) == step_result(env.command.input))  # type: ignore[union-attr]

    async def warm_up(self, count: int, in_flight: int) -> None:
        envs = [envelope(i, "warm") for i in range(count)]
        for _ in range(2):  # claim + complete, then replay
            await run_all(
                envs,
                lambda e: self.controllers[0].execute_effect(self.SCOPE, e, LocalExecutor.durable_step(step_result)),
                in_flight=in_flight,
            )

    async def new_rep(self, deployment: Deployment, *, duration: float, in_flight: int) -> dict[str, Any]:
        """New durable_step effects @`in_flight`: Execute (the lease), the local step, Complete."""
        counter = CountingStep()
        executor = LocalExecutor.durable_step(counter)
        wrong = 0

        async def op(worker: int) -> bool:
            nonlocal wrong
            env = envelope(next(self._serial), "new")
            outcome = await self.controllers[worker % len(self.controllers)].execute_effect(self.SCOPE, env, executor)
            wrong += not self._check(env, outcome)
            self.recorded.append(env)
            return True

        meter = PhaseMeter(deployment)
        done, seconds = await timed_loop(op, workers=in_flight, duration=duration)
        if wrong or counter.calls != done:
            raise RuntimeError(f"new durable_step: {wrong} wrong outcomes, {counter.calls} step calls for {done}")
        return {"effects": done, "seconds": rnd(seconds), "per_s": rnd(done / seconds, 1), "cpu": meter.result(done)}

    async def replay_rep(self, deployment: Deployment, *, duration: float, in_flight: int) -> dict[str, Any]:
        """Replay hits @`in_flight`: the recorded effects executed again; the local step must never run."""
        counter = CountingStep()
        executor = LocalExecutor.durable_step(counter)
        recorded = list(self.recorded)
        order = itertools.count()
        wrong = 0

        async def op(worker: int) -> bool:
            nonlocal wrong
            env = recorded[next(order) % len(recorded)]
            outcome = await self.controllers[worker % len(self.controllers)].execute_effect(self.SCOPE, env, executor)
            wrong += not self._check(env, outcome)
            return True

        meter = PhaseMeter(deployment)
        done, seconds = await timed_loop(op, workers=in_flight, duration=duration)
        if wrong:
            raise RuntimeError(f"replay: {wrong} wrong outcomes of {done}")
        return {
            "replays": done,
            "distinct_effects": len(recorded),
            "seconds": rnd(seconds),
            "per_s": rnd(done / seconds, 1),
            "step_calls": counter.calls,
            "step_calls_expected": 0,
            "cpu": meter.result(done),
        }
