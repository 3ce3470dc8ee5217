"""The process registry's rules (SEED-SPEC §3.3-3.5, issue 9 §2), as pure functions over the domain
dataclasses: no I/O, no clock, no store.

- Registration: core event types, validation, the registration hash, the idempotent-register decision.
- Appends (lash's `prepare_process_event_append`): keyed idempotency, declared types, required keys,
  payload schemas, semantics (terminal outputs and wakes from selectors), the status projection.
- The state machine: running → one terminal state, absorbing; `wait` only while running.
- Leases: the conflict, renew and completion decisions with fencing tokens that only grow.
- Signals: the append request of a signal, and the await-event key it resolves (its own ordinal; a
  replayed signal resolves nothing).

Errors carry lash's texts as messages and a stable snake_case code (see `ERROR_CODES`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from effectd._errors import ConflictError, EffectdError, InvalidArgumentError, LeaseLostError, NotFoundError
from effectd._lashjson import JsonValue, dumps, sha256_hex
from effectd._lineage import ProcessEventSubject, ProcessRef, RuntimeInvocation, RuntimeReplay, RuntimeScope
from effectd._process import (
    CANCEL_REQUESTED,
    PROCESS_LEASE_SCHEMA_VERSION,
    ExternalProcessInput,
    LashlangProcessInput,
    ProcessAwaitCancelled,
    ProcessAwaitFailure,
    ProcessAwaitOutput,
    ProcessAwaitSuccess,
    ProcessCancelled,
    ProcessCompleted,
    ProcessEvent,
    ProcessEventAppendRequest,
    ProcessEventSemantics,
    ProcessEventSemanticsSpec,
    ProcessEventType,
    ProcessFailed,
    ProcessLease,
    ProcessRecord,
    ProcessRegistration,
    ProcessRunning,
    ProcessStatus,
    ProcessTerminalSemantics,
    ProcessTerminalSpec,
    ProcessWakeDelivery,
    ProcessWakeSemantics,
    ProcessWakeSpec,
    SessionScope,
    SessionTurnProcessInput,
    SystemTime,
    TemplateSelector,
    TerminalState,
    ToolCallProcessInput,
    ToolFailureClass,
    process_signal_event_type,
    wake_id,
)
from effectd._scope import Ok, ProcessScope, ProcessSignalWait

from effectd_server.processes.schema import validate_payload

__all__ = [
    "CORE_EVENT_TYPE_NAMES",
    "ERROR_CODES",
    "PreparedAppend",
    "SignalDelivery",
    "apply_append",
    "await_output_of",
    "claim_lease",
    "core_event_types",
    "event_payload_hash",
    "handle_not_granted",
    "is_terminal",
    "lease_conflict",
    "lease_is_live",
    "lease_lost",
    "materialize_semantics",
    "new_record",
    "prepare_event_append",
    "prepare_registration",
    "register_decision",
    "registration_hash",
    "renew_lease",
    "require_event_replay",
    "select_value",
    "set_wait_check",
    "signal_append_request",
    "signal_delivery",
    "signal_replay_key",
    "status_name",
    "terminal_event_request",
    "unknown_process",
    "validate_registration",
    "value_text",
    "wake_delivery",
]

# code -> (error class, meaning). Every code is answered with its class's status (no CODE_STATUS entry).
ERROR_CODES: dict[str, tuple[type[EffectdError], str]] = {
    "process_id_required": (InvalidArgumentError, "a registration without an id"),
    "process_host_profile_required": (InvalidArgumentError, "a registration without a host profile id"),
    "process_env_ref_required": (InvalidArgumentError, "tool_call / lashlang_process inputs need an env_ref"),
    "process_env_ref_forbidden": (InvalidArgumentError, "external / session_turn inputs must not carry one"),
    "process_event_type_empty": (InvalidArgumentError, "an event type with an empty name"),
    "process_event_type_duplicate": (InvalidArgumentError, "two event types with one name"),
    "process_terminal_output_required": (InvalidArgumentError, "a failed/cancelled terminal type without output"),
    "process_selector_invalid": (InvalidArgumentError, "a value selector or dedupe key lash cannot read"),
    "process_registration_hash_conflict": (ConflictError, "another registration under the same id"),
    "process_unknown": (NotFoundError, "no process with this id"),
    "process_handle_not_granted": (NotFoundError, "transfer of a handle the source scope does not hold"),
    "process_event_undeclared": (InvalidArgumentError, "an event type the registration does not declare"),
    "process_event_replay_key_required": (InvalidArgumentError, "terminal and cancel events need a replay key"),
    "process_event_payload_invalid": (InvalidArgumentError, "a payload its event type's schema refuses"),
    "process_selector_no_match": (InvalidArgumentError, "a pointer selector that matched nothing"),
    "process_event_replay_conflict": (ConflictError, "a replay key reused with another type or payload"),
    "process_already_terminal": (ConflictError, "a terminal event on a terminal process"),
    "process_terminal_wait": (ConflictError, "a wait state on a terminal process"),
    "process_lease_conflict": (ConflictError, "a live lease held by another owner"),
    "process_lease_lost": (LeaseLostError, "renew of a superseded, released or expired lease"),
}

CORE_EVENT_TYPE_NAMES = (
    CANCEL_REQUESTED,
    "process.waiting",
    "process.resumed",
    "process.completed",
    "process.failed",
    "process.cancelled",
)

_TERMINAL_EVENT_TYPES: dict[TerminalState, str] = {
    "completed": "process.completed",
    "failed": "process.failed",
    "cancelled": "process.cancelled",
}


def _error(code: str, message: str) -> EffectdError:
    cls, _ = ERROR_CODES[code]
    return cls(code, message)


def unknown_process(process_id: str) -> EffectdError:
    return _error("process_unknown", f"unknown process `{process_id}`")


def handle_not_granted(process_id: str, session_id: str) -> EffectdError:
    return _error(
        "process_handle_not_granted", f"process handle `{process_id}` is not granted to session `{session_id}`"
    )


# -- status (§3.5) ---------------------------------------------------------------------------------


def is_terminal(status: ProcessStatus) -> bool:
    return not isinstance(status, ProcessRunning)


def status_name(status: ProcessStatus) -> str:
    """`running`, `completed`, `failed` or `cancelled`."""
    return status.LASH_TAG[1]


def await_output_of(status: ProcessStatus) -> ProcessAwaitOutput | None:
    return None if isinstance(status, ProcessRunning) else status.await_output


def _status_from_terminal(terminal: ProcessTerminalSemantics) -> ProcessStatus:
    if terminal.state == "completed":
        return ProcessCompleted(terminal.await_output)
    if terminal.state == "failed":
        return ProcessFailed(terminal.await_output)
    return ProcessCancelled(terminal.await_output)


def _terminal_state(output: ProcessAwaitOutput) -> TerminalState:
    if isinstance(output, ProcessAwaitSuccess):
        return "completed"
    if isinstance(output, ProcessAwaitFailure):
        return "failed"
    return "cancelled"


def set_wait_check(record: ProcessRecord) -> None:
    """A wait state is a facet of a running process: a terminal one cannot enter it."""
    if is_terminal(record.status):
        raise _error("process_terminal_wait", f"terminal process `{record.id}` cannot enter a wait state")


# -- registration (§3.2, §3.4) -----------------------------------------------------------------------


def _terminal_type(name: str, state: TerminalState) -> ProcessEventType:
    return ProcessEventType(
        name=name,
        semantics=ProcessEventSemanticsSpec(
            terminal=ProcessTerminalSpec(state=state, await_output={"pointer": "/await_output"})
        ),
    )


def core_event_types() -> tuple[ProcessEventType, ...]:
    """The event types every process declares, in lash's order (payload schema `{}` each)."""
    return (
        ProcessEventType(name=CANCEL_REQUESTED),
        ProcessEventType(name="process.waiting"),
        ProcessEventType(name="process.resumed"),
        *(_terminal_type(name, state) for state, name in _TERMINAL_EVENT_TYPES.items()),
    )


def _ensure_core_event_types(registration: ProcessRegistration) -> ProcessRegistration:
    names = {t.name for t in registration.event_types}
    missing = tuple(t for t in core_event_types() if t.name not in names)
    if not missing:
        return registration
    return dataclasses.replace(registration, event_types=(*registration.event_types, *missing))


def registration_hash(registration: ProcessRegistration) -> str:
    return sha256_hex(registration)


def validate_registration(registration: ProcessRegistration) -> None:
    """lash's `validate_process_registration`, plus selectors that lash's types would have refused."""
    pid = registration.id
    if not pid.strip():
        raise _error("process_id_required", "process id must be a non-empty string")
    if not registration.provenance.host_profile_id.strip():
        raise _error("process_host_profile_required", f"process `{pid}` host profile id must be non-empty")
    if isinstance(registration.input, ToolCallProcessInput | LashlangProcessInput):
        if registration.env_ref is None:
            raise _error("process_env_ref_required", f"process `{pid}` requires a captured execution env")
    elif isinstance(registration.input, ExternalProcessInput | SessionTurnProcessInput):
        if registration.env_ref is not None:
            raise _error(
                "process_env_ref_forbidden",
                f"process `{pid}` must not capture an execution env for this input kind",
            )
    names: set[str] = set()
    for event_type in registration.event_types:
        if not event_type.name.strip():
            raise _error("process_event_type_empty", f"process `{pid}` declares an empty event type")
        if event_type.name in names:
            raise _error(
                "process_event_type_duplicate", f"process `{pid}` declares duplicate event type `{event_type.name}`"
            )
        names.add(event_type.name)
        terminal = event_type.semantics.terminal
        if terminal is not None and terminal.state != "completed" and terminal.await_output is None:
            raise _error(
                "process_terminal_output_required",
                f"terminal event `{event_type.name}` for process `{pid}` must declare await output",
            )
        _check_semantics(pid, event_type)


def _check_semantics(pid: str, event_type: ProcessEventType) -> None:
    terminal = event_type.semantics.terminal
    wake = event_type.semantics.wake

    def check(selector: Any, what: str) -> None:
        problem = _selector_problem(selector)
        if problem is not None:
            raise _error(
                "process_selector_invalid",
                f"process `{pid}` event type `{event_type.name}` has an invalid {what}: {problem}",
            )

    if terminal is not None and terminal.await_output is not None:
        check(terminal.await_output, "await_output selector")
    if wake is not None:
        if wake.when is not None:
            check(wake.when, "wake `when` selector")
        check(wake.input, "wake input selector")
        dedupe = wake.dedupe_key
        if dedupe != "event_identity":
            if isinstance(dedupe, dict) and len(dedupe) == 1 and "selector" in dedupe:
                check(dedupe["selector"], "wake dedupe selector")
            elif not (isinstance(dedupe, dict) and len(dedupe) == 1 and isinstance(dedupe.get("const"), str)):
                raise _error(
                    "process_selector_invalid",
                    f"process `{pid}` event type `{event_type.name}` has an invalid wake dedupe key: expected"
                    ' "event_identity", {"selector": ...} or {"const": "..."}',
                )


def _selector_problem(selector: Any) -> str | None:
    if selector == "payload":
        return None
    if isinstance(selector, TemplateSelector):
        for name, field in selector.template.fields.items():
            problem = _selector_problem(field)
            if problem is not None:
                return f"template field `{name}`: {problem}"
        return None
    if isinstance(selector, dict) and len(selector) == 1:
        (kind, value), *_ = selector.items()
        if kind == "const":
            return None
        if kind in ("pointer", "present"):
            return None if isinstance(value, str) else f"`{kind}` needs a JSON pointer string"
    return 'expected "payload", {"pointer": p}, {"const": v}, {"template": {...}} or {"present": p}'


def prepare_registration(registration: ProcessRegistration) -> tuple[ProcessRegistration, str]:
    """Core event types ensured, validated, hashed (lash's `prepare_process_registration`)."""
    prepared = _ensure_core_event_types(registration)
    validate_registration(prepared)
    return prepared, registration_hash(prepared)


def new_record(registration: ProcessRegistration, registration_hash: str, now_ms: int) -> ProcessRecord:
    """The record of a fresh registration: running, no wait, no external ref."""
    return ProcessRecord(
        id=registration.id,
        registration_hash=registration_hash,
        input=registration.input,
        event_types=registration.event_types,
        provenance=registration.provenance,
        env_ref=registration.env_ref,
        wake_target=registration.wake_target,
        created_at_ms=now_ms,
        updated_at_ms=now_ms,
    )


def register_decision(existing: ProcessRecord, new_hash: str) -> ProcessRecord:
    """Registering an id that exists: the same hash is the existing record, another is a conflict."""
    if existing.registration_hash == new_hash:
        return existing
    raise _error(
        "process_registration_hash_conflict",
        f"process `{existing.id}` registration hash conflict: existing {existing.registration_hash}, new {new_hash}",
    )


# -- selectors (§3.3) --------------------------------------------------------------------------------

_MISSING = object()


def _pointer(value: JsonValue, pointer: str) -> Any:
    """RFC 6901 as serde_json's `Value::pointer` reads it; `_MISSING` when nothing matches."""
    if pointer == "":
        return value
    if not pointer.startswith("/"):
        return _MISSING
    current = value
    for raw in pointer.split("/")[1:]:
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(current, dict):
            if token not in current:
                return _MISSING
            current = current[token]
        elif isinstance(current, list):
            if not (token.isascii() and token.isdigit()) or (token.startswith("0") and len(token) != 1):
                return _MISSING
            index = int(token)
            if index >= len(current):
                return _MISSING
            current = current[index]
        else:
            return _MISSING
    return current


def value_text(value: JsonValue) -> str:
    """A selected value "as text": a JSON string itself, anything else its compact JSON."""
    return value if isinstance(value, str) else dumps(value)


def _truthy(value: JsonValue) -> bool:
    if value is None or value is False:
        return False
    if value is True:
        return True
    if isinstance(value, str | list | tuple | dict):
        return len(value) > 0
    return True  # numbers, even 0


def select_value(payload: JsonValue, selector: Any) -> JsonValue:
    """Apply a value selector to an event payload (lash's `select_value`)."""
    if selector == "payload":
        return payload
    if isinstance(selector, TemplateSelector):
        rendered = selector.template.template
        for name in sorted(selector.template.fields, key=lambda k: k.encode("utf-8")):
            text = value_text(select_value(payload, selector.template.fields[name]))
            rendered = rendered.replace("{" + name + "}", text)
        return rendered
    if isinstance(selector, dict) and len(selector) == 1:
        (kind, argument), *_ = selector.items()
        if kind == "pointer" and isinstance(argument, str):
            found = _pointer(payload, argument)
            if found is _MISSING:
                raise _error("process_selector_no_match", f"payload pointer `{argument}` did not match")
            return found
        if kind == "const":
            return argument
        if kind == "present" and isinstance(argument, str):
            return _pointer(payload, argument) is not _MISSING
    raise _error("process_selector_invalid", f"invalid process value selector: {dumps(selector)}")


# -- semantics (§3.3) --------------------------------------------------------------------------------


def _decode_await_output(value: JsonValue) -> ProcessAwaitOutput | None:
    """Strict serde decoding of a ProcessAwaitOutput; None when the value is not one."""
    if not isinstance(value, dict):
        return None
    tag = value.get("type")
    control = value.get("control")
    raw = value.get("raw")
    if tag == "success":
        if "value" not in value:
            return None
        return ProcessAwaitSuccess(value=value["value"], control=control)
    if tag == "failure":
        code, message, cls = value.get("code"), value.get("message"), value.get("class")
        if not (isinstance(code, str) and isinstance(message, str) and isinstance(cls, str)):
            return None
        try:
            failure_class = ToolFailureClass(cls)
        except ValueError:
            return None
        return ProcessAwaitFailure(class_=failure_class, code=code, message=message, raw=raw, control=control)
    if tag == "cancelled":
        message = value.get("message")
        if not isinstance(message, str):
            return None
        return ProcessAwaitCancelled(message=message, raw=raw, control=control)
    return None


def _wrap_await_output(state: TerminalState, value: JsonValue) -> ProcessAwaitOutput:
    if state == "completed":
        return ProcessAwaitSuccess(value=value)
    if state == "failed":
        return ProcessAwaitFailure(
            class_=ToolFailureClass.EXECUTION, code="process_failed", message=value_text(value), raw=value
        )
    return ProcessAwaitCancelled(message=value_text(value), raw=value)


def _terminal_semantics(payload: JsonValue, spec: ProcessTerminalSpec) -> ProcessTerminalSemantics:
    if spec.await_output is not None:
        selected = select_value(payload, spec.await_output)
        output = _decode_await_output(selected) or _wrap_await_output(spec.state, selected)
    elif spec.state == "completed":
        output = ProcessAwaitSuccess(value=payload)
    else:
        raise _error(
            "process_terminal_output_required", "failed or cancelled terminal events must declare await output"
        )
    return ProcessTerminalSemantics(state=spec.state, await_output=output)


def _wake_semantics(
    process_id: str, sequence: int, payload: JsonValue, spec: ProcessWakeSpec
) -> ProcessWakeSemantics | None:
    if spec.when is not None and not _truthy(select_value(payload, spec.when)):
        return None
    wake_input = value_text(select_value(payload, spec.input))
    dedupe = spec.dedupe_key
    if isinstance(dedupe, dict) and "selector" in dedupe:
        dedupe_key = value_text(select_value(payload, dedupe["selector"]))
    elif isinstance(dedupe, dict) and "const" in dedupe:
        dedupe_key = str(dedupe["const"])
    else:
        dedupe_key = f"{process_id}:{sequence}"
    return ProcessWakeSemantics(input=wake_input, dedupe_key=dedupe_key)


def materialize_semantics(
    process_id: str, sequence: int, payload: JsonValue, spec: ProcessEventSemanticsSpec
) -> ProcessEventSemantics:
    """An event's semantics from its type's spec: the terminal output and the wake (if `when` holds)."""
    terminal = None if spec.terminal is None else _terminal_semantics(payload, spec.terminal)
    wake = None if spec.wake is None else _wake_semantics(process_id, sequence, payload, spec.wake)
    return ProcessEventSemantics(terminal=terminal, wake=wake)


def wake_delivery(
    record: ProcessRecord, event: ProcessEvent, target_scope: SessionScope | None
) -> ProcessWakeDelivery | None:
    """The delivery of an event's wake to a target scope; None without a wake or without a target."""
    wake = event.semantics.wake
    if wake is None or target_scope is None:
        return None
    target_scope_id = target_scope.id
    return ProcessWakeDelivery(
        wake_id=wake_id(target_scope_id, wake.dedupe_key),
        target_session_id=target_scope.session_id,
        target_scope_id=target_scope_id,
        process_id=record.id,
        sequence=event.sequence,
        event_type=event.event_type,
        event_invocation=event.invocation,
        process_caused_by=record.provenance.caused_by,
        dedupe_key=wake.dedupe_key,
        input=wake.input,
        created_at_ms=event.occurred_at.ms,
    )


# -- appends (§3.4) ----------------------------------------------------------------------------------


def event_payload_hash(event_type: str, payload: JsonValue) -> str:
    """sha256 of lash-json `[event_type, payload]`: what keyed idempotency compares."""
    return sha256_hex([event_type, payload])


def require_event_replay(process_id: str, request: ProcessEventAppendRequest, spec: ProcessEventSemanticsSpec) -> None:
    if spec.terminal is None and request.event_type != CANCEL_REQUESTED:
        return
    if request.replay is None or request.replay.key == "":
        raise _error(
            "process_event_replay_key_required",
            f"process `{process_id}` event `{request.event_type}` requires a deterministic replay key",
        )


def _event_invocation(
    process_id: str, sequence: int, event_type: str, replay: RuntimeReplay | None
) -> RuntimeInvocation:
    return RuntimeInvocation(
        scope=RuntimeScope("runtime"),
        subject=ProcessEventSubject(process_id, sequence, event_type),
        caused_by=ProcessRef(process_id),
        replay=replay,
    )


@dataclass(frozen=True, slots=True)
class PreparedAppend:
    """The decision of one append: the event to store (or the original one), the status it projects."""

    event: ProcessEvent
    payload_hash: str
    status_update: ProcessStatus | None
    """A terminal status to apply: the new event's, or a replayed terminal's when the record is not terminal."""
    wake_delivery: ProcessWakeDelivery | None
    occurred_at_ms: int
    replayed: bool


def prepare_event_append(
    record: ProcessRecord,
    request: ProcessEventAppendRequest,
    sequence: int,
    replay_lookup: tuple[str, ProcessEvent] | None,
    occurred_at_ms: int,
) -> PreparedAppend:
    """lash's `prepare_process_event_append`. `replay_lookup` is the (payload hash, event) stored under
    the request's replay key, `sequence` the next one (1-based, gapless)."""
    pid = record.id
    payload_hash = event_payload_hash(request.event_type, request.payload)
    target = request.wake_target_scope if request.wake_target_scope is not None else record.wake_target
    if request.replay is not None and replay_lookup is not None:
        existing_hash, existing = replay_lookup
        if existing_hash != payload_hash:
            raise _error(
                "process_event_replay_conflict",
                f"process `{pid}` event replay key `{request.replay.key}` conflicts with an existing event",
            )
        terminal = existing.semantics.terminal
        repair = None if terminal is None or is_terminal(record.status) else _status_from_terminal(terminal)
        return PreparedAppend(
            event=existing,
            payload_hash=payload_hash,
            status_update=repair,
            wake_delivery=wake_delivery(record, existing, target),
            occurred_at_ms=existing.occurred_at.ms,
            replayed=True,
        )
    declared = next((t for t in record.event_types if t.name == request.event_type), None)
    if declared is None:
        raise _error(
            "process_event_undeclared", f"process `{pid}` emitted undeclared event type `{request.event_type}`"
        )
    require_event_replay(pid, request, declared.semantics)
    schema = declared.payload_schema
    if isinstance(schema, Mapping) and "schema" in schema:
        schema = schema["schema"]
    problem = validate_payload(schema, request.payload)
    if problem is not None:
        raise _error("process_event_payload_invalid", f"invalid `{request.event_type}` payload: {problem}")
    semantics = materialize_semantics(pid, sequence, request.payload, declared.semantics)
    if semantics.terminal is not None and is_terminal(record.status):
        raise _error("process_already_terminal", f"process `{pid}` is already terminal")
    event = ProcessEvent(
        process_id=pid,
        sequence=sequence,
        event_type=request.event_type,
        payload=request.payload,
        invocation=_event_invocation(pid, sequence, declared.name, request.replay),
        semantics=semantics,
        occurred_at=SystemTime.from_ms(occurred_at_ms),
    )
    return PreparedAppend(
        event=event,
        payload_hash=payload_hash,
        status_update=None if semantics.terminal is None else _status_from_terminal(semantics.terminal),
        wake_delivery=wake_delivery(record, event, target),
        occurred_at_ms=occurred_at_ms,
        replayed=False,
    )


def apply_append(record: ProcessRecord, prepared: PreparedAppend) -> ProcessRecord | None:
    """The record after an append (None when a replay changes nothing): a terminal status clears the
    wait; a new event bumps `updated_at_ms`; a replayed terminal repairs a record that is not terminal."""
    if prepared.replayed and prepared.status_update is None:
        return None
    status = record.status if prepared.status_update is None else prepared.status_update
    wait = None if is_terminal(status) else record.wait
    return dataclasses.replace(record, status=status, wait=wait, updated_at_ms=prepared.occurred_at_ms)


def terminal_event_request(process_id: str, output: ProcessAwaitOutput) -> ProcessEventAppendRequest:
    """What `complete_process` appends: `process.{state}` with `{"await_output": output}`, keyed
    `process:{pid}:terminal:{event_type}`."""
    event_type = _TERMINAL_EVENT_TYPES[_terminal_state(output)]
    return ProcessEventAppendRequest(
        event_type=event_type,
        payload={"await_output": _output_json(output)},
        replay=RuntimeReplay(f"process:{process_id}:terminal:{event_type}"),
    )


def _output_json(output: ProcessAwaitOutput) -> JsonValue:
    """An await output as the plain JSON value lash writes into a payload."""
    return json.loads(dumps(output))


# -- leases (§3.6) -----------------------------------------------------------------------------------


def lease_is_live(lease: ProcessLease | None, now_ms: int) -> bool:
    return lease is not None and lease.owner_id != "" and lease.expires_at_epoch_ms > now_ms


def lease_conflict(process_id: str, current: ProcessLease) -> EffectdError:
    return _error(
        "process_lease_conflict",
        f"process `{process_id}` is already leased by `{current.owner_id}` until {current.expires_at_epoch_ms}",
    )


def lease_lost(process_id: str) -> EffectdError:
    return _error("process_lease_lost", f"process lease for `{process_id}` is missing or expired")


def claim_lease(
    process_id: str, current: ProcessLease | None, fencing_token: int, owner_id: str, ttl_ms: int, now_ms: int
) -> ProcessLease:
    """A new lease unless another owner holds a live one; `fencing_token` is the last one given (kept
    across releases), so the new token is strictly greater than every earlier one."""
    if current is not None and lease_is_live(current, now_ms) and current.owner_id != owner_id:
        raise lease_conflict(process_id, current)
    fencing = fencing_token + 1
    return ProcessLease(
        schema_version=PROCESS_LEASE_SCHEMA_VERSION,
        process_id=process_id,
        owner_id=owner_id,
        lease_token=f"{process_id}:{owner_id}:{now_ms}:{fencing}",
        fencing_token=fencing,
        claimed_at_epoch_ms=now_ms,
        expires_at_epoch_ms=now_ms + ttl_ms,
    )


def renew_lease(lease: ProcessLease, current: ProcessLease | None, ttl_ms: int, now_ms: int) -> ProcessLease:
    """The renewed lease: only with the current token, and only while unexpired."""
    if current is None or not lease_is_live(current, now_ms) or current.lease_token != lease.lease_token:
        raise lease_lost(lease.process_id)
    return dataclasses.replace(current, expires_at_epoch_ms=now_ms + ttl_ms)


# -- signals (issue 9 §2, SEED-SPEC §3.7, §7 items 8 and 9) ----------------------------------------------


def signal_replay_key(process_id: str, signal_name: str, signal_id: str) -> str:
    return f"process:{process_id}:signal.{signal_name}:{signal_id}"


def signal_append_request(
    process_id: str,
    signal_name: str,
    signal_id: str,
    payload: JsonValue,
    wake_target_scope: SessionScope | None = None,
) -> ProcessEventAppendRequest:
    """A signal's append: `signal.{name}`, deduplicated by `signal_id` (same id and payload → the
    original event; same id, other payload → a replay conflict)."""
    return ProcessEventAppendRequest(
        event_type=process_signal_event_type(signal_name),
        payload=payload,
        replay=RuntimeReplay(signal_replay_key(process_id, signal_name, signal_id)),
        wake_target_scope=wake_target_scope,
    )


@dataclass(frozen=True, slots=True)
class SignalDelivery:
    """The await-event key a signal resolves, and with what: `ok(payload)` on the key of
    `process_signal(pid, name, ordinal)` in scope `process(pid)`."""

    scope: ProcessScope
    wait: ProcessSignalWait
    resolution: Ok


def signal_delivery(event: ProcessEvent, *, ordinal: int) -> SignalDelivery | None:
    """The await-event key a signal event resolves. `ordinal` is the event's own ordinal: the count of
    its type's events up to and including its sequence (never the process's current wait). The key is
    resolved whether or not anyone waits yet; a resolution that comes first is kept for the wait that
    comes later. For a replayed signal this is the key its first append resolved (see `send_signal`)."""
    if ordinal <= 0 or not event.event_type.startswith("signal."):
        return None
    name = event.event_type.removeprefix("signal.")
    return SignalDelivery(
        scope=ProcessScope(event.process_id),
        wait=ProcessSignalWait(event.process_id, name, ordinal),
        resolution=Ok(event.payload),
    )
