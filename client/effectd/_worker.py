"""Workers: run effects that runtimes delegate (`LocalExecutor.remote(...)`) on this host.

    worker = Worker(rpc, worker_id="search-host", slots=8)

    @worker.tool("search", version="2")
    async def search(args, ctx):
        await ctx.progress({"status": "querying"})
        return {"hits": [...]}

    await worker.run()          # until drained (SIGTERM drains when handle_signals=True)

One stream to effectd carries everything: the server pushes assignments, the worker answers each with
a result; heartbeats and lease extensions are sent for you. A cancel from the runtime reaches the
handler as `asyncio.CancelledError` (a BaseException, so `except Exception` does not swallow it);
`ctx.cancel_reason` says why. Results are kept until the server acknowledges them and sent again after
a reconnect: the server records each effect once, and answers a late one with what it already holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc

from effectd._controller import ExecutorError, LocalExecutor, RemoteEffectController
from effectd._convert_envelope import envelope_from_proto, outcome_from_proto, outcome_to_proto
from effectd._convert_process import lease_from_proto, process_record_from_proto
from effectd._convert_scope import controller_error_from_proto, scope_from_proto, scope_to_proto
from effectd._convert_workers import (
    AssignmentRef,
    ToolDescription,
    WorkerCapability,
    WorkerInfo,
    capability_to_proto,
    worker_info_from_proto,
)
from effectd._effects import (
    DirectCommand,
    DirectOutcome,
    DurableStepCommand,
    DurableStepOutcome,
    LlmCallCommand,
    LlmCallOutcome,
    ResultOk,
    RuntimeEffectEnvelope,
    RuntimeEffectOutcome,
    ToolCallCommand,
    ToolCallDone,
    ToolCallOutcome,
)
from effectd._errors import EffectdError, InvalidArgumentError, UnavailableError
from effectd._journal import RecordedError, RecordedOutcome
from effectd._lashjson import JsonValue
from effectd._lease import held_lease
from effectd._process import (
    ProcessEventAppendRequest,
    ProcessEventAppendResult,
    ProcessLease,
    ProcessLeaseCompletion,
    ProcessRecord,
)
from effectd._processes import RemoteProcessRegistry
from effectd._rpc import Rpc, Watchdog, backoff, error_from_rpc, heartbeat_ms
from effectd._scope import ExecutionScope
from effectd._tracing import span_under
from effectd.v1 import scope_pb2, workers_pb2
from effectd.v1 import workers_pb2_grpc as pb_grpc

__all__ = [
    "DelegatedEffect",
    "DeliverAgain",
    "ProcessRunContext",
    "ProviderRateLimited",
    "RemoteWorkers",
    "ResultReceipt",
    "Worker",
    "WorkerContext",
]

log = logging.getLogger("effectd.worker")

pb = workers_pb2

Handler = Callable[[Any, Any], Awaitable[Any]]
"""A handler: (the command's input or the envelope, WorkerContext), or (record, ProcessRunContext) for runners."""


class ProviderRateLimited(Exception):
    """Raise it from a handler when the provider answered with a rate limit (an HTTP 429): nothing is
    recorded, effectd pauses every effect of the same capability (e.g. that provider/model) on every
    worker for `retry_after` seconds, then delivers this one again."""

    def __init__(self, retry_after: float, reason: str = "") -> None:
        if not 0 < retry_after <= 3600:
            raise ValueError(f"retry_after must be in (0, 3600] seconds, got {retry_after}")
        super().__init__(f"rate limited for {retry_after:g} s" + (f": {reason}" if reason else ""))
        self.retry_after = retry_after
        self.reason = reason


class DeliverAgain(Exception):
    """Raise it from a handler that could not run the effect for a passing reason (the server behind a
    tool is down or crashed): nothing is recorded and effectd delivers the effect again, to this or
    another worker, counted against the redelivery budget."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class WorkerContext:
    """What a handler knows of the effect it runs, and how it reports progress."""

    envelope: RuntimeEffectEnvelope
    scope: ExecutionScope
    replay_key: str
    attempt: int
    """1 for the first delivery; more after the effect was delivered again (its last worker died)."""
    fencing_token: int
    cancel_reason: str | None = None
    """Set when the server cancelled the handler (the runtime cancelled, or the delivery was lost)."""
    _send: Callable[[workers_pb2.WorkerMessage], None] | None = None
    _ref: workers_pb2.AssignmentRef | None = None

    async def progress(self, value: JsonValue) -> None:
        """Report live progress (a token delta, an output line, a percentage): it reaches the runtime
        waiting on the effect, in order, before the outcome. It is never journaled; it also keeps the
        effect's lease alive."""
        if self._send is None:
            return
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        self._send(pb.WorkerMessage(progress=pb.WorkerProgress(assignment=self._ref, value=scope_pb2.Json(text=text))))
        await asyncio.sleep(0)


@dataclass(slots=True)
class ProcessRunContext:
    """What a process runner's handler gets beside the record: the fenced lease (renewed for it) and the
    registry to append events through."""

    record: ProcessRecord
    lease: ProcessLease
    registry: RemoteProcessRegistry

    async def append(self, request: ProcessEventAppendRequest) -> ProcessEventAppendResult:
        """Append an event to the process (its lease is held while the handler runs)."""
        return await self.registry.append_event(self.record.id, request)


@dataclass(frozen=True, slots=True)
class ResultReceipt:
    """The server's answer to one of this worker's results."""

    assignment: AssignmentRef
    recorded: bool
    """True: this result is the effect's record. False: another delivery's record stands (`existing`)."""
    existing: RecordedOutcome | RecordedError | None


@dataclass(slots=True)
class _Registered:
    capability: WorkerCapability
    handler: Handler
    shape: str
    """How the handler is called and its return value wrapped: tool, step, llm, any."""
    group: str = ""
    """Set for handlers offered with `offer(group, ...)`, which replaces them all at once."""


def _slot_key(ref: workers_pb2.AssignmentRef) -> tuple[bytes, str]:
    return ref.scope.SerializeToString(deterministic=True), ref.replay_key


def _receipt(ack: workers_pb2.ResultAck) -> ResultReceipt:
    ref = AssignmentRef(scope_from_proto(ack.assignment.scope), ack.assignment.replay_key, ack.assignment.fencing_token)
    if ack.WhichOneof("answer") == "recorded":
        return ResultReceipt(ref, True, None)
    existing: RecordedOutcome | RecordedError | None = None
    holder = ack.already_recorded
    which = holder.WhichOneof("recorded")
    if which == "outcome":
        existing = RecordedOutcome(outcome_from_proto(holder.outcome.outcome), True)
    elif which == "executor_error":
        existing = RecordedError(controller_error_from_proto(holder.executor_error.error), True)
    return ResultReceipt(ref, False, existing)


@dataclass(eq=False, slots=True)
class _Running:
    context: WorkerContext
    ref: workers_pb2.AssignmentRef
    trace_context: dict[str, str]
    """The runtime's trace context the server carried, for the handler's span."""
    task: asyncio.Task[None] | None = None
    evicted: bool = False


@dataclass(slots=True)
class _Session:
    """One connection's writer: messages queue here and one task writes them in order."""

    outgoing: asyncio.Queue[workers_pb2.WorkerMessage | None] = field(default_factory=asyncio.Queue)

    def send(self, message: workers_pb2.WorkerMessage) -> None:
        self.outgoing.put_nowait(message)


class Worker:
    """A worker process's connection to effectd, and the handlers it runs.

    Create it on an `Rpc` (or a target: `Worker.connect(target, ...)`), register handlers, then
    `await worker.run()`. `drain()` (SIGTERM when `run(handle_signals=True)`) finishes what is held,
    takes nothing new, and makes `run` return.
    """

    def __init__(
        self,
        rpc: Rpc,
        *,
        worker_id: str,
        slots: int = 16,
        labels: dict[str, str] | None = None,
        heartbeat_interval: float = 1.0,
        instance_id: str | None = None,
    ) -> None:
        if not isinstance(worker_id, str) or not worker_id:
            raise InvalidArgumentError("invalid_request", "a worker needs a non-empty worker_id")
        if not isinstance(slots, int) or not 1 <= slots <= 100_000:
            raise InvalidArgumentError("value_out_of_range", f"slots must be in 1..100000, got {slots!r}")
        if not isinstance(heartbeat_interval, int | float) or not 0.1 <= heartbeat_interval <= 3600:
            raise InvalidArgumentError(
                "value_out_of_range", f"heartbeat_interval must be in [0.1, 3600] seconds, got {heartbeat_interval!r}"
            )
        self.rpc = rpc
        self.worker_id = worker_id
        self.instance_id = instance_id or secrets.token_hex(8)
        self.slots = slots
        self.labels = dict(labels or {})
        self.heartbeat_interval = heartbeat_interval
        self._stub = rpc.stub(pb_grpc.WorkersStub)
        self._handlers: list[_Registered] = []
        self._groups: set[str] = set()
        self._offers_changed = asyncio.Event()
        self._running: dict[tuple[bytes, str], _Running] = {}
        self._unacked: dict[tuple[bytes, str, int], workers_pb2.WorkerMessage] = {}
        self._session: _Session | None = None
        self._draining = asyncio.Event()
        self._registered = asyncio.Event()
        self._lease_ttl_s = 30.0
        self._stall_s = 30.0
        self._live_call: Any = None
        self._process_tasks: dict[str, asyncio.Task[None]] = {}
        self.receipts: asyncio.Queue[ResultReceipt] = asyncio.Queue()
        """The server's answer to every result this worker sent, in arrival order."""
        self.completed = 0
        """Results that became the record."""

    @classmethod
    async def connect(cls, target: str, *, worker_id: str, **options: Any) -> Worker:
        return cls(await Rpc.connect(target), worker_id=worker_id, **options)

    # -- registering handlers --------------------------------------------------------------------
    def _register(self, capability: WorkerCapability, shape: str) -> Callable[[Handler], Handler]:
        def decorate(fn: Handler) -> Handler:
            self._handlers.append(_Registered(capability, fn, shape))
            return fn

        return decorate

    def tool(
        self,
        name: str,
        *,
        version: str = "",
        slots: int = 0,
        description: str = "",
        input_schema: dict[str, JsonValue] | None = None,
    ) -> Callable[[Handler], Handler]:
        """`async def fn(args, ctx)` runs tool `name`; its JSON return value is the tool's output (or
        return a `ToolCallOutcome` yourself). `description` and `input_schema` are what `list_tools()`
        shows runtimes."""
        tool = None
        if description or input_schema is not None:
            schema = "" if input_schema is None else json.dumps(input_schema, separators=(",", ":"), ensure_ascii=False)
            tool = ToolDescription(schema, description)
        return self._register(WorkerCapability("tool_call", name, version, slots, tool), "tool")

    def durable_step(self, step_id: str, *, version: str = "", slots: int = 0) -> Callable[[Handler], Handler]:
        """`async def fn(input, ctx)` runs durable step `step_id`; its JSON return value is recorded."""
        return self._register(WorkerCapability("durable_step", step_id, version, slots), "step")

    def llm(self, provider: str, model: str, *, slots: int = 0) -> Callable[[Handler], Handler]:
        """`async def fn(request, ctx)` answers `llm_call` effects for `provider`/`model` with an
        LlmResponse (JSON), or returns an `LlmCallOutcome` itself."""
        return self._register(WorkerCapability("llm_call", f"{provider}/{model}", "", slots), "llm")

    def process_runner(self, host_profile_id: str) -> Callable[[Handler], Handler]:
        """`async def fn(record, ctx) -> ProcessAwaitOutput | None` runs the non-terminal processes of
        `host_profile_id` the server gives this worker, each under a fenced process lease renewed for it.
        Its output completes the process; a dead runner's processes go to another runner."""
        if not host_profile_id:
            raise ValueError("a process runner needs a host profile id")
        return self._register(WorkerCapability("process", host_profile_id), "process")

    def handler(self, kind: str, name: str = "", *, version: str = "", slots: int = 0) -> Callable[[Handler], Handler]:
        """`async def fn(envelope, ctx) -> RuntimeEffectOutcome` for any effect of `kind` (and `name`)."""
        return self._register(WorkerCapability(kind, name, version, slots), "any")

    def offer(self, group: str, capabilities: Sequence[WorkerCapability], handler: Handler) -> None:
        """Replace what `group` offers (every capability runs `handler(envelope, ctx)`, which returns a
        `RuntimeEffectOutcome`): an MCP server's tools, say, as its tool list changes. On a live stream
        the new list reaches the server at once, in order with results; effects already running go on.
        An empty list withdraws the group."""
        if not group:
            raise ValueError("an offer needs a group name")
        self._groups.add(group)
        self._handlers = [h for h in self._handlers if h.group != group]
        self._handlers.extend(_Registered(capability, handler, "any", group) for capability in capabilities)
        session = self._session
        if session is not None:
            session.send(pb.WorkerMessage(capabilities=pb.WorkerCapabilities(capabilities=self._capabilities())))
        if self._handlers:
            self._offers_changed.set()

    def _capabilities(self) -> list[workers_pb2.Capability]:
        return [capability_to_proto(h.capability) for h in self._handlers]

    # -- running ---------------------------------------------------------------------------------
    def drain(self) -> None:
        """Finish what is held, take nothing new, then `run` returns."""
        self._draining.set()
        self._offers_changed.set()
        session = self._session
        if session is not None:
            session.send(pb.WorkerMessage(drain=pb.WorkerDrain()))
        self._check_idle()

    @property
    def registered(self) -> asyncio.Event:
        """Set while the worker is registered with the server."""
        return self._registered

    async def run(self, *, handle_signals: bool = False) -> None:
        """Serve until drained; reconnects (and sends unacknowledged results again) when the link drops."""
        if not self._handlers and not self._groups:
            raise ValueError("register at least one handler (or make an offer) before run()")
        loop = asyncio.get_running_loop()
        if handle_signals:
            loop.add_signal_handler(signal.SIGTERM, self.drain)
        attempt = 0
        try:
            while True:
                try:
                    await self._serve_once()
                    attempt = 0
                except grpc.aio.AioRpcError as exc:
                    error = error_from_rpc(exc)
                    if exc.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED):
                        raise error from None
                    log.info("worker %s lost its stream (%s); reconnecting", self.worker_id, error.code)
                except UnavailableError as exc:
                    log.info("worker %s lost its stream (%s); reconnecting", self.worker_id, exc.message)
                if self._draining.is_set() and not self._running and not self._unacked:
                    return
                await asyncio.sleep(backoff(attempt))
                attempt += 1
        finally:
            if handle_signals:
                loop.remove_signal_handler(signal.SIGTERM)
            for running in list(self._running.values()):
                if running.task is not None:
                    running.task.cancel()
            for task in list(self._process_tasks.values()):
                task.cancel()

    def _register_message(self) -> workers_pb2.WorkerMessage:
        return pb.WorkerMessage(
            register=pb.WorkerRegister(
                worker_id=self.worker_id,
                instance_id=self.instance_id,
                capabilities=self._capabilities(),
                labels=self.labels,
                slots=self.slots,
                heartbeat_interval_ms=int(self.heartbeat_interval * 1000),
            )
        )

    async def _serve_once(self) -> None:
        while not self._handlers:  # a registration offers something: wait for an offer (a server came up)
            if self._draining.is_set():
                return
            self._offers_changed.clear()
            await self._offers_changed.wait()
        session = _Session()
        call = self._stub.Connect()
        writer = asyncio.create_task(self._write(call, session))
        beats = asyncio.create_task(self._heartbeats(session))
        extender: asyncio.Task[None] | None = None
        try:
            register = self._register_message()
            session.send(register)
            first = await call.read()
            if first is grpc.aio.EOF or first.WhichOneof("message") != "registered":
                raise UnavailableError("unavailable", "effectd did not answer the registration")
            self._lease_ttl_s = max(0.3, first.registered.lease_ttl_ms / 1000)
            # Started once the server said how long a lease lasts (a third of it apart).
            extender = asyncio.create_task(self._extend_forever(session))
            self._stall_s = 2 * max(first.registered.heartbeat_interval_ms / 1000, self.heartbeat_interval) + 1.0
            self._session = session
            offered = self._capabilities()
            if offered != list(register.register.capabilities):  # an offer changed while registering
                session.send(pb.WorkerMessage(capabilities=pb.WorkerCapabilities(capabilities=offered)))
            self._registered.set()
            if self._draining.is_set():
                session.send(pb.WorkerMessage(drain=pb.WorkerDrain()))
            for message in list(self._unacked.values()):
                log.debug("sending again the result for %r", message.result.assignment.replay_key)
                session.send(message)  # results the last connection did not see acknowledged
            await self._read_all(call, session)
        finally:
            self._registered.clear()
            self._session = None
            beats.cancel()
            if extender is not None:
                extender.cancel()
            session.outgoing.put_nowait(None)
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(writer, 1.0)
            call.cancel()

    def _drained(self) -> bool:
        return self._draining.is_set() and not self._running and not self._unacked

    async def _read_all(self, call: Any, session: _Session) -> None:
        """Handle server messages until drained. Silence past two of the server's heartbeats means a dead
        link: the watchdog cancels the call and the channel is replaced."""
        watchdog = Watchdog(self.rpc, self._stall_s)
        watchdog.watch(call)
        self._live_call = call
        try:
            while not self._drained():
                try:
                    message = await call.read()
                except (asyncio.CancelledError, grpc.aio.AioRpcError) as exc:
                    task = asyncio.current_task()
                    if task is not None and task.cancelling():
                        raise
                    if self._drained():
                        return  # `_check_idle` ended the stream: everything held was acknowledged
                    if watchdog.lost(exc):
                        raise UnavailableError(
                            "unavailable", f"effectd sent nothing for {self._stall_s:g} s; the link looks dead"
                        ) from None
                    raise
                watchdog.heard()
                if message is grpc.aio.EOF:
                    raise UnavailableError("unavailable", "effectd ended the worker stream")
                self._on_message(message, session)
        finally:
            watchdog.stop()
            self._live_call = None

    async def _write(self, call: Any, session: _Session) -> None:
        while True:
            message = await session.outgoing.get()
            if message is None:
                with contextlib.suppress(grpc.aio.AioRpcError, asyncio.InvalidStateError):
                    await call.done_writing()
                return
            try:
                await call.write(message)
            except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
                return

    async def _heartbeats(self, session: _Session) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            session.send(pb.WorkerMessage(heartbeat=pb.WorkerHeartbeat()))

    def _on_message(self, message: workers_pb2.ServerMessage, session: _Session) -> None:
        which = message.WhichOneof("message")
        if which == "assign":
            self._start(message.assign, session)
        elif which == "result_ack":
            ack = message.result_ack
            ref = ack.assignment
            self._unacked.pop((*_slot_key(ref), ref.fencing_token), None)
            receipt = _receipt(ack)
            if receipt.recorded:
                self.completed += 1
            self.receipts.put_nowait(receipt)
            self._check_idle()
        elif which in ("cancel", "evicted"):
            notice = message.cancel if which == "cancel" else message.evicted
            running = self._running.get(_slot_key(notice.assignment))
            if running is not None and running.context.fencing_token == notice.assignment.fencing_token:
                running.evicted = which == "evicted"
                running.context.cancel_reason = notice.reason or which
                if running.task is not None:
                    running.task.cancel(notice.reason or which)
        elif which == "drain":
            self.drain()
        elif which == "run_process":
            self._start_process(message.run_process)

    def _handler_for(self, envelope: RuntimeEffectEnvelope) -> _Registered | None:
        command = envelope.command
        kind = command.kind.value
        name = ""
        if isinstance(command, ToolCallCommand):
            name = command.call.tool_name
        elif isinstance(command, DurableStepCommand):
            name = command.step_id
        elif isinstance(command, LlmCallCommand | DirectCommand) and isinstance(command.request, dict):
            model = command.request.get("model")
            provider = command.request.get("provider")
            name = f"{provider}/{model}" if isinstance(provider, str) and provider else str(model or "")
        fallback = None
        for registered in self._handlers:
            capability = registered.capability
            if capability.kind != kind:
                continue
            if capability.name in (name, "") or capability.name.partition("/")[2] == name:
                if capability.name:
                    return registered
                fallback = registered
        return fallback

    def _start(self, assign: workers_pb2.Assign, session: _Session) -> None:
        ref = assign.assignment
        envelope = envelope_from_proto(assign.envelope)
        context = WorkerContext(
            envelope=envelope,
            scope=scope_from_proto(ref.scope),
            replay_key=ref.replay_key,
            attempt=assign.attempt,
            fencing_token=ref.fencing_token,
            _send=self._send,
            _ref=ref,
        )
        running = _Running(context, ref, dict(assign.trace_context))
        self._running[_slot_key(ref)] = running
        running.task = asyncio.create_task(self._run_handler(running, ref))

    def _start_process(self, run: workers_pb2.RunProcess) -> None:
        record = process_record_from_proto(run.record)
        lease = lease_from_proto(run.lease)
        running = self._process_tasks.get(record.id)
        if running is not None and not running.done():
            return  # re-claimed for this worker (a reconnect): it is running already
        handler = next(
            (
                h
                for h in self._handlers
                if h.shape == "process" and h.capability.name == record.provenance.host_profile_id
            ),
            None,
        )
        if handler is None:
            return
        task = asyncio.create_task(self._run_process(handler, record, lease))
        self._process_tasks[record.id] = task

    async def _run_process(self, handler: _Registered, record: ProcessRecord, lease: ProcessLease) -> None:
        registry = RemoteProcessRegistry(self.rpc)
        context = ProcessRunContext(record, lease, registry)
        ttl_ms = max(1, lease.expires_at_epoch_ms - lease.claimed_at_epoch_ms)

        async def renew() -> int:
            context.lease = await registry.renew_process_lease(context.lease, ttl_ms)
            return context.lease.expires_at_epoch_ms

        try:
            async with held_lease(renew, ttl_ms / 1000, description=f"the lease on process {record.id!r}") as held:
                output = await held.run(handler.handler(record, context))
                if output is not None:
                    await registry.complete_process(record.id, output)
            await registry.complete_process_lease(ProcessLeaseCompletion.from_lease(context.lease))
        except (EffectdError, asyncio.CancelledError) as exc:
            log.info("process %r stopped on worker %s: %s", record.id, self.worker_id, exc)
        except Exception:
            log.exception("process runner for %r failed", record.id)
        finally:
            self._process_tasks.pop(record.id, None)

    def _send(self, message: workers_pb2.WorkerMessage) -> None:
        session = self._session
        if session is not None:
            session.send(message)

    async def _extend_forever(self, session: _Session) -> None:
        """Extend the lease of every running handler, a third of the lease apart."""
        while True:
            await asyncio.sleep(self._lease_ttl_s / 3)
            for running in list(self._running.values()):
                session.send(pb.WorkerMessage(extend_lease=pb.WorkerExtendLease(assignment=running.ref)))

    async def _run_handler(self, running: _Running, ref: workers_pb2.AssignmentRef) -> None:
        context = running.context
        registered = self._handler_for(context.envelope)
        result = pb.WorkerResult(assignment=ref)
        started = time.monotonic()
        try:
            if registered is None:
                raise ExecutorError("worker_handler_missing", f"worker {self.worker_id} has no handler for this effect")
            attributes = {"effectd.effect.kind": context.envelope.command.kind.value, "effectd.worker": self.worker_id}
            with span_under(running.trace_context, "worker.run", attributes):
                outcome = await self._call(registered, context, started)
            result.outcome.CopyFrom(outcome_to_proto(outcome))
        except ProviderRateLimited as exc:
            result.rate_limited.CopyFrom(
                pb.ProviderRateLimited(retry_after_ms=max(1, int(exc.retry_after * 1000)), reason=exc.reason)
            )
        except ExecutorError as exc:
            result.executor_error.CopyFrom(scope_pb2.ControllerError(code=exc.code, message=exc.message))
        except DeliverAgain as exc:
            result.abandoned = exc.reason or "the handler could not run it now"
        except asyncio.CancelledError:
            result.abandoned = context.cancel_reason or "the worker is stopping"
        except Exception as exc:  # a handler's bug is its answer: recorded as an error, not run again
            log.exception("handler for %r failed", context.replay_key)
            result.executor_error.CopyFrom(
                scope_pb2.ControllerError(code="worker_handler_failed", message=f"{type(exc).__name__}: {exc}")
            )
        finally:
            self._running.pop(_slot_key(ref), None)
        if running.evicted:
            self._check_idle()
            return  # the delivery is someone else's now: its result would not be recorded
        message = pb.WorkerMessage(result=result)
        log.debug("result for %r: %s", context.replay_key, result.WhichOneof("result"))
        if result.WhichOneof("result") not in ("abandoned", "rate_limited"):
            self._unacked[(*_slot_key(ref), ref.fencing_token)] = message
        self._send(message)
        self._check_idle()

    def _check_idle(self) -> None:
        if not self._running and not self._unacked:
            if self._draining.is_set() and self._live_call is not None:
                self._live_call.cancel()  # drained: end the stream (its reader returns)

    @staticmethod
    async def _call(registered: _Registered, context: WorkerContext, started: float) -> RuntimeEffectOutcome:
        envelope = context.envelope
        command = envelope.command
        shape = registered.shape
        if shape == "tool" and isinstance(command, ToolCallCommand):
            value = await registered.handler(command.call.args, context)
            if isinstance(value, ToolCallOutcome):
                return value
            call = command.call
            completed: dict[str, JsonValue] = {
                "call_id": call.call_id,
                "tool_name": call.tool_name,
                "args": call.args,
                "output": value,
                "model_return": None,
                "duration_ms": int((time.monotonic() - started) * 1000),
                "replay": None,
            }
            return ToolCallOutcome(ToolCallDone(completed))
        if shape == "step" and isinstance(command, DurableStepCommand):
            return DurableStepOutcome(await registered.handler(command.input, context))
        if shape == "llm" and isinstance(command, LlmCallCommand | DirectCommand):
            value = await registered.handler(command.request, context)
            if isinstance(value, LlmCallOutcome | DirectOutcome):
                return value
            if isinstance(command, DirectCommand):
                return DirectOutcome(ResultOk(value))
            return LlmCallOutcome(ResultOk(value), False)
        outcome = await registered.handler(envelope, context)
        if not isinstance(outcome, RuntimeEffectOutcome):
            raise ExecutorError("worker_handler_failed", "a handler for any effect must return a RuntimeEffectOutcome")
        return outcome


class DelegatedEffect:
    """An effect a runtime delegated to a worker, followed as it runs:

        effect = DelegatedEffect.start(controller, scope, envelope)
        async for token in effect.progress():      # live, in order; nothing on a replay
            ...
        outcome = await effect.outcome()           # what was journaled

    `start` takes the options of `LocalExecutor.remote` (capability, version, labels, ...).
    """

    def __init__(self, running: asyncio.Task[RuntimeEffectOutcome], values: asyncio.Queue[Any]) -> None:
        self._running = running
        self._values = values

    @classmethod
    def start(
        cls, controller: RemoteEffectController, scope: ExecutionScope, envelope: RuntimeEffectEnvelope, **remote: Any
    ) -> DelegatedEffect:
        values: asyncio.Queue[Any] = asyncio.Queue()
        executor = LocalExecutor.remote(on_progress=values.put_nowait, **remote)
        running = asyncio.create_task(controller.execute_effect(scope, envelope, executor))
        running.add_done_callback(lambda _: values.put_nowait(_END))
        return cls(running, values)

    async def progress(self) -> AsyncIterator[JsonValue]:
        """The handler's progress values until the effect is recorded (none when it is a replay)."""
        while True:
            value = await self._values.get()
            if value is _END:
                return
            yield value

    async def outcome(self) -> RuntimeEffectOutcome:
        """The recorded outcome (or the recorded executor error, raised as ExecutorError)."""
        return await self._running

    def cancel(self) -> None:
        """Stop waiting: the worker's handler is cancelled and nothing is recorded."""
        self._running.cancel()


_END = object()


class RemoteWorkers:
    """The connected workers as the server sees them (`effectd.v1.Workers` views)."""

    def __init__(self, rpc: Rpc) -> None:
        self.rpc = rpc
        self._stub = rpc.stub(pb_grpc.WorkersStub)

    async def list_workers(self, *, timeout: float | None = None) -> list[WorkerInfo]:
        response = await self.rpc.unary(self._stub.ListWorkers, pb.ListWorkersRequest(), timeout=timeout)
        return [worker_info_from_proto(w) for w in response.workers]

    async def describe_worker(self, worker_id: str, *, timeout: float | None = None) -> WorkerInfo:
        if not worker_id:
            raise InvalidArgumentError("invalid_request", "a worker id is required")
        request = pb.DescribeWorkerRequest(worker_id=worker_id)
        response = await self.rpc.unary(self._stub.DescribeWorker, request, timeout=timeout)
        return worker_info_from_proto(response.worker)

    async def watch_progress(
        self, scope: ExecutionScope, replay_key: str, *, heartbeat_interval: float | None = None
    ) -> AsyncIterator[JsonValue]:
        """A delegated effect's live progress values as its handler reports them (never journaled); the
        iteration ends once the effect is recorded (read it with `get_effect`). NotFoundError
        (`effect_not_found`) when it never ran."""
        request = pb.WatchProgressRequest(
            scope=scope_to_proto(scope), replay_key=replay_key, heartbeat_interval_ms=heartbeat_ms(heartbeat_interval)
        )
        call = self._stub.WatchProgress(request)
        try:
            async for response in call:
                which = response.WhichOneof("event")
                if which == "progress":
                    yield json.loads(response.progress.value.text)
                elif which in ("outcome", "executor_error"):
                    return
        except grpc.aio.AioRpcError as exc:
            raise error_from_rpc(exc) from None
        finally:
            call.cancel()

    async def drain_worker(self, worker_id: str, *, timeout: float | None = None) -> WorkerInfo:
        if not worker_id:
            raise InvalidArgumentError("invalid_request", "a worker id is required")
        request = pb.DrainWorkerRequest(worker_id=worker_id)
        response = await self.rpc.unary(self._stub.DrainWorker, request, timeout=timeout)
        return worker_info_from_proto(response.worker)
