"""await_events.proto ⇄ domain: key references (a structured key or its token) and watch events.

Both directions side by side. The server side of a key reference (decoding a token, answering an
undecodable one like a tampered key) lives in the server; here is what every side shares.
"""

from __future__ import annotations

from typing import Any

from effectd._convert_scope import key_from_proto, key_to_proto
from effectd._errors import InvalidArgumentError
from effectd._scope import AwaitEventKey, key_token
from effectd.v1 import await_events_pb2 as pb

__all__ = ["KeyRef", "key_ref_from_proto", "key_ref_to_proto", "minted_key_from_proto", "minted_key_to_proto"]

KeyRef = AwaitEventKey | str
"""A key as the SDK takes it: the structured key, or its token."""


def key_ref_to_proto(value: KeyRef) -> dict[str, Any]:
    """The `key_ref` oneof of a request as keyword arguments: `key=` for a key, `token=` for a token."""
    if isinstance(value, str):
        return {"token": value}
    if isinstance(value, AwaitEventKey):
        return {"key": key_to_proto(value)}
    raise InvalidArgumentError("invalid_request", f"not an await-event key or token: {value!r}")


def key_ref_from_proto(request: Any) -> KeyRef:
    """The key a request refers to: the structured key, or the token as sent (not decoded here)."""
    which = request.WhichOneof("key_ref")
    if which == "key":
        return key_from_proto(request.key)
    if which == "token":
        return str(request.token)
    raise InvalidArgumentError("invalid_await_event_key", "an await-event key (or its token) is required")


def minted_key_from_proto(response: pb.MintKeyResponse) -> AwaitEventKey:
    """The minted key; its token (`response.token`) is `key.token`, computed from the key itself."""
    return key_from_proto(response.key)


def minted_key_to_proto(key: AwaitEventKey) -> pb.MintKeyResponse:
    return pb.MintKeyResponse(key=key_to_proto(key), token=key_token(key))
