"""lash-json: the exact JSON text lash writes (SEED-SPEC §0), the input of every hash and id.

Domain dataclasses declare their fields in lash's declaration order and describe their serde shape with
class attributes read here:

- ``LASH_TAG = ("type", "turn")``: internally tagged enum variant; the tag comes first.
- ``LASH_CONTENT = "payload"``: adjacently tagged variant; its single field is written under this key.
- ``LASH_EXTERNAL = "Ok"``: externally tagged newtype variant, ``{"Ok": <field>}``.
- ``LASH_OMIT_NONE = frozenset({...})``: fields left out when ``None`` (serde ``skip_serializing_if``);
  other ``None`` fields are written as ``null``.
- ``LASH_OMIT_EMPTY = frozenset({...})``: sequences left out when empty.
- ``LASH_RENAME = {"class_": "class"}``: JSON keys for fields whose lash name is a Python keyword.

Plain dicts are opaque JSON (``serde_json::Value``): their keys are sorted by UTF-8 bytes, recursively.
Tuples and lists are arrays. Floats use the shortest round-trip digits in serde_json's layout.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

__all__ = ["JsonValue", "dumps", "format_float", "sha256_hex", "to_lash"]

JsonValue = Any
"""Any JSON value: None, bool, int, float, str, list, dict[str, JsonValue]."""

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(ch: str) -> str:
    short = _ESCAPES.get(ch)
    if short is not None:
        return short
    return f"\\u{ord(ch):04x}"


_ESCAPE_TABLE = {i: _escape_char(chr(i)) for i in range(0x20)}
_ESCAPE_TABLE[ord('"')] = '\\"'
_ESCAPE_TABLE[ord("\\")] = "\\\\"


def _string(value: str) -> str:
    return '"' + value.translate(_ESCAPE_TABLE) + '"'


def format_float(value: float) -> str:
    """Format a float as serde_json (ryu) does: shortest digits, ``1e20``, ``1e-7``, ``1.0``, ``-0.0``."""
    if math.isnan(value) or math.isinf(value):
        raise ValueError("lash-json cannot represent NaN or infinity")
    if value == 0.0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    sign = "-" if value < 0 else ""
    # repr() gives the shortest round-trip digits; re-lay them out as ryu does.
    mantissa, _, exp_text = repr(abs(value)).partition("e")
    integer_part, _, fraction_part = mantissa.partition(".")
    all_digits = integer_part + fraction_part
    significant = all_digits.lstrip("0")
    # value == 0.<digits> * 10**point
    point = len(integer_part) - (len(all_digits) - len(significant)) + (int(exp_text) if exp_text else 0)
    digits = significant.rstrip("0")
    length = len(digits)
    if 0 <= point - length and point <= 16:
        return sign + digits + "0" * (point - length) + ".0"
    if 0 < point <= 16:
        return sign + digits[:point] + "." + digits[point:]
    if -5 < point <= 0:
        return sign + "0." + "0" * (-point) + digits
    sci_exponent = point - 1
    body = digits[0] + ("." + digits[1:] if length > 1 else "")
    return f"{sign}{body}e{sci_exponent}"


def _encode(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        out.append(format_float(value))
    elif isinstance(value, _Ordered):
        out.append("{")
        first = True
        for key, item in value.items:
            if not first:
                out.append(",")
            first = False
            out.append(_string(key))
            out.append(":")
            _encode(item, out)
        out.append("}")
    elif isinstance(value, Mapping):
        out.append("{")
        first = True
        for key in sorted(value, key=lambda k: k.encode("utf-8")):
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys must be strings, got {type(key).__name__}")
            if not first:
                out.append(",")
            first = False
            out.append(_string(key))
            out.append(":")
            _encode(value[key], out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _encode(item, out)
        out.append("]")
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        _encode(to_lash(value), out)
    else:
        raise TypeError(f"cannot render {type(value).__name__} as lash-json")


class _Ordered:
    """A struct or enum rendered with its keys in declaration order (never sorted)."""

    __slots__ = ("items",)

    def __init__(self, items: list[tuple[str, Any]]) -> None:
        self.items = items


def to_lash(obj: Any) -> Any:
    """The lash-json shape of a domain dataclass (an ordered object), or the value itself."""
    if not (dataclasses.is_dataclass(obj) and not isinstance(obj, type)):
        return obj
    cls = type(obj)
    omit_none: frozenset[str] = getattr(cls, "LASH_OMIT_NONE", frozenset())
    omit_empty: frozenset[str] = getattr(cls, "LASH_OMIT_EMPTY", frozenset())
    rename: Mapping[str, str] = getattr(cls, "LASH_RENAME", {})
    items: list[tuple[str, Any]] = []
    for field in dataclasses.fields(obj):
        value = getattr(obj, field.name)
        if value is None and field.name in omit_none:
            continue
        if field.name in omit_empty and not value:
            continue
        items.append((rename.get(field.name, field.name), to_lash(value)))
    external: str | None = getattr(cls, "LASH_EXTERNAL", None)
    if external is not None:
        return _Ordered([(external, items[0][1])])
    tag: tuple[str, str] | None = getattr(cls, "LASH_TAG", None)
    content: str | None = getattr(cls, "LASH_CONTENT", None)
    if tag is not None:
        head = [(tag[0], tag[1])]
        if content is not None:
            return _Ordered(head + ([(content, items[0][1])] if items else []))
        return _Ordered(head + items)
    return _Ordered(items)


def dumps(value: Any) -> str:
    """Render a domain object or JSON value as lash-json text."""
    out: list[str] = []
    _encode(value, out)
    return "".join(out)


def sha256_hex(value: Any) -> str:
    """Lowercase hex SHA-256 of the lash-json text (lash's ``stable_json_sha256_hex``)."""
    return hashlib.sha256(dumps(value).encode("utf-8")).hexdigest()


def loads(text: str | bytes) -> JsonValue:
    """Parse JSON text into plain values (numbers stay int where written as integers)."""
    return json.loads(text)
