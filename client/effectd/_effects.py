"""Effect envelopes, commands and outcomes (SEED-SPEC §1), as frozen dataclasses.

Fields are declared in lash's declaration order and carry lash's serde shape (see `_lashjson`), so
`dumps(envelope)` is the exact text lash hashes and `RuntimeEffectEnvelope.stable_hash()` equals lash's
envelope hash. JSON that effectd does not interpret (LLM requests and responses, tool arguments and
results, step inputs and values) stays a plain JSON value.

Process commands and outcomes live in `_process`; they import the lineage types defined here.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

import grpc

from effectd._errors import EffectdError, InvalidArgumentError
from effectd._lashjson import JsonValue, sha256_hex
from effectd._scope import AwaitEventKey, Resolution
from effectd._scope import blank as _blank

if TYPE_CHECKING:
    from effectd._process import ProcessCommand, ProcessEffectOutcome

__all__ = [
    "AwaitEventCommand",
    "AwaitEventOutcome",
    "CausalRef",
    "CheckpointCommand",
    "CheckpointKind",
    "CheckpointOutcome",
    "ControllerError",
    "DirectCommand",
    "DirectOutcome",
    "DurableStepCommand",
    "DurableStepOutcome",
    "EffectRef",
    "EffectSubject",
    "ExecCodeCommand",
    "ExecCodeOutcome",
    "LlmCallCommand",
    "LlmCallOutcome",
    "OutcomeError",
    "PreparedToolCall",
    "ProcessEffectCommand",
    "ProcessEventRef",
    "ProcessEventSubject",
    "ProcessOutcome",
    "ProcessRef",
    "ProcessSubject",
    "Result",
    "ResultErr",
    "ResultOk",
    "RuntimeEffectCommand",
    "RuntimeEffectEnvelope",
    "RuntimeEffectKind",
    "RuntimeEffectOutcome",
    "RuntimeInvocation",
    "RuntimeReplay",
    "RuntimeScope",
    "RuntimeSubject",
    "SessionNodeRef",
    "SessionNodeSubject",
    "SleepCommand",
    "SleepOutcome",
    "SyncExecutionEnvironmentCommand",
    "SyncExecutionEnvironmentOutcome",
    "ToolCallCommand",
    "ToolCallDone",
    "ToolCallLaunch",
    "ToolCallOutcome",
    "ToolCallPending",
    "ToolCallRef",
    "TriggerOccurrenceRef",
    "TriggerOccurrenceSubject",
    "TurnRef",
    "causal_ref_from_lash",
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
    "invocation_from_lash",
    "prepared_tool_call_from_lash",
    "runtime_scope_from_lash",
    "subject_from_lash",
    "validate_envelope",
]


class RuntimeEffectKind(enum.StrEnum):
    """The seed's `RuntimeEffectKind`; the value is lash's `as_str()`."""

    LLM_CALL = "llm_call"
    DIRECT = "direct"
    TOOL_CALL = "tool_call"
    PROCESS = "process"
    EXEC_CODE = "exec_code"
    CHECKPOINT = "checkpoint"
    SYNC_EXECUTION_ENVIRONMENT = "sync_execution_environment"
    SLEEP = "sleep"
    AWAIT_EVENT = "await_event"
    DURABLE_STEP = "durable_step"


class CheckpointKind(enum.StrEnum):
    AFTER_WORK = "after_work"
    BEFORE_COMPLETION = "before_completion"


# -- invocation lineage (§1.2) ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RuntimeScope:
    """Where an effect runs: a session, optionally a turn's coordinates."""

    session_id: str
    turn_id: str | None = None
    turn_index: int | None = None
    protocol_iteration: int | None = None
    LASH_OMIT_NONE: ClassVar = frozenset({"turn_id", "turn_index", "protocol_iteration"})


@dataclass(frozen=True, slots=True)
class RuntimeReplay:
    key: str


@dataclass(frozen=True, slots=True)
class EffectSubject:
    effect_id: str
    kind: RuntimeEffectKind
    LASH_TAG: ClassVar = ("type", "effect")


@dataclass(frozen=True, slots=True)
class ProcessSubject:
    process_id: str
    LASH_TAG: ClassVar = ("type", "process")


@dataclass(frozen=True, slots=True)
class ProcessEventSubject:
    process_id: str
    sequence: int
    event_type: str
    LASH_TAG: ClassVar = ("type", "process_event")


@dataclass(frozen=True, slots=True)
class TriggerOccurrenceSubject:
    occurrence_id: str
    LASH_TAG: ClassVar = ("type", "trigger_occurrence")


@dataclass(frozen=True, slots=True)
class SessionNodeSubject:
    node_id: str
    LASH_TAG: ClassVar = ("type", "session_node")


RuntimeSubject = EffectSubject | ProcessSubject | ProcessEventSubject | TriggerOccurrenceSubject | SessionNodeSubject


@dataclass(frozen=True, slots=True)
class TurnRef:
    session_id: str
    turn_id: str
    LASH_TAG: ClassVar = ("type", "turn")


@dataclass(frozen=True, slots=True)
class EffectRef:
    session_id: str
    turn_id: str | None
    effect_id: str
    LASH_TAG: ClassVar = ("type", "effect")
    LASH_OMIT_NONE: ClassVar = frozenset({"turn_id"})


@dataclass(frozen=True, slots=True)
class ToolCallRef:
    session_id: str
    call_id: str
    LASH_TAG: ClassVar = ("type", "tool_call")


@dataclass(frozen=True, slots=True)
class ProcessRef:
    process_id: str
    LASH_TAG: ClassVar = ("type", "process")


@dataclass(frozen=True, slots=True)
class ProcessEventRef:
    process_id: str
    sequence: int
    LASH_TAG: ClassVar = ("type", "process_event")


@dataclass(frozen=True, slots=True)
class TriggerOccurrenceRef:
    occurrence_id: str
    LASH_TAG: ClassVar = ("type", "trigger_occurrence")


@dataclass(frozen=True, slots=True)
class SessionNodeRef:
    session_id: str
    node_id: str
    LASH_TAG: ClassVar = ("type", "session_node")


CausalRef = TurnRef | EffectRef | ToolCallRef | ProcessRef | ProcessEventRef | TriggerOccurrenceRef | SessionNodeRef
"""The seed's `CausalRef` (lash-sansio): the parent of an invocation."""


@dataclass(frozen=True, slots=True)
class RuntimeInvocation:
    scope: RuntimeScope
    subject: RuntimeSubject
    caused_by: CausalRef | None = None
    replay: RuntimeReplay | None = None
    LASH_OMIT_NONE: ClassVar = frozenset({"caused_by", "replay"})

    @classmethod
    def effect(cls, scope: RuntimeScope, effect_id: str, kind: RuntimeEffectKind, replay_key: str) -> RuntimeInvocation:
        """An effect invocation: subject `effect`, no parent, `replay` set (lash's `RuntimeInvocation::effect`)."""
        return cls(scope=scope, subject=EffectSubject(effect_id, kind), replay=RuntimeReplay(replay_key))

    @property
    def effect_id(self) -> str | None:
        return self.subject.effect_id if isinstance(self.subject, EffectSubject) else None

    @property
    def effect_kind(self) -> RuntimeEffectKind | None:
        return self.subject.kind if isinstance(self.subject, EffectSubject) else None

    @property
    def replay_key(self) -> str | None:
        return self.replay.key if self.replay is not None else None

    def causal_ref(self) -> CausalRef:
        """The reference a child invocation records as `caused_by` (§1.2)."""
        subject = self.subject
        match subject:
            case EffectSubject():
                return EffectRef(self.scope.session_id, self.scope.turn_id, subject.effect_id)
            case ProcessSubject():
                return ProcessRef(subject.process_id)
            case ProcessEventSubject():
                return ProcessEventRef(subject.process_id, subject.sequence)
            case TriggerOccurrenceSubject():
                return TriggerOccurrenceRef(subject.occurrence_id)
            case SessionNodeSubject():
                return SessionNodeRef(self.scope.session_id, subject.node_id)
        raise TypeError(f"not a runtime subject: {subject!r}")


# -- commands (§1.4) --------------------------------------------------------------------------------


class _Tagged:
    """Mixin for the variants of a `"type"`-tagged effect enum: `kind` is the variant's effect kind."""

    __slots__ = ()
    LASH_TAG: ClassVar[tuple[str, str]]

    @property
    def kind(self) -> RuntimeEffectKind:
        return RuntimeEffectKind(self.LASH_TAG[1])


@dataclass(frozen=True, slots=True)
class PreparedToolCall:
    """One logical tool call. `replay` is lash's `ProviderReplayMeta` as JSON."""

    call_id: str
    tool_name: str
    args: JsonValue
    replay: JsonValue = None
    prepared_payload: JsonValue = None
    LASH_OMIT_NONE: ClassVar = frozenset({"replay", "prepared_payload"})


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


# Rust's `str::trim` strips Unicode White_Space, which is not quite Python's `str.isspace`
# (Python also strips U+001C..U+001F).
@dataclass(frozen=True, slots=True)
class RuntimeEffectEnvelope:
    """What a runtime hands its effect controller at a nondeterministic boundary."""

    invocation: RuntimeInvocation
    command: RuntimeEffectCommand

    def validate(self) -> None:
        """Raise InvalidArgumentError unless this envelope passes the seed's five rules (§1.3)."""
        validate_envelope(self)

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
class ResultOk:
    """Rust's `Ok(value)`; lash-json `{"Ok": value}`."""

    value: Any
    LASH_EXTERNAL: ClassVar = "Ok"


@dataclass(frozen=True, slots=True)
class ResultErr:
    """Rust's `Err(error)`; lash-json `{"Err": error}`."""

    error: Any
    LASH_EXTERNAL: ClassVar = "Err"


Result = ResultOk | ResultErr


@dataclass(frozen=True, slots=True)
class ControllerError:
    """The seed's `RuntimeEffectControllerError`."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class ToolCallDone:
    result: JsonValue
    """lash's `CompletedToolCall` as JSON."""
    LASH_TAG: ClassVar = ("status", "done")


@dataclass(frozen=True, slots=True)
class ToolCallPending:
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


# -- reading lash JSON back (types the contract carries as JSON, e.g. a provenance's caused_by) ------


def _bad(what: str, detail: str) -> InvalidArgumentError:
    return InvalidArgumentError("invalid_request", f"{what} {detail}")


def _object(value: JsonValue, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(what, "must be a JSON object")
    return value


def _str(obj: dict[str, Any], name: str, what: str, *, optional: bool = False) -> Any:
    value = obj.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise _bad(what, f"needs a string {name!r}")
    return value


def _uint(obj: dict[str, Any], name: str, what: str, *, optional: bool = False) -> Any:
    value = obj.get(name)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _bad(what, f"needs a non-negative integer {name!r}")
    return value


def _variant(value: JsonValue, tag: str, what: str) -> tuple[str, dict[str, Any]]:
    obj = _object(value, what)
    name = obj.get(tag)
    if not isinstance(name, str):
        raise _bad(what, f"needs a {tag!r} tag")
    return name, obj


def runtime_scope_from_lash(value: JsonValue) -> RuntimeScope:
    what = "runtime scope"
    obj = _object(value, what)
    return RuntimeScope(
        session_id=_str(obj, "session_id", what),
        turn_id=_str(obj, "turn_id", what, optional=True),
        turn_index=_uint(obj, "turn_index", what, optional=True),
        protocol_iteration=_uint(obj, "protocol_iteration", what, optional=True),
    )


def _kind(value: JsonValue) -> RuntimeEffectKind:
    try:
        return RuntimeEffectKind(value)
    except ValueError:
        raise _bad("effect subject", f"has an unknown kind {value!r}") from None


def subject_from_lash(value: JsonValue) -> RuntimeSubject:
    what = "runtime subject"
    tag, obj = _variant(value, "type", what)
    if tag == "effect":
        return EffectSubject(_str(obj, "effect_id", what), _kind(obj.get("kind")))
    if tag == "process":
        return ProcessSubject(_str(obj, "process_id", what))
    if tag == "process_event":
        return ProcessEventSubject(
            _str(obj, "process_id", what), _uint(obj, "sequence", what), _str(obj, "event_type", what)
        )
    if tag == "trigger_occurrence":
        return TriggerOccurrenceSubject(_str(obj, "occurrence_id", what))
    if tag == "session_node":
        return SessionNodeSubject(_str(obj, "node_id", what))
    raise _bad(what, f"has an unknown type {tag!r}")


def causal_ref_from_lash(value: JsonValue) -> CausalRef:
    what = "causal reference"
    tag, obj = _variant(value, "type", what)
    if tag == "turn":
        return TurnRef(_str(obj, "session_id", what), _str(obj, "turn_id", what))
    if tag == "effect":
        return EffectRef(
            _str(obj, "session_id", what), _str(obj, "turn_id", what, optional=True), _str(obj, "effect_id", what)
        )
    if tag == "tool_call":
        return ToolCallRef(_str(obj, "session_id", what), _str(obj, "call_id", what))
    if tag == "process":
        return ProcessRef(_str(obj, "process_id", what))
    if tag == "process_event":
        return ProcessEventRef(_str(obj, "process_id", what), _uint(obj, "sequence", what))
    if tag == "trigger_occurrence":
        return TriggerOccurrenceRef(_str(obj, "occurrence_id", what))
    if tag == "session_node":
        return SessionNodeRef(_str(obj, "session_id", what), _str(obj, "node_id", what))
    raise _bad(what, f"has an unknown type {tag!r}")


def invocation_from_lash(value: JsonValue) -> RuntimeInvocation:
    """A RuntimeInvocation from its lash JSON."""
    what = "runtime invocation"
    obj = _object(value, what)
    caused_by = obj.get("caused_by")
    replay = obj.get("replay")
    return RuntimeInvocation(
        scope=runtime_scope_from_lash(obj.get("scope")),
        subject=subject_from_lash(obj.get("subject")),
        caused_by=causal_ref_from_lash(caused_by) if caused_by is not None else None,
        replay=RuntimeReplay(_str(_object(replay, "replay"), "key", "replay")) if replay is not None else None,
    )


def prepared_tool_call_from_lash(value: JsonValue) -> PreparedToolCall:
    what = "prepared tool call"
    obj = _object(value, what)
    return PreparedToolCall(
        call_id=_str(obj, "call_id", what),
        tool_name=_str(obj, "tool_name", what),
        args=obj.get("args"),
        replay=obj.get("replay"),
        prepared_payload=obj.get("prepared_payload"),
    )
