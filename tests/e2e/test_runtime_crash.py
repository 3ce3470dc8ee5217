"""A runtime SIGKILLed three times while it walks 200 effects: every local executor ran once per replay key.

DESIGN.md "Effect journal": the first recorded outcome of a (scope, replay key) is its outcome forever; a
runtime that crashed and starts again gets the recorded outcomes back instead of running the effect again;
an effect in progress under a dead runtime's lease is taken over once that lease expires.

The runtime is tests/e2e/runtime_worker.py, run as a subprocess against an `effectd serve` subprocess. Its
local executor's one external side effect is a line appended (and fsynced) to a count file, so the count
file says how many times each executor really ran, whatever happened to the processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from effectd import DurableStepOutcome, EffectStatus, LocalExecutor, RemoteEffectController

from .conftest import SpawnServer, clean_env
from .runtime_worker import N_EFFECTS, SCOPE, envelope, replay_key

WORKER = str(Path(__file__).with_name("runtime_worker.py"))
LINE_TIMEOUT_S = 15.0
"""The longest wait for the runtime's next line: a start, a lease takeover (<= 1 s) or one effect."""
EXIT_TIMEOUT_S = 15.0

# Where the three SIGKILLs land. The first two land inside a local executor: right after it printed
# `running N`, while it sleeps, before it appended N to the count file. The third lands between effects:
# after effect N's outcome was journaled (the runtime printed `recorded N`, so its Complete was
# acknowledged, and both files hold N), before effect N+1's side effect.
#
# These points are chosen on purpose. A kill landing in the tiny window between an executor's side effect
# and the journal's commit of its outcome would legitimately run that effect twice: no system can make an
# external side effect and a journal write one atomic step. The test asserts after each kill that it
# landed where it was aimed, so a missed aim fails as such and never passes for a double run.
MID_EXECUTOR_KILLS = (40, 100)
BETWEEN_EFFECTS_KILL = 150


def expected_value(i: int) -> dict[str, int]:
    return {"i": i, "doubled": 2 * i}


def never_called(_: Any) -> Any:
    raise AssertionError("the local executor ran on a replay")


@dataclass
class Runtime:
    """One start of runtime_worker.py; its stdout is read line by line, stderr goes to a log file."""

    target: str
    count_file: Path
    outcomes_file: Path
    log_path: Path
    proc: asyncio.subprocess.Process | None = None
    lines: list[str] = field(default_factory=list)

    async def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                WORKER,
                self.target,
                str(self.count_file),
                str(self.outcomes_file),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                env=clean_env(),
            )

    async def next_line(self) -> str | None:
        """The next stdout line, None at end of output."""
        assert self.proc is not None and self.proc.stdout is not None
        try:
            raw = await asyncio.wait_for(self.proc.stdout.readline(), LINE_TIMEOUT_S)
        except TimeoutError:
            raise AssertionError(f"the runtime printed nothing for {LINE_TIMEOUT_S} s\n{self.describe()}") from None
        if not raw:
            return None
        line = raw.decode().rstrip("\n")
        self.lines.append(line)
        return line

    async def read_until(self, wanted: str) -> None:
        while (line := await self.next_line()) != wanted:
            if line is None:
                raise AssertionError(f"the runtime ended before printing {wanted!r}\n{self.describe()}")

    async def drain(self) -> None:
        """Read what a killed runtime printed before it died."""
        while await self.next_line() is not None:
            pass

    def kill9(self) -> None:
        assert self.proc is not None and self.proc.returncode is None, "the runtime is not running"
        os.kill(self.proc.pid, signal.SIGKILL)

    async def wait(self) -> int:
        assert self.proc is not None
        return await asyncio.wait_for(self.proc.wait(), EXIT_TIMEOUT_S)

    async def stop(self) -> None:
        """Teardown: SIGKILL the runtime if it still runs, and reap it."""
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.proc.wait(), EXIT_TIMEOUT_S)

    def ran(self) -> list[int]:
        """The effects whose local executor this start began (`running i`)."""
        return [int(line.split()[1]) for line in self.lines if line.startswith("running ")]

    def describe(self) -> str:
        stderr = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return f"stdout tail: {self.lines[-5:]}\nstderr:\n{stderr}"


def counted(count_file: Path) -> list[int]:
    """The count file's lines (every line is complete: each is one O_APPEND write)."""
    if not count_file.exists():
        return []
    text = count_file.read_text()
    assert text == "" or text.endswith("\n"), f"a torn line in the count file: {text[-20:]!r}"
    return [int(line) for line in text.splitlines()]


def outcome_lines(outcomes_file: Path) -> list[dict[str, Any]]:
    if not outcomes_file.exists():
        return []
    return [json.loads(line) for line in outcomes_file.read_text().splitlines()]


async def test_a_runtime_sigkilled_three_times_runs_every_executor_exactly_once(
    spawn_server: SpawnServer, tmp_path: Path
) -> None:
    started = time.monotonic()
    server = await spawn_server()
    count_file = tmp_path / "count"
    outcomes_file = tmp_path / "outcomes"
    runtimes: list[Runtime] = []
    outcome_offsets: list[int] = []  # how many outcome lines existed when each start began

    async def start_runtime() -> Runtime:
        runtime = Runtime(server.target, count_file, outcomes_file, tmp_path / f"runtime-{len(runtimes)}.log")
        runtimes.append(runtime)
        outcome_offsets.append(len(outcome_lines(outcomes_file)))
        await runtime.start()
        return runtime

    try:
        # Starts 1 and 2: SIGKILL inside the executor of effect N, before its side effect.
        for n in MID_EXECUTOR_KILLS:
            runtime = await start_runtime()
            await runtime.read_until(f"running {n}")
            runtime.kill9()
            assert await runtime.wait() == -signal.SIGKILL
            await runtime.drain()
            assert n not in counted(count_file), f"the kill meant to land inside executor {n} came too late"
            assert max(counted(count_file)) == n - 1

        # Start 3: SIGKILL between effects, once effect N's outcome is journaled and both files show it.
        n = BETWEEN_EFFECTS_KILL
        runtime = await start_runtime()
        await runtime.read_until(f"running {n}")
        await runtime.read_until(f"recorded {n}")
        assert counted(count_file)[-1] == n
        assert outcome_lines(outcomes_file)[-1]["i"] == n
        runtime.kill9()
        assert await runtime.wait() == -signal.SIGKILL
        await runtime.drain()
        assert max(counted(count_file)) == n, f"the kill meant to land between effects {n} and {n + 1} came too late"

        # Start 4: runs to the end.
        runtime = await start_runtime()
        await runtime.read_until("done")
        assert await runtime.next_line() is None
        assert await runtime.wait() == 0, runtime.describe()
    finally:
        for runtime in runtimes:
            await runtime.stop()

    # Every local executor made its side effect exactly once per replay key.
    counts = Counter(counted(count_file))
    assert sorted(counts) == list(range(N_EFFECTS))
    assert {i: c for i, c in counts.items() if c != 1} == {}

    # Every outcome a runtime received, replayed or fresh, is the one the executor returned.
    outcomes = outcome_lines(outcomes_file)
    for line in outcomes:
        assert line["key"] == replay_key(line["i"])
        assert line["value"] == expected_value(line["i"]), line

    # Each start walked the effects in order from 0: those journaled before it began were replays (their
    # executor did not run), every later one ran here; a killed start also began at most the executor it
    # was killed in, and the next start began with that one.
    outcome_offsets.append(len(outcomes))
    journaled_before = 0  # every effect below this index was journaled before the start began
    interrupted: list[list[int]] = []
    for index, runtime in enumerate(runtimes):
        seen = outcomes[outcome_offsets[index] : outcome_offsets[index + 1]]
        assert [line["i"] for line in seen] == list(range(len(seen))), f"start {index}"
        assert not any(line["ran_here"] for line in seen[:journaled_before]), f"start {index} ran a replay"
        assert all(line["ran_here"] for line in seen[journaled_before:]), f"start {index}"
        fresh = [line["i"] for line in seen[journaled_before:]]
        assert runtime.ran()[: len(fresh)] == fresh, f"start {index}"
        interrupted.append(runtime.ran()[len(fresh) :])
        assert interrupted[-1] in ([], [len(seen)]), f"start {index}: {runtime.ran()[-3:]}"
        journaled_before = len(seen)
    assert len(outcomes) - outcome_offsets[-2] == N_EFFECTS  # the last start received all 200 outcomes
    assert interrupted[:2] == [[n] for n in MID_EXECUTOR_KILLS]
    assert interrupted[2] in ([], [BETWEEN_EFFECTS_KILL + 1])  # killed before or inside the next executor
    assert interrupted[3] == []

    # The journal holds exactly 200 completed rows, and replays them without running anything.
    async with await server.connect() as client:
        controller = RemoteEffectController(client, lease_ttl=1.0)
        records = await controller.list_effects(SCOPE)
        assert sorted(r.replay_key for r in records) == sorted(replay_key(i) for i in range(N_EFFECTS))
        assert all(r.status == EffectStatus.COMPLETED for r in records)
        assert all(r.executor_error is None for r in records)
        scoped = controller.scoped(SCOPE)
        for i in range(N_EFFECTS):
            outcome = await scoped.execute_effect(envelope(i), LocalExecutor.durable_step(never_called))
            assert outcome == DurableStepOutcome(expected_value(i)), i
    assert Counter(counted(count_file)) == counts  # the replays ran nothing
    assert time.monotonic() - started < 60
