"""In-process fan-out of key events to the waiters and watch streams of this server.

Waiters subscribe before they read the store, and the core publishes after a commit, so a terminal
recorded between the two is never missed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from effectd._scope import Resolution

__all__ = ["Hub", "KeyEvent", "KeyRevoked", "KeyTerminal", "Subscriber"]


@dataclass(frozen=True, slots=True)
class KeyTerminal:
    key_id: str
    resolution: Resolution
    seq: int


@dataclass(frozen=True, slots=True)
class KeyRevoked:
    key_id: str


KeyEvent = KeyTerminal | KeyRevoked


class Subscriber(Protocol):
    def deliver(self, event: KeyEvent) -> None:
        """Called on the event loop; must not block."""


class Hub:
    """Subscribers by key. A key with one subscriber (the usual case) holds it directly, not in a set:
    an idle waiter costs less."""

    def __init__(self) -> None:
        self._subscribers: dict[str, Subscriber | set[Subscriber]] = {}
        self._sessions: dict[str, str] = {}

    def subscribe(self, key_id: str, session_id: str | None, subscriber: Subscriber) -> None:
        present = self._subscribers.get(key_id)
        if present is None:
            self._subscribers[key_id] = subscriber
        elif isinstance(present, set):
            present.add(subscriber)
        elif present is not subscriber:
            self._subscribers[key_id] = {present, subscriber}
        if session_id is not None:
            self._sessions[key_id] = session_id

    def unsubscribe(self, key_id: str, subscriber: Subscriber) -> None:
        present = self._subscribers.get(key_id)
        if present is None:
            return
        if isinstance(present, set):
            present.discard(subscriber)
            if len(present) > 1:
                return
            if present:
                self._subscribers[key_id] = next(iter(present))
                return
        elif present is not subscriber:
            return
        del self._subscribers[key_id]
        self._sessions.pop(key_id, None)

    def publish(self, event: KeyEvent) -> None:
        present = self._subscribers.get(event.key_id)
        if present is None:
            return
        if isinstance(present, set):
            for subscriber in tuple(present):
                subscriber.deliver(event)
        else:
            present.deliver(event)

    def keys_of_session(self, session_id: str) -> list[str]:
        """The watched keys of a session (to tell their waiters of its revocation)."""
        return [k for k, s in self._sessions.items() if s == session_id]

    def is_watched(self, key_id: str) -> bool:
        return key_id in self._subscribers

    def watched_key_ids(self) -> Iterable[str]:
        return self._subscribers.keys()

    def __len__(self) -> int:
        return len(self._subscribers)
