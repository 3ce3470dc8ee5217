"""What every backend offers the capabilities' store parts: open, close, change events, unavailability.

A backend owns the connection(s) and the migrations; each capability has its own store protocol and one
part per backend (`sqlite/<capability>.py`, `postgres/<capability>.py`) built on the backend.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from effectd._errors import UnavailableError

__all__ = [
    "Backend",
    "BackendKind",
    "ChangeListener",
    "CommitObserver",
    "ListenerResumed",
    "StoreUnavailableError",
    "Swept",
]

BackendKind = Literal["sqlite", "postgres"]


class StoreUnavailableError(UnavailableError):
    """The database cannot be reached or refused the operation; nothing was acknowledged."""

    def __init__(self, message: str) -> None:
        super().__init__("store_unavailable", message)


@dataclass(frozen=True, slots=True)
class ListenerResumed:
    """Change notifications were interrupted and are flowing again: some may have been missed."""


@dataclass(frozen=True, slots=True)
class Swept:
    """One bounded retention batch: rows deleted (or, on a dry run, that would be), and whether another
    batch may find more."""

    deleted: int
    more: bool


CommitObserver = Callable[[float, int], None]
"""Told the duration (seconds) and the number of writes of each group-committed transaction."""

ChangeListener = Callable[[Any], None]
"""Receives the changes other processes committed (on the event loop; must not block)."""


class Backend(Protocol):
    @property
    def kind(self) -> BackendKind: ...

    async def open(self) -> None:
        """Connect and run pending migrations (safe to run twice)."""

    async def close(self) -> None: ...

    commit_observer: CommitObserver | None
    """Told of each group-committed write transaction (metrics); None when nobody listens."""
