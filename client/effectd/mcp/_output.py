"""lash's tool-output shapes (lash-sansio `tool_output.rs` and `CompletedToolCall`, at the SEED-SPEC commit).

What a `tool_call` effect records is `ToolCallOutcome(ToolCallDone(<CompletedToolCall as JSON>))`; these
dataclasses render that JSON with the SDK's lash-json, fields in lash's declaration order:

    CompletedToolCall { call_id, tool_name, args, output: ToolCallOutput, model_return: ModelToolReturn,
                        duration_ms, replay }                       (replay is written as null when absent)
    ToolCallOutput    { outcome: {"status": success|failure|cancelled, "payload": ...}, control? }
    ToolFailure       { class, code, message, source, retry: {"type": "never"}, raw? }
    ToolCancellation  { message, source, raw? }
    ModelToolReturn   { call_id, tool_name, parts: [{"type": "text", "text": ...}] }

A tool value is JSON, except that an object holding lash's reserved key `$lash_tool_value` is escaped as
`{"$lash_tool_value": "object", "entries": {...}}` (`tool_value` does it), as lash's `ToolValue` does.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import ClassVar

from effectd._effects import ToolCallDone, ToolCallOutcome
from effectd._lashjson import JsonValue, dumps
from effectd._lineage import PreparedToolCall
from effectd._process import ToolFailureClass

__all__ = [
    "CompletedToolCall",
    "ModelToolReturn",
    "ToolCallOutput",
    "ToolCancellation",
    "ToolCancelled",
    "ToolFailed",
    "ToolFailure",
    "ToolFailureSource",
    "ToolSuccess",
    "completed_tool_call",
    "tool_value",
]

_TAG_KEY = "$lash_tool_value"
_NEVER_RETRY: JsonValue = {"type": "never"}


class ToolFailureSource(enum.StrEnum):
    RUNTIME = "runtime"
    TOOL = "tool"
    PLUGIN = "plugin"
    POLICY = "policy"
    CANCELLATION = "cancellation"


@dataclass(frozen=True, slots=True)
class ToolFailure:
    """lash's `ToolFailure`; `class_` is lash's `class` (a Python keyword)."""

    class_: ToolFailureClass
    code: str
    message: str
    source: ToolFailureSource = ToolFailureSource.TOOL
    retry: JsonValue = None
    """lash's `ToolRetryDisposition` as JSON; None means `{"type": "never"}`."""
    raw: JsonValue = None
    LASH_OMIT_NONE: ClassVar = frozenset({"raw"})
    LASH_RENAME: ClassVar = {"class_": "class"}

    def __post_init__(self) -> None:
        if self.retry is None:
            object.__setattr__(self, "retry", _NEVER_RETRY)


@dataclass(frozen=True, slots=True)
class ToolCancellation:
    message: str
    source: ToolFailureSource = ToolFailureSource.CANCELLATION
    raw: JsonValue = None
    LASH_OMIT_NONE: ClassVar = frozenset({"raw"})


@dataclass(frozen=True, slots=True)
class ToolSuccess:
    value: JsonValue
    """A tool value (see `tool_value`)."""
    LASH_TAG: ClassVar = ("status", "success")
    LASH_CONTENT: ClassVar = "payload"


@dataclass(frozen=True, slots=True)
class ToolFailed:
    failure: ToolFailure
    LASH_TAG: ClassVar = ("status", "failure")
    LASH_CONTENT: ClassVar = "payload"


@dataclass(frozen=True, slots=True)
class ToolCancelled:
    cancellation: ToolCancellation
    LASH_TAG: ClassVar = ("status", "cancelled")
    LASH_CONTENT: ClassVar = "payload"


@dataclass(frozen=True, slots=True)
class ToolCallOutput:
    """lash's `ToolCallOutput`: what the tool answered (success, failure or cancelled)."""

    outcome: ToolSuccess | ToolFailed | ToolCancelled
    control: JsonValue = None
    """lash's `ToolControl` as JSON."""
    LASH_OMIT_NONE: ClassVar = frozenset({"control"})

    @classmethod
    def success(cls, value: JsonValue) -> ToolCallOutput:
        return cls(ToolSuccess(tool_value(value)))

    @classmethod
    def failure(cls, failure: ToolFailure) -> ToolCallOutput:
        return cls(ToolFailed(failure))

    @classmethod
    def cancelled(cls, message: str) -> ToolCallOutput:
        return cls(ToolCancelled(ToolCancellation(message)))

    def model_parts(self) -> tuple[JsonValue, ...]:
        """What the model is shown (lash's `model_parts_from_tool_output`; no attachments here)."""
        outcome = self.outcome
        if isinstance(outcome, ToolSuccess):
            value = outcome.value
            text = value if isinstance(value, str) else _compact_model_text(value)
        elif isinstance(outcome, ToolFailed):
            text = _labelled("[Tool execution failed]", outcome.failure.message)
        else:
            text = _labelled("[Tool execution cancelled]", outcome.cancellation.message)
        return ({"type": "text", "text": text},) if text else ()


@dataclass(frozen=True, slots=True)
class ModelToolReturn:
    call_id: str
    tool_name: str
    parts: tuple[JsonValue, ...]


@dataclass(frozen=True, slots=True)
class CompletedToolCall:
    """lash's `CompletedToolCall`: the call, its output, what the model sees, and how long it took."""

    call_id: str
    tool_name: str
    args: JsonValue
    output: ToolCallOutput
    model_return: ModelToolReturn
    duration_ms: int
    replay: JsonValue = None
    """lash's `ProviderReplayMeta` as JSON; written as null when absent (lash does not skip it)."""

    @classmethod
    def of(cls, call: PreparedToolCall, output: ToolCallOutput, duration_ms: int) -> CompletedToolCall:
        model_return = ModelToolReturn(call.call_id, call.tool_name, output.model_parts())
        return cls(call.call_id, call.tool_name, call.args, output, model_return, duration_ms, call.replay)

    def to_json(self) -> JsonValue:
        """The lash JSON of this call (what `ToolCallDone.result` holds)."""
        return json.loads(dumps(self))

    def to_outcome(self) -> ToolCallOutcome:
        """The outcome a `tool_call` effect records for this call."""
        return ToolCallOutcome(ToolCallDone(self.to_json()))


def completed_tool_call(call: PreparedToolCall, output: ToolCallOutput, duration_ms: int) -> ToolCallOutcome:
    """The recorded `tool_call` outcome of `call` answered with `output`."""
    return CompletedToolCall.of(call, output, duration_ms).to_outcome()


def tool_value(value: JsonValue) -> JsonValue:
    """JSON as lash's `ToolValue` writes it: objects holding the reserved key are escaped."""
    if isinstance(value, dict):
        entries = {key: tool_value(item) for key, item in value.items()}
        return {_TAG_KEY: "object", "entries": entries} if _TAG_KEY in entries else entries
    if isinstance(value, list | tuple):
        return [tool_value(item) for item in value]
    return value


def _labelled(label: str, message: str) -> str:
    return f"{label}\n{message}" if message else label


def _compact_model_text(value: JsonValue) -> str:
    """lash's compact model rendering of a non-string value: compact JSON, object keys sorted, escapes undone."""
    if isinstance(value, dict) and value.get(_TAG_KEY) == "object" and set(value) == {_TAG_KEY, "entries"}:
        value = value["entries"]
    if isinstance(value, dict):
        items = (f"{dumps(key)}:{_compact_model_text(item)}" for key, item in sorted(value.items(), key=_utf8))
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_compact_model_text(item) for item in value) + "]"
    return dumps(value)


def _utf8(item: tuple[str, JsonValue]) -> bytes:
    return item[0].encode("utf-8")
