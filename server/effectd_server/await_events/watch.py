"""One Watch stream as the core sees it: the keys it watches and the answers waiting to be sent.

No gRPC here: the servicer feeds it requests and sends what `next` returns, so it is tested directly.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from effectd._errors import EffectdError, ResourceExhaustedError
from effectd._lashjson import dumps
from effectd._scope import AwaitEventKey, Resolution

from effectd_server.await_events.core import UNKNOWN_OR_REVOKED_MESSAGE, AwaitEventCore
from effectd_server.await_events.hub import KeyEvent, KeyRevoked

__all__ = ["WatchAck", "WatchAnswer", "WatchRejection", "WatchSession", "WatchTerminalEvent"]

_READ_CHUNK = 2000


@dataclass(frozen=True, slots=True)
class WatchTerminalEvent:
    key_id: str
    resolution: Resolution
    cursor: int


@dataclass(frozen=True, slots=True)
class WatchRejection:
    key_id: str
    code: str
    message: str
    token: str = ""
    """The token as added, when the key came as a token (its key_id may be unknown)."""


@dataclass(frozen=True, slots=True)
class WatchAck:
    added: int
    removed: int


WatchAnswer = WatchTerminalEvent | WatchRejection | WatchAck


def _revoked(key_id: str) -> WatchRejection:
    return WatchRejection(key_id, "await_event_unknown_or_revoked", UNKNOWN_OR_REVOKED_MESSAGE)


def stream_too_slow(limit: str) -> ResourceExhaustedError:
    return ResourceExhaustedError(
        "stream_too_slow", f"the reader fell behind by more than {limit}; reconnect and resume from the cursor"
    )


class WatchSession:
    def __init__(self, core: AwaitEventCore, *, max_keys: int, max_queued: int, max_queued_bytes: int) -> None:
        self._core = core
        self._max_keys = max_keys
        self._max_queued = max_queued
        self._max_queued_bytes = max_queued_bytes
        self._watched: dict[str, str | None] = {}
        self._answers: deque[tuple[WatchAnswer, int]] = deque()
        self._queued_bytes = 0
        self._overflow: ResourceExhaustedError | None = None
        self._ready: asyncio.Event = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._resume_after = 0
        self._first = True
        self.heartbeat_interval_ms = 0

    def has_answer(self) -> bool:
        """An answer (or the end for a slow reader) is ready for `take`."""
        return bool(self._answers) or self._overflow is not None

    def idle(self) -> bool:
        return not self._watched and not self._answers

    def _push(self, answer: WatchAnswer, size: int = 64) -> None:
        if self._overflow is not None:
            return
        self._answers.append((answer, size))
        self._queued_bytes += size
        if len(self._answers) > self._max_queued:
            self._overflow = stream_too_slow(f"{self._max_queued} messages")
        elif self._queued_bytes > self._max_queued_bytes:
            self._overflow = stream_too_slow(f"{self._max_queued_bytes} bytes")
        self._ready.set()

    def _push_terminal(self, key_id: str, resolution: Resolution, cursor: int, size: int | None = None) -> None:
        self._push(WatchTerminalEvent(key_id, resolution, cursor), size or len(dumps(resolution)) + 96)

    # Hub subscriber: called on the loop when a watched key gets its terminal or is revoked.
    def deliver(self, event: KeyEvent) -> None:
        if self._watched.pop(event.key_id, _MISSING) is _MISSING:
            return
        self._core.hub.unsubscribe(event.key_id, self)
        if isinstance(event, KeyRevoked):
            self._push(_revoked(event.key_id))
        else:
            self._push_terminal(event.key_id, event.resolution, event.seq)

    def take_many(self, limit: int, max_bytes: int) -> list[WatchAnswer]:
        """Up to `limit` answers waiting, in order, about `max_bytes` at most (always at least one).
        Raises stream_too_slow when the reader fell behind."""
        taken: list[WatchAnswer] = []
        size = 0
        while len(taken) < limit and self._answers and (not taken or size + self._answers[0][1] <= max_bytes):
            size += self._answers[0][1]
            answer = self.take()
            if answer is None:
                break
            taken.append(answer)
        if not taken:
            self.take()  # raises for a reader that fell behind; clears the ready flag otherwise
        return taken

    def take(self) -> WatchAnswer | None:
        """The next answer waiting, if any. Raises stream_too_slow when the reader fell too far behind."""
        if self._overflow is not None:
            raise self._overflow
        if not self._answers:
            self._ready.clear()
            return None
        answer, size = self._answers.popleft()
        self._queued_bytes -= size
        if not self._room.is_set() and not self._half_full():
            self._room.set()
        return answer

    def _half_full(self) -> bool:
        return len(self._answers) * 2 > self._max_queued or self._queued_bytes * 2 > self._max_queued_bytes

    async def _wait_for_room(self) -> None:
        """Backpressure on the request side: a snapshot of many terminals waits for the reader rather
        than overflowing the queue; only pushed wake-ups (which cannot wait) can overflow it."""
        while self._half_full() and self._overflow is None:
            self._room.clear()
            await self._room.wait()

    async def wait(self, timeout: float, others: Sequence[asyncio.Future[Any]]) -> None:
        """Until an answer waits, one of `others` is done, or `timeout` passes."""
        if self._answers or self._overflow is not None:
            return
        ready = asyncio.ensure_future(self._ready.wait())
        try:
            await asyncio.wait([ready, *others], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()

    async def apply(
        self,
        add: Sequence[AwaitEventKey | WatchRejection],
        remove_key_ids: Sequence[str],
        *,
        resume_after: int = 0,
        heartbeat_interval_ms: int = 0,
    ) -> None:
        """One request: add keys (a key that could not be decoded comes as its rejection), remove keys."""
        if self._first:
            self._first = False
            self._resume_after = resume_after
            self.heartbeat_interval_ms = heartbeat_interval_ms
        if len(self._watched) + len(add) > self._max_keys:
            raise ResourceExhaustedError(
                "too_many_watched_keys", f"one watch stream holds at most {self._max_keys} keys"
            )
        added: list[str] = []
        for key in add:
            if isinstance(key, WatchRejection):
                self._push(key)
                continue
            row = self._core.known(key)
            try:
                if row is None:
                    row, _ = await self._core.identify(key)
            except EffectdError as exc:
                self._push(WatchRejection(key.key_id, exc.code, exc.message))
                continue
            if row is None:
                self._push(_revoked(key.key_id))
                continue
            if key.key_id in self._watched:
                continue
            self._watched[key.key_id] = row.session_id
            self._core.hub.subscribe(key.key_id, row.session_id, self)
            added.append(key.key_id)
        # Subscribed first, then read: a terminal committed in between arrives through `deliver`.
        for start in range(0, len(added), _READ_CHUNK):
            chunk = added[start : start + _READ_CHUNK]
            await self._wait_for_room()
            states = await self._core.states(chunk)
            for key_id in chunk:
                state = states.get(key_id)
                if state is None or key_id not in self._watched:
                    continue
                if state.terminal_json is not None:
                    # A committed terminal wins over a revocation that came after it.
                    self._drop(key_id)
                    seq = state.resolution_seq or 0
                    if seq > self._resume_after:
                        if self._half_full():
                            await self._wait_for_room()
                        resolution = self._core.decode_terminal(state.terminal_json)
                        self._push_terminal(key_id, resolution, seq, len(state.terminal_json) + 96)
                elif state.revoked:
                    self._drop(key_id)
                    self._push(_revoked(key_id))
        removed = 0
        for key_id in remove_key_ids:
            if key_id in self._watched:
                self._drop(key_id)
                removed += 1
        self._push(WatchAck(added=len(added), removed=removed))

    def _drop(self, key_id: str) -> None:
        self._watched.pop(key_id, None)
        self._core.hub.unsubscribe(key_id, self)

    def close(self) -> None:
        for key_id in list(self._watched):
            self._core.hub.unsubscribe(key_id, self)
        self._watched.clear()
        self._answers.clear()


_MISSING = object()
