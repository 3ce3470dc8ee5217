"""The Python side of the TypeScript client's cross-language tests, run by test/cross.test.ts with the
repository's virtualenv. Each command prints one line of lash-json on stdout.

    peer.py mint TARGET SESSION KEY               -> {"token": ...}   (a key minted by the Python SDK)
    peer.py resolve TARGET TOKEN PAYLOAD_JSON     -> the resolve outcome
    peer.py await TARGET TOKEN                    -> the terminal
    peer.py replay TARGET SESSION TURN CALL STEP INPUT_JSON
                                                  -> {"value": ...}: the durable step replayed through
                                                     DurableSteps; the step function must not run
    peer.py codes                                 -> {code: [status, retryable]} from the SDK's table
"""

from __future__ import annotations

import asyncio
import sys

from effectd import Client, CustomWait, DurableSteps, Ok, RemoteEffectController, RuntimeScope, TurnScope
from effectd._errors import CODE_STATUS, RETRYABLE
from effectd._json import parse_json
from effectd._lashjson import JsonValue, dumps, to_lash


async def run(command: str, args: list[str]) -> object:
    if command == "codes":
        return {code: [status.name, code in RETRYABLE] for code, status in CODE_STATUS.items()}
    async with await Client.connect(args[0]) as client:
        if command == "mint":
            key = await client.mint_key(TurnScope(args[1], "t1"), CustomWait(args[2]))
            return {"token": key.token}
        if command == "resolve":
            return to_lash(await client.resolve(args[1], Ok(parse_json(args[2], "payload"))))
        if command == "await":
            return to_lash(await client.await_event(args[1], timeout=60))
        if command == "replay":
            session, turn, call, step, text = args[1:6]
            controller = RemoteEffectController(client)
            steps = DurableSteps(controller.scoped(TurnScope(session, turn)), RuntimeScope(session, turn, 0, 0), call)

            def must_not_run(value: JsonValue) -> JsonValue:
                raise SystemExit(f"the step ran again in Python with {value!r}: it was not replayed")

            return {"value": await steps.run_json(step, parse_json(text, "input"), must_not_run)}
    raise SystemExit(f"unknown command {command!r}")


def main() -> None:
    print(dumps(asyncio.run(run(sys.argv[1], sys.argv[2:]))))


if __name__ == "__main__":
    main()
