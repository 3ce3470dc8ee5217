"""The lineage types live in `_lineage`, are public from `effectd`, and read back from lash JSON."""

from __future__ import annotations

import pytest
from effectd import (
    EffectRef,
    EffectSubject,
    InvalidArgumentError,
    PreparedToolCall,
    ProcessEventSubject,
    RuntimeEffectKind,
    RuntimeInvocation,
    RuntimeReplay,
    RuntimeScope,
    TurnRef,
    _effects,
    _lineage,
    causal_ref_from_lash,
    invocation_from_lash,
    prepared_tool_call_from_lash,
    subject_from_lash,
)
from effectd._lashjson import dumps, loads


def test_the_effects_module_re_exports_the_same_objects() -> None:
    for name in _lineage.__all__:
        assert getattr(_effects, name) is getattr(_lineage, name), name


def test_an_invocation_reads_back_from_its_lash_json() -> None:
    invocation = RuntimeInvocation(
        scope=RuntimeScope("s1", "t1", 3, 0),
        subject=EffectSubject("e1", RuntimeEffectKind.TOOL_CALL),
        caused_by=TurnRef("s1", "t1"),
        replay=RuntimeReplay("r:1"),
    )
    assert invocation_from_lash(loads(dumps(invocation))) == invocation
    assert invocation.causal_ref() == EffectRef("s1", "t1", "e1")
    assert invocation.effect_kind == RuntimeEffectKind.TOOL_CALL and invocation.replay_key == "r:1"
    subject = ProcessEventSubject("p1", 4, "output")
    assert subject_from_lash(loads(dumps(subject))) == subject
    call = PreparedToolCall("c1", "search", {"q": "x"}, prepared_payload={"p": 1})
    assert prepared_tool_call_from_lash(loads(dumps(call))) == call


@pytest.mark.parametrize(
    ("read", "value", "message"),
    [
        (causal_ref_from_lash, [], "causal reference must be a JSON object"),
        (causal_ref_from_lash, {"type": "nope"}, "causal reference has an unknown type 'nope'"),
        (subject_from_lash, {"type": "effect", "effect_id": "e", "kind": "teleport"}, "unknown kind 'teleport'"),
        (
            subject_from_lash,
            {"type": "process_event", "process_id": "p", "sequence": -1, "event_type": "x"},
            "sequence",
        ),
        (invocation_from_lash, {"scope": {"session_id": 1}}, "runtime scope needs a string 'session_id'"),
    ],
)
def test_bad_lash_json_is_invalid_request(read: object, value: object, message: str) -> None:
    with pytest.raises(InvalidArgumentError) as raised:
        read(value)  # type: ignore[operator]
    assert raised.value.code == "invalid_request"
    assert message in raised.value.message
