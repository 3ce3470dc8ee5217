"""`make bench`: every figure of issue 14 on SQLite, PostgreSQL x1 and PostgreSQL x2, each beside the bare
grpc.aio echo measured in the same run, with its target and met / not met. See bench/README.md.

    python bench/run_all.py                          # the full run (~10-15 minutes on 2 cores)
    python bench/run_all.py --quick                  # small sizes: checks that everything works (CI smoke)
    python bench/run_all.py --store sqlite --only resolve,wake
    python bench/run_all.py --scripts ''          # without bench_streams, bench_workers, bench_mcp (run by default)

stdout: one JSON document ("summary" first: one row per figure and store, and the same as a Markdown
table); stderr: progress, and the table again at the end. Missed targets never fail the run (the exit
status is 1 only when a part crashed): figures on a shared machine are noisy, and --quick sizes are
too small to mean anything.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import DEFAULT_POSTGRES, environment, log, rnd
from _figures import (
    Journal,
    KeyPool,
    close_all,
    connect_all,
    echo_block,
    mint_rep,
    one_resolve_rep,
    resolve_rep,
    resolve_request_bytes,
    stats,
    top_up,
    wake_rep,
)
from _process_figures import ProcessBench
from _stores import DEPLOYMENTS, Deployment, postgres_reachable
from effectd import ToolCompletionWait, TurnScope

HERE = Path(__file__).resolve().parent
PARTS = ("wake", "mint", "one_resolve", "resolve", "journal", "processes", "growth")
PART_HELP = {
    "wake": "resolve → waiter woken p50 (and one Resolve with a waiter parked), 3 reps",
    "mint": "MintKey @64, 3 reps",
    "one_resolve": "one Resolve at a time, back to back, p50, 3 reps",
    "resolve": "Resolve @64: 5 back-to-back reps (the stability figure, after the wake test), CPU per resolve",
    "journal": "new durable_step (Execute lease + Complete) @64 and replay hits @64, 3 reps each",
    "processes": "append_event @64 (a process per worker), 3 reps; append → wait_event_after woken p50/p99, 3 reps",
    "growth": "Resolve @64 and wake p50 with 1,000 then 1,000,000 keys stored (SQLite and PostgreSQL x1)",
}
# Other names for the parts, after the figures they hold.
ALIASES = {
    "stability": "resolve",
    "cpu": "resolve",
    "one": "one_resolve",
    "durable_step": "journal",
    "replay": "journal",
    "append": "processes",
    "process_wake": "processes",
}
SCRIPTS = (
    "bench_latency",
    "bench_resolve",
    "bench_streams",
    "bench_journal",
    "bench_replicas",
    "bench_workers",
    "bench_mcp",
)
# --quick sizes of the standalone scripts.
QUICK_ARGS = {
    "bench_workers": ["--iterations", "100", "--warmup", "20", "--seconds", "0.5", "--kill-reps", "1"],
    "bench_mcp": ["--iterations", "100", "--warmup", "20", "--seconds", "0.5"],
    "bench_latency": ["--iterations", "60", "--idle-iterations", "40", "--echo-wake-iterations", "40"],
    "bench_resolve": ["--resolve-keys", "2000", "--raw-keys", "2000", "--many-keys", "4000", "--echo-seconds", "1"],
    "bench_streams": [
        "--awaits",
        "500",
        "--heartbeat-ms",
        "2000",
        "--watch-keys",
        "2000",
        "--echo-stream-messages",
        "2000",
    ],
    "bench_journal": [
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
    "bench_replicas": [
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

# Targets (issue 14 §2). Throughput ratios are effectd / echo @64 of the same store section.
RESOLVE_RATIO = {"sqlite": 0.8, "pg1": 0.6}
ONE_RESOLVE_EXTRA_MS = {"sqlite": 0.6, "pg1": 1.5, "pg2": 1.5}
WAKE_RATIO = {"sqlite": 1.3, "pg1": 1.8, "pg2": 1.8}
STABILITY_FLOOR = 0.8  # slowest repetition >= 80 % of the median
DURABLE_STEP_RATIO = 0.8  # of half the echo rate
REPLAY_RATIO = 0.8
MINT_RATIO = 0.8
CPU_RATIO = 1.3
GROWTH_RESOLVE_FLOOR = 0.9
GROWTH_WAKE_CEILING = 1.1


@dataclass(frozen=True)
class Sizes:
    reps: int
    stability_reps: int
    rep_s: float
    in_flight: int
    echo_rtt_iterations: int
    echo_wake_iterations: int
    wake_iterations: int
    wake_warmup: int
    one_resolve_iterations: int
    one_resolve_warmup: int
    journal_warmup: int
    growth_base: int
    growth_total: int


FULL = Sizes(3, 5, 3.0, 64, 1000, 300, 200, 20, 300, 20, 200, 1_000, 1_000_000)
QUICK = Sizes(3, 5, 0.3, 64, 100, 30, 20, 3, 30, 5, 20, 1_000, 5_000)


# -- a store section ----------------------------------------------------------------------------------
async def run_section(name: str, parts: set[str], sz: Sizes, dsn: str) -> dict[str, Any]:
    """Every selected figure on one deployment: one server (or two replicas) and one growing database."""
    started = time.perf_counter()
    async with Deployment(name, postgres_dsn=dsn) as dep:
        clients = await connect_all(dep)
        try:
            sample = await clients[0].mint_key(TurnScope("echo-payload", "t"), ToolCompletionWait("c"))
            log(f"{dep.label}: echo, {sz.reps} reps (effectd up and idle)")
            out: dict[str, Any] = {
                "deployment": dep.label,
                "replicas": dep.replica_count,
                "echo": await echo_block(
                    reps=sz.reps,
                    rep_s=sz.rep_s,
                    rtt_iterations=sz.echo_rtt_iterations,
                    wake_iterations=sz.echo_wake_iterations,
                    payload=resolve_request_bytes(sample),
                ),
            }
            if "wake" in parts:
                reps = []
                for rep in range(sz.reps):
                    reps.append(
                        await wake_rep(dep, f"{name}-{rep}", iterations=sz.wake_iterations, warmup=sz.wake_warmup)
                    )
                    log(
                        f"{dep.label}: wake rep {rep + 1}/{sz.reps}: woken p50 {reps[-1]['resolve_to_woken']['p50_ms']}"
                        f" ms, resolve call p50 {reps[-1]['resolve_rpc']['p50_ms']} ms"
                    )
                out["wake"] = {
                    "waiter_and_resolver": "different replicas" if dep.replica_count > 1 else "one server",
                    "woken_p50_ms": stats([r["resolve_to_woken"]["p50_ms"] for r in reps]),
                    "woken_p99_ms": stats([r["resolve_to_woken"]["p99_ms"] for r in reps]),
                    "resolve_with_waiter_p50_ms": stats([r["resolve_rpc"]["p50_ms"] for r in reps]),
                    "reps": reps,
                }
            pool = KeyPool()
            mint_rate = 0.0
            if parts & {"mint", "one_resolve", "resolve"}:
                reps = []
                for rep in range(sz.reps):
                    reps.append(await mint_rep(dep, clients, pool, f"{name}-m{rep}", duration=sz.rep_s, in_flight=64))
                    log(f"{dep.label}: MintKey @64 rep {rep + 1}/{sz.reps}: {reps[-1]['per_s']}/s")
                out["mint"] = {"per_s": stats([r["per_s"] for r in reps], 1), "reps": reps}
                mint_rate = out["mint"]["per_s"]["median"]
            if "one_resolve" in parts:
                per_rep = sz.one_resolve_iterations + sz.one_resolve_warmup
                await top_up(clients, pool, f"{name}-pool", sz.reps * per_rep, 64)
                reps = []
                for rep in range(sz.reps):
                    reps.append(
                        await one_resolve_rep(
                            dep, clients[0], pool, iterations=sz.one_resolve_iterations, warmup=sz.one_resolve_warmup
                        )
                    )
                    log(f"{dep.label}: one Resolve rep {rep + 1}/{sz.reps}: p50 {reps[-1]['p50_ms']} ms")
                out["one_resolve"] = {"p50_ms": stats([r["p50_ms"] for r in reps]), "reps": reps}
            if "resolve" in parts:
                # Enough keys for every rep to run its full time if resolves go 3x as fast as mints (PostgreSQL
                # gathers concurrent resolves into one transaction, not mints).
                per_rep = math.ceil(sz.rep_s * 3.0 * max(mint_rate, 200.0))
                await top_up(clients, pool, f"{name}-pool", sz.stability_reps * per_rep, 64)
                reps = []
                for rep in range(sz.stability_reps):
                    reps.append(await resolve_rep(dep, clients, pool, duration=sz.rep_s, in_flight=sz.in_flight))
                    cpu = reps[-1]["cpu"]
                    log(
                        f"{dep.label}: Resolve @{sz.in_flight} rep {rep + 1}/{sz.stability_reps}:"
                        f" {reps[-1]['per_s']}/s,"
                        f" effectd {cpu['effectd_us_per_op']} µs/resolve"
                        + (f", PostgreSQL {cpu['postgres_us_per_op']} µs/resolve" if dep.postgres else "")
                    )
                rates = [r["per_s"] for r in reps]
                out["resolve"] = {
                    "in_flight": sz.in_flight,
                    "split": f"{sz.in_flight // 2} + {sz.in_flight // 2}" if dep.replica_count > 1 else "one server",
                    "after_wake_test": "wake" in parts,
                    "per_s": stats(rates, 1),
                    "slowest_over_median": rnd(min(rates) / stats(rates)["median"]),
                    "effectd_cpu_us_per_resolve": stats([r["cpu"]["effectd_us_per_op"] for r in reps], 1),
                    "reps": reps,
                }
                if dep.postgres:
                    out["resolve"]["postgres_cpu_us_per_resolve"] = stats(
                        [r["cpu"]["postgres_us_per_op"] for r in reps], 1
                    )
                    out["resolve"]["postgres_all_cpu_us_per_resolve"] = stats(
                        [r["cpu"]["postgres_all_us_per_op"] for r in reps], 1
                    )
            if "journal" in parts:
                journal = Journal(clients)
                await journal.warm_up(sz.journal_warmup, 64)
                new = []
                for rep in range(sz.reps):
                    new.append(await journal.new_rep(dep, duration=sz.rep_s, in_flight=sz.in_flight))
                    log(f"{dep.label}: new durable_step @{sz.in_flight} rep {rep + 1}/{sz.reps}: {new[-1]['per_s']}/s")
                replay = []
                for rep in range(sz.reps):
                    replay.append(await journal.replay_rep(dep, duration=sz.rep_s, in_flight=sz.in_flight))
                    log(
                        f"{dep.label}: replay hits @{sz.in_flight} rep {rep + 1}/{sz.reps}: {replay[-1]['per_s']}/s,"
                        f" step calls {replay[-1]['step_calls']}"
                    )
                out["durable_step"] = {"per_s": stats([r["per_s"] for r in new], 1), "reps": new}
                out["replay"] = {
                    "per_s": stats([r["per_s"] for r in replay], 1),
                    "step_calls": sum(r["step_calls"] for r in replay),
                    "reps": replay,
                }
            if "processes" in parts:
                out.update(await processes_block(dep, clients, name, sz))
            out["keys_stored_at_end"] = await dep.count_keys()
            out["server_memory"] = [r.memory() for r in dep.replicas]
        finally:
            await close_all(clients)
    out["elapsed_s"] = rnd(time.perf_counter() - started, 1)
    return out


async def processes_block(dep: Deployment, clients: list[Any], name: str, sz: Sizes) -> dict[str, Any]:
    """append_event @in_flight and append → wait_event_after woken (across replicas on x2)."""
    bench = ProcessBench(clients, name)
    appends = []
    for rep in range(sz.reps):
        appends.append(await bench.append_rep(dep, duration=sz.rep_s, in_flight=sz.in_flight))
        log(f"{dep.label}: append_event @{sz.in_flight} rep {rep + 1}/{sz.reps}: {appends[-1]['per_s']}/s")
    wakes = []
    for rep in range(sz.reps):
        wakes.append(await bench.wake_rep(dep, iterations=sz.wake_iterations, warmup=sz.wake_warmup))
        log(
            f"{dep.label}: append → wait_event_after woken rep {rep + 1}/{sz.reps}:"
            f" p50 {wakes[-1]['append_to_woken']['p50_ms']} ms, p99 {wakes[-1]['append_to_woken']['p99_ms']} ms"
        )
    return {
        "append_event": {"per_s": stats([r["per_s"] for r in appends], 1), "reps": appends},
        "process_wake": {
            "waiter_and_appender": "different replicas" if dep.replica_count > 1 else "one server",
            "woken_p50_ms": stats([r["append_to_woken"]["p50_ms"] for r in wakes]),
            "woken_p99_ms": stats([r["append_to_woken"]["p99_ms"] for r in wakes]),
            "append_rpc_p50_ms": stats([r["append_rpc"]["p50_ms"] for r in wakes]),
            "reps": wakes,
        },
    }


async def growth_block(dep: Deployment, label: str, sz: Sizes) -> dict[str, Any]:
    """Wake xreps, then Resolve @64 xreps, on the store as it is."""
    stored = await dep.count_keys()
    clients = await connect_all(dep)
    try:
        wakes = []
        for rep in range(sz.reps):
            wakes.append(
                await wake_rep(dep, f"grow-{label}-{rep}", iterations=sz.wake_iterations, warmup=sz.wake_warmup)
            )
        pool = KeyPool()
        probe = await mint_rep(dep, clients, pool, f"grow-{label}-m", duration=min(sz.rep_s, 1.0), in_flight=64)
        per_rep = math.ceil(sz.rep_s * 1.5 * max(probe["per_s"], 200.0))
        await top_up(clients, pool, f"grow-{label}-pool", sz.reps * per_rep, 64)
        resolves = []
        for _ in range(sz.reps):
            resolves.append(await resolve_rep(dep, clients, pool, duration=sz.rep_s, in_flight=sz.in_flight))
        result = {
            "keys_stored": stored,
            "woken_p50_ms": stats([w["resolve_to_woken"]["p50_ms"] for w in wakes]),
            "resolve_per_s": stats([r["per_s"] for r in resolves], 1),
            "wake_reps": wakes,
            "resolve_reps": resolves,
        }
    finally:
        await close_all(clients)
    log(
        f"{dep.label}, {stored} keys stored: Resolve @{sz.in_flight} {result['resolve_per_s']['median']}/s,"
        f" woken p50 {result['woken_p50_ms']['median']} ms"
    )
    return result


async def run_growth(name: str, sz: Sizes, dsn: str) -> dict[str, Any]:
    """The same figures with `growth_base` keys stored, then with `growth_total`, on one store."""
    started = time.perf_counter()
    async with Deployment(name, postgres_dsn=dsn) as dep:
        template = await dep.key_template()
        out: dict[str, Any] = {"deployment": dep.label}
        first = 0
        for label, count in (("base", sz.growth_base - 1), ("grown", sz.growth_total - sz.growth_base)):
            insert_s = await dep.insert_keys(template, first, count)
            first += count
            out[label] = await growth_block(dep, label, sz)
            out[label]["insert_s"] = rnd(insert_s, 1)
    out["elapsed_s"] = rnd(time.perf_counter() - started, 1)
    return out


# -- standalone scripts -----------------------------------------------------------------------------
def run_script(name: str, quick: bool) -> dict[str, Any]:
    extra = QUICK_ARGS[name] if quick else []
    started = time.perf_counter()
    log(f"== {name} {' '.join(extra)}")
    try:
        proc = subprocess.run(
            [sys.executable, str(HERE / f"{name}.py"), *extra],
            stdout=subprocess.PIPE,
            text=True,
            timeout=SCRIPT_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timed out after {SCRIPT_TIMEOUT_S}s"}
    elapsed = rnd(time.perf_counter() - started, 1)
    if proc.returncode != 0:
        return {"ok": False, "error": f"exit code {proc.returncode}", "elapsed_s": elapsed}
    try:
        return {"ok": True, "elapsed_s": elapsed, "result": json.loads(proc.stdout)}
    except json.JSONDecodeError as exc:
        return {"ok": False, "error": f"stdout is not one JSON object: {exc}", "elapsed_s": elapsed}


# -- the summary -----------------------------------------------------------------------------------------
def _row(
    figure: str,
    store: str,
    value: dict[str, Any] | float | None,
    unit: str,
    *,
    echo: float | None = None,
    ratio: float | None = None,
    target: str = "",
    met: bool | None = None,
) -> dict[str, Any]:
    if isinstance(value, dict):
        median, low, high = value["median"], value["min"], value["max"]
    else:
        median, low, high = value, None, None
    return {
        "figure": figure,
        "store": store,
        "median": median,
        "min": low,
        "max": high,
        "unit": unit,
        "echo": echo,
        "ratio": None if ratio is None else rnd(ratio, 2),
        "target": target,
        "met": met,
    }


def _median_others(reps: list[dict[str, Any]]) -> float | None:
    values = [r["cpu"]["others_cpu_util"] for r in reps if "others_cpu_util" in r.get("cpu", {})]
    return rnd(statistics.median(values), 2) if values else None


def _tag(rows: list[dict[str, Any]], first: int, reps: list[dict[str, Any]], echo_others: float | None) -> None:
    """Rows `first`.. : the cores that other processes kept busy during their repetitions (median), and
    during the echo's."""
    others = _median_others(reps)
    for row in rows[first:]:
        row.setdefault("others_cpu", others)
        row.setdefault("echo_others_cpu", echo_others)


def summarize(sections: dict[str, dict[str, Any]], growth: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    pg1_resolve = sections.get("pg1", {}).get("resolve", {}).get("per_s", {}).get("median")
    for name, s in sections.items():
        if "error" in s or "skipped" in s:
            continue
        label = DEPLOYMENTS[name]
        echo = s["echo"]
        echo_rate = echo["unary_per_s"]["median"]
        echo_others = echo.get("others_cpu_util", {}).get("median")
        if "resolve" in s:
            first = len(rows)
            r = s["resolve"]
            rate = r["per_s"]["median"]
            if name == "pg2":
                ok = None if pg1_resolve is None else rate >= pg1_resolve
                target = (
                    f">= PostgreSQL x1 ({pg1_resolve}/s)" if pg1_resolve is not None else ">= PostgreSQL x1 (not run)"
                )
                rows.append(
                    _row(
                        "Resolve @64 (32 + 32), /s",
                        label,
                        r["per_s"],
                        "/s",
                        echo=echo_rate,
                        ratio=rate / echo_rate,
                        target=target,
                        met=ok,
                    )
                )
            else:
                want = RESOLVE_RATIO[name]
                rows.append(
                    _row(
                        "Resolve @64, /s",
                        label,
                        r["per_s"],
                        "/s",
                        echo=echo_rate,
                        ratio=rate / echo_rate,
                        target=f">= {want}x echo",
                        met=rate >= want * echo_rate,
                    )
                )
            slow = r["slowest_over_median"]
            rows.append(
                _row(
                    f"stability: slowest of {len(r['reps'])} Resolve @64 reps / median"
                    + (" (after a wake test)" if r["after_wake_test"] else ""),
                    label,
                    slow,
                    "ratio",
                    ratio=slow,
                    target=f">= {STABILITY_FLOOR}",
                    met=slow >= STABILITY_FLOOR,
                )
            )
            cpu = r["effectd_cpu_us_per_resolve"]
            echo_cpu = echo["cpu_us_per_call"]["median"]
            rows.append(
                _row(
                    "effectd CPU per resolve, µs" + (" (both replicas)" if name == "pg2" else ""),
                    label,
                    cpu,
                    "µs",
                    echo=echo_cpu,
                    ratio=cpu["median"] / echo_cpu,
                    target=f"<= {CPU_RATIO}x echo per call",
                    met=cpu["median"] <= CPU_RATIO * echo_cpu,
                )
            )
            if "postgres_cpu_us_per_resolve" in r:
                rows.append(
                    _row(
                        "PostgreSQL CPU per resolve (its backends for effectd), µs",
                        label,
                        r["postgres_cpu_us_per_resolve"],
                        "µs",
                    )
                )
            _tag(rows, first, r["reps"], echo_others)
        if "one_resolve" in s:
            first = len(rows)
            value = s["one_resolve"]["p50_ms"]
            echo_p50 = echo["round_trip_p50_ms"]["median"]
            extra = ONE_RESOLVE_EXTRA_MS[name]
            rows.append(
                _row(
                    "one Resolve, back to back, p50 ms",
                    label,
                    value,
                    "ms",
                    echo=echo_p50,
                    ratio=value["median"] / echo_p50,
                    target=f"<= echo + {extra} ms",
                    met=value["median"] <= echo_p50 + extra,
                )
            )
            _tag(rows, first, s["one_resolve"]["reps"], echo_others)
        if "wake" in s:
            first = len(rows)
            w = s["wake"]
            if "one_resolve" in s:
                alone = s["one_resolve"]["p50_ms"]["median"]
                parked = w["resolve_with_waiter_p50_ms"]
                rows.append(
                    _row(
                        "one Resolve with a waiter parked on the key, p50 ms"
                        + (" (waiter on the other replica)" if name == "pg2" else ""),
                        label,
                        parked,
                        "ms",
                        ratio=parked["median"] / alone,
                        target=f"<= without a waiter ({alone} ms)",
                        met=parked["median"] <= alone,
                    )
                )
            echo_wake = echo["stream_wake_p50_ms"]["median"]
            want = WAKE_RATIO[name]
            rows.append(
                _row(
                    "resolve → waiter woken, p50 ms" + (" (across replicas)" if name == "pg2" else ""),
                    label,
                    w["woken_p50_ms"],
                    "ms",
                    echo=echo_wake,
                    ratio=w["woken_p50_ms"]["median"] / echo_wake,
                    target=f"<= {want}x echo stream wake",
                    met=w["woken_p50_ms"]["median"] <= want * echo_wake,
                )
            )
            rows.append(_row("resolve → waiter woken, p99 ms", label, w["woken_p99_ms"], "ms"))
            _tag(rows, first, w["reps"], echo_others)
        if "durable_step" in s:
            first = len(rows)
            rate = s["durable_step"]["per_s"]["median"]
            rows.append(
                _row(
                    "new durable_step (Execute + Complete) @64, /s",
                    label,
                    s["durable_step"]["per_s"],
                    "/s",
                    echo=rnd(echo_rate / 2, 1),
                    ratio=rate / (echo_rate / 2),
                    target=f">= {DURABLE_STEP_RATIO}x half the echo",
                    met=rate >= DURABLE_STEP_RATIO * echo_rate / 2,
                )
            )
            _tag(rows, first, s["durable_step"]["reps"], echo_others)
            first = len(rows)
            rate = s["replay"]["per_s"]["median"]
            rows.append(
                _row(
                    "replay hits @64, /s",
                    label,
                    s["replay"]["per_s"],
                    "/s",
                    echo=echo_rate,
                    ratio=rate / echo_rate,
                    target=f">= {REPLAY_RATIO}x echo; step never runs",
                    met=rate >= REPLAY_RATIO * echo_rate and s["replay"]["step_calls"] == 0,
                )
            )
            _tag(rows, first, s["replay"]["reps"], echo_others)
        if "mint" in s:
            first = len(rows)
            rate = s["mint"]["per_s"]["median"]
            rows.append(
                _row(
                    "MintKey @64, /s",
                    label,
                    s["mint"]["per_s"],
                    "/s",
                    echo=echo_rate,
                    ratio=rate / echo_rate,
                    target=f">= {MINT_RATIO}x echo",
                    met=rate >= MINT_RATIO * echo_rate,
                )
            )
            _tag(rows, first, s["mint"]["reps"], echo_others)
        if "append_event" in s:
            first = len(rows)
            rate = s["append_event"]["per_s"]["median"]
            rows.append(
                _row(
                    "append_event @64, /s",
                    label,
                    s["append_event"]["per_s"],
                    "/s",
                    echo=echo_rate,
                    ratio=rate / echo_rate,
                    target="reported (issue 9)",
                )
            )
            _tag(rows, first, s["append_event"]["reps"], echo_others)
            wake = s["process_wake"]
            where = " (across replicas)" if wake["waiter_and_appender"] == "different replicas" else ""
            for pct in ("p50", "p99"):
                value = wake[f"woken_{pct}_ms"]
                echo_wake = echo[f"stream_wake_{pct}_ms"]["median"]
                rows.append(
                    _row(
                        f"append → wait_event_after woken {pct} ms{where}",
                        label,
                        value,
                        "ms",
                        echo=echo_wake,
                        ratio=value["median"] / echo_wake,
                        target="reported (issue 9)",
                    )
                )
    for name, g in growth.items():
        if "error" in g or "skipped" in g:
            continue
        label = DEPLOYMENTS[name]
        base, grown = g["base"], g["grown"]
        stored = f"{grown['keys_stored']:,} vs {base['keys_stored']:,} keys stored"
        ratio = grown["resolve_per_s"]["median"] / base["resolve_per_s"]["median"]
        first = len(rows)
        rows.append(
            _row(
                f"growth: Resolve @64, /s ({stored})",
                label,
                grown["resolve_per_s"],
                "/s",
                echo=base["resolve_per_s"]["median"],
                ratio=ratio,
                target=f">= {GROWTH_RESOLVE_FLOOR}x the small store",
                met=ratio >= GROWTH_RESOLVE_FLOOR,
            )
        )
        _tag(rows, first, grown["resolve_reps"], _median_others(base["resolve_reps"]))
        first = len(rows)
        ratio = grown["woken_p50_ms"]["median"] / base["woken_p50_ms"]["median"]
        rows.append(
            _row(
                f"growth: resolve → waiter woken p50 ms ({stored})",
                label,
                grown["woken_p50_ms"],
                "ms",
                echo=base["woken_p50_ms"]["median"],
                ratio=ratio,
                target=f"<= {GROWTH_WAKE_CEILING}x the small store",
                met=ratio <= GROWTH_WAKE_CEILING,
            )
        )
        _tag(rows, first, grown["wake_reps"], _median_others(base["wake_reps"]))
    return rows


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}"


def _cores(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def markdown(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| figure | store | median (min-max) | echo / reference, same run | ratio | target | met | others' CPU |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        value = _num(r["median"])
        if r["min"] is not None:
            value += f" ({_num(r['min'])}-{_num(r['max'])})"
        met = {True: "met", False: "**not met**", None: "-"}[r["met"]]
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}"
        others = f"{_cores(r.get('others_cpu'))} / {_cores(r.get('echo_others_cpu'))}"
        lines.append(
            f"| {r['figure']} | {r['store']} | {value} | {_num(r['echo'])} | {ratio} | {r['target'] or '-'} | {met}"
            f" | {others} |"
        )
    return lines


# -- the run -------------------------------------------------------------------------------------------
def parse_list(text: str, allowed: tuple[str, ...], what: str) -> list[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in items if t not in allowed]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown {what}: {', '.join(unknown)} (choose from {', '.join(allowed)})")
    return items


def stores_from(text: str) -> list[str]:
    names: list[str] = []
    for item in parse_list(text, ("sqlite", "postgres", "pg1", "pg2", "all"), "store"):
        expanded = {"all": ["sqlite", "pg1", "pg2"], "postgres": ["pg1", "pg2"]}.get(item, [item])
        names.extend(n for n in expanded if n not in names)
    return names


async def attempt(what: str, run: Callable[[], Awaitable[dict[str, Any]]], tries: int = 2) -> dict[str, Any]:
    """`run()`, once more when it crashes (others on this machine restart PostgreSQL now and then); the
    result notes the crash it got over, or {"error": ...} after the last try."""
    crashes: list[str] = []
    for _ in range(tries):
        try:
            result = await run()
        except Exception as exc:
            log(f"{what} crashed:\n{traceback.format_exc()}")
            crashes.append(repr(exc))
            continue
        if crashes:
            result["crashed_before"] = crashes
        return result
    return {"error": crashes[-1], "crashes": crashes}


async def main_async(args: argparse.Namespace) -> tuple[dict[str, Any], bool]:
    sz = QUICK if args.quick else FULL
    if args.rep_seconds:
        sz = Sizes(**{**sz.__dict__, "rep_s": args.rep_seconds})
    if args.growth_keys:
        sz = Sizes(**{**sz.__dict__, "growth_total": args.growth_keys})
    stores = stores_from(args.store)
    parts = (
        {ALIASES.get(p, p) for p in parse_list(args.only, PARTS + tuple(ALIASES), "part")} if args.only else set(PARTS)
    )
    started = time.perf_counter()
    crashed: list[dict[str, str]] = []
    postgres_down = None
    if any(s != "sqlite" for s in stores):
        postgres_down = await postgres_reachable(args.postgres)
        if postgres_down:
            log(f"PostgreSQL at {args.postgres} is not reachable ({postgres_down}): its figures are skipped")
    sections: dict[str, dict[str, Any]] = {}
    growth: dict[str, dict[str, Any]] = {}
    section_parts = parts - {"growth"}
    for name in stores:
        if name != "sqlite" and postgres_down:
            sections[name] = {"skipped": f"PostgreSQL not reachable: {postgres_down}"}
            continue
        if section_parts:
            log(f"==== {DEPLOYMENTS[name]}: {', '.join(sorted(section_parts))}")
            sections[name] = await attempt(
                DEPLOYMENTS[name], lambda name=name: run_section(name, section_parts, sz, args.postgres)
            )
            if "error" in sections[name]:
                crashed.append({"part": name, "error": sections[name]["error"]})
    if "growth" in parts:
        for name in (s for s in stores if s in ("sqlite", "pg1")):
            if name != "sqlite" and postgres_down:
                growth[name] = {"skipped": f"PostgreSQL not reachable: {postgres_down}"}
                continue
            log(f"==== growth, {DEPLOYMENTS[name]}: {sz.growth_base:,} then {sz.growth_total:,} keys stored")
            growth[name] = await attempt(
                f"growth on {DEPLOYMENTS[name]}", lambda name=name: run_growth(name, sz, args.postgres)
            )
            if "error" in growth[name]:
                crashed.append({"part": f"growth-{name}", "error": growth[name]["error"]})
    scripts: dict[str, Any] = {}
    for name in parse_list(args.scripts, SCRIPTS, "script") if args.scripts else []:
        scripts[name] = await asyncio.to_thread(run_script, name, args.quick)
        if not scripts[name]["ok"]:
            crashed.append({"part": name, "error": scripts[name]["error"]})
    rows = summarize(sections, growth)
    if args.quick:  # a smoke run: its sizes say nothing about the targets
        for row in rows:
            row["met"] = None
    met = sum(1 for r in rows if r["met"] is True)
    judged = sum(1 for r in rows if r["met"] is not None)
    document = {
        "summary": {
            "targets_met": f"{met}/{judged}" if not args.quick else "not judged (--quick)",
            "rows": rows,
            "table": markdown(rows),
            "crashed": crashed,
            "skipped": {
                k: v["skipped"]
                for k, v in {**sections, **{f"growth-{k}": v for k, v in growth.items()}}.items()
                if "skipped" in v
            },
            "note": (
                "medians of the repetitions with min-max; every ratio is to the echo (or the small store) measured"
                " in this run; --quick sizes are too small for the figures to mean anything"
                if args.quick
                else "medians of the repetitions with min-max; every ratio is to the echo (or the small store)"
                " measured in this run, on a machine that other work may share: read the min-max spread"
            ),
        },
        "quick": args.quick,
        "sizes": sz.__dict__,
        "stores": stores,
        "parts": sorted(parts),
        "environment": environment(),
        "elapsed_s": rnd(time.perf_counter() - started, 1),
        "sections": sections,
        "growth": growth,
        "scripts": scripts,
    }
    return document, bool(crashed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--quick", action="store_true", help="small sizes: checks that everything works; targets are not judged"
    )
    parser.add_argument(
        "--store", default="all", help="sqlite, postgres (= pg1,pg2), pg1, pg2 or all, comma-separated (default all)"
    )
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated parts (default all): "
        + "; ".join(f"{k}: {v}" for k, v in PART_HELP.items())
        + "; also "
        + ", ".join(f"{k} (= {v})" for k, v in ALIASES.items()),
    )
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="PostgreSQL URL (default %(default)s)")
    parser.add_argument("--rep-seconds", type=float, default=0.0, help="seconds per throughput repetition")
    parser.add_argument("--growth-keys", type=int, default=0, help="keys stored for the growth figure (1,000,000)")
    parser.add_argument(
        "--scripts",
        default="bench_streams,bench_workers,bench_mcp",
        help=f"standalone scripts to run too ({', '.join(SCRIPTS)}), comma-separated; default bench_streams "
        "(idle stream memory, 100k-key Watch, late-subscriber snapshot), bench_workers (delegated effects, a"
        " bare hand-off, redelivery after kill -9) and bench_mcp (MCP tool calls through a worker vs a direct"
        " MCP client); '' for none",
    )
    args = parser.parse_args()
    try:
        stores_from(args.store)
        if args.only:
            parse_list(args.only, PARTS + tuple(ALIASES), "part")
        if args.scripts:
            parse_list(args.scripts, SCRIPTS, "script")
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    document, crashed = asyncio.run(main_async(args))
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()
    print(
        "\n".join(["", f"targets met: {document['summary']['targets_met']}", *document["summary"]["table"]]),
        file=sys.stderr,
    )
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
