"""Key tokens: an await-event key as one URL-safe string.

``ek1_`` then base64url without padding of the lash-json ``[scope, wait, signature]``. The key_id is not
carried: it is ``sha256(lash-json([scope, wait]))`` and is recomputed. Only the canonical encoding decodes:
the base64 text must be the one its bytes encode to, and the JSON text the one lash-json renders for the
decoded values, so every token has exactly one spelling and any changed character is refused here or
fails signature verification on the server.
"""

from __future__ import annotations

import base64
import binascii
import re

from effectd._errors import EffectdError
from effectd._json import parse_json
from effectd._lashjson import dumps
from effectd._scope import AwaitEventKey, await_event_key_id, scope_from_lash, wait_from_lash

__all__ = ["TOKEN_PREFIX", "InvalidTokenError", "key_from_token", "key_token"]

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
