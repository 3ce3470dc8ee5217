"""Ranges of numeric request fields and sizes of ids, checked at the edge (INVALID_ARGUMENT).

The ranges are the ones documented in the proto comments; the sizes come from `LimitsConfig`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from effectd._errors import InvalidArgumentError

__all__ = [
    "MAX_CURSOR",
    "MAX_DEADLINE_UNIX_MS",
    "MAX_DURATION_MS",
    "MAX_HEARTBEAT_MS",
    "MAX_LEASE_TTL_MS",
    "MAX_PAGE_SIZE",
    "MAX_TIMEOUT_MS",
    "check_id",
    "check_ids",
    "check_size",
    "in_range",
]

MAX_TIMEOUT_MS = 315_360_000_000
"""Ten years."""
MAX_DEADLINE_UNIX_MS = 253_402_300_799_999
"""9999-12-31T23:59:59.999Z."""
MAX_HEARTBEAT_MS = 3_600_000
MAX_LEASE_TTL_MS = 86_400_000
MAX_DURATION_MS = 315_360_000_000
MAX_CURSOR = 2**63 - 1
MAX_PAGE_SIZE = 1000


def in_range(field: str, value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        raise InvalidArgumentError("value_out_of_range", f"{field} must be between {low} and {high}, got {value}")
    return value


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(field.name for field in dataclasses.fields(cls))
    return names


def check_id(what: str, value: str, max_bytes: int) -> str:
    """`value` when it is an id of at most `max_bytes` (UTF-8), else `id_too_long` naming the limit."""
    if len(value) > max_bytes // 4 and len(value.encode("utf-8")) > max_bytes:
        raise InvalidArgumentError("id_too_long", f"{what} is longer than the limit of {max_bytes} bytes")
    return value


def check_ids(value: Any, what: str, max_bytes: int) -> None:
    """Every string field of the domain dataclass `value` (recursively) is an id of at most `max_bytes`."""
    if not dataclasses.is_dataclass(value) or isinstance(value, type):
        return
    for name in _field_names(type(value)):
        item = getattr(value, name)
        if isinstance(item, str):
            if len(item) > max_bytes // 4 and len(item.encode("utf-8")) > max_bytes:
                raise InvalidArgumentError(
                    "id_too_long", f"{what}.{name} is longer than the limit of {max_bytes} bytes"
                )
        elif dataclasses.is_dataclass(item):
            check_ids(item, f"{what}.{name}", max_bytes)


def check_size(what: str, size: int, limit: int, code: str) -> None:
    if size > limit:
        raise InvalidArgumentError(code, f"{what} is {size} bytes, larger than the limit of {limit} bytes")
