"""Process commands, outcomes and the records they carry (SEED-SPEC §1.5, §1.7, §3.1-3.3).

Built on the lineage types of `_lineage`; the effect envelopes of `_effects` build on these.

Frozen dataclasses in lash's declaration order, so lash-json of a registration, a command or an id input is
the exact text lash writes. Opaque JSON (payloads, schemas, metadata, tool controls) stays plain JSON values.
Value selectors (§3.3) are plain JSON too (`"payload"`, `{"pointer": "/x"}`, `{"const": v}`,
`{"present": "/x"}`), except templates: a `{"template": {...}}` selector is normalised to a
`TemplateSelector`, because lash writes a template's fields in declaration order (`template`, then `fields`),
which a plain (key-sorted) dict cannot reproduce.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from effectd._checked import Checked
from effectd._errors import InvalidArgumentError
from effectd._lashjson import JsonValue, sha256_hex
from effectd._lashread import bad, json_object, json_str, json_variant
from effectd._lineage import CausalRef, PreparedToolCall, RuntimeInvocation, RuntimeReplay

__all__ = [
    "ExternalProcessInput",
    "HostOriginator",
    "LashlangProcessInput",
    "LashlangProcessRef",
    "ProcessAwaitCancelled",
    "ProcessAwaitFailure",
    "ProcessAwaitOp",
    "ProcessAwaitOutput",
    "ProcessAwaitResult",
    "ProcessAwaitSuccess",
    "ProcessCancelOp",
    "ProcessCancelResult",
    "ProcessCancelled",
    "ProcessCommand",
    "ProcessCompleted",
    "ProcessDeleteSessionOp",
    "ProcessDeleteSessionResult",
    "ProcessEffectOutcome",
    "ProcessEvent",
    "ProcessEventAppendRequest",
    "ProcessEventSemantics",
    "ProcessEventSemanticsSpec",
    "ProcessEventType",
    "ProcessExecutionContext",
    "ProcessExternalRef",
    "ProcessFailed",
    "ProcessHandleDescriptor",
    "ProcessHandleGrant",
    "ProcessHandleGrantEntry",
    "ProcessInput",
    "ProcessListMode",
    "ProcessListOp",
    "ProcessListResult",
    "ProcessOriginator",
    "ProcessProvenance",
    "ProcessRecord",
    "ProcessRegistration",
    "ProcessRunning",
    "ProcessSessionDeleteReport",
    "ProcessSignalOp",
    "ProcessSignalResult",
    "ProcessStartGrant",
    "ProcessStartOp",
    "ProcessStartResult",
    "ProcessStatus",
    "ProcessTemplate",
    "ProcessTerminalSemantics",
    "ProcessTerminalSpec",
    "ProcessTransferOp",
    "ProcessTransferResult",
    "ProcessValueSelector",
    "ProcessWakeSemantics",
    "ProcessWakeSpec",
    "SessionOriginator",
    "SessionScope",
    "SessionTurnProcessInput",
    "SignalWait",
    "SystemTime",
    "TemplateSelector",
    "TerminalState",
    "ToolCallProcessInput",
    "ToolFailureClass",
    "WaitKind",
    "WaitState",
    "await_output_from_lash",
    "cancel_requested_replay_key",
    "cancel_requested_request",
    "event_semantics_from_lash",
    "process_signal_event_type",
    "process_signal_wait_key",
    "selector_from_lash",
    "terminal_spec_from_lash",
    "wake_id",
    "wake_spec_from_lash",
]

CANCEL_REQUESTED = "process.cancel_requested"


class _Op:
    """Mixin for `"op"`-tagged variants: `op` is the variant name (`start`, `await`, ...)."""

    __slots__ = ()
    LASH_TAG: ClassVar[tuple[str, str]]

    @property
    def op(self) -> str:
        return self.LASH_TAG[1]


# -- identity (§3.1) --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionScope(Checked):
    """A session, or one agent frame inside it."""

    session_id: str
    agent_frame_id: str | None = None
    LASH_OMIT_NONE: ClassVar = frozenset({"agent_frame_id"})

    @property
    def id(self) -> str:
        """`session:{session_id}`, or `session:{session_id}/frame:{agent_frame_id}` for a non-empty frame."""
        if self.agent_frame_id:
            return f"session:{self.session_id}/frame:{self.agent_frame_id}"
        return f"session:{self.session_id}"


# -- selectors and event types (§3.3) -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProcessTemplate(Checked):
    template: str
    fields: Mapping[str, ProcessValueSelector] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", {k: selector_from_lash(v) for k, v in self.fields.items()})


@dataclass(frozen=True, slots=True)
class TemplateSelector(Checked):
    """The `template` value selector: `{"template": {"template": "...", "fields": {...}}}`."""

    template: ProcessTemplate
    LASH_EXTERNAL: ClassVar = "template"


ProcessValueSelector = JsonValue
"""`"payload"`, `{"pointer": p}`, `{"const": v}`, `{"present": p}` as plain JSON, or a `TemplateSelector`."""


def selector_from_lash(value: JsonValue) -> ProcessValueSelector:
    """A value selector with any template (at any depth) as a `TemplateSelector`; other selectors as given."""
    if isinstance(value, TemplateSelector):
        return value
    if isinstance(value, dict) and len(value) == 1 and "template" in value:
        body = json_object(value["template"], "template selector")
        fields = body.get("fields") or {}
        return TemplateSelector(
            ProcessTemplate(
                template=json_str(body, "template", "template selector"),
                fields={k: selector_from_lash(v) for k, v in json_object(fields, "template fields").items()},
            )
        )
    return value


def _dedupe_key(value: JsonValue) -> JsonValue:
    if isinstance(value, dict) and len(value) == 1 and "selector" in value:
        return {"selector": selector_from_lash(value["selector"])}
    return value


TerminalState = Literal["completed", "failed", "cancelled"]


@dataclass(frozen=True, slots=True)
class ProcessTerminalSpec(Checked):
    state: TerminalState
    await_output: ProcessValueSelector = None
    LASH_OMIT_NONE: ClassVar = frozenset({"await_output"})

    def __post_init__(self) -> None:
        object.__setattr__(self, "await_output", selector_from_lash(self.await_output))


@dataclass(frozen=True, slots=True)
class ProcessWakeSpec(Checked):
    when: ProcessValueSelector = field(default=None, kw_only=True)
    input: ProcessValueSelector
    dedupe_key: JsonValue = "event_identity"
    """`"event_identity"`, `{"selector": selector}` or `{"const": str}`."""
    LASH_OMIT_NONE: ClassVar = frozenset({"when"})

    def __post_init__(self) -> None:
        object.__setattr__(self, "when", selector_from_lash(self.when))
        object.__setattr__(self, "input", selector_from_lash(self.input))
        object.__setattr__(self, "dedupe_key", _dedupe_key(self.dedupe_key))


@dataclass(frozen=True, slots=True)
class ProcessEventSemanticsSpec(Checked):
    terminal: ProcessTerminalSpec | None = None
    wake: ProcessWakeSpec | None = None
    LASH_OMIT_NONE: ClassVar = frozenset({"terminal", "wake"})


@dataclass(frozen=True, slots=True)
class ProcessEventType(Checked):
    name: str
    payload_schema: JsonValue = field(default_factory=lambda: {"schema": {}})
    """lash's `LashSchema {schema}` as JSON."""
    semantics: ProcessEventSemanticsSpec = field(default_factory=ProcessEventSemanticsSpec)


# -- registration (§3.2) ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ToolCallProcessInput(Checked):
    call: PreparedToolCall
    LASH_TAG: ClassVar = ("type", "tool_call")


@dataclass(frozen=True, slots=True)
class LashlangProcessRef(Checked):
    component: str
    pos: int


@dataclass(frozen=True, slots=True)
class LashlangProcessInput(Checked):
    module_ref: str
    process_ref: LashlangProcessRef
    host_requirements_ref: str
    process_name: str
    args: dict[str, JsonValue] = field(default_factory=dict)
    LASH_TAG: ClassVar = ("type", "lashlang_process")


@dataclass(frozen=True, slots=True)
class SessionTurnProcessInput(Checked):
    create_request: JsonValue
    turn_input: JsonValue
    output_contract: JsonValue
    LASH_TAG: ClassVar = ("type", "session_turn")


@dataclass(frozen=True, slots=True)
class ExternalProcessInput(Checked):
    metadata: JsonValue = None
    LASH_TAG: ClassVar = ("type", "external")


ProcessInput = ToolCallProcessInput | LashlangProcessInput | SessionTurnProcessInput | ExternalProcessInput


@dataclass(frozen=True, slots=True)
class HostOriginator(Checked):
    LASH_TAG: ClassVar = ("type", "host")

    @property
    def scope_id(self) -> str:
        return "host"


@dataclass(frozen=True, slots=True)
class SessionOriginator(Checked):
    scope: SessionScope
    LASH_TAG: ClassVar = ("type", "session")

    @property
    def scope_id(self) -> str:
        return self.scope.id


ProcessOriginator = HostOriginator | SessionOriginator


@dataclass(frozen=True, slots=True)
class ProcessProvenance(Checked):
    originator: ProcessOriginator
    host_profile_id: str
    caused_by: CausalRef | None = None
    LASH_OMIT_NONE: ClassVar = frozenset({"caused_by"})


@dataclass(frozen=True, slots=True)
class ProcessRegistration(Checked):
    """What `start` registers; its registration hash is `sha256_hex(registration)` (after core event types)."""

    id: str
    input: ProcessInput
    event_types: tuple[ProcessEventType, ...] = field(default=(), kw_only=True)
    provenance: ProcessProvenance
    env_ref: str | None = None
    wake_target: SessionScope | None = None
    LASH_OMIT_NONE: ClassVar = frozenset({"env_ref", "wake_target"})


@dataclass(frozen=True, slots=True)
class ProcessHandleDescriptor(Checked):
    kind: str | None = None
    label: str | None = None
    LASH_OMIT_NONE: ClassVar = frozenset({"kind", "label"})


@dataclass(frozen=True, slots=True)
class ProcessStartGrant(Checked):
    session_scope: SessionScope
    descriptor: ProcessHandleDescriptor = field(default_factory=ProcessHandleDescriptor)


@dataclass(frozen=True, slots=True)
class ProcessExecutionContext(Checked):
    causal_invocation: RuntimeInvocation | None = None
    LASH_OMIT_NONE: ClassVar = frozenset({"causal_invocation"})


@dataclass(frozen=True, slots=True)
class ProcessHandleGrant(Checked):
    session_id: str
    process_id: str
    descriptor: ProcessHandleDescriptor = field(default_factory=ProcessHandleDescriptor)


# -- records (§3.2) ---------------------------------------------------------------------------------


class ToolFailureClass(enum.StrEnum):
    INVALID_REQUEST = "invalid_request"
    UNAVAILABLE = "unavailable"
    PERMISSION_DENIED = "permission_denied"
    TIMEOUT = "timeout"
    EXECUTION = "execution"
    EXTERNAL = "external"
    RESOURCE_LIMIT = "resource_limit"
    INTERNAL = "internal"


@dataclass(frozen=True, slots=True)
class ProcessAwaitSuccess(Checked):
    value: JsonValue
    control: JsonValue = None
    """lash's `ToolControl` as JSON."""
    LASH_TAG: ClassVar = ("type", "success")
    LASH_OMIT_NONE: ClassVar = frozenset({"control"})


@dataclass(frozen=True, slots=True)
class ProcessAwaitFailure(Checked):
    """A failed process; `class_` is lash's `class` (a Python keyword)."""

    class_: ToolFailureClass
    code: str
    message: str
    raw: JsonValue = None
    control: JsonValue = None
    LASH_TAG: ClassVar = ("type", "failure")
    LASH_OMIT_NONE: ClassVar = frozenset({"raw", "control"})
    LASH_RENAME: ClassVar = {"class_": "class"}


@dataclass(frozen=True, slots=True)
class ProcessAwaitCancelled(Checked):
    message: str
    raw: JsonValue = None
    control: JsonValue = None
    LASH_TAG: ClassVar = ("type", "cancelled")
    LASH_OMIT_NONE: ClassVar = frozenset({"raw", "control"})


ProcessAwaitOutput = ProcessAwaitSuccess | ProcessAwaitFailure | ProcessAwaitCancelled


@dataclass(frozen=True, slots=True)
class ProcessRunning(Checked):
    LASH_TAG: ClassVar = ("state", "running")


@dataclass(frozen=True, slots=True)
class ProcessCompleted(Checked):
    await_output: ProcessAwaitOutput
    LASH_TAG: ClassVar = ("state", "completed")


@dataclass(frozen=True, slots=True)
class ProcessFailed(Checked):
    await_output: ProcessAwaitOutput
    LASH_TAG: ClassVar = ("state", "failed")


@dataclass(frozen=True, slots=True)
class ProcessCancelled(Checked):
    await_output: ProcessAwaitOutput
    LASH_TAG: ClassVar = ("state", "cancelled")


ProcessStatus = ProcessRunning | ProcessCompleted | ProcessFailed | ProcessCancelled


@dataclass(frozen=True, slots=True)
class SignalWait(Checked):
    """The process waits for its `ordinal`-th `name` signal; `key` is `process_signal_wait_key(...)`."""

    name: str
    event_type: str
    key: str
    ordinal: int
    LASH_TAG: ClassVar = ("kind", "signal")


WaitKind = SignalWait


@dataclass(frozen=True, slots=True)
class WaitState(Checked):
    kind: WaitKind
    since_ms: int


@dataclass(frozen=True, slots=True)
class ProcessExternalRef(Checked):
    backend: str
    id: str
    metadata: JsonValue = None
    LASH_OMIT_NONE: ClassVar = frozenset({"metadata"})


@dataclass(frozen=True, slots=True)
class ProcessRecord(Checked):
    id: str
    registration_hash: str
    input: ProcessInput
    event_types: tuple[ProcessEventType, ...] = field(default=(), kw_only=True)
    provenance: ProcessProvenance
    env_ref: str | None = None
    wake_target: SessionScope | None = None
    created_at_ms: int = 0
    updated_at_ms: int = 0
    external_ref: ProcessExternalRef | None = None
    wait: WaitState | None = None
    status: ProcessStatus = field(default_factory=ProcessRunning)
    LASH_OMIT_NONE: ClassVar = frozenset({"env_ref", "wake_target", "external_ref", "wait"})


ProcessHandleGrantEntry = tuple[ProcessHandleGrant, ProcessRecord]
"""A grant and its process; lash-json `[grant, record]`."""


@dataclass(frozen=True, slots=True)
class ProcessSessionDeleteReport(Checked):
    session_id: str
    revoked_handle_count: int
    deleted_wake_count: int
    orphaned_process_ids: tuple[str, ...] = ()
    preserved_process_ids: tuple[str, ...] = ()


class ProcessListMode(enum.StrEnum):
    LIVE = "live"
    ALL = "all"


# -- events (§3.3) ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProcessEventAppendRequest(Checked):
    event_type: str
    payload: JsonValue
    replay: RuntimeReplay | None = None
    wake_target_scope: SessionScope | None = None
    LASH_OMIT_NONE: ClassVar = frozenset({"replay", "wake_target_scope"})


@dataclass(frozen=True, slots=True)
class ProcessTerminalSemantics(Checked):
    state: TerminalState
    await_output: ProcessAwaitOutput


@dataclass(frozen=True, slots=True)
class ProcessWakeSemantics(Checked):
    input: str
    dedupe_key: str


@dataclass(frozen=True, slots=True)
class ProcessEventSemantics(Checked):
    """An event's materialised semantics."""

    terminal: ProcessTerminalSemantics | None = None
    wake: ProcessWakeSemantics | None = None
    LASH_OMIT_NONE: ClassVar = frozenset({"terminal", "wake"})


@dataclass(frozen=True, slots=True)
class SystemTime(Checked):
    """Rust's `SystemTime` as serde writes it. The contract carries milliseconds (`from_ms` / `ms`)."""

    secs_since_epoch: int
    nanos_since_epoch: int

    @classmethod
    def from_ms(cls, ms: int) -> SystemTime:
        return cls(ms // 1000, (ms % 1000) * 1_000_000)

    @property
    def ms(self) -> int:
        return self.secs_since_epoch * 1000 + self.nanos_since_epoch // 1_000_000


@dataclass(frozen=True, slots=True)
class ProcessEvent(Checked):
    process_id: str
    sequence: int
    event_type: str
    payload: JsonValue
    invocation: RuntimeInvocation
    semantics: ProcessEventSemantics
    occurred_at: SystemTime


@dataclass(frozen=True, slots=True)
class ProcessWakeDelivery(Checked):
    """A materialised wake addressed to a session scope (lash's `ProcessWakeDelivery`); derived from its
    event, never stored apart from it. `wake_id` is `wake_id(target_scope_id, dedupe_key)`."""

    wake_id: str
    target_session_id: str
    target_scope_id: str
    process_id: str
    sequence: int
    event_type: str
    event_invocation: RuntimeInvocation
    process_caused_by: CausalRef | None
    dedupe_key: str
    input: str
    created_at_ms: int
    LASH_OMIT_NONE: ClassVar = frozenset({"process_caused_by"})


@dataclass(frozen=True, slots=True)
class ProcessEventAppendResult(Checked):
    """What `append_event` answers: the event (the original one for a replayed key) and its wake delivery."""

    event: ProcessEvent
    wake_delivery: ProcessWakeDelivery | None = None
    LASH_OMIT_NONE: ClassVar = frozenset({"wake_delivery"})


# -- leases and list filters (§3.2, §3.6) -------------------------------------------------------------

PROCESS_LEASE_SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class ProcessLease(Checked):
    """A single-owner lease over a process; `fencing_token` only grows, across claims and releases."""

    schema_version: int
    process_id: str
    owner_id: str
    lease_token: str
    fencing_token: int
    claimed_at_epoch_ms: int
    expires_at_epoch_ms: int


@dataclass(frozen=True, slots=True)
class ProcessLeaseCompletion(Checked):
    process_id: str
    lease_token: str

    @classmethod
    def from_lease(cls, lease: ProcessLease) -> ProcessLeaseCompletion:
        return cls(lease.process_id, lease.lease_token)


class ProcessStatusFilter(enum.StrEnum):
    """lash's `ProcessStatusFilter`: one lifecycle status, or `any`. The default is `running`."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    ANY = "any"


@dataclass(frozen=True, slots=True)
class ProcessDefinitionSelector(Checked):
    """Selects lashlang processes of one definition (module, host requirements, process ref and name)."""

    module_ref: str
    host_requirements_ref: str
    process_ref: LashlangProcessRef
    process_name: str

    def matches_input(self, input: ProcessInput) -> bool:
        return (
            isinstance(input, LashlangProcessInput)
            and input.module_ref == self.module_ref
            and input.host_requirements_ref == self.host_requirements_ref
            and input.process_ref == self.process_ref
            and input.process_name == self.process_name
        )


@dataclass(frozen=True, slots=True)
class ProcessListFilter(Checked):
    """lash's `ProcessListFilter` (not serialised): status (default running), definition, waiting."""

    definition: ProcessDefinitionSelector | None = None
    status: ProcessStatusFilter = ProcessStatusFilter.RUNNING
    waiting: bool | None = None

    def matches_record(self, record: ProcessRecord) -> bool:
        state = record.status.LASH_TAG[1]
        return (
            (self.status is ProcessStatusFilter.ANY or self.status.value == state)
            and (self.definition is None or self.definition.matches_input(record.input))
            and (self.waiting is None or (record.wait is not None) == self.waiting)
        )


# -- commands (§1.5) --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProcessStartOp(_Op):
    registration: ProcessRegistration
    grant: ProcessStartGrant | None = None
    execution_context: ProcessExecutionContext | None = None
    """Left out of lash-json when it carries no causal invocation (an empty context is normalised to None)."""
    LASH_TAG: ClassVar = ("op", "start")
    LASH_OMIT_NONE: ClassVar = frozenset({"grant", "execution_context"})

    def __post_init__(self) -> None:
        if self.execution_context is not None and self.execution_context.causal_invocation is None:
            object.__setattr__(self, "execution_context", None)

    def effect_id(self) -> str:
        return f"process:start:{self.registration.id}"


@dataclass(frozen=True, slots=True)
class ProcessListOp(_Op):
    session_scope: SessionScope
    mode: ProcessListMode = ProcessListMode.LIVE
    LASH_TAG: ClassVar = ("op", "list")

    def effect_id(self) -> str:
        return f"process:list:{self.session_scope.id}:{self.mode}"


@dataclass(frozen=True, slots=True)
class ProcessTransferOp(_Op):
    from_scope: SessionScope
    to_scope: SessionScope
    process_ids: tuple[str, ...]
    LASH_TAG: ClassVar = ("op", "transfer")

    def effect_id(self) -> str:
        digest = sha256_hex(list(self.process_ids))
        return f"process:transfer:{self.from_scope.id}:{self.to_scope.id}:{digest}"


@dataclass(frozen=True, slots=True)
class ProcessDeleteSessionOp(_Op):
    session_id: str
    LASH_TAG: ClassVar = ("op", "delete_session")

    def effect_id(self) -> str:
        return f"process:delete-session:{self.session_id}"


@dataclass(frozen=True, slots=True)
class ProcessAwaitOp(_Op):
    process_id: str
    LASH_TAG: ClassVar = ("op", "await")

    def effect_id(self) -> str:
        return f"process:await:{self.process_id}"


@dataclass(frozen=True, slots=True)
class ProcessCancelOp(_Op):
    process_id: str
    reason: str | None = None
    """Always written (as `null` when None)."""
    LASH_TAG: ClassVar = ("op", "cancel")

    def effect_id(self) -> str:
        return f"process:cancel:{self.process_id}"


@dataclass(frozen=True, slots=True)
class ProcessSignalOp(_Op):
    process_id: str
    signal_name: str
    signal_id: str
    request: ProcessEventAppendRequest
    LASH_TAG: ClassVar = ("op", "signal")

    def effect_id(self) -> str:
        return f"process:signal:{self.process_id}:signal.{self.signal_name}:{self.signal_id}"


ProcessCommand = (
    ProcessStartOp
    | ProcessListOp
    | ProcessTransferOp
    | ProcessDeleteSessionOp
    | ProcessAwaitOp
    | ProcessCancelOp
    | ProcessSignalOp
)


# -- outcomes (§1.7) --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProcessStartResult(_Op):
    record: ProcessRecord
    LASH_TAG: ClassVar = ("op", "start")


@dataclass(frozen=True, slots=True)
class ProcessListResult(_Op):
    entries: tuple[ProcessHandleGrantEntry, ...] = ()
    LASH_TAG: ClassVar = ("op", "list")


@dataclass(frozen=True, slots=True)
class ProcessTransferResult(_Op):
    LASH_TAG: ClassVar = ("op", "transfer")


@dataclass(frozen=True, slots=True)
class ProcessDeleteSessionResult(_Op):
    report: ProcessSessionDeleteReport
    LASH_TAG: ClassVar = ("op", "delete_session")


@dataclass(frozen=True, slots=True)
class ProcessAwaitResult(_Op):
    output: ProcessAwaitOutput
    LASH_TAG: ClassVar = ("op", "await")


@dataclass(frozen=True, slots=True)
class ProcessCancelResult(_Op):
    record: ProcessRecord
    LASH_TAG: ClassVar = ("op", "cancel")


@dataclass(frozen=True, slots=True)
class ProcessSignalResult(_Op):
    event: ProcessEvent
    LASH_TAG: ClassVar = ("op", "signal")


ProcessEffectOutcome = (
    ProcessStartResult
    | ProcessListResult
    | ProcessTransferResult
    | ProcessDeleteSessionResult
    | ProcessAwaitResult
    | ProcessCancelResult
    | ProcessSignalResult
)


# -- ids and keys (§3.3) ----------------------------------------------------------------------------


def cancel_requested_replay_key(process_id: str, reason: str | None) -> str:
    """`process:{pid}:cancel_requested:{sha256(json(["process.cancel_requested", {"reason": reason}]))}`."""
    digest = sha256_hex([CANCEL_REQUESTED, {"reason": reason}])
    return f"process:{process_id}:cancel_requested:{digest}"


def cancel_requested_request(process_id: str, reason: str | None) -> ProcessEventAppendRequest:
    """lash's `ProcessEventAppendRequest::cancel_requested`: the same reason always yields the same replay key."""
    return ProcessEventAppendRequest(
        event_type=CANCEL_REQUESTED,
        payload={"reason": reason},
        replay=RuntimeReplay(cancel_requested_replay_key(process_id, reason)),
    )


def wake_id(target_scope_id: str, dedupe_key: str) -> str:
    """`wake:` + sha256(json([target_scope_id, dedupe_key]))."""
    return "wake:" + sha256_hex([target_scope_id, dedupe_key])


def process_signal_wait_key(process_id: str, name: str, ordinal: int) -> str:
    return f"process:{process_id}:signal.{name}:{ordinal}"


def process_signal_event_type(name: str) -> str:
    """`signal.{name}`; the name must be non-empty ASCII letters, digits, `_` or `-`."""
    if not name or not all(c.isascii() and (c.isalnum() or c in "_-") for c in name):
        raise InvalidArgumentError(
            "invalid_request",
            f"process signal name must be non-empty and contain only ASCII letters, digits, `_`, or `-`, got `{name}`",
        )
    return f"signal.{name}"


# -- reading lash JSON back (types the contract carries as JSON) -----------------------------------

_TERMINAL_STATES = ("completed", "failed", "cancelled")


def _state(obj: dict[str, Any], what: str) -> TerminalState:
    state = obj.get("state")
    if state not in _TERMINAL_STATES:
        raise bad(what, "needs a state of completed, failed or cancelled")
    return state  # type: ignore[no-any-return]


def terminal_spec_from_lash(value: JsonValue) -> ProcessTerminalSpec:
    obj = json_object(value, "terminal spec")
    return ProcessTerminalSpec(state=_state(obj, "terminal spec"), await_output=obj.get("await_output"))


def wake_spec_from_lash(value: JsonValue) -> ProcessWakeSpec:
    what = "wake spec"
    obj = json_object(value, what)
    if "input" not in obj:
        raise bad(what, "needs an input selector")
    return ProcessWakeSpec(when=obj.get("when"), input=obj["input"], dedupe_key=obj.get("dedupe_key", "event_identity"))


def await_output_from_lash(value: JsonValue) -> ProcessAwaitOutput:
    """A ProcessAwaitOutput from its lash JSON (e.g. a terminal event's `await_output`)."""
    what = "process await output"
    tag, obj = json_variant(value, "type", what)
    if tag == "success":
        return ProcessAwaitSuccess(value=obj.get("value"), control=obj.get("control"))
    if tag == "failure":
        try:
            failure_class = ToolFailureClass(json_str(obj, "class", what))
        except ValueError:
            raise bad(what, "needs a known failure class") from None
        return ProcessAwaitFailure(
            class_=failure_class,
            code=json_str(obj, "code", what),
            message=json_str(obj, "message", what),
            raw=obj.get("raw"),
            control=obj.get("control"),
        )
    if tag == "cancelled":
        return ProcessAwaitCancelled(
            message=json_str(obj, "message", what), raw=obj.get("raw"), control=obj.get("control")
        )
    raise bad(what, f"has an unknown type {tag!r}")


def event_semantics_from_lash(value: JsonValue) -> ProcessEventSemantics:
    what = "process event semantics"
    obj = json_object(value, what)
    terminal = obj.get("terminal")
    wake = obj.get("wake")
    return ProcessEventSemantics(
        terminal=(
            ProcessTerminalSemantics(
                state=_state(json_object(terminal, what), what),
                await_output=await_output_from_lash(terminal.get("await_output")),
            )
            if terminal is not None
            else None
        ),
        wake=(
            ProcessWakeSemantics(
                input=json_str(json_object(wake, what), "input", what), dedupe_key=json_str(wake, "dedupe_key", what)
            )
            if wake is not None
            else None
        ),
    )
