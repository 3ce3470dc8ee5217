"""Await and resolve: a runtime waits on a key that something outside resolves, exactly once.

make run                                        # in one terminal: a server on 127.0.0.1:50551
.venv/bin/python examples/await_and_resolve.py  # in another (EFFECTD_TARGET picks another server)
"""

from __future__ import annotations

import asyncio
import os
import secrets

from effectd import Accepted, AlreadyResolved, Client, Ok, ToolCompletionWait, TurnScope

TARGET = os.environ.get("EFFECTD_TARGET", "127.0.0.1:50551")


async def main() -> None:
    session = f"example-await-{secrets.token_hex(4)}"  # a session of its own, new on every run
    async with await Client.connect(TARGET) as client:
        # The runtime mints the key for what it waits on: the completion of tool call c1 in this turn.
        key = await client.mint_key(TurnScope(session, "turn-1"), ToolCompletionWait("c1"))
        print(f"minted a key for session {session}; its token: {key.token[:24]}...")
        waiting = asyncio.create_task(client.await_event(key, timeout=60))

        # Whoever holds the token resolves it: another service, a webhook (HTTP), a person (`effectd resolve`).
        first = await client.resolve(key.token, Ok({"answer": 42}))
        second = await client.resolve(key.token, Ok({"answer": 43}))
        assert isinstance(first, Accepted)
        assert isinstance(second, AlreadyResolved) and second.terminal == Ok({"answer": 42})
        print("first resolve: accepted; second resolve: already_resolved, the winner is", second.terminal)

        resolution = await waiting
        assert resolution == Ok({"answer": 42})
        print("the runtime got", resolution)


if __name__ == "__main__":
    asyncio.run(main())
