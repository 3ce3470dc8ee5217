"""Caller-supplied text in logs: escaped (no forged lines) and truncated (no 4 MiB lines)."""

from __future__ import annotations

__all__ = ["MAX_LOGGED_CHARS", "safe"]

MAX_LOGGED_CHARS = 200


def safe(value: object, limit: int = MAX_LOGGED_CHARS) -> str:
    """`value` as one printable line: control characters, quotes and backslashes escaped, and cut to
    `limit` characters with the original length noted."""
    text = value if isinstance(value, str) else str(value)
    cut = text[:limit]
    escaped = cut.encode("unicode_escape").decode("ascii").replace('"', '\\"')
    if len(text) > limit:
        escaped += f"...({len(text)} chars)"
    return escaped
