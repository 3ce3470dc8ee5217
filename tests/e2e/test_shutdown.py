"""SIGTERM: health goes NOT_SERVING, the process exits with code 0, open waiters are not answered.

DESIGN.md "Interfaces users touch" (gRPC health checking is on) and server.py (`shutdown`: health goes
NOT_SERVING, in-flight calls get `shutdown_grace_s` (10 s by default) to finish, then everything stops).
"""

from __future__ import annotations

import asyncio
import signal
import time

import grpc
import pytest
from effectd import CustomWait, TurnScope
from grpc_health.v1 import health_pb2, health_pb2_grpc

from .conftest import ServerProcess, SpawnServer, probed_client

GRACE_S = 10.0  # ServerConfig.shutdown_grace_s; `effectd serve` has no flag for it
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def _health(server: ServerProcess, service: str) -> int:
    async with grpc.aio.insecure_channel(server.target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        response = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
        return int(response.status)


async def test_health_reports_serving(server: ServerProcess) -> None:
    assert await _health(server, "") == SERVING
    assert await _health(server, "effectd.v1.AwaitEvents") == SERVING
    assert await _health(server, "effectd.v1.Keyring") == SERVING
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await _health(server, "no.such.Service")
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND


async def test_sigterm_without_open_streams_exits_0_promptly(server: ServerProcess) -> None:
    assert await _health(server, "") == SERVING
    server.signal(signal.SIGTERM)
    assert await server.wait_exit(GRACE_S) == 0
    assert "shutting down" in server.log()


async def _sigterm_with_an_open_await_stream(spawn_server: SpawnServer) -> tuple[int, float, bool]:
    """(exit code, seconds from SIGTERM to exit, whether the waiter is still waiting afterwards)."""
    server = await spawn_server()
    assert await _health(server, "") == SERVING

    async with await server.connect() as client:
        key = await client.mint_key(TurnScope("s-sigterm", "t1"), CustomWait("never-resolved"))

    async with (
        probed_client(server.target) as (waiter, probe),
        grpc.aio.insecure_channel(server.target) as health_channel,
    ):
        task = asyncio.create_task(waiter.await_event(key, heartbeat_interval=0.05))
        statuses: list[int] = []
        watch = health_pb2_grpc.HealthStub(health_channel).Watch(health_pb2.HealthCheckRequest(service=""))
        try:
            statuses.append((await watch.read()).status)
            await probe.wait_until(lambda p: p.responses >= 1)  # the Await stream is open

            started = time.monotonic()
            server.signal(signal.SIGTERM)
            # Health watchers are told NOT_SERVING as soon as the shutdown begins.
            statuses.append((await asyncio.wait_for(watch.read(), 5)).status)
            rc = await server.wait_exit(GRACE_S + 20)
            elapsed = time.monotonic() - started
            assert statuses == [SERVING, NOT_SERVING]
            # The waiter got no terminal and no final error: it is reconnecting (to a server that is gone).
            waiting = not task.done()
            return rc, elapsed, waiting
        finally:
            watch.cancel()
            task.cancel()


async def test_sigterm_with_an_open_await_stream_exits_0(spawn_server: SpawnServer) -> None:
    rc, elapsed, waiting = await _sigterm_with_an_open_await_stream(spawn_server)
    assert rc == 0
    # The grace period plus a margin for closing the store on a busy machine.
    assert elapsed < GRACE_S + 5, elapsed
    assert waiting


async def test_sigterm_does_not_wait_the_grace_period_for_an_idle_await_stream(spawn_server: SpawnServer) -> None:
    rc, elapsed, waiting = await _sigterm_with_an_open_await_stream(spawn_server)
    assert rc == 0
    assert waiting
    assert elapsed < GRACE_S / 2, f"exit took {elapsed:.1f} s"
