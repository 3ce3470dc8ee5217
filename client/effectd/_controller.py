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
import inspect
import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import grpc

from effectd import _convert_effect_controller as convert
from effectd._client import Client
from effectd._effects import (
    AwaitEventCommand,
    ControllerError,
    DurableStepCommand,
    DurableStepOutcome,
    ProcessEffectCommand,
    RuntimeEffectCommand,
    RuntimeEffectEnvelope,
    RuntimeEffectOutcome,
    SleepCommand,
    SleepOutcome,
    into_durable_step,
    validate_envelope,
)
from effectd._errors import EffectdError, InvalidArgumentError
from effectd._journal import (
    ControllerDescription,
    DurabilityTier,
    EffectLease,
    EffectRecord,
    RecordedOutcome,
    ScopeSummary,
)
from effectd._lashjson import JsonValue
from effectd._lease import held_lease, release_quietly
from effectd._lineage import EffectSubject, RuntimeEffectKind, RuntimeInvocation, RuntimeReplay, RuntimeScope
from effectd._rpc import Rpc, call, error_from_rpc
from effectd._scope import ExecutionScope, TurnScope, blank, validate_scope
from effectd._tracing import span, trace_metadata
from effectd.v1 import effect_controller_pb2 as pb
from effectd.v1 import effect_controller_pb2_grpc as pb_grpc

__all__ = [
    "DurableSteps",
    "ExecutorError",
    "LocalExecutor",
    "RemoteEffectController",
    "ScopedEffectController",
]


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

    Variants: `unavailable()`, `sleep(cancel)`, `await_event(cancel, deadline)`, `processes(cancel)`,
    `durable_step(fn)` and `runner(fn)` (fn takes the envelope and returns an outcome).
    """

    mode: Literal["unavailable", "sleep", "await_event", "processes", "durable_step", "runner", "remote"]
    cancel: asyncio.Event | None = None
    deadline: float | None = None
    """For await_event: a time.time() value; when it passes, `timeout` is recorded on the key."""
    fn: Fn | None = None
    remote_options: RemoteOptions | None = None

    @classmethod
    def remote(
        cls,
        capability: str = "",
        *,
        version: str = "",
        labels: dict[str, str] | None = None,
        schedule_to_start_timeout: float | None = None,
        session_affinity: bool = False,
        hard_affinity: bool = False,
        on_progress: Callable[[JsonValue], object] | None = None,
        cancel: asyncio.Event | None = None,
    ) -> LocalExecutor:
        """Run the effect on a worker that registered for it (`effectd.Worker`), not here: the server
        pushes it to a live worker whose capability matches (`capability`, or the tool name, step id or
        model read from the envelope), records its result, and answers it here like any recorded outcome.
        `on_progress` receives the handler's live progress, in order, before the outcome (never on a
        replay). Setting `cancel` pushes a cancel to the worker's handler and records nothing.
        `session_affinity` prefers the worker that ran the session's previous effect; with
        `hard_affinity` the effect waits for that worker instead."""
        if schedule_to_start_timeout is not None and not 0 < schedule_to_start_timeout <= 3600:
            raise ValueError(f"schedule_to_start_timeout must be in (0, 3600] seconds, got {schedule_to_start_timeout}")
        options = RemoteOptions(
            capability,
            version,
            dict(labels or {}),
            schedule_to_start_timeout,
            session_affinity or hard_affinity,
            on_progress,
            hard_affinity,
        )
        return cls("remote", cancel=cancel, remote_options=options)

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
    def processes(cls, cancel: asyncio.Event | None = None) -> LocalExecutor:
        """Process commands run on the server against its process registry (the journal records the
        answer). Setting `cancel` stops waiting (an `await` op): nothing is recorded, and
        `runtime_effect_process_cancelled` is raised."""
        return cls("processes", cancel=cancel)

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
        if self.mode == "remote":
            raise _mismatch(f"this effectd cannot delegate {kind} commands to workers")
        assert self.fn is not None
        if self.mode == "durable_step":
            if not isinstance(command, DurableStepCommand):
                raise _mismatch(f"local durable step executor cannot execute {kind} command")
            return DurableStepOutcome(await _maybe_await(self.fn(command.input)))
        outcome: RuntimeEffectOutcome = await _maybe_await(self.fn(envelope))
        return outcome


@dataclass(frozen=True, slots=True)
class RemoteOptions:
    """How `LocalExecutor.remote` finds its worker (ExecuteRequest.delegate) and reads its progress."""

    capability: str = ""
    version: str = ""
    labels: dict[str, str] | None = None
    schedule_to_start_timeout: float | None = None
    session_affinity: bool = False
    on_progress: Callable[[JsonValue], object] | None = None
    hard_affinity: bool = False

    def to_proto(self) -> pb.DelegateOptions:
        return pb.DelegateOptions(
            capability=self.capability,
            version=self.version,
            required_labels=self.labels or {},
            schedule_to_start_timeout_ms=int((self.schedule_to_start_timeout or 0) * 1000),
            session_affinity=self.session_affinity,
            hard_affinity=self.hard_affinity,
        )


def _cancelled(command: RuntimeEffectCommand, remote: bool = False) -> ExecutorError:
    """The error of an effect whose caller set its cancel: nothing was recorded."""
    if remote:
        return ExecutorError("runtime_effect_remote_cancelled", "runtime effect delegated to a worker was cancelled")
    if isinstance(command, ProcessEffectCommand):
        return ExecutorError("runtime_effect_process_cancelled", "runtime effect process wait was cancelled")
    return ExecutorError("runtime_effect_sleep_cancelled", "runtime effect sleep was cancelled")


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
    """lash's `RuntimeEffectController`, backed by effectd's journal.

    Built on a `Client` (or directly on an `Rpc`); it shares that channel and its default deadlines.
    """

    durability_tier = DurabilityTier.DURABLE
    supports_durable_effects = True
    requires_durable_attachment_store = False

    def __init__(
        self,
        client: Client | Rpc,
        *,
        owner_id: str | None = None,
        lease_ttl: float = 30.0,
        heartbeat_interval: float | None = None,
    ) -> None:
        if lease_ttl <= 0:
            raise ValueError(f"lease_ttl must be positive, got {lease_ttl!r}")
        self.rpc = client if isinstance(client, Rpc) else client.rpc
        self.owner_id = owner_id or f"sdk-{secrets.token_hex(6)}"
        self.lease_ttl = lease_ttl
        self._heartbeat_ms = int(heartbeat_interval * 1000) if heartbeat_interval else 0
        self._stub = self.rpc.stub(pb_grpc.EffectControllerStub)
        self.client = client if isinstance(client, Client) else Client(self.rpc)
        """The await-events facade over the same Rpc (cancels the key of a cancelled await_event)."""

    def scoped(self, scope: ExecutionScope) -> ScopedEffectController:
        return ScopedEffectController(self, scope)

    async def describe(self, *, timeout: float | None = None) -> ControllerDescription:
        """The server's tier and capability flags."""
        response = await self.rpc.unary(self._stub.Describe, pb.DescribeRequest(), timeout=timeout)
        return convert.description_from_proto(response)

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
        validate_envelope(envelope)
        command = envelope.command
        remote = local_executor.remote_options if local_executor.mode == "remote" else None
        cancel = (
            local_executor.cancel if local_executor.mode in ("sleep", "await_event", "processes", "remote") else None
        )
        if remote is not None and cancel is not None and cancel.is_set():
            raise _cancelled(command, remote=True)
        deadline_ms = None
        if isinstance(command, AwaitEventCommand) and local_executor.deadline is not None:
            deadline_ms = int(local_executor.deadline * 1000)
        if isinstance(command, SleepCommand | ProcessEffectCommand) and cancel is not None and cancel.is_set():
            raise _cancelled(command)
        request = convert.execute_request(
            scope,
            envelope,
            strict_replay=strict_replay,
            owner_id=self.owner_id,
            lease_ttl_ms=int(self.lease_ttl * 1000),
            heartbeat_interval_ms=self._heartbeat_ms,
            await_deadline_unix_ms=deadline_ms,
            delegate=None if remote is None else remote.to_proto(),
        )
        answer = await self._execute(request, command, cancel, remote)
        if isinstance(answer, EffectLease):
            return await self._run_leased(scope, envelope, local_executor, answer)
        return answer.outcome

    async def _execute(
        self,
        request: pb.ExecuteRequest,
        command: RuntimeEffectCommand,
        cancel: asyncio.Event | None,
        remote: RemoteOptions | None = None,
    ) -> RecordedOutcome | EffectLease:
        call = self._stub.Execute(request, metadata=trace_metadata())
        watcher: asyncio.Task[None] | None = None
        if cancel is not None:
            watcher = asyncio.create_task(self._watch_cancel(call, command, cancel))
        on_progress = None if remote is None else remote.on_progress
        try:
            async for response in call:
                if on_progress is not None and response.WhichOneof("event") == "progress":
                    await _maybe_await(on_progress(json.loads(response.progress.value.text)))
                    continue
                answer = convert.execute_answer_from_proto(response)
                if answer is None:
                    continue  # a heartbeat
                if isinstance(answer, EffectLease | RecordedOutcome):
                    return answer
                raise ExecutorError(answer.error.code, answer.error.message)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if cancel is not None and cancel.is_set() and task is not None and not task.cancelling():
                # Our own cancel of the call, not of the caller's task.
                raise _cancelled(command, remote is not None) from None
            raise
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.CANCELLED and cancel is not None and cancel.is_set():
                raise _cancelled(command, remote is not None) from None
            raise error_from_rpc(exc) from None
        finally:
            if watcher is not None:
                watcher.cancel()
        raise EffectdError("unavailable", "the server ended the effect stream without an answer")

    async def _watch_cancel(self, call: Any, command: RuntimeEffectCommand, cancel: asyncio.Event) -> None:
        await cancel.wait()
        if isinstance(command, AwaitEventCommand):
            # Records `cancelled` on the key; the stream then answers whichever terminal won.
            await self.client.cancel(command.key)
        else:
            # A cancelled sleep records nothing (a replay waits only the remainder); nor does a
            # cancelled process await (a replay waits again).
            call.cancel()

    async def _run_leased(
        self,
        scope: ExecutionScope,
        envelope: RuntimeEffectEnvelope,
        local_executor: LocalExecutor,
        lease: EffectLease,
    ) -> RuntimeEffectOutcome:
        replay_key = envelope.invocation.replay_key or ""

        async def renew() -> int:
            return await self._renew(scope, replay_key, lease)

        async def release() -> None:
            await self._complete(scope, replay_key, lease)

        async with held_lease(renew, self.lease_ttl, description=f"the lease on {replay_key!r}") as held:
            try:
                with span("effect.run", {"effectd.effect.kind": envelope.command.kind.value}):
                    outcome = await held.run(local_executor.execute(envelope))
            except ExecutorError as exc:
                if exc.code in _NOT_AN_ANSWER:
                    await release()
                    raise
                await self._complete(scope, replay_key, lease, executor_error=ControllerError(exc.code, exc.message))
                raise
            except BaseException:
                # Not an executor's answer (a bug, a crash, cancellation, a lost lease): record nothing.
                if not held.lost.is_set():
                    await release_quietly(release)
                raise
            await self._complete(scope, replay_key, lease, outcome=outcome)
            return outcome

    async def _renew(self, scope: ExecutionScope, replay_key: str, lease: EffectLease) -> int:
        """Extend a lease by `lease_ttl`; returns the new expiry (unix ms). LeaseLostError once taken over."""
        request = convert.renew_lease_request(scope, replay_key, lease.lease_token, int(self.lease_ttl * 1000))
        response = await self.rpc.unary(self._stub.RenewLease, request)
        return int(response.expires_at_unix_ms)

    async def _complete(
        self,
        scope: ExecutionScope,
        replay_key: str,
        lease: EffectLease,
        *,
        outcome: RuntimeEffectOutcome | None = None,
        executor_error: ControllerError | None = None,
    ) -> None:
        """Record the outcome or the executor error of a leased effect; with neither, release the lease."""
        request = convert.complete_request(
            scope, replay_key, lease.lease_token, outcome=outcome, executor_error=executor_error
        )
        await call(self._stub.Complete(request, timeout=self.rpc.timeout(None), metadata=trace_metadata()))

    async def list_effects(
        self, scope: ExecutionScope, *, page_size: int = 100, timeout: float | None = None
    ) -> list[EffectRecord]:
        """Every journal row of a scope, oldest first (fetched `page_size` rows per call)."""
        records: list[EffectRecord] = []
        token = ""
        while True:
            response = await self.rpc.unary(
                self._stub.ListEffects, convert.list_effects_request(scope, page_size, token), timeout=timeout
            )
            records.extend(convert.effect_record_from_proto(r) for r in response.effects)
            token = response.next_page_token
            if not token:
                return records

    async def list_scopes(self, *, limit: int = 100, timeout: float | None = None) -> list[ScopeSummary]:
        """The scopes with journaled effects, most recently updated first (up to `limit`, at most 1000)."""
        if not isinstance(limit, int) or isinstance(limit, bool):
            raise InvalidArgumentError("invalid_request", f"limit must be an int, got {type(limit).__name__}")
        response = await self.rpc.unary(self._stub.ListScopes, pb.ListScopesRequest(limit=limit), timeout=timeout)
        return [convert.scope_summary_from_proto(s) for s in response.scopes]

    async def get_effect(self, scope: ExecutionScope, replay_key: str, *, timeout: float | None = None) -> EffectRecord:
        """One journal row; NotFoundError when (scope, replay_key) never ran."""
        response = await self.rpc.unary(
            self._stub.GetEffect, convert.get_effect_request(scope, replay_key), timeout=timeout
        )
        return convert.effect_record_from_proto(response.effect)


class ScopedEffectController:
    """A controller bound to one execution scope (lash's `ScopedEffectController`)."""

    def __init__(self, controller: RemoteEffectController, scope: ExecutionScope) -> None:
        validate_scope(scope)
        self._controller = controller
        self._scope = scope

    @property
    def controller(self) -> RemoteEffectController:
        return self._controller

    @property
    def execution_scope(self) -> ExecutionScope:
        return self._scope

    @property
    def scope_id(self) -> str:
        """The scope's id (lash's `scope.id()`): the turn, process, ... id."""
        return self._scope.id

    @property
    def turn_id(self) -> str | None:
        """The turn id of a `turn` scope; None for every other scope."""
        return self._scope.turn_id if isinstance(self._scope, TurnScope) else None

    async def execute_effect(
        self, envelope: RuntimeEffectEnvelope, local_executor: LocalExecutor, *, strict_replay: bool = False
    ) -> RuntimeEffectOutcome:
        return await self._controller.execute_effect(self._scope, envelope, local_executor, strict_replay=strict_replay)

    def __repr__(self) -> str:
        return f"ScopedEffectController({self._scope!r})"


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
