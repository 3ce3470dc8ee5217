"""The Workers servicer: each worker's stream (register, then messages both ways) and the unary views.
Converts at the edge; the registry and the dispatcher hold the rules."""

from __future__ import annotations

import asyncio
import collections
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from effectd._convert_envelope import outcome_to_proto
from effectd._convert_process import lease_to_proto, process_record_to_proto
from effectd._convert_scope import controller_error_to_proto, scope_from_proto, scope_to_proto
from effectd._convert_workers import (
    AssignmentRef,
    WorkerCapability,
    WorkerInfo,
    capability_from_proto,
    worker_info_to_proto,
)
from effectd._errors import EffectdError, InvalidArgumentError, NotFoundError
from effectd._journal import RecordedError
from effectd._json import parse_json
from effectd._lashjson import dumps
from effectd._scope import scope_from_lash
from effectd.v1 import await_events_pb2, effect_controller_pb2, envelope_pb2, scope_pb2, workers_pb2

from effectd_server.config import LimitsConfig
from effectd_server.edge.checks import MAX_HEARTBEAT_MS, check_id, check_ids, check_size, in_range
from effectd_server.edge.errors import shutting_down
from effectd_server.edge.streams import Streams
from effectd_server.journal.core import Recorded, now_ms
from effectd_server.workers.dispatch import Assignment, Dispatcher, ResultAnswer
from effectd_server.workers.process_runners import ProcessRunners
from effectd_server.workers.registry import AssignmentKey, Capability, ConnectedWorker, Outgoing

__all__ = ["WorkersServicer"]

log = logging.getLogger("effectd.workers")

pb = workers_pb2
Context = Any

_SERVER_RUN_KINDS = frozenset({"sleep", "await_event"})
_MAX_SLOTS = 100_000
_MIN_HEARTBEAT_MS = 100


_SCOPES: dict[str, scope_pb2.ExecutionScope] = {}
_SCOPES_KEPT = 10_000


def _scope_proto(scope_json: str) -> scope_pb2.ExecutionScope:
    """A scope's message, rebuilt from its lash-json once (a scope's effects reuse it)."""
    scope = _SCOPES.get(scope_json)
    if scope is None:
        if len(_SCOPES) >= _SCOPES_KEPT:
            _SCOPES.clear()
        scope = _SCOPES[scope_json] = scope_to_proto(scope_from_lash(json.loads(scope_json)))
    return scope


def _ref(key: AssignmentKey) -> workers_pb2.AssignmentRef:
    return pb.AssignmentRef(
        scope=_scope_proto(key.scope_json), replay_key=key.replay_key, fencing_token=key.fencing_token
    )


class _Outbox:
    """A worker stream's messages: appended by anyone, taken by the stream (no task per wait)."""

    def __init__(self) -> None:
        self._items: collections.deque[Outgoing] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None

    def put(self, item: Outgoing) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self, timeout_s: float) -> Outgoing | None:
        """The next message; None when none came within `timeout_s`."""
        if not self._items:
            loop = asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            timer = loop.call_later(timeout_s, _wake, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiter = None
            if not self._items:
                return None
        return self._items.popleft()


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


_SCOPE_JSON: dict[bytes, str] = {}


def _key(ref: workers_pb2.AssignmentRef) -> AssignmentKey:
    if not ref.HasField("scope") or not ref.replay_key or not ref.fencing_token:
        raise InvalidArgumentError("invalid_request", "an assignment needs its scope, replay_key and fencing_token")
    encoded = ref.scope.SerializeToString(deterministic=True)
    scope_json = _SCOPE_JSON.get(encoded)
    if scope_json is None:
        if len(_SCOPE_JSON) >= _SCOPES_KEPT:
            _SCOPE_JSON.clear()
        scope_json = _SCOPE_JSON[encoded] = dumps(scope_from_proto(ref.scope))
    return AssignmentKey(scope_json, ref.replay_key, ref.fencing_token)


def _recorded_proto(recorded: Recorded) -> workers_pb2.AlreadyRecorded:
    if isinstance(recorded, RecordedError):
        return pb.AlreadyRecorded(
            executor_error=effect_controller_pb2.RecordedError(
                error=controller_error_to_proto(recorded.error), replayed=True
            )
        )
    return pb.AlreadyRecorded(
        outcome=effect_controller_pb2.RecordedOutcome(outcome=outcome_to_proto(recorded.outcome), replayed=True)
    )


def _message(item: Outgoing) -> workers_pb2.ServerMessage:
    what, payload = item
    if what == "assign":
        assert isinstance(payload, Assignment)
        return pb.ServerMessage(
            assign=pb.Assign(
                assignment=_ref(payload.key),
                envelope=envelope_pb2.RuntimeEffectEnvelope.FromString(payload.envelope_pb),
                attempt=payload.attempt,
                lease_deadline_unix_ms=payload.lease_deadline_ms,
                trace_context=payload.trace_context,
            )
        )
    if what == "ack":
        assert isinstance(payload, ResultAnswer)
        if payload.recorded:
            return pb.ServerMessage(result_ack=pb.ResultAck(assignment=_ref(payload.key), recorded=True))
        existing = pb.AlreadyRecorded() if payload.existing is None else _recorded_proto(payload.existing)
        return pb.ServerMessage(result_ack=pb.ResultAck(assignment=_ref(payload.key), already_recorded=existing))
    if what == "cancel":
        key, reason = payload
        return pb.ServerMessage(cancel=pb.Cancel(assignment=_ref(key), reason=reason))
    if what == "evicted":
        key, reason = payload
        return pb.ServerMessage(evicted=pb.Evicted(assignment=_ref(key), reason=reason))
    if what == "lease":
        key, expires = payload
        return pb.ServerMessage(lease_extended=pb.LeaseExtended(assignment=_ref(key), lease_deadline_unix_ms=expires))
    if what == "run_process":
        record, lease = payload
        return pb.ServerMessage(
            run_process=pb.RunProcess(record=process_record_to_proto(record), lease=lease_to_proto(lease))
        )
    return pb.ServerMessage(drain=pb.Drain())


def worker_info(worker: ConnectedWorker) -> WorkerInfo:
    refs = []
    for delivery in list(worker.in_flight.values()):
        key: AssignmentKey = delivery.key
        refs.append(AssignmentRef(scope_from_lash(json.loads(key.scope_json)), key.replay_key, key.fencing_token))
    return WorkerInfo(
        worker_id=worker.worker_id,
        instance_id=worker.instance_id,
        capabilities=tuple(WorkerCapability(c.kind, c.name, c.version, c.slots, c.tool) for c in worker.capabilities),
        labels=dict(worker.labels),
        slots=worker.slots,
        in_flight=tuple(refs),
        last_heartbeat_unix_ms=worker.last_heartbeat_ms,
        draining=worker.draining,
        connected_at_unix_ms=worker.connected_at_ms,
        completed=worker.completed,
    )


def _finished(tasks: set[asyncio.Task[None]]) -> Any:
    def done(task: asyncio.Task[None]) -> None:
        tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a worker message failed", exc_info=task.exception())

    return done


class WorkersServicer:
    def __init__(
        self,
        dispatcher: Dispatcher,
        streams: Streams,
        *,
        limits: LimitsConfig,
        process_runners: ProcessRunners | None = None,
    ) -> None:
        self._dispatcher = dispatcher
        self._runners = process_runners
        self._registry = dispatcher.registry
        self._streams = streams
        self._limits = limits

    def _capabilities(self, items: Any) -> tuple[Capability, ...]:
        limit = self._limits.max_id_bytes
        capabilities = []
        for item in items:
            capability = capability_from_proto(item)
            if not capability.kind:
                raise InvalidArgumentError("invalid_request", "a capability needs an effect kind")
            if capability.kind == "process" and not capability.name:
                raise InvalidArgumentError(
                    "invalid_request", "a process runner capability names the host profile id it runs"
                )
            if capability.kind in _SERVER_RUN_KINDS:
                raise InvalidArgumentError(
                    "invalid_request", f"a worker cannot offer effect kind {capability.kind}: the server runs it"
                )
            check_id("capability name", capability.name, limit)
            check_id("capability version", capability.version, limit)
            tool = capability.tool
            if tool is not None:
                if capability.kind != "tool_call":
                    raise InvalidArgumentError("invalid_request", "only a tool_call capability describes a tool")
                check_id("tool server", tool.server, limit)
                payload = self._limits.max_payload_bytes
                check_size("a tool description", len(tool.description.encode()), payload, "payload_too_large")
                if tool.input_schema_json:
                    check_size("an input schema", len(tool.input_schema_json.encode()), payload, "payload_too_large")
                    schema = parse_json(tool.input_schema_json, f"the input schema of tool {capability.name!r}")
                    if not isinstance(schema, dict):
                        raise InvalidArgumentError("invalid_json", "a tool's input schema must be a JSON object")
            capabilities.append(
                Capability(capability.kind, capability.name, capability.version, capability.slots, capability.tool)
            )
        return tuple(capabilities)

    def _registration(self, register: workers_pb2.WorkerRegister, send: Any) -> ConnectedWorker:
        limit = self._limits.max_id_bytes
        worker_id = check_id("worker_id", register.worker_id, limit)
        if not worker_id:
            raise InvalidArgumentError("invalid_request", "a worker needs a worker_id")
        slots = in_range("slots", register.slots, 1, _MAX_SLOTS)
        heartbeat_ms = register.heartbeat_interval_ms
        if heartbeat_ms:
            in_range("heartbeat_interval_ms", heartbeat_ms, _MIN_HEARTBEAT_MS, MAX_HEARTBEAT_MS)
        capabilities = self._capabilities(register.capabilities)
        if not capabilities:
            raise InvalidArgumentError("invalid_request", "a worker must offer at least one capability")
        for name, value in register.labels.items():
            check_id("label", name, limit)
            check_id("label value", value, limit)
        config = self._dispatcher.config
        return ConnectedWorker(
            worker_id=worker_id,
            instance_id=check_id("instance_id", register.instance_id, limit),
            capabilities=capabilities,
            labels=dict(register.labels),
            slots=slots,
            heartbeat_s=heartbeat_ms / 1000 if heartbeat_ms else config.heartbeat_interval_s,
            connected_at_ms=now_ms(),
            send=send,
            last_heartbeat_ms=now_ms(),
        )

    async def Connect(
        self, requests: AsyncIterator[workers_pb2.WorkerMessage], context: Context
    ) -> AsyncIterator[workers_pb2.ServerMessage]:
        try:
            first = await anext(requests)
        except StopAsyncIteration:
            return
        if first.WhichOneof("message") != "register":
            raise InvalidArgumentError("invalid_request", "a worker stream starts with register")
        outbox = _Outbox()
        worker = self._registration(first.register, outbox.put)
        previous = self._registry.add(worker)
        if previous is not None:
            self._dispatcher.worker_lost(previous, "the worker connected again")
            previous.send(("end", None))
        log.info("worker %s connected (%d slots)", worker.worker_id, worker.slots)
        if self._runners is not None:
            self._runners.changed()
        yield pb.ServerMessage(
            registered=pb.Registered(
                worker_id=worker.worker_id,
                heartbeat_interval_ms=int(worker.heartbeat_s * 1000),
                lease_ttl_ms=self._dispatcher.config.lease_ttl_ms,
            )
        )
        tasks: set[asyncio.Task[None]] = set()
        reader = asyncio.create_task(self._read(requests, worker, tasks))
        reader.add_done_callback(lambda _: outbox.put(("end", None)))
        stop = self._streams.stop_future()
        stop.add_done_callback(lambda _: outbox.put(("stop", None)))
        try:
            while True:
                item = await outbox.get(worker.heartbeat_s)
                if item is None:
                    yield pb.ServerMessage(heartbeat=await_events_pb2.Heartbeat(server_time_unix_ms=now_ms()))
                    continue
                if item[0] == "stop":
                    raise shutting_down()
                if item[0] == "end":
                    if reader.done() and not reader.cancelled() and reader.exception() is not None:
                        raise reader.exception()  # type: ignore[misc]
                    return
                yield _message(item)
        finally:
            self._streams.release(stop)
            reader.cancel()
            for task in list(tasks):
                task.cancel()
            self._registry.remove(worker)
            self._dispatcher.worker_lost(worker, "the worker's stream ended")
            if self._runners is not None:
                self._runners.runner_lost(worker)
            log.info("worker %s disconnected", worker.worker_id)

    async def _read(
        self,
        requests: AsyncIterator[workers_pb2.WorkerMessage],
        worker: ConnectedWorker,
        tasks: set[asyncio.Task[None]],
    ) -> None:
        dispatcher = self._dispatcher
        async for message in requests:
            dispatcher.heard_from(worker)
            which = message.WhichOneof("message")
            if which == "heartbeat":
                worker.last_heartbeat_ms = now_ms()
            elif which == "result":
                self._spawn(tasks, self._result(worker, message.result))
            elif which == "progress":
                progress = message.progress
                dispatcher.progress(worker, _key(progress.assignment), progress.value.text)
            elif which == "extend_lease":
                self._spawn(tasks, self._extend(worker, _key(message.extend_lease.assignment)))
            elif which == "credit":
                worker.slots = in_range("slots", message.credit.slots, 0, _MAX_SLOTS)
                self._registry.slots_changed()
            elif which == "drain":
                worker.draining = True
            elif which == "capabilities":
                capabilities = self._capabilities(message.capabilities.capabilities)
                self._registry.replace_capabilities(worker, capabilities)
                log.info("worker %s now offers %d capabilities", worker.worker_id, len(capabilities))
                if self._runners is not None:
                    self._runners.changed()
            else:
                raise InvalidArgumentError("invalid_request", f"unexpected worker message {which!r}")

    @staticmethod
    def _spawn(tasks: set[asyncio.Task[None]], work: Any) -> None:
        task = asyncio.create_task(work)
        tasks.add(task)
        task.add_done_callback(_finished(tasks))

    async def _result(self, worker: ConnectedWorker, result: workers_pb2.WorkerResult) -> None:
        try:
            key = _key(result.assignment)
            which = result.WhichOneof("result")
            if which == "abandoned" or which is None:
                self._dispatcher.abandoned(worker, key, result.abandoned or "no result")
                return
            if which == "rate_limited":
                limited = result.rate_limited
                retry_ms = in_range("rate_limited.retry_after_ms", limited.retry_after_ms, 1, MAX_HEARTBEAT_MS)
                reason = (
                    f"the provider's rate limit ({limited.reason})" if limited.reason else "the provider's rate limit"
                )
                self._dispatcher.abandoned(worker, key, reason, retry_ms / 1000)
                return
            if which == "outcome":
                outcome_pb = result.outcome.SerializeToString(deterministic=True)
                check_size("the outcome", len(outcome_pb), self._limits.max_payload_bytes, "payload_too_large")
                answer = await self._dispatcher.result(worker, key, outcome_pb, None)
            else:
                error = result.executor_error
                if not error.code:
                    raise InvalidArgumentError("invalid_request", "an executor error needs a code")
                answer = await self._dispatcher.result(worker, key, None, (error.code, error.message))
            worker.send(("ack", answer))
        except EffectdError as exc:
            # The worker is not told: it sends the result again after it reconnects, or the effect is
            # delivered again.
            log.warning("a result of worker %s was not recorded: %s", worker.worker_id, exc)

    async def _extend(self, worker: ConnectedWorker, key: AssignmentKey) -> None:
        try:
            expires = await self._dispatcher.extend(worker, key)
        except EffectdError as exc:
            log.warning("a lease extension of worker %s failed: %s", worker.worker_id, exc)
            return
        if expires is None:
            worker.send(("evicted", (key, "the delivery is no longer this worker's")))
        else:
            worker.send(("lease", (key, expires)))

    async def WatchProgress(
        self, request: workers_pb2.WatchProgressRequest, context: Context
    ) -> AsyncIterator[workers_pb2.WatchProgressResponse]:
        if not request.HasField("scope"):
            raise InvalidArgumentError("missing_execution_scope_id", "execution scopes require non-empty stable ids")
        scope = scope_from_proto(request.scope)
        check_ids(scope, "scope", self._limits.max_id_bytes)
        scope_json = dumps(scope)
        replay_key = check_id("replay_key", request.replay_key, self._limits.max_id_bytes)
        interval = self._streams.heartbeat_s(
            in_range("heartbeat_interval_ms", request.heartbeat_interval_ms, 0, MAX_HEARTBEAT_MS)
        )
        loop = asyncio.get_running_loop()
        feed: list[str | Recorded] = []
        arrived: list[asyncio.Future[None]] = [loop.create_future()]

        def deliver(value: str | Recorded) -> None:
            feed.append(value)
            if not arrived[0].done():
                arrived[0].set_result(None)

        stop_watching = self._dispatcher.watch(scope_json, replay_key, deliver)
        stop = self._streams.stop_future()
        sequence = 0
        try:
            recorded = await self._dispatcher.recorded(scope_json, replay_key)
            if recorded is None:  # at once: the caller knows it is following from here on
                yield pb.WatchProgressResponse(heartbeat=await_events_pb2.Heartbeat(server_time_unix_ms=now_ms()))
            while recorded is None:
                if not feed:
                    await asyncio.wait((arrived[0], stop), timeout=interval, return_when=asyncio.FIRST_COMPLETED)
                if stop.done():
                    raise shutting_down()
                if not feed:
                    # Nothing for a while: the effect may have been recorded elsewhere (a runtime, a replica).
                    recorded = await self._dispatcher.recorded(scope_json, replay_key)
                    if recorded is None:
                        yield pb.WatchProgressResponse(
                            heartbeat=await_events_pb2.Heartbeat(server_time_unix_ms=now_ms())
                        )
                    continue
                values, feed[:] = list(feed), []
                arrived[0] = loop.create_future()
                for value in values:
                    if isinstance(value, str):
                        sequence += 1
                        progress = effect_controller_pb2.EffectProgress(
                            value=scope_pb2.Json(text=value), sequence=sequence
                        )
                        yield pb.WatchProgressResponse(progress=progress)
                    else:
                        recorded = value
                        break
            if isinstance(recorded, RecordedError):
                yield pb.WatchProgressResponse(
                    executor_error=effect_controller_pb2.RecordedError(
                        error=controller_error_to_proto(recorded.error), replayed=True
                    )
                )
            else:
                yield pb.WatchProgressResponse(
                    outcome=effect_controller_pb2.RecordedOutcome(
                        outcome=outcome_to_proto(recorded.outcome), replayed=True
                    )
                )
        finally:
            stop_watching()
            self._streams.release(stop)

    def _worker(self, worker_id: str) -> ConnectedWorker:
        worker = self._registry.workers.get(worker_id)
        if worker is None:
            raise NotFoundError("worker_unknown", f"no connected worker {worker_id!r}")
        return worker

    async def ListWorkers(self, request: workers_pb2.ListWorkersRequest, context: Context) -> Any:
        workers = sorted(self._registry.workers.values(), key=lambda w: w.worker_id)
        return pb.ListWorkersResponse(workers=[worker_info_to_proto(worker_info(w)) for w in workers])

    async def DescribeWorker(self, request: workers_pb2.DescribeWorkerRequest, context: Context) -> Any:
        worker = self._worker(check_id("worker_id", request.worker_id, self._limits.max_id_bytes))
        return pb.DescribeWorkerResponse(worker=worker_info_to_proto(worker_info(worker)))

    async def DrainWorker(self, request: workers_pb2.DrainWorkerRequest, context: Context) -> Any:
        worker = self._worker(check_id("worker_id", request.worker_id, self._limits.max_id_bytes))
        worker.draining = True
        worker.send(("drain", None))
        return pb.DrainWorkerResponse(worker=worker_info_to_proto(worker_info(worker)))
