"""Workers: a runtime delegates an effect to a worker on another host; effectd pushes it to the worker,
records its result once, and replays that record to the runtime afterwards without calling the worker again.

    make run                                          # in one terminal
    .venv/bin/python examples/delegate_to_worker.py   # in another (EFFECTD_TARGET picks another server)

The worker and the runtime share this process here to keep the example short; in production the worker is
its own program (`effectd worker run MODULE:FUNCTION --worker-id ID`) on the host that has the tool.
"""

from __future__ import annotations

import asyncio
import os
import secrets

from effectd import (
    Client,
    DelegatedEffect,
    DurableStepCommand,
    DurableStepOutcome,
    LocalExecutor,
    RemoteEffectController,
    RuntimeEffectEnvelope,
    RuntimeEffectKind,
    RuntimeInvocation,
    RuntimeScope,
    TurnScope,
    Worker,
)

TARGET = os.environ.get("EFFECTD_TARGET", "127.0.0.1:50551")


async def main() -> None:
    session = f"example-worker-{secrets.token_hex(4)}"
    calls = 0
    async with await Client.connect(TARGET) as client:
        # The worker: registers for durable step "create-invoice" and reports progress while it runs.
        worker = Worker(client.rpc, worker_id=f"billing-host-{session}", slots=4)

        @worker.durable_step("create-invoice")
        async def create_invoice(order: object, ctx: object) -> object:
            nonlocal calls
            calls += 1
            await ctx.progress({"stage": "pricing"})  # type: ignore[attr-defined]
            await ctx.progress({"stage": "issuing"})  # type: ignore[attr-defined]
            return {"invoice_id": "inv_1", "order": order}

        running = asyncio.create_task(worker.run())
        await asyncio.wait_for(worker.registered.wait(), 10)

        # The runtime: one effect, delegated with LocalExecutor.remote() (the step id picks the worker).
        scope = TurnScope(session, "turn-1")
        envelope = RuntimeEffectEnvelope(
            RuntimeInvocation.effect(
                RuntimeScope(session, "turn-1", 0, 0), "invoice", RuntimeEffectKind.DURABLE_STEP, f"{session}:invoice"
            ),
            DurableStepCommand("create-invoice", {"order": 7, "amount": 12}),
        )
        controller = RemoteEffectController(client)
        effect = DelegatedEffect.start(controller, scope, envelope)
        async for progress in effect.progress():
            print(f"  [runtime] progress {progress}")
        outcome = await effect.outcome()
        assert isinstance(outcome, DurableStepOutcome)
        print(f"  [runtime] recorded {outcome.value}")

        # A runtime that crashed and came back executes the same envelope: the record, not the worker.
        again = await controller.execute_effect(scope, envelope, LocalExecutor.remote())
        assert again == outcome and calls == 1
        print(f"  [runtime] replayed {again.value} (the worker ran it {calls} time)")

        worker.drain()
        await running


if __name__ == "__main__":
    asyncio.run(main())
