"""A process runner for the lease-takeover test: it claims a process's lease, prints the lease as one JSON
line, then appends a progress event and renews the lease, over and over, printing `appended SEQ` after
each append, until it is killed.

    python process_runner.py TARGET PROCESS_ID OWNER_ID LEASE_TTL_MS
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys

from effectd import Client
from effectd._process import ProcessEventAppendRequest
from effectd._processes import RemoteProcessRegistry

PROGRESS_EVENT = "runner.progress"


async def run(target: str, process_id: str, owner_id: str, lease_ttl_ms: int) -> None:
    async with await Client.connect(target) as client:
        registry = RemoteProcessRegistry(client)
        lease = await registry.claim_process_lease(process_id, owner_id, lease_ttl_ms)
        print(json.dumps(dataclasses.asdict(lease)), flush=True)
        step = 0
        while True:
            result = await registry.append_event(
                process_id,
                ProcessEventAppendRequest(event_type=PROGRESS_EVENT, payload={"owner": owner_id, "step": step}),
            )
            print(f"appended {result.event.sequence}", flush=True)
            step += 1
            lease = await registry.renew_process_lease(lease, lease_ttl_ms)
            await asyncio.sleep(lease_ttl_ms / 4000)


if __name__ == "__main__":
    asyncio.run(run(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
