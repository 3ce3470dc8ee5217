"""Handlers for the workers e2e tests, run by `effectd worker run tests.e2e.workers_app:setup`.

Durable step `slow` appends `start WORKER KEY ATTEMPT` to the file named by EFFECTD_TEST_LOG, sleeps
`input["sleep"]` seconds, appends `end ...` and returns {"worker": WORKER, "key": KEY}.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from effectd import Worker, WorkerContext


def _log(line: str) -> None:
    with open(os.environ["EFFECTD_TEST_LOG"], "a", encoding="utf-8") as handle:
        handle.write(line + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def setup(worker: Worker) -> None:
    @worker.durable_step("slow")
    async def slow(value: Any, ctx: WorkerContext) -> Any:
        _log(f"start {worker.worker_id} {ctx.replay_key} {ctx.attempt}")
        await asyncio.sleep(float(value.get("sleep", 0)))
        _log(f"end {worker.worker_id} {ctx.replay_key} {ctx.attempt}")
        return {"worker": worker.worker_id, "key": ctx.replay_key}

    @worker.tool("echo")
    async def echo(args: Any, ctx: WorkerContext) -> Any:
        return args
