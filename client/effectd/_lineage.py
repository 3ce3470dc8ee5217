"""Invocation lineage (SEED-SPEC §1.2): where an effect runs, what it is about, what caused it.

`RuntimeScope`, the subjects and causal references, `RuntimeInvocation`, `PreparedToolCall` and the
effect kinds, with their readers from lash JSON. Both the effect envelopes (`_effects`) and the process
records (`_process`) build on these; this module imports neither, so imports run one way:
`_lineage` <- `_process` <- `_effects`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import ClassVar

from effectd._checked import Checked
from effectd._errors import InvalidArgumentError
from effectd._lashjson import JsonValue
from effectd._lashread import bad, json_object, json_str, json_uint, json_variant

__all__ = [
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


# -- invocation lineage (§1.2) ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RuntimeScope(Checked):
    """Where an effect runs: a session, optionally a turn's coordinates."""

    session_id: str
    turn_id: str | None = None
    turn_index: int | None = None
    protocol_iteration: int | None = None
    LASH_OMIT_NONE: ClassVar = frozenset({"turn_id", "turn_index", "protocol_iteration"})


@dataclass(frozen=True, slots=True)
class RuntimeReplay(Checked):
    key: str


@dataclass(frozen=True, slots=True)
class EffectSubject(Checked):
    effect_id: str
    kind: RuntimeEffectKind
    LASH_TAG: ClassVar = ("type", "effect")


@dataclass(frozen=True, slots=True)
class ProcessSubject(Checked):
    process_id: str
    LASH_TAG: ClassVar = ("type", "process")


@dataclass(frozen=True, slots=True)
class ProcessEventSubject(Checked):
    process_id: str
    sequence: int
    event_type: str
    LASH_TAG: ClassVar = ("type", "process_event")


@dataclass(frozen=True, slots=True)
class TriggerOccurrenceSubject(Checked):
    occurrence_id: str
    LASH_TAG: ClassVar = ("type", "trigger_occurrence")


@dataclass(frozen=True, slots=True)
class SessionNodeSubject(Checked):
    node_id: str
    LASH_TAG: ClassVar = ("type", "session_node")


RuntimeSubject = EffectSubject | ProcessSubject | ProcessEventSubject | TriggerOccurrenceSubject | SessionNodeSubject


@dataclass(frozen=True, slots=True)
class TurnRef(Checked):
    session_id: str
    turn_id: str
    LASH_TAG: ClassVar = ("type", "turn")


@dataclass(frozen=True, slots=True)
class EffectRef(Checked):
    session_id: str
    turn_id: str | None
    effect_id: str
    LASH_TAG: ClassVar = ("type", "effect")
    LASH_OMIT_NONE: ClassVar = frozenset({"turn_id"})


@dataclass(frozen=True, slots=True)
class ToolCallRef(Checked):
    session_id: str
    call_id: str
    LASH_TAG: ClassVar = ("type", "tool_call")


@dataclass(frozen=True, slots=True)
class ProcessRef(Checked):
    process_id: str
    LASH_TAG: ClassVar = ("type", "process")


@dataclass(frozen=True, slots=True)
class ProcessEventRef(Checked):
    process_id: str
    sequence: int
    LASH_TAG: ClassVar = ("type", "process_event")


@dataclass(frozen=True, slots=True)
class TriggerOccurrenceRef(Checked):
    occurrence_id: str
    LASH_TAG: ClassVar = ("type", "trigger_occurrence")


@dataclass(frozen=True, slots=True)
class SessionNodeRef(Checked):
    session_id: str
    node_id: str
    LASH_TAG: ClassVar = ("type", "session_node")


CausalRef = TurnRef | EffectRef | ToolCallRef | ProcessRef | ProcessEventRef | TriggerOccurrenceRef | SessionNodeRef
"""The seed's `CausalRef` (lash-sansio): the parent of an invocation."""


@dataclass(frozen=True, slots=True)
class RuntimeInvocation(Checked):
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
        raise InvalidArgumentError("invalid_request", f"not a runtime subject: {subject!r}")


# -- tool calls (§1.4) -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PreparedToolCall(Checked):
    """One logical tool call. `replay` is lash's `ProviderReplayMeta` as JSON."""

    call_id: str
    tool_name: str
    args: JsonValue
    replay: JsonValue = None
    prepared_payload: JsonValue = None
    LASH_OMIT_NONE: ClassVar = frozenset({"replay", "prepared_payload"})


# -- reading lash JSON back (types the contract carries as JSON, e.g. a provenance's caused_by) ------


def runtime_scope_from_lash(value: JsonValue) -> RuntimeScope:
    what = "runtime scope"
    obj = json_object(value, what)
    return RuntimeScope(
        session_id=json_str(obj, "session_id", what),
        turn_id=json_str(obj, "turn_id", what, optional=True),
        turn_index=json_uint(obj, "turn_index", what, optional=True),
        protocol_iteration=json_uint(obj, "protocol_iteration", what, optional=True),
    )


def _kind(value: JsonValue) -> RuntimeEffectKind:
    try:
        return RuntimeEffectKind(value)
    except ValueError:
        raise bad("effect subject", f"has an unknown kind {value!r}") from None


def subject_from_lash(value: JsonValue) -> RuntimeSubject:
    what = "runtime subject"
    tag, obj = json_variant(value, "type", what)
    if tag == "effect":
        return EffectSubject(json_str(obj, "effect_id", what), _kind(obj.get("kind")))
    if tag == "process":
        return ProcessSubject(json_str(obj, "process_id", what))
    if tag == "process_event":
        return ProcessEventSubject(
            json_str(obj, "process_id", what), json_uint(obj, "sequence", what), json_str(obj, "event_type", what)
        )
    if tag == "trigger_occurrence":
        return TriggerOccurrenceSubject(json_str(obj, "occurrence_id", what))
    if tag == "session_node":
        return SessionNodeSubject(json_str(obj, "node_id", what))
    raise bad(what, f"has an unknown type {tag!r}")


def causal_ref_from_lash(value: JsonValue) -> CausalRef:
    what = "causal reference"
    tag, obj = json_variant(value, "type", what)
    if tag == "turn":
        return TurnRef(json_str(obj, "session_id", what), json_str(obj, "turn_id", what))
    if tag == "effect":
        return EffectRef(
            json_str(obj, "session_id", what),
            json_str(obj, "turn_id", what, optional=True),
            json_str(obj, "effect_id", what),
        )
    if tag == "tool_call":
        return ToolCallRef(json_str(obj, "session_id", what), json_str(obj, "call_id", what))
    if tag == "process":
        return ProcessRef(json_str(obj, "process_id", what))
    if tag == "process_event":
        return ProcessEventRef(json_str(obj, "process_id", what), json_uint(obj, "sequence", what))
    if tag == "trigger_occurrence":
        return TriggerOccurrenceRef(json_str(obj, "occurrence_id", what))
    if tag == "session_node":
        return SessionNodeRef(json_str(obj, "session_id", what), json_str(obj, "node_id", what))
    raise bad(what, f"has an unknown type {tag!r}")


def invocation_from_lash(value: JsonValue) -> RuntimeInvocation:
    """A RuntimeInvocation from its lash JSON."""
    what = "runtime invocation"
    obj = json_object(value, what)
    caused_by = obj.get("caused_by")
    replay = obj.get("replay")
    return RuntimeInvocation(
        scope=runtime_scope_from_lash(obj.get("scope")),
        subject=subject_from_lash(obj.get("subject")),
        caused_by=causal_ref_from_lash(caused_by) if caused_by is not None else None,
        replay=RuntimeReplay(json_str(json_object(replay, "replay"), "key", "replay")) if replay is not None else None,
    )


def prepared_tool_call_from_lash(value: JsonValue) -> PreparedToolCall:
    what = "prepared tool call"
    obj = json_object(value, what)
    return PreparedToolCall(
        call_id=json_str(obj, "call_id", what),
        tool_name=json_str(obj, "tool_name", what),
        args=obj.get("args"),
        replay=obj.get("replay"),
        prepared_payload=obj.get("prepared_payload"),
    )
