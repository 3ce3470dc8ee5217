"""Revokes racing resolves: a waiter's outcome always equals what the database holds and what the
resolver was told. A key whose resolve was `accepted` delivers that terminal to its waiters, whatever
revocation comes after it; only a key still pending when the revocation committed ends revoked.
On PostgreSQL it also runs with two replicas: waiters on one, revocations on the other."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from effectd import Accepted, CustomWait, Ok, TurnScope, UnknownOrRevoked
from effectd._client import Client, WatchRejected, WatchTerminal
from effectd._errors import UnknownOrRevokedError
from effectd._scope import AwaitEventKey
from effectd_server import ServerConfig, StoreConfig, serve

from tests.pg import fresh_schema, require_postgres

SESSIONS, KEYS_PER_SESSION, RESOLVERS = 20, 20, 16


async def _race(waiters: Client, resolvers: Client, revoker: Client, server: Any) -> None:
    keys: list[AwaitEventKey] = []
    for s in range(SESSIONS):
        for k in range(KEYS_PER_SESSION):
            keys.append(await resolvers.mint_key(TurnScope(f"race-{s}", "t"), CustomWait(f"k{k}")))
    index = {key.key_id: i for i, key in enumerate(keys)}
    watched: dict[str, Any] = {}

    async def watch() -> None:
        async for event in waiters.watch(keys):
            watched.setdefault(event.key_id, event)
            if len(watched) == len(keys):
                return

    async def await_one(key: AwaitEventKey) -> Any:
        try:
            return await waiters.await_event(key)
        except UnknownOrRevokedError as exc:
            return exc

    watching = asyncio.ensure_future(watch())
    awaiting = {key.key_id: asyncio.ensure_future(await_one(key)) for key in keys[::3]}
    await asyncio.sleep(0.5)  # every wait registered
    answers: dict[str, Any] = {}
    queue = list(keys)
    random.Random(7).shuffle(queue)

    async def resolve_some() -> None:
        while queue:
            key = queue.pop()
            answers[key.key_id] = await resolvers.resolve(key, Ok(index[key.key_id]))

    async def revoke_half() -> None:
        for s in range(0, SESSIONS, 2):
            await asyncio.sleep(random.Random(s).random() * 0.01)
            await revoker.revoke_session(f"race-{s}")

    await asyncio.gather(*(resolve_some() for _ in range(RESOLVERS)), revoke_half())
    await asyncio.wait_for(watching, 30)
    awaited = {key_id: await asyncio.wait_for(task, 30) for key_id, task in awaiting.items()}
    states = await server.parts["await_events"].store.key_states([key.key_id for key in keys])
    revoked_answers = 0
    for key in keys:
        answer, event = answers[key.key_id], watched[key.key_id]
        stored = states[key.key_id].terminal_json
        if isinstance(answer, Accepted):
            assert stored is not None, key.key_id
            assert isinstance(event, WatchTerminal) and event.resolution == Ok(index[key.key_id]), (answer, event)
            if key.key_id in awaited:
                assert awaited[key.key_id] == Ok(index[key.key_id])
        else:
            assert answer == UnknownOrRevoked(), answer
            revoked_answers += 1
            assert stored is None, key.key_id
            assert isinstance(event, WatchRejected), (answer, event)
            if key.key_id in awaited:
                assert isinstance(awaited[key.key_id], UnknownOrRevokedError)
    assert 0 < revoked_answers < len(keys) // 2 + 1


async def test_revokes_racing_resolves_one_server(server: Any, client: Client) -> None:
    async with await Client.connect(server.target) as resolvers, await Client.connect(server.target) as revoker:
        await _race(client, resolvers, revoker, server)


async def test_revokes_racing_resolves_two_replicas_on_postgres() -> None:
    await require_postgres()
    async with fresh_schema() as url:
        config = ServerConfig(listen="127.0.0.1:0", store=StoreConfig(url=url))
        async with serve(config) as a, serve(config) as b:
            await _two(a, b)


async def _two(a: Any, b: Any) -> None:
    async with (
        await Client.connect(a.target) as waiters,
        await Client.connect([a.target, b.target]) as resolvers,
        await Client.connect(b.target) as revoker,
    ):
        await _race(waiters, resolvers, revoker, a)
