from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Json(_message.Message):
    __slots__ = ("text",)
    TEXT_FIELD_NUMBER: _ClassVar[int]
    text: str
    def __init__(self, text: _Optional[str] = ...) -> None: ...

class ExecutionScope(_message.Message):
    __slots__ = ("turn", "process", "queue_drain", "session_delete", "runtime_operation")
    TURN_FIELD_NUMBER: _ClassVar[int]
    PROCESS_FIELD_NUMBER: _ClassVar[int]
    QUEUE_DRAIN_FIELD_NUMBER: _ClassVar[int]
    SESSION_DELETE_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_OPERATION_FIELD_NUMBER: _ClassVar[int]
    turn: TurnScope
    process: ProcessScope
    queue_drain: QueueDrainScope
    session_delete: SessionDeleteScope
    runtime_operation: RuntimeOperationScope
    def __init__(self, turn: _Optional[_Union[TurnScope, _Mapping]] = ..., process: _Optional[_Union[ProcessScope, _Mapping]] = ..., queue_drain: _Optional[_Union[QueueDrainScope, _Mapping]] = ..., session_delete: _Optional[_Union[SessionDeleteScope, _Mapping]] = ..., runtime_operation: _Optional[_Union[RuntimeOperationScope, _Mapping]] = ...) -> None: ...

class TurnScope(_message.Message):
    __slots__ = ("session_id", "turn_id")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    TURN_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    turn_id: str
    def __init__(self, session_id: _Optional[str] = ..., turn_id: _Optional[str] = ...) -> None: ...

class ProcessScope(_message.Message):
    __slots__ = ("process_id",)
    PROCESS_ID_FIELD_NUMBER: _ClassVar[int]
    process_id: str
    def __init__(self, process_id: _Optional[str] = ...) -> None: ...

class QueueDrainScope(_message.Message):
    __slots__ = ("session_id", "drain_id")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    DRAIN_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    drain_id: str
    def __init__(self, session_id: _Optional[str] = ..., drain_id: _Optional[str] = ...) -> None: ...

class SessionDeleteScope(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class RuntimeOperationScope(_message.Message):
    __slots__ = ("operation_id",)
    OPERATION_ID_FIELD_NUMBER: _ClassVar[int]
    operation_id: str
    def __init__(self, operation_id: _Optional[str] = ...) -> None: ...

class AwaitEventWaitIdentity(_message.Message):
    __slots__ = ("tool_completion", "process_signal", "custom")
    TOOL_COMPLETION_FIELD_NUMBER: _ClassVar[int]
    PROCESS_SIGNAL_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_FIELD_NUMBER: _ClassVar[int]
    tool_completion: ToolCompletionWait
    process_signal: ProcessSignalWait
    custom: CustomWait
    def __init__(self, tool_completion: _Optional[_Union[ToolCompletionWait, _Mapping]] = ..., process_signal: _Optional[_Union[ProcessSignalWait, _Mapping]] = ..., custom: _Optional[_Union[CustomWait, _Mapping]] = ...) -> None: ...

class ToolCompletionWait(_message.Message):
    __slots__ = ("tool_call_id",)
    TOOL_CALL_ID_FIELD_NUMBER: _ClassVar[int]
    tool_call_id: str
    def __init__(self, tool_call_id: _Optional[str] = ...) -> None: ...

class ProcessSignalWait(_message.Message):
    __slots__ = ("process_id", "signal_name", "ordinal")
    PROCESS_ID_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_NAME_FIELD_NUMBER: _ClassVar[int]
    ORDINAL_FIELD_NUMBER: _ClassVar[int]
    process_id: str
    signal_name: str
    ordinal: int
    def __init__(self, process_id: _Optional[str] = ..., signal_name: _Optional[str] = ..., ordinal: _Optional[int] = ...) -> None: ...

class CustomWait(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: str
    def __init__(self, key: _Optional[str] = ...) -> None: ...

class AwaitEventKey(_message.Message):
    __slots__ = ("scope", "wait", "key_id", "signature")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    WAIT_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    scope: ExecutionScope
    wait: AwaitEventWaitIdentity
    key_id: str
    signature: str
    def __init__(self, scope: _Optional[_Union[ExecutionScope, _Mapping]] = ..., wait: _Optional[_Union[AwaitEventWaitIdentity, _Mapping]] = ..., key_id: _Optional[str] = ..., signature: _Optional[str] = ...) -> None: ...

class ExternalCompletionError(_message.Message):
    __slots__ = ("code", "message", "raw")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    RAW_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    raw: Json
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ..., raw: _Optional[_Union[Json, _Mapping]] = ...) -> None: ...

class Resolution(_message.Message):
    __slots__ = ("ok", "err", "timeout", "cancelled")
    OK_FIELD_NUMBER: _ClassVar[int]
    ERR_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_FIELD_NUMBER: _ClassVar[int]
    ok: Json
    err: ExternalCompletionError
    timeout: ResolutionTimeout
    cancelled: ResolutionCancelled
    def __init__(self, ok: _Optional[_Union[Json, _Mapping]] = ..., err: _Optional[_Union[ExternalCompletionError, _Mapping]] = ..., timeout: _Optional[_Union[ResolutionTimeout, _Mapping]] = ..., cancelled: _Optional[_Union[ResolutionCancelled, _Mapping]] = ...) -> None: ...

class ResolutionTimeout(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ResolutionCancelled(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ResolveOutcome(_message.Message):
    __slots__ = ("accepted", "already_resolved", "unknown_or_revoked")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    ALREADY_RESOLVED_FIELD_NUMBER: _ClassVar[int]
    UNKNOWN_OR_REVOKED_FIELD_NUMBER: _ClassVar[int]
    accepted: ResolveAccepted
    already_resolved: ResolveAlreadyResolved
    unknown_or_revoked: ResolveUnknownOrRevoked
    def __init__(self, accepted: _Optional[_Union[ResolveAccepted, _Mapping]] = ..., already_resolved: _Optional[_Union[ResolveAlreadyResolved, _Mapping]] = ..., unknown_or_revoked: _Optional[_Union[ResolveUnknownOrRevoked, _Mapping]] = ...) -> None: ...

class ResolveAccepted(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ResolveAlreadyResolved(_message.Message):
    __slots__ = ("terminal",)
    TERMINAL_FIELD_NUMBER: _ClassVar[int]
    terminal: Resolution
    def __init__(self, terminal: _Optional[_Union[Resolution, _Mapping]] = ...) -> None: ...

class ResolveUnknownOrRevoked(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ControllerError(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...
