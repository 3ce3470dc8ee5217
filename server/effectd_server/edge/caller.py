"""Who is calling: set by the edge for each call (its role when tokens are configured, and its address), read
where a record keeps who made it (a key's terminal: `resolved_by`). A context variable, so the handler's
task and what it awaits see their own call's caller."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

__all__ = ["as_caller", "current_caller", "enter_call"]

_CALLER: ContextVar[tuple[Any, str | None] | str | None] = ContextVar("effectd_caller", default=None)


def enter_call(context: Any, role: str | None) -> None:
    """The gRPC call being served (its peer is read only when a record needs it)."""
    _CALLER.set((context, role))


def as_caller(description: str) -> None:
    """A caller that is not a gRPC call (the HTTP endpoint, the console)."""
    _CALLER.set(description)


def current_caller() -> str | None:
    """`role address` (or the address without tokens) of the call being served; None outside any call."""
    caller = _CALLER.get()
    if caller is None or isinstance(caller, str):
        return caller
    context, role = caller
    try:
        peer = str(context.peer())
    except Exception:  # a call that has ended: its address is gone
        peer = "unknown"
    return peer if role is None else f"{role} {peer}"
