"""The Processes servicer: converts at the edge, checks ranges and sizes, calls the registry core,
converts back. The streams (WaitEventAfter, AwaitProcess, StreamEvents) use the edge's `Streams`:
heartbeats while waiting, an end with server_shutting_down on shutdown."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from effectd import _convert_process as cv
from effectd._convert_scope import json_from_proto
from effectd._errors import EffectdError, InvalidArgumentError
from effectd._process import ProcessEvent, ProcessLeaseCompletion, SessionScope
from effectd.v1 import await_events_pb2
from effectd.v1 import process_pb2 as pb

from effectd_server.await_events.core import AwaitEventCore
from effectd_server.config import LimitsConfig
from effectd_server.edge.checks import (
    MAX_CURSOR,
    MAX_HEARTBEAT_MS,
    MAX_LEASE_TTL_MS,
    check_id,
    check_ids,
    check_size,
    in_range,
)
from effectd_server.edge.errors import shutting_down
from effectd_server.edge.streams import Streams
from effectd_server.processes.core import OrphanPolicy, ProcessRegistryCore, now_ms
from effectd_server.processes.rules import await_output_of, unknown_process
from effectd_server.processes.signals import send_signal

__all__ = ["ProcessesServicer"]

Context = Any
T = TypeVar("T")


def _heartbeat() -> await_events_pb2.Heartbeat:
    return await_events_pb2.Heartbeat(server_time_unix_ms=now_ms())


def _orphans(value: int) -> OrphanPolicy:
    if value == pb.ORPHAN_POLICY_KEEP:
        return OrphanPolicy.KEEP
    if value == pb.ORPHAN_POLICY_CANCEL:
        return OrphanPolicy.CANCEL
    raise InvalidArgumentError("invalid_request", f"unknown orphan policy {value}")


class ProcessesServicer:
    def __init__(
        self, core: ProcessRegistryCore, await_events: AwaitEventCore, streams: Streams, *, limits: LimitsConfig
    ) -> None:
        self._core = core
        self._await_events = await_events
        self._streams = streams
        self._limits = limits

    # -- checks ------------------------------------------------------------------------------
    def _id(self, value: str, field: str) -> str:
        return check_id(field, value, self._limits.max_id_bytes)

    def _scope(self, request: Any, field: str) -> SessionScope:
        if not request.HasField(field):
            raise InvalidArgumentError("invalid_request", f"{field} is required")
        scope = cv.session_scope_from_proto(getattr(request, field))
        check_ids(scope, field, self._limits.max_id_bytes)
        return scope

    def _payload(self, message: Any, what: str) -> None:
        check_size(what, message.ByteSize(), self._limits.max_payload_bytes, "payload_too_large")

    def _required(self, request: Any, field: str) -> Any:
        if not request.HasField(field):
            raise InvalidArgumentError("invalid_request", f"{field} is required")
        return getattr(request, field)

    def _interval(self, requested_ms: int) -> float:
        return self._streams.heartbeat_s(in_range("heartbeat_interval_ms", requested_ms, 0, MAX_HEARTBEAT_MS))

    async def _until_done(
        self, work: asyncio.Future[T], interval_s: float, heartbeat: Callable[[], Any], respond: Callable[[T], Any]
    ) -> AsyncIterator[Any]:
        """A heartbeat at once, one per interval while `work` runs, then its answer; `work` is cancelled
        when the stream ends first (a dropped waiter changes nothing)."""
        try:
            yield heartbeat()
            async for response in self._streams.wait_with_heartbeats(work, interval_s, heartbeat, respond):
                yield response
        finally:
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError, EffectdError):
                await work

    # -- registration and records ----------------------------------------------------------------
    async def RegisterProcess(self, request: pb.RegisterProcessRequest, context: Context) -> Any:
        message = self._required(request, "registration")
        check_size("the registration", message.ByteSize(), self._limits.max_envelope_bytes, "envelope_too_large")
        registration = cv.process_registration_from_proto(message)
        check_ids(registration, "registration", self._limits.max_id_bytes)
        record = await self._core.register_process(registration)
        return pb.RegisterProcessResponse(record=cv.process_record_to_proto(record))

    async def GetProcess(self, request: pb.GetProcessRequest, context: Context) -> Any:
        record = await self._core.get_process(self._id(request.process_id, "process_id"))
        response = pb.GetProcessResponse()
        if record is not None:
            response.record.CopyFrom(cv.process_record_to_proto(record))
        return response

    async def ListProcesses(self, request: pb.ListProcessesRequest, context: Context) -> Any:
        filter = cv.list_filter_from_proto(request)
        if filter.definition is not None:
            check_ids(filter.definition, "definition", self._limits.max_id_bytes)
        records = await self._core.list_processes(filter)
        return pb.ListProcessesResponse(records=[cv.process_record_to_proto(r) for r in records])

    async def ListNonTerminal(self, request: pb.ListNonTerminalRequest, context: Context) -> Any:
        records = await self._core.list_non_terminal()
        return pb.ListNonTerminalResponse(records=[cv.process_record_to_proto(r) for r in records])

    async def SetExternalRef(self, request: pb.SetExternalRefRequest, context: Context) -> Any:
        message = self._required(request, "external_ref")
        self._payload(message, "the external ref")
        external_ref = cv.external_ref_from_proto(message)
        check_ids(external_ref, "external_ref", self._limits.max_id_bytes)
        record = await self._core.set_external_ref(self._id(request.process_id, "process_id"), external_ref)
        return pb.SetExternalRefResponse(record=cv.process_record_to_proto(record))

    async def SetProcessWait(self, request: pb.SetProcessWaitRequest, context: Context) -> Any:
        wait = cv.wait_state_from_proto(self._required(request, "wait"))
        check_ids(wait, "wait", self._limits.max_id_bytes)
        in_range("wait.signal.ordinal", wait.kind.ordinal, 0, 2**64 - 1)
        record = await self._core.set_process_wait(self._id(request.process_id, "process_id"), wait)
        return pb.SetProcessWaitResponse(record=cv.process_record_to_proto(record))

    async def ClearProcessWait(self, request: pb.ClearProcessWaitRequest, context: Context) -> Any:
        record = await self._core.clear_process_wait(self._id(request.process_id, "process_id"))
        return pb.ClearProcessWaitResponse(record=cv.process_record_to_proto(record))

    async def CompleteProcess(self, request: pb.CompleteProcessRequest, context: Context) -> Any:
        message = self._required(request, "output")
        self._payload(message, "the output")
        output = cv.await_output_from_proto(message)
        record = await self._core.complete_process(self._id(request.process_id, "process_id"), output)
        return pb.CompleteProcessResponse(record=cv.process_record_to_proto(record))

    # -- handle grants ---------------------------------------------------------------------------
    async def GrantHandle(self, request: pb.GrantHandleRequest, context: Context) -> Any:
        scope = self._scope(request, "session_scope")
        descriptor = cv.handle_descriptor_from_proto(request.descriptor)
        check_ids(descriptor, "descriptor", self._limits.max_id_bytes)
        grant = await self._core.grant_handle(scope, self._id(request.process_id, "process_id"), descriptor)
        return pb.GrantHandleResponse(grant=cv.handle_grant_to_proto(grant))

    async def RevokeHandle(self, request: pb.RevokeHandleRequest, context: Context) -> Any:
        scope = self._scope(request, "session_scope")
        await self._core.revoke_handle(scope, self._id(request.process_id, "process_id"))
        return pb.RevokeHandleResponse()

    async def HasHandleGrant(self, request: pb.HasHandleGrantRequest, context: Context) -> Any:
        scope = self._scope(request, "session_scope")
        granted = await self._core.has_handle_grant(scope, self._id(request.process_id, "process_id"))
        return pb.HasHandleGrantResponse(granted=granted)

    async def ListHandleGrants(self, request: pb.ListHandleGrantsRequest, context: Context) -> Any:
        entries = await self._core.list_handle_grants(self._scope(request, "session_scope"))
        return pb.ListHandleGrantsResponse(entries=[cv.handle_grant_entry_to_proto(e) for e in entries])

    async def ListLiveHandleGrants(self, request: pb.ListHandleGrantsRequest, context: Context) -> Any:
        entries = await self._core.list_live_handle_grants(self._scope(request, "session_scope"))
        return pb.ListHandleGrantsResponse(entries=[cv.handle_grant_entry_to_proto(e) for e in entries])

    async def HandleGrantsForProcess(self, request: pb.HandleGrantsForProcessRequest, context: Context) -> Any:
        grants = await self._core.handle_grants_for_process(self._id(request.process_id, "process_id"))
        return pb.HandleGrantsForProcessResponse(grants=[cv.handle_grant_to_proto(g) for g in grants])

    async def TransferHandleGrants(self, request: pb.TransferHandleGrantsRequest, context: Context) -> Any:
        from_scope = self._scope(request, "from_scope")
        to_scope = self._scope(request, "to_scope")
        process_ids = [self._id(pid, "process_ids[]") for pid in request.process_ids]
        await self._core.transfer_handle_grants(from_scope, to_scope, process_ids)
        return pb.TransferHandleGrantsResponse()

    async def DeleteSessionProcessState(self, request: pb.DeleteSessionProcessStateRequest, context: Context) -> Any:
        if not request.session_id:
            raise InvalidArgumentError("missing_session_id", "a session id is required")
        report = await self._core.delete_session_process_state(
            self._id(request.session_id, "session_id"), _orphans(request.orphans)
        )
        return pb.DeleteSessionProcessStateResponse(report=cv.delete_report_to_proto(report))

    # -- the event log ---------------------------------------------------------------------------
    async def AppendEvent(self, request: pb.AppendEventRequest, context: Context) -> Any:
        message = self._required(request, "request")
        self._payload(message, "the event")
        append = cv.append_request_from_proto(message)
        check_ids(append, "request", self._limits.max_id_bytes)
        outcome = await self._core.append(self._id(request.process_id, "process_id"), append)
        return pb.AppendEventResponse(result=cv.append_result_to_proto(outcome.result), replayed=outcome.replayed)

    def _events(self, events: list[ProcessEvent]) -> pb.EventsResponse:
        return pb.EventsResponse(events=[cv.process_event_to_proto(e) for e in events])

    async def EventsAfter(self, request: pb.EventsAfterRequest, context: Context) -> Any:
        after = in_range("after_sequence", request.after_sequence, 0, MAX_CURSOR)
        return self._events(await self._core.events_after(self._id(request.process_id, "process_id"), after))

    async def WakeEventsAfter(self, request: pb.EventsAfterRequest, context: Context) -> Any:
        after = in_range("after_sequence", request.after_sequence, 0, MAX_CURSOR)
        return self._events(await self._core.wake_events_after(self._id(request.process_id, "process_id"), after))

    async def AckWake(self, request: pb.AckWakeRequest, context: Context) -> Any:
        sequence = in_range("sequence", request.sequence, 0, MAX_CURSOR)
        await self._core.ack_wake(self._id(request.process_id, "process_id"), sequence)
        return pb.AckWakeResponse()

    async def CountEventsThrough(self, request: pb.CountEventsThroughRequest, context: Context) -> Any:
        through = in_range("through_sequence", request.through_sequence, 0, MAX_CURSOR)
        count = await self._core.count_events_through(
            self._id(request.process_id, "process_id"), self._id(request.event_type, "event_type"), through
        )
        return pb.CountEventsThroughResponse(count=count)

    async def RecentEvents(self, request: pb.RecentEventsRequest, context: Context) -> Any:
        limit = in_range("limit", request.limit, 0, MAX_CURSOR)
        return self._events(await self._core.recent_events(self._id(request.process_id, "process_id"), limit))

    async def WaitEventAfter(self, request: pb.WaitEventAfterRequest, context: Context) -> AsyncIterator[Any]:
        process_id = self._id(request.process_id, "process_id")
        event_type = self._id(request.event_type, "event_type")
        after = in_range("after_sequence", request.after_sequence, 0, MAX_CURSOR)
        interval = self._interval(request.heartbeat_interval_ms)
        work = asyncio.ensure_future(self._core.wait_event_after(process_id, event_type, after))
        async for response in self._until_done(
            work,
            interval,
            lambda: pb.WaitEventAfterResponse(heartbeat=_heartbeat()),
            lambda event: pb.WaitEventAfterResponse(found=cv.process_event_to_proto(event)),
        ):
            yield response

    async def AwaitProcess(self, request: pb.AwaitProcessRequest, context: Context) -> AsyncIterator[Any]:
        process_id = self._id(request.process_id, "process_id")
        interval = self._interval(request.heartbeat_interval_ms)
        work = asyncio.ensure_future(self._core.await_process(process_id))
        async for response in self._until_done(
            work,
            interval,
            lambda: pb.AwaitProcessResponse(heartbeat=_heartbeat()),
            lambda output: pb.AwaitProcessResponse(output=cv.await_output_to_proto(output)),
        ):
            yield response

    async def StreamEvents(self, request: pb.StreamEventsRequest, context: Context) -> AsyncIterator[Any]:
        process_id = self._id(request.process_id, "process_id")
        cursor = in_range("after_sequence", request.after_sequence, 0, MAX_CURSOR)
        interval = self._interval(request.heartbeat_interval_ms)
        record = await self._core.get_process(process_id)
        if record is None:
            raise unknown_process(process_id)
        yield pb.StreamEventsResponse(heartbeat=_heartbeat())
        stop = self._streams.stop_future()
        try:
            while True:
                if stop.done():
                    raise shutting_down()
                # The record first, then the log: a terminal status read here has its event in the log.
                terminal = False
                if request.until_terminal:
                    current = await self._core.get_process(process_id)
                    terminal = current is not None and await_output_of(current.status) is not None
                events = await self._core.events_after(process_id, cursor)
                for event in events:
                    yield pb.StreamEventsResponse(appended=cv.process_event_to_proto(event))
                    cursor = event.sequence
                if terminal:
                    return
                if events:
                    # The record may have turned terminal after it was read: read both again before waiting
                    # for an event that might never come.
                    continue
                waiting = asyncio.ensure_future(self._core.wait_any_event_after(process_id, cursor))
                try:
                    while not waiting.done():
                        await asyncio.wait((waiting, stop), timeout=interval, return_when=asyncio.FIRST_COMPLETED)
                        if waiting.done():
                            break
                        if stop.done():
                            raise shutting_down()
                        yield pb.StreamEventsResponse(heartbeat=_heartbeat())
                    waiting.result()
                finally:
                    waiting.cancel()
                    with contextlib.suppress(asyncio.CancelledError, EffectdError):
                        await waiting
        finally:
            self._streams.release(stop)

    # -- signals ---------------------------------------------------------------------------------
    async def Signal(self, request: pb.SignalRequest, context: Context) -> Any:
        payload_message = self._required(request, "payload")
        self._payload(payload_message, "the signal payload")
        payload = json_from_proto(payload_message, "payload")
        wake_target = self._scope(request, "wake_target_scope") if request.HasField("wake_target_scope") else None
        answer = await send_signal(
            self._core,
            self._await_events,
            self._id(request.process_id, "process_id"),
            self._id(request.signal_name, "signal_name"),
            self._id(request.signal_id, "signal_id"),
            payload,
            wake_target,
        )
        return pb.SignalResponse(
            event=cv.process_event_to_proto(answer.event),
            replayed=answer.replayed,
            resolved_key_id="" if answer.resolved is None else answer.resolved.key_id,
        )

    # -- leases ----------------------------------------------------------------------------------
    async def ClaimProcessLease(self, request: pb.ClaimProcessLeaseRequest, context: Context) -> Any:
        ttl = in_range("lease_ttl_ms", request.lease_ttl_ms, 0, MAX_LEASE_TTL_MS)
        lease = await self._core.claim_process_lease(
            self._id(request.process_id, "process_id"), self._id(request.owner_id, "owner_id"), ttl
        )
        return pb.ClaimProcessLeaseResponse(lease=cv.lease_to_proto(lease))

    async def RenewProcessLease(self, request: pb.RenewProcessLeaseRequest, context: Context) -> Any:
        lease = cv.lease_from_proto(self._required(request, "lease"))
        check_ids(lease, "lease", self._limits.max_id_bytes)
        ttl = in_range("lease_ttl_ms", request.lease_ttl_ms, 0, MAX_LEASE_TTL_MS)
        return pb.RenewProcessLeaseResponse(lease=cv.lease_to_proto(await self._core.renew_process_lease(lease, ttl)))

    async def CompleteProcessLease(self, request: pb.CompleteProcessLeaseRequest, context: Context) -> Any:
        completion = ProcessLeaseCompletion(
            self._id(request.process_id, "process_id"), self._id(request.lease_token, "lease_token")
        )
        await self._core.complete_process_lease(completion)
        return pb.CompleteProcessLeaseResponse()
