"""`effect_controller.proto` messages <-> the journal's dataclasses (`_journal`), both directions side by side.

Scopes, envelopes, outcomes and controller errors are converted by `_to_proto` / `_from_proto`; this module
adds the controller's own messages: the description, journal records, leases, Execute's answers and the
requests the SDK sends.
"""

from __future__ import annotations

from effectd._convert_envelope import envelope_from_proto, envelope_to_proto, outcome_from_proto, outcome_to_proto
from effectd._convert_scope import (
    controller_error_from_proto,
    controller_error_to_proto,
    scope_from_proto,
    scope_to_proto,
)
from effectd._effects import ControllerError, RuntimeEffectEnvelope, RuntimeEffectOutcome
from effectd._errors import InvalidArgumentError
from effectd._journal import (
    ControllerDescription,
    DurabilityTier,
    EffectLease,
    EffectRecord,
    EffectStatus,
    RecordedError,
    RecordedOutcome,
    ScopeSummary,
)
from effectd._scope import ExecutionScope
from effectd.v1 import effect_controller_pb2 as pb

__all__ = [
    "complete_request",
    "description_from_proto",
    "description_to_proto",
    "durability_tier_from_proto",
    "durability_tier_to_proto",
    "effect_record_from_proto",
    "effect_record_to_proto",
    "effect_status_from_proto",
    "effect_status_to_proto",
    "execute_answer_from_proto",
    "execute_request",
    "get_effect_request",
    "lease_from_proto",
    "lease_to_proto",
    "list_effects_request",
    "renew_lease_request",
    "scope_summary_from_proto",
    "scope_summary_to_proto",
]

ExecuteAnswer = EffectLease | RecordedOutcome | RecordedError

_TIERS: dict[DurabilityTier, int] = {
    DurabilityTier.INLINE: pb.DURABILITY_TIER_INLINE,
    DurabilityTier.DURABLE: pb.DURABILITY_TIER_DURABLE,
}
_TIERS_BACK = {number: tier for tier, number in _TIERS.items()}

_STATUSES: dict[EffectStatus, int] = {
    EffectStatus.IN_PROGRESS: pb.EFFECT_STATUS_IN_PROGRESS,
    EffectStatus.COMPLETED: pb.EFFECT_STATUS_COMPLETED,
    EffectStatus.FAILED: pb.EFFECT_STATUS_FAILED,
}
_STATUSES_BACK = {number: status for status, number in _STATUSES.items()}


# -- enums ------------------------------------------------------------------------------------------


def durability_tier_from_proto(value: int) -> DurabilityTier:
    try:
        return _TIERS_BACK[value]
    except KeyError:
        raise InvalidArgumentError("invalid_request", f"durability tier is required (got enum value {value})") from None


def durability_tier_to_proto(value: DurabilityTier) -> int:
    return _TIERS[value]


def effect_status_from_proto(value: int) -> EffectStatus:
    try:
        return _STATUSES_BACK[value]
    except KeyError:
        raise InvalidArgumentError("invalid_request", f"effect status is required (got enum value {value})") from None


def effect_status_to_proto(value: EffectStatus) -> int:
    return _STATUSES[value]


# -- Describe ---------------------------------------------------------------------------------------


def description_from_proto(msg: pb.DescribeResponse) -> ControllerDescription:
    return ControllerDescription(
        durability_tier=durability_tier_from_proto(msg.durability_tier),
        supports_durable_effects=msg.supports_durable_effects,
        requires_durable_attachment_store=msg.requires_durable_attachment_store,
    )


def description_to_proto(value: ControllerDescription) -> pb.DescribeResponse:
    return pb.DescribeResponse(
        durability_tier=durability_tier_to_proto(value.durability_tier),  # type: ignore[arg-type]
        supports_durable_effects=value.supports_durable_effects,
        requires_durable_attachment_store=value.requires_durable_attachment_store,
    )


# -- journal records --------------------------------------------------------------------------------


def effect_record_from_proto(msg: pb.EffectRecord) -> EffectRecord:
    return EffectRecord(
        scope=scope_from_proto(msg.scope),
        replay_key=msg.replay_key,
        envelope_hash=msg.envelope_hash,
        status=effect_status_from_proto(msg.status),
        envelope=envelope_from_proto(msg.envelope),
        outcome=outcome_from_proto(msg.outcome) if msg.HasField("outcome") else None,
        executor_error=controller_error_from_proto(msg.executor_error) if msg.HasField("executor_error") else None,
        lease_owner_id=msg.lease_owner_id or None,
        lease_expires_at_unix_ms=msg.lease_expires_at_unix_ms or None,
        due_at_unix_ms=msg.due_at_unix_ms if msg.HasField("due_at_unix_ms") else None,
        created_at_unix_ms=msg.created_at_unix_ms,
        updated_at_unix_ms=msg.updated_at_unix_ms,
    )


def scope_summary_to_proto(value: ScopeSummary) -> pb.ScopeSummary:
    return pb.ScopeSummary(
        scope=scope_to_proto(value.scope), effects=value.effects, updated_at_unix_ms=value.updated_at_unix_ms
    )


def scope_summary_from_proto(msg: pb.ScopeSummary) -> ScopeSummary:
    return ScopeSummary(scope_from_proto(msg.scope), msg.effects, msg.updated_at_unix_ms)


def effect_record_to_proto(value: EffectRecord) -> pb.EffectRecord:
    msg = pb.EffectRecord(
        scope=scope_to_proto(value.scope),
        replay_key=value.replay_key,
        envelope_hash=value.envelope_hash,
        status=effect_status_to_proto(value.status),  # type: ignore[arg-type]
        envelope=envelope_to_proto(value.envelope),
        lease_owner_id=value.lease_owner_id or "",
        lease_expires_at_unix_ms=value.lease_expires_at_unix_ms or 0,
        created_at_unix_ms=value.created_at_unix_ms,
        updated_at_unix_ms=value.updated_at_unix_ms,
    )
    if value.outcome is not None:
        msg.outcome.CopyFrom(outcome_to_proto(value.outcome))
    if value.executor_error is not None:
        msg.executor_error.CopyFrom(controller_error_to_proto(value.executor_error))
    if value.due_at_unix_ms is not None:
        msg.due_at_unix_ms = value.due_at_unix_ms
    return msg


# -- Execute, Complete, RenewLease --------------------------------------------------------------------


def lease_from_proto(msg: pb.EffectLease) -> EffectLease:
    return EffectLease(msg.lease_token, msg.owner_id, msg.expires_at_unix_ms, msg.envelope_hash)


def lease_to_proto(value: EffectLease) -> pb.EffectLease:
    return pb.EffectLease(
        lease_token=value.lease_token,
        owner_id=value.owner_id,
        expires_at_unix_ms=value.expires_at_unix_ms,
        envelope_hash=value.envelope_hash,
    )


def execute_request(
    scope: ExecutionScope,
    envelope: RuntimeEffectEnvelope,
    *,
    strict_replay: bool = False,
    owner_id: str = "",
    lease_ttl_ms: int = 0,
    heartbeat_interval_ms: int = 0,
    await_deadline_unix_ms: int | None = None,
    delegate: pb.DelegateOptions | None = None,
) -> pb.ExecuteRequest:
    request = pb.ExecuteRequest(
        scope=scope_to_proto(scope),
        envelope=envelope_to_proto(envelope),
        strict_replay=strict_replay,
        owner_id=owner_id,
        lease_ttl_ms=lease_ttl_ms,
        heartbeat_interval_ms=heartbeat_interval_ms,
    )
    if await_deadline_unix_ms is not None:
        request.await_deadline_unix_ms = await_deadline_unix_ms
    if delegate is not None:
        request.delegate.CopyFrom(delegate)
    return request


def execute_answer_from_proto(msg: pb.ExecuteResponse) -> ExecuteAnswer | None:
    """Execute's answer: a lease, an outcome or an executor error; None for a heartbeat."""
    which = msg.WhichOneof("event")
    if which == "lease":
        return lease_from_proto(msg.lease)
    if which == "outcome":
        return RecordedOutcome(outcome_from_proto(msg.outcome.outcome), msg.outcome.replayed)
    if which == "executor_error":
        return RecordedError(controller_error_from_proto(msg.executor_error.error), msg.executor_error.replayed)
    return None


def complete_request(
    scope: ExecutionScope,
    replay_key: str,
    lease_token: str,
    *,
    outcome: RuntimeEffectOutcome | None = None,
    executor_error: ControllerError | None = None,
) -> pb.CompleteRequest:
    """Complete with an outcome, an executor error, or neither (releases the lease, records nothing)."""
    request = pb.CompleteRequest(scope=scope_to_proto(scope), replay_key=replay_key, lease_token=lease_token)
    if outcome is not None:
        request.outcome.CopyFrom(outcome_to_proto(outcome))
    elif executor_error is not None:
        request.executor_error.CopyFrom(controller_error_to_proto(executor_error))
    return request


def renew_lease_request(
    scope: ExecutionScope, replay_key: str, lease_token: str, lease_ttl_ms: int
) -> pb.RenewLeaseRequest:
    return pb.RenewLeaseRequest(
        scope=scope_to_proto(scope), replay_key=replay_key, lease_token=lease_token, lease_ttl_ms=lease_ttl_ms
    )


# -- ListEffects, GetEffect ---------------------------------------------------------------------------


def list_effects_request(scope: ExecutionScope, page_size: int, page_token: str) -> pb.ListEffectsRequest:
    return pb.ListEffectsRequest(scope=scope_to_proto(scope), page_size=page_size, page_token=page_token)


def get_effect_request(scope: ExecutionScope, replay_key: str) -> pb.GetEffectRequest:
    return pb.GetEffectRequest(scope=scope_to_proto(scope), replay_key=replay_key)
