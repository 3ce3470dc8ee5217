"""Envelope validation: the seed's five rules (SEED-SPEC §1.3), their codes and messages, and their order."""

from __future__ import annotations

import pytest
from effectd._effects import (
    DurableStepCommand,
    EffectSubject,
    ExecCodeCommand,
    ProcessSubject,
    RuntimeEffectCommand,
    RuntimeEffectEnvelope,
    RuntimeEffectKind,
    RuntimeInvocation,
    RuntimeReplay,
    RuntimeScope,
    RuntimeSubject,
    SleepCommand,
    validate_envelope,
)
from effectd._errors import InvalidArgumentError

SCOPE = RuntimeScope("session-1")
REPLAY = RuntimeReplay("replay-1")


def envelope(
    subject: RuntimeSubject | None = None,
    command: RuntimeEffectCommand | None = None,
    replay: RuntimeReplay | None = REPLAY,
) -> RuntimeEffectEnvelope:
    return RuntimeEffectEnvelope(
        invocation=RuntimeInvocation(
            scope=SCOPE,
            subject=subject if subject is not None else EffectSubject("effect-1", RuntimeEffectKind.SLEEP),
            replay=replay,
        ),
        command=command if command is not None else SleepCommand(10),
    )


def rejects(env: RuntimeEffectEnvelope) -> InvalidArgumentError:
    with pytest.raises(InvalidArgumentError) as info:
        validate_envelope(env)
    return info.value


def test_a_valid_envelope_passes() -> None:
    validate_envelope(envelope())
    validate_envelope(
        envelope(EffectSubject("e", RuntimeEffectKind.DURABLE_STEP), DurableStepCommand("create", {"x": 1}))
    )


def test_rule_1_subject_must_be_an_effect() -> None:
    error = rejects(envelope(subject=ProcessSubject("p1")))
    assert error.code == "runtime_effect_invocation_subject"
    assert error.message == "runtime effect envelope subject must be an effect"


@pytest.mark.parametrize("effect_id", ["", " ", "\t\n", "\u3000"])
def test_rule_2_effect_id_must_be_non_empty_after_trim(effect_id: str) -> None:
    error = rejects(envelope(subject=EffectSubject(effect_id, RuntimeEffectKind.SLEEP)))
    assert error.code == "runtime_effect_invocation_subject"
    assert error.message == "runtime effect envelope effect id must be non-empty"


def test_rule_2_trims_like_rust() -> None:
    """Rust's trim strips Unicode White_Space only; U+001F is not whitespace there."""
    validate_envelope(envelope(subject=EffectSubject("\x1f", RuntimeEffectKind.SLEEP)))


def test_rule_3_subject_kind_must_match_command_kind() -> None:
    error = rejects(envelope(subject=EffectSubject("e", RuntimeEffectKind.EXEC_CODE)))
    assert error.code == "runtime_effect_invocation_kind"
    assert error.message == "runtime effect invocation kind exec_code does not match command kind sleep"


def test_rule_4_replay_is_required() -> None:
    error = rejects(envelope(replay=None))
    assert error.code == "runtime_effect_replay_required"
    assert error.message == "runtime effect envelope requires replay.key"


def test_rule_4_replay_key_must_not_be_empty() -> None:
    error = rejects(envelope(replay=RuntimeReplay("")))
    assert error.code == "runtime_effect_replay_required"


def test_rule_4_does_not_trim_the_replay_key() -> None:
    validate_envelope(envelope(replay=RuntimeReplay(" ")))


@pytest.mark.parametrize("step_id", ["", "  "])
def test_rule_5_durable_step_id_must_be_non_empty(step_id: str) -> None:
    error = rejects(envelope(EffectSubject("e", RuntimeEffectKind.DURABLE_STEP), DurableStepCommand(step_id, None)))
    assert error.code == "runtime_effect_durable_step_id"
    assert error.message == "runtime effect durable step id must be non-empty"


def test_first_failure_wins() -> None:
    # Breaks rules 1, 4 (and has no effect id or kind): rule 1 is reported.
    assert rejects(envelope(subject=ProcessSubject("p"), replay=None)).message.endswith("must be an effect")
    # Breaks rules 2, 3 and 4: rule 2 is reported.
    error = rejects(envelope(subject=EffectSubject("", RuntimeEffectKind.EXEC_CODE), replay=None))
    assert error.message == "runtime effect envelope effect id must be non-empty"
    # Breaks rules 3 and 4: rule 3 is reported.
    assert rejects(envelope(EffectSubject("e", RuntimeEffectKind.DURABLE_STEP), replay=None)).code == (
        "runtime_effect_invocation_kind"
    )
    # Breaks rules 4 and 5: rule 4 is reported.
    both = envelope(EffectSubject("e", RuntimeEffectKind.DURABLE_STEP), DurableStepCommand("", None), replay=None)
    assert rejects(both).code == "runtime_effect_replay_required"


def test_rule_3_is_checked_for_every_command_kind() -> None:
    error = rejects(envelope(subject=EffectSubject("e", RuntimeEffectKind.SLEEP), command=ExecCodeCommand("x")))
    assert error.message == "runtime effect invocation kind sleep does not match command kind exec_code"


def test_errors_are_invalid_argument_with_the_code_in_str() -> None:
    error = rejects(envelope(replay=None))
    assert str(error) == "runtime_effect_replay_required: runtime effect envelope requires replay.key"
