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
Tuples and lists are arrays. Floats use the shortest round-trip digits in serde_json's layout. Integers
are exact within [-2**63, 2**64-1] (serde_json's i64/u64); an integer outside that range is rendered as
the f64 serde_json would hold for it (``10**30`` renders ``1e30``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Callable, Mapping
from typing import Any

from effectd._errors import InvalidArgumentError

__all__ = ["JsonValue", "dumps", "format_float", "format_int", "sha256_hex", "to_lash"]

JsonValue = Any
"""Any JSON value: None, bool, int, float, str, list, dict[str, JsonValue]."""

# serde_json escapes exactly what the json module's C encoder (ensure_ascii=False) escapes: `"`, `\\`,
# the short forms \b \f \n \r \t and other C0 controls as lowercase \u00xx. Golden tests pin this.
_string: Callable[[str], str] = json.encoder.encode_basestring


_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1


def format_int(value: int) -> str:
    """An integer as serde_json renders it: exact within i64/u64, else as the f64 it becomes."""
    if _INT_MIN <= value <= _INT_MAX:
        return str(value)
    try:
        as_float = float(value)
    except OverflowError:
        raise ValueError("lash-json cannot represent an integer beyond the f64 range") from None
    return format_float(as_float)


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


@dataclasses.dataclass(frozen=True, slots=True)
class _Spec:
    """How one domain class renders, read once from its LASH_* attributes."""

    fields: tuple[tuple[str, str], ...]
    """(attribute, JSON key) in declaration order."""
    omit_none: frozenset[str]
    omit_empty: frozenset[str]
    tag: tuple[str, str] | None
    content: str | None
    external: str | None


_SPECS: dict[type, _Spec] = {}


def _spec(cls: type) -> _Spec:
    spec = _SPECS.get(cls)
    if spec is None:
        rename: Mapping[str, str] = getattr(cls, "LASH_RENAME", {})
        spec = _Spec(
            fields=tuple((f.name, rename.get(f.name, f.name)) for f in dataclasses.fields(cls)),
            omit_none=getattr(cls, "LASH_OMIT_NONE", frozenset()),
            omit_empty=getattr(cls, "LASH_OMIT_EMPTY", frozenset()),
            tag=getattr(cls, "LASH_TAG", None),
            content=getattr(cls, "LASH_CONTENT", None),
            external=getattr(cls, "LASH_EXTERNAL", None),
        )
        _SPECS[cls] = spec
    return spec


def _items(value: Any, spec: _Spec) -> list[tuple[str, Any]]:
    items: list[tuple[str, Any]] = []
    for name, key in spec.fields:
        item = getattr(value, name)
        if item is None and name in spec.omit_none:
            continue
        if name in spec.omit_empty and not item:
            continue
        items.append((key, item))
    if spec.external is not None:
        return [(spec.external, items[0][1])]
    if spec.tag is not None:
        if spec.content is not None:
            return [spec.tag, *([(spec.content, items[0][1])] if items else [])]
        return [spec.tag, *items]
    return items


def _encode_items(items: list[tuple[str, Any]], out: list[str]) -> None:
    out.append("{")
    first = True
    for key, item in items:
        if not first:
            out.append(",")
        first = False
        out.append(_string(key))
        out.append(":")
        _encode(item, out)
    out.append("}")


def _encode(value: Any, out: list[str]) -> None:
    kind = type(value)
    if kind is str:
        out.append(_string(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif kind is int:
        out.append(str(value) if _INT_MIN <= value <= _INT_MAX else format_int(value))
    elif kind is dict:
        _encode_sorted(value, out)
    elif kind is list or kind is tuple:
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _encode(item, out)
        out.append("]")
    elif kind is float:
        out.append(format_float(value))
    elif kind is _Ordered:
        _encode_items(value.items, out)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        _encode_items(_items(value, _spec(kind)), out)
    elif isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, int):
        out.append(format_int(int(value)))
    elif isinstance(value, float):
        out.append(format_float(value))
    elif isinstance(value, Mapping):
        _encode_sorted(value, out)
    elif isinstance(value, list | tuple):
        _encode(list(value), out)
    else:
        raise InvalidArgumentError("invalid_json", f"cannot render {type(value).__name__} as lash-json")


def _encode_sorted(value: Mapping[str, Any], out: list[str]) -> None:
    for key in value:
        if not isinstance(key, str):
            raise InvalidArgumentError("invalid_json", f"JSON object keys must be strings, got {type(key).__name__}")
    _encode_items([(k, value[k]) for k in sorted(value, key=_utf8)], out)


def _utf8(key: str) -> bytes:
    return key.encode("utf-8")


class _Ordered:
    """A struct or enum rendered with its keys in declaration order (never sorted)."""

    __slots__ = ("items",)

    def __init__(self, items: list[tuple[str, Any]]) -> None:
        self.items = items


def to_lash(obj: Any) -> Any:
    """The lash-json shape of a domain dataclass (an ordered object), or the value itself."""
    if not (dataclasses.is_dataclass(obj) and not isinstance(obj, type)):
        return obj
    return _Ordered([(key, to_lash(item)) for key, item in _items(obj, _spec(type(obj)))])


def dumps(value: Any) -> str:
    """Render a domain object or JSON value as lash-json text."""
    out: list[str] = []
    try:
        _encode(value, out)
    except ValueError as exc:  # NaN, infinity, an integer beyond f64: not JSON
        raise InvalidArgumentError("invalid_json", str(exc)) from None
    except RecursionError:
        raise InvalidArgumentError("invalid_json", "the value is nested too deeply to render") from None
    return "".join(out)


def sha256_hex(value: Any) -> str:
    """Lowercase hex SHA-256 of the lash-json text (lash's ``stable_json_sha256_hex``)."""
    return hashlib.sha256(dumps(value).encode("utf-8")).hexdigest()


def loads(text: str | bytes) -> JsonValue:
    """Parse JSON text into plain values (numbers stay int where written as integers)."""
    return json.loads(text)
