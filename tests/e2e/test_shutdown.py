"""SIGTERM: health goes NOT_SERVING, new calls are refused with UNAVAILABLE, accepted calls finish, the
process exits with code 0; no call is ever answered CANCELLED and nothing acknowledged is lost.

server.py (`RunningServer.drain`: new calls refused at once with UNAVAILABLE server_shutting_down, open
streams ended the same way, accepted calls given `shutdown_grace_s` (10 s by default) to finish) and the
CLI's `serve` (the process exits without gRPC core's shutdown, which answers calls it holds CANCELLED).
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

import asyncpg
import grpc
import pytest
from effectd import Accepted, CustomWait, EffectdError, Ok, ToolCompletionWait, TurnScope
from effectd._client import Client, KeyPending
from effectd._convert_scope import resolution_to_proto, resolve_outcome_from_proto, scope_to_proto, wait_to_proto
from effectd.v1 import await_events_pb2 as pb
from effectd.v1 import await_events_pb2_grpc as pb_grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.pg import POSTGRES_DSN, fresh_schema, require_postgres

from .conftest import ServerProcess, SpawnServer, free_port, probed_client

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


# -- SIGTERM under load: no call is ever CANCELLED, nothing acknowledged is lost -------------------

ROUNDS = 20
SDK_CLIENTS = 4
SDK_WORKERS_PER_CLIENT = 3
RAW_WORKERS = 4
LOAD_BEFORE_SIGTERM_S = 0.25
SHUTTING_DOWN = "server_shutting_down"


@dataclass
class Tally:
    """What the load saw: answers by status, the keys whose resolve answered `accepted`."""

    accepted: dict[str, tuple[str, int]] = field(default_factory=dict)  # token -> (round tag, i)
    answered: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    """Failed calls by status name (SDK errors by their status), and by ErrorInfo reason where one came."""
    reasons: Counter[str] = field(default_factory=Counter)
    cancelled: list[str] = field(default_factory=list)

    def failed(self, status: grpc.StatusCode, reason: str, where: str) -> None:
        self.statuses[status.name] += 1
        self.reasons[reason] += 1
        if status == grpc.StatusCode.CANCELLED:
            self.cancelled.append(where)


def _raw_reason(exc: grpc.aio.AioRpcError) -> str:
    for name, value in exc.trailing_metadata() or ():
        if name == "grpc-status-details-bin" and isinstance(value, bytes):
            for detail in status_pb2.Status.FromString(value).details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info):
                    return info.reason
    return "(none)"


async def _sdk_worker(client: Client, tag: str, worker: int, tally: Tally, stop: asyncio.Event) -> None:
    scope = TurnScope(f"drain-{tag}", f"w{worker}")
    i = 0
    while not stop.is_set():
        i += 1
        try:
            key = await client.mint_key(scope, ToolCompletionWait(f"c{i}"), timeout=20)
            outcome = await client.resolve(key, Ok({"tag": tag, "i": i}), timeout=20)
        except EffectdError as exc:
            tally.failed(exc.status if exc.code != "cancelled" else grpc.StatusCode.CANCELLED, exc.code, f"sdk {exc}")
            await asyncio.sleep(0.02)  # a client backs off before its next call
            continue
        tally.answered += 1
        if isinstance(outcome, Accepted):
            tally.accepted[key.token] = (tag, i)


async def _raw_worker(target: str, tag: str, worker: int, tally: Tally, stop: asyncio.Event) -> None:
    """A caller with a bare stub: no service config, so no retries by the channel."""
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.AwaitEventsStub(channel)
        scope = scope_to_proto(TurnScope(f"drain-raw-{tag}", f"w{worker}"))
        i = 0
        while not stop.is_set():
            i += 1
            try:
                minted = await stub.MintKey(
                    pb.MintKeyRequest(scope=scope, wait=wait_to_proto(ToolCompletionWait(f"c{i}"))), timeout=20
                )
                response = await stub.Resolve(
                    pb.ResolveRequest(token=minted.token, resolution=resolution_to_proto(Ok({"tag": tag, "i": i}))),
                    timeout=20,
                )
            except grpc.aio.AioRpcError as exc:
                tally.failed(exc.code(), _raw_reason(exc), f"raw {exc.code().name} {exc.details()}")
                await asyncio.sleep(0.02)
                continue
            tally.answered += 1
            if isinstance(resolve_outcome_from_proto(response.outcome), Accepted):
                tally.accepted[minted.token] = (tag, i)


async def _one_sigterm_under_load(server: ServerProcess, tag: str, tally: Tally) -> float:
    """Start the server, load it, SIGTERM it, keep the load on until it has exited; seconds to exit."""
    await server.start()
    clients = [await server.connect() for _ in range(SDK_CLIENTS)]
    stop = asyncio.Event()
    try:
        async with asyncio.TaskGroup() as group:
            for c, client in enumerate(clients):
                for w in range(SDK_WORKERS_PER_CLIENT):
                    group.create_task(_sdk_worker(client, tag, c * SDK_WORKERS_PER_CLIENT + w, tally, stop))
            for w in range(RAW_WORKERS):
                group.create_task(_raw_worker(server.target, tag, w, tally, stop))
            await asyncio.sleep(LOAD_BEFORE_SIGTERM_S)
            started = time.monotonic()
            server.signal(signal.SIGTERM)
            rc = await server.wait_exit(GRACE_S + 10)
            elapsed = time.monotonic() - started
            await asyncio.sleep(0.1)  # calls sent after the exit fail too (UNAVAILABLE)
            stop.set()
        assert rc == 0
        return elapsed
    finally:
        stop.set()
        for client in clients:
            await client.close()


async def test_sigterm_under_load_never_answers_cancelled_and_loses_nothing(spawn_server: SpawnServer) -> None:
    server = await spawn_server()
    server.signal(signal.SIGTERM)
    assert await server.wait_exit(GRACE_S) == 0
    tally = Tally()
    exits = [await _one_sigterm_under_load(server, f"r{n}", tally) for n in range(ROUNDS)]
    print(f"answered {tally.answered}, accepted {len(tally.accepted)}, failed {dict(tally.statuses)}")
    print(f"reasons {dict(tally.reasons)}; exits max {max(exits):.2f} s")

    assert tally.cancelled == [], f"{len(tally.cancelled)} CANCELLED: {tally.cancelled[:5]}"
    # Every refused call is one a client may retry.
    assert set(tally.statuses) <= {"UNAVAILABLE"}, tally.statuses
    assert tally.reasons[SHUTTING_DOWN] > 0, tally.reasons  # the drain refused calls itself
    assert len(tally.accepted) > ROUNDS * 10

    # Nothing acknowledged is lost: after a restart on the same database each accepted key holds its value.
    await server.start()
    async with await server.connect() as client:
        tokens = list(tally.accepted)
        states = await asyncio.gather(*(client.peek(token) for token in tokens))
    lost = [
        (tally.accepted[token], state)
        for token, state in zip(tokens, states, strict=True)
        if state != Ok({"tag": tally.accepted[token][0], "i": tally.accepted[token][1]})
    ]
    assert lost == [], f"{len(lost)} acknowledged resolutions lost: {lost[:5]}"


async def test_sigterm_lets_an_accepted_call_finish_and_refuses_new_ones_with_unavailable(
    spawn_server: SpawnServer,
) -> None:
    """A Resolve held by a table lock in PostgreSQL when SIGTERM comes still answers `accepted` once the
    lock goes; a call that arrives meanwhile is refused at once with UNAVAILABLE server_shutting_down."""
    await require_postgres()
    async with fresh_schema() as url:
        port = free_port()
        args = ["serve", "--listen", f"127.0.0.1:{port}", "--store", url]
        server = await spawn_server(args=args, port=port)
        schema = dict(parse_qsl(urlsplit(url).query))["schema"]
        async with await server.connect() as client:
            key = await client.mint_key(TurnScope("s-drain", "t1"), CustomWait("held"))
            other = await client.mint_key(TurnScope("s-drain", "t1"), CustomWait("refused"))
            lock = await asyncpg.connect(POSTGRES_DSN)
            try:
                async with lock.transaction():
                    await lock.execute(f'LOCK TABLE "{schema}".await_keys IN ACCESS EXCLUSIVE MODE')
                    resolving = asyncio.ensure_future(client.resolve(key, Ok("held"), timeout=30))
                    await asyncio.sleep(0.3)
                    assert not resolving.done()
                    server.signal(signal.SIGTERM)
                    await asyncio.sleep(0.3)
                    async with grpc.aio.insecure_channel(server.target) as channel:  # no retries: see the refusal
                        stub = pb_grpc.AwaitEventsStub(channel)
                        with pytest.raises(grpc.aio.AioRpcError) as refused:
                            request = pb.ResolveRequest(token=other.token, resolution=resolution_to_proto(Ok("late")))
                            await stub.Resolve(request, timeout=5)
                    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
                    assert _raw_reason(refused.value) == SHUTTING_DOWN
                    assert not resolving.done()
                    assert server.running()
            finally:
                await lock.close()
            assert await asyncio.wait_for(resolving, 10) == Accepted()
        assert await server.wait_exit(GRACE_S) == 0
        await server.start()
        async with await server.connect() as client:
            assert await client.peek(key) == Ok("held")
            assert isinstance(await client.peek(other), KeyPending)
