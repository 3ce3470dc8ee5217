"""The process registry core: lash's `ProcessRegistry` trait (SEED-SPEC §3.6) over the processes store.
Knows nothing of gRPC; answers domain records, never store rows.

The event log is the source of truth: a record's status is the projection of its keyed terminal
events, written in the same transaction as the event. Waiting (`wait_event_after`, `await_process`) is
push: a waiter subscribes before it reads the store, and every committed change of a process wakes its
waiters here (and, through the store's listener, on other replicas), so no wake-up is lost.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from effectd._convert_process import (
    process_event_from_proto,
    process_event_to_proto,
    process_record_from_proto,
    process_record_to_proto,
)
from effectd._errors import InvalidArgumentError
from effectd._lashjson import JsonValue, dumps
from effectd._process import (
    PROCESS_LEASE_SCHEMA_VERSION,
    ProcessAwaitOutput,
    ProcessEvent,
    ProcessEventAppendRequest,
    ProcessEventAppendResult,
    ProcessExternalRef,
    ProcessHandleDescriptor,
    ProcessHandleGrant,
    ProcessHandleGrantEntry,
    ProcessLease,
    ProcessLeaseCompletion,
    ProcessListFilter,
    ProcessRecord,
    ProcessRegistration,
    ProcessSessionDeleteReport,
    ProcessStatusFilter,
    SessionScope,
    WaitState,
    cancel_requested_request,
)
from effectd.v1 import process_pb2

from effectd_server.processes import rules
from effectd_server.store import ListenerResumed
from effectd_server.store.processes import (
    AppendContext,
    AppendPlan,
    AppendWrite,
    DeletedGrant,
    EventRow,
    GrantRow,
    LeaseRow,
    ProcessChanged,
    ProcessesStore,
    ProcessRow,
)

__all__ = ["AppendOutcome", "OrphanPolicy", "ProcessRegistryCore", "SignalOutcome", "now_ms"]


def now_ms() -> int:
    return int(time.time() * 1000)


class OrphanPolicy(enum.StrEnum):
    """What deleting a session does to the processes it leaves without any grant."""

    KEEP = "keep"
    """lash's behaviour: they keep running; the report lists them as orphaned."""
    CANCEL = "cancel"
    """Each gets a keyed `process.cancel_requested`, in the same transaction as the deletion."""


@dataclass(frozen=True, slots=True)
class AppendOutcome:
    result: ProcessEventAppendResult
    replayed: bool
    """The request's replay key already held this event: nothing was appended."""


@dataclass(frozen=True, slots=True)
class SignalOutcome:
    event: ProcessEvent
    replayed: bool
    delivery: rules.SignalDelivery | None
    """The await-event key of the signal event's own ordinal, with `ok(payload)`; for a replayed signal,
    the key its first append resolved (the event is the original one)."""


# -- conversions between rows and domain records -----------------------------------------------------


def _encode_record(record: ProcessRecord) -> bytes:
    return process_record_to_proto(record).SerializeToString(deterministic=True)


def _decode_record(row: ProcessRow) -> ProcessRecord:
    return process_record_from_proto(process_pb2.ProcessRecord.FromString(row.record_pb))


def _record_row(record: ProcessRecord) -> ProcessRow:
    return ProcessRow(
        process_id=record.id,
        registration_hash=record.registration_hash,
        status=rules.status_name(record.status),
        waiting=record.wait is not None,
        record_pb=_encode_record(record),
        created_at_ms=record.created_at_ms,
        updated_at_ms=record.updated_at_ms,
    )


def _decode_event(row: EventRow) -> ProcessEvent:
    return process_event_from_proto(process_pb2.ProcessEvent.FromString(row.event_pb))


def _event_row(event: ProcessEvent, payload_hash: str) -> EventRow:
    return EventRow(
        process_id=event.process_id,
        sequence=event.sequence,
        event_type=event.event_type,
        payload_hash=payload_hash,
        replay_key=event.invocation.replay_key,
        has_wake=event.semantics.wake is not None,
        occurred_at_ms=event.occurred_at.ms,
        event_pb=process_event_to_proto(event).SerializeToString(deterministic=True),
    )


def _descriptor_json(descriptor: ProcessHandleDescriptor) -> str:
    return dumps(descriptor)


def _grant(row: GrantRow) -> ProcessHandleGrant:
    fields = json.loads(row.descriptor_json)
    return ProcessHandleGrant(
        session_id=row.session_id,
        process_id=row.process_id,
        descriptor=ProcessHandleDescriptor(kind=fields.get("kind"), label=fields.get("label")),
    )


def _lease_from_row(row: LeaseRow) -> ProcessLease:
    return ProcessLease(
        schema_version=PROCESS_LEASE_SCHEMA_VERSION,
        process_id=row.process_id,
        owner_id=row.owner_id or "",
        lease_token=row.lease_token or "",
        fencing_token=row.fencing_token,
        claimed_at_epoch_ms=row.claimed_at_ms,
        expires_at_epoch_ms=row.expires_at_ms,
    )


def _lease_row(lease: ProcessLease) -> LeaseRow:
    return LeaseRow(
        process_id=lease.process_id,
        owner_id=lease.owner_id,
        lease_token=lease.lease_token,
        fencing_token=lease.fencing_token,
        claimed_at_ms=lease.claimed_at_epoch_ms,
        expires_at_ms=lease.expires_at_epoch_ms,
    )


def _lease(row: LeaseRow | None) -> ProcessLease | None:
    """The held lease of a row (None when there is no row or the lease was released)."""
    if row is None or row.owner_id is None or row.lease_token is None:
        return None
    return _lease_from_row(row)


_U64_MAX = 2**64 - 1
_I64_MAX = 2**63 - 1


def _check_count(value: int, what: str) -> None:
    """lash's u64 arguments: a non-negative integer that fits 64 bits."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _U64_MAX:
        raise InvalidArgumentError("invalid_request", f"{what} must be an integer in [0, 2^64-1], got {value!r}")


def _ttl(ttl_ms: int, now: int) -> int:
    """A lease TTL whose expiry saturates (as lash's `saturating_add`) at what the store can hold."""
    _check_count(ttl_ms, "lease_ttl_ms")
    return min(ttl_ms, _I64_MAX - now)


class _Waiters:
    """Futures of callers waiting on a process, woken on any committed change of it."""

    def __init__(self) -> None:
        self._waiting: dict[str, set[asyncio.Future[None]]] = {}

    def subscribe(self, process_id: str) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(process_id, set()).add(future)
        return future

    def forget(self, process_id: str, future: asyncio.Future[None]) -> None:
        waiting = self._waiting.get(process_id)
        if waiting is not None:
            waiting.discard(future)
            if not waiting:
                del self._waiting[process_id]
        if not future.done():
            future.cancel()

    def wake(self, process_id: str) -> None:
        for future in self._waiting.pop(process_id, ()):
            if not future.done():
                future.set_result(None)

    def wake_all(self) -> None:
        for process_id in list(self._waiting):
            self.wake(process_id)

    def __len__(self) -> int:
        return sum(len(w) for w in self._waiting.values())


class ProcessRegistryCore:
    """lash's `ProcessRegistry`, durable: every method of the trait, lash's semantics and error texts."""

    def __init__(self, store: ProcessesStore, *, clock: Callable[[], int] = now_ms) -> None:
        self.store = store
        self._clock = clock
        self._waiters = _Waiters()

    def on_store_event(self, event: object) -> None:
        """A change another replica committed: wake this replica's waiters of that process."""
        if isinstance(event, ProcessChanged):
            self._waiters.wake(event.process_id)
        elif isinstance(event, ListenerResumed):
            self._waiters.wake_all()

    @property
    def waiting(self) -> int:
        """How many callers wait here (wait_event_after, await_process)."""
        return len(self._waiters)

    # -- registration and records ----------------------------------------------------------------
    async def register_process(self, registration: ProcessRegistration) -> ProcessRecord:
        """Idempotent by id and registration hash: the same registration answers the stored record,
        another one under the same id fails naming both hashes."""
        prepared, registration_hash = rules.prepare_registration(registration)
        record = rules.new_record(prepared, registration_hash, self._clock())
        stored, inserted = await self.store.insert_process(_record_row(record))
        if inserted:
            return record
        return rules.register_decision(_decode_record(stored), registration_hash)

    async def get_process(self, process_id: str) -> ProcessRecord | None:
        row = await self.store.get_process(process_id)
        return None if row is None else _decode_record(row)

    async def _require(self, process_id: str) -> ProcessRecord:
        record = await self.get_process(process_id)
        if record is None:
            raise rules.unknown_process(process_id)
        return record

    async def list_processes(self, filter: ProcessListFilter | None = None) -> list[ProcessRecord]:
        """Records matching the filter's status (default running), definition and wait facet, by id."""
        filter = filter or ProcessListFilter()
        status = None if filter.status is ProcessStatusFilter.ANY else filter.status.value
        rows = await self.store.list_processes(status, filter.waiting)
        records = [_decode_record(row) for row in rows]
        return [record for record in records if filter.matches_record(record)]

    async def list_non_terminal(self) -> list[ProcessRecord]:
        """The recovery worklist: every running process, by id."""
        return [_decode_record(row) for row in await self.store.list_processes("running", None)]

    async def _change(self, process_id: str, change: Callable[[ProcessRecord], ProcessRecord | None]) -> ProcessRecord:
        def run(row: ProcessRow) -> ProcessRow | None:
            changed = change(_decode_record(row))
            return None if changed is None else _record_row(changed)

        row = await self.store.update_process(process_id, run)
        if row is None:
            raise rules.unknown_process(process_id)
        self._waiters.wake(process_id)
        return _decode_record(row)

    async def set_external_ref(self, process_id: str, external_ref: ProcessExternalRef) -> ProcessRecord:
        now = self._clock()
        return await self._change(
            process_id, lambda r: dataclasses.replace(r, external_ref=external_ref, updated_at_ms=now)
        )

    async def set_process_wait(self, process_id: str, wait: WaitState) -> ProcessRecord:
        """Enter a wait state; a terminal process cannot."""
        now = self._clock()

        def change(record: ProcessRecord) -> ProcessRecord:
            rules.set_wait_check(record)
            return dataclasses.replace(record, wait=wait, updated_at_ms=now)

        return await self._change(process_id, change)

    async def clear_process_wait(self, process_id: str) -> ProcessRecord:
        now = self._clock()
        return await self._change(process_id, lambda r: dataclasses.replace(r, wait=None, updated_at_ms=now))

    # -- handle grants ---------------------------------------------------------------------------
    async def grant_handle(
        self, session_scope: SessionScope, process_id: str, descriptor: ProcessHandleDescriptor | None = None
    ) -> ProcessHandleGrant:
        """Grant (or re-grant, replacing the descriptor) a session scope the handle of a process."""
        descriptor = descriptor or ProcessHandleDescriptor()
        row = GrantRow(session_scope.id, session_scope.session_id, process_id, _descriptor_json(descriptor))
        if not await self.store.put_grant(row):
            raise rules.unknown_process(process_id)
        return ProcessHandleGrant(session_scope.session_id, process_id, descriptor)

    async def revoke_handle(self, session_scope: SessionScope, process_id: str) -> None:
        """Remove a grant; nothing happens when there is none."""
        await self.store.delete_grant(session_scope.id, process_id)

    async def transfer_handle_grants(
        self, from_scope: SessionScope, to_scope: SessionScope, process_ids: Sequence[str]
    ) -> None:
        """Move grants (with their descriptors) to another scope; appends no events. All or nothing: a
        process not granted to `from_scope` fails the transfer and moves none (as lash's SQLite store)."""
        missing = await self.store.transfer_grants(from_scope.id, to_scope.id, to_scope.session_id, process_ids)
        if missing is not None:
            raise rules.handle_not_granted(missing, from_scope.session_id)

    async def list_handle_grants(self, session_scope: SessionScope) -> list[ProcessHandleGrantEntry]:
        """The grants of exactly this scope with their records (dangling grants dropped), by process id."""
        rows = await self.store.grants_of_scope(session_scope.id)
        return [(_grant(grant), _decode_record(process)) for grant, process in rows]

    async def list_live_handle_grants(self, session_scope: SessionScope) -> list[ProcessHandleGrantEntry]:
        """The same without terminal processes."""
        rows = await self.store.grants_of_scope(session_scope.id)
        return [(_grant(grant), _decode_record(process)) for grant, process in rows if process.status == "running"]

    async def has_handle_grant(self, session_scope: SessionScope, process_id: str) -> bool:
        return await self.store.has_grant(session_scope.id, process_id)

    async def handle_grants_for_process(self, process_id: str) -> list[ProcessHandleGrant]:
        """Every grant of a process across scopes, by session id."""
        rows = await self.store.grants_of_process(process_id)
        if rows is None:
            raise rules.unknown_process(process_id)
        return [_grant(row) for row in rows]

    async def delete_session_process_state(
        self, session_id: str, orphans: OrphanPolicy = OrphanPolicy.KEEP
    ) -> ProcessSessionDeleteReport:
        """Remove every grant of the session (all its frames). The report counts them and lists the running
        processes left without any grant (orphaned) and those still granted elsewhere (preserved).
        Wake acks are process-scoped and kept. With `OrphanPolicy.CANCEL` each orphan gets
        `process.cancel_requested` (reason `session {id} deleted`) in the same transaction."""
        now = self._clock()
        reason = f"session `{session_id}` deleted"
        cancelled: set[str] = set()

        def orphan_plan(item: DeletedGrant) -> AppendPlan | None:
            if orphans is not OrphanPolicy.CANCEL or item.remaining_grants or item.process.status != "running":
                return None
            if item.grant.process_id in cancelled:
                return None
            cancelled.add(item.grant.process_id)
            request = cancel_requested_request(item.grant.process_id, reason)
            return self._plan(item.grant.process_id, request, now)

        revoked, deleted = await self.store.delete_session(session_id, orphan_plan)
        for process_id in cancelled:
            self._waiters.wake(process_id)
        orphaned = sorted(
            {d.grant.process_id for d in deleted if d.process.status == "running" and d.remaining_grants == 0}
        )
        preserved = sorted(
            {d.grant.process_id for d in deleted if d.process.status == "running" and d.remaining_grants > 0}
        )
        return ProcessSessionDeleteReport(
            session_id=session_id,
            revoked_handle_count=revoked,
            deleted_wake_count=0,
            orphaned_process_ids=tuple(orphaned),
            preserved_process_ids=tuple(preserved),
        )

    # -- the event log ---------------------------------------------------------------------------
    def _plan(self, process_id: str, request: ProcessEventAppendRequest, now: int) -> AppendPlan:
        def decide(context: AppendContext) -> AppendWrite[AppendOutcome]:
            record = _decode_record(context.process)
            lookup = None
            if context.existing is not None:
                lookup = (context.existing.payload_hash, _decode_event(context.existing))
            prepared = rules.prepare_event_append(record, request, context.next_sequence, lookup, now)
            updated = rules.apply_append(record, prepared)
            outcome = AppendOutcome(ProcessEventAppendResult(prepared.event, prepared.wake_delivery), prepared.replayed)
            return AppendWrite(
                event=None if prepared.replayed else _event_row(prepared.event, prepared.payload_hash),
                process=None if updated is None else _record_row(updated),
                answer=outcome,
            )

        return AppendPlan(process_id, None if request.replay is None else request.replay.key, decide)

    async def append(self, process_id: str, request: ProcessEventAppendRequest) -> AppendOutcome:
        """`append_event`, also telling whether the request replayed an existing event."""
        outcome: Any = await self.store.append_event(self._plan(process_id, request, self._clock()))
        if outcome is None:
            raise rules.unknown_process(process_id)
        assert isinstance(outcome, AppendOutcome)
        self._waiters.wake(process_id)
        return outcome

    async def append_event(self, process_id: str, request: ProcessEventAppendRequest) -> ProcessEventAppendResult:
        """SEED-SPEC §3.4: keyed idempotency, declared types, required keys, payload schemas, semantics,
        the status projection."""
        return (await self.append(process_id, request)).result

    async def complete_process(self, process_id: str, output: ProcessAwaitOutput) -> ProcessRecord:
        """Append the keyed terminal event for `output`; the record as it stands after."""
        await self.append(process_id, rules.terminal_event_request(process_id, output))
        return await self._require(process_id)

    async def signal(
        self,
        process_id: str,
        signal_name: str,
        signal_id: str,
        payload: JsonValue,
        wake_target_scope: SessionScope | None = None,
    ) -> SignalOutcome:
        """Append a signal (deduplicated by `signal_id`) and say which await-event key belongs to it: the
        key of the signal event's own ordinal (for a replay, the original event's). The caller resolves
        it. The ordinal is read from the log up to the event's sequence, so it never changes."""
        request = rules.signal_append_request(process_id, signal_name, signal_id, payload, wake_target_scope)
        outcome = await self.append(process_id, request)
        event = outcome.result.event
        ordinal = await self.store.count_events_through(process_id, event.event_type, event.sequence)
        return SignalOutcome(event, outcome.replayed, rules.signal_delivery(event, ordinal=ordinal))

    async def events_after(self, process_id: str, after_sequence: int) -> list[ProcessEvent]:
        _check_count(after_sequence, "after_sequence")
        await self._require(process_id)
        return [_decode_event(row) for row in await self.store.events_after(process_id, after_sequence)]

    async def wake_events_after(self, process_id: str, after_sequence: int) -> list[ProcessEvent]:
        """Events after `after_sequence` with a materialised wake that was not acked."""
        _check_count(after_sequence, "after_sequence")
        await self._require(process_id)
        return [_decode_event(row) for row in await self.store.wake_events_after(process_id, after_sequence)]

    async def ack_wake(self, process_id: str, sequence: int) -> None:
        _check_count(sequence, "sequence")
        if not await self.store.ack_wake(process_id, sequence):
            raise rules.unknown_process(process_id)

    async def count_events_through(self, process_id: str, event_type: str, through_sequence: int) -> int:
        """How many events of `event_type` have a sequence ≤ `through_sequence` (a signal's ordinal)."""
        _check_count(through_sequence, "through_sequence")
        await self._require(process_id)
        return await self.store.count_events_through(process_id, event_type, through_sequence)

    async def recent_events(self, process_id: str, limit: int) -> list[ProcessEvent]:
        """The last `limit` events, ascending."""
        _check_count(limit, "limit")
        await self._require(process_id)
        return [_decode_event(row) for row in await self.store.recent_events(process_id, limit)]

    async def wait_event_after(self, process_id: str, event_type: str, after_sequence: int) -> ProcessEvent:
        """The first event of `event_type` after `after_sequence`, waiting for it to be appended. Cancel
        the calling task to stop waiting."""
        _check_count(after_sequence, "after_sequence")
        await self._require(process_id)
        while True:
            woken = self._waiters.subscribe(process_id)
            try:
                row = await self.store.first_event_after(process_id, event_type, after_sequence)
                if row is not None:
                    return _decode_event(row)
                await woken
            finally:
                self._waiters.forget(process_id, woken)

    async def wait_any_event_after(self, process_id: str, after_sequence: int) -> None:
        """Return once the log holds an event of any type (built-in ones included) after `after_sequence`.
        Cancel the calling task to stop waiting."""
        _check_count(after_sequence, "after_sequence")
        await self._require(process_id)
        while True:
            woken = self._waiters.subscribe(process_id)
            try:
                if await self.store.events_after(process_id, after_sequence, 1):
                    return
                await woken
            finally:
                self._waiters.forget(process_id, woken)

    async def await_process(self, process_id: str) -> ProcessAwaitOutput:
        """The terminal output, waiting for the terminal event. Cancel the calling task to stop waiting."""
        while True:
            woken = self._waiters.subscribe(process_id)
            try:
                record = await self._require(process_id)
                output = rules.await_output_of(record.status)
                if output is not None:
                    return output
                await woken
            finally:
                self._waiters.forget(process_id, woken)

    # -- leases ----------------------------------------------------------------------------------
    async def claim_process_lease(self, process_id: str, owner_id: str, lease_ttl_ms: int) -> ProcessLease:
        """A lease unless another owner holds a live one (`already leased by ... until ...`); the same owner
        may re-claim. Every claim has a fencing token greater than all before it."""
        if not owner_id:
            raise InvalidArgumentError("invalid_request", "a process lease needs a non-empty owner id")
        now = self._clock()
        ttl = _ttl(lease_ttl_ms, now)

        def decide(current: LeaseRow | None) -> LeaseRow:
            fencing = 0 if current is None else current.fencing_token
            lease = rules.claim_lease(process_id, _lease(current), fencing, owner_id, ttl, now)
            return _lease_row(lease)

        row = await self.store.put_lease(process_id, decide)
        if row is None:
            raise rules.unknown_process(process_id)
        return _lease_from_row(row)

    async def renew_process_lease(self, lease: ProcessLease, lease_ttl_ms: int) -> ProcessLease:
        """Extend a live lease held with this token (`missing or expired` otherwise)."""
        now = self._clock()
        ttl = _ttl(lease_ttl_ms, now)

        def decide(current: LeaseRow | None) -> LeaseRow:
            return _lease_row(rules.renew_lease(lease, _lease(current), ttl, now))

        row = await self.store.put_lease(lease.process_id, decide)
        if row is None:
            raise rules.lease_lost(lease.process_id)
        return _lease_from_row(row)

    async def complete_process_lease(self, completion: ProcessLeaseCompletion) -> None:
        """Release the lease if `completion` holds its current token; a stale completion changes nothing.
        The fencing token is kept for the next claim."""
        await self.store.release_lease(completion.process_id, completion.lease_token)

    # -- operator queries (the console) ----------------------------------------------------------
    async def count_by_status(self) -> dict[str, int]:
        return await self.store.count_by_status()

    async def page_processes(
        self,
        *,
        status: str | None = None,
        waiting: bool | None = None,
        contains: str | None = None,
        after_process_id: str = "",
        limit: int = 50,
    ) -> list[ProcessRecord]:
        """One page of records by id: that status and wait facet (None: any), ids containing `contains`."""
        rows = await self.store.page_processes(
            status=status, waiting=waiting, contains=contains, after_process_id=after_process_id, limit=limit
        )
        return [_decode_record(row) for row in rows]

    async def list_grant_sessions(self, *, contains: str | None = None, after: str = "", limit: int = 50) -> list[str]:
        return await self.store.list_grant_sessions(contains=contains, after=after, limit=limit)

    async def grants_of_session(
        self, session_id: str, *, after_process_id: str = "", limit: int = 50
    ) -> list[tuple[GrantRow, ProcessRecord]]:
        """The grants of a session (each with its scope) and their processes, by process id."""
        rows = await self.store.grants_of_session(session_id, after_process_id, limit)
        return [(grant, _decode_record(row)) for grant, row in rows]

    async def grant_rows_of_process(self, process_id: str) -> list[GrantRow]:
        """Every grant of a process with its scope; empty for an unknown process."""
        return await self.store.grants_of_process(process_id) or []

    async def current_lease(self, process_id: str) -> ProcessLease | None:
        """The held lease (None when free or released)."""
        return _lease(await self.store.get_lease(process_id))

    async def events_page(self, process_id: str, after_sequence: int, limit: int) -> list[ProcessEvent]:
        """Events after `after_sequence`, at most `limit`, ascending (empty for an unknown process)."""
        _check_count(after_sequence, "after_sequence")
        return [_decode_event(row) for row in await self.store.events_after(process_id, after_sequence, limit)]

    async def follow_events(self, process_id: str, after_sequence: int, limit: int) -> list[ProcessEvent]:
        """Events after `after_sequence` (at most `limit`), waiting until there is one: push, registered
        before the read so an append between the two is not missed. Cancel the calling task to stop."""
        while True:
            woken = self._waiters.subscribe(process_id)
            try:
                events = await self.events_page(process_id, after_sequence, limit)
                if events:
                    return events
                await woken
            finally:
                self._waiters.forget(process_id, woken)
