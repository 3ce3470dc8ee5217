from effectd.v1 import await_events_pb2 as _await_events_pb2
from effectd.v1 import envelope_pb2 as _envelope_pb2
from effectd.v1 import scope_pb2 as _scope_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DurabilityTier(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DURABILITY_TIER_UNSPECIFIED: _ClassVar[DurabilityTier]
    DURABILITY_TIER_INLINE: _ClassVar[DurabilityTier]
    DURABILITY_TIER_DURABLE: _ClassVar[DurabilityTier]

class EffectStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EFFECT_STATUS_UNSPECIFIED: _ClassVar[EffectStatus]
    EFFECT_STATUS_IN_PROGRESS: _ClassVar[EffectStatus]
    EFFECT_STATUS_COMPLETED: _ClassVar[EffectStatus]
    EFFECT_STATUS_FAILED: _ClassVar[EffectStatus]
DURABILITY_TIER_UNSPECIFIED: DurabilityTier
DURABILITY_TIER_INLINE: DurabilityTier
DURABILITY_TIER_DURABLE: DurabilityTier
EFFECT_STATUS_UNSPECIFIED: EffectStatus
EFFECT_STATUS_IN_PROGRESS: EffectStatus
EFFECT_STATUS_COMPLETED: EffectStatus
EFFECT_STATUS_FAILED: EffectStatus

class DescribeRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DescribeResponse(_message.Message):
    __slots__ = ("durability_tier", "supports_durable_effects", "requires_durable_attachment_store")
    DURABILITY_TIER_FIELD_NUMBER: _ClassVar[int]
    SUPPORTS_DURABLE_EFFECTS_FIELD_NUMBER: _ClassVar[int]
    REQUIRES_DURABLE_ATTACHMENT_STORE_FIELD_NUMBER: _ClassVar[int]
    durability_tier: DurabilityTier
    supports_durable_effects: bool
    requires_durable_attachment_store: bool
    def __init__(self, durability_tier: _Optional[_Union[DurabilityTier, str]] = ..., supports_durable_effects: _Optional[bool] = ..., requires_durable_attachment_store: _Optional[bool] = ...) -> None: ...

class ExecuteRequest(_message.Message):
    __slots__ = ("scope", "envelope", "strict_replay", "owner_id", "lease_ttl_ms", "await_deadline_unix_ms", "heartbeat_interval_ms", "delegate")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    STRICT_REPLAY_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    LEASE_TTL_MS_FIELD_NUMBER: _ClassVar[int]
    AWAIT_DEADLINE_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    DELEGATE_FIELD_NUMBER: _ClassVar[int]
    scope: _scope_pb2.ExecutionScope
    envelope: _envelope_pb2.RuntimeEffectEnvelope
    strict_replay: bool
    owner_id: str
    lease_ttl_ms: int
    await_deadline_unix_ms: int
    heartbeat_interval_ms: int
    delegate: DelegateOptions
    def __init__(self, scope: _Optional[_Union[_scope_pb2.ExecutionScope, _Mapping]] = ..., envelope: _Optional[_Union[_envelope_pb2.RuntimeEffectEnvelope, _Mapping]] = ..., strict_replay: _Optional[bool] = ..., owner_id: _Optional[str] = ..., lease_ttl_ms: _Optional[int] = ..., await_deadline_unix_ms: _Optional[int] = ..., heartbeat_interval_ms: _Optional[int] = ..., delegate: _Optional[_Union[DelegateOptions, _Mapping]] = ...) -> None: ...

class DelegateOptions(_message.Message):
    __slots__ = ("capability", "version", "required_labels", "schedule_to_start_timeout_ms", "session_affinity", "hard_affinity")
    class RequiredLabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CAPABILITY_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_LABELS_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_TO_START_TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    SESSION_AFFINITY_FIELD_NUMBER: _ClassVar[int]
    HARD_AFFINITY_FIELD_NUMBER: _ClassVar[int]
    capability: str
    version: str
    required_labels: _containers.ScalarMap[str, str]
    schedule_to_start_timeout_ms: int
    session_affinity: bool
    hard_affinity: bool
    def __init__(self, capability: _Optional[str] = ..., version: _Optional[str] = ..., required_labels: _Optional[_Mapping[str, str]] = ..., schedule_to_start_timeout_ms: _Optional[int] = ..., session_affinity: _Optional[bool] = ..., hard_affinity: _Optional[bool] = ...) -> None: ...

class EffectProgress(_message.Message):
    __slots__ = ("value", "sequence")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    value: _scope_pb2.Json
    sequence: int
    def __init__(self, value: _Optional[_Union[_scope_pb2.Json, _Mapping]] = ..., sequence: _Optional[int] = ...) -> None: ...

class EffectLease(_message.Message):
    __slots__ = ("lease_token", "owner_id", "expires_at_unix_ms", "envelope_hash")
    LEASE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    ENVELOPE_HASH_FIELD_NUMBER: _ClassVar[int]
    lease_token: str
    owner_id: str
    expires_at_unix_ms: int
    envelope_hash: str
    def __init__(self, lease_token: _Optional[str] = ..., owner_id: _Optional[str] = ..., expires_at_unix_ms: _Optional[int] = ..., envelope_hash: _Optional[str] = ...) -> None: ...

class ExecuteResponse(_message.Message):
    __slots__ = ("heartbeat", "lease", "outcome", "executor_error", "progress")
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    LEASE_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_ERROR_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    heartbeat: _await_events_pb2.Heartbeat
    lease: EffectLease
    outcome: RecordedOutcome
    executor_error: RecordedError
    progress: EffectProgress
    def __init__(self, heartbeat: _Optional[_Union[_await_events_pb2.Heartbeat, _Mapping]] = ..., lease: _Optional[_Union[EffectLease, _Mapping]] = ..., outcome: _Optional[_Union[RecordedOutcome, _Mapping]] = ..., executor_error: _Optional[_Union[RecordedError, _Mapping]] = ..., progress: _Optional[_Union[EffectProgress, _Mapping]] = ...) -> None: ...

class RecordedOutcome(_message.Message):
    __slots__ = ("outcome", "replayed")
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    outcome: _envelope_pb2.RuntimeEffectOutcome
    replayed: bool
    def __init__(self, outcome: _Optional[_Union[_envelope_pb2.RuntimeEffectOutcome, _Mapping]] = ..., replayed: _Optional[bool] = ...) -> None: ...

class RecordedError(_message.Message):
    __slots__ = ("error", "replayed")
    ERROR_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    error: _scope_pb2.ControllerError
    replayed: bool
    def __init__(self, error: _Optional[_Union[_scope_pb2.ControllerError, _Mapping]] = ..., replayed: _Optional[bool] = ...) -> None: ...

class CompleteRequest(_message.Message):
    __slots__ = ("scope", "replay_key", "lease_token", "outcome", "executor_error")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    REPLAY_KEY_FIELD_NUMBER: _ClassVar[int]
    LEASE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_ERROR_FIELD_NUMBER: _ClassVar[int]
    scope: _scope_pb2.ExecutionScope
    replay_key: str
    lease_token: str
    outcome: _envelope_pb2.RuntimeEffectOutcome
    executor_error: _scope_pb2.ControllerError
    def __init__(self, scope: _Optional[_Union[_scope_pb2.ExecutionScope, _Mapping]] = ..., replay_key: _Optional[str] = ..., lease_token: _Optional[str] = ..., outcome: _Optional[_Union[_envelope_pb2.RuntimeEffectOutcome, _Mapping]] = ..., executor_error: _Optional[_Union[_scope_pb2.ControllerError, _Mapping]] = ...) -> None: ...

class CompleteResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RenewLeaseRequest(_message.Message):
    __slots__ = ("scope", "replay_key", "lease_token", "lease_ttl_ms")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    REPLAY_KEY_FIELD_NUMBER: _ClassVar[int]
    LEASE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    LEASE_TTL_MS_FIELD_NUMBER: _ClassVar[int]
    scope: _scope_pb2.ExecutionScope
    replay_key: str
    lease_token: str
    lease_ttl_ms: int
    def __init__(self, scope: _Optional[_Union[_scope_pb2.ExecutionScope, _Mapping]] = ..., replay_key: _Optional[str] = ..., lease_token: _Optional[str] = ..., lease_ttl_ms: _Optional[int] = ...) -> None: ...

class RenewLeaseResponse(_message.Message):
    __slots__ = ("expires_at_unix_ms",)
    EXPIRES_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    expires_at_unix_ms: int
    def __init__(self, expires_at_unix_ms: _Optional[int] = ...) -> None: ...

class EffectRecord(_message.Message):
    __slots__ = ("scope", "replay_key", "envelope_hash", "status", "envelope", "outcome", "executor_error", "lease_owner_id", "lease_expires_at_unix_ms", "due_at_unix_ms", "created_at_unix_ms", "updated_at_unix_ms")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    REPLAY_KEY_FIELD_NUMBER: _ClassVar[int]
    ENVELOPE_HASH_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_ERROR_FIELD_NUMBER: _ClassVar[int]
    LEASE_OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    LEASE_EXPIRES_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    DUE_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    scope: _scope_pb2.ExecutionScope
    replay_key: str
    envelope_hash: str
    status: EffectStatus
    envelope: _envelope_pb2.RuntimeEffectEnvelope
    outcome: _envelope_pb2.RuntimeEffectOutcome
    executor_error: _scope_pb2.ControllerError
    lease_owner_id: str
    lease_expires_at_unix_ms: int
    due_at_unix_ms: int
    created_at_unix_ms: int
    updated_at_unix_ms: int
    def __init__(self, scope: _Optional[_Union[_scope_pb2.ExecutionScope, _Mapping]] = ..., replay_key: _Optional[str] = ..., envelope_hash: _Optional[str] = ..., status: _Optional[_Union[EffectStatus, str]] = ..., envelope: _Optional[_Union[_envelope_pb2.RuntimeEffectEnvelope, _Mapping]] = ..., outcome: _Optional[_Union[_envelope_pb2.RuntimeEffectOutcome, _Mapping]] = ..., executor_error: _Optional[_Union[_scope_pb2.ControllerError, _Mapping]] = ..., lease_owner_id: _Optional[str] = ..., lease_expires_at_unix_ms: _Optional[int] = ..., due_at_unix_ms: _Optional[int] = ..., created_at_unix_ms: _Optional[int] = ..., updated_at_unix_ms: _Optional[int] = ...) -> None: ...

class ListEffectsRequest(_message.Message):
    __slots__ = ("scope", "page_size", "page_token")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    scope: _scope_pb2.ExecutionScope
    page_size: int
    page_token: str
    def __init__(self, scope: _Optional[_Union[_scope_pb2.ExecutionScope, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListEffectsResponse(_message.Message):
    __slots__ = ("effects", "next_page_token")
    EFFECTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    effects: _containers.RepeatedCompositeFieldContainer[EffectRecord]
    next_page_token: str
    def __init__(self, effects: _Optional[_Iterable[_Union[EffectRecord, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetEffectRequest(_message.Message):
    __slots__ = ("scope", "replay_key")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    REPLAY_KEY_FIELD_NUMBER: _ClassVar[int]
    scope: _scope_pb2.ExecutionScope
    replay_key: str
    def __init__(self, scope: _Optional[_Union[_scope_pb2.ExecutionScope, _Mapping]] = ..., replay_key: _Optional[str] = ...) -> None: ...

class GetEffectResponse(_message.Message):
    __slots__ = ("effect",)
    EFFECT_FIELD_NUMBER: _ClassVar[int]
    effect: EffectRecord
    def __init__(self, effect: _Optional[_Union[EffectRecord, _Mapping]] = ...) -> None: ...

class ListScopesRequest(_message.Message):
    __slots__ = ("limit",)
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    limit: int
    def __init__(self, limit: _Optional[int] = ...) -> None: ...

class ScopeSummary(_message.Message):
    __slots__ = ("scope", "effects", "updated_at_unix_ms")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    EFFECTS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    scope: _scope_pb2.ExecutionScope
    effects: int
    updated_at_unix_ms: int
    def __init__(self, scope: _Optional[_Union[_scope_pb2.ExecutionScope, _Mapping]] = ..., effects: _Optional[int] = ..., updated_at_unix_ms: _Optional[int] = ...) -> None: ...

class ListScopesResponse(_message.Message):
    __slots__ = ("scopes",)
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    scopes: _containers.RepeatedCompositeFieldContainer[ScopeSummary]
    def __init__(self, scopes: _Optional[_Iterable[_Union[ScopeSummary, _Mapping]]] = ...) -> None: ...
