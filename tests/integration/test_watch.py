"""Watch: many keys on one stream, keys added and removed while open, each terminal once, resumable."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import grpc
from effectd import Cancelled, CustomWait, Ok, TurnScope
from effectd._client import Client, WatchRejected, WatchTerminal
from effectd._convert_scope import key_to_proto
from effectd.v1 import await_events_pb2 as pb
from effectd.v1 import await_events_pb2_grpc as pb_grpc
from effectd_server import RunningServer


async def _keys(client: Client, prefix: str, count: int, session: str = "s") -> list[Any]:
    return list(
        await asyncio.gather(
            *(client.mint_key(TurnScope(session, "t"), CustomWait(f"{prefix}{i}")) for i in range(count))
        )
    )


async def test_each_terminal_once_including_already_resolved(client: Client) -> None:
    keys = await _keys(client, "k", 50)
    await client.resolve(keys[0], Ok("early"))
    seen: list[WatchTerminal | WatchRejected] = []
    watch = client.watch(keys)

    async def resolve_rest() -> None:
        await asyncio.sleep(0.05)
        outcomes = await client.resolve_many([(k, Ok(i)) for i, k in enumerate(keys)])
        assert len(outcomes) == 50
        await client.resolve_many([(k, Ok("again")) for k in keys])

    resolver = asyncio.create_task(resolve_rest())
    async for event in watch:
        seen.append(event)
    await resolver
    assert all(isinstance(e, WatchTerminal) for e in seen)
    by_key = {e.key_id: e.resolution for e in seen if isinstance(e, WatchTerminal)}
    assert len(seen) == 50 == len(by_key)
    assert by_key[keys[0].key_id] == Ok("early")
    assert all(by_key[k.key_id] == Ok(i) for i, k in enumerate(keys) if i)
    cursors = [e.cursor for e in seen if isinstance(e, WatchTerminal)]
    assert len(set(cursors)) == 50 and min(cursors) > 0


async def test_add_and_remove_on_an_open_stream(server: RunningServer, client: Client) -> None:
    first, later = await _keys(client, "a", 2), await _keys(client, "b", 2)
    async with grpc.aio.insecure_channel(server.target) as channel:
        stub = pb_grpc.AwaitEventsStub(channel)
        outbox: asyncio.Queue[pb.WatchRequest | None] = asyncio.Queue()

        async def requests() -> AsyncIterator[pb.WatchRequest]:
            while (item := await outbox.get()) is not None:
                yield item

        call = stub.Watch(requests())
        responses = call.__aiter__()
        outbox.put_nowait(pb.WatchRequest(add_keys=[key_to_proto(k) for k in first]))
        assert (await anext(responses)).ack.added == 2
        outbox.put_nowait(pb.WatchRequest(add_keys=[key_to_proto(k) for k in later], remove_key_ids=[first[1].key_id]))
        ack = (await anext(responses)).ack
        assert (ack.added, ack.removed) == (2, 1)
        await client.resolve(first[1], Ok("removed, not delivered"))
        await client.resolve(later[0], Ok("later"))
        event = await anext(responses)
        assert event.terminal.key_id == later[0].key_id
        await client.resolve(first[0], Cancelled())
        event = await anext(responses)
        assert event.terminal.key_id == first[0].key_id and event.terminal.terminal.HasField("cancelled")
        outbox.put_nowait(None)
        call.cancel()


async def test_rejected_keys_and_revocation_while_watched(client: Client) -> None:
    (good,) = await _keys(client, "g", 1, session="keep")
    (revoked,) = await _keys(client, "r", 1, session="gone")
    bad = dataclasses.replace(good, key_id="0" * 64)
    events: dict[str, WatchTerminal | WatchRejected] = {}
    watch = client.watch([good, revoked, bad])

    async def act() -> None:
        await asyncio.sleep(0.1)
        await client.revoke_session("gone")
        await client.resolve(good, Ok(1))

    actor = asyncio.create_task(act())
    async for event in watch:
        events[event.key_id] = event
    await actor
    assert events[good.key_id] == WatchTerminal(good.key_id, Ok(1), events[good.key_id].cursor)  # type: ignore[union-attr]
    assert isinstance(events[revoked.key_id], WatchRejected)
    assert events[revoked.key_id].code == "await_event_unknown_or_revoked"  # type: ignore[union-attr]
    assert isinstance(events["0" * 64], WatchRejected)


async def test_watch_resumes_after_the_server_restarts(start_server: Any) -> None:
    async with start_server() as server:
        port = server.port
        client = await Client.connect(server.target)
        keys = await _keys(client, "resume", 10)
        await client.resolve(keys[0], Ok(0))
    # Same database, same port: the SDK's watch reconnects and re-adds the keys still pending.
    watch = client.watch(keys, heartbeat_interval=0.1)
    received: list[str] = []

    async def consume() -> None:
        async for event in watch:
            assert isinstance(event, WatchTerminal)
            received.append(event.key_id)

    consumer = asyncio.create_task(consume())
    await asyncio.sleep(0.3)
    async with start_server(listen=f"127.0.0.1:{port}") as server:
        async with await Client.connect(server.target) as resolver:
            await resolver.resolve_many([(k, Ok(i)) for i, k in enumerate(keys)])
            await asyncio.wait_for(consumer, 20)
    await client.close()
    assert sorted(received) == sorted(k.key_id for k in keys)
    assert len(received) == 10


async def test_resume_after_skips_terminals_already_processed(server: RunningServer, client: Client) -> None:
    keys = await _keys(client, "cursor", 3)
    await client.resolve(keys[0], Ok(0))
    await client.resolve(keys[1], Ok(1))
    first_cursor = (await _watch_once(server, keys[:1], 0))[0].terminal.cursor
    events = await _watch_once(server, keys[:2], first_cursor)
    terminals = [e.terminal.key_id for e in events if e.WhichOneof("event") == "terminal"]
    assert terminals == [keys[1].key_id]


async def _watch_once(server: RunningServer, keys: list[Any], resume_after: int) -> list[pb.WatchResponse]:
    async with grpc.aio.insecure_channel(server.target) as channel:
        stub = pb_grpc.AwaitEventsStub(channel)

        async def requests() -> AsyncIterator[pb.WatchRequest]:
            yield pb.WatchRequest(add_keys=[key_to_proto(k) for k in keys], resume_after=resume_after)

        events = []
        async for response in stub.Watch(requests()):
            if response.WhichOneof("event") == "ack":
                break
            events.append(response)
        return events


async def test_health_and_reflection(server: RunningServer) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    async with grpc.aio.insecure_channel(server.target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "effectd.v1.AwaitEvents", "effectd.v1.Keyring"):
            response = await health.Check(health_pb2.HealthCheckRequest(service=service))
            assert response.status == health_pb2.HealthCheckResponse.SERVING
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)

        async def ask() -> AsyncIterator[reflection_pb2.ServerReflectionRequest]:
            yield reflection_pb2.ServerReflectionRequest(list_services="")

        async for answer in reflection.ServerReflectionInfo(ask()):
            names = {s.name for s in answer.list_services_response.service}
            assert {"effectd.v1.AwaitEvents", "effectd.v1.Keyring", "grpc.health.v1.Health"} <= names
            break
        # Shutting down, health answers NOT_SERVING first so load balancers drain this server.
        await server.health.enter_graceful_shutdown()
        response = await health.Check(health_pb2.HealthCheckRequest(service=""))
        assert response.status == health_pb2.HealthCheckResponse.NOT_SERVING
