from effectd.v1 import await_events_pb2 as _await_events_pb2
from effectd.v1 import effect_controller_pb2 as _effect_controller_pb2
from effectd.v1 import envelope_pb2 as _envelope_pb2
from effectd.v1 import process_pb2 as _process_pb2
from effectd.v1 import scope_pb2 as _scope_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Capability(_message.Message):
    __slots__ = ("kind", "name", "version", "slots", "tool")
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    TOOL_FIELD_NUMBER: _ClassVar[int]
    kind: _envelope_pb2.RuntimeEffectKind
    name: str
    version: str
    slots: int
    tool: ToolDescription
    def __init__(self, kind: _Optional[_Union[_envelope_pb2.RuntimeEffectKind, str]] = ..., name: _Optional[str] = ..., version: _Optional[str] = ..., slots: _Optional[int] = ..., tool: _Optional[_Union[ToolDescription, _Mapping]] = ...) -> None: ...

class ToolDescription(_message.Message):
    __slots__ = ("input_schema", "description", "server")
    INPUT_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SERVER_FIELD_NUMBER: _ClassVar[int]
    input_schema: _scope_pb2.Json
    description: str
    server: str
    def __init__(self, input_schema: _Optional[_Union[_scope_pb2.Json, _Mapping]] = ..., description: _Optional[str] = ..., server: _Optional[str] = ...) -> None: ...

class WorkerCapabilities(_message.Message):
    __slots__ = ("capabilities",)
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    capabilities: _containers.RepeatedCompositeFieldContainer[Capability]
    def __init__(self, capabilities: _Optional[_Iterable[_Union[Capability, _Mapping]]] = ...) -> None: ...

class WorkerRegister(_message.Message):
    __slots__ = ("worker_id", "instance_id", "capabilities", "labels", "slots", "heartbeat_interval_ms")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    instance_id: str
    capabilities: _containers.RepeatedCompositeFieldContainer[Capability]
    labels: _containers.ScalarMap[str, str]
    slots: int
    heartbeat_interval_ms: int
    def __init__(self, worker_id: _Optional[str] = ..., instance_id: _Optional[str] = ..., capabilities: _Optional[_Iterable[_Union[Capability, _Mapping]]] = ..., labels: _Optional[_Mapping[str, str]] = ..., slots: _Optional[int] = ..., heartbeat_interval_ms: _Optional[int] = ...) -> None: ...

class WorkerHeartbeat(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WorkerCredit(_message.Message):
    __slots__ = ("slots",)
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    slots: int
    def __init__(self, slots: _Optional[int] = ...) -> None: ...

class AssignmentRef(_message.Message):
    __slots__ = ("scope", "replay_key", "fencing_token")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    REPLAY_KEY_FIELD_NUMBER: _ClassVar[int]
    FENCING_TOKEN_FIELD_NUMBER: _ClassVar[int]
    scope: _scope_pb2.ExecutionScope
    replay_key: str
    fencing_token: int
    def __init__(self, scope: _Optional[_Union[_scope_pb2.ExecutionScope, _Mapping]] = ..., replay_key: _Optional[str] = ..., fencing_token: _Optional[int] = ...) -> None: ...

class WorkerExtendLease(_message.Message):
    __slots__ = ("assignment",)
    ASSIGNMENT_FIELD_NUMBER: _ClassVar[int]
    assignment: AssignmentRef
    def __init__(self, assignment: _Optional[_Union[AssignmentRef, _Mapping]] = ...) -> None: ...

class WorkerResult(_message.Message):
    __slots__ = ("assignment", "outcome", "executor_error", "abandoned", "rate_limited")
    ASSIGNMENT_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_ERROR_FIELD_NUMBER: _ClassVar[int]
    ABANDONED_FIELD_NUMBER: _ClassVar[int]
    RATE_LIMITED_FIELD_NUMBER: _ClassVar[int]
    assignment: AssignmentRef
    outcome: _envelope_pb2.RuntimeEffectOutcome
    executor_error: _scope_pb2.ControllerError
    abandoned: str
    rate_limited: ProviderRateLimited
    def __init__(self, assignment: _Optional[_Union[AssignmentRef, _Mapping]] = ..., outcome: _Optional[_Union[_envelope_pb2.RuntimeEffectOutcome, _Mapping]] = ..., executor_error: _Optional[_Union[_scope_pb2.ControllerError, _Mapping]] = ..., abandoned: _Optional[str] = ..., rate_limited: _Optional[_Union[ProviderRateLimited, _Mapping]] = ...) -> None: ...

class ProviderRateLimited(_message.Message):
    __slots__ = ("retry_after_ms", "reason")
    RETRY_AFTER_MS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    retry_after_ms: int
    reason: str
    def __init__(self, retry_after_ms: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class WorkerProgress(_message.Message):
    __slots__ = ("assignment", "value")
    ASSIGNMENT_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    assignment: AssignmentRef
    value: _scope_pb2.Json
    def __init__(self, assignment: _Optional[_Union[AssignmentRef, _Mapping]] = ..., value: _Optional[_Union[_scope_pb2.Json, _Mapping]] = ...) -> None: ...

class WorkerDrain(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WorkerMessage(_message.Message):
    __slots__ = ("register", "heartbeat", "credit", "extend_lease", "result", "progress", "drain", "capabilities")
    REGISTER_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    CREDIT_FIELD_NUMBER: _ClassVar[int]
    EXTEND_LEASE_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    DRAIN_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    register: WorkerRegister
    heartbeat: WorkerHeartbeat
    credit: WorkerCredit
    extend_lease: WorkerExtendLease
    result: WorkerResult
    progress: WorkerProgress
    drain: WorkerDrain
    capabilities: WorkerCapabilities
    def __init__(self, register: _Optional[_Union[WorkerRegister, _Mapping]] = ..., heartbeat: _Optional[_Union[WorkerHeartbeat, _Mapping]] = ..., credit: _Optional[_Union[WorkerCredit, _Mapping]] = ..., extend_lease: _Optional[_Union[WorkerExtendLease, _Mapping]] = ..., result: _Optional[_Union[WorkerResult, _Mapping]] = ..., progress: _Optional[_Union[WorkerProgress, _Mapping]] = ..., drain: _Optional[_Union[WorkerDrain, _Mapping]] = ..., capabilities: _Optional[_Union[WorkerCapabilities, _Mapping]] = ...) -> None: ...

class Registered(_message.Message):
    __slots__ = ("worker_id", "heartbeat_interval_ms", "lease_ttl_ms")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    LEASE_TTL_MS_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    heartbeat_interval_ms: int
    lease_ttl_ms: int
    def __init__(self, worker_id: _Optional[str] = ..., heartbeat_interval_ms: _Optional[int] = ..., lease_ttl_ms: _Optional[int] = ...) -> None: ...

class Assign(_message.Message):
    __slots__ = ("assignment", "envelope", "attempt", "lease_deadline_unix_ms", "trace_context")
    class TraceContextEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ASSIGNMENT_FIELD_NUMBER: _ClassVar[int]
    ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    LEASE_DEADLINE_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    TRACE_CONTEXT_FIELD_NUMBER: _ClassVar[int]
    assignment: AssignmentRef
    envelope: _envelope_pb2.RuntimeEffectEnvelope
    attempt: int
    lease_deadline_unix_ms: int
    trace_context: _containers.ScalarMap[str, str]
    def __init__(self, assignment: _Optional[_Union[AssignmentRef, _Mapping]] = ..., envelope: _Optional[_Union[_envelope_pb2.RuntimeEffectEnvelope, _Mapping]] = ..., attempt: _Optional[int] = ..., lease_deadline_unix_ms: _Optional[int] = ..., trace_context: _Optional[_Mapping[str, str]] = ...) -> None: ...

class Cancel(_message.Message):
    __slots__ = ("assignment", "reason")
    ASSIGNMENT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    assignment: AssignmentRef
    reason: str
    def __init__(self, assignment: _Optional[_Union[AssignmentRef, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...

class Evicted(_message.Message):
    __slots__ = ("assignment", "reason")
    ASSIGNMENT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    assignment: AssignmentRef
    reason: str
    def __init__(self, assignment: _Optional[_Union[AssignmentRef, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...

class ResultAck(_message.Message):
    __slots__ = ("assignment", "recorded", "already_recorded")
    ASSIGNMENT_FIELD_NUMBER: _ClassVar[int]
    RECORDED_FIELD_NUMBER: _ClassVar[int]
    ALREADY_RECORDED_FIELD_NUMBER: _ClassVar[int]
    assignment: AssignmentRef
    recorded: bool
    already_recorded: AlreadyRecorded
    def __init__(self, assignment: _Optional[_Union[AssignmentRef, _Mapping]] = ..., recorded: _Optional[bool] = ..., already_recorded: _Optional[_Union[AlreadyRecorded, _Mapping]] = ...) -> None: ...

class AlreadyRecorded(_message.Message):
    __slots__ = ("outcome", "executor_error")
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_ERROR_FIELD_NUMBER: _ClassVar[int]
    outcome: _effect_controller_pb2.RecordedOutcome
    executor_error: _effect_controller_pb2.RecordedError
    def __init__(self, outcome: _Optional[_Union[_effect_controller_pb2.RecordedOutcome, _Mapping]] = ..., executor_error: _Optional[_Union[_effect_controller_pb2.RecordedError, _Mapping]] = ...) -> None: ...

class LeaseExtended(_message.Message):
    __slots__ = ("assignment", "lease_deadline_unix_ms")
    ASSIGNMENT_FIELD_NUMBER: _ClassVar[int]
    LEASE_DEADLINE_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    assignment: AssignmentRef
    lease_deadline_unix_ms: int
    def __init__(self, assignment: _Optional[_Union[AssignmentRef, _Mapping]] = ..., lease_deadline_unix_ms: _Optional[int] = ...) -> None: ...

class Drain(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ServerMessage(_message.Message):
    __slots__ = ("registered", "heartbeat", "assign", "cancel", "evicted", "result_ack", "lease_extended", "drain", "run_process")
    REGISTERED_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    ASSIGN_FIELD_NUMBER: _ClassVar[int]
    CANCEL_FIELD_NUMBER: _ClassVar[int]
    EVICTED_FIELD_NUMBER: _ClassVar[int]
    RESULT_ACK_FIELD_NUMBER: _ClassVar[int]
    LEASE_EXTENDED_FIELD_NUMBER: _ClassVar[int]
    DRAIN_FIELD_NUMBER: _ClassVar[int]
    RUN_PROCESS_FIELD_NUMBER: _ClassVar[int]
    registered: Registered
    heartbeat: _await_events_pb2.Heartbeat
    assign: Assign
    cancel: Cancel
    evicted: Evicted
    result_ack: ResultAck
    lease_extended: LeaseExtended
    drain: Drain
    run_process: RunProcess
    def __init__(self, registered: _Optional[_Union[Registered, _Mapping]] = ..., heartbeat: _Optional[_Union[_await_events_pb2.Heartbeat, _Mapping]] = ..., assign: _Optional[_Union[Assign, _Mapping]] = ..., cancel: _Optional[_Union[Cancel, _Mapping]] = ..., evicted: _Optional[_Union[Evicted, _Mapping]] = ..., result_ack: _Optional[_Union[ResultAck, _Mapping]] = ..., lease_extended: _Optional[_Union[LeaseExtended, _Mapping]] = ..., drain: _Optional[_Union[Drain, _Mapping]] = ..., run_process: _Optional[_Union[RunProcess, _Mapping]] = ...) -> None: ...

class RunProcess(_message.Message):
    __slots__ = ("record", "lease")
    RECORD_FIELD_NUMBER: _ClassVar[int]
    LEASE_FIELD_NUMBER: _ClassVar[int]
    record: _process_pb2.ProcessRecord
    lease: _process_pb2.ProcessLease
    def __init__(self, record: _Optional[_Union[_process_pb2.ProcessRecord, _Mapping]] = ..., lease: _Optional[_Union[_process_pb2.ProcessLease, _Mapping]] = ...) -> None: ...

class ListWorkersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WorkerInfo(_message.Message):
    __slots__ = ("worker_id", "instance_id", "capabilities", "labels", "slots", "in_flight", "last_heartbeat_unix_ms", "draining", "connected_at_unix_ms", "completed")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    LAST_HEARTBEAT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    DRAINING_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    instance_id: str
    capabilities: _containers.RepeatedCompositeFieldContainer[Capability]
    labels: _containers.ScalarMap[str, str]
    slots: int
    in_flight: _containers.RepeatedCompositeFieldContainer[AssignmentRef]
    last_heartbeat_unix_ms: int
    draining: bool
    connected_at_unix_ms: int
    completed: int
    def __init__(self, worker_id: _Optional[str] = ..., instance_id: _Optional[str] = ..., capabilities: _Optional[_Iterable[_Union[Capability, _Mapping]]] = ..., labels: _Optional[_Mapping[str, str]] = ..., slots: _Optional[int] = ..., in_flight: _Optional[_Iterable[_Union[AssignmentRef, _Mapping]]] = ..., last_heartbeat_unix_ms: _Optional[int] = ..., draining: _Optional[bool] = ..., connected_at_unix_ms: _Optional[int] = ..., completed: _Optional[int] = ...) -> None: ...

class ListWorkersResponse(_message.Message):
    __slots__ = ("workers",)
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    workers: _containers.RepeatedCompositeFieldContainer[WorkerInfo]
    def __init__(self, workers: _Optional[_Iterable[_Union[WorkerInfo, _Mapping]]] = ...) -> None: ...

class DescribeWorkerRequest(_message.Message):
    __slots__ = ("worker_id",)
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    def __init__(self, worker_id: _Optional[str] = ...) -> None: ...

class DescribeWorkerResponse(_message.Message):
    __slots__ = ("worker",)
    WORKER_FIELD_NUMBER: _ClassVar[int]
    worker: WorkerInfo
    def __init__(self, worker: _Optional[_Union[WorkerInfo, _Mapping]] = ...) -> None: ...

class DrainWorkerRequest(_message.Message):
    __slots__ = ("worker_id",)
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    def __init__(self, worker_id: _Optional[str] = ...) -> None: ...

class DrainWorkerResponse(_message.Message):
    __slots__ = ("worker",)
    WORKER_FIELD_NUMBER: _ClassVar[int]
    worker: WorkerInfo
    def __init__(self, worker: _Optional[_Union[WorkerInfo, _Mapping]] = ...) -> None: ...

class WatchProgressRequest(_message.Message):
    __slots__ = ("scope", "replay_key", "heartbeat_interval_ms")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    REPLAY_KEY_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    scope: _scope_pb2.ExecutionScope
    replay_key: str
    heartbeat_interval_ms: int
    def __init__(self, scope: _Optional[_Union[_scope_pb2.ExecutionScope, _Mapping]] = ..., replay_key: _Optional[str] = ..., heartbeat_interval_ms: _Optional[int] = ...) -> None: ...

class WatchProgressResponse(_message.Message):
    __slots__ = ("heartbeat", "progress", "outcome", "executor_error")
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_ERROR_FIELD_NUMBER: _ClassVar[int]
    heartbeat: _await_events_pb2.Heartbeat
    progress: _effect_controller_pb2.EffectProgress
    outcome: _effect_controller_pb2.RecordedOutcome
    executor_error: _effect_controller_pb2.RecordedError
    def __init__(self, heartbeat: _Optional[_Union[_await_events_pb2.Heartbeat, _Mapping]] = ..., progress: _Optional[_Union[_effect_controller_pb2.EffectProgress, _Mapping]] = ..., outcome: _Optional[_Union[_effect_controller_pb2.RecordedOutcome, _Mapping]] = ..., executor_error: _Optional[_Union[_effect_controller_pb2.RecordedError, _Mapping]] = ...) -> None: ...
