"""The EffectController servicer: converts at the edge, calls the journal core."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from effectd._convert_envelope import envelope_from_proto, outcome_from_proto, outcome_to_proto
from effectd._convert_scope import scope_from_proto, scope_to_proto
from effectd._errors import EffectdError, InvalidArgumentError
from effectd._lashjson import loads
from effectd._scope import scope_from_lash
from effectd.v1 import await_events_pb2, effect_controller_pb2, envelope_pb2, scope_pb2

from effectd_server.await_events import now_ms
from effectd_server.journal import Journal, Leased, Recorded
from effectd_server.servicers import shutting_down
from effectd_server.store import EffectRow

__all__ = ["EffectControllerServicer"]

pb = effect_controller_pb2
Context = Any

_STATUS = {
    "in_progress": pb.EFFECT_STATUS_IN_PROGRESS,
    "completed": pb.EFFECT_STATUS_COMPLETED,
    "failed": pb.EFFECT_STATUS_FAILED,
}
_PAGE_DEFAULT, _PAGE_MAX = 100, 1000


def _scope(request: Any) -> Any:
    if not request.HasField("scope"):
        raise InvalidArgumentError("missing_execution_scope_id", "execution scopes require non-empty stable ids")
    return scope_from_proto(request.scope)


def _recorded_response(recorded: Recorded) -> effect_controller_pb2.ExecuteResponse:
    if recorded.error is not None:
        code, message = recorded.error
        return pb.ExecuteResponse(
            executor_error=pb.RecordedError(
                error=scope_pb2.ControllerError(code=code, message=message), replayed=recorded.replayed
            )
        )
    outcome = envelope_pb2.RuntimeEffectOutcome.FromString(recorded.outcome_pb or b"")
    return pb.ExecuteResponse(outcome=pb.RecordedOutcome(outcome=outcome, replayed=recorded.replayed))


def _record(row: EffectRow) -> effect_controller_pb2.EffectRecord:
    record = pb.EffectRecord(
        scope=scope_to_proto(scope_from_lash(loads(row.scope_json))),
        replay_key=row.replay_key,
        envelope_hash=row.envelope_hash,
        status=_STATUS[row.status],
        envelope=envelope_pb2.RuntimeEffectEnvelope.FromString(row.envelope_pb),
        lease_owner_id=row.lease_owner or "",
        lease_expires_at_unix_ms=row.lease_expires_at_ms,
        created_at_unix_ms=row.created_at_ms,
        updated_at_unix_ms=row.updated_at_ms,
    )
    if row.outcome_pb is not None:
        record.outcome.CopyFrom(envelope_pb2.RuntimeEffectOutcome.FromString(row.outcome_pb))
    if row.error_json is not None:
        error = loads(row.error_json)
        record.executor_error.CopyFrom(scope_pb2.ControllerError(code=error["code"], message=error["message"]))
    if row.due_at_ms is not None:
        record.due_at_unix_ms = row.due_at_ms
    return record


class EffectControllerServicer:
    def __init__(self, journal: Journal, closing: asyncio.Event, *, heartbeat_interval_s: float) -> None:
        self._journal = journal
        self._closing = closing
        self._heartbeat_s = heartbeat_interval_s

    async def Describe(self, request: Any, context: Context) -> effect_controller_pb2.DescribeResponse:
        return pb.DescribeResponse(
            durability_tier=pb.DURABILITY_TIER_DURABLE,
            supports_durable_effects=True,
            requires_durable_attachment_store=False,
        )

    async def Execute(
        self, request: effect_controller_pb2.ExecuteRequest, context: Context
    ) -> AsyncIterator[effect_controller_pb2.ExecuteResponse]:
        scope = _scope(request)
        if not request.HasField("envelope"):
            raise InvalidArgumentError("invalid_request", "an envelope is required")
        envelope = envelope_from_proto(request.envelope)
        interval = (
            max(0.05, request.heartbeat_interval_ms / 1000) if request.heartbeat_interval_ms else self._heartbeat_s
        )
        running = asyncio.ensure_future(
            self._journal.execute(
                scope,
                envelope,
                request.envelope.SerializeToString(deterministic=True),
                strict=request.strict_replay,
                owner_id=request.owner_id,
                lease_ttl_ms=request.lease_ttl_ms,
                await_deadline_ms=request.await_deadline_unix_ms
                if request.HasField("await_deadline_unix_ms")
                else None,
            )
        )
        closing = asyncio.ensure_future(self._closing.wait())
        try:
            while True:
                done, _ = await asyncio.wait({running, closing}, timeout=interval, return_when=asyncio.FIRST_COMPLETED)
                if running not in done:
                    if closing in done:
                        raise shutting_down()
                    yield pb.ExecuteResponse(heartbeat=await_events_pb2.Heartbeat(server_time_unix_ms=now_ms()))
                    continue
                result = running.result()
                if isinstance(result, Leased):
                    yield pb.ExecuteResponse(
                        lease=pb.EffectLease(
                            lease_token=result.lease_token,
                            owner_id=result.owner_id,
                            expires_at_unix_ms=result.expires_at_ms,
                            envelope_hash=result.envelope_hash,
                        )
                    )
                else:
                    yield _recorded_response(result)
                return
        finally:
            closing.cancel()
            # A dropped stream records nothing: server-owned effects are picked up again on replay.
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError, EffectdError):
                await running

    async def Complete(self, request: effect_controller_pb2.CompleteRequest, context: Context) -> Any:
        scope = _scope(request)
        if not request.replay_key or not request.lease_token:
            raise InvalidArgumentError("invalid_request", "replay_key and lease_token are required")
        which = request.WhichOneof("result")
        if which is None:
            await self._journal.release(scope, request.replay_key, request.lease_token)
        elif which == "outcome":
            # Read strictly and stored as re-encoded: invalid JSON is refused (invalid_json), nothing stored.
            outcome = outcome_to_proto(outcome_from_proto(request.outcome))
            await self._journal.complete(
                scope, request.replay_key, request.lease_token, outcome.SerializeToString(), None
            )
        else:
            error = request.executor_error
            if not error.code:
                raise InvalidArgumentError("invalid_request", "an executor error needs a code")
            await self._journal.complete(
                scope, request.replay_key, request.lease_token, None, (error.code, error.message)
            )
        return pb.CompleteResponse()

    async def RenewLease(self, request: effect_controller_pb2.RenewLeaseRequest, context: Context) -> Any:
        scope = _scope(request)
        expires = await self._journal.renew(scope, request.replay_key, request.lease_token, request.lease_ttl_ms)
        return pb.RenewLeaseResponse(expires_at_unix_ms=expires)

    async def ListEffects(self, request: effect_controller_pb2.ListEffectsRequest, context: Context) -> Any:
        scope = _scope(request)
        limit = min(request.page_size or _PAGE_DEFAULT, _PAGE_MAX)
        try:
            after = int(request.page_token or "0")
        except ValueError:
            raise InvalidArgumentError("invalid_request", "page_token is not one this server issued") from None
        rows = await self._journal.list(scope, after, limit)
        response = pb.ListEffectsResponse(effects=[_record(row) for row in rows])
        if len(rows) == limit:
            response.next_page_token = str(rows[-1].seq)
        return response

    async def GetEffect(self, request: effect_controller_pb2.GetEffectRequest, context: Context) -> Any:
        scope = _scope(request)
        return pb.GetEffectResponse(effect=_record(await self._journal.get(scope, request.replay_key)))
