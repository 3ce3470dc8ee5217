"""Strict JSON parsing: the values serde_json keeps, refused with ``invalid_json`` otherwise.

Every ``Json`` field of the contract is parsed here, so that what a runtime in any language sends is
read as lash (serde_json) would read it:

- integers within [-2**63, 2**64-1] stay exact ``int``; every other number is an ``float`` (f64): an
  integer literal outside that range becomes the nearest float, ``-0`` becomes ``-0.0``, ``1.0`` stays a
  float;
- refused: empty text, NaN / Infinity / -Infinity, numbers that overflow to infinity (``1e400``),
  duplicate object keys, nesting deeper than 128 arrays and objects, lone UTF-16 surrogate escapes
  (``"\\ud800"``), and anything after the value but whitespace.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from effectd._errors import InvalidArgumentError
from effectd._lashjson import JsonValue

__all__ = ["I64_MIN", "MAX_DEPTH", "U64_MAX", "parse_json"]

I64_MIN = -(2**63)
U64_MAX = 2**64 - 1
MAX_DEPTH = 128
"""serde_json's recursion limit: 128 nested arrays/objects parse, 129 do not."""

# Longest decimal integer literal that can still be in range ("-9223372036854775808" has 19 digits,
# "18446744073709551615" has 20); longer ones are floats without ever calling int() on them.
_MAX_INT_DIGITS = 20
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)
_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class _Refused(Exception):
    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


def _refuse_constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number")


def _parse_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _Refused(f"number {_excerpt(text)} is out of range for an f64")
    return value


def _parse_int(text: str) -> int | float:
    digits = len(text) - (text[0] == "-")
    if digits <= _MAX_INT_DIGITS:
        value = int(text)
        if value == 0 and text[0] == "-":
            return -0.0  # serde_json reads "-0" as the float -0.0
        if I64_MIN <= value <= U64_MAX:
            return value
    # Outside i64/u64: an f64, as serde_json reads it (correctly rounded from the decimal text).
    return _parse_float(text)


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Refused(f"duplicate object key {json.dumps(key)[:64]}")
            seen.add(key)
    return value


def _excerpt(text: str) -> str:
    return text if len(text) <= 32 else text[:32] + "..."


def _too_deep(text: str) -> bool:
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return False
    depth = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif token in "]}":
            depth -= 1
    return False


def _has_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return _SURROGATE.search(value) is not None
    if isinstance(value, list):
        return any(_has_surrogate(item) for item in value)
    if isinstance(value, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    return False


_DECODER = json.JSONDecoder(
    parse_constant=_refuse_constant, parse_int=_parse_int, parse_float=_parse_float, object_pairs_hook=_object
)
"""One decoder for every parse (json.loads with hooks would build one per call)."""


def parse_json(text: str, field: str) -> JsonValue:
    """Parse `text` strictly; `field` names it in the ``invalid_json`` error (e.g. "resolution.ok")."""
    if not text:
        raise InvalidArgumentError("invalid_json", f"{field}: empty text is not JSON")
    if _too_deep(text):
        raise InvalidArgumentError("invalid_json", f"{field}: nesting deeper than {MAX_DEPTH} levels")
    try:
        value = _DECODER.decode(text)
    except _Refused as exc:
        raise InvalidArgumentError("invalid_json", f"{field}: {exc.why}") from None
    except json.JSONDecodeError as exc:
        raise InvalidArgumentError(
            "invalid_json", f"{field}: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except (ValueError, RecursionError) as exc:
        raise InvalidArgumentError("invalid_json", f"{field}: {exc}") from None
    if (_SURROGATE_ESCAPE.search(text) is not None or _SURROGATE.search(text) is not None) and _has_surrogate(value):
        raise InvalidArgumentError("invalid_json", f"{field}: a lone UTF-16 surrogate is not a Unicode scalar value")
    return value
