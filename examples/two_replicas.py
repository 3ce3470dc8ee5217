"""Two effectd replicas on one PostgreSQL database: a key minted and awaited on one replica is resolved
on the other, and the waiter wakes (LISTEN/NOTIFY). The client knows both replicas.

    .venv/bin/python examples/two_replicas.py 'postgresql://postgres@127.0.0.1:5432/test?schema=effectd_example'

It starts the two `effectd serve` processes itself (from this virtualenv) and stops them at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from effectd import Client, CustomWait, Ok, TurnScope, UnavailableError

EFFECTD = str(Path(sys.executable).with_name("effectd"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def replicas(store: str, count: int) -> Iterator[list[str]]:
    targets = [f"127.0.0.1:{free_port()}" for _ in range(count)]
    procs = [subprocess.Popen([EFFECTD, "serve", "--listen", t, "--store", store]) for t in targets]
    try:
        yield targets
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)


async def connect(target: str | list[str]) -> Client:
    for _ in range(300):  # until the replica has run its migrations and listens
        try:
            return await Client.connect(target, connect_timeout=0.2)
        except UnavailableError:
            await asyncio.sleep(0.1)
    raise SystemExit(f"effectd at {target} did not start")


async def main(store: str) -> None:
    session = f"example-replicas-{secrets.token_hex(4)}"
    with replicas(store, 2) as (a, b):
        async with await connect(a) as on_a, await connect(b) as on_b:
            key = await on_a.mint_key(TurnScope(session, "turn-1"), CustomWait("approval"))
            waiting = asyncio.create_task(on_a.await_event(key, timeout=60))
            print(f"minted and waiting on replica {a}")
            outcome = await on_b.resolve(key.token, Ok({"approved": True}))
            print(f"resolved on replica {b}: {outcome}")
            resolution = await waiting
            assert resolution == Ok({"approved": True})
            print(f"the waiter on {a} woke with {resolution}")
        # One client for both replicas: calls are spread over them, and move on from one that fails.
        async with await connect([a, b]) as both:
            assert await both.peek(key.token) == Ok({"approved": True})
            print("a client of both replicas reads the same terminal")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    asyncio.run(main(sys.argv[1]))
