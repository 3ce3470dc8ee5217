"""Watch over many keys: one stream delivers each key's terminal once, in the order they are resolved.

make run                                  # in one terminal
.venv/bin/python examples/watch_many.py   # in another (EFFECTD_TARGET picks another server)
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets

from effectd import Cancelled, Client, CustomWait, Err, ExternalCompletionError, Ok, TurnScope, WatchTerminal

TARGET = os.environ.get("EFFECTD_TARGET", "127.0.0.1:50551")


async def main() -> None:
    session = f"example-watch-{secrets.token_hex(4)}"
    async with await Client.connect(TARGET) as client:
        waits = [CustomWait(f"approval-{n}") for n in range(5)]
        keys = [await client.mint_key(TurnScope(session, "turn-1"), wait) for wait in waits]
        names = {key.key_id: wait.key for key, wait in zip(keys, waits, strict=True)}

        async def resolve_all() -> None:
            for n, key in random.sample(list(enumerate(keys)), len(keys)):
                if n == 3:
                    resolution: Ok | Err | Cancelled = Err(ExternalCompletionError("rejected", "not approved"))
                elif n == 4:
                    resolution = Cancelled()
                else:
                    resolution = Ok({"approved_by": f"person-{n}"})
                await client.resolve(key, resolution)

        resolver = asyncio.create_task(resolve_all())
        seen = 0
        async for event in client.watch(keys):  # ends when every key has its terminal
            assert isinstance(event, WatchTerminal)
            seen += 1
            print(f"{names[event.key_id]}: {event.resolution} (cursor {event.cursor})")
        await resolver
        assert seen == len(keys)
        print(f"{seen} terminals on one stream, each once")


if __name__ == "__main__":
    asyncio.run(main())
