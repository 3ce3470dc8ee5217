"""Workers connected to different replicas on PostgreSQL: an effect executed on one replica whose only
capable worker is connected to the other is offered there, run by that worker and recorded once; the
runtime on the first replica gets the outcome."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from effectd._controller import LocalExecutor, RemoteEffectController
from effectd._effects import into_durable_step
from effectd._rpc import Rpc
from effectd._worker import RemoteWorkers, Worker, WorkerContext
from effectd_server import RunningServer, ServerConfig, StoreConfig, serve
from effectd_server.config import WorkersConfig

from tests.integration.test_workers import SCOPE, running, step
from tests.pg import fresh_schema, require_postgres


@contextlib.asynccontextmanager
async def two_replicas() -> AsyncIterator[tuple[RunningServer, RunningServer]]:
    await require_postgres()
    async with fresh_schema() as url:
        config = ServerConfig(
            listen="127.0.0.1:0", store=StoreConfig(url=url), workers=WorkersConfig(heartbeat_interval_s=0.2)
        )
        async with serve(config) as first, serve(config) as second:
            yield first, second


async def test_an_effect_on_one_replica_runs_on_a_worker_of_the_other_and_is_recorded_once() -> None:
    async with two_replicas() as (replica_a, replica_b):
        async with await Rpc.connect(replica_a.target) as rpc_a, await Rpc.connect(replica_b.target) as rpc_b:
            runs: list[str] = []
            worker = Worker(rpc_b, worker_id="on-b", heartbeat_interval=0.2)

            @worker.durable_step("bill")
            async def bill(value: Any, ctx: WorkerContext) -> Any:
                runs.append(ctx.replay_key)
                return {"billed": value["key"]}

            controller_a = RemoteEffectController(rpc_a)
            async with running(worker):
                assert await RemoteWorkers(rpc_a).list_workers() == []  # this replica has no worker
                outcomes = await asyncio.gather(
                    *(
                        controller_a.execute_effect(SCOPE, step("bill", f"x{i}"), LocalExecutor.remote())
                        for i in range(5)
                    )
                )
                again = await controller_a.execute_effect(SCOPE, step("bill", "x0"), LocalExecutor.remote())
                records = await RemoteEffectController(rpc_b).list_effects(SCOPE)
    assert [into_durable_step(o) for o in outcomes] == [{"billed": f"x{i}"} for i in range(5)]
    assert again == outcomes[0]
    assert sorted(runs) == [f"x{i}" for i in range(5)]
    assert sorted(r.replay_key for r in records) == [f"x{i}" for i in range(5)]
    assert all(r.status.value == "completed" for r in records)


async def test_live_progress_crosses_replicas_in_order_before_the_outcome() -> None:
    async with two_replicas() as (replica_a, replica_b):
        async with await Rpc.connect(replica_a.target) as rpc_a, await Rpc.connect(replica_b.target) as rpc_b:
            worker = Worker(rpc_b, worker_id="on-b", heartbeat_interval=0.2)

            @worker.durable_step("bill")
            async def bill(value: Any, ctx: WorkerContext) -> Any:
                for line in ("one", "two", "three"):
                    await ctx.progress(line)
                return "billed"

            seen: list[Any] = []
            async with running(worker):
                outcome = await RemoteEffectController(rpc_a).execute_effect(
                    SCOPE, step("bill", "p1"), LocalExecutor.remote(on_progress=seen.append)
                )
    assert into_durable_step(outcome) == "billed"
    assert seen == ["one", "two", "three"]
