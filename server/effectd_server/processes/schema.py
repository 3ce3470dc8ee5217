"""lash's `LashSchema` payload check: the small JSON-schema subset lash validates event payloads with.

Not a general JSON Schema validator: it reads exactly the keywords lash reads (`anyOf`/`oneOf`, `enum`,
`type`, `maximum`/`minimum`, `maxLength`/`minLength`, `maxItems`/`minItems`, `items`, `required`,
`properties` with `additionalProperties`), in lash's order, and answers lash's first error text (path,
expectation, value). Other keywords are ignored, as lash ignores them. Values compare as serde_json
values do: `1` and `1.0` differ, `true` is not `1`.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from effectd._lashjson import JsonValue, dumps

__all__ = ["json_equal", "validate_payload"]

_INTERNAL_ARGUMENT = "__session_id__"


def validate_payload(schema: JsonValue, value: JsonValue) -> str | None:
    """None when `value` satisfies `schema`, else lash's error text (e.g. `line: required property missing`)."""
    return _validate("", schema, value)


def json_equal(left: JsonValue, right: JsonValue) -> bool:
    """serde_json `Value` equality: numbers equal only in the same representation (int vs float)."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, int) and isinstance(right, int):
        return left == right
    if isinstance(left, float) and isinstance(right, float):
        return left == right
    if isinstance(left, int | float) or isinstance(right, int | float):
        return False
    if isinstance(left, str) or isinstance(right, str):
        return isinstance(left, str) and isinstance(right, str) and left == right
    if left is None or right is None:
        return left is None and right is None
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        return len(left) == len(right) and all(json_equal(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(json_equal(left[k], right[k]) for k in left)
    return False


def _get(schema: JsonValue, key: str) -> Any:
    """serde_json's `Value::get`: None for a missing key or a schema that is not an object."""
    return schema.get(key) if isinstance(schema, dict) else None


def _is_number(value: JsonValue) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _as_f64(value: JsonValue) -> float | None:
    return float(value) if _is_number(value) else None


def _as_u64(value: JsonValue) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**64:
        return value
    return None


def _fail(path: str, schema: JsonValue, value: JsonValue) -> str:
    return f"{_display_path(path)}: expected {_expected(schema)}, got {_display_value(value)}"


def _validate(path: str, schema: JsonValue, value: JsonValue) -> str | None:
    any_of = _get(schema, "anyOf")
    if any_of is None:
        any_of = _get(schema, "oneOf")
    if isinstance(any_of, list):
        if any(_validate(path, sub, value) is None for sub in any_of):
            return None
        return _fail(path, schema, value)

    enum_values = _get(schema, "enum")
    if isinstance(enum_values, list) and not any(json_equal(candidate, value) for candidate in enum_values):
        choices = ", ".join(_display_value(v) for v in enum_values)
        return f"{_display_path(path)}: expected one of {choices}, got {_display_value(value)}"

    type_value = _get(schema, "type")
    if type_value is not None and not _matches_type(type_value, value):
        return _fail(path, schema, value)

    actual = _as_f64(value)
    maximum = _as_f64(_get(schema, "maximum"))
    if maximum is not None and actual is not None and actual > maximum:
        return _fail(path, schema, value)
    minimum = _as_f64(_get(schema, "minimum"))
    if minimum is not None and actual is not None and actual < minimum:
        return _fail(path, schema, value)

    if isinstance(value, str):
        max_length = _as_u64(_get(schema, "maxLength"))
        if max_length is not None and len(value) > max_length:
            return _fail(path, schema, value)
        min_length = _as_u64(_get(schema, "minLength"))
        if min_length is not None and len(value) < min_length:
            return _fail(path, schema, value)

    if isinstance(value, list):
        max_items = _as_u64(_get(schema, "maxItems"))
        if max_items is not None and len(value) > max_items:
            return f"{_display_path(path)}: expected {_expected(schema)}, got {len(value)} items"
        min_items = _as_u64(_get(schema, "minItems"))
        if min_items is not None and len(value) < min_items:
            return f"{_display_path(path)}: expected {_expected(schema)}, got {len(value)} items"
        item_schema = _get(schema, "items")
        if item_schema is not None:
            for index, item in enumerate(value):
                error = _validate(f"{path}[{index}]", item_schema, item)
                if error is not None:
                    return error

    if isinstance(value, dict):
        return _validate_object(path, schema, value)
    return None


def _validate_object(path: str, schema: JsonValue, value: dict[str, Any]) -> str | None:
    required = _get(schema, "required")
    if isinstance(required, list):
        for name in required:
            if isinstance(name, str) and name not in value:
                return f"{_join_path(path, name)}: required property missing"
    properties = _get(schema, "properties")
    if not isinstance(properties, dict):
        return None
    # serde_json maps are ordered by key: check properties, then extra keys, in that order.
    for name in sorted(properties, key=_utf8):
        if name in value:
            error = _validate(_join_path(path, name), properties[name], value[name])
            if error is not None:
                return error
    additional = _get(schema, "additionalProperties")
    if additional is True:
        return None
    for name in sorted(value, key=_utf8):
        if name == _INTERNAL_ARGUMENT or name in properties:
            continue
        if isinstance(additional, dict):
            error = _validate(_join_path(path, name), additional, value[name])
            if error is not None:
                return error
        else:
            return f"{_join_path(path, name)}: unexpected property"
    return None


def _utf8(key: str) -> bytes:
    return key.encode("utf-8")


def _matches_type(type_value: JsonValue, value: JsonValue) -> bool:
    if isinstance(type_value, str):
        return _matches_single_type(type_value, value)
    if isinstance(type_value, list):
        return any(_matches_single_type(t, value) for t in type_value if isinstance(t, str))
    return True


def _matches_single_type(name: str, value: JsonValue) -> bool:
    if name == "null":
        return value is None
    if name == "boolean":
        return isinstance(value, bool)
    if name == "string":
        return isinstance(value, str)
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return _is_number(value)
    if name == "array":
        return isinstance(value, list | tuple)
    if name == "object":
        return isinstance(value, dict)
    return True


def _expected(schema: JsonValue) -> str:
    parts: list[str] = []
    type_value = _get(schema, "type")
    if type_value is not None:
        parts.append(_type_description(type_value))
    elif _get(schema, "anyOf") is not None or _get(schema, "oneOf") is not None:
        parts.append("matching schema")
    for key, label in (
        ("minimum", ">= "),
        ("maximum", "<= "),
        ("minLength", "length >= "),
        ("maxLength", "length <= "),
        ("minItems", "items >= "),
        ("maxItems", "items <= "),
    ):
        bound = _get(schema, key)
        if bound is not None:
            parts.append(label + _display_value(bound))
    return " ".join(parts) if parts else "valid value"


def _type_description(type_value: JsonValue) -> str:
    if isinstance(type_value, str):
        return type_value
    if isinstance(type_value, list):
        return " or ".join(t for t in type_value if isinstance(t, str))
    return "valid value"


def _display_path(path: str) -> str:
    return path or "arguments"


def _join_path(base: str, key: str) -> str:
    return f"{base}.{key}" if base else key


def _display_value(value: JsonValue) -> str:
    if isinstance(value, str):
        return _rust_debug_str(value)
    return dumps(value)


_SHORT_ESCAPES = {"\t": "\\t", "\r": "\\r", "\n": "\\n", "\\": "\\\\", '"': '\\"', "\0": "\\0"}


def _rust_debug_str(text: str) -> str:
    """A string as Rust's `{:?}` writes it: quoted, with `\\t \\r \\n \\\\ \\" \\0` and `\\u{..}` for
    characters that are not printable."""
    out = ['"']
    for char in text:
        escaped = _SHORT_ESCAPES.get(char)
        if escaped is not None:
            out.append(escaped)
        elif unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp") or (
            unicodedata.category(char) == "Zs" and char != " "
        ):
            out.append(f"\\u{{{ord(char):x}}}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)
