"""The effect journal across a crash: a runtime records a step, crashes, starts again and gets the
recorded outcome back instead of running the step a second time.

    make run                                     # in one terminal
    .venv/bin/python examples/journal_replay.py  # in another (EFFECTD_TARGET picks another server)

The example starts the runtime twice as a child process: the first run charges the card and is killed
before it sends the receipt; the second run replays the charge (the card is not charged again) and goes on.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

from effectd import Client, DurableSteps, RemoteEffectController, RuntimeScope, TurnScope

TARGET = os.environ.get("EFFECTD_TARGET", "127.0.0.1:50551")
CRASHED = 17


async def runtime(session: str, ledger: Path, crash: bool) -> None:
    """One turn of an agent: two steps of tool call c1, each journaled by (scope, replay key)."""
    async with await Client.connect(TARGET) as client:
        scoped = RemoteEffectController(client).scoped(TurnScope(session, "turn-1"))
        steps = DurableSteps(scoped, RuntimeScope(session, "turn-1", 0, 0), tool_call_id="c1")

        def charge(order: object) -> object:
            with ledger.open("a") as out:  # the side effect that must happen once
                out.write(f"charged {order}\n")
            return {"charge_id": "ch_1", "order": order}

        charged = await steps.run_json("charge-card", {"order": 7, "amount": 12}, charge)
        print(f"  [runtime] charge-card -> {charged}")
        if crash:
            print("  [runtime] crashing before the receipt is sent")
            sys.stdout.flush()
            os._exit(CRASHED)  # no cleanup, as in a real crash
        receipt = await steps.run_json("send-receipt", charged, lambda value: {"sent": True, "for": value})
        print(f"  [runtime] send-receipt -> {receipt}")


def main() -> None:
    session = f"example-journal-{secrets.token_hex(4)}"
    with tempfile.TemporaryDirectory() as folder:
        ledger = Path(folder) / "ledger.txt"
        for attempt, crash in ((1, True), (2, False)):
            print(f"run {attempt} of the runtime{' (it will crash)' if crash else ''}:")
            args = [sys.executable, __file__, "--runtime", session, str(ledger)] + (["--crash"] if crash else [])
            code = subprocess.run(args, check=False).returncode
            assert code == (CRASHED if crash else 0), f"run {attempt} exited with {code}"
        charges = ledger.read_text().splitlines()
        assert len(charges) == 1, charges
        print(f"the card was charged once: {charges}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--runtime":
        asyncio.run(runtime(sys.argv[2], Path(sys.argv[3]), crash="--crash" in sys.argv))
    else:
        main()
