"""The effect journal: replay hits and new local effects per second, Execute→Complete latency, each
against a bare grpc.aio echo measured in the same run.

- Record: `--effects` durable_step effects (one scope, distinct replay keys) through the SDK
  (`RemoteEffectController.execute_effect` with a local durable_step executor), 64 in flight. Each is
  a new local effect: Execute (lease) + Complete, two RPCs. This is the "new local effects" figure (SDK).
- Replay (SDK): the same effects executed again, 64 in flight; every one must be a replay, so the
  local executor must never run (its calls are counted and reported, expected 0).
- Replay (raw stub): the same replays through a raw-bytes stub (pre-serialized ExecuteRequests, the
  stream read to its end): what the server and gRPC cost without the SDK's conversions.
- New local effects (raw stub): `--new-effects` fresh replay keys, Execute read to the lease, then
  Complete with a pre-serialized outcome (no local executor): two raw RPCs per effect.
- Latency: sequential Execute→Complete of a new local effect (SDK and raw stub), with the echo
  sequential round trip of the same run.

Echo ceilings: unary calls per second with the same number in flight and a payload the size of an
ExecuteRequest, and (for context: Execute is a server-streaming RPC) unary-stream calls answering one
message (on 2 cores that one is bounded by the client's CPU: see its cpu.client_cpu_util).
Targets: replay hits >= 80 % of the echo unary rate; new local effects >= 40 % of it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

from _common import (
    ECHO_STREAM,
    CpuMeter,
    echo_sequential_latency,
    echo_server,
    echo_unary_throughput,
    effectd_server,
    emit,
    environment,
    latency_summary_ms,
    log,
    new_channel,
    rnd,
    run_all,
    run_closed_loop,
)
from effectd import Client, TurnScope
from effectd._controller import LocalExecutor, RemoteEffectController
from effectd._convert_envelope import envelope_to_proto, outcome_to_proto
from effectd._convert_scope import scope_to_proto
from effectd._effects import (
    DurableStepCommand,
    DurableStepOutcome,
    RuntimeEffectEnvelope,
    RuntimeEffectKind,
    RuntimeInvocation,
    RuntimeScope,
    into_durable_step,
)
from effectd.v1 import effect_controller_pb2 as pb

TARGET_REPLAY_RATIO = 0.80
TARGET_NEW_LOCAL_RATIO = 0.40
EXECUTE_METHOD = "/effectd.v1.EffectController/Execute"
COMPLETE_METHOD = "/effectd.v1.EffectController/Complete"
LEASE_TTL_S = 30.0
OWNER = "bench-journal"
RUNTIME = RuntimeScope("bench-session", "bench-turn", 7, 0)


def envelope(i: int, prefix: str) -> RuntimeEffectEnvelope:
    """A durable_step envelope as lash builds one for a tool's step (cf. tests/integration/test_journal.py)."""
    return RuntimeEffectEnvelope(
        RuntimeInvocation.effect(
            RUNTIME, f"call-{prefix}:durable-step:{i}", RuntimeEffectKind.DURABLE_STEP, f"replay:{prefix}:{i}"
        ),
        DurableStepCommand(f"step-{i}", {"invoice": i, "amount_cents": 1250, "currency": "EUR"}),
    )


def step_result(value: Any) -> Any:
    return {"invoice_id": f"inv-{value['invoice']}", "status": "created"}


class CountingStep:
    """A durable_step function that counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, value: Any) -> Any:
        self.calls += 1
        return step_result(value)


def rate(count: int, seconds: float) -> float:
    return rnd(count / seconds, 1)


def execute_request(scope: TurnScope, env: RuntimeEffectEnvelope) -> bytes:
    """The ExecuteRequest the SDK sends for `env`, serialized."""
    return pb.ExecuteRequest(
        scope=scope_to_proto(scope),
        envelope=envelope_to_proto(env),
        owner_id=OWNER,
        lease_ttl_ms=int(LEASE_TTL_S * 1000),
    ).SerializeToString()


def complete_prefix(scope: TurnScope, env: RuntimeEffectEnvelope) -> bytes:
    """A CompleteRequest without its lease token, serialized: appending a serialized
    CompleteRequest(lease_token=...) merges the token in (protobuf concatenation)."""
    assert isinstance(env.command, DurableStepCommand)
    outcome = DurableStepOutcome(step_result(env.command.input))
    return pb.CompleteRequest(
        scope=scope_to_proto(scope), replay_key=env.invocation.replay_key or "", outcome=outcome_to_proto(outcome)
    ).SerializeToString()


class RawStub:
    """Execute and Complete on a channel of their own, bytes in and out."""

    def __init__(self, target: str, index: int) -> None:
        self.channel = new_channel(target, index=index)
        self.execute = self.channel.unary_stream(EXECUTE_METHOD)
        self.complete = self.channel.unary_unary(COMPLETE_METHOD)

    async def __aenter__(self) -> RawStub:
        await self.channel.channel_ready()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.channel.close()

    async def execute_all(self, request: bytes) -> list[bytes]:
        """One Execute, its stream read to the end (the status included)."""
        return [reply async for reply in self.execute(request, timeout=30.0)]

    async def new_effect(self, request: bytes, prefix: bytes) -> bytes:
        """Execute (the lease) then Complete: a new local effect."""
        (reply,) = await self.execute_all(request)
        token = pb.ExecuteResponse.FromString(reply).lease.lease_token
        if not token:
            raise RuntimeError(f"expected a lease, got {pb.ExecuteResponse.FromString(reply)}")
        completed: bytes = await self.complete(
            prefix + pb.CompleteRequest(lease_token=token).SerializeToString(), timeout=30.0
        )
        return completed


def replayed_outcomes(replies: list[list[bytes]]) -> int:
    count = 0
    for stream in replies:
        if len(stream) == 1:
            response = pb.ExecuteResponse.FromString(stream[0])
            count += response.HasField("outcome") and response.outcome.replayed
    return count


async def bench_effectd(args: argparse.Namespace) -> tuple[dict[str, Any], int]:
    async with effectd_server() as server, await Client.connect(server.target) as client:
        controller = RemoteEffectController(client, owner_id=OWNER, lease_ttl=LEASE_TTL_S)
        result: dict[str, Any] = {}

        # Warm-up: both code paths (claim + complete, replay) once in a scope of their own.
        warm_scope = TurnScope("bench-warmup", "turn-1")
        warm = [envelope(i, "warm") for i in range(args.warmup)]
        for _ in range(2):
            await run_all(
                warm,
                lambda e: controller.execute_effect(warm_scope, e, LocalExecutor.durable_step(step_result)),
                in_flight=args.in_flight,
            )

        # Record: new local effects through the SDK; these become the replay set.
        scope = TurnScope("bench-replay", "turn-1")
        envelopes = [envelope(i, "r") for i in range(args.effects)]
        counter = CountingStep()
        executor = LocalExecutor.durable_step(counter)
        log(f"new local effects (SDK): {len(envelopes)} in one scope, {args.in_flight} in flight")
        cpu = CpuMeter(server.pid)
        start = time.perf_counter()
        outcomes = await run_all(
            envelopes, lambda e: controller.execute_effect(scope, e, executor), in_flight=args.in_flight
        )
        seconds = time.perf_counter() - start
        expected = [step_result(e.command.input) for e in envelopes]  # type: ignore[union-attr]
        correct = sum(into_durable_step(o) == v for o, v in zip(outcomes, expected, strict=True))
        result["new_local_sdk"] = {
            "effects": len(envelopes),
            "correct_outcomes": correct,
            "executor_calls": counter.calls,
            "in_flight": args.in_flight,
            "seconds": rnd(seconds),
            "per_s": rate(len(envelopes), seconds),
            "rpcs_per_s": rate(2 * len(envelopes), seconds),
            "cpu": cpu.result(),
        }
        log(f"new local effects (SDK): {result['new_local_sdk']['per_s']}/s, executor calls {counter.calls}")

        # Replay through the SDK: every one a replay, the executor never runs.
        replay_counter = CountingStep()
        replay_executor = LocalExecutor.durable_step(replay_counter)
        log(f"replay (SDK): {len(envelopes)} effects, {args.in_flight} in flight")
        cpu = CpuMeter(server.pid)
        start = time.perf_counter()
        outcomes = await run_all(
            envelopes, lambda e: controller.execute_effect(scope, e, replay_executor), in_flight=args.in_flight
        )
        seconds = time.perf_counter() - start
        correct = sum(into_durable_step(o) == v for o, v in zip(outcomes, expected, strict=True))
        result["replay_sdk"] = {
            "effects": len(envelopes),
            "correct_outcomes": correct,
            "executor_calls": replay_counter.calls,
            "executor_calls_expected": 0,
            "in_flight": args.in_flight,
            "seconds": rnd(seconds),
            "per_s": rate(len(envelopes), seconds),
            "cpu": cpu.result(),
        }
        log(f"replay (SDK): {result['replay_sdk']['per_s']}/s, executor calls {replay_counter.calls}")

        # Replay through a raw-bytes stub: the same effects, no SDK conversions.
        requests = [execute_request(scope, e) for e in envelopes]
        request_bytes = len(requests[0])
        async with RawStub(server.target, 7) as raw:
            log(f"replay (raw stub): {len(requests)} effects, {args.in_flight} in flight")
            cpu = CpuMeter(server.pid)
            start = time.perf_counter()
            replies = await run_all(requests, raw.execute_all, in_flight=args.in_flight)
            seconds = time.perf_counter() - start
            result["replay_raw_stub"] = {
                "effects": len(requests),
                "replayed": replayed_outcomes(replies),
                "in_flight": args.in_flight,
                "request_bytes": request_bytes,
                "reply_bytes": len(replies[0][0]),
                "seconds": rnd(seconds),
                "per_s": rate(len(requests), seconds),
                "cpu": cpu.result(),
            }
            log(f"replay (raw stub): {result['replay_raw_stub']['per_s']}/s")

            # New local effects through the raw stub: fresh keys, Execute (lease) + Complete.
            new_scope = TurnScope("bench-new-raw", "turn-1")
            fresh = [envelope(i, "n") for i in range(args.new_effects)]
            pairs = [(execute_request(new_scope, e), complete_prefix(new_scope, e)) for e in fresh]
            log(f"new local effects (raw stub): {len(pairs)}, {args.in_flight} in flight")
            cpu = CpuMeter(server.pid)
            start = time.perf_counter()
            await run_all(pairs, lambda p: raw.new_effect(*p), in_flight=args.in_flight)
            seconds = time.perf_counter() - start
            result["new_local_raw_stub"] = {
                "effects": len(pairs),
                "in_flight": args.in_flight,
                "seconds": rnd(seconds),
                "per_s": rate(len(pairs), seconds),
                "rpcs_per_s": rate(2 * len(pairs), seconds),
                "cpu": cpu.result(),
            }
            log(f"new local effects (raw stub): {result['new_local_raw_stub']['per_s']}/s")
            # Every one was recorded: executing them again replays them all.
            check = await run_all([p[0] for p in pairs], raw.execute_all, in_flight=args.in_flight)
            result["new_local_raw_stub"]["recorded"] = replayed_outcomes(check)

            # Sequential Execute→Complete latency of a new local effect.
            total = args.latency_warmup + args.latency_iterations
            log(f"latency (SDK): {args.latency_iterations} sequential new local effects")
            lat_scope = TurnScope("bench-latency-sdk", "turn-1")
            lat_counter = CountingStep()
            lat_executor = LocalExecutor.durable_step(lat_counter)
            samples: list[float] = []
            for i in range(total):
                env = envelope(i, "lat")
                start = time.perf_counter()
                await controller.execute_effect(lat_scope, env, lat_executor)
                if i >= args.latency_warmup:
                    samples.append(time.perf_counter() - start)
            result["latency_sdk"] = {
                "execute_to_complete": latency_summary_ms(samples),
                "executor_calls": lat_counter.calls,
            }

            log(f"latency (raw stub): {args.latency_iterations} sequential new local effects")
            raw_scope = TurnScope("bench-latency-raw", "turn-1")
            raw_pairs = [
                (execute_request(raw_scope, e), complete_prefix(raw_scope, e))
                for e in (envelope(i, "lat") for i in range(total))
            ]
            whole: list[float] = []
            execute_rpc: list[float] = []
            complete_rpc: list[float] = []
            for i, (request, prefix) in enumerate(raw_pairs):
                start = time.perf_counter()
                (reply,) = await raw.execute_all(request)
                leased = time.perf_counter()
                token = pb.ExecuteResponse.FromString(reply).lease.lease_token
                await raw.complete(prefix + pb.CompleteRequest(lease_token=token).SerializeToString(), timeout=30.0)
                end = time.perf_counter()
                if i >= args.latency_warmup:
                    whole.append(end - start)
                    execute_rpc.append(leased - start)
                    complete_rpc.append(end - leased)
            result["latency_raw_stub"] = {
                "execute_to_complete": latency_summary_ms(whole),
                "execute_rpc": latency_summary_ms(execute_rpc),
                "complete_rpc": latency_summary_ms(complete_rpc),
            }
            log(
                "latency p50: SDK {} ms, raw {} ms".format(
                    result["latency_sdk"]["execute_to_complete"]["p50_ms"],
                    result["latency_raw_stub"]["execute_to_complete"]["p50_ms"],
                )
            )
        result["server_memory"] = server.memory()

    problems = []
    if result["new_local_sdk"]["correct_outcomes"] != args.effects:
        problems.append("new local effects (SDK): wrong outcomes")
    if result["new_local_sdk"]["executor_calls"] != args.effects:
        problems.append("new local effects (SDK): the executor did not run exactly once per effect")
    if result["replay_sdk"]["correct_outcomes"] != args.effects:
        problems.append("replay (SDK): wrong outcomes")
    if result["replay_raw_stub"]["replayed"] != args.effects:
        problems.append("replay (raw stub): not every answer was a replayed outcome")
    if result["new_local_raw_stub"]["recorded"] != args.new_effects:
        problems.append("new local effects (raw stub): not every effect was recorded")
    if result["latency_sdk"]["executor_calls"] != total:
        problems.append("latency (SDK): the executor did not run exactly once per effect")
    if problems:
        raise RuntimeError("; ".join(problems))
    # Replays that ran the executor are reported (replay_sdk.executor_calls), not fatal: a finding.
    return result, request_bytes


async def echo_stream_one_throughput(
    target: str, *, in_flight: int, duration: float, payload_bytes: int, server_pid: int
) -> dict[str, Any]:
    """Unary-stream echo calls answering one message (Execute's shape), read to the end, per second."""
    payload = b"x" * payload_bytes  # the echo server streams "<count>:..." count times; no digits here
    channel = new_channel(target)
    try:
        await channel.channel_ready()
        method = channel.unary_stream(ECHO_STREAM)

        async def call() -> None:
            async for _ in method(payload, timeout=10.0):
                pass

        cpu = CpuMeter(server_pid)
        done, seconds = await run_closed_loop(call, in_flight=in_flight, duration=duration)
    finally:
        await channel.close()
    return {
        "calls_per_s": rnd(done / seconds, 1),
        "calls": done,
        "seconds": rnd(seconds),
        "in_flight": in_flight,
        "payload_bytes": payload_bytes,
        "cpu": cpu.result(),
    }


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
        log(f"echo: unary {echo_unary['calls_per_s']}/s; unary-stream (one message)")
        echo_stream = await echo_stream_one_throughput(
            echo.target,
            in_flight=args.in_flight,
            duration=args.echo_seconds,
            payload_bytes=request_bytes,
            server_pid=echo.pid,
        )
        log(f"echo: unary-stream {echo_stream['calls_per_s']}/s; sequential round trips")
        echo_rtt = await echo_sequential_latency(
            echo.target, iterations=args.echo_rtt_iterations, payload_bytes=request_bytes
        )
    ceiling = echo_unary["calls_per_s"]
    stream_ceiling = echo_stream["calls_per_s"]
    replay = effectd["replay_sdk"]["per_s"] / ceiling
    new_local = effectd["new_local_sdk"]["per_s"] / ceiling
    sdk_p50 = effectd["latency_sdk"]["execute_to_complete"]["p50_ms"]
    raw_p50 = effectd["latency_raw_stub"]["execute_to_complete"]["p50_ms"]
    return {
        "benchmark": "journal",
        "description": (
            "effect journal: durable_step replay hits and new local effects (Execute lease + Complete) per second,"
            " Execute→Complete latency; SDK (RemoteEffectController) and raw-bytes stub, vs bare grpc.aio echo"
        ),
        "environment": environment(),
        "effectd": effectd,
        "echo": {"unary": echo_unary, "unary_stream_one_message": echo_stream, "unary_round_trip": echo_rtt},
        "ratios": {
            "replay_over_echo": rnd(replay),
            "replay_raw_stub_over_echo": rnd(effectd["replay_raw_stub"]["per_s"] / ceiling),
            "replay_raw_stub_over_echo_stream": rnd(effectd["replay_raw_stub"]["per_s"] / stream_ceiling),
            "new_local_over_echo": rnd(new_local),
            "new_local_raw_stub_over_echo": rnd(effectd["new_local_raw_stub"]["per_s"] / ceiling),
            "latency_sdk_p50_over_echo_rtt_p50": rnd(sdk_p50 / echo_rtt["p50_ms"], 2),
            "latency_raw_p50_over_echo_rtt_p50": rnd(raw_p50 / echo_rtt["p50_ms"], 2),
        },
        "targets": {
            "replay_over_echo": {
                "target": f">= {TARGET_REPLAY_RATIO}",
                "value": rnd(replay),
                "met": replay >= TARGET_REPLAY_RATIO,
            },
            "new_local_over_echo": {
                "target": f">= {TARGET_NEW_LOCAL_RATIO}",
                "value": rnd(new_local),
                "met": new_local >= TARGET_NEW_LOCAL_RATIO,
            },
        },
        "elapsed_s": rnd(time.perf_counter() - started, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--effects", type=int, default=5_000, help="effects recorded (SDK), then replayed")
    parser.add_argument("--new-effects", type=int, default=5_000, help="new local effects through the raw stub")
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=500, help="effects recorded and replayed before timing")
    parser.add_argument("--latency-iterations", type=int, default=500)
    parser.add_argument("--latency-warmup", type=int, default=50)
    parser.add_argument("--echo-seconds", type=float, default=3.0)
    parser.add_argument("--echo-rtt-iterations", type=int, default=1000)
    args = parser.parse_args()
    emit(asyncio.run(main_async(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
