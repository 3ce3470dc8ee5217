"""What the console tests put in a server: keys pending and resolved in two sessions (one revoked), a
journal with a recorded and a failed effect, and a process with a grant and events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from effectd import (
    AwaitEventKey,
    CustomWait,
    ExternalProcessInput,
    HostOriginator,
    Ok,
    ProcessEventAppendRequest,
    ProcessEventType,
    ProcessHandleDescriptor,
    ProcessProvenance,
    ProcessRegistration,
    RemoteProcessRegistry,
    SessionScope,
    TurnScope,
)
from effectd._client import Client
from effectd._controller import ExecutorError, LocalExecutor, RemoteEffectController
from effectd._effects import (
    DurableStepCommand,
    RuntimeEffectEnvelope,
    RuntimeEffectKind,
    RuntimeInvocation,
    RuntimeScope,
)

SESSION = "session-alpha"
REVOKED_SESSION = "session-revoked"
SCOPE = TurnScope(SESSION, "turn-1")
PROCESS_ID = "proc-build-42"


def step(step_id: str) -> RuntimeEffectEnvelope:
    runtime = RuntimeScope(SESSION, "turn-1", 1, 0)
    return RuntimeEffectEnvelope(
        RuntimeInvocation.effect(
            runtime, f"durable-step:{step_id}", RuntimeEffectKind.DURABLE_STEP, f"replay:{step_id}"
        ),
        DurableStepCommand(step_id, {"step": step_id}),
    )


@dataclass(frozen=True, slots=True)
class Seeded:
    pending: AwaitEventKey
    waited: AwaitEventKey
    resolved: AwaitEventKey
    revoked: AwaitEventKey


async def seed(client: Client) -> Seeded:
    pending = await client.mint_key(SCOPE, CustomWait("approval"))
    waited = await client.mint_key(SCOPE, CustomWait("deploy-gate"))
    resolved = await client.mint_key(SCOPE, CustomWait("review"))
    await client.resolve(resolved, Ok({"approved": True, "by": "ops"}))
    revoked = await client.mint_key(TurnScope(REVOKED_SESSION, "turn-9"), CustomWait("stale"))
    await client.revoke_session(REVOKED_SESSION)

    controller = RemoteEffectController(client).scoped(SCOPE)
    await controller.execute_effect(step("fetch"), LocalExecutor.durable_step(lambda _: {"rows": 3}))

    def fail(_: Any) -> Any:
        raise ExecutorError("invoice_rejected", "the customer has no billing address")

    try:
        await controller.execute_effect(step("bill"), LocalExecutor.durable_step(fail))
    except ExecutorError:
        pass

    registry = RemoteProcessRegistry(client)
    await registry.register_process(
        ProcessRegistration(
            id=PROCESS_ID,
            input=ExternalProcessInput(),
            event_types=(ProcessEventType(name="progress"),),
            provenance=ProcessProvenance(HostOriginator(), "console-test"),
        )
    )
    await registry.grant_handle(SessionScope(SESSION), PROCESS_ID, ProcessHandleDescriptor(kind="job"))
    await registry.append_event(PROCESS_ID, ProcessEventAppendRequest("progress", {"percent": 10}))
    await registry.append_event(PROCESS_ID, ProcessEventAppendRequest("progress", {"percent": 50}))
    return Seeded(pending, waited, resolved, revoked)
