"""A tiny agent runtime for test_runtime_crash.py: it walks N_EFFECTS durable steps through effectd.

    python runtime_worker.py TARGET COUNT_FILE OUTCOMES_FILE

Every run starts again at effect 0, as a runtime restarted after a crash does: effects already journaled
are replays (their local executor does not run), the others run here under a lease. The local executor of
effect i prints `running i`, sleeps a little (so that a SIGKILL can land inside it), then makes its one
external side effect: it appends `i` to COUNT_FILE and fsyncs. Every outcome the runtime receives,
replayed or fresh, is appended to OUTCOMES_FILE as a JSON line and announced with `recorded i`. At the
end the runtime prints `done` and exits 0.

The test imports `SCOPE` and `envelope` from here, so that it replays exactly the envelopes this runtime
journaled.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

from effectd import (
    Client,
    DurableStepCommand,
    LocalExecutor,
    RemoteEffectController,
    RuntimeEffectEnvelope,
    RuntimeEffectKind,
    RuntimeInvocation,
    RuntimeScope,
    TurnScope,
    into_durable_step,
)

N_EFFECTS = 200
LEASE_TTL_S = 1.0
EXECUTOR_SLEEP_S = 0.02
SCOPE = TurnScope("crash-session", "turn-1")
RUNTIME = RuntimeScope("crash-session", "turn-1", 0, 0)


def replay_key(i: int) -> str:
    return f"crash:{i}"


def envelope(i: int) -> RuntimeEffectEnvelope:
    """The durable_step envelope of effect i."""
    return RuntimeEffectEnvelope(
        RuntimeInvocation.effect(RUNTIME, f"crash-step:{i}", RuntimeEffectKind.DURABLE_STEP, replay_key(i)),
        DurableStepCommand(f"step-{i}", {"i": i}),
    )


def append_line(path: str, line: str, *, fsync: bool) -> None:
    """One write(2) of a whole line in O_APPEND mode: visible to readers as soon as it returns."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)


async def run(target: str, count_file: str, outcomes_file: str) -> None:
    async with await Client.connect(target) as client:
        controller = RemoteEffectController(client, lease_ttl=LEASE_TTL_S)
        scoped = controller.scoped(SCOPE)
        for i in range(N_EFFECTS):
            ran_here = False

            async def execute(value: Any, i: int = i) -> Any:
                nonlocal ran_here
                assert value == {"i": i}, value
                ran_here = True
                print(f"running {i}", flush=True)
                await asyncio.sleep(EXECUTOR_SLEEP_S)
                append_line(count_file, f"{i}\n", fsync=True)  # the external side effect
                return {"i": i, "doubled": 2 * i}

            outcome = await scoped.execute_effect(envelope(i), LocalExecutor.durable_step(execute))
            record = {"key": replay_key(i), "i": i, "value": into_durable_step(outcome), "ran_here": ran_here}
            append_line(outcomes_file, json.dumps(record) + "\n", fsync=False)
            print(f"recorded {i}", flush=True)
    print("done", flush=True)


def main() -> None:
    target, count_file, outcomes_file = sys.argv[1:]
    asyncio.run(run(target, count_file, outcomes_file))


if __name__ == "__main__":
    main()
