from effectd.v1 import await_events_pb2 as _await_events_pb2
from effectd.v1 import scope_pb2 as _scope_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ToolFailureClass(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TOOL_FAILURE_CLASS_UNSPECIFIED: _ClassVar[ToolFailureClass]
    TOOL_FAILURE_CLASS_INVALID_REQUEST: _ClassVar[ToolFailureClass]
    TOOL_FAILURE_CLASS_UNAVAILABLE: _ClassVar[ToolFailureClass]
    TOOL_FAILURE_CLASS_PERMISSION_DENIED: _ClassVar[ToolFailureClass]
    TOOL_FAILURE_CLASS_TIMEOUT: _ClassVar[ToolFailureClass]
    TOOL_FAILURE_CLASS_EXECUTION: _ClassVar[ToolFailureClass]
    TOOL_FAILURE_CLASS_EXTERNAL: _ClassVar[ToolFailureClass]
    TOOL_FAILURE_CLASS_RESOURCE_LIMIT: _ClassVar[ToolFailureClass]
    TOOL_FAILURE_CLASS_INTERNAL: _ClassVar[ToolFailureClass]

class ProcessListMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROCESS_LIST_MODE_LIVE: _ClassVar[ProcessListMode]
    PROCESS_LIST_MODE_ALL: _ClassVar[ProcessListMode]

class ProcessStatusFilter(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROCESS_STATUS_FILTER_RUNNING: _ClassVar[ProcessStatusFilter]
    PROCESS_STATUS_FILTER_COMPLETED: _ClassVar[ProcessStatusFilter]
    PROCESS_STATUS_FILTER_FAILED: _ClassVar[ProcessStatusFilter]
    PROCESS_STATUS_FILTER_CANCELLED: _ClassVar[ProcessStatusFilter]
    PROCESS_STATUS_FILTER_ANY: _ClassVar[ProcessStatusFilter]

class OrphanPolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ORPHAN_POLICY_KEEP: _ClassVar[OrphanPolicy]
    ORPHAN_POLICY_CANCEL: _ClassVar[OrphanPolicy]
TOOL_FAILURE_CLASS_UNSPECIFIED: ToolFailureClass
TOOL_FAILURE_CLASS_INVALID_REQUEST: ToolFailureClass
TOOL_FAILURE_CLASS_UNAVAILABLE: ToolFailureClass
TOOL_FAILURE_CLASS_PERMISSION_DENIED: ToolFailureClass
TOOL_FAILURE_CLASS_TIMEOUT: ToolFailureClass
TOOL_FAILURE_CLASS_EXECUTION: ToolFailureClass
TOOL_FAILURE_CLASS_EXTERNAL: ToolFailureClass
TOOL_FAILURE_CLASS_RESOURCE_LIMIT: ToolFailureClass
TOOL_FAILURE_CLASS_INTERNAL: ToolFailureClass
PROCESS_LIST_MODE_LIVE: ProcessListMode
PROCESS_LIST_MODE_ALL: ProcessListMode
PROCESS_STATUS_FILTER_RUNNING: ProcessStatusFilter
PROCESS_STATUS_FILTER_COMPLETED: ProcessStatusFilter
PROCESS_STATUS_FILTER_FAILED: ProcessStatusFilter
PROCESS_STATUS_FILTER_CANCELLED: ProcessStatusFilter
PROCESS_STATUS_FILTER_ANY: ProcessStatusFilter
ORPHAN_POLICY_KEEP: OrphanPolicy
ORPHAN_POLICY_CANCEL: OrphanPolicy

class SessionScope(_message.Message):
    __slots__ = ("session_id", "agent_frame_id")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_FRAME_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    agent_frame_id: str
    def __init__(self, session_id: _Optional[str] = ..., agent_frame_id: _Optional[str] = ...) -> None: ...

class ProcessInput(_message.Message):
    __slots__ = ("tool_call", "lashlang_process", "session_turn", "external")
    TOOL_CALL_FIELD_NUMBER: _ClassVar[int]
    LASHLANG_PROCESS_FIELD_NUMBER: _ClassVar[int]
    SESSION_TURN_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_FIELD_NUMBER: _ClassVar[int]
    tool_call: ToolCallProcessInput
    lashlang_process: LashlangProcessInput
    session_turn: SessionTurnProcessInput
    external: ExternalProcessInput
    def __init__(self, tool_call: _Optional[_Union[ToolCallProcessInput, _Mapping]] = ..., lashlang_process: _Optional[_Union[LashlangProcessInput, _Mapping]] = ..., session_turn: _Optional[_Union[SessionTurnProcessInput, _Mapping]] = ..., external: _Optional[_Union[ExternalProcessInput, _Mapping]] = ...) -> None: ...

class ToolCallProcessInput(_message.Message):
    __slots__ = ("call",)
    CALL_FIELD_NUMBER: _ClassVar[int]
    call: _scope_pb2.Json
    def __init__(self, call: _Optional[_Union[_scope_pb2.Json, _Mapping]] = ...) -> None: ...

class LashlangProcessRef(_message.Message):
    __slots__ = ("component", "pos")
    COMPONENT_FIELD_NUMBER: _ClassVar[int]
    POS_FIELD_NUMBER: _ClassVar[int]
    component: str
    pos: int
    def __init__(self, component: _Optional[str] = ..., pos: _Optional[int] = ...) -> None: ...

class LashlangProcessInput(_message.Message):
    __slots__ = ("module_ref", "process_ref", "host_requirements_ref", "process_name", "args")
    MODULE_REF_FIELD_NUMBER: _ClassVar[int]
    PROCESS_REF_FIELD_NUMBER: _ClassVar[int]
    HOST_REQUIREMENTS_REF_FIELD_NUMBER: _ClassVar[int]
    PROCESS_NAME_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    module_ref: str
    process_ref: LashlangProcessRef
    host_requirements_ref: str
    process_name: str
    args: _scope_pb2.Json
    def __init__(self, module_ref: _Optional[str] = ..., process_ref: _Optional[_Union[LashlangProcessRef, _Mapping]] = ..., host_requirements_ref: _Optional[str] = ..., process_name: _Optional[str] = ..., args: _Optional[_Union[_scope_pb2.Json, _Mapping]] = ...) -> None: ...

class SessionTurnProcessInput(_message.Message):
    __slots__ = ("create_request", "turn_input", "output_contract")
    CREATE_REQUEST_FIELD_NUMBER: _ClassVar[int]
    TURN_INPUT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_CONTRACT_FIELD_NUMBER: _ClassVar[int]
    create_request: _scope_pb2.Json
    turn_input: _scope_pb2.Json
    output_contract: _scope_pb2.Json
    def __init__(self, create_request: _Optional[_Union[_scope_pb2.Json, _Mapping]] = ..., turn_input: _Optional[_Union[_scope_pb2.Json, _Mapping]] = ..., output_contract: _Optional[_Union[_scope_pb2.Json, _Mapping]] = ...) -> None: ...

class ExternalProcessInput(_message.Message):
    __slots__ = ("metadata",)
    METADATA_FIELD_NUMBER: _ClassVar[int]
    metadata: _scope_pb2.Json
    def __init__(self, metadata: _Optional[_Union[_scope_pb2.Json, _Mapping]] = ...) -> None: ...

class ProcessOriginator(_message.Message):
    __slots__ = ("host", "session")
    HOST_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    host: HostOriginator
    session: SessionOriginator
    def __init__(self, host: _Optional[_Union[HostOriginator, _Mapping]] = ..., session: _Optional[_Union[SessionOriginator, _Mapping]] = ...) -> None: ...

class HostOriginator(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SessionOriginator(_message.Message):
    __slots__ = ("scope",)
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    scope: SessionScope
    def __init__(self, scope: _Optional[_Union[SessionScope, _Mapping]] = ...) -> None: ...

class ProcessProvenance(_message.Message):
    __slots__ = ("originator", "host_profile_id", "caused_by")
    ORIGINATOR_FIELD_NUMBER: _ClassVar[int]
    HOST_PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    CAUSED_BY_FIELD_NUMBER: _ClassVar[int]
    originator: ProcessOriginator
    host_profile_id: str
    caused_by: _scope_pb2.Json
    def __init__(self, originator: _Optional[_Union[ProcessOriginator, _Mapping]] = ..., host_profile_id: _Optional[str] = ..., caused_by: _Optional[_Union[_scope_pb2.Json, _Mapping]] = ...) -> None: ...

class ProcessEventSemanticsSpec(_message.Message):
    __slots__ = ("terminal", "wake")
    TERMINAL_FIELD_NUMBER: _ClassVar[int]
    WAKE_FIELD_NUMBER: _ClassVar[int]
    terminal: _scope_pb2.Json
    wake: _scope_pb2.Json
    def __init__(self, terminal: _Optional[_Union[_scope_pb2.Json, _Mapping]] = ..., wake: _Optional[_Union[_scope_pb2.Json, _Mapping]] = ...) -> None: ...

class ProcessEventType(_message.Message):
    __slots__ = ("name", "payload_schema", "semantics")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    SEMANTICS_FIELD_NUMBER: _ClassVar[int]
    name: str
    payload_schema: _scope_pb2.Json
    semantics: ProcessEventSemanticsSpec
    def __init__(self, name: _Optional[str] = ..., payload_schema: _Optional[_Union[_scope_pb2.Json, _Mapping]] = ..., semantics: _Optional[_Union[ProcessEventSemanticsSpec, _Mapping]] = ...) -> None: ...

class ProcessRegistration(_message.Message):
    __slots__ = ("id", "input", "event_types", "provenance", "env_ref", "wake_target")
    ID_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPES_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    ENV_REF_FIELD_NUMBER: _ClassVar[int]
    WAKE_TARGET_FIELD_NUMBER: _ClassVar[int]
    id: str
    input: ProcessInput
    event_types: _containers.RepeatedCompositeFieldContainer[ProcessEventType]
    provenance: ProcessProvenance
    env_ref: str
    wake_target: SessionScope
    def __init__(self, id: _Optional[str] = ..., input: _Optional[_Union[ProcessInput, _Mapping]] = ..., event_types: _Optional[_Iterable[_Union[ProcessEventType, _Mapping]]] = ..., provenance: _Optional[_Union[ProcessProvenance, _Mapping]] = ..., env_ref: _Optional[str] = ..., wake_target: _Optional[_Union[SessionScope, _Mapping]] = ...) -> None: ...

class ProcessHandleDescriptor(_message.Message):
    __slots__ = ("kind", "label")
    KIND_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    kind: str
    label: str
    def __init__(self, kind: _Optional[str] = ..., label: _Optional[str] = ...) -> None: ...

class ProcessStartGrant(_message.Message):
    __slots__ = ("session_scope", "descriptor")
    SESSION_SCOPE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTOR_FIELD_NUMBER: _ClassVar[int]
    session_scope: SessionScope
    descriptor: ProcessHandleDescriptor
    def __init__(self, session_scope: _Optional[_Union[SessionScope, _Mapping]] = ..., descriptor: _Optional[_Union[ProcessHandleDescriptor, _Mapping]] = ...) -> None: ...

class ProcessExecutionContext(_message.Message):
    __slots__ = ("causal_invocation",)
    CAUSAL_INVOCATION_FIELD_NUMBER: _ClassVar[int]
    causal_invocation: _scope_pb2.Json
    def __init__(self, causal_invocation: _Optional[_Union[_scope_pb2.Json, _Mapping]] = ...) -> None: ...

class ProcessHandleGrant(_message.Message):
    __slots__ = ("session_id", "process_id", "descriptor")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PROCESS_ID_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTOR_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    process_id: str
    descriptor: ProcessHandleDescriptor
    def __init__(self, session_id: _Optional[str] = ..., process_id: _Optional[str] = ..., descriptor: _Optional[_Union[ProcessHandleDescriptor, _Mapping]] = ...) -> None: ...

class ProcessAwaitOutput(_message.Message):
    __slots__ = ("success", "failure", "cancelled")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    FAILURE_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_FIELD_NUMBER: _ClassVar[int]
    success: ProcessAwaitSuccess
    failure: ProcessAwaitFailure
    cancelled: ProcessAwaitCancelled
    def __init__(self, success: _Optional[_Union[ProcessAwaitSuccess, _Mapping]] = ..., failure: _Optional[_Union[ProcessAwaitFailure, _Mapping]] = ..., cancelled: _Optional[_Union[ProcessAwaitCancelled, _Mapping]] = ...) -> None: ...

class ProcessAwaitSuccess(_message.Message):
    __slots__ = ("value", "control")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    CONTROL_FIELD_NUMBER: _ClassVar[int]
    value: _scope_pb2.Json
    control: _scope_pb2.Json
    def __init__(self, value: _Optional[_Union[_scope_pb2.Json, _Mapping]] = ..., control: _Optional[_Union[_scope_pb2.Json, _Mapping]] = ...) -> None: ...

class ProcessAwaitFailure(_message.Message):
    __slots__ = ("code", "message", "raw", "control")
    CLASS_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    RAW_FIELD_NUMBER: _ClassVar[int]
    CONTROL_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    raw: _scope_pb2.Json
    control: _scope_pb2.Json
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ..., raw: _Optional[_Union[_scope_pb2.Json, _Mapping]] = ..., control: _Optional[_Union[_scope_pb2.Json, _Mapping]] = ..., **kwargs) -> None: ...

class ProcessAwaitCancelled(_message.Message):
    __slots__ = ("message", "raw", "control")
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    RAW_FIELD_NUMBER: _ClassVar[int]
    CONTROL_FIELD_NUMBER: _ClassVar[int]
    message: str
    raw: _scope_pb2.Json
    control: _scope_pb2.Json
    def __init__(self, message: _Optional[str] = ..., raw: _Optional[_Union[_scope_pb2.Json, _Mapping]] = ..., control: _Optional[_Union[_scope_pb2.Json, _Mapping]] = ...) -> None: ...

class ProcessStatus(_message.Message):
    __slots__ = ("running", "completed", "failed", "cancelled")
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_FIELD_NUMBER: _ClassVar[int]
    running: ProcessRunning
    completed: ProcessAwaitOutput
    failed: ProcessAwaitOutput
    cancelled: ProcessAwaitOutput
    def __init__(self, running: _Optional[_Union[ProcessRunning, _Mapping]] = ..., completed: _Optional[_Union[ProcessAwaitOutput, _Mapping]] = ..., failed: _Optional[_Union[ProcessAwaitOutput, _Mapping]] = ..., cancelled: _Optional[_Union[ProcessAwaitOutput, _Mapping]] = ...) -> None: ...

class ProcessRunning(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SignalWait(_message.Message):
    __slots__ = ("name", "event_type", "key", "ordinal")
    NAME_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    ORDINAL_FIELD_NUMBER: _ClassVar[int]
    name: str
    event_type: str
    key: str
    ordinal: int
    def __init__(self, name: _Optional[str] = ..., event_type: _Optional[str] = ..., key: _Optional[str] = ..., ordinal: _Optional[int] = ...) -> None: ...

class WaitState(_message.Message):
    __slots__ = ("signal", "since_ms")
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    SINCE_MS_FIELD_NUMBER: _ClassVar[int]
    signal: SignalWait
    since_ms: int
    def __init__(self, signal: _Optional[_Union[SignalWait, _Mapping]] = ..., since_ms: _Optional[int] = ...) -> None: ...

class ProcessExternalRef(_message.Message):
    __slots__ = ("backend", "id", "metadata")
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    backend: str
    id: str
    metadata: _scope_pb2.Json
    def __init__(self, backend: _Optional[str] = ..., id: _Optional[str] = ..., metadata: _Optional[_Union[_scope_pb2.Json, _Mapping]] = ...) -> None: ...

class ProcessRecord(_message.Message):
    __slots__ = ("id", "registration_hash", "input", "event_types", "provenance", "env_ref", "wake_target", "created_at_ms", "updated_at_ms", "external_ref", "wait", "status")
    ID_FIELD_NUMBER: _ClassVar[int]
    REGISTRATION_HASH_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPES_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    ENV_REF_FIELD_NUMBER: _ClassVar[int]
    WAKE_TARGET_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_REF_FIELD_NUMBER: _ClassVar[int]
    WAIT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    id: str
    registration_hash: str
    input: ProcessInput
    event_types: _containers.RepeatedCompositeFieldContainer[ProcessEventType]
    provenance: ProcessProvenance
    env_ref: str
    wake_target: SessionScope
    created_at_ms: int
    updated_at_ms: int
    external_ref: ProcessExternalRef
    wait: WaitState
    status: ProcessStatus
    def __init__(self, id: _Optional[str] = ..., registration_hash: _Optional[str] = ..., input: _Optional[_Union[ProcessInput, _Mapping]] = ..., event_types: _Optional[_Iterable[_Union[ProcessEventType, _Mapping]]] = ..., provenance: _Optional[_Union[ProcessProvenance, _Mapping]] = ..., env_ref: _Optional[str] = ..., wake_target: _Optional[_Union[SessionScope, _Mapping]] = ..., created_at_ms: _Optional[int] = ..., updated_at_ms: _Optional[int] = ..., external_ref: _Optional[_Union[ProcessExternalRef, _Mapping]] = ..., wait: _Optional[_Union[WaitState, _Mapping]] = ..., status: _Optional[_Union[ProcessStatus, _Mapping]] = ...) -> None: ...

class ProcessHandleGrantEntry(_message.Message):
    __slots__ = ("grant", "record")
    GRANT_FIELD_NUMBER: _ClassVar[int]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    grant: ProcessHandleGrant
    record: ProcessRecord
    def __init__(self, grant: _Optional[_Union[ProcessHandleGrant, _Mapping]] = ..., record: _Optional[_Union[ProcessRecord, _Mapping]] = ...) -> None: ...

class ProcessEventAppendRequest(_message.Message):
    __slots__ = ("event_type", "payload", "replay_key", "wake_target_scope")
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    REPLAY_KEY_FIELD_NUMBER: _ClassVar[int]
    WAKE_TARGET_SCOPE_FIELD_NUMBER: _ClassVar[int]
    event_type: str
    payload: _scope_pb2.Json
    replay_key: str
    wake_target_scope: SessionScope
    def __init__(self, event_type: _Optional[str] = ..., payload: _Optional[_Union[_scope_pb2.Json, _Mapping]] = ..., replay_key: _Optional[str] = ..., wake_target_scope: _Optional[_Union[SessionScope, _Mapping]] = ...) -> None: ...

class ProcessEvent(_message.Message):
    __slots__ = ("process_id", "sequence", "event_type", "payload", "invocation", "semantics", "occurred_at_ms")
    PROCESS_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    INVOCATION_FIELD_NUMBER: _ClassVar[int]
    SEMANTICS_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    process_id: str
    sequence: int
    event_type: str
    payload: _scope_pb2.Json
    invocation: _scope_pb2.Json
    semantics: _scope_pb2.Json
    occurred_at_ms: int
    def __init__(self, process_id: _Optional[str] = ..., sequence: _Optional[int] = ..., event_type: _Optional[str] = ..., payload: _Optional[_Union[_scope_pb2.Json, _Mapping]] = ..., invocation: _Optional[_Union[_scope_pb2.Json, _Mapping]] = ..., semantics: _Optional[_Union[_scope_pb2.Json, _Mapping]] = ..., occurred_at_ms: _Optional[int] = ...) -> None: ...

class ProcessSessionDeleteReport(_message.Message):
    __slots__ = ("session_id", "revoked_handle_count", "deleted_wake_count", "orphaned_process_ids", "preserved_process_ids")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    REVOKED_HANDLE_COUNT_FIELD_NUMBER: _ClassVar[int]
    DELETED_WAKE_COUNT_FIELD_NUMBER: _ClassVar[int]
    ORPHANED_PROCESS_IDS_FIELD_NUMBER: _ClassVar[int]
    PRESERVED_PROCESS_IDS_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    revoked_handle_count: int
    deleted_wake_count: int
    orphaned_process_ids: _containers.RepeatedScalarFieldContainer[str]
    preserved_process_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, session_id: _Optional[str] = ..., revoked_handle_count: _Optional[int] = ..., deleted_wake_count: _Optional[int] = ..., orphaned_process_ids: _Optional[_Iterable[str]] = ..., preserved_process_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ProcessCommand(_message.Message):
    __slots__ = ("start", "list", "transfer", "delete_session", "cancel", "signal")
    START_FIELD_NUMBER: _ClassVar[int]
    LIST_FIELD_NUMBER: _ClassVar[int]
    TRANSFER_FIELD_NUMBER: _ClassVar[int]
    DELETE_SESSION_FIELD_NUMBER: _ClassVar[int]
    AWAIT_FIELD_NUMBER: _ClassVar[int]
    CANCEL_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    start: ProcessStartOp
    list: ProcessListOp
    transfer: ProcessTransferOp
    delete_session: ProcessDeleteSessionOp
    cancel: ProcessCancelOp
    signal: ProcessSignalOp
    def __init__(self, start: _Optional[_Union[ProcessStartOp, _Mapping]] = ..., list: _Optional[_Union[ProcessListOp, _Mapping]] = ..., transfer: _Optional[_Union[ProcessTransferOp, _Mapping]] = ..., delete_session: _Optional[_Union[ProcessDeleteSessionOp, _Mapping]] = ..., cancel: _Optional[_Union[ProcessCancelOp, _Mapping]] = ..., signal: _Optional[_Union[ProcessSignalOp, _Mapping]] = ..., **kwargs) -> None: ...

class ProcessStartOp(_message.Message):
    __slots__ = ("registration", "grant", "execution_context")
    REGISTRATION_FIELD_NUMBER: _ClassVar[int]
    GRANT_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_CONTEXT_FIELD_NUMBER: _ClassVar[int]
    registration: ProcessRegistration
    grant: ProcessStartGrant
    execution_context: ProcessExecutionContext
    def __init__(self, registration: _Optional[_Union[ProcessRegistration, _Mapping]] = ..., grant: _Optional[_Union[ProcessStartGrant, _Mapping]] = ..., execution_context: _Optional[_Union[ProcessExecutionContext, _Mapping]] = ...) -> None: ...

class ProcessListOp(_message.Message):
    __slots__ = ("session_scope", "mode")
    SESSION_SCOPE_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    session_scope: SessionScope
    mode: ProcessListMode
    def __init__(self, session_scope: _Optional[_Union[SessionScope, _Mapping]] = ..., mode: _Optional[_Union[ProcessListMode, str]] = ...) -> None: ...

class ProcessTransferOp(_message.Message):
    __slots__ = ("from_scope", "to_scope", "process_ids")
    FROM_SCOPE_FIELD_NUMBER: _ClassVar[int]
    TO_SCOPE_FIELD_NUMBER: _ClassVar[int]
    PROCESS_IDS_FIELD_NUMBER: _ClassVar[int]
    from_scope: SessionScope
    to_scope: SessionScope
    process_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, from_scope: _Optional[_Union[SessionScope, _Mapping]] = ..., to_scope: _Optional[_Union[SessionScope, _Mapping]] = ..., process_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ProcessDeleteSessionOp(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class ProcessAwaitOp(_message.Message):
    __slots__ = ("process_id",)
    PROCESS_ID_FIELD_NUMBER: _ClassVar[int]
    process_id: str
    def __init__(self, process_id: _Optional[str] = ...) -> None: ...

class ProcessCancelOp(_message.Message):
    __slots__ = ("process_id", "reason")
    PROCESS_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    process_id: str
    reason: str
    def __init__(self, process_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ProcessSignalOp(_message.Message):
    __slots__ = ("process_id", "signal_name", "signal_id", "request")
    PROCESS_ID_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_NAME_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    process_id: str
    signal_name: str
    signal_id: str
    request: ProcessEventAppendRequest
    def __init__(self, process_id: _Optional[str] = ..., signal_name: _Optional[str] = ..., signal_id: _Optional[str] = ..., request: _Optional[_Union[ProcessEventAppendRequest, _Mapping]] = ...) -> None: ...

class ProcessEffectOutcome(_message.Message):
    __slots__ = ("start", "list", "transfer", "delete_session", "cancel", "signal")
    START_FIELD_NUMBER: _ClassVar[int]
    LIST_FIELD_NUMBER: _ClassVar[int]
    TRANSFER_FIELD_NUMBER: _ClassVar[int]
    DELETE_SESSION_FIELD_NUMBER: _ClassVar[int]
    AWAIT_FIELD_NUMBER: _ClassVar[int]
    CANCEL_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    start: ProcessStartResult
    list: ProcessListResult
    transfer: ProcessTransferResult
    delete_session: ProcessDeleteSessionResult
    cancel: ProcessCancelResult
    signal: ProcessSignalResult
    def __init__(self, start: _Optional[_Union[ProcessStartResult, _Mapping]] = ..., list: _Optional[_Union[ProcessListResult, _Mapping]] = ..., transfer: _Optional[_Union[ProcessTransferResult, _Mapping]] = ..., delete_session: _Optional[_Union[ProcessDeleteSessionResult, _Mapping]] = ..., cancel: _Optional[_Union[ProcessCancelResult, _Mapping]] = ..., signal: _Optional[_Union[ProcessSignalResult, _Mapping]] = ..., **kwargs) -> None: ...

class ProcessStartResult(_message.Message):
    __slots__ = ("record",)
    RECORD_FIELD_NUMBER: _ClassVar[int]
    record: ProcessRecord
    def __init__(self, record: _Optional[_Union[ProcessRecord, _Mapping]] = ...) -> None: ...

class ProcessListResult(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[ProcessHandleGrantEntry]
    def __init__(self, entries: _Optional[_Iterable[_Union[ProcessHandleGrantEntry, _Mapping]]] = ...) -> None: ...

class ProcessTransferResult(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ProcessDeleteSessionResult(_message.Message):
    __slots__ = ("report",)
    REPORT_FIELD_NUMBER: _ClassVar[int]
    report: ProcessSessionDeleteReport
    def __init__(self, report: _Optional[_Union[ProcessSessionDeleteReport, _Mapping]] = ...) -> None: ...

class ProcessAwaitResult(_message.Message):
    __slots__ = ("output",)
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    output: ProcessAwaitOutput
    def __init__(self, output: _Optional[_Union[ProcessAwaitOutput, _Mapping]] = ...) -> None: ...

class ProcessCancelResult(_message.Message):
    __slots__ = ("record",)
    RECORD_FIELD_NUMBER: _ClassVar[int]
    record: ProcessRecord
    def __init__(self, record: _Optional[_Union[ProcessRecord, _Mapping]] = ...) -> None: ...

class ProcessSignalResult(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: ProcessEvent
    def __init__(self, event: _Optional[_Union[ProcessEvent, _Mapping]] = ...) -> None: ...

class ProcessEventAppendResult(_message.Message):
    __slots__ = ("event", "wake_delivery")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    WAKE_DELIVERY_FIELD_NUMBER: _ClassVar[int]
    event: ProcessEvent
    wake_delivery: ProcessWakeDelivery
    def __init__(self, event: _Optional[_Union[ProcessEvent, _Mapping]] = ..., wake_delivery: _Optional[_Union[ProcessWakeDelivery, _Mapping]] = ...) -> None: ...

class ProcessWakeDelivery(_message.Message):
    __slots__ = ("wake_id", "target_session_id", "target_scope_id", "process_id", "sequence", "event_type", "event_invocation", "process_caused_by", "dedupe_key", "input", "created_at_ms")
    WAKE_ID_FIELD_NUMBER: _ClassVar[int]
    TARGET_SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    TARGET_SCOPE_ID_FIELD_NUMBER: _ClassVar[int]
    PROCESS_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    EVENT_INVOCATION_FIELD_NUMBER: _ClassVar[int]
    PROCESS_CAUSED_BY_FIELD_NUMBER: _ClassVar[int]
    DEDUPE_KEY_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    wake_id: str
    target_session_id: str
    target_scope_id: str
    process_id: str
    sequence: int
    event_type: str
    event_invocation: _scope_pb2.Json
    process_caused_by: _scope_pb2.Json
    dedupe_key: str
    input: str
    created_at_ms: int
    def __init__(self, wake_id: _Optional[str] = ..., target_session_id: _Optional[str] = ..., target_scope_id: _Optional[str] = ..., process_id: _Optional[str] = ..., sequence: _Optional[int] = ..., event_type: _Optional[str] = ..., event_invocation: _Optional[_Union[_scope_pb2.Json, _Mapping]] = ..., process_caused_by: _Optional[_Union[_scope_pb2.Json, _Mapping]] = ..., dedupe_key: _Optional[str] = ..., input: _Optional[str] = ..., created_at_ms: _Optional[int] = ...) -> None: ...

class ProcessLease(_message.Message):
    __slots__ = ("schema_version", "process_id", "owner_id", "lease_token", "fencing_token", "claimed_at_epoch_ms", "expires_at_epoch_ms")
    SCHEMA_VERSION_FIELD_NUMBER: _ClassVar[int]
    PROCESS_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    LEASE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    FENCING_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CLAIMED_AT_EPOCH_MS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_EPOCH_MS_FIELD_NUMBER: _ClassVar[int]
    schema_version: int
    process_id: str
    owner_id: str
    lease_token: str
    fencing_token: int
    claimed_at_epoch_ms: int
    expires_at_epoch_ms: int
    def __init__(self, schema_version: _Optional[int] = ..., process_id: _Optional[str] = ..., owner_id: _Optional[str] = ..., lease_token: _Optional[str] = ..., fencing_token: _Optional[int] = ..., claimed_at_epoch_ms: _Optional[int] = ..., expires_at_epoch_ms: _Optional[int] = ...) -> None: ...

class ProcessDefinitionSelector(_message.Message):
    __slots__ = ("module_ref", "host_requirements_ref", "process_ref", "process_name")
    MODULE_REF_FIELD_NUMBER: _ClassVar[int]
    HOST_REQUIREMENTS_REF_FIELD_NUMBER: _ClassVar[int]
    PROCESS_REF_FIELD_NUMBER: _ClassVar[int]
    PROCESS_NAME_FIELD_NUMBER: _ClassVar[int]
    module_ref: str
    host_requirements_ref: str
    process_ref: LashlangProcessRef
    process_name: str
    def __init__(self, module_ref: _Optional[str] = ..., host_requirements_ref: _Optional[str] = ..., process_ref: _Optional[_Union[LashlangProcessRef, _Mapping]] = ..., process_name: _Optional[str] = ...) -> None: ...

class RegisterProcessRequest(_message.Message):
    __slots__ = ("registration",)
    REGISTRATION_FIELD_NUMBER: _ClassVar[int]
    registration: ProcessRegistration
    def __init__(self, registration: _Optional[_Union[ProcessRegistration, _Mapping]] = ...) -> None: ...

class RegisterProcessResponse(_message.Message):
    __slots__ = ("record",)
    RECORD_FIELD_NUMBER: _ClassVar[int]
    record: ProcessRecord
    def __init__(self, record: _Optional[_Union[ProcessRecord, _Mapping]] = ...) -> None: ...

class GetProcessRequest(_message.Message):
    __slots__ = ("process_id",)
    PROCESS_ID_FIELD_NUMBER: _ClassVar[int]
    process_id: str
    def __init__(self, process_id: _Optional[str] = ...) -> None: ...

class GetProcessResponse(_message.Message):
    __slots__ = ("record",)
    RECORD_FIELD_NUMBER: _ClassVar[int]
    record: ProcessRecord
    def __init__(self, record: _Optional[_Union[ProcessRecord, _Mapping]] = ...) -> None: ...

class ListProcessesRequest(_message.Message):
    __slots__ = ("status", "definition", "waiting")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DEFINITION_FIELD_NUMBER: _ClassVar[int]
    WAITING_FIELD_NUMBER: _ClassVar[int]
    status: ProcessStatusFilter
    definition: ProcessDefinitionSelector
    waiting: bool
    def __init__(self, status: _Optional[_Union[ProcessStatusFilter, str]] = ..., definition: _Optional[_Union[ProcessDefinitionSelector, _Mapping]] = ..., waiting: _Optional[bool] = ...) -> None: ...

class ListProcessesResponse(_message.Message):
    __slots__ = ("records",)
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[ProcessRecord]
    def __init__(self, records: _Optional[_Iterable[_Union[ProcessRecord, _Mapping]]] = ...) -> None: ...

class ListNonTerminalRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListNonTerminalResponse(_message.Message):
    __slots__ = ("records",)
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[ProcessRecord]
    def __init__(self, records: _Optional[_Iterable[_Union[ProcessRecord, _Mapping]]] = ...) -> None: ...

class SetExternalRefRequest(_message.Message):
    __slots__ = ("process_id", "external_ref")
    PROCESS_ID_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_REF_FIELD_NUMBER: _ClassVar[int]
    process_id: str
    external_ref: ProcessExternalRef
    def __init__(self, process_id: _Optional[str] = ..., external_ref: _Optional[_Union[ProcessExternalRef, _Mapping]] = ...) -> None: ...

class SetExternalRefResponse(_message.Message):
    __slots__ = ("record",)
    RECORD_FIELD_NUMBER: _ClassVar[int]
    record: ProcessRecord
    def __init__(self, record: _Optional[_Union[ProcessRecord, _Mapping]] = ...) -> None: ...

class GrantHandleRequest(_message.Message):
    __slots__ = ("session_scope", "process_id", "descriptor")
    SESSION_SCOPE_FIELD_NUMBER: _ClassVar[int]
    PROCESS_ID_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTOR_FIELD_NUMBER: _ClassVar[int]
    session_scope: SessionScope
    process_id: str
    descriptor: ProcessHandleDescriptor
    def __init__(self, session_scope: _Optional[_Union[SessionScope, _Mapping]] = ..., process_id: _Optional[str] = ..., descriptor: _Optional[_Union[ProcessHandleDescriptor, _Mapping]] = ...) -> None: ...

class GrantHandleResponse(_message.Message):
    __slots__ = ("grant",)
    GRANT_FIELD_NUMBER: _ClassVar[int]
    grant: ProcessHandleGrant
    def __init__(self, grant: _Optional[_Union[ProcessHandleGrant, _Mapping]] = ...) -> None: ...

class RevokeHandleRequest(_message.Message):
    __slots__ = ("session_scope", "process_id")
    SESSION_SCOPE_FIELD_NUMBER: _ClassVar[int]
    PROCESS_ID_FIELD_NUMBER: _ClassVar[int]
    session_scope: SessionScope
    process_id: str
    def __init__(self, session_scope: _Optional[_Union[SessionScope, _Mapping]] = ..., process_id: _Optional[str] = ...) -> None: ...

class RevokeHandleResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class HasHandleGrantRequest(_message.Message):
    __slots__ = ("session_scope", "process_id")
    SESSION_SCOPE_FIELD_NUMBER: _ClassVar[int]
    PROCESS_ID_FIELD_NUMBER: _ClassVar[int]
    session_scope: SessionScope
    process_id: str
    def __init__(self, session_scope: _Optional[_Union[SessionScope, _Mapping]] = ..., process_id: _Optional[str] = ...) -> None: ...

class HasHandleGrantResponse(_message.Message):
    __slots__ = ("granted",)
    GRANTED_FIELD_NUMBER: _ClassVar[int]
    granted: bool
    def __init__(self, granted: _Optional[bool] = ...) -> None: ...

class ListHandleGrantsRequest(_message.Message):
    __slots__ = ("session_scope",)
    SESSION_SCOPE_FIELD_NUMBER: _ClassVar[int]
    session_scope: SessionScope
    def __init__(self, session_scope: _Optional[_Union[SessionScope, _Mapping]] = ...) -> None: ...

class ListHandleGrantsResponse(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[ProcessHandleGrantEntry]
    def __init__(self, entries: _Optional[_Iterable[_Union[ProcessHandleGrantEntry, _Mapping]]] = ...) -> None: ...

class HandleGrantsForProcessRequest(_message.Message):
    __slots__ = ("process_id",)
    PROCESS_ID_FIELD_NUMBER: _ClassVar[int]
    process_id: str
    def __init__(self, process_id: _Optional[str] = ...) -> None: ...

class HandleGrantsForProcessResponse(_message.Message):
    __slots__ = ("grants",)
    GRANTS_FIELD_NUMBER: _ClassVar[int]
    grants: _containers.RepeatedCompositeFieldContainer[ProcessHandleGrant]
    def __init__(self, grants: _Optional[_Iterable[_Union[ProcessHandleGrant, _Mapping]]] = ...) -> None: ...

class TransferHandleGrantsRequest(_message.Message):
    __slots__ = ("from_scope", "to_scope", "process_ids")
    FROM_SCOPE_FIELD_NUMBER: _ClassVar[int]
    TO_SCOPE_FIELD_NUMBER: _ClassVar[int]
    PROCESS_IDS_FIELD_NUMBER: _ClassVar[int]
    from_scope: SessionScope
    to_scope: SessionScope
    process_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, from_scope: _Optional[_Union[SessionScope, _Mapping]] = ..., to_scope: _Optional[_Union[SessionScope, _Mapping]] = ..., process_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class TransferHandleGrantsResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DeleteSessionProcessStateRequest(_message.Message):
    __slots__ = ("session_id", "orphans")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    ORPHANS_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    orphans: OrphanPolicy
    def __init__(self, session_id: _Optional[str] = ..., orphans: _Optional[_Union[OrphanPolicy, str]] = ...) -> None: ...

class DeleteSessionProcessStateResponse(_message.Message):
    __slots__ = ("report",)
    REPORT_FIELD_NUMBER: _ClassVar[int]
    report: ProcessSessionDeleteReport
    def __init__(self, report: _Optional[_Union[ProcessSessionDeleteReport, _Mapping]] = ...) -> None: ...

class AppendEventRequest(_message.Message):
    __slots__ = ("process_id", "request")
    PROCESS_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    process_id: str
    request: ProcessEventAppendRequest
    def __init__(self, process_id: _Optional[str] = ..., request: _Optional[_Union[ProcessEventAppendRequest, _Mapping]] = ...) -> None: ...

class AppendEventResponse(_message.Message):
    __slots__ = ("result", "replayed")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    result: ProcessEventAppendResult
    replayed: bool
    def __init__(self, result: _Optional[_Union[ProcessEventAppendResult, _Mapping]] = ..., replayed: _Optional[bool] = ...) -> None: ...

class EventsAfterRequest(_message.Message):
    __slots__ = ("process_id", "after_sequence")
    PROCESS_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    process_id: str
    after_sequence: int
    def __init__(self, process_id: _Optional[str] = ..., after_sequence: _Optional[int] = ...) -> None: ...

class EventsResponse(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[ProcessEvent]
    def __init__(self, events: _Optional[_Iterable[_Union[ProcessEvent, _Mapping]]] = ...) -> None: ...

class AckWakeRequest(_message.Message):
    __slots__ = ("process_id", "sequence")
    PROCESS_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    process_id: str
    sequence: int
    def __init__(self, process_id: _Optional[str] = ..., sequence: _Optional[int] = ...) -> None: ...

class AckWakeResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CountEventsThroughRequest(_message.Message):
    __slots__ = ("process_id", "event_type", "through_sequence")
    PROCESS_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    THROUGH_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    process_id: str
    event_type: str
    through_sequence: int
    def __init__(self, process_id: _Optional[str] = ..., event_type: _Optional[str] = ..., through_sequence: _Optional[int] = ...) -> None: ...

class CountEventsThroughResponse(_message.Message):
    __slots__ = ("count",)
    COUNT_FIELD_NUMBER: _ClassVar[int]
    count: int
    def __init__(self, count: _Optional[int] = ...) -> None: ...

class RecentEventsRequest(_message.Message):
    __slots__ = ("process_id", "limit")
    PROCESS_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    process_id: str
    limit: int
    def __init__(self, process_id: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class WaitEventAfterRequest(_message.Message):
    __slots__ = ("process_id", "event_type", "after_sequence", "heartbeat_interval_ms")
    PROCESS_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    process_id: str
    event_type: str
    after_sequence: int
    heartbeat_interval_ms: int
    def __init__(self, process_id: _Optional[str] = ..., event_type: _Optional[str] = ..., after_sequence: _Optional[int] = ..., heartbeat_interval_ms: _Optional[int] = ...) -> None: ...

class WaitEventAfterResponse(_message.Message):
    __slots__ = ("heartbeat", "found")
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    heartbeat: _await_events_pb2.Heartbeat
    found: ProcessEvent
    def __init__(self, heartbeat: _Optional[_Union[_await_events_pb2.Heartbeat, _Mapping]] = ..., found: _Optional[_Union[ProcessEvent, _Mapping]] = ...) -> None: ...

class SetProcessWaitRequest(_message.Message):
    __slots__ = ("process_id", "wait")
    PROCESS_ID_FIELD_NUMBER: _ClassVar[int]
    WAIT_FIELD_NUMBER: _ClassVar[int]
    process_id: str
    wait: WaitState
    def __init__(self, process_id: _Optional[str] = ..., wait: _Optional[_Union[WaitState, _Mapping]] = ...) -> None: ...

class SetProcessWaitResponse(_message.Message):
    __slots__ = ("record",)
    RECORD_FIELD_NUMBER: _ClassVar[int]
    record: ProcessRecord
    def __init__(self, record: _Optional[_Union[ProcessRecord, _Mapping]] = ...) -> None: ...

class ClearProcessWaitRequest(_message.Message):
    __slots__ = ("process_id",)
    PROCESS_ID_FIELD_NUMBER: _ClassVar[int]
    process_id: str
    def __init__(self, process_id: _Optional[str] = ...) -> None: ...

class ClearProcessWaitResponse(_message.Message):
    __slots__ = ("record",)
    RECORD_FIELD_NUMBER: _ClassVar[int]
    record: ProcessRecord
    def __init__(self, record: _Optional[_Union[ProcessRecord, _Mapping]] = ...) -> None: ...

class CompleteProcessRequest(_message.Message):
    __slots__ = ("process_id", "output")
    PROCESS_ID_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    process_id: str
    output: ProcessAwaitOutput
    def __init__(self, process_id: _Optional[str] = ..., output: _Optional[_Union[ProcessAwaitOutput, _Mapping]] = ...) -> None: ...

class CompleteProcessResponse(_message.Message):
    __slots__ = ("record",)
    RECORD_FIELD_NUMBER: _ClassVar[int]
    record: ProcessRecord
    def __init__(self, record: _Optional[_Union[ProcessRecord, _Mapping]] = ...) -> None: ...

class AwaitProcessRequest(_message.Message):
    __slots__ = ("process_id", "heartbeat_interval_ms")
    PROCESS_ID_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    process_id: str
    heartbeat_interval_ms: int
    def __init__(self, process_id: _Optional[str] = ..., heartbeat_interval_ms: _Optional[int] = ...) -> None: ...

class AwaitProcessResponse(_message.Message):
    __slots__ = ("heartbeat", "output")
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    heartbeat: _await_events_pb2.Heartbeat
    output: ProcessAwaitOutput
    def __init__(self, heartbeat: _Optional[_Union[_await_events_pb2.Heartbeat, _Mapping]] = ..., output: _Optional[_Union[ProcessAwaitOutput, _Mapping]] = ...) -> None: ...

class ClaimProcessLeaseRequest(_message.Message):
    __slots__ = ("process_id", "owner_id", "lease_ttl_ms")
    PROCESS_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    LEASE_TTL_MS_FIELD_NUMBER: _ClassVar[int]
    process_id: str
    owner_id: str
    lease_ttl_ms: int
    def __init__(self, process_id: _Optional[str] = ..., owner_id: _Optional[str] = ..., lease_ttl_ms: _Optional[int] = ...) -> None: ...

class ClaimProcessLeaseResponse(_message.Message):
    __slots__ = ("lease",)
    LEASE_FIELD_NUMBER: _ClassVar[int]
    lease: ProcessLease
    def __init__(self, lease: _Optional[_Union[ProcessLease, _Mapping]] = ...) -> None: ...

class RenewProcessLeaseRequest(_message.Message):
    __slots__ = ("lease", "lease_ttl_ms")
    LEASE_FIELD_NUMBER: _ClassVar[int]
    LEASE_TTL_MS_FIELD_NUMBER: _ClassVar[int]
    lease: ProcessLease
    lease_ttl_ms: int
    def __init__(self, lease: _Optional[_Union[ProcessLease, _Mapping]] = ..., lease_ttl_ms: _Optional[int] = ...) -> None: ...

class RenewProcessLeaseResponse(_message.Message):
    __slots__ = ("lease",)
    LEASE_FIELD_NUMBER: _ClassVar[int]
    lease: ProcessLease
    def __init__(self, lease: _Optional[_Union[ProcessLease, _Mapping]] = ...) -> None: ...

class CompleteProcessLeaseRequest(_message.Message):
    __slots__ = ("process_id", "lease_token")
    PROCESS_ID_FIELD_NUMBER: _ClassVar[int]
    LEASE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    process_id: str
    lease_token: str
    def __init__(self, process_id: _Optional[str] = ..., lease_token: _Optional[str] = ...) -> None: ...

class CompleteProcessLeaseResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SignalRequest(_message.Message):
    __slots__ = ("process_id", "signal_name", "signal_id", "payload", "wake_target_scope")
    PROCESS_ID_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_NAME_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_ID_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    WAKE_TARGET_SCOPE_FIELD_NUMBER: _ClassVar[int]
    process_id: str
    signal_name: str
    signal_id: str
    payload: _scope_pb2.Json
    wake_target_scope: SessionScope
    def __init__(self, process_id: _Optional[str] = ..., signal_name: _Optional[str] = ..., signal_id: _Optional[str] = ..., payload: _Optional[_Union[_scope_pb2.Json, _Mapping]] = ..., wake_target_scope: _Optional[_Union[SessionScope, _Mapping]] = ...) -> None: ...

class SignalResponse(_message.Message):
    __slots__ = ("event", "replayed", "resolved_key_id")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    event: ProcessEvent
    replayed: bool
    resolved_key_id: str
    def __init__(self, event: _Optional[_Union[ProcessEvent, _Mapping]] = ..., replayed: _Optional[bool] = ..., resolved_key_id: _Optional[str] = ...) -> None: ...

class StreamEventsRequest(_message.Message):
    __slots__ = ("process_id", "after_sequence", "until_terminal", "heartbeat_interval_ms")
    PROCESS_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_TERMINAL_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    process_id: str
    after_sequence: int
    until_terminal: bool
    heartbeat_interval_ms: int
    def __init__(self, process_id: _Optional[str] = ..., after_sequence: _Optional[int] = ..., until_terminal: _Optional[bool] = ..., heartbeat_interval_ms: _Optional[int] = ...) -> None: ...

class StreamEventsResponse(_message.Message):
    __slots__ = ("heartbeat", "appended")
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    APPENDED_FIELD_NUMBER: _ClassVar[int]
    heartbeat: _await_events_pb2.Heartbeat
    appended: ProcessEvent
    def __init__(self, heartbeat: _Optional[_Union[_await_events_pb2.Heartbeat, _Mapping]] = ..., appended: _Optional[_Union[ProcessEvent, _Mapping]] = ...) -> None: ...
