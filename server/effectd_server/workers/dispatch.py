"""Delivering delegated effects to workers and recording their results once. Knows nothing of gRPC.

One delivery: take a slot on a worker (registry), claim the journal row for it with the next fencing
token (store), push the assignment, wait. The wait ends with the recorded answer, or with the delivery
lost: the worker's stream ended or went silent (two missed heartbeats: at once), its lease ran out, or it
gave the effect up. A lost delivery goes to another worker with the next token, until the redelivery
budget is spent (`worker_redelivery_exhausted`, nothing recorded). A result is recorded by
compare-and-set on its token; a stale one is answered with what the journal holds, and its worker is
told it was evicted.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from effectd._convert_envelope import envelope_from_proto
from effectd._effects import (
    ControllerError,
    DirectCommand,
    DirectOutcome,
    DurableStepCommand,
    LlmCallCommand,
    LlmCallOutcome,
    ResultOk,
    RuntimeEffectEnvelope,
    ToolCallCommand,
)
from effectd._errors import ConflictError, EffectdError, LeaseLostError, NotFoundError
from effectd._journal import RecordedError, RecordedOutcome
from effectd.v1 import envelope_pb2

from effectd_server.config import WorkersConfig
from effectd_server.edge.tracing import current_trace_context
from effectd_server.journal.core import Journal, Recorded, decode_outcome, now_ms
from effectd_server.journal.executors import DelegatedCall, DelegateOptions
from effectd_server.store.journal import EffectRow
from effectd_server.store.workers import Delivery, DeliveryClaim, EffectOffered, ProgressAnnounced, WorkersStore
from effectd_server.workers.limits import Limits, tokens_used
from effectd_server.workers.registry import (
    AssignmentKey,
    Capability,
    ConnectedWorker,
    Match,
    Registry,
    no_worker_available,
)

__all__ = ["Assignment", "Dispatcher", "Lost", "ResultAnswer", "Revoked", "envelope_match", "recorded_of"]

log = logging.getLogger("effectd.workers")


def envelope_match(envelope: RuntimeEffectEnvelope, capability: str = "", version: str = "") -> Match:
    """What a worker must offer to run `envelope`: its kind and the name read from its command."""
    command = envelope.command
    name = capability
    if not name:
        if isinstance(command, ToolCallCommand):
            name = command.call.tool_name
        elif isinstance(command, DurableStepCommand):
            name = command.step_id
        elif isinstance(command, LlmCallCommand | DirectCommand) and isinstance(command.request, dict):
            model = command.request.get("model")
            provider = command.request.get("provider")
            if isinstance(model, str):
                name = f"{provider}/{model}" if isinstance(provider, str) and provider else model
    return Match(command.kind.value, name, version)


def recorded_of(row: EffectRow, replayed: bool) -> Recorded:
    if row.status == "completed":
        return RecordedOutcome(decode_outcome(row.outcome_pb or b""), replayed)
    error = json.loads(row.error_json or "{}")
    return RecordedError(ControllerError(str(error.get("code", "")), str(error.get("message", ""))), replayed)


def _options_json(options: DelegateOptions | None) -> str:
    if options is None:
        return "null"
    return json.dumps(
        {
            "capability": options.capability,
            "version": options.version,
            "labels": [list(pair) for pair in options.required_labels],
            "schedule_ms": options.schedule_to_start_timeout_ms,
        }
    )


def _options_from_json(text: str) -> DelegateOptions | None:
    value = json.loads(text)
    if not isinstance(value, dict):
        return None
    return DelegateOptions(
        capability=str(value.get("capability", "")),
        version=str(value.get("version", "")),
        required_labels=tuple((str(k), str(v)) for k, v in value.get("labels", [])),
        schedule_to_start_timeout_ms=int(value.get("schedule_ms", 0)),
    )


def _llm_tokens(answer: object) -> int:
    """The LLM tokens a fresh llm_call or direct outcome reports (0 for anything else)."""
    if isinstance(answer, RecordedOutcome) and not answer.replayed:
        outcome = answer.outcome
        if isinstance(outcome, LlmCallOutcome | DirectOutcome) and isinstance(outcome.result, ResultOk):
            return tokens_used(outcome.result.value)
    return 0


@dataclass(frozen=True, slots=True)
class Lost:
    """A delivery that ended without a result: the effect goes to another worker."""

    reason: str
    retry_after_s: float = 0.0
    """A provider's rate limit: the capability pauses this long, and the next delivery is not counted."""


@dataclass(frozen=True, slots=True)
class Revoked:
    """The effect's session was revoked while a worker ran it: the worker is told to stop."""


@dataclass(frozen=True, slots=True)
class Assignment:
    key: AssignmentKey
    envelope_pb: bytes
    attempt: int
    lease_deadline_ms: int
    trace_context: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class ResultAnswer:
    """The answer to a worker's result: recorded, or what the journal holds (None: nothing yet)."""

    key: AssignmentKey
    recorded: bool
    existing: Recorded | None


@dataclass(eq=False, slots=True)
class _Delivery:
    key: AssignmentKey
    worker: ConnectedWorker
    capability: Capability
    call: DelegatedCall
    lease_deadline: float
    """Monotonic time the lease runs out (moved on by progress and extensions)."""
    answer: asyncio.Future[Recorded | Lost | Revoked] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    def end(self, value: Recorded | Lost | Revoked) -> None:
        if not self.answer.done():
            self.answer.set_result(value)


class Dispatcher:
    def __init__(self, store: WorkersStore, journal: Journal, registry: Registry, config: WorkersConfig) -> None:
        self._store = store
        self._journal = journal
        self.registry = registry
        self.config = config
        self.limits = Limits(config.limits)
        self._offers: set[asyncio.Task[None]] = set()
        self._flushes: dict[tuple[str, str], Callable[[], Awaitable[None]]] = {}
        self._watchers: dict[tuple[str, str], list[Callable[[str | Recorded], None]]] = {}
        """Callers following an effect's progress (WatchProgress), by (scope_json, replay_key)."""
        self._sweeper: asyncio.Task[None] | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="effectd-workers-liveness")

    async def stop(self) -> None:
        for task in list(self._offers):
            task.cancel()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper

    async def _sweep_forever(self) -> None:
        """Stream liveness: a worker silent for two heartbeat intervals is dead; its deliveries move at once."""
        while True:
            await asyncio.sleep(min(0.1, self.config.heartbeat_interval_s / 4))
            now = time.monotonic()
            for worker in list(self.registry.workers.values()):
                if worker.alive and now - worker.last_heard > 2 * worker.heartbeat_s:
                    log.warning("worker %s missed its heartbeats: its effects go to other workers", worker.worker_id)
                    self.worker_lost(worker, "the worker missed its heartbeats")

    def worker_lost(self, worker: ConnectedWorker, reason: str) -> None:
        """The worker's stream ended or went silent: every delivery it holds is lost."""
        worker.alive = False
        for delivery in list(worker.in_flight.values()):
            delivery.end(Lost(reason))

    def session_revoked(self, session_id: str) -> None:
        """Stop every delegated effect of a revoked session: its worker gets Cancel, nothing is recorded."""
        for worker in list(self.registry.workers.values()):
            for delivery in list(worker.in_flight.values()):
                if delivery.call.envelope.invocation.scope.session_id == session_id:
                    delivery.end(Revoked())

    def heard_from(self, worker: ConnectedWorker) -> None:
        worker.last_heard = time.monotonic()
        if not worker.alive and self.registry.workers.get(worker.worker_id) is worker:
            # Back after a pause: what it held went elsewhere; it may take new work.
            worker.alive = True
            self.registry.slots_changed()

    # -- the journal's side ---------------------------------------------------------------------
    async def run(self, call: DelegatedCall, *, offered: bool = False) -> Recorded | None:
        """Deliver the effect to a worker here and answer what was journaled. An effect no worker here
        offers goes to the other replicas' workers when the store is shared. `offered`: another replica's
        effect taken here; None when someone else holds it already."""
        options = call.options
        match = envelope_match(call.envelope, options.capability if options else "", options.version if options else "")
        if options is not None and options.required_labels:
            match = Match(match.kind, match.name, match.version, options.required_labels)
        schedule_s = (
            options.schedule_to_start_timeout_ms / 1000
            if options is not None and options.schedule_to_start_timeout_ms
            else self.config.schedule_to_start_timeout_s
        )
        session = call.envelope.invocation.scope.session_id
        affinity = options is not None and options.session_affinity
        lost: tuple[str, int] | None = None
        """The worker and token of the delivery just lost: the next one takes over from it."""
        if self._store.shared and not offered and not self.registry.offers(match):
            return await self._run_elsewhere(call, match, options, schedule_s)
        admission = await self.limits.admit(match, session, schedule_s)
        counted = True
        answer: Recorded | Lost | Revoked | None = None
        try:
            while True:
                await self.limits.unpaused(match, asyncio.get_running_loop().time() + schedule_s)
                preferred = self.registry.last_worker_of_session.get(session) if affinity else None
                # A redelivery never waits for the worker it lost (hard affinity is for healthy workers).
                hard = affinity and options is not None and options.hard_affinity and lost is None
                worker, capability = await self.registry.acquire(
                    match, schedule_s, preferred, redelivery=lost is not None, hard=hard
                )
                try:
                    claim = DeliveryClaim(
                        call.scope_json,
                        call.replay_key,
                        call.envelope_hash,
                        match.kind,
                        call.envelope_pb,
                        worker.worker_id,
                        self.config.lease_ttl_ms,
                        None if lost is None else lost[1],
                        counted,
                    )
                    delivery = await self._store.claim_delivery(claim, now_ms())
                except BaseException:
                    self._give_back(worker, capability)
                    raise
                if delivery.status != "assigned":
                    self._give_back(worker, capability)
                    lost = None  # another delivery took over: nothing of ours to give up
                    row = delivery.row
                    if delivery.status == "recorded" and row is not None:
                        return recorded_of(row, replayed=True)
                    if delivery.status == "conflict" and row is not None:
                        raise ConflictError(
                            "effect_replay_hash_conflict",
                            f"runtime effect replay key {call.replay_key!r} in scope {call.scope_json} was reused"
                            f" with a different envelope hash: recorded {row.envelope_hash}, new {call.envelope_hash}",
                        )
                    if offered:
                        return None  # another replica's worker has it
                    # Someone else holds it (another runtime's delivery, a replica's redelivery): wait for it.
                    if row is not None:
                        await self._journal.wait_for_holder(row)
                    continue
                lost = (worker.worker_id, delivery.fencing_token)
                if delivery.deliveries > 1 + self.config.max_redeliveries:
                    self._give_back(worker, capability)
                    raise LeaseLostError(
                        "worker_redelivery_exhausted",
                        f"replay key {call.replay_key!r} was delivered {delivery.deliveries - 1} times and every"
                        " worker died or lost it; nothing was recorded",
                    )
                if affinity:
                    self.registry.last_worker_of_session[session] = worker.worker_id
                answer = delivered = await self._deliver(
                    call, worker, capability, delivery.fencing_token, delivery.fencing_token
                )
                if isinstance(delivered, Revoked):
                    raise ConflictError(
                        "effect_session_revoked",
                        f"session {session!r} was revoked while a worker ran replay key {call.replay_key!r};"
                        " nothing was recorded",
                    )
                if isinstance(delivered, Lost):
                    log.info("replay key %r lost on worker %s: %s", call.replay_key, worker.worker_id, delivered.reason)
                    counted = not delivered.retry_after_s
                    if delivered.retry_after_s:
                        self.limits.pause(match, delivered.retry_after_s)
                    continue
                lost = None
                return delivered
        except BaseException:
            # Not recorded (no worker, budget spent, the runtime went away): give the row's lease up so
            # that a retry claims it at once instead of waiting for it to expire.
            if lost is not None:
                with contextlib.suppress(EffectdError, asyncio.CancelledError):
                    await asyncio.shield(self._release(lost[0], lost[1], call.scope_json, call.replay_key))
            raise
        finally:
            self.limits.release(admission, _llm_tokens(answer))

    async def _run_elsewhere(
        self, call: DelegatedCall, match: Match, options: DelegateOptions | None, schedule_s: float
    ) -> Recorded:
        """Offer the effect to the other replicas (their workers claim it in the journal row) and wait for
        its record; `no_worker_available` when nobody claimed it within the schedule-to-start timeout."""
        claim = DeliveryClaim(
            call.scope_json, call.replay_key, call.envelope_hash, match.kind, call.envelope_pb, "", 0, None
        )
        offered = await self._store.offer_effect(claim, _options_json(options), now_ms())
        row = offered.row
        if offered.status == "recorded" and row is not None:
            return recorded_of(row, replayed=True)
        if offered.status == "conflict" and row is not None:
            raise ConflictError(
                "effect_replay_hash_conflict",
                f"runtime effect replay key {call.replay_key!r} in scope {call.scope_json} was reused"
                f" with a different envelope hash: recorded {row.envelope_hash}, new {call.envelope_hash}",
            )
        progress = call.progress
        stop_watching = None
        if progress is not None:
            # The worker's replica forwards its live progress (notifications), in order.
            stop_watching = self.watch(
                call.scope_json, call.replay_key, lambda value: progress(value) if isinstance(value, str) else None
            )
        try:
            return await self._wait_elsewhere(call, match, offered, schedule_s)
        finally:
            if stop_watching is not None:
                stop_watching()

    async def _wait_elsewhere(
        self, call: DelegatedCall, match: Match, offered: Delivery, schedule_s: float
    ) -> Recorded:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + schedule_s
        while True:
            row = await self._journal.store.get_effect(call.scope_json, call.replay_key)
            if row is None:
                raise no_worker_available(f"the journal row of {call.replay_key!r} is gone")
            if row.status != "in_progress":
                return recorded_of(row, replayed=False)
            if row.lease_token is not None and row.lease_expires_at_ms > now_ms():
                await self._journal.wait_for_holder(row)  # a worker elsewhere has it: woken when it records
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                if (
                    offered.status == "assigned"
                    and offered.row is not None
                    and offered.row.created_at_ms == row.created_at_ms
                ):
                    await self._store.withdraw_offer(call.scope_json, call.replay_key)  # it stays unjournaled
                raise no_worker_available(f"no worker on any replica took {match.describe()} within {schedule_s:g} s")
            # Nobody has it yet: look again soon (a claim is not announced, a record is).
            await self._journal.wait_for_holder(
                dataclasses.replace(row, lease_expires_at_ms=now_ms() + int(min(remaining, 0.25) * 1000))
            )

    def on_store_event(self, event: object) -> None:
        """Another replica offers an effect (take it if a worker here runs it), or tells the live progress
        of one it took for a runtime here."""
        if isinstance(event, EffectOffered):
            self._own(self._take_offer(event))
        elif isinstance(event, ProgressAnnounced):
            self._tell_watchers(AssignmentKey(event.scope_json, event.replay_key, 0), event.value_json)

    def _own(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._offers.add(task)
        task.add_done_callback(self._offers.discard)

    def _announcer(self, scope_json: str, replay_key: str) -> Callable[[str], None]:
        """Send an offered effect's live progress to the replica that offered it, in order; its result is
        recorded (and announced) only after the progress before it was sent (`result` flushes)."""
        pending: collections.deque[str] = collections.deque()
        sending: list[asyncio.Task[None]] = []

        async def drain() -> None:
            while pending:
                try:
                    await self._store.announce_progress(scope_json, replay_key, pending.popleft())
                except EffectdError as exc:
                    log.info("live progress of %r was not forwarded: %s", replay_key, exc)

        def announce(value_json: str) -> None:
            pending.append(value_json)
            if not sending or sending[0].done():
                sending[:] = [asyncio.get_running_loop().create_task(drain())]
                self._offers.add(sending[0])
                sending[0].add_done_callback(self._offers.discard)

        async def flush() -> None:
            if sending and not sending[0].done():
                await asyncio.shield(sending[0])

        self._flushes[(scope_json, replay_key)] = flush
        return announce

    async def _take_offer(self, event: EffectOffered) -> None:
        row = await self._journal.store.get_effect(event.scope_json, event.replay_key)
        if row is None or row.status != "in_progress" or row.lease_token is not None:
            return
        envelope = envelope_from_proto(envelope_pb2.RuntimeEffectEnvelope.FromString(row.envelope_pb))
        options = _options_from_json(event.options_json)
        capability = options.capability if options else ""
        if not self.registry.offers(envelope_match(envelope, capability, options.version if options else "")):
            return
        announce = self._announcer(event.scope_json, event.replay_key)
        call = DelegatedCall(
            event.scope_json, event.replay_key, row.envelope_hash, envelope, row.envelope_pb, options, announce
        )
        try:
            await self.run(call, offered=True)
        except EffectdError as exc:
            log.info("an offered effect %r did not run here: %s", event.replay_key, exc)
        finally:
            self._flushes.pop((event.scope_json, event.replay_key), None)

    async def _deliver(
        self, call: DelegatedCall, worker: ConnectedWorker, capability: Capability, token: int, attempt: int
    ) -> Recorded | Lost | Revoked:
        key = AssignmentKey(call.scope_json, call.replay_key, token)
        ttl_s = self.config.lease_ttl_ms / 1000
        delivery = _Delivery(key, worker, capability, call, time.monotonic() + ttl_s)
        worker.in_flight[(call.scope_json, call.replay_key)] = delivery
        assignment = Assignment(
            key, call.envelope_pb, attempt, now_ms() + self.config.lease_ttl_ms, current_trace_context()
        )
        worker.send(("assign", assignment))
        if not worker.alive:
            delivery.end(Lost("the worker was lost"))
        try:
            answer = await self._wait(delivery)
        except BaseException:
            # The runtime went away (its Execute was cancelled): the worker is told to stop; the caller
            # gives the delivery up by compare-and-set, so its result can no longer be recorded.
            if not delivery.answer.done():
                worker.send(("cancel", (key, "the runtime cancelled the effect")))
            raise
        finally:
            self._forget(delivery)
        if isinstance(answer, Lost) and worker.alive:
            worker.send(("evicted", (key, answer.reason)))
        elif isinstance(answer, Revoked):
            worker.send(("cancel", (key, "the session was revoked")))
        return answer

    async def _release(self, worker_id: str, fencing_token: int, scope_json: str, replay_key: str) -> None:
        if await self._store.release_delivery(scope_json, replay_key, worker_id, fencing_token, now_ms()):
            self._journal.finished(scope_json, replay_key)

    async def _wait(self, delivery: _Delivery) -> Recorded | Lost | Revoked:
        """The delivery's answer, or Lost once its lease runs out (one timer, moved on lazily)."""
        loop = asyncio.get_running_loop()
        timer: list[asyncio.TimerHandle] = []

        def check() -> None:
            remaining = delivery.lease_deadline - time.monotonic()
            if remaining <= 0:
                delivery.end(Lost("the lease expired"))
            else:
                timer[0] = loop.call_later(remaining, check)

        timer.append(loop.call_later(max(0.0, delivery.lease_deadline - time.monotonic()), check))
        try:
            return await asyncio.shield(delivery.answer)
        finally:
            timer[0].cancel()

    def _forget(self, delivery: _Delivery) -> None:
        worker = delivery.worker
        slot = (delivery.key.scope_json, delivery.key.replay_key)
        if worker.in_flight.get(slot) is delivery:
            del worker.in_flight[slot]
            self._give_back(worker, delivery.capability)

    def _give_back(self, worker: ConnectedWorker, capability: Capability) -> None:
        worker.give_back(capability)
        self.registry.slots_changed()

    # -- the worker's side ----------------------------------------------------------------------
    def _delivery(self, worker: ConnectedWorker, key: AssignmentKey) -> _Delivery | None:
        delivery = worker.in_flight.get((key.scope_json, key.replay_key))
        if isinstance(delivery, _Delivery) and delivery.key.fencing_token == key.fencing_token:
            return delivery
        return None

    async def result(
        self, worker: ConnectedWorker, key: AssignmentKey, outcome_pb: bytes | None, error: tuple[str, str] | None
    ) -> ResultAnswer:
        """Record a worker's result by compare-and-set on its token."""
        error_json = None if error is None else json.dumps({"code": error[0], "message": error[1]})
        flush = self._flushes.get((key.scope_json, key.replay_key))
        if flush is not None:
            await flush()  # the offering replica hears the progress before the record
        recording = await self._store.record_result(
            key.scope_json, key.replay_key, worker.worker_id, key.fencing_token, outcome_pb, error_json, now_ms()
        )
        delivery = self._delivery(worker, key)
        row = recording.row
        if recording.recorded and row is not None:
            worker.completed += 1
            self._journal.finished(key.scope_json, key.replay_key)
            if self._watchers:
                self._tell_watchers(key, recorded_of(row, replayed=True))
            if delivery is not None:
                delivery.end(recorded_of(row, replayed=False))
            return ResultAnswer(key, True, None)
        if delivery is not None:
            delivery.end(Lost("its result came too late"))
        else:
            worker.send(("evicted", (key, "the effect was delivered to another worker or given up")))
        existing = None if row is None or row.status == "in_progress" else recorded_of(row, replayed=True)
        return ResultAnswer(key, False, existing)

    def abandoned(self, worker: ConnectedWorker, key: AssignmentKey, reason: str, retry_after_s: float = 0.0) -> None:
        """The worker gave the delivery up (or the provider rate-limited it): it goes out again."""
        delivery = self._delivery(worker, key)
        if delivery is not None:
            delivery.end(Lost(f"the worker gave it up: {reason}", retry_after_s))

    def progress(self, worker: ConnectedWorker, key: AssignmentKey, value_json: str) -> None:
        """Live progress: to the waiting runtime and to watchers, in order; it also keeps the delivery's
        lease alive here."""
        delivery = self._delivery(worker, key)
        if delivery is None:
            return
        delivery.lease_deadline = max(delivery.lease_deadline, time.monotonic() + self.config.lease_ttl_ms / 1000)
        if delivery.call.progress is not None:
            delivery.call.progress(value_json)
        self._tell_watchers(key, value_json)

    def watch(self, scope_json: str, replay_key: str, deliver: Callable[[str | Recorded], None]) -> Callable[[], None]:
        """Follow an effect: `deliver` gets each progress value (JSON text), then the record; returns the
        function that stops it."""
        slot = (scope_json, replay_key)
        self._watchers.setdefault(slot, []).append(deliver)

        def stop() -> None:
            watchers = self._watchers.get(slot)
            if watchers is not None and deliver in watchers:
                watchers.remove(deliver)
                if not watchers:
                    del self._watchers[slot]

        return stop

    def _tell_watchers(self, key: AssignmentKey, value: str | Recorded) -> None:
        for deliver in list(self._watchers.get((key.scope_json, key.replay_key), ())):
            deliver(value)

    async def recorded(self, scope_json: str, replay_key: str) -> Recorded | None:
        """The effect's record; None while it runs; effect_not_found when it never ran."""
        row = await self._journal.store.get_effect(scope_json, replay_key)
        if row is None:
            raise NotFoundError("effect_not_found", f"no journaled effect with replay key {replay_key!r}")
        return None if row.status == "in_progress" else recorded_of(row, replayed=True)

    async def extend(self, worker: ConnectedWorker, key: AssignmentKey) -> int | None:
        """Extend a delivery's lease in the journal row; None when it is no longer this worker's."""
        delivery = self._delivery(worker, key)
        if delivery is None:
            return None
        expires = await self._store.extend_delivery(
            key.scope_json, key.replay_key, worker.worker_id, key.fencing_token, self.config.lease_ttl_ms, now_ms()
        )
        if expires is not None:
            delivery.lease_deadline = max(delivery.lease_deadline, time.monotonic() + self.config.lease_ttl_ms / 1000)
        return expires
