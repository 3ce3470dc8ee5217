"""A bare, non-durable hand-off over gRPC, the shape of a Celery round trip: a runtime's unary call is
pushed by a relay onto a worker's bidirectional stream and the worker's answer is relayed back. Nothing
is stored, leased or fenced. bench_workers.py measures it beside effectd's delegated effects.

    python bench/_handoff.py relay --port P          # the relay (a server)
    python bench/_handoff.py worker --target HOST:P  # one worker: answers every message with itself
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
from collections.abc import AsyncIterator
from typing import Any

import grpc
from _common import serve_raw_until_signalled
from effectd._channel import insecure_channel

SERVICE = "bench.Handoff"
CALL = f"/{SERVICE}/Call"
WORK = f"/{SERVICE}/Work"


async def relay(port: int) -> None:
    ids = itertools.count(1)
    pending: dict[bytes, asyncio.Future[bytes]] = {}
    workers: list[asyncio.Queue[bytes]] = []
    turn = itertools.count()

    async def call(request: bytes, context: Any) -> bytes:
        if not workers:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "no worker")
        tag = next(ids).to_bytes(8, "big")
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        pending[tag] = future
        workers[next(turn) % len(workers)].put_nowait(tag + request)
        try:
            return await future
        finally:
            pending.pop(tag, None)

    async def work(requests: AsyncIterator[bytes], context: Any) -> AsyncIterator[bytes]:
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        workers.append(queue)

        async def read() -> None:
            async for answer in requests:
                future = pending.get(answer[:8])
                if future is not None and not future.done():
                    future.set_result(answer[8:])

        reader = asyncio.create_task(read())
        try:
            while True:
                yield await queue.get()
        finally:
            workers.remove(queue)
            reader.cancel()

    handlers = {
        "Call": grpc.unary_unary_rpc_method_handler(call),
        "Work": grpc.stream_stream_rpc_method_handler(work),
    }
    await serve_raw_until_signalled(SERVICE, handlers, port, grace_s=0.5)


async def worker(target: str) -> None:
    channel = insecure_channel(target)
    call = channel.stream_stream(WORK)()
    while True:
        message = await call.read()
        if message is grpc.aio.EOF:
            return
        await call.write(message)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("relay").add_argument("--port", type=int, required=True)
    commands.add_parser("worker").add_argument("--target", required=True)
    args = parser.parse_args()
    if args.command == "relay":
        asyncio.run(relay(args.port))
    else:
        asyncio.run(worker(args.target))
    return 0


if __name__ == "__main__":
    sys.exit(main())
