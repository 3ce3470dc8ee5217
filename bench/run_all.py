"""Run every benchmark (await events, the effect journal, replicas) in order and print one combined JSON document.
bench_replicas.py needs PostgreSQL (its --postgres, env EFFECTD_BENCH_POSTGRES; default the local `test` database).

Each script runs as a subprocess with this same Python; its stdout is its one JSON object and its
stderr (progress) passes through. The combined document holds every result and a "summary" with the
headline figures, each next to the bare grpc.aio echo ceiling of the same run, and the targets with
met / not met. Missed targets do not fail the run: the exit status is 1 only when a script crashed.

    python bench/run_all.py            # the full run (a few minutes on 2 cores)
    python bench/run_all.py --quick    # small sizes, to check that everything works
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

SCRIPTS = ["bench_latency.py", "bench_resolve.py", "bench_streams.py", "bench_journal.py", "bench_replicas.py"]
QUICK_ARGS = {
    "bench_latency.py": ["--iterations", "60", "--idle-iterations", "40", "--echo-wake-iterations", "40"],
    "bench_resolve.py": ["--resolve-keys", "2000", "--raw-keys", "2000", "--many-keys", "4000", "--echo-seconds", "1"],
    "bench_streams.py": [
        "--awaits",
        "500",
        "--heartbeat-ms",
        "2000",
        "--watch-keys",
        "2000",
        "--echo-stream-messages",
        "2000",
    ],
    "bench_journal.py": [
        "--effects",
        "1000",
        "--new-effects",
        "1000",
        "--warmup",
        "200",
        "--latency-iterations",
        "100",
        "--echo-seconds",
        "1",
        "--echo-rtt-iterations",
        "300",
    ],
    "bench_replicas.py": [
        "--iterations",
        "60",
        "--idle-iterations",
        "30",
        "--warmup",
        "5",
        "--resolve-keys",
        "1000",
        "--effects",
        "500",
        "--journal-warmup",
        "100",
        "--echo-seconds",
        "1",
        "--echo-rtt-iterations",
        "300",
    ],
}
SCRIPT_TIMEOUT_S = 900


def run_script(name: str, extra: list[str]) -> dict[str, Any]:
    started = time.perf_counter()
    print(f"== {name} {' '.join(extra)}", file=sys.stderr, flush=True)
    try:
        proc = subprocess.run(
            [sys.executable, str(HERE / name), *extra],
            stdout=subprocess.PIPE,
            text=True,
            timeout=SCRIPT_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timed out after {SCRIPT_TIMEOUT_S}s"}
    elapsed = round(time.perf_counter() - started, 1)
    if proc.returncode != 0:
        return {"ok": False, "error": f"exit code {proc.returncode}", "elapsed_s": elapsed}
    try:
        result = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        return {"ok": False, "error": f"stdout is not one JSON object: {exc}", "elapsed_s": elapsed}
    return {"ok": True, "elapsed_s": elapsed, "result": result}


def _get(data: dict[str, Any], path: str) -> Any:
    value: Any = data
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def headline(name: str, result: dict[str, Any]) -> dict[str, Any]:
    """The figures worth reading first, each with the echo ceiling of the same run."""
    picks: dict[str, dict[str, str]] = {
        "bench_latency.py": {
            "resolve_to_woken_p50_ms": "effectd.warm.resolve_to_woken.p50_ms",
            "resolve_to_woken_p99_ms": "effectd.warm.resolve_to_woken.p99_ms",
            "resolve_to_woken_after_idle_p50_ms": "effectd.idle.resolve_to_woken.p50_ms",
            "resolve_to_woken_after_idle_p99_ms": "effectd.idle.resolve_to_woken.p99_ms",
            "resolve_rpc_p50_ms": "effectd.warm.resolve_rpc.p50_ms",
            "echo_round_trip_p50_ms": "echo.unary_round_trip.p50_ms",
            "echo_round_trip_p99_ms": "echo.unary_round_trip.p99_ms",
            "echo_unary_releases_stream_p50_ms": "echo.unary_releases_stream_warm.p50_ms",
            "echo_unary_releases_stream_after_idle_p50_ms": "echo.unary_releases_stream_idle.p50_ms",
            "woken_p50_over_echo_rtt_p50": "ratios.woken_p50_over_echo_rtt_p50",
        },
        "bench_resolve.py": {
            "resolve_per_s": "effectd.resolve.per_s",
            "resolve_raw_stub_per_s": "effectd.resolve_raw_stub.per_s",
            "resolve_many_per_s": "effectd.resolve_many.per_s",
            "mint_key_per_s": "effectd.mint_key.keys_per_s",
            "echo_unary_per_s": "echo.unary.calls_per_s",
            "resolve_over_echo": "ratios.resolve_over_echo",
            "resolve_raw_stub_over_echo": "ratios.resolve_raw_stub_over_echo",
        },
        "bench_streams.py": {
            "await_streams": "effectd.await_streams.streams",
            "await_channels": "effectd.await_streams.channels",
            "await_setup_estimate_s": "effectd.await_streams.open.setup_estimate_s",
            "await_all_woken_s": "effectd.await_streams.wake_all.all_woken_s",
            "await_server_rss_before_mb": "effectd.await_streams.server_memory.before.rss_mb",
            "await_server_rss_open_mb": "effectd.await_streams.server_memory.streams_open.rss_mb",
            "await_server_kb_per_stream": "effectd.await_streams.server_memory.per_stream_kb",
            "echo_server_kb_per_open_stream": "echo.open_streams.server_memory.per_stream_kb",
            "echo_open_streams_setup_s": "echo.open_streams.setup_s",
            "watch_keys": "effectd.watch.keys",
            "watch_register_s": "effectd.watch.register.seconds",
            "watch_all_delivered_s": "effectd.watch.deliver_all.all_delivered_s",
            "watch_terminals_per_s": "effectd.watch.deliver_all.terminals_per_s",
            "echo_stream_messages_per_s": "echo.server_stream.messages_per_s",
            "watch_server_peak_rss_mb": "effectd.watch.server_memory.peak_rss_mb",
            "mint_key_per_s": "effectd.mint_key.keys_per_s",
        },
        "bench_journal.py": {
            "replay_per_s": "effectd.replay_sdk.per_s",
            "replay_raw_stub_per_s": "effectd.replay_raw_stub.per_s",
            "replay_executor_calls": "effectd.replay_sdk.executor_calls",
            "new_local_per_s": "effectd.new_local_sdk.per_s",
            "new_local_raw_stub_per_s": "effectd.new_local_raw_stub.per_s",
            "execute_to_complete_p50_ms": "effectd.latency_sdk.execute_to_complete.p50_ms",
            "execute_to_complete_p99_ms": "effectd.latency_sdk.execute_to_complete.p99_ms",
            "execute_to_complete_raw_stub_p50_ms": "effectd.latency_raw_stub.execute_to_complete.p50_ms",
            "execute_to_complete_raw_stub_p99_ms": "effectd.latency_raw_stub.execute_to_complete.p99_ms",
            "echo_unary_per_s": "echo.unary.calls_per_s",
            "echo_unary_stream_one_message_per_s": "echo.unary_stream_one_message.calls_per_s",
            "echo_round_trip_p50_ms": "echo.unary_round_trip.p50_ms",
            "echo_round_trip_p99_ms": "echo.unary_round_trip.p99_ms",
            "replay_over_echo": "ratios.replay_over_echo",
            "new_local_over_echo": "ratios.new_local_over_echo",
        },
        "bench_replicas.py": {
            "cross_replica_woken_p50_ms": "effectd.wake.cross_replica.resolve_to_woken.p50_ms",
            "cross_replica_woken_p99_ms": "effectd.wake.cross_replica.resolve_to_woken.p99_ms",
            "same_replica_woken_p50_ms": "effectd.wake.same_replica.resolve_to_woken.p50_ms",
            "same_replica_woken_p99_ms": "effectd.wake.same_replica.resolve_to_woken.p99_ms",
            "cross_replica_woken_after_idle_p50_ms": "effectd.wake.cross_replica_idle.resolve_to_woken.p50_ms",
            "resolve_one_replica_per_s": "effectd.resolve.one_replica.per_s",
            "resolve_two_replicas_per_s": "effectd.resolve.two_replicas.per_s",
            "replay_per_s": "effectd.journal.replay_one_replica.per_s",
            "replay_two_replicas_per_s": "effectd.journal.replay_two_replicas.per_s",
            "replay_executor_calls": "effectd.journal.replay_one_replica.executor_calls",
            "record_new_local_per_s": "effectd.journal.record_new_local.per_s",
            "echo_unary_per_s": "echo.unary.calls_per_s",
            "echo_round_trip_p50_ms": "echo.unary_round_trip.p50_ms",
            "echo_round_trip_p99_ms": "echo.unary_round_trip.p99_ms",
            "cross_woken_p50_over_echo_rtt_p50": "ratios.cross_woken_p50_over_echo_rtt_p50",
            "resolve_one_replica_over_echo": "ratios.resolve_one_replica_over_echo",
            "resolve_two_replicas_over_echo": "ratios.resolve_two_replicas_over_echo",
            "replay_over_echo": "ratios.replay_over_echo",
        },
    }
    return {label: _get(result, path) for label, path in picks.get(name, {}).items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes: checks that every script works")
    parser.add_argument("--only", action="append", choices=SCRIPTS, help="run only this script (repeatable)")
    args = parser.parse_args()
    started = time.perf_counter()
    runs: dict[str, dict[str, Any]] = {}
    for name in args.only or SCRIPTS:
        runs[name] = run_script(name, QUICK_ARGS[name] if args.quick else [])
    summary: dict[str, Any] = {"headline": {}, "targets": [], "crashed": []}
    for name, run in runs.items():
        key = name.removesuffix(".py")
        if not run["ok"]:
            summary["crashed"].append({"script": name, "error": run["error"]})
            continue
        result = run["result"]
        summary["headline"][key] = headline(name, result)
        for target_name, target in result.get("targets", {}).items():
            summary["targets"].append({"benchmark": key, "name": target_name, **target})
    met = sum(1 for t in summary["targets"] if t["met"])
    summary["targets_met"] = f"{met}/{len(summary['targets'])}"
    document = {
        "summary": summary,
        "quick": args.quick,
        "elapsed_s": round(time.perf_counter() - started, 1),
        "results": {name.removesuffix(".py"): run for name, run in runs.items()},
    }
    sys.stdout.write(json.dumps(document, indent=2) + "\n")
    return 1 if summary["crashed"] else 0


if __name__ == "__main__":
    sys.exit(main())
