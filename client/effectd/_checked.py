"""Type checks for the SDK's domain dataclasses: a wrong type raises `InvalidArgumentError` with a code
(`invalid_request`) naming the class and field, at construction, instead of a TypeError or
AttributeError somewhere later (in lash-json rendering or protobuf conversion).

A dataclass opts in by deriving from `Checked` (its `__post_init__` runs the checks). Annotations are
read once per class. Only what can be checked cheaply is: plain types, unions, optional fields, enums
(a str that names a member is taken as that member), literals, and the container type of
lists, tuples and dicts. JSON values (`Any`) are not checked here: the lash-json renderer refuses what
is not JSON.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import enum
import sys
import types
import typing
from collections.abc import Callable
from typing import Any

from effectd._errors import InvalidArgumentError

__all__ = ["Checked", "check_fields"]

_NO_CHANGE = object()


class Checked:
    """Mixin for frozen dataclasses whose fields are type-checked on construction."""

    __slots__ = ()

    def __post_init__(self) -> None:
        check_fields(self)


def _describe(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _accepts(hint: Any) -> Callable[[Any], Any] | None:
    """A function of a value: _NO_CHANGE when it fits `hint`, a replacement (an enum member for its
    name), or raises LookupError when it does not fit; None when `hint` is not checked."""
    if hint is Any or isinstance(hint, typing.TypeVar):
        return None
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        options = [_accepts(arg) for arg in typing.get_args(hint)]
        if any(option is None for option in options):
            return None
        checks = [o for o in options if o is not None]

        def union(value: Any) -> Any:
            for check in checks:
                try:
                    return check(value)
                except LookupError:
                    continue
            raise LookupError

        return union
    if origin is typing.Literal:
        allowed = typing.get_args(hint)

        def literal(value: Any) -> Any:
            if value in allowed and not isinstance(value, bool):
                return _NO_CHANGE
            raise LookupError

        return literal
    if origin is typing.ClassVar:
        return None
    if origin is not None:
        hint = origin
    if hint is type(None):
        return _instance((type(None),))
    if hint in (list, tuple, collections.abc.Sequence):
        return _instance((list, tuple))
    if not isinstance(hint, type):
        return None
    if issubclass(hint, enum.Enum):
        members = hint

        def member(value: Any) -> Any:
            if isinstance(value, members):
                return _NO_CHANGE
            try:
                return members(value)
            except (ValueError, TypeError):
                raise LookupError from None

        return member
    if hint is float:
        return _instance((int, float))
    if hint is int:
        return _instance((int,))
    return _instance((hint,))


def _instance(allowed: tuple[type, ...]) -> Callable[[Any], Any]:
    strict_int = bool in allowed or int not in allowed

    def instance(value: Any) -> Any:
        if isinstance(value, allowed) and (strict_int or not isinstance(value, bool)):
            return _NO_CHANGE
        raise LookupError

    return instance


_PLANS: dict[type, list[tuple[str, str, Callable[[Any], Any]]]] = {}


def _plan(cls: type) -> list[tuple[str, str, Callable[[Any], Any]]]:
    plan = _PLANS.get(cls)
    if plan is None:
        module = sys.modules[cls.__module__]
        try:
            hints = typing.get_type_hints(cls, vars(module))
        except (NameError, TypeError):  # an annotation that cannot be resolved here: check nothing
            hints = {}
        plan = []
        for item in dataclasses.fields(cls):
            check = _accepts(hints.get(item.name, Any))
            if check is not None:
                plan.append((item.name, _describe(hints[item.name]), check))
        _PLANS[cls] = plan
    return plan


def check_fields(obj: Any) -> None:
    """Raise `invalid_request` when a field of `obj` has the wrong type; turn enum names into members."""
    cls = type(obj)
    for name, expected, check in _plan(cls):
        value = getattr(obj, name)
        try:
            replacement = check(value)
        except LookupError:
            raise InvalidArgumentError(
                "invalid_request",
                f"{cls.__name__}.{name} must be {expected}, got {type(value).__name__} {_short(value)}",
            ) from None
        if replacement is not _NO_CHANGE:
            object.__setattr__(obj, name, replacement)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "..."
