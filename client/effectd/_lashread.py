"""Reading lash JSON back into domain types: the small strict checks every `*_from_lash` helper shares.

Each raises `InvalidArgumentError("invalid_request", ...)` naming what was being read and what was wrong.
"""

from __future__ import annotations

from typing import Any

from effectd._errors import InvalidArgumentError
from effectd._lashjson import JsonValue

__all__ = ["bad", "json_object", "json_str", "json_uint", "json_variant"]


def bad(what: str, detail: str) -> InvalidArgumentError:
    return InvalidArgumentError("invalid_request", f"{what} {detail}")


def json_object(value: JsonValue, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad(what, "must be a JSON object")
    return value


def json_str(obj: dict[str, Any], name: str, what: str, *, optional: bool = False) -> Any:
    """`obj[name]` as a string (None when absent and `optional`)."""
    value = obj.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise bad(what, f"needs a string {name!r}")
    return value


def json_uint(obj: dict[str, Any], name: str, what: str, *, optional: bool = False) -> Any:
    """`obj[name]` as a non-negative integer (None when absent and `optional`)."""
    value = obj.get(name)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise bad(what, f"needs a non-negative integer {name!r}")
    return value


def json_variant(value: JsonValue, tag: str, what: str) -> tuple[str, dict[str, Any]]:
    """An internally tagged enum's variant name (the `tag` field) and its object."""
    obj = json_object(value, what)
    name = obj.get(tag)
    if not isinstance(name, str):
        raise bad(what, f"needs a {tag!r} tag")
    return name, obj
