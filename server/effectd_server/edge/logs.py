"""Caller-supplied text in logs: escaped (no forged lines) and truncated (no 4 MiB lines); the request id."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Iterable
from typing import Any

__all__ = ["MAX_LOGGED_CHARS", "MAX_REQUEST_ID_CHARS", "REQUEST_ID_KEY", "request_id", "safe"]

MAX_LOGGED_CHARS = 200

REQUEST_ID_KEY = "x-request-id"
"""The metadata key of a call's request id, echoed in the call's trailing metadata and in its log lines."""

MAX_REQUEST_ID_CHARS = 128
"""A caller's request id longer than this (or with anything but printable ASCII) is replaced."""


def safe(value: object, limit: int = MAX_LOGGED_CHARS) -> str:
    """`value` as one printable line: control characters, quotes and backslashes escaped, and cut to
    `limit` characters with the original length noted."""
    text = value if isinstance(value, str) else str(value)
    cut = text[:limit]
    escaped = cut.encode("unicode_escape").decode("ascii").replace('"', '\\"')
    if len(text) > limit:
        escaped += f"...({len(text)} chars)"
    return escaped


def request_id(metadata: Iterable[Any] | None) -> str:
    """The call's `x-request-id` when it is 1 to 128 printable ASCII characters, else a new one (32
    hex digits): what the server echoes and logs never carries a caller's newline or a 10 KiB line."""
    for key, value in metadata or ():
        if key == REQUEST_ID_KEY:
            if isinstance(value, str) and 0 < len(value) <= MAX_REQUEST_ID_CHARS and value.isascii():
                if value.isprintable():
                    return value
            break
    return new_request_id()


_ID_PREFIX = secrets.token_hex(6)
_ID_NUMBERS = itertools.count(1)


def new_request_id() -> str:
    """A request id unique across servers and calls: a random per-process prefix and a counter (no
    system call per request, unlike uuid4)."""
    return f"{_ID_PREFIX}{next(_ID_NUMBERS):020x}"
