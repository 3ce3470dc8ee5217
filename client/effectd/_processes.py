"""The process registry over effectd, mirroring lash's `ProcessRegistry` trait method by method.

    registry = RemoteProcessRegistry(client)
    record = await registry.register_process(registration)
    await registry.grant_handle(SessionScope("s1"), record.id, ProcessHandleDescriptor(kind="job"))
    output = await registry.await_process(record.id)              # push, heartbeats meanwhile
    async for event in registry.stream_events(record.id, after_sequence=0):
        ...

Dataclasses in and out (`effectd._process`); one `Rpc` underneath, shared with the other facades. Unary
calls have the Rpc's default deadline (`timeout=` per call). The waiting methods (`wait_event_after`,
`await_process`, `stream_events`) ask for heartbeats, take a silent stream for a dead link and reopen
it (`stream_events` resumes after the last sequence it delivered), as `Client.await_event` does.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import grpc

from effectd import _convert_process as cv
from effectd._client import Client
from effectd._convert_scope import json_to_proto
from effectd._errors import NotFoundError
from effectd._journal import DurabilityTier
from effectd._lashjson import JsonValue
from effectd._process import (
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
    SessionScope,
    WaitState,
    cancel_requested_request,
)
from effectd._rpc import Reconnect, Rpc, Watchdog, heartbeat_ms, stall_after
from effectd.v1 import process_pb2 as pb
from effectd.v1 import process_pb2_grpc as pb_grpc

__all__ = ["OrphanPolicy", "RemoteProcessRegistry", "SignalReceipt"]


class OrphanPolicy(enum.StrEnum):
    """What deleting a session does to the running processes it leaves without any grant."""

    KEEP = "keep"
    """lash's behaviour: they keep running; the report lists them as orphaned."""
    CANCEL = "cancel"
    """Each gets a keyed `process.cancel_requested` in the same transaction as the deletion."""


_ORPHANS = {OrphanPolicy.KEEP: pb.ORPHAN_POLICY_KEEP, OrphanPolicy.CANCEL: pb.ORPHAN_POLICY_CANCEL}


@dataclass(frozen=True, slots=True)
class SignalReceipt:
    """What a signal did: its event (the original one when deduplicated), whether it was a replay, and
    the key_id of the await-event key it resolved (empty for a replay, which resolves nothing)."""

    event: ProcessEvent
    replayed: bool
    resolved_key_id: str


class RemoteProcessRegistry:
    """lash's `ProcessRegistry`, durable, served by effectd (`effectd.v1.Processes`)."""

    durability_tier = DurabilityTier.DURABLE

    def __init__(self, client: Client | Rpc, *, heartbeat_interval: float | None = None) -> None:
        self.rpc = client if isinstance(client, Rpc) else client.rpc
        self._stub = self.rpc.stub(pb_grpc.ProcessesStub)
        self._heartbeat_ms = heartbeat_ms(heartbeat_interval)

    # -- registration and records ----------------------------------------------------------------
    async def register_process(
        self, registration: ProcessRegistration, *, timeout: float | None = None
    ) -> ProcessRecord:
        """Idempotent by id and registration hash; another registration under the same id raises
        `process_registration_hash_conflict` naming both hashes."""
        request = pb.RegisterProcessRequest(registration=cv.process_registration_to_proto(registration))
        response = await self.rpc.unary(self._stub.RegisterProcess, request, timeout=timeout)
        return cv.process_record_from_proto(response.record)

    async def get_process(self, process_id: str, *, timeout: float | None = None) -> ProcessRecord | None:
        response = await self.rpc.unary(
            self._stub.GetProcess, pb.GetProcessRequest(process_id=process_id), timeout=timeout
        )
        return cv.process_record_from_proto(response.record) if response.HasField("record") else None

    async def list_processes(
        self, filter: ProcessListFilter | None = None, *, timeout: float | None = None
    ) -> list[ProcessRecord]:
        """Records matching the filter (default: running), sorted by id."""
        request = cv.list_filter_to_proto(filter or ProcessListFilter())
        response = await self.rpc.unary(self._stub.ListProcesses, request, timeout=timeout)
        return [cv.process_record_from_proto(r) for r in response.records]

    async def list_non_terminal(self, *, timeout: float | None = None) -> list[ProcessRecord]:
        response = await self.rpc.unary(self._stub.ListNonTerminal, pb.ListNonTerminalRequest(), timeout=timeout)
        return [cv.process_record_from_proto(r) for r in response.records]

    async def set_external_ref(
        self, process_id: str, external_ref: ProcessExternalRef, *, timeout: float | None = None
    ) -> ProcessRecord:
        request = pb.SetExternalRefRequest(process_id=process_id, external_ref=cv.external_ref_to_proto(external_ref))
        response = await self.rpc.unary(self._stub.SetExternalRef, request, timeout=timeout)
        return cv.process_record_from_proto(response.record)

    async def set_process_wait(
        self, process_id: str, wait: WaitState, *, timeout: float | None = None
    ) -> ProcessRecord:
        request = pb.SetProcessWaitRequest(process_id=process_id, wait=cv.wait_state_to_proto(wait))
        response = await self.rpc.unary(self._stub.SetProcessWait, request, timeout=timeout)
        return cv.process_record_from_proto(response.record)

    async def clear_process_wait(self, process_id: str, *, timeout: float | None = None) -> ProcessRecord:
        request = pb.ClearProcessWaitRequest(process_id=process_id)
        response = await self.rpc.unary(self._stub.ClearProcessWait, request, timeout=timeout)
        return cv.process_record_from_proto(response.record)

    async def complete_process(
        self, process_id: str, output: ProcessAwaitOutput, *, timeout: float | None = None
    ) -> ProcessRecord:
        """Append the keyed terminal event of `output`; the record after."""
        request = pb.CompleteProcessRequest(process_id=process_id, output=cv.await_output_to_proto(output))
        response = await self.rpc.unary(self._stub.CompleteProcess, request, timeout=timeout)
        return cv.process_record_from_proto(response.record)

    # -- handle grants ---------------------------------------------------------------------------
    async def grant_handle(
        self,
        session_scope: SessionScope,
        process_id: str,
        descriptor: ProcessHandleDescriptor | None = None,
        *,
        timeout: float | None = None,
    ) -> ProcessHandleGrant:
        request = pb.GrantHandleRequest(
            session_scope=cv.session_scope_to_proto(session_scope),
            process_id=process_id,
            descriptor=cv.handle_descriptor_to_proto(descriptor or ProcessHandleDescriptor()),
        )
        response = await self.rpc.unary(self._stub.GrantHandle, request, timeout=timeout)
        return cv.handle_grant_from_proto(response.grant)

    async def revoke_handle(
        self, session_scope: SessionScope, process_id: str, *, timeout: float | None = None
    ) -> None:
        request = pb.RevokeHandleRequest(session_scope=cv.session_scope_to_proto(session_scope), process_id=process_id)
        await self.rpc.unary(self._stub.RevokeHandle, request, timeout=timeout)

    async def has_handle_grant(
        self, session_scope: SessionScope, process_id: str, *, timeout: float | None = None
    ) -> bool:
        request = pb.HasHandleGrantRequest(
            session_scope=cv.session_scope_to_proto(session_scope), process_id=process_id
        )
        return bool((await self.rpc.unary(self._stub.HasHandleGrant, request, timeout=timeout)).granted)

    async def list_handle_grants(
        self, session_scope: SessionScope, *, timeout: float | None = None
    ) -> list[ProcessHandleGrantEntry]:
        request = pb.ListHandleGrantsRequest(session_scope=cv.session_scope_to_proto(session_scope))
        response = await self.rpc.unary(self._stub.ListHandleGrants, request, timeout=timeout)
        return [cv.handle_grant_entry_from_proto(e) for e in response.entries]

    async def list_live_handle_grants(
        self, session_scope: SessionScope, *, timeout: float | None = None
    ) -> list[ProcessHandleGrantEntry]:
        request = pb.ListHandleGrantsRequest(session_scope=cv.session_scope_to_proto(session_scope))
        response = await self.rpc.unary(self._stub.ListLiveHandleGrants, request, timeout=timeout)
        return [cv.handle_grant_entry_from_proto(e) for e in response.entries]

    async def handle_grants_for_process(
        self, process_id: str, *, timeout: float | None = None
    ) -> list[ProcessHandleGrant]:
        request = pb.HandleGrantsForProcessRequest(process_id=process_id)
        response = await self.rpc.unary(self._stub.HandleGrantsForProcess, request, timeout=timeout)
        return [cv.handle_grant_from_proto(g) for g in response.grants]

    async def transfer_handle_grants(
        self,
        from_scope: SessionScope,
        to_scope: SessionScope,
        process_ids: Iterable[str],
        *,
        timeout: float | None = None,
    ) -> None:
        request = pb.TransferHandleGrantsRequest(
            from_scope=cv.session_scope_to_proto(from_scope),
            to_scope=cv.session_scope_to_proto(to_scope),
            process_ids=list(process_ids),
        )
        await self.rpc.unary(self._stub.TransferHandleGrants, request, timeout=timeout)

    async def delete_session_process_state(
        self, session_id: str, orphans: OrphanPolicy = OrphanPolicy.KEEP, *, timeout: float | None = None
    ) -> ProcessSessionDeleteReport:
        request = pb.DeleteSessionProcessStateRequest(session_id=session_id, orphans=_ORPHANS[OrphanPolicy(orphans)])
        response = await self.rpc.unary(self._stub.DeleteSessionProcessState, request, timeout=timeout)
        return cv.delete_report_from_proto(response.report)

    # -- the event log ---------------------------------------------------------------------------
    async def append_event(
        self, process_id: str, request: ProcessEventAppendRequest, *, timeout: float | None = None
    ) -> ProcessEventAppendResult:
        message = pb.AppendEventRequest(process_id=process_id, request=cv.append_request_to_proto(request))
        response = await self.rpc.unary(self._stub.AppendEvent, message, timeout=timeout)
        return cv.append_result_from_proto(response.result)

    async def cancel_process(
        self, process_id: str, reason: str | None = None, *, timeout: float | None = None
    ) -> ProcessRecord:
        """Append `process.cancel_requested` (idempotent by reason; a request, not a status change) and
        return the record, as the `cancel` process op does. Not a trait method: a convenience."""
        await self.append_event(process_id, cancel_requested_request(process_id, reason), timeout=timeout)
        record = await self.get_process(process_id, timeout=timeout)
        if record is None:  # the append found it, and processes are never deleted
            raise NotFoundError("process_unknown", f"unknown process `{process_id}`")
        return record

    async def events_after(
        self, process_id: str, after_sequence: int, *, timeout: float | None = None
    ) -> list[ProcessEvent]:
        request = pb.EventsAfterRequest(process_id=process_id, after_sequence=after_sequence)
        return _events(await self.rpc.unary(self._stub.EventsAfter, request, timeout=timeout))

    async def wake_events_after(
        self, process_id: str, after_sequence: int, *, timeout: float | None = None
    ) -> list[ProcessEvent]:
        request = pb.EventsAfterRequest(process_id=process_id, after_sequence=after_sequence)
        return _events(await self.rpc.unary(self._stub.WakeEventsAfter, request, timeout=timeout))

    async def ack_wake(self, process_id: str, sequence: int, *, timeout: float | None = None) -> None:
        await self.rpc.unary(
            self._stub.AckWake, pb.AckWakeRequest(process_id=process_id, sequence=sequence), timeout=timeout
        )

    async def count_events_through(
        self, process_id: str, event_type: str, through_sequence: int, *, timeout: float | None = None
    ) -> int:
        request = pb.CountEventsThroughRequest(
            process_id=process_id, event_type=event_type, through_sequence=through_sequence
        )
        return int((await self.rpc.unary(self._stub.CountEventsThrough, request, timeout=timeout)).count)

    async def recent_events(self, process_id: str, limit: int, *, timeout: float | None = None) -> list[ProcessEvent]:
        request = pb.RecentEventsRequest(process_id=process_id, limit=limit)
        return _events(await self.rpc.unary(self._stub.RecentEvents, request, timeout=timeout))

    async def wait_event_after(self, process_id: str, event_type: str, after_sequence: int) -> ProcessEvent:
        """The first event of `event_type` after `after_sequence`, waiting (push) until it is appended."""
        request = pb.WaitEventAfterRequest(
            process_id=process_id,
            event_type=event_type,
            after_sequence=after_sequence,
            heartbeat_interval_ms=self._heartbeat_ms,
        )

        def found(response: pb.WaitEventAfterResponse) -> ProcessEvent | None:
            if response.WhichOneof("event") == "found":
                return cv.process_event_from_proto(response.found)
            return None

        event: ProcessEvent = await self._first(lambda: self._stub.WaitEventAfter(request), found)
        return event

    async def await_process(self, process_id: str) -> ProcessAwaitOutput:
        """The terminal output, waiting (push) until the process is terminal."""
        request = pb.AwaitProcessRequest(process_id=process_id, heartbeat_interval_ms=self._heartbeat_ms)

        def output(response: pb.AwaitProcessResponse) -> ProcessAwaitOutput | None:
            if response.WhichOneof("event") == "output":
                return cv.await_output_from_proto(response.output)
            return None

        result: ProcessAwaitOutput = await self._first(lambda: self._stub.AwaitProcess(request), output)
        return result

    async def stream_events(
        self, process_id: str, after_sequence: int = 0, *, until_terminal: bool = False
    ) -> AsyncIterator[ProcessEvent]:
        """Every event after `after_sequence`, in order, then each new one as it is appended (push). A
        reopened stream resumes after the last event delivered, so none is missed or repeated. With
        `until_terminal` the iteration ends after the terminal event."""
        cursor = after_sequence

        def request() -> Any:
            return self._stub.StreamEvents(
                pb.StreamEventsRequest(
                    process_id=process_id,
                    after_sequence=cursor,
                    until_terminal=until_terminal,
                    heartbeat_interval_ms=self._heartbeat_ms,
                )
            )

        def appended(response: pb.StreamEventsResponse) -> ProcessEvent | None:
            if response.WhichOneof("event") == "appended":
                return cv.process_event_from_proto(response.appended)
            return None

        async for event in self._stream(request, appended, until_end=True):
            cursor = event.sequence
            yield event

    async def _first(self, open_call: Callable[[], Any], pick: Callable[[Any], Any]) -> Any:
        stream = self._stream(open_call, pick)
        try:
            return await anext(stream)
        finally:
            await stream.aclose()

    async def _stream(
        self, open_call: Callable[[], Any], pick: Callable[[Any], Any], *, until_end: bool = False
    ) -> AsyncGenerator[Any, None]:
        """Messages of a server stream that `pick` turns into values (None: a heartbeat), reopening the
        stream after UNAVAILABLE or a dead link. Without `until_end` the caller takes one value."""
        reconnect = Reconnect(give_up_after=60.0)
        silence = stall_after(self._heartbeat_ms)
        while True:
            watchdog = Watchdog(self.rpc, silence)
            call = open_call()
            watchdog.watch(call)
            try:
                async for response in call:
                    watchdog.heard()
                    reconnect.succeeded()
                    value = pick(response)
                    if value is not None:
                        yield value
                if until_end:
                    return
            except (grpc.aio.AioRpcError, asyncio.CancelledError) as exc:
                if watchdog.lost(exc):
                    reconnect.lost(watchdog)
                elif isinstance(exc, grpc.aio.AioRpcError):
                    reconnect.failed(exc)
                else:
                    raise
            finally:
                watchdog.stop()
                call.cancel()
            await reconnect.wait()

    # -- signals ---------------------------------------------------------------------------------
    async def signal(
        self,
        process_id: str,
        signal_name: str,
        signal_id: str,
        payload: JsonValue,
        wake_target_scope: SessionScope | None = None,
        *,
        timeout: float | None = None,
    ) -> SignalReceipt:
        """Append `signal.{name}` (deduplicated by `signal_id`) and resolve the await-event key of
        `process_signal(process_id, name, ordinal)` (the event's own ordinal) with `ok(payload)`."""
        request = pb.SignalRequest(
            process_id=process_id, signal_name=signal_name, signal_id=signal_id, payload=json_to_proto(payload)
        )
        if wake_target_scope is not None:
            request.wake_target_scope.CopyFrom(cv.session_scope_to_proto(wake_target_scope))
        response = await self.rpc.unary(self._stub.Signal, request, timeout=timeout)
        return SignalReceipt(cv.process_event_from_proto(response.event), response.replayed, response.resolved_key_id)

    # -- leases ----------------------------------------------------------------------------------
    async def claim_process_lease(
        self, process_id: str, owner_id: str, lease_ttl_ms: int, *, timeout: float | None = None
    ) -> ProcessLease:
        request = pb.ClaimProcessLeaseRequest(process_id=process_id, owner_id=owner_id, lease_ttl_ms=lease_ttl_ms)
        response = await self.rpc.unary(self._stub.ClaimProcessLease, request, timeout=timeout)
        return cv.lease_from_proto(response.lease)

    async def renew_process_lease(
        self, lease: ProcessLease, lease_ttl_ms: int, *, timeout: float | None = None
    ) -> ProcessLease:
        request = pb.RenewProcessLeaseRequest(lease=cv.lease_to_proto(lease), lease_ttl_ms=lease_ttl_ms)
        response = await self.rpc.unary(self._stub.RenewProcessLease, request, timeout=timeout)
        return cv.lease_from_proto(response.lease)

    async def complete_process_lease(self, completion: ProcessLeaseCompletion, *, timeout: float | None = None) -> None:
        request = pb.CompleteProcessLeaseRequest(process_id=completion.process_id, lease_token=completion.lease_token)
        await self.rpc.unary(self._stub.CompleteProcessLease, request, timeout=timeout)


def _events(response: pb.EventsResponse) -> list[ProcessEvent]:
    return [cv.process_event_from_proto(e) for e in response.events]
