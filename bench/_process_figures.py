"""The process registry's figures (issue 9): append_event throughput @64 and append → `wait_event_after`
woken, through the SDK's `RemoteProcessRegistry`, on one deployment (one server, or two replicas)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Sequence
from typing import Any

from _common import latency_summary_ms, rnd
from _figures import PhaseMeter, timed_loop
from _stores import Deployment
from effectd import Client
from effectd._process import (
    ExternalProcessInput,
    HostOriginator,
    ProcessEventAppendRequest,
    ProcessEventType,
    ProcessProvenance,
    ProcessRegistration,
)
from effectd._processes import RemoteProcessRegistry
from effectd.v1 import process_pb2 as pb

EVENT_TYPE = "bench.tick"
_HEARTBEAT_MS = 1_000


def _registration(process_id: str) -> ProcessRegistration:
    return ProcessRegistration(
        id=process_id,
        input=ExternalProcessInput(),
        event_types=(ProcessEventType(name=EVENT_TYPE),),
        provenance=ProcessProvenance(HostOriginator(), "bench-host"),
    )


def _tick(n: int) -> ProcessEventAppendRequest:
    return ProcessEventAppendRequest(event_type=EVENT_TYPE, payload={"n": n, "text": "progress line"})


class ProcessBench:
    """Registries (one per replica) and a serial for fresh process ids."""

    def __init__(self, clients: Sequence[Client], label: str) -> None:
        self.registries = [RemoteProcessRegistry(c) for c in clients]
        self.label = label
        self._serial = itertools.count()

    async def _fresh_processes(self, count: int) -> list[str]:
        ids = [f"bench-{self.label}-{next(self._serial)}" for _ in range(count)]
        await asyncio.gather(*(self.registries[0].register_process(_registration(pid)) for pid in ids))
        return ids

    async def append_rep(self, deployment: Deployment, *, duration: float, in_flight: int) -> dict[str, Any]:
        """`in_flight` workers append back to back, each to a process of its own (one log each, as
        concurrent runners do), spread over the replicas. Each process's sequences must keep growing."""
        processes = await self._fresh_processes(in_flight)
        sequences = [0] * in_flight
        wrong = 0

        async def op(worker: int) -> bool:
            nonlocal wrong
            registry = self.registries[worker % len(self.registries)]
            result = await registry.append_event(processes[worker], _tick(sequences[worker]))
            wrong += result.event.sequence <= sequences[worker]
            sequences[worker] = result.event.sequence
            return True

        meter = PhaseMeter(deployment)
        done, seconds = await timed_loop(op, workers=in_flight, duration=duration)
        if wrong:
            raise RuntimeError(f"append_event: {wrong} answers out of sequence of {done}")
        return {"appends": done, "seconds": rnd(seconds), "per_s": rnd(done / seconds, 1), "cpu": meter.result(done)}

    async def wake_rep(self, deployment: Deployment, *, iterations: int, warmup: int) -> dict[str, Any]:
        """Append → `wait_event_after` woken, one at a time: the waiter's raw stream on the first replica,
        the appender on the last (the other replica with two). The wait is registered once its first
        heartbeat came and a read on the waiter's replica has answered after it."""
        waiter = self.registries[0]
        appender = self.registries[-1]
        (process_id,) = await self._fresh_processes(1)
        stub = waiter._stub
        woken_after: list[float] = []
        append_rpc: list[float] = []
        last_sequence = 0
        for i in range(warmup + iterations):
            call = stub.WaitEventAfter(
                pb.WaitEventAfterRequest(
                    process_id=process_id,
                    event_type=EVENT_TYPE,
                    after_sequence=last_sequence,
                    heartbeat_interval_ms=_HEARTBEAT_MS,
                )
            )
            first = await call.read()
            if first.WhichOneof("event") != "heartbeat":
                raise RuntimeError(f"expected a heartbeat first, got {first}")
            # The server registers the wait right after that heartbeat; one round trip on the same replica
            # lets it run (a late registration would still find the event in the log, only later).
            await waiter.get_process(process_id)
            found_at: list[float] = []

            async def read_found(call: Any = call, found_at: list[float] = found_at) -> int:
                while True:
                    response = await call.read()
                    if response.WhichOneof("event") == "found":
                        found_at.append(time.perf_counter())
                        return int(response.found.sequence)

            reader = asyncio.create_task(read_found())
            await asyncio.sleep(0)
            start = time.perf_counter()
            result = await appender.append_event(process_id, _tick(i))
            acked = time.perf_counter()
            sequence = await asyncio.wait_for(reader, 10.0)
            call.cancel()
            if sequence != result.event.sequence:
                raise RuntimeError(f"the waiter got sequence {sequence}, the append recorded {result.event.sequence}")
            last_sequence = sequence
            if i >= warmup:
                woken_after.append(found_at[0] - start)
                append_rpc.append(acked - start)
        return {"append_to_woken": latency_summary_ms(woken_after), "append_rpc": latency_summary_ms(append_rpc)}
