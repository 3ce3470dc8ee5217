"""Typed outcome accessors (SEED-SPEC §1.6): the payload on a match, `runtime_effect_wrong_outcome` otherwise."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from effectd._effects import (
    AwaitEventOutcome,
    CheckpointOutcome,
    ControllerError,
    DirectOutcome,
    DurableStepOutcome,
    ExecCodeOutcome,
    LlmCallOutcome,
    OutcomeError,
    ProcessOutcome,
    ResultErr,
    ResultOk,
    RuntimeEffectKind,
    RuntimeEffectOutcome,
    SleepOutcome,
    SyncExecutionEnvironmentOutcome,
    ToolCallDone,
    ToolCallOutcome,
    ToolCallPending,
    into_await_event,
    into_checkpoint,
    into_direct_response,
    into_durable_step,
    into_exec_code,
    into_llm_call,
    into_process,
    into_sleep,
    into_sync_execution_environment,
    into_tool_call,
    into_tool_call_effect,
)
from effectd._errors import EffectdError
from effectd._process import ProcessTransferResult
from effectd._scope import AwaitEventKey, CustomWait, Ok, RuntimeOperationScope

KEY = AwaitEventKey(RuntimeOperationScope("op"), CustomWait("k"), "kid", "sig")
LLM = LlmCallOutcome(ResultOk({"text": "hi"}), text_streamed=False)
TOOL_DONE = ToolCallOutcome(ToolCallDone({"call_id": "c1", "output": 1}), triggers=({"source_type": "x"},))

# (outcome, accessor, expected value)
CASES: list[tuple[RuntimeEffectOutcome, Callable[[RuntimeEffectOutcome], Any], Any]] = [
    (LLM, into_llm_call, LLM),
    (DirectOutcome(ResultErr({"message": "no"})), into_direct_response, ResultErr({"message": "no"})),
    (TOOL_DONE, into_tool_call, {"call_id": "c1", "output": 1}),
    (TOOL_DONE, into_tool_call_effect, TOOL_DONE),
    (ProcessOutcome(ProcessTransferResult()), into_process, ProcessTransferResult()),
    (ExecCodeOutcome(ResultErr("boom")), into_exec_code, ResultErr("boom")),
    (CheckpointOutcome(ResultErr(ControllerError("c", "m"))), into_checkpoint, ResultErr(ControllerError("c", "m"))),
    (SyncExecutionEnvironmentOutcome(ResultOk(None)), into_sync_execution_environment, ResultOk(None)),
    (SleepOutcome(), into_sleep, None),
    (AwaitEventOutcome(Ok(1)), into_await_event, Ok(1)),
    (DurableStepOutcome({"v": 2}), into_durable_step, {"v": 2}),
]

EXPECTED_KIND = {
    into_llm_call: RuntimeEffectKind.LLM_CALL,
    into_direct_response: RuntimeEffectKind.DIRECT,
    into_tool_call: RuntimeEffectKind.TOOL_CALL,
    into_tool_call_effect: RuntimeEffectKind.TOOL_CALL,
    into_process: RuntimeEffectKind.PROCESS,
    into_exec_code: RuntimeEffectKind.EXEC_CODE,
    into_checkpoint: RuntimeEffectKind.CHECKPOINT,
    into_sync_execution_environment: RuntimeEffectKind.SYNC_EXECUTION_ENVIRONMENT,
    into_sleep: RuntimeEffectKind.SLEEP,
    into_await_event: RuntimeEffectKind.AWAIT_EVENT,
    into_durable_step: RuntimeEffectKind.DURABLE_STEP,
}


@pytest.mark.parametrize(("outcome", "accessor", "expected"), CASES, ids=lambda v: getattr(v, "__name__", ""))
def test_matching_outcome_returns_its_payload(
    outcome: RuntimeEffectOutcome, accessor: Callable[[RuntimeEffectOutcome], Any], expected: Any
) -> None:
    assert accessor(outcome) == expected


def test_every_kind_has_an_outcome_case() -> None:
    assert {outcome.kind for outcome, _, _ in CASES} == set(RuntimeEffectKind)


@pytest.mark.parametrize("accessor", list(EXPECTED_KIND), ids=lambda f: f.__name__)
def test_wrong_outcome_names_expected_and_actual(accessor: Callable[[RuntimeEffectOutcome], Any]) -> None:
    expected = EXPECTED_KIND[accessor]
    wrong = [outcome for outcome, _, _ in CASES if outcome.kind != expected]
    assert wrong
    for outcome in wrong:
        with pytest.raises(OutcomeError) as info:
            accessor(outcome)
        assert info.value.code == "runtime_effect_wrong_outcome"
        assert info.value.message == f"expected {expected.value} outcome, got {outcome.kind.value}"
        assert isinstance(info.value, EffectdError)


def test_pending_tool_call_has_no_output_yet() -> None:
    pending = ToolCallOutcome(ToolCallPending(KEY, {"on_timeout": "error_as_result"}, duration_ms=5))
    with pytest.raises(OutcomeError) as info:
        into_tool_call(pending)
    assert info.value.code == "runtime_effect_tool_call_pending"
    assert info.value.message == "tool call launch is pending and has no completed output yet"
    # The effect-level accessor still hands back the pending launch.
    assert into_tool_call_effect(pending).launch == pending.launch


def test_outcome_kinds_match_their_tags() -> None:
    for outcome, _, _ in CASES:
        assert outcome.kind.value == type(outcome).LASH_TAG[1]
