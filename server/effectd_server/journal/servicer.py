"""The EffectController servicer: converts at the edge, calls the journal core."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from effectd._convert_effect_controller import (
    description_to_proto,
    effect_record_to_proto,
    lease_to_proto,
    scope_summary_to_proto,
)
from effectd._convert_envelope import envelope_from_proto, outcome_from_proto, outcome_to_proto
from effectd._convert_scope import controller_error_to_proto, scope_from_proto
from effectd._effects import SleepCommand
from effectd._errors import EffectdError, InvalidArgumentError
from effectd._journal import EffectLease, RecordedError
from effectd.v1 import await_events_pb2, effect_controller_pb2, scope_pb2

from effectd_server.config import LimitsConfig
from effectd_server.edge.checks import (
    MAX_CURSOR,
    MAX_DEADLINE_UNIX_MS,
    MAX_DURATION_MS,
    MAX_HEARTBEAT_MS,
    MAX_LEASE_TTL_MS,
    MAX_PAGE_SIZE,
    check_id,
    check_ids,
    check_size,
    in_range,
)
from effectd_server.edge.errors import shutting_down
from effectd_server.edge.streams import Streams
from effectd_server.journal.core import Journal, Recorded, now_ms
from effectd_server.journal.executors import DelegateOptions

__all__ = ["EffectControllerServicer"]

pb = effect_controller_pb2
Context = Any

_PAGE_DEFAULT = 100


def _scope(request: Any) -> Any:
    if not request.HasField("scope"):
        raise InvalidArgumentError("missing_execution_scope_id", "execution scopes require non-empty stable ids")
    return scope_from_proto(request.scope)


def _recorded_response(recorded: Recorded) -> effect_controller_pb2.ExecuteResponse:
    if isinstance(recorded, RecordedError):
        return pb.ExecuteResponse(
            executor_error=pb.RecordedError(error=controller_error_to_proto(recorded.error), replayed=recorded.replayed)
        )
    return pb.ExecuteResponse(
        outcome=pb.RecordedOutcome(outcome=outcome_to_proto(recorded.outcome), replayed=recorded.replayed)
    )


def _heartbeat() -> effect_controller_pb2.ExecuteResponse:
    return pb.ExecuteResponse(heartbeat=await_events_pb2.Heartbeat(server_time_unix_ms=now_ms()))


def _delegate_options(request: effect_controller_pb2.ExecuteRequest) -> DelegateOptions | None:
    if not request.HasField("delegate"):
        return None
    options = request.delegate
    return DelegateOptions(
        capability=options.capability,
        version=options.version,
        required_labels=tuple(sorted(options.required_labels.items())),
        schedule_to_start_timeout_ms=in_range(
            "delegate.schedule_to_start_timeout_ms", options.schedule_to_start_timeout_ms, 0, MAX_HEARTBEAT_MS
        ),
        session_affinity=options.session_affinity,
        hard_affinity=options.hard_affinity,
    )


class _ProgressFeed:
    """A delegated effect's live progress, handed from the worker's stream to this Execute stream."""

    def __init__(self) -> None:
        self.values: list[str] = []
        self.arrived: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.sequence = 0

    def push(self, value_json: str) -> None:
        self.values.append(value_json)
        if not self.arrived.done():
            self.arrived.set_result(None)

    def drain(self) -> list[effect_controller_pb2.ExecuteResponse]:
        values, self.values = self.values, []
        self.arrived = asyncio.get_running_loop().create_future()
        responses = []
        for value in values:
            self.sequence += 1
            responses.append(
                pb.ExecuteResponse(progress=pb.EffectProgress(value=scope_pb2.Json(text=value), sequence=self.sequence))
            )
        return responses


def _execute_response(result: Recorded | EffectLease) -> effect_controller_pb2.ExecuteResponse:
    if isinstance(result, EffectLease):
        return pb.ExecuteResponse(lease=lease_to_proto(result))
    return _recorded_response(result)


class EffectControllerServicer:
    def __init__(self, journal: Journal, streams: Streams, *, limits: LimitsConfig) -> None:
        self._journal = journal
        self._streams = streams
        self._limits = limits

    def _scope(self, request: Any) -> Any:
        scope = _scope(request)
        check_ids(scope, "scope", self._limits.max_id_bytes)
        return scope

    def _replay_key(self, replay_key: str) -> str:
        return check_id("replay_key", replay_key, self._limits.max_id_bytes)

    async def Describe(self, request: Any, context: Context) -> effect_controller_pb2.DescribeResponse:
        return description_to_proto(self._journal.describe())

    async def Execute(
        self, request: effect_controller_pb2.ExecuteRequest, context: Context
    ) -> AsyncIterator[effect_controller_pb2.ExecuteResponse]:
        scope = self._scope(request)
        if not request.HasField("envelope"):
            raise InvalidArgumentError("invalid_request", "an envelope is required")
        envelope_pb = request.envelope.SerializeToString(deterministic=True)
        check_size("the envelope", len(envelope_pb), self._limits.max_envelope_bytes, "envelope_too_large")
        envelope = envelope_from_proto(request.envelope)
        check_ids(envelope.invocation, "envelope.invocation", self._limits.max_id_bytes)
        if isinstance(envelope.command, SleepCommand):
            in_range("duration_ms", envelope.command.duration_ms, 0, MAX_DURATION_MS)
        check_id("owner_id", request.owner_id, self._limits.max_id_bytes)
        interval = self._streams.heartbeat_s(
            in_range("heartbeat_interval_ms", request.heartbeat_interval_ms, 0, MAX_HEARTBEAT_MS)
        )
        lease_ttl_ms = in_range("lease_ttl_ms", request.lease_ttl_ms, 0, MAX_LEASE_TTL_MS)
        await_deadline = (
            in_range("await_deadline_unix_ms", request.await_deadline_unix_ms, 1, MAX_DEADLINE_UNIX_MS)
            if request.HasField("await_deadline_unix_ms")
            else None
        )
        delegate = _delegate_options(request)
        delegator = self._journal.delegator
        delegated = delegate is not None or (delegator is not None and delegator.routes(envelope, None))
        feed = _ProgressFeed() if delegated else None
        running = asyncio.ensure_future(
            self._journal.execute(
                scope,
                envelope,
                envelope_pb,
                strict=request.strict_replay,
                owner_id=request.owner_id,
                lease_ttl_ms=lease_ttl_ms,
                await_deadline_ms=await_deadline,
                delegate=delegate,
                progress=None if feed is None else feed.push,
            )
        )
        try:
            if feed is None:
                answers = self._streams.wait_with_heartbeats(running, interval, _heartbeat, _execute_response)
            else:
                answers = self._with_progress(running, interval, feed)
            async for response in answers:
                yield response
        finally:
            # A dropped stream records nothing: server-run effects are picked up again on replay.
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError, EffectdError):
                await running

    async def _with_progress(
        self, running: asyncio.Future[Recorded | EffectLease], interval: float, feed: _ProgressFeed
    ) -> AsyncIterator[effect_controller_pb2.ExecuteResponse]:
        """Heartbeats and live progress, in order, until the answer (progress always before it)."""
        stop = self._streams.stop_future()
        try:
            while True:
                if not running.done() and not feed.values:
                    await asyncio.wait(
                        (running, stop, feed.arrived), timeout=interval, return_when=asyncio.FIRST_COMPLETED
                    )
                if feed.values:
                    for response in feed.drain():
                        yield response
                    continue
                if running.done():
                    yield _execute_response(running.result())
                    return
                if stop.done():
                    raise shutting_down()
                yield _heartbeat()
        finally:
            self._streams.release(stop)

    async def Complete(self, request: effect_controller_pb2.CompleteRequest, context: Context) -> Any:
        scope = self._scope(request)
        if not request.replay_key or not request.lease_token:
            raise InvalidArgumentError("invalid_request", "replay_key and lease_token are required")
        replay_key = self._replay_key(request.replay_key)
        which = request.WhichOneof("result")
        if which is None:
            await self._journal.release(scope, replay_key, request.lease_token)
        elif which == "outcome":
            size = request.outcome.ByteSize()
            check_size("the outcome", size, self._limits.max_payload_bytes, "payload_too_large")
            outcome = outcome_from_proto(request.outcome)
            await self._journal.complete(scope, replay_key, request.lease_token, outcome, None)
        else:
            error = request.executor_error
            if not error.code:
                raise InvalidArgumentError("invalid_request", "an executor error needs a code")
            check_size("the executor error", error.ByteSize(), self._limits.max_payload_bytes, "payload_too_large")
            await self._journal.complete(scope, replay_key, request.lease_token, None, (error.code, error.message))
        return pb.CompleteResponse()

    async def RenewLease(self, request: effect_controller_pb2.RenewLeaseRequest, context: Context) -> Any:
        scope = self._scope(request)
        ttl = in_range("lease_ttl_ms", request.lease_ttl_ms, 0, MAX_LEASE_TTL_MS)
        expires = await self._journal.renew(scope, request.replay_key, request.lease_token, ttl)
        return pb.RenewLeaseResponse(expires_at_unix_ms=expires)

    async def ListScopes(self, request: effect_controller_pb2.ListScopesRequest, context: Context) -> Any:
        limit = in_range("limit", request.limit, 0, MAX_PAGE_SIZE) or _PAGE_DEFAULT
        scopes = await self._journal.scopes(limit)
        return effect_controller_pb2.ListScopesResponse(scopes=[scope_summary_to_proto(s) for s in scopes])

    async def ListEffects(self, request: effect_controller_pb2.ListEffectsRequest, context: Context) -> Any:
        scope = self._scope(request)
        limit = in_range("page_size", request.page_size, 0, MAX_PAGE_SIZE) or _PAGE_DEFAULT
        try:
            after = in_range("page_token", int(request.page_token or "0"), 0, MAX_CURSOR)
        except ValueError:
            raise InvalidArgumentError("invalid_request", "page_token is not one this server issued") from None
        page = await self._journal.list(scope, after, limit)
        response = pb.ListEffectsResponse(effects=[effect_record_to_proto(record) for record in page.records])
        if page.next_after is not None:
            response.next_page_token = str(page.next_after)
        return response

    async def GetEffect(self, request: effect_controller_pb2.GetEffectRequest, context: Context) -> Any:
        scope = self._scope(request)
        record = await self._journal.get(scope, self._replay_key(request.replay_key))
        return pb.GetEffectResponse(effect=effect_record_to_proto(record))
