"""The effect controller over effectd's journal, mirroring lash's `RuntimeEffectController`.

    controller = RemoteEffectController(client)
    scoped = controller.scoped(TurnScope("s1", "t1"))
    outcome = await scoped.execute_effect(envelope, LocalExecutor.durable_step(create_invoice))

The first execution of a (scope, replay key) runs: server-owned kinds (sleep, await_event) on the
server, the others through the local executor under a lease that is renewed while it runs. Every
later execution returns the recorded outcome, or raises the recorded executor error, without running.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import grpc

from effectd._client import Client, _call, error_from_rpc
from effectd._convert_envelope import envelope_to_proto, outcome_from_proto, outcome_to_proto
from effectd._convert_scope import scope_to_proto
from effectd._effects import (
    AwaitEventCommand,
    DurableStepCommand,
    DurableStepOutcome,
    EffectSubject,
    RuntimeEffectEnvelope,
    RuntimeEffectKind,
    RuntimeEffectOutcome,
    RuntimeInvocation,
    RuntimeReplay,
    RuntimeScope,
    SleepCommand,
    SleepOutcome,
    into_durable_step,
)
from effectd._errors import EffectdError, InvalidArgumentError, LeaseLostError
from effectd._lashjson import JsonValue
from effectd._scope import ExecutionScope, blank, validate_scope
from effectd.v1 import effect_controller_pb2 as pb
from effectd.v1 import effect_controller_pb2_grpc as pb_grpc

__all__ = [
    "DurableSteps",
    "ExecutorError",
    "LocalExecutor",
    "RemoteEffectController",
    "ScopedEffectController",
]

DurabilityTier = Literal["inline", "durable"]


class ExecutorError(EffectdError):
    """The local executor's answer was an error (`code`, `message`), or a recorded one replayed.

    Raise it from a durable-step function to have the error journaled and replayed as an error."""

    status = grpc.StatusCode.FAILED_PRECONDITION


Fn = Callable[[Any], Any]


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


@dataclass(frozen=True, slots=True)
class LocalExecutor:
    """The seed's `RuntimeEffectLocalExecutor`: how the runtime itself runs an effect it was leased.

    Variants: `unavailable()`, `sleep(cancel)`, `await_event(cancel, deadline)`, `processes()`,
    `durable_step(fn)` and `runner(fn)` (fn takes the envelope and returns an outcome).
    """

    mode: Literal["unavailable", "sleep", "await_event", "processes", "durable_step", "runner"]
    cancel: asyncio.Event | None = None
    deadline: float | None = None
    """For await_event: a time.time() value; when it passes, `timeout` is recorded on the key."""
    fn: Fn | None = None

    @classmethod
    def unavailable(cls) -> LocalExecutor:
        return cls("unavailable")

    @classmethod
    def sleep(cls, cancel: asyncio.Event | None = None) -> LocalExecutor:
        return cls("sleep", cancel=cancel)

    @classmethod
    def await_event(cls, cancel: asyncio.Event | None = None, deadline: float | None = None) -> LocalExecutor:
        return cls("await_event", cancel=cancel, deadline=deadline)

    @classmethod
    def processes(cls) -> LocalExecutor:
        return cls("processes")

    @classmethod
    def durable_step(cls, fn: Callable[[JsonValue], JsonValue | Awaitable[JsonValue]]) -> LocalExecutor:
        return cls("durable_step", fn=fn)

    @classmethod
    def runner(
        cls, fn: Callable[[RuntimeEffectEnvelope], RuntimeEffectOutcome | Awaitable[RuntimeEffectOutcome]]
    ) -> LocalExecutor:
        return cls("runner", fn=fn)

    async def execute(self, envelope: RuntimeEffectEnvelope) -> RuntimeEffectOutcome:
        """Run `envelope` here, as lash's local executor would (SEED-SPEC §1.9)."""
        kind = envelope.command.kind.value
        command = envelope.command
        if self.mode == "unavailable":
            raise ExecutorError(
                "runtime_effect_local_executor_unavailable", f"no local executor is available for {kind}"
            )
        if self.mode == "sleep":
            if not isinstance(command, SleepCommand):
                raise _mismatch(f"local sleep executor cannot execute {kind} command")
            await _sleep_unless_cancelled(command.duration_ms / 1000, self.cancel)
            return SleepOutcome()
        if self.mode == "await_event":
            raise _mismatch(f"local await-event options cannot execute {kind} command directly")
        if self.mode == "processes":
            raise _mismatch(f"process executor cannot execute {kind} command directly")
        assert self.fn is not None
        if self.mode == "durable_step":
            if not isinstance(command, DurableStepCommand):
                raise _mismatch(f"local durable step executor cannot execute {kind} command")
            return DurableStepOutcome(await _maybe_await(self.fn(command.input)))
        outcome: RuntimeEffectOutcome = await _maybe_await(self.fn(envelope))
        return outcome


def _mismatch(message: str) -> ExecutorError:
    return ExecutorError("runtime_effect_local_executor_mismatch", message)


async def _sleep_unless_cancelled(seconds: float, cancel: asyncio.Event | None) -> None:
    if cancel is None:
        await asyncio.sleep(seconds)
        return
    if cancel.is_set():
        raise ExecutorError("runtime_effect_sleep_cancelled", "runtime effect sleep was cancelled")
    try:
        await asyncio.wait_for(cancel.wait(), timeout=seconds)
    except TimeoutError:
        return
    raise ExecutorError("runtime_effect_sleep_cancelled", "runtime effect sleep was cancelled")


# Errors that mean "this executor cannot run that effect here": configuration, not an answer to journal.
_NOT_AN_ANSWER = frozenset({"runtime_effect_local_executor_unavailable", "runtime_effect_local_executor_mismatch"})


class RemoteEffectController:
    """lash's `RuntimeEffectController`, backed by effectd's journal."""

    durability_tier: DurabilityTier = "durable"
    supports_durable_effects = True
    requires_durable_attachment_store = False

    def __init__(
        self,
        client: Client,
        *,
        owner_id: str | None = None,
        lease_ttl: float = 30.0,
        heartbeat_interval: float | None = None,
    ) -> None:
        self.client = client
        self.owner_id = owner_id or f"sdk-{secrets.token_hex(6)}"
        self.lease_ttl = lease_ttl
        self._heartbeat_ms = int(heartbeat_interval * 1000) if heartbeat_interval else 0
        self._stub = pb_grpc.EffectControllerStub(client._channel)  # type: ignore[no-untyped-call]

    def scoped(self, scope: ExecutionScope) -> ScopedEffectController:
        return ScopedEffectController(self, scope)

    async def describe(self, *, timeout: float | None = None) -> pb.DescribeResponse:
        return await _call(self._stub.Describe(pb.DescribeRequest(), timeout=self.client._timeout(timeout)))

    async def execute_effect(
        self,
        scope: ExecutionScope,
        envelope: RuntimeEffectEnvelope,
        local_executor: LocalExecutor,
        *,
        strict_replay: bool = False,
    ) -> RuntimeEffectOutcome:
        """The effect's outcome: recorded, run on the server, or run here under a lease and recorded."""
        validate_scope(scope)
        envelope.validate()
        request = pb.ExecuteRequest(
            scope=scope_to_proto(scope),
            envelope=envelope_to_proto(envelope),
            strict_replay=strict_replay,
            owner_id=self.owner_id,
            lease_ttl_ms=int(self.lease_ttl * 1000),
            heartbeat_interval_ms=self._heartbeat_ms,
        )
        command = envelope.command
        cancel = local_executor.cancel if local_executor.mode in ("sleep", "await_event") else None
        if isinstance(command, AwaitEventCommand) and local_executor.deadline is not None:
            request.await_deadline_unix_ms = int(local_executor.deadline * 1000)
        if isinstance(command, SleepCommand) and cancel is not None and cancel.is_set():
            raise ExecutorError("runtime_effect_sleep_cancelled", "runtime effect sleep was cancelled")
        answer = await self._execute(request, command, cancel)
        if isinstance(answer, pb.EffectLease):
            return await self._run_leased(scope, envelope, local_executor, answer)
        return answer

    async def _execute(
        self, request: pb.ExecuteRequest, command: Any, cancel: asyncio.Event | None
    ) -> RuntimeEffectOutcome | pb.EffectLease:
        call = self._stub.Execute(request)
        watcher: asyncio.Task[None] | None = None
        if cancel is not None:
            watcher = asyncio.create_task(self._watch_cancel(call, command, cancel))
        try:
            async for response in call:
                which = response.WhichOneof("event")
                if which == "lease":
                    lease: pb.EffectLease = response.lease
                    return lease
                if which == "outcome":
                    return outcome_from_proto(response.outcome.outcome, "outcome.outcome")
                if which == "executor_error":
                    error = response.executor_error.error
                    raise ExecutorError(error.code, error.message)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if cancel is not None and cancel.is_set() and task is not None and not task.cancelling():
                # Our own cancel of the call, not of the caller's task.
                raise ExecutorError("runtime_effect_sleep_cancelled", "runtime effect sleep was cancelled") from None
            raise
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.CANCELLED and cancel is not None and cancel.is_set():
                raise ExecutorError("runtime_effect_sleep_cancelled", "runtime effect sleep was cancelled") from None
            raise error_from_rpc(exc) from None
        finally:
            if watcher is not None:
                watcher.cancel()
        raise EffectdError("unavailable", "the server ended the effect stream without an answer")

    async def _watch_cancel(self, call: Any, command: Any, cancel: asyncio.Event) -> None:
        await cancel.wait()
        if isinstance(command, AwaitEventCommand):
            # Records `cancelled` on the key; the stream then answers whichever terminal won.
            await self.client.cancel(command.key)
        else:
            call.cancel()  # a cancelled sleep records nothing; a replay waits only the remainder

    async def _run_leased(
        self,
        scope: ExecutionScope,
        envelope: RuntimeEffectEnvelope,
        local_executor: LocalExecutor,
        lease: pb.EffectLease,
    ) -> RuntimeEffectOutcome:
        replay_key = envelope.invocation.replay.key if envelope.invocation.replay else ""
        scope_pb = scope_to_proto(scope)
        lost = asyncio.Event()
        renewer = asyncio.create_task(self._renew(scope_pb, replay_key, lease, lost))
        running = asyncio.ensure_future(local_executor.execute(envelope))
        lost_waiter = asyncio.ensure_future(lost.wait())
        try:
            await asyncio.wait({running, lost_waiter}, return_when=asyncio.FIRST_COMPLETED)
            if not running.done():
                running.cancel()
                raise LeaseLostError("effect_replay_lease_lost", f"the lease on {replay_key!r} was lost while running")
            try:
                outcome = running.result()
            except ExecutorError as exc:
                if exc.code in _NOT_AN_ANSWER:
                    await self._release(scope_pb, replay_key, lease)
                    raise
                await self._complete(scope_pb, replay_key, lease, executor_error=(exc.code, exc.message))
                raise
            except BaseException:
                # Not an executor's answer (a bug, a crash, cancellation): record nothing, free the lease.
                with contextlib.suppress(EffectdError, asyncio.CancelledError):
                    await asyncio.shield(self._release(scope_pb, replay_key, lease))
                raise
            await self._complete(scope_pb, replay_key, lease, outcome=outcome)
            return outcome
        finally:
            renewer.cancel()
            lost_waiter.cancel()

    async def _renew(self, scope_pb: Any, replay_key: str, lease: pb.EffectLease, lost: asyncio.Event) -> None:
        interval = max(0.05, self.lease_ttl / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                await _call(
                    self._stub.RenewLease(
                        pb.RenewLeaseRequest(
                            scope=scope_pb,
                            replay_key=replay_key,
                            lease_token=lease.lease_token,
                            lease_ttl_ms=int(self.lease_ttl * 1000),
                        ),
                        timeout=self.client.default_timeout,
                    )
                )
            except LeaseLostError:
                lost.set()
                return
            except EffectdError:
                continue  # transient: try again before the lease runs out

    async def _complete(
        self,
        scope_pb: Any,
        replay_key: str,
        lease: pb.EffectLease,
        *,
        outcome: RuntimeEffectOutcome | None = None,
        executor_error: tuple[str, str] | None = None,
    ) -> None:
        request = pb.CompleteRequest(scope=scope_pb, replay_key=replay_key, lease_token=lease.lease_token)
        if outcome is not None:
            request.outcome.CopyFrom(outcome_to_proto(outcome))
        elif executor_error is not None:
            request.executor_error.code, request.executor_error.message = executor_error
        await _call(self._stub.Complete(request, timeout=self.client.default_timeout))

    async def _release(self, scope_pb: Any, replay_key: str, lease: pb.EffectLease) -> None:
        await self._complete(scope_pb, replay_key, lease)

    async def list_effects(
        self, scope: ExecutionScope, *, page_size: int = 100, timeout: float | None = None
    ) -> list[pb.EffectRecord]:
        """Every journal row of a scope, oldest first."""
        records: list[pb.EffectRecord] = []
        token = ""
        while True:
            response = await _call(
                self._stub.ListEffects(
                    pb.ListEffectsRequest(scope=scope_to_proto(scope), page_size=page_size, page_token=token),
                    timeout=self.client._timeout(timeout),
                )
            )
            records.extend(response.effects)
            token = response.next_page_token
            if not token:
                return records

    async def get_effect(
        self, scope: ExecutionScope, replay_key: str, *, timeout: float | None = None
    ) -> pb.EffectRecord:
        response = await _call(
            self._stub.GetEffect(
                pb.GetEffectRequest(scope=scope_to_proto(scope), replay_key=replay_key),
                timeout=self.client._timeout(timeout),
            )
        )
        record: pb.EffectRecord = response.effect
        return record


class ScopedEffectController:
    """A controller bound to one execution scope (lash's `ScopedEffectController`)."""

    def __init__(self, controller: RemoteEffectController, scope: ExecutionScope) -> None:
        validate_scope(scope)
        self.controller = controller
        self.execution_scope = scope

    @property
    def scope_id(self) -> str:
        return self.execution_scope.id

    async def execute_effect(
        self, envelope: RuntimeEffectEnvelope, local_executor: LocalExecutor, *, strict_replay: bool = False
    ) -> RuntimeEffectOutcome:
        return await self.controller.execute_effect(
            self.execution_scope, envelope, local_executor, strict_replay=strict_replay
        )


class DurableSteps:
    """lash's durable tool effects: `run_json(step_id, input, fn)` runs `fn(input)` once per tool call and
    step id, ever; replays return the recorded value (or raise the recorded error)."""

    def __init__(self, scoped: ScopedEffectController, runtime_scope: RuntimeScope, tool_call_id: str) -> None:
        if blank(tool_call_id):
            raise InvalidArgumentError("durable_effects_missing_call_id", "durable effects require a tool call id")
        self.scoped = scoped
        self.runtime_scope = runtime_scope
        self.tool_call_id = tool_call_id
        self._used: set[str] = set()

    def envelope(self, step_id: str, input: JsonValue) -> RuntimeEffectEnvelope:
        """The durable_step envelope lash builds for a tool's step (SEED-SPEC §1.11)."""
        replay_key = f"{self.scoped.scope_id}:tool:{self.tool_call_id}:durable-step:{step_id}"
        return RuntimeEffectEnvelope(
            RuntimeInvocation(
                scope=self.runtime_scope,
                subject=EffectSubject(f"{self.tool_call_id}:durable-step:{step_id}", RuntimeEffectKind.DURABLE_STEP),
                replay=RuntimeReplay(replay_key),
            ),
            DurableStepCommand(step_id, input),
        )

    async def run_json(
        self, step_id: str, input: JsonValue, fn: Callable[[JsonValue], JsonValue | Awaitable[JsonValue]]
    ) -> JsonValue:
        if blank(step_id):
            raise InvalidArgumentError("durable_effect_empty_step_id", "durable effect step id must be non-empty")
        if step_id in self._used:
            raise InvalidArgumentError(
                "durable_effect_duplicate_step_id", f"durable effect step id `{step_id}` was already used"
            )
        self._used.add(step_id)
        outcome = await self.scoped.execute_effect(self.envelope(step_id, input), LocalExecutor.durable_step(fn))
        return into_durable_step(outcome)
