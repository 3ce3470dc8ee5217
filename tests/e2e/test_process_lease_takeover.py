"""A process runner holding a process's lease is killed with -9 (issue 9 §5): another owner claims the
process once the dead runner's lease has expired, with a higher fencing token, and completes it; what the
stale owner then sends with its old lease changes nothing.

The runner is tests/e2e/process_runner.py, a subprocess against an `effectd serve` subprocess. The stale
owner's calls are made by the test with the lease the runner printed, as a runner that was only paused
(or partitioned away) would make them when it comes back.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest
from effectd._errors import ConflictError, LeaseLostError
from effectd._process import (
    ExternalProcessInput,
    HostOriginator,
    ProcessAwaitFailure,
    ProcessAwaitSuccess,
    ProcessCompleted,
    ProcessEventType,
    ProcessLease,
    ProcessLeaseCompletion,
    ProcessProvenance,
    ProcessRegistration,
    ToolFailureClass,
)
from effectd._processes import RemoteProcessRegistry

from .conftest import SpawnServer, clean_env
from .process_runner import PROGRESS_EVENT

RUNNER = str(Path(__file__).with_name("process_runner.py"))
LEASE_TTL_MS = 1_500
LINE_TIMEOUT_S = 15.0


async def read_line(proc: asyncio.subprocess.Process) -> str:
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), LINE_TIMEOUT_S)
    assert line, f"the runner exited with {await proc.wait()}"
    return line.decode().strip()


async def test_a_killed_runners_process_is_taken_over_with_a_higher_fencing_token(
    spawn_server: SpawnServer, tmp_path: Path
) -> None:
    server = await spawn_server()
    async with await server.connect() as client:
        registry = RemoteProcessRegistry(client)
        await registry.register_process(
            ProcessRegistration(
                id="job-1",
                input=ExternalProcessInput(),
                event_types=(ProcessEventType(name=PROGRESS_EVENT),),
                provenance=ProcessProvenance(HostOriginator(), "e2e-host"),
            )
        )
        runner = await asyncio.create_subprocess_exec(
            sys.executable,
            RUNNER,
            server.target,
            "job-1",
            "runner-a",
            str(LEASE_TTL_MS),
            stdout=asyncio.subprocess.PIPE,
            stderr=(tmp_path / "runner.log").open("wb"),
            env=clean_env(),
        )
        try:
            stale = ProcessLease(**json.loads(await read_line(runner)))
            assert stale.owner_id == "runner-a" and stale.fencing_token >= 1
            # The runner is working: it appended and renewed at least twice.
            for _ in range(3):
                assert (await read_line(runner)).startswith("appended ")
            os.kill(runner.pid, signal.SIGKILL)
            assert await runner.wait() == -signal.SIGKILL
        finally:
            if runner.returncode is None:
                runner.kill()
                await runner.wait()
        killed_at = time.time()
        appended_by_a = await registry.recent_events("job-1", 100)
        assert appended_by_a and all(e.payload["owner"] == "runner-a" for e in appended_by_a)

        # The dead runner's lease is still live: another owner is refused, naming the holder.
        with pytest.raises(ConflictError) as refused:
            await registry.claim_process_lease("job-1", "runner-b", LEASE_TTL_MS)
        assert refused.value.code == "process_lease_conflict"
        assert "runner-a" in str(refused.value)

        taken = await claim_when_expired(registry, "job-1", "runner-b")
        # The renewed lease of the runner ran at most one TTL past its last renewal, before the kill.
        assert taken.claimed_at_epoch_ms <= (killed_at + LEASE_TTL_MS / 1000 + 2) * 1000
        assert taken.owner_id == "runner-b"
        assert taken.fencing_token > stale.fencing_token
        assert taken.lease_token != stale.lease_token

        # The stale owner cannot renew the lease it lost, and its release is a silent no-op (lash's rule):
        # the new owner still holds the lease.
        with pytest.raises(LeaseLostError):
            await registry.renew_process_lease(stale, LEASE_TTL_MS)
        await registry.complete_process_lease(ProcessLeaseCompletion.from_lease(stale))
        with pytest.raises(ConflictError) as held:
            await registry.claim_process_lease("job-1", "runner-c", LEASE_TTL_MS)
        assert "runner-b" in str(held.value)
        taken = await registry.renew_process_lease(taken, LEASE_TTL_MS)

        # The new owner completes the process and releases its lease.
        output = ProcessAwaitSuccess({"done_by": "runner-b"})
        done = await registry.complete_process("job-1", output)
        assert done.status == ProcessCompleted(output)
        await registry.complete_process_lease(ProcessLeaseCompletion.from_lease(taken))

        # The stale owner comes back with its own ending: nothing changes.
        with pytest.raises(ConflictError):
            await registry.complete_process(
                "job-1", ProcessAwaitFailure(ToolFailureClass.EXECUTION, "stale", "runner-a thinks it failed")
            )
        assert await registry.await_process("job-1") == output
        record = await registry.get_process("job-1")
        assert record is not None and record.status == ProcessCompleted(output)

        # A later claim still fences above both owners.
        again = await registry.claim_process_lease("job-1", "runner-c", LEASE_TTL_MS)
        assert again.fencing_token > taken.fencing_token

    # And all of it is durable: a server killed with -9 and restarted answers the same.
    server.kill9()
    await server.start()
    async with await server.connect() as client:
        registry = RemoteProcessRegistry(client)
        assert await registry.await_process("job-1") == output


async def claim_when_expired(registry: RemoteProcessRegistry, process_id: str, owner_id: str) -> ProcessLease:
    """Claim as soon as the current holder's lease has expired (a conflict until then)."""
    deadline = time.monotonic() + 10 * LEASE_TTL_MS / 1000
    while True:
        try:
            return await registry.claim_process_lease(process_id, owner_id, LEASE_TTL_MS)
        except ConflictError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)
