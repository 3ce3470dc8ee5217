from effectd.v1 import process_pb2 as _process_pb2
from effectd.v1 import scope_pb2 as _scope_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RuntimeEffectKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RUNTIME_EFFECT_KIND_UNSPECIFIED: _ClassVar[RuntimeEffectKind]
    RUNTIME_EFFECT_KIND_LLM_CALL: _ClassVar[RuntimeEffectKind]
    RUNTIME_EFFECT_KIND_DIRECT: _ClassVar[RuntimeEffectKind]
    RUNTIME_EFFECT_KIND_TOOL_CALL: _ClassVar[RuntimeEffectKind]
    RUNTIME_EFFECT_KIND_PROCESS: _ClassVar[RuntimeEffectKind]
    RUNTIME_EFFECT_KIND_EXEC_CODE: _ClassVar[RuntimeEffectKind]
    RUNTIME_EFFECT_KIND_CHECKPOINT: _ClassVar[RuntimeEffectKind]
    RUNTIME_EFFECT_KIND_SYNC_EXECUTION_ENVIRONMENT: _ClassVar[RuntimeEffectKind]
    RUNTIME_EFFECT_KIND_SLEEP: _ClassVar[RuntimeEffectKind]
    RUNTIME_EFFECT_KIND_AWAIT_EVENT: _ClassVar[RuntimeEffectKind]
    RUNTIME_EFFECT_KIND_DURABLE_STEP: _ClassVar[RuntimeEffectKind]

class CheckpointKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHECKPOINT_KIND_UNSPECIFIED: _ClassVar[CheckpointKind]
    CHECKPOINT_KIND_AFTER_WORK: _ClassVar[CheckpointKind]
    CHECKPOINT_KIND_BEFORE_COMPLETION: _ClassVar[CheckpointKind]
RUNTIME_EFFECT_KIND_UNSPECIFIED: RuntimeEffectKind
RUNTIME_EFFECT_KIND_LLM_CALL: RuntimeEffectKind
RUNTIME_EFFECT_KIND_DIRECT: RuntimeEffectKind
RUNTIME_EFFECT_KIND_TOOL_CALL: RuntimeEffectKind
RUNTIME_EFFECT_KIND_PROCESS: RuntimeEffectKind
RUNTIME_EFFECT_KIND_EXEC_CODE: RuntimeEffectKind
RUNTIME_EFFECT_KIND_CHECKPOINT: RuntimeEffectKind
RUNTIME_EFFECT_KIND_SYNC_EXECUTION_ENVIRONMENT: RuntimeEffectKind
RUNTIME_EFFECT_KIND_SLEEP: RuntimeEffectKind
RUNTIME_EFFECT_KIND_AWAIT_EVENT: RuntimeEffectKind
RUNTIME_EFFECT_KIND_DURABLE_STEP: RuntimeEffectKind
CHECKPOINT_KIND_UNSPECIFIED: CheckpointKind
CHECKPOINT_KIND_AFTER_WORK: CheckpointKind
CHECKPOINT_KIND_BEFORE_COMPLETION: CheckpointKind

class RuntimeScope(_message.Message):
    __slots__ = ("session_id", "turn_id", "turn_index", "protocol_iteration")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    TURN_ID_FIELD_NUMBER: _ClassVar[int]
    TURN_INDEX_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_ITERATION_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    turn_id: str
    turn_index: int
    protocol_iteration: int
    def __init__(self, session_id: _Optional[str] = ..., turn_id: _Optional[str] = ..., turn_index: _Optional[int] = ..., protocol_iteration: _Optional[int] = ...) -> None: ...

class RuntimeReplay(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: str
    def __init__(self, key: _Optional[str] = ...) -> None: ...

class RuntimeSubject(_message.Message):
    __slots__ = ("effect", "process", "process_event", "trigger_occurrence", "session_node")
    EFFECT_FIELD_NUMBER: _ClassVar[int]
    PROCESS_FIELD_NUMBER: _ClassVar[int]
    PROCESS_EVENT_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_OCCURRENCE_FIELD_NUMBER: _ClassVar[int]
    SESSION_NODE_FIELD_NUMBER: _ClassVar[int]
    effect: EffectSubject
    process: ProcessSubject
    process_event: ProcessEventSubject
    trigger_occurrence: TriggerOccurrenceSubject
    session_node: SessionNodeSubject
    def __init__(self, effect: _Optional[_Union[EffectSubject, _Mapping]] = ..., process: _Optional[_Union[ProcessSubject, _Mapping]] = ..., process_event: _Optional[_Union[ProcessEventSubject, _Mapping]] = ..., trigger_occurrence: _Optional[_Union[TriggerOccurrenceSubject, _Mapping]] = ..., session_node: _Optional[_Union[SessionNodeSubject, _Mapping]] = ...) -> None: ...

class EffectSubject(_message.Message):
    __slots__ = ("effect_id", "kind")
    EFFECT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    effect_id: str
    kind: RuntimeEffectKind
    def __init__(self, effect_id: _Optional[str] = ..., kind: _Optional[_Union[RuntimeEffectKind, str]] = ...) -> None: ...

class ProcessSubject(_message.Message):
    __slots__ = ("process_id",)
    PROCESS_ID_FIELD_NUMBER: _ClassVar[int]
    process_id: str
    def __init__(self, process_id: _Optional[str] = ...) -> None: ...

class ProcessEventSubject(_message.Message):
    __slots__ = ("process_id", "sequence", "event_type")
    PROCESS_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    process_id: str
    sequence: int
    event_type: str
    def __init__(self, process_id: _Optional[str] = ..., sequence: _Optional[int] = ..., event_type: _Optional[str] = ...) -> None: ...

class TriggerOccurrenceSubject(_message.Message):
    __slots__ = ("occurrence_id",)
    OCCURRENCE_ID_FIELD_NUMBER: _ClassVar[int]
    occurrence_id: str
    def __init__(self, occurrence_id: _Optional[str] = ...) -> None: ...

class SessionNodeSubject(_message.Message):
    __slots__ = ("node_id",)
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    def __init__(self, node_id: _Optional[str] = ...) -> None: ...

class CausalRef(_message.Message):
    __slots__ = ("turn", "effect", "tool_call", "process", "process_event", "trigger_occurrence", "session_node")
    TURN_FIELD_NUMBER: _ClassVar[int]
    EFFECT_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALL_FIELD_NUMBER: _ClassVar[int]
    PROCESS_FIELD_NUMBER: _ClassVar[int]
    PROCESS_EVENT_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_OCCURRENCE_FIELD_NUMBER: _ClassVar[int]
    SESSION_NODE_FIELD_NUMBER: _ClassVar[int]
    turn: TurnRef
    effect: EffectRef
    tool_call: ToolCallRef
    process: ProcessRef
    process_event: ProcessEventRef
    trigger_occurrence: TriggerOccurrenceRef
    session_node: SessionNodeRef
    def __init__(self, turn: _Optional[_Union[TurnRef, _Mapping]] = ..., effect: _Optional[_Union[EffectRef, _Mapping]] = ..., tool_call: _Optional[_Union[ToolCallRef, _Mapping]] = ..., process: _Optional[_Union[ProcessRef, _Mapping]] = ..., process_event: _Optional[_Union[ProcessEventRef, _Mapping]] = ..., trigger_occurrence: _Optional[_Union[TriggerOccurrenceRef, _Mapping]] = ..., session_node: _Optional[_Union[SessionNodeRef, _Mapping]] = ...) -> None: ...

class TurnRef(_message.Message):
    __slots__ = ("session_id", "turn_id")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    TURN_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    turn_id: str
    def __init__(self, session_id: _Optional[str] = ..., turn_id: _Optional[str] = ...) -> None: ...

class EffectRef(_message.Message):
    __slots__ = ("session_id", "turn_id", "effect_id")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    TURN_ID_FIELD_NUMBER: _ClassVar[int]
    EFFECT_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    turn_id: str
    effect_id: str
    def __init__(self, session_id: _Optional[str] = ..., turn_id: _Optional[str] = ..., effect_id: _Optional[str] = ...) -> None: ...

class ToolCallRef(_message.Message):
    __slots__ = ("session_id", "call_id")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    call_id: str
    def __init__(self, session_id: _Optional[str] = ..., call_id: _Optional[str] = ...) -> None: ...

class ProcessRef(_message.Message):
    __slots__ = ("process_id",)
    PROCESS_ID_FIELD_NUMBER: _ClassVar[int]
    process_id: str
    def __init__(self, process_id: _Optional[str] = ...) -> None: ...

class ProcessEventRef(_message.Message):
    __slots__ = ("process_id", "sequence")
    PROCESS_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    process_id: str
    sequence: int
    def __init__(self, process_id: _Optional[str] = ..., sequence: _Optional[int] = ...) -> None: ...

class TriggerOccurrenceRef(_message.Message):
    __slots__ = ("occurrence_id",)
    OCCURRENCE_ID_FIELD_NUMBER: _ClassVar[int]
    occurrence_id: str
    def __init__(self, occurrence_id: _Optional[str] = ...) -> None: ...

class SessionNodeRef(_message.Message):
    __slots__ = ("session_id", "node_id")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    node_id: str
    def __init__(self, session_id: _Optional[str] = ..., node_id: _Optional[str] = ...) -> None: ...

class RuntimeInvocation(_message.Message):
    __slots__ = ("scope", "subject", "caused_by", "replay")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    CAUSED_BY_FIELD_NUMBER: _ClassVar[int]
    REPLAY_FIELD_NUMBER: _ClassVar[int]
    scope: RuntimeScope
    subject: RuntimeSubject
    caused_by: CausalRef
    replay: RuntimeReplay
    def __init__(self, scope: _Optional[_Union[RuntimeScope, _Mapping]] = ..., subject: _Optional[_Union[RuntimeSubject, _Mapping]] = ..., caused_by: _Optional[_Union[CausalRef, _Mapping]] = ..., replay: _Optional[_Union[RuntimeReplay, _Mapping]] = ...) -> None: ...

class RuntimeEffectEnvelope(_message.Message):
    __slots__ = ("invocation", "command")
    INVOCATION_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    invocation: RuntimeInvocation
    command: RuntimeEffectCommand
    def __init__(self, invocation: _Optional[_Union[RuntimeInvocation, _Mapping]] = ..., command: _Optional[_Union[RuntimeEffectCommand, _Mapping]] = ...) -> None: ...

class RuntimeEffectCommand(_message.Message):
    __slots__ = ("llm_call", "direct", "tool_call", "process", "exec_code", "checkpoint", "sync_execution_environment", "sleep", "await_event", "durable_step")
    LLM_CALL_FIELD_NUMBER: _ClassVar[int]
    DIRECT_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALL_FIELD_NUMBER: _ClassVar[int]
    PROCESS_FIELD_NUMBER: _ClassVar[int]
    EXEC_CODE_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    SYNC_EXECUTION_ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    SLEEP_FIELD_NUMBER: _ClassVar[int]
    AWAIT_EVENT_FIELD_NUMBER: _ClassVar[int]
    DURABLE_STEP_FIELD_NUMBER: _ClassVar[int]
    llm_call: LlmCallCommand
    direct: DirectCommand
    tool_call: ToolCallCommand
    process: ProcessEffectCommand
    exec_code: ExecCodeCommand
    checkpoint: CheckpointCommand
    sync_execution_environment: SyncExecutionEnvironmentCommand
    sleep: SleepCommand
    await_event: AwaitEventCommand
    durable_step: DurableStepCommand
    def __init__(self, llm_call: _Optional[_Union[LlmCallCommand, _Mapping]] = ..., direct: _Optional[_Union[DirectCommand, _Mapping]] = ..., tool_call: _Optional[_Union[ToolCallCommand, _Mapping]] = ..., process: _Optional[_Union[ProcessEffectCommand, _Mapping]] = ..., exec_code: _Optional[_Union[ExecCodeCommand, _Mapping]] = ..., checkpoint: _Optional[_Union[CheckpointCommand, _Mapping]] = ..., sync_execution_environment: _Optional[_Union[SyncExecutionEnvironmentCommand, _Mapping]] = ..., sleep: _Optional[_Union[SleepCommand, _Mapping]] = ..., await_event: _Optional[_Union[AwaitEventCommand, _Mapping]] = ..., durable_step: _Optional[_Union[DurableStepCommand, _Mapping]] = ...) -> None: ...

class LlmCallCommand(_message.Message):
    __slots__ = ("request",)
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    request: _scope_pb2.Json
    def __init__(self, request: _Optional[_Union[_scope_pb2.Json, _Mapping]] = ...) -> None: ...

class DirectCommand(_message.Message):
    __slots__ = ("request", "usage_source")
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    USAGE_SOURCE_FIELD_NUMBER: _ClassVar[int]
    request: _scope_pb2.Json
    usage_source: str
    def __init__(self, request: _Optional[_Union[_scope_pb2.Json, _Mapping]] = ..., usage_source: _Optional[str] = ...) -> None: ...

class ToolCallCommand(_message.Message):
    __slots__ = ("call",)
    CALL_FIELD_NUMBER: _ClassVar[int]
    call: PreparedToolCall
    def __init__(self, call: _Optional[_Union[PreparedToolCall, _Mapping]] = ...) -> None: ...

class PreparedToolCall(_message.Message):
    __slots__ = ("call_id", "tool_name", "args", "replay", "prepared_payload")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    TOOL_NAME_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    REPLAY_FIELD_NUMBER: _ClassVar[int]
    PREPARED_PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    tool_name: str
    args: _scope_pb2.Json
    replay: _scope_pb2.Json
    prepared_payload: _scope_pb2.Json
    def __init__(self, call_id: _Optional[str] = ..., tool_name: _Optional[str] = ..., args: _Optional[_Union[_scope_pb2.Json, _Mapping]] = ..., replay: _Optional[_Union[_scope_pb2.Json, _Mapping]] = ..., prepared_payload: _Optional[_Union[_scope_pb2.Json, _Mapping]] = ...) -> None: ...

class ProcessEffectCommand(_message.Message):
    __slots__ = ("command",)
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    command: _process_pb2.ProcessCommand
    def __init__(self, command: _Optional[_Union[_process_pb2.ProcessCommand, _Mapping]] = ...) -> None: ...

class ExecCodeCommand(_message.Message):
    __slots__ = ("code",)
    CODE_FIELD_NUMBER: _ClassVar[int]
    code: str
    def __init__(self, code: _Optional[str] = ...) -> None: ...

class CheckpointCommand(_message.Message):
    __slots__ = ("checkpoint",)
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    checkpoint: CheckpointKind
    def __init__(self, checkpoint: _Optional[_Union[CheckpointKind, str]] = ...) -> None: ...

class SyncExecutionEnvironmentCommand(_message.Message):
    __slots__ = ("update_machine_config",)
    UPDATE_MACHINE_CONFIG_FIELD_NUMBER: _ClassVar[int]
    update_machine_config: bool
    def __init__(self, update_machine_config: _Optional[bool] = ...) -> None: ...

class SleepCommand(_message.Message):
    __slots__ = ("duration_ms",)
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    duration_ms: int
    def __init__(self, duration_ms: _Optional[int] = ...) -> None: ...

class AwaitEventCommand(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: _scope_pb2.AwaitEventKey
    def __init__(self, key: _Optional[_Union[_scope_pb2.AwaitEventKey, _Mapping]] = ...) -> None: ...

class DurableStepCommand(_message.Message):
    __slots__ = ("step_id", "input")
    STEP_ID_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    step_id: str
    input: _scope_pb2.Json
    def __init__(self, step_id: _Optional[str] = ..., input: _Optional[_Union[_scope_pb2.Json, _Mapping]] = ...) -> None: ...

class RuntimeEffectOutcome(_message.Message):
    __slots__ = ("llm_call", "direct", "tool_call", "process", "exec_code", "checkpoint", "sync_execution_environment", "sleep", "await_event", "durable_step")
    LLM_CALL_FIELD_NUMBER: _ClassVar[int]
    DIRECT_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALL_FIELD_NUMBER: _ClassVar[int]
    PROCESS_FIELD_NUMBER: _ClassVar[int]
    EXEC_CODE_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    SYNC_EXECUTION_ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    SLEEP_FIELD_NUMBER: _ClassVar[int]
    AWAIT_EVENT_FIELD_NUMBER: _ClassVar[int]
    DURABLE_STEP_FIELD_NUMBER: _ClassVar[int]
    llm_call: LlmCallOutcome
    direct: DirectOutcome
    tool_call: ToolCallOutcome
    process: ProcessOutcome
    exec_code: ExecCodeOutcome
    checkpoint: CheckpointOutcome
    sync_execution_environment: SyncExecutionEnvironmentOutcome
    sleep: SleepOutcome
    await_event: AwaitEventOutcome
    durable_step: DurableStepOutcome
    def __init__(self, llm_call: _Optional[_Union[LlmCallOutcome, _Mapping]] = ..., direct: _Optional[_Union[DirectOutcome, _Mapping]] = ..., tool_call: _Optional[_Union[ToolCallOutcome, _Mapping]] = ..., process: _Optional[_Union[ProcessOutcome, _Mapping]] = ..., exec_code: _Optional[_Union[ExecCodeOutcome, _Mapping]] = ..., checkpoint: _Optional[_Union[CheckpointOutcome, _Mapping]] = ..., sync_execution_environment: _Optional[_Union[SyncExecutionEnvironmentOutcome, _Mapping]] = ..., sleep: _Optional[_Union[SleepOutcome, _Mapping]] = ..., await_event: _Optional[_Union[AwaitEventOutcome, _Mapping]] = ..., durable_step: _Optional[_Union[DurableStepOutcome, _Mapping]] = ...) -> None: ...

class LlmCallOutcome(_message.Message):
    __slots__ = ("ok", "err", "text_streamed")
    OK_FIELD_NUMBER: _ClassVar[int]
    ERR_FIELD_NUMBER: _ClassVar[int]
    TEXT_STREAMED_FIELD_NUMBER: _ClassVar[int]
    ok: _scope_pb2.Json
    err: _scope_pb2.Json
    text_streamed: bool
    def __init__(self, ok: _Optional[_Union[_scope_pb2.Json, _Mapping]] = ..., err: _Optional[_Union[_scope_pb2.Json, _Mapping]] = ..., text_streamed: _Optional[bool] = ...) -> None: ...

class DirectOutcome(_message.Message):
    __slots__ = ("ok", "err")
    OK_FIELD_NUMBER: _ClassVar[int]
    ERR_FIELD_NUMBER: _ClassVar[int]
    ok: _scope_pb2.Json
    err: _scope_pb2.Json
    def __init__(self, ok: _Optional[_Union[_scope_pb2.Json, _Mapping]] = ..., err: _Optional[_Union[_scope_pb2.Json, _Mapping]] = ...) -> None: ...

class ToolCallOutcome(_message.Message):
    __slots__ = ("launch", "triggers")
    LAUNCH_FIELD_NUMBER: _ClassVar[int]
    TRIGGERS_FIELD_NUMBER: _ClassVar[int]
    launch: ToolCallLaunch
    triggers: _containers.RepeatedCompositeFieldContainer[_scope_pb2.Json]
    def __init__(self, launch: _Optional[_Union[ToolCallLaunch, _Mapping]] = ..., triggers: _Optional[_Iterable[_Union[_scope_pb2.Json, _Mapping]]] = ...) -> None: ...

class ToolCallLaunch(_message.Message):
    __slots__ = ("done", "pending")
    DONE_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    done: ToolCallDone
    pending: ToolCallPending
    def __init__(self, done: _Optional[_Union[ToolCallDone, _Mapping]] = ..., pending: _Optional[_Union[ToolCallPending, _Mapping]] = ...) -> None: ...

class ToolCallDone(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: _scope_pb2.Json
    def __init__(self, result: _Optional[_Union[_scope_pb2.Json, _Mapping]] = ...) -> None: ...

class ToolCallPending(_message.Message):
    __slots__ = ("key", "pending", "duration_ms")
    KEY_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    key: _scope_pb2.AwaitEventKey
    pending: _scope_pb2.Json
    duration_ms: int
    def __init__(self, key: _Optional[_Union[_scope_pb2.AwaitEventKey, _Mapping]] = ..., pending: _Optional[_Union[_scope_pb2.Json, _Mapping]] = ..., duration_ms: _Optional[int] = ...) -> None: ...

class ProcessOutcome(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: _process_pb2.ProcessEffectOutcome
    def __init__(self, result: _Optional[_Union[_process_pb2.ProcessEffectOutcome, _Mapping]] = ...) -> None: ...

class ExecCodeOutcome(_message.Message):
    __slots__ = ("ok", "err")
    OK_FIELD_NUMBER: _ClassVar[int]
    ERR_FIELD_NUMBER: _ClassVar[int]
    ok: _scope_pb2.Json
    err: str
    def __init__(self, ok: _Optional[_Union[_scope_pb2.Json, _Mapping]] = ..., err: _Optional[str] = ...) -> None: ...

class CheckpointOutcome(_message.Message):
    __slots__ = ("ok", "err")
    OK_FIELD_NUMBER: _ClassVar[int]
    ERR_FIELD_NUMBER: _ClassVar[int]
    ok: _scope_pb2.Json
    err: _scope_pb2.ControllerError
    def __init__(self, ok: _Optional[_Union[_scope_pb2.Json, _Mapping]] = ..., err: _Optional[_Union[_scope_pb2.ControllerError, _Mapping]] = ...) -> None: ...

class SyncExecutionEnvironmentOutcome(_message.Message):
    __slots__ = ("ok", "err")
    OK_FIELD_NUMBER: _ClassVar[int]
    ERR_FIELD_NUMBER: _ClassVar[int]
    ok: _scope_pb2.Json
    err: str
    def __init__(self, ok: _Optional[_Union[_scope_pb2.Json, _Mapping]] = ..., err: _Optional[str] = ...) -> None: ...

class SleepOutcome(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AwaitEventOutcome(_message.Message):
    __slots__ = ("resolution",)
    RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    resolution: _scope_pb2.Resolution
    def __init__(self, resolution: _Optional[_Union[_scope_pb2.Resolution, _Mapping]] = ...) -> None: ...

class DurableStepOutcome(_message.Message):
    __slots__ = ("value",)
    VALUE_FIELD_NUMBER: _ClassVar[int]
    value: _scope_pb2.Json
    def __init__(self, value: _Optional[_Union[_scope_pb2.Json, _Mapping]] = ...) -> None: ...
