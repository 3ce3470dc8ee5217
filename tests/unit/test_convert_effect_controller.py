"""effect_controller.proto <-> the journal's dataclasses: round trips and refusals."""

from __future__ import annotations

from typing import Any

import pytest
from effectd import (
    ControllerDescription,
    ControllerError,
    DurabilityTier,
    DurableStepCommand,
    DurableStepOutcome,
    EffectRecord,
    EffectStatus,
    InvalidArgumentError,
    RuntimeEffectEnvelope,
    RuntimeEffectKind,
    RuntimeInvocation,
    RuntimeScope,
    TurnScope,
)
from effectd import _convert_effect_controller as convert
from effectd._convert_envelope import envelope_to_proto, outcome_to_proto
from effectd._convert_scope import controller_error_to_proto, scope_to_proto
from effectd._journal import EffectLease, RecordedError, RecordedOutcome
from effectd.v1 import await_events_pb2
from effectd.v1 import effect_controller_pb2 as pb
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.test_convert_roundtrip import SETTINGS, envelopes, execution_scopes, outcomes, text, u64

ENVELOPE = RuntimeEffectEnvelope(
    RuntimeInvocation.effect(RuntimeScope("s1", "t1", 0, 0), "1", RuntimeEffectKind.DURABLE_STEP, "r:1"),
    DurableStepCommand("create", {"amount": 12}),
)

controller_errors = st.builds(ControllerError, text, text)
records = st.builds(
    EffectRecord,
    scope=execution_scopes,
    replay_key=text,
    envelope_hash=text,
    status=st.sampled_from(EffectStatus),
    envelope=envelopes,
    outcome=st.none() | outcomes,
    executor_error=st.none() | controller_errors,
    lease_owner_id=st.none() | text.filter(bool),
    lease_expires_at_unix_ms=st.none() | u64.filter(bool),
    due_at_unix_ms=st.none() | u64,
    created_at_unix_ms=u64,
    updated_at_unix_ms=u64,
)
descriptions = st.builds(ControllerDescription, st.sampled_from(DurabilityTier), st.booleans(), st.booleans())
leases = st.builds(EffectLease, text, text, u64, text)


@SETTINGS
@given(records)
def test_effect_record_round_trip(record: EffectRecord) -> None:
    wire = convert.effect_record_to_proto(record)
    assert convert.effect_record_from_proto(pb.EffectRecord.FromString(wire.SerializeToString())) == record


@SETTINGS
@given(descriptions)
def test_description_round_trip(description: ControllerDescription) -> None:
    assert convert.description_from_proto(convert.description_to_proto(description)) == description


@SETTINGS
@given(leases)
def test_lease_round_trip(lease: EffectLease) -> None:
    assert convert.lease_from_proto(convert.lease_to_proto(lease)) == lease


def test_a_record_read_from_the_wire() -> None:
    msg = pb.EffectRecord(
        scope=scope_to_proto(TurnScope("s1", "t1")),
        replay_key="r:1",
        envelope_hash=ENVELOPE.stable_hash(),
        status=pb.EFFECT_STATUS_COMPLETED,
        envelope=envelope_to_proto(ENVELOPE),
        outcome=outcome_to_proto(DurableStepOutcome({"id": 7})),
        lease_owner_id="",
        lease_expires_at_unix_ms=0,
        created_at_unix_ms=5,
        updated_at_unix_ms=6,
    )
    assert convert.effect_record_from_proto(msg) == EffectRecord(
        scope=TurnScope("s1", "t1"),
        replay_key="r:1",
        envelope_hash=ENVELOPE.stable_hash(),
        status=EffectStatus.COMPLETED,
        envelope=ENVELOPE,
        outcome=DurableStepOutcome({"id": 7}),
        executor_error=None,
        lease_owner_id=None,
        lease_expires_at_unix_ms=None,
        due_at_unix_ms=None,
        created_at_unix_ms=5,
        updated_at_unix_ms=6,
    )


def test_statuses_and_tiers_have_lash_names() -> None:
    assert [s.value for s in EffectStatus] == ["in_progress", "completed", "failed"]
    assert [t.value for t in DurabilityTier] == ["inline", "durable"]
    assert DurabilityTier.DURABLE == "durable"


@pytest.mark.parametrize(
    "read",
    [
        lambda: convert.effect_status_from_proto(pb.EFFECT_STATUS_UNSPECIFIED),
        lambda: convert.effect_status_from_proto(99),
        lambda: convert.durability_tier_from_proto(pb.DURABILITY_TIER_UNSPECIFIED),
        lambda: convert.description_from_proto(pb.DescribeResponse()),
    ],
)
def test_unspecified_enums_are_refused(read: Any) -> None:
    with pytest.raises(InvalidArgumentError) as raised:
        read()
    assert raised.value.code == "invalid_request"


def test_execute_answers() -> None:
    lease = pb.EffectLease(lease_token="t", owner_id="o", expires_at_unix_ms=9, envelope_hash="h")
    assert convert.execute_answer_from_proto(pb.ExecuteResponse(lease=lease)) == EffectLease("t", "o", 9, "h")
    recorded = pb.RecordedOutcome(outcome=outcome_to_proto(DurableStepOutcome(1)), replayed=True)
    assert convert.execute_answer_from_proto(pb.ExecuteResponse(outcome=recorded)) == RecordedOutcome(
        DurableStepOutcome(1), replayed=True
    )
    error = pb.RecordedError(error=controller_error_to_proto(ControllerError("c", "m")))
    assert convert.execute_answer_from_proto(pb.ExecuteResponse(executor_error=error)) == RecordedError(
        ControllerError("c", "m"), replayed=False
    )
    heartbeat = pb.ExecuteResponse(heartbeat=await_events_pb2.Heartbeat(server_time_unix_ms=1))
    assert convert.execute_answer_from_proto(heartbeat) is None


def test_requests() -> None:
    scope = TurnScope("s1", "t1")
    request = convert.execute_request(scope, ENVELOPE, strict_replay=True, owner_id="me", lease_ttl_ms=500)
    assert request.strict_replay and request.owner_id == "me" and request.lease_ttl_ms == 500
    assert not request.HasField("await_deadline_unix_ms")
    assert convert.execute_request(scope, ENVELOPE, await_deadline_unix_ms=0).HasField("await_deadline_unix_ms")
    outcome = convert.complete_request(scope, "r:1", "t", outcome=DurableStepOutcome(1))
    assert outcome.WhichOneof("result") == "outcome"
    failed = convert.complete_request(scope, "r:1", "t", executor_error=ControllerError("c", "m"))
    assert failed.WhichOneof("result") == "executor_error"
    assert (failed.executor_error.code, failed.executor_error.message) == ("c", "m")
    assert convert.complete_request(scope, "r:1", "t").WhichOneof("result") is None  # a release
    renew = convert.renew_lease_request(scope, "r:1", "t", 300)
    assert (renew.replay_key, renew.lease_token, renew.lease_ttl_ms) == ("r:1", "t", 300)
    listed = convert.list_effects_request(scope, 10, "next")
    assert (listed.page_size, listed.page_token) == (10, "next")
    assert convert.get_effect_request(scope, "r:1").replay_key == "r:1"
