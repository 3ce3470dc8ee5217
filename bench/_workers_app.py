"""The handlers bench_workers.py runs on its workers (`effectd worker run _workers_app:setup`).

Durable step `echo` returns its input at once; durable step `hold` sleeps `input["sleep"]` seconds
first (the effect a worker is killed in the middle of).
"""

from __future__ import annotations

import asyncio
from typing import Any

from effectd import Worker, WorkerContext


def setup(worker: Worker) -> None:
    @worker.durable_step("echo")
    async def echo(value: Any, ctx: WorkerContext) -> Any:
        return value

    @worker.durable_step("hold")
    async def hold(value: Any, ctx: WorkerContext) -> Any:
        await asyncio.sleep(float(value.get("sleep", 0)))
        return {"worker": ctx.attempt}
