"""Effect envelopes, commands and outcomes (SEED-SPEC §1.3-1.6), as frozen dataclasses.

Fields are declared in lash's declaration order and carry lash's serde shape (see `_lashjson`), so
`dumps(envelope)` is the exact text lash hashes and `RuntimeEffectEnvelope.stable_hash()` equals lash's
envelope hash. JSON that effectd does not interpret (LLM requests and responses, tool arguments and
results, step inputs and values) stays a plain JSON value.

The invocation lineage (scopes, subjects, causal references, effect kinds) lives in `_lineage`, process
commands and outcomes in `_process`; this module builds on both.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, ClassVar, NoReturn

import grpc

from effectd._checked import Checked
from effectd._errors import EffectdError, InvalidArgumentError
from effectd._lashjson import JsonValue, sha256_hex
from effectd._lineage import (
    CausalRef,
    EffectRef,
    EffectSubject,
    PreparedToolCall,
    ProcessEventRef,
    ProcessEventSubject,
    ProcessRef,
    ProcessSubject,
    RuntimeEffectKind,
    RuntimeInvocation,
    RuntimeReplay,
    RuntimeScope,
    RuntimeSubject,
    SessionNodeRef,
    SessionNodeSubject,
    ToolCallRef,
    TriggerOccurrenceRef,
    TriggerOccurrenceSubject,
    TurnRef,
    causal_ref_from_lash,
    invocation_from_lash,
    prepared_tool_call_from_lash,
    runtime_scope_from_lash,
    subject_from_lash,
)
from effectd._process import ProcessCommand, ProcessEffectOutcome
from effectd._scope import AwaitEventKey, Resolution
from effectd._scope import blank as _blank

__all__ = [
    "AwaitEventCommand",
    "AwaitEventOutcome",
    "CheckpointCommand",
    "CheckpointKind",
    "CheckpointOutcome",
    "ControllerError",
    "DirectCommand",
    "DirectOutcome",
    "DurableStepCommand",
    "DurableStepOutcome",
    "ExecCodeCommand",
    "ExecCodeOutcome",
    "LlmCallCommand",
    "LlmCallOutcome",
    "OutcomeError",
    "ProcessEffectCommand",
    "ProcessOutcome",
    "Result",
    "ResultErr",
    "ResultOk",
    "RuntimeEffectCommand",
    "RuntimeEffectEnvelope",
    "RuntimeEffectOutcome",
    "SleepCommand",
    "SleepOutcome",
    "SyncExecutionEnvironmentCommand",
    "SyncExecutionEnvironmentOutcome",
    "ToolCallCommand",
    "ToolCallDone",
    "ToolCallLaunch",
    "ToolCallOutcome",
    "ToolCallPending",
    "into_await_event",
    "into_checkpoint",
    "into_direct_response",
    "into_durable_step",
    "into_exec_code",
    "into_llm_call",
    "into_process",
    "into_sleep",
    "into_sync_execution_environment",
    "into_tool_call",
    "into_tool_call_effect",
    "validate_envelope",
]
# Re-exported from _lineage, so that `_effects.RuntimeScope` and the like keep working for the converters;
# new code imports them from `_lineage`.
__all__ += [
    "CausalRef",
    "EffectRef",
    "EffectSubject",
    "PreparedToolCall",
    "ProcessEventRef",
    "ProcessEventSubject",
    "ProcessRef",
    "ProcessSubject",
    "RuntimeEffectKind",
    "RuntimeInvocation",
    "RuntimeReplay",
    "RuntimeScope",
    "RuntimeSubject",
    "SessionNodeRef",
    "SessionNodeSubject",
    "ToolCallRef",
    "TriggerOccurrenceRef",
    "TriggerOccurrenceSubject",
    "TurnRef",
    "causal_ref_from_lash",
    "invocation_from_lash",
    "prepared_tool_call_from_lash",
    "runtime_scope_from_lash",
    "subject_from_lash",
]


class CheckpointKind(enum.StrEnum):
    AFTER_WORK = "after_work"
    BEFORE_COMPLETION = "before_completion"


# -- commands (§1.4) --------------------------------------------------------------------------------


class _Tagged(Checked):
    """Mixin for the variants of a `"type"`-tagged effect enum: `kind` is the variant's effect kind."""

    __slots__ = ()
    LASH_TAG: ClassVar[tuple[str, str]]

    @property
    def kind(self) -> RuntimeEffectKind:
        return RuntimeEffectKind(self.LASH_TAG[1])


@dataclass(frozen=True, slots=True)
class LlmCallCommand(_Tagged):
    request: JsonValue
    """lash's `LlmRequestSpec` as JSON."""
    LASH_TAG: ClassVar = ("type", "llm_call")


@dataclass(frozen=True, slots=True)
class DirectCommand(_Tagged):
    request: JsonValue
    usage_source: str
    LASH_TAG: ClassVar = ("type", "direct")


@dataclass(frozen=True, slots=True)
class ToolCallCommand(_Tagged):
    call: PreparedToolCall
    LASH_TAG: ClassVar = ("type", "tool_call")


@dataclass(frozen=True, slots=True)
class ProcessEffectCommand(_Tagged):
    """A process registry operation; lash-json `{"type":"process","command":{"op":...}}`."""

    command: ProcessCommand
    LASH_TAG: ClassVar = ("type", "process")


@dataclass(frozen=True, slots=True)
class ExecCodeCommand(_Tagged):
    code: str
    LASH_TAG: ClassVar = ("type", "exec_code")


@dataclass(frozen=True, slots=True)
class CheckpointCommand(_Tagged):
    checkpoint: CheckpointKind
    LASH_TAG: ClassVar = ("type", "checkpoint")


@dataclass(frozen=True, slots=True)
class SyncExecutionEnvironmentCommand(_Tagged):
    update_machine_config: bool
    LASH_TAG: ClassVar = ("type", "sync_execution_environment")


@dataclass(frozen=True, slots=True)
class SleepCommand(_Tagged):
    duration_ms: int
    LASH_TAG: ClassVar = ("type", "sleep")


@dataclass(frozen=True, slots=True)
class AwaitEventCommand(_Tagged):
    key: AwaitEventKey
    LASH_TAG: ClassVar = ("type", "await_event")


@dataclass(frozen=True, slots=True)
class DurableStepCommand(_Tagged):
    step_id: str
    input: JsonValue
    LASH_TAG: ClassVar = ("type", "durable_step")


RuntimeEffectCommand = (
    LlmCallCommand
    | DirectCommand
    | ToolCallCommand
    | ProcessEffectCommand
    | ExecCodeCommand
    | CheckpointCommand
    | SyncExecutionEnvironmentCommand
    | SleepCommand
    | AwaitEventCommand
    | DurableStepCommand
)


# -- the envelope (§1.3) ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RuntimeEffectEnvelope(Checked):
    """What a runtime hands its effect controller at a nondeterministic boundary."""

    invocation: RuntimeInvocation
    command: RuntimeEffectCommand

    def stable_hash(self) -> str:
        """The envelope hash: sha256 hex of the envelope's lash-json (lash's `stable_hash()`)."""
        return sha256_hex(self)


def validate_envelope(envelope: RuntimeEffectEnvelope) -> None:
    """The seed's `RuntimeEffectEnvelope::try_new` checks, in order; the first failure is raised."""
    subject = envelope.invocation.subject
    if not isinstance(subject, EffectSubject):
        raise InvalidArgumentError(
            "runtime_effect_invocation_subject", "runtime effect envelope subject must be an effect"
        )
    if _blank(subject.effect_id):
        raise InvalidArgumentError(
            "runtime_effect_invocation_subject", "runtime effect envelope effect id must be non-empty"
        )
    command_kind = envelope.command.kind
    if subject.kind != command_kind:
        raise InvalidArgumentError(
            "runtime_effect_invocation_kind",
            f"runtime effect invocation kind {subject.kind} does not match command kind {command_kind}",
        )
    replay = envelope.invocation.replay
    if replay is None or replay.key == "":
        raise InvalidArgumentError("runtime_effect_replay_required", "runtime effect envelope requires replay.key")
    command = envelope.command
    if isinstance(command, DurableStepCommand) and _blank(command.step_id):
        raise InvalidArgumentError("runtime_effect_durable_step_id", "runtime effect durable step id must be non-empty")


# -- outcomes (§1.6) --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResultOk(Checked):
    """Rust's `Ok(value)`; lash-json `{"Ok": value}`."""

    value: Any
    LASH_EXTERNAL: ClassVar = "Ok"


@dataclass(frozen=True, slots=True)
class ResultErr(Checked):
    """Rust's `Err(error)`; lash-json `{"Err": error}`."""

    error: Any
    LASH_EXTERNAL: ClassVar = "Err"


Result = ResultOk | ResultErr


@dataclass(frozen=True, slots=True)
class ControllerError(Checked):
    """The seed's `RuntimeEffectControllerError`."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class ToolCallDone(Checked):
    result: JsonValue
    """lash's `CompletedToolCall` as JSON."""
    LASH_TAG: ClassVar = ("status", "done")


@dataclass(frozen=True, slots=True)
class ToolCallPending(Checked):
    key: AwaitEventKey
    pending: JsonValue
    """lash's `PendingCompletion` as JSON."""
    duration_ms: int
    LASH_TAG: ClassVar = ("status", "pending")


ToolCallLaunch = ToolCallDone | ToolCallPending


@dataclass(frozen=True, slots=True)
class LlmCallOutcome(_Tagged):
    result: Result
    """`ResultOk(LlmResponse JSON)` or `ResultErr(LlmCallError JSON)`."""
    text_streamed: bool
    LASH_TAG: ClassVar = ("type", "llm_call")


@dataclass(frozen=True, slots=True)
class DirectOutcome(_Tagged):
    result: Result
    """`ResultOk(LlmResponse JSON)` or `ResultErr(LlmCallError JSON)`."""
    LASH_TAG: ClassVar = ("type", "direct")


@dataclass(frozen=True, slots=True)
class ToolCallOutcome(_Tagged):
    launch: ToolCallLaunch
    triggers: tuple[JsonValue, ...] = ()
    """lash's `ToolTriggerEffectOutcome` values as JSON; omitted from lash-json when empty."""
    LASH_TAG: ClassVar = ("type", "tool_call")
    LASH_OMIT_EMPTY: ClassVar = frozenset({"triggers"})


@dataclass(frozen=True, slots=True)
class ProcessOutcome(_Tagged):
    result: ProcessEffectOutcome
    LASH_TAG: ClassVar = ("type", "process")


@dataclass(frozen=True, slots=True)
class ExecCodeOutcome(_Tagged):
    result: Result
    """`ResultOk(ExecResponse JSON)` or `ResultErr(str)`."""
    LASH_TAG: ClassVar = ("type", "exec_code")


@dataclass(frozen=True, slots=True)
class CheckpointOutcome(_Tagged):
    result: Result
    """`ResultOk(CheckpointDelivery JSON)` or `ResultErr(ControllerError)`."""
    LASH_TAG: ClassVar = ("type", "checkpoint")


@dataclass(frozen=True, slots=True)
class SyncExecutionEnvironmentOutcome(_Tagged):
    result: Result
    """`ResultOk(ExecutionEnvironmentSync JSON or None)` or `ResultErr(str)`."""
    LASH_TAG: ClassVar = ("type", "sync_execution_environment")


@dataclass(frozen=True, slots=True)
class SleepOutcome(_Tagged):
    LASH_TAG: ClassVar = ("type", "sleep")


@dataclass(frozen=True, slots=True)
class AwaitEventOutcome(_Tagged):
    resolution: Resolution
    LASH_TAG: ClassVar = ("type", "await_event")


@dataclass(frozen=True, slots=True)
class DurableStepOutcome(_Tagged):
    value: JsonValue
    LASH_TAG: ClassVar = ("type", "durable_step")


RuntimeEffectOutcome = (
    LlmCallOutcome
    | DirectOutcome
    | ToolCallOutcome
    | ProcessOutcome
    | ExecCodeOutcome
    | CheckpointOutcome
    | SyncExecutionEnvironmentOutcome
    | SleepOutcome
    | AwaitEventOutcome
    | DurableStepOutcome
)


# -- typed accessors (§1.6) -------------------------------------------------------------------------


class OutcomeError(EffectdError):
    """An outcome is not the one the caller expected (`runtime_effect_wrong_outcome`) or a tool call is still
    pending (`runtime_effect_tool_call_pending`). A broken contract between controller and runtime, not bad input."""

    status = grpc.StatusCode.FAILED_PRECONDITION


def _wrong(expected: RuntimeEffectKind, outcome: RuntimeEffectOutcome) -> NoReturn:
    raise OutcomeError("runtime_effect_wrong_outcome", f"expected {expected} outcome, got {outcome.kind}")


def into_llm_call(outcome: RuntimeEffectOutcome) -> LlmCallOutcome:
    """The `llm_call` outcome (its `result` and `text_streamed`)."""
    if not isinstance(outcome, LlmCallOutcome):
        _wrong(RuntimeEffectKind.LLM_CALL, outcome)
    return outcome


def into_direct_response(outcome: RuntimeEffectOutcome) -> Result:
    if not isinstance(outcome, DirectOutcome):
        _wrong(RuntimeEffectKind.DIRECT, outcome)
    return outcome.result


def into_tool_call(outcome: RuntimeEffectOutcome) -> JsonValue:
    """The completed tool call (JSON); raises `runtime_effect_tool_call_pending` for a pending launch."""
    if not isinstance(outcome, ToolCallOutcome):
        _wrong(RuntimeEffectKind.TOOL_CALL, outcome)
    if isinstance(outcome.launch, ToolCallPending):
        raise OutcomeError(
            "runtime_effect_tool_call_pending", "tool call launch is pending and has no completed output yet"
        )
    return outcome.launch.result


def into_tool_call_effect(outcome: RuntimeEffectOutcome) -> ToolCallOutcome:
    """The tool call's launch and triggers (lash's `ToolCallEffectOutcome`)."""
    if not isinstance(outcome, ToolCallOutcome):
        _wrong(RuntimeEffectKind.TOOL_CALL, outcome)
    return outcome


def into_process(outcome: RuntimeEffectOutcome) -> ProcessEffectOutcome:
    if not isinstance(outcome, ProcessOutcome):
        _wrong(RuntimeEffectKind.PROCESS, outcome)
    return outcome.result


def into_exec_code(outcome: RuntimeEffectOutcome) -> Result:
    if not isinstance(outcome, ExecCodeOutcome):
        _wrong(RuntimeEffectKind.EXEC_CODE, outcome)
    return outcome.result


def into_checkpoint(outcome: RuntimeEffectOutcome) -> Result:
    if not isinstance(outcome, CheckpointOutcome):
        _wrong(RuntimeEffectKind.CHECKPOINT, outcome)
    return outcome.result


def into_sync_execution_environment(outcome: RuntimeEffectOutcome) -> Result:
    if not isinstance(outcome, SyncExecutionEnvironmentOutcome):
        _wrong(RuntimeEffectKind.SYNC_EXECUTION_ENVIRONMENT, outcome)
    return outcome.result


def into_sleep(outcome: RuntimeEffectOutcome) -> None:
    """Check that a sleep finished (lash's `sleep_lashlang` check; sleep carries no value)."""
    if not isinstance(outcome, SleepOutcome):
        _wrong(RuntimeEffectKind.SLEEP, outcome)


def into_await_event(outcome: RuntimeEffectOutcome) -> Resolution:
    if not isinstance(outcome, AwaitEventOutcome):
        _wrong(RuntimeEffectKind.AWAIT_EVENT, outcome)
    return outcome.resolution


def into_durable_step(outcome: RuntimeEffectOutcome) -> JsonValue:
    if not isinstance(outcome, DurableStepOutcome):
        _wrong(RuntimeEffectKind.DURABLE_STEP, outcome)
    return outcome.value
