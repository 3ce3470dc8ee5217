from effectd.v1 import scope_pb2 as _scope_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SigningKeyState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SIGNING_KEY_STATE_UNSPECIFIED: _ClassVar[SigningKeyState]
    SIGNING_KEY_STATE_ACTIVE: _ClassVar[SigningKeyState]
    SIGNING_KEY_STATE_VERIFY_ONLY: _ClassVar[SigningKeyState]
    SIGNING_KEY_STATE_RETIRED: _ClassVar[SigningKeyState]
SIGNING_KEY_STATE_UNSPECIFIED: SigningKeyState
SIGNING_KEY_STATE_ACTIVE: SigningKeyState
SIGNING_KEY_STATE_VERIFY_ONLY: SigningKeyState
SIGNING_KEY_STATE_RETIRED: SigningKeyState

class MintKeyRequest(_message.Message):
    __slots__ = ("scope", "wait")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    WAIT_FIELD_NUMBER: _ClassVar[int]
    scope: _scope_pb2.ExecutionScope
    wait: _scope_pb2.AwaitEventWaitIdentity
    def __init__(self, scope: _Optional[_Union[_scope_pb2.ExecutionScope, _Mapping]] = ..., wait: _Optional[_Union[_scope_pb2.AwaitEventWaitIdentity, _Mapping]] = ...) -> None: ...

class MintKeyResponse(_message.Message):
    __slots__ = ("key", "token")
    KEY_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    key: _scope_pb2.AwaitEventKey
    token: str
    def __init__(self, key: _Optional[_Union[_scope_pb2.AwaitEventKey, _Mapping]] = ..., token: _Optional[str] = ...) -> None: ...

class ResolveRequest(_message.Message):
    __slots__ = ("key", "token", "resolution")
    KEY_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    key: _scope_pb2.AwaitEventKey
    token: str
    resolution: _scope_pb2.Resolution
    def __init__(self, key: _Optional[_Union[_scope_pb2.AwaitEventKey, _Mapping]] = ..., token: _Optional[str] = ..., resolution: _Optional[_Union[_scope_pb2.Resolution, _Mapping]] = ...) -> None: ...

class ResolveResponse(_message.Message):
    __slots__ = ("outcome",)
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    outcome: _scope_pb2.ResolveOutcome
    def __init__(self, outcome: _Optional[_Union[_scope_pb2.ResolveOutcome, _Mapping]] = ...) -> None: ...

class ResolveManyRequest(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[ResolveRequest]
    def __init__(self, items: _Optional[_Iterable[_Union[ResolveRequest, _Mapping]]] = ...) -> None: ...

class ItemError(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class ResolveManyResult(_message.Message):
    __slots__ = ("outcome", "error")
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    outcome: _scope_pb2.ResolveOutcome
    error: ItemError
    def __init__(self, outcome: _Optional[_Union[_scope_pb2.ResolveOutcome, _Mapping]] = ..., error: _Optional[_Union[ItemError, _Mapping]] = ...) -> None: ...

class ResolveManyResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[ResolveManyResult]
    def __init__(self, results: _Optional[_Iterable[_Union[ResolveManyResult, _Mapping]]] = ...) -> None: ...

class AwaitRequest(_message.Message):
    __slots__ = ("key", "token", "timeout_ms", "deadline_unix_ms", "heartbeat_interval_ms")
    KEY_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    key: _scope_pb2.AwaitEventKey
    token: str
    timeout_ms: int
    deadline_unix_ms: int
    heartbeat_interval_ms: int
    def __init__(self, key: _Optional[_Union[_scope_pb2.AwaitEventKey, _Mapping]] = ..., token: _Optional[str] = ..., timeout_ms: _Optional[int] = ..., deadline_unix_ms: _Optional[int] = ..., heartbeat_interval_ms: _Optional[int] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("server_time_unix_ms",)
    SERVER_TIME_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    server_time_unix_ms: int
    def __init__(self, server_time_unix_ms: _Optional[int] = ...) -> None: ...

class AwaitResponse(_message.Message):
    __slots__ = ("heartbeat", "terminal")
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    TERMINAL_FIELD_NUMBER: _ClassVar[int]
    heartbeat: Heartbeat
    terminal: _scope_pb2.Resolution
    def __init__(self, heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., terminal: _Optional[_Union[_scope_pb2.Resolution, _Mapping]] = ...) -> None: ...

class WatchRequest(_message.Message):
    __slots__ = ("add_keys", "add_tokens", "remove_key_ids", "resume_after", "heartbeat_interval_ms")
    ADD_KEYS_FIELD_NUMBER: _ClassVar[int]
    ADD_TOKENS_FIELD_NUMBER: _ClassVar[int]
    REMOVE_KEY_IDS_FIELD_NUMBER: _ClassVar[int]
    RESUME_AFTER_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    add_keys: _containers.RepeatedCompositeFieldContainer[_scope_pb2.AwaitEventKey]
    add_tokens: _containers.RepeatedScalarFieldContainer[str]
    remove_key_ids: _containers.RepeatedScalarFieldContainer[str]
    resume_after: int
    heartbeat_interval_ms: int
    def __init__(self, add_keys: _Optional[_Iterable[_Union[_scope_pb2.AwaitEventKey, _Mapping]]] = ..., add_tokens: _Optional[_Iterable[str]] = ..., remove_key_ids: _Optional[_Iterable[str]] = ..., resume_after: _Optional[int] = ..., heartbeat_interval_ms: _Optional[int] = ...) -> None: ...

class WatchTerminal(_message.Message):
    __slots__ = ("key_id", "terminal", "cursor")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    TERMINAL_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    terminal: _scope_pb2.Resolution
    cursor: int
    def __init__(self, key_id: _Optional[str] = ..., terminal: _Optional[_Union[_scope_pb2.Resolution, _Mapping]] = ..., cursor: _Optional[int] = ...) -> None: ...

class WatchRejected(_message.Message):
    __slots__ = ("key_id", "code", "message", "token")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    code: str
    message: str
    token: str
    def __init__(self, key_id: _Optional[str] = ..., code: _Optional[str] = ..., message: _Optional[str] = ..., token: _Optional[str] = ...) -> None: ...

class WatchAck(_message.Message):
    __slots__ = ("added", "removed")
    ADDED_FIELD_NUMBER: _ClassVar[int]
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    added: int
    removed: int
    def __init__(self, added: _Optional[int] = ..., removed: _Optional[int] = ...) -> None: ...

class WatchResponse(_message.Message):
    __slots__ = ("terminal", "rejected", "heartbeat", "ack", "terminals")
    TERMINAL_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    ACK_FIELD_NUMBER: _ClassVar[int]
    TERMINALS_FIELD_NUMBER: _ClassVar[int]
    terminal: WatchTerminal
    rejected: WatchRejected
    heartbeat: Heartbeat
    ack: WatchAck
    terminals: WatchTerminals
    def __init__(self, terminal: _Optional[_Union[WatchTerminal, _Mapping]] = ..., rejected: _Optional[_Union[WatchRejected, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., ack: _Optional[_Union[WatchAck, _Mapping]] = ..., terminals: _Optional[_Union[WatchTerminals, _Mapping]] = ...) -> None: ...

class WatchTerminals(_message.Message):
    __slots__ = ("terminals",)
    TERMINALS_FIELD_NUMBER: _ClassVar[int]
    terminals: _containers.RepeatedCompositeFieldContainer[WatchTerminal]
    def __init__(self, terminals: _Optional[_Iterable[_Union[WatchTerminal, _Mapping]]] = ...) -> None: ...

class PeekRequest(_message.Message):
    __slots__ = ("key", "token")
    KEY_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    key: _scope_pb2.AwaitEventKey
    token: str
    def __init__(self, key: _Optional[_Union[_scope_pb2.AwaitEventKey, _Mapping]] = ..., token: _Optional[str] = ...) -> None: ...

class KeyPending(_message.Message):
    __slots__ = ("deadline_unix_ms",)
    DEADLINE_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    deadline_unix_ms: int
    def __init__(self, deadline_unix_ms: _Optional[int] = ...) -> None: ...

class PeekResponse(_message.Message):
    __slots__ = ("pending", "terminal")
    PENDING_FIELD_NUMBER: _ClassVar[int]
    TERMINAL_FIELD_NUMBER: _ClassVar[int]
    pending: KeyPending
    terminal: _scope_pb2.Resolution
    def __init__(self, pending: _Optional[_Union[KeyPending, _Mapping]] = ..., terminal: _Optional[_Union[_scope_pb2.Resolution, _Mapping]] = ...) -> None: ...

class CancelRequest(_message.Message):
    __slots__ = ("key", "token")
    KEY_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    key: _scope_pb2.AwaitEventKey
    token: str
    def __init__(self, key: _Optional[_Union[_scope_pb2.AwaitEventKey, _Mapping]] = ..., token: _Optional[str] = ...) -> None: ...

class CancelResponse(_message.Message):
    __slots__ = ("outcome",)
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    outcome: _scope_pb2.ResolveOutcome
    def __init__(self, outcome: _Optional[_Union[_scope_pb2.ResolveOutcome, _Mapping]] = ...) -> None: ...

class RevokeKeyRequest(_message.Message):
    __slots__ = ("key", "token")
    KEY_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    key: _scope_pb2.AwaitEventKey
    token: str
    def __init__(self, key: _Optional[_Union[_scope_pb2.AwaitEventKey, _Mapping]] = ..., token: _Optional[str] = ...) -> None: ...

class RevokeKeyResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RevokeSessionRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class RevokeSessionResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CancelSessionWaitsRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class CancelSessionWaitsResponse(_message.Message):
    __slots__ = ("cancelled",)
    CANCELLED_FIELD_NUMBER: _ClassVar[int]
    cancelled: int
    def __init__(self, cancelled: _Optional[int] = ...) -> None: ...

class SigningKeyInfo(_message.Message):
    __slots__ = ("kid", "state", "created_at_unix_ms")
    KID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    kid: str
    state: SigningKeyState
    created_at_unix_ms: int
    def __init__(self, kid: _Optional[str] = ..., state: _Optional[_Union[SigningKeyState, str]] = ..., created_at_unix_ms: _Optional[int] = ...) -> None: ...

class ListSigningKeysRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListSigningKeysResponse(_message.Message):
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedCompositeFieldContainer[SigningKeyInfo]
    def __init__(self, keys: _Optional[_Iterable[_Union[SigningKeyInfo, _Mapping]]] = ...) -> None: ...

class RotateSigningKeyRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RotateSigningKeyResponse(_message.Message):
    __slots__ = ("active",)
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    active: SigningKeyInfo
    def __init__(self, active: _Optional[_Union[SigningKeyInfo, _Mapping]] = ...) -> None: ...

class RetireSigningKeyRequest(_message.Message):
    __slots__ = ("kid",)
    KID_FIELD_NUMBER: _ClassVar[int]
    kid: str
    def __init__(self, kid: _Optional[str] = ...) -> None: ...

class RetireSigningKeyResponse(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: SigningKeyInfo
    def __init__(self, key: _Optional[_Union[SigningKeyInfo, _Mapping]] = ...) -> None: ...

class ListSessionsRequest(_message.Message):
    __slots__ = ("limit",)
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    limit: int
    def __init__(self, limit: _Optional[int] = ...) -> None: ...

class SessionSummary(_message.Message):
    __slots__ = ("session_id", "pending", "resolved", "revoked", "last_activity_unix_ms")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_FIELD_NUMBER: _ClassVar[int]
    REVOKED_FIELD_NUMBER: _ClassVar[int]
    LAST_ACTIVITY_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    pending: int
    resolved: int
    revoked: bool
    last_activity_unix_ms: int
    def __init__(self, session_id: _Optional[str] = ..., pending: _Optional[int] = ..., resolved: _Optional[int] = ..., revoked: _Optional[bool] = ..., last_activity_unix_ms: _Optional[int] = ...) -> None: ...

class ListSessionsResponse(_message.Message):
    __slots__ = ("sessions",)
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    sessions: _containers.RepeatedCompositeFieldContainer[SessionSummary]
    def __init__(self, sessions: _Optional[_Iterable[_Union[SessionSummary, _Mapping]]] = ...) -> None: ...

class ListPendingKeysRequest(_message.Message):
    __slots__ = ("session_id", "limit")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    limit: int
    def __init__(self, session_id: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class PendingKey(_message.Message):
    __slots__ = ("key", "token", "deadline_unix_ms", "created_at_unix_ms")
    KEY_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    key: _scope_pb2.AwaitEventKey
    token: str
    deadline_unix_ms: int
    created_at_unix_ms: int
    def __init__(self, key: _Optional[_Union[_scope_pb2.AwaitEventKey, _Mapping]] = ..., token: _Optional[str] = ..., deadline_unix_ms: _Optional[int] = ..., created_at_unix_ms: _Optional[int] = ...) -> None: ...

class ListPendingKeysResponse(_message.Message):
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedCompositeFieldContainer[PendingKey]
    def __init__(self, keys: _Optional[_Iterable[_Union[PendingKey, _Mapping]]] = ...) -> None: ...
