"""Execution scopes, await-event identities, keys and resolutions (SEED-SPEC §2), as frozen dataclasses.

Field order is lash's declaration order: `_lashjson` renders these exactly as lash does.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from effectd._checked import Checked
from effectd._errors import EffectdError, InvalidArgumentError
from effectd._json import parse_json
from effectd._lashjson import JsonValue, dumps, sha256_hex

__all__ = [
    "TOKEN_PREFIX",
    "Accepted",
    "AlreadyResolved",
    "AwaitEventKey",
    "AwaitEventWaitIdentity",
    "Cancelled",
    "CustomWait",
    "Err",
    "ExecutionScope",
    "ExternalCompletionError",
    "InvalidTokenError",
    "Ok",
    "ProcessScope",
    "ProcessSignalWait",
    "QueueDrainScope",
    "Resolution",
    "ResolveOutcome",
    "RuntimeOperationScope",
    "SessionDeleteScope",
    "Timeout",
    "ToolCompletionWait",
    "TurnScope",
    "UnknownOrRevoked",
    "await_event_key_id",
    "key_from_lash",
    "key_from_token",
    "key_token",
    "resolution_from_lash",
    "scope_from_lash",
    "validate_scope",
    "validate_wait",
    "wait_from_lash",
]

MISSING_SCOPE_ID = "missing_execution_scope_id"
INVALID_WAIT = "invalid_await_event_wait_identity"


@dataclass(frozen=True, slots=True)
class TurnScope(Checked):
    session_id: str
    turn_id: str
    LASH_TAG: ClassVar = ("type", "turn")

    @property
    def id(self) -> str:
        return self.turn_id

    @property
    def session(self) -> str | None:
        return self.session_id


@dataclass(frozen=True, slots=True)
class ProcessScope(Checked):
    process_id: str
    LASH_TAG: ClassVar = ("type", "process")

    @property
    def id(self) -> str:
        return self.process_id

    @property
    def session(self) -> str | None:
        return None


@dataclass(frozen=True, slots=True)
class QueueDrainScope(Checked):
    session_id: str
    drain_id: str
    LASH_TAG: ClassVar = ("type", "queue_drain")

    @property
    def id(self) -> str:
        return self.drain_id

    @property
    def session(self) -> str | None:
        return self.session_id


@dataclass(frozen=True, slots=True)
class SessionDeleteScope(Checked):
    session_id: str
    LASH_TAG: ClassVar = ("type", "session_delete")

    @property
    def id(self) -> str:
        return self.session_id

    @property
    def session(self) -> str | None:
        return self.session_id


@dataclass(frozen=True, slots=True)
class RuntimeOperationScope(Checked):
    operation_id: str
    LASH_TAG: ClassVar = ("type", "runtime_operation")

    @property
    def id(self) -> str:
        return self.operation_id

    @property
    def session(self) -> str | None:
        return None


ExecutionScope = TurnScope | ProcessScope | QueueDrainScope | SessionDeleteScope | RuntimeOperationScope
"""The seed's `ExecutionScope`: `.id` is the stable id, `.session` the session id where there is one."""


@dataclass(frozen=True, slots=True)
class ToolCompletionWait(Checked):
    tool_call_id: str
    LASH_TAG: ClassVar = ("type", "tool_completion")


@dataclass(frozen=True, slots=True)
class ProcessSignalWait(Checked):
    process_id: str
    signal_name: str
    ordinal: int
    LASH_TAG: ClassVar = ("type", "process_signal")


@dataclass(frozen=True, slots=True)
class CustomWait(Checked):
    key: str
    LASH_TAG: ClassVar = ("type", "custom")


AwaitEventWaitIdentity = ToolCompletionWait | ProcessSignalWait | CustomWait


@dataclass(frozen=True, slots=True)
class AwaitEventKey(Checked):
    """A signed await-event key; pass it as is to whoever will resolve it."""

    scope: ExecutionScope
    wait: AwaitEventWaitIdentity
    key_id: str
    signature: str

    def __hash__(self) -> int:
        # key_id and signature already identify the key; equality still compares every field.
        return hash((self.key_id, self.signature))

    @property
    def promise_key(self) -> str:
        return "lash-await-event:" + self.key_id

    def to_json(self) -> str:
        """The key as lash-json text (what the CLI prints and reads)."""
        return dumps(self)

    @property
    def token(self) -> str:
        """The key as one URL-safe string ("ek1_..."), accepted wherever a key is."""
        return key_token(self)


@dataclass(frozen=True, slots=True)
class ExternalCompletionError(Checked):
    code: str
    message: str
    raw: JsonValue = None
    LASH_OMIT_NONE: ClassVar = frozenset({"raw"})


@dataclass(frozen=True, slots=True)
class Ok(Checked):
    """The awaited work succeeded with `payload`."""

    payload: JsonValue
    LASH_TAG: ClassVar = ("status", "ok")
    LASH_CONTENT: ClassVar = "payload"


@dataclass(frozen=True, slots=True)
class Err(Checked):
    """The awaited work failed."""

    payload: ExternalCompletionError
    LASH_TAG: ClassVar = ("status", "err")
    LASH_CONTENT: ClassVar = "payload"


@dataclass(frozen=True, slots=True)
class Timeout(Checked):
    """The key's deadline passed before anyone resolved it."""

    LASH_TAG: ClassVar = ("status", "timeout")


@dataclass(frozen=True, slots=True)
class Cancelled(Checked):
    """The wait was cancelled."""

    LASH_TAG: ClassVar = ("status", "cancelled")


Resolution = Ok | Err | Timeout | Cancelled


@dataclass(frozen=True, slots=True)
class Accepted(Checked):
    """This resolve was the first: its resolution is the key's terminal."""

    LASH_TAG: ClassVar = ("status", "accepted")


@dataclass(frozen=True, slots=True)
class AlreadyResolved(Checked):
    """Another resolve won; `terminal` is the winner's resolution."""

    terminal: Resolution
    LASH_TAG: ClassVar = ("status", "already_resolved")


@dataclass(frozen=True, slots=True)
class UnknownOrRevoked(Checked):
    """The key is unknown, tampered with, signed by a retired key, or revoked."""

    LASH_TAG: ClassVar = ("status", "unknown_or_revoked")


ResolveOutcome = Accepted | AlreadyResolved | UnknownOrRevoked


# Rust's `str::trim` strips Unicode White_Space, which differs from Python's str.strip() (U+001C-U+001F).
RUST_WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


def blank(value: str) -> bool:
    """True when `value` is empty after Rust's `trim()`."""
    return not value.strip(RUST_WHITESPACE)


def validate_scope(scope: ExecutionScope) -> None:
    """The seed's `ExecutionScope::validate`: every id non-empty after trimming."""
    ids: tuple[str, ...]
    match scope:
        case TurnScope(session_id=s, turn_id=t) | QueueDrainScope(session_id=s, drain_id=t):
            ids = (s, t)
        case ProcessScope(process_id=p):
            ids = (p,)
        case SessionDeleteScope(session_id=s):
            ids = (s,)
        case RuntimeOperationScope(operation_id=o):
            ids = (o,)
        case _:
            raise InvalidArgumentError(MISSING_SCOPE_ID, "execution scopes require non-empty stable ids")
    if any(blank(i) for i in ids):
        raise InvalidArgumentError(MISSING_SCOPE_ID, "execution scopes require non-empty stable ids")


def validate_wait(wait: AwaitEventWaitIdentity) -> None:
    """The seed's `AwaitEventWaitIdentity::validate`: ids non-empty after trimming, ordinal not 0."""
    ok: bool
    match wait:
        case ToolCompletionWait(tool_call_id=c):
            ok = not blank(c)
        case ProcessSignalWait(process_id=p, signal_name=n, ordinal=o):
            ok = not blank(p) and not blank(n) and o != 0
        case CustomWait(key=k):
            ok = not blank(k)
        case _:
            ok = False
    if not ok:
        raise InvalidArgumentError(INVALID_WAIT, "await-event wait identity requires non-empty stable ids")


def await_event_key_id(scope: ExecutionScope, wait: AwaitEventWaitIdentity) -> str:
    """key_id = sha256(lash-json([scope, wait])) after validating both (SEED-SPEC §2.4)."""
    validate_scope(scope)
    validate_wait(wait)
    return sha256_hex((scope, wait))


# -- reading lash JSON back (stored terminals, keys given on the command line) -------------------

_SCOPES: dict[str, type[ExecutionScope]] = {
    "turn": TurnScope,
    "process": ProcessScope,
    "queue_drain": QueueDrainScope,
    "session_delete": SessionDeleteScope,
    "runtime_operation": RuntimeOperationScope,
}
_WAITS: dict[str, type[AwaitEventWaitIdentity]] = {
    "tool_completion": ToolCompletionWait,
    "process_signal": ProcessSignalWait,
    "custom": CustomWait,
}


def _tagged(
    value: JsonValue, tag: str, variants: dict[str, type[Any]], what: str, check: Callable[[dict[str, Any]], None]
) -> Any:
    if not isinstance(value, dict) or value.get(tag) not in variants:
        known = ", ".join(variants)
        raise InvalidArgumentError("invalid_request", f"{what} must be an object with {tag!r} one of {known}")
    cls = variants[value[tag]]
    fields = {k: v for k, v in value.items() if k != tag}
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in fields if k not in names]
    missing = [n for n in names if n not in fields]
    if unknown or missing:
        problem = f"unknown field {unknown[0]!r}" if unknown else f"missing field {missing[0]!r}"
        raise InvalidArgumentError(
            "invalid_request", f"{what} of type {value[tag]!r}: {problem} (its fields: {', '.join(names)})"
        )
    check(fields)
    return cls(**fields)


def _check_scope_fields(fields: dict[str, Any]) -> None:
    if not all(isinstance(v, str) for v in fields.values()):
        raise InvalidArgumentError(MISSING_SCOPE_ID, "execution scopes require non-empty stable ids")


def _check_wait_fields(fields: dict[str, Any]) -> None:
    if not all(isinstance(v, str) for k, v in fields.items() if k != "ordinal"):
        raise InvalidArgumentError(INVALID_WAIT, "await-event wait identity requires non-empty stable ids")
    if "ordinal" in fields:
        ordinal = fields["ordinal"]
        if not isinstance(ordinal, int) or isinstance(ordinal, bool) or not 0 <= ordinal < 2**64:
            raise InvalidArgumentError(INVALID_WAIT, "process_signal ordinal must be an integer from 1 to 2**64-1")


def scope_from_lash(value: JsonValue) -> ExecutionScope:
    scope: ExecutionScope = _tagged(value, "type", _SCOPES, "execution scope", _check_scope_fields)
    return scope


def wait_from_lash(value: JsonValue) -> AwaitEventWaitIdentity:
    wait: AwaitEventWaitIdentity = _tagged(value, "type", _WAITS, "await-event wait identity", _check_wait_fields)
    return wait


def key_from_lash(value: JsonValue) -> AwaitEventKey:
    """An AwaitEventKey from its lash JSON (as `AwaitEventKey.to_json` writes it)."""
    if not isinstance(value, dict):
        raise InvalidArgumentError("invalid_await_event_key", "an await-event key must be a JSON object")
    key_id, signature = value.get("key_id"), value.get("signature")
    if not isinstance(key_id, str) or not isinstance(signature, str):
        raise InvalidArgumentError("invalid_await_event_key", "an await-event key needs key_id and signature")
    return AwaitEventKey(
        scope=scope_from_lash(value.get("scope")),
        wait=wait_from_lash(value.get("wait")),
        key_id=key_id,
        signature=signature,
    )


def resolution_from_lash(value: JsonValue) -> Resolution:
    """A Resolution from its lash JSON, e.g. {"status":"ok","payload":...}."""
    status = value.get("status") if isinstance(value, dict) else None
    if status == "ok":
        return Ok(value.get("payload"))
    if status == "err":
        payload = value.get("payload")
        if not isinstance(payload, dict) or not isinstance(payload.get("code"), str):
            raise InvalidArgumentError("invalid_resolution", "an err resolution needs a code and a message")
        return Err(ExternalCompletionError(payload["code"], str(payload.get("message", "")), payload.get("raw")))
    if status == "timeout":
        return Timeout()
    if status == "cancelled":
        return Cancelled()
    raise InvalidArgumentError("invalid_resolution", "a resolution's status is ok, err, timeout or cancelled")


# -- key tokens ---------------------------------------------------------------------------------
# ``ek1_`` then base64url without padding of the lash-json ``[scope, wait, signature]``. The key_id is not
# carried: it is recomputed. Only the canonical encoding decodes (the base64 text its bytes encode to, the
# JSON text lash-json renders), so every token has one spelling and a changed character is refused here
# or fails signature verification on the server.
TOKEN_PREFIX = "ek1_"
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
_MAX_TOKEN_CHARS = 64 * 1024


class InvalidTokenError(ValueError):
    """The text is not a canonical key token."""


def key_token(key: AwaitEventKey) -> str:
    """The key's token."""
    payload = dumps((key.scope, key.wait, key.signature)).encode("utf-8")
    return TOKEN_PREFIX + base64.urlsafe_b64encode(payload).rstrip(b"=").decode("ascii")


def _payload(token: str) -> bytes:
    if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX):
        raise InvalidTokenError(f"a key token starts with {TOKEN_PREFIX!r}")
    if len(token) > _MAX_TOKEN_CHARS:
        raise InvalidTokenError("the key token is too long")
    body = token[len(TOKEN_PREFIX) :]
    if not body or _BASE64URL.fullmatch(body) is None or len(body) % 4 == 1:
        raise InvalidTokenError("a key token is base64url without padding")
    try:
        payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        raise InvalidTokenError("a key token is base64url without padding") from None
    if base64.urlsafe_b64encode(payload).rstrip(b"=").decode("ascii") != body:
        raise InvalidTokenError("the key token is not canonically encoded")
    return payload


def key_from_token(token: str) -> AwaitEventKey:
    """The key a token holds; InvalidTokenError unless `token` is exactly what `key_token` writes."""
    payload = _payload(token)
    try:
        text = payload.decode("utf-8")
        value = parse_json(text, "token")
        if not isinstance(value, list) or len(value) != 3 or not isinstance(value[2], str):
            raise InvalidTokenError("a key token holds [scope, wait, signature]")
        scope, wait, signature = scope_from_lash(value[0]), wait_from_lash(value[1]), value[2]
        key_id = await_event_key_id(scope, wait)
    except UnicodeDecodeError:
        raise InvalidTokenError("the key token is not UTF-8") from None
    except EffectdError as exc:
        raise InvalidTokenError(f"the key token does not hold a key: {exc.message}") from None
    if dumps((scope, wait, signature)) != text:
        raise InvalidTokenError("the key token is not canonically encoded")
    if not signature:
        raise InvalidTokenError("the key token has no signature")
    return AwaitEventKey(scope, wait, key_id, signature)
