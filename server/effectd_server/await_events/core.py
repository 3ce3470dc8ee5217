"""The await-event core: mint, resolve (first writer wins), wait, revoke. Knows nothing of gRPC."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from effectd._errors import EffectdError, InvalidArgumentError, UnknownOrRevokedError
from effectd._lashjson import dumps
from effectd._scope import (
    Accepted,
    AlreadyResolved,
    AwaitEventKey,
    AwaitEventWaitIdentity,
    Cancelled,
    Err,
    ExecutionScope,
    Resolution,
    ResolveOutcome,
    UnknownOrRevoked,
    blank,
    resolution_from_lash,
    scope_from_lash,
    validate_scope,
    validate_wait,
    wait_from_lash,
)
from prometheus_client import Histogram

from effectd_server.await_events.deadlines import DeadlineTimers
from effectd_server.await_events.hub import Hub, KeyEvent, KeyRevoked, KeyTerminal
from effectd_server.await_events.keyring import Keyring, mac_message
from effectd_server.config import AwaitEventsConfig, LimitsConfig
from effectd_server.edge.caller import current_caller
from effectd_server.edge.logs import safe
from effectd_server.store import ListenerResumed
from effectd_server.store.await_events import (
    AwaitEventsStore,
    KeyCounts,
    KeyListing,
    KeyRevokedEvent,
    KeyringChanged,
    KeyRow,
    KeyState,
    KeyStateFilter,
    ResolveItem,
    ResolveResult,
    SessionListing,
    SessionRevokedEvent,
    SessionRow,
    TerminalRecorded,
    TerminalsRecorded,
)

__all__ = ["UNKNOWN_OR_REVOKED_MESSAGE", "AwaitEventCore", "KeyPendingState", "PendingKeyInfo", "Waiter", "now_ms"]

log = logging.getLogger("effectd.await_events")

UNKNOWN_OR_REVOKED_MESSAGE = "await-event key is invalid or revoked"
_IDENTITY_CACHE_SIZE = 16_384


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True, slots=True)
class PendingKeyInfo:
    key: AwaitEventKey
    deadline_unix_ms: int | None
    created_at_unix_ms: int


@dataclass(frozen=True, slots=True)
class KeyPendingState:
    deadline_unix_ms: int | None


def _decode_terminal(terminal_json: str) -> Resolution:
    return resolution_from_lash(json.loads(terminal_json))


class Waiter:
    """One caller waiting for one key: a hub subscriber whose future holds the key's event. It owns no
    task; `close()` unsubscribes (a dropped wait resolves nothing)."""

    __slots__ = ("_hub", "future", "key_id")

    def __init__(self, hub: Hub, key_id: str) -> None:
        self._hub = hub
        self.key_id = key_id
        self.future: asyncio.Future[KeyEvent] = asyncio.get_running_loop().create_future()

    def deliver(self, event: KeyEvent) -> None:
        if not self.future.done():
            self.future.set_result(event)

    def close(self) -> None:
        self._hub.unsubscribe(self.key_id, self)
        if not self.future.done():
            self.future.cancel()

    def resolution(self) -> Resolution:
        """The terminal, once the future is done; raises when the key was revoked."""
        event = self.future.result()
        if isinstance(event, KeyRevoked):
            raise UnknownOrRevokedError("await_event_unknown_or_revoked", UNKNOWN_OR_REVOKED_MESSAGE)
        return event.resolution


class AwaitEventCore:
    def __init__(
        self,
        store: AwaitEventsStore,
        keyring: Keyring,
        hub: Hub,
        limits: LimitsConfig | None = None,
        config: AwaitEventsConfig | None = None,
    ) -> None:
        self.store = store
        self.keyring = keyring
        self.hub = hub
        self.limits = limits or LimitsConfig()
        self.config = config or AwaitEventsConfig()
        self._revoked_sessions: set[str] = set()
        self.session_revoked: list[Callable[[str], None]] = []
        """Called with each revoked session's id, here or on another replica (workers cancel its effects)."""
        self._identities: dict[AwaitEventKey, tuple[KeyRow, str]] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._timers = DeadlineTimers(store, self._fire_due)
        self.resolve_to_wake: Histogram | None = None
        """Observes, for each accepted resolve whose key has waiters here, the time from its arrival to their wake."""

    async def start(self) -> None:
        self._revoked_sessions = await self.store.revoked_sessions()
        await self._timers.start()

    async def stop(self) -> None:
        await self._timers.stop()
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

    # -- changes made by other replicas (PostgreSQL) ------------------------------------------
    def on_store_event(self, event: object) -> None:
        """Apply a change another replica committed: wake this replica's waiters and watchers."""
        if isinstance(event, TerminalRecorded):
            self._terminal_recorded(event)
        elif isinstance(event, TerminalsRecorded):
            for terminal in event.terminals:
                self._terminal_recorded(terminal)
        elif isinstance(event, KeyRevokedEvent):
            if self.hub.is_watched(event.key_id):
                self._spawn(self.tell_revoked([event.key_id]))
        elif isinstance(event, SessionRevokedEvent):
            self._revoked_sessions.add(event.session_id)
            for listener in self.session_revoked:
                listener(event.session_id)
            self._spawn(self.tell_revoked(self.hub.keys_of_session(event.session_id)))
        elif isinstance(event, KeyringChanged):
            self._spawn(self.keyring.refresh())
        elif isinstance(event, ListenerResumed):
            self._spawn(self._resume())

    def _terminal_recorded(self, event: TerminalRecorded) -> None:
        if self.hub.is_watched(event.key_id):
            if event.terminal_json is not None:
                self.hub.publish(KeyTerminal(event.key_id, _decode_terminal(event.terminal_json), event.resolution_seq))
            else:
                self._spawn(self._catch_up([event.key_id]))

    async def _resume(self) -> None:
        """After missed notifications: re-read revocations, the keyring and every watched key."""
        revoked = await self.store.revoked_sessions()
        self._revoked_sessions |= revoked
        await self.keyring.refresh()
        await self._catch_up(list(self.hub.watched_key_ids()))

    async def _catch_up(self, key_ids: list[str]) -> None:
        """Tell the waiters of `key_ids` what the store holds for them: a terminal, or a revocation."""
        for start in range(0, len(key_ids), 2000):
            states = await self.store.key_states(key_ids[start : start + 2000])
            for key_id, state in states.items():
                # A committed terminal wins over any revocation: the resolver was told `accepted`.
                if state.terminal_json is not None and state.resolution_seq is not None:
                    self.hub.publish(KeyTerminal(key_id, _decode_terminal(state.terminal_json), state.resolution_seq))
                elif state.revoked:
                    self.hub.publish(KeyRevoked(key_id))

    async def tell_revoked(self, key_ids: list[str]) -> None:
        """The one place waiters hear of a revocation: the store is read first, so a key whose terminal
        committed before (or while) the revocation did delivers that terminal, never `revoked`, whatever
        order this replica's coroutines or another replica's notifications arrive in."""
        await self._catch_up(key_ids)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("applying a change from another replica failed: %s", task.exception())

    # -- checks ------------------------------------------------------------------------------
    def known(self, key: AwaitEventKey) -> KeyRow | None:
        """The key's identity when it was verified before and may still be used, without awaiting (a
        snapshot of thousands of keys checks each); None means: ask `identify`."""
        cached = self._identities.get(key)
        if cached is None or not self.keyring.usable(cached[1]):
            return None
        session = cached[0].session_id
        if session is not None and session in self._revoked_sessions:
            return None
        return cached[0]

    async def identify(self, key: AwaitEventKey) -> tuple[KeyRow | None, str | None]:
        """The key's stored identity when it may be used, else (None, why). Raises InvalidArgumentError
        on bad input. Keys verified before (minted or seen here) skip the JSON and HMAC work."""
        cached = self._identities.get(key)
        if cached is None or not self.keyring.usable(cached[1]):
            validate_scope(key.scope)
            validate_wait(key.wait)
            if not key.signature or not key.key_id:
                raise InvalidArgumentError("invalid_await_event_key", "an await-event key needs key_id and signature")
            scope_json, wait_json = dumps(key.scope), dumps(key.wait)
            key_id = hashlib.sha256(f"[{scope_json},{wait_json}]".encode()).hexdigest()
            if key_id != key.key_id:
                return None, "key_id does not match scope and wait"
            if self.keyring.needs_refresh_for(key.signature):
                await self.keyring.refresh()
            reason = self.keyring.verify_message(key.signature, mac_message(scope_json, wait_json, key_id))
            if reason is not None:
                return None, reason
            cached = (KeyRow(key_id, scope_json, wait_json, key.scope.session), key.signature.split(".")[1])
            self._remember(key, cached)
        session = cached[0].session_id
        if session is not None and session in self._revoked_sessions:
            return None, f"session {session} revoked"
        return cached[0], None

    def _remember(self, key: AwaitEventKey, identity: tuple[KeyRow, str]) -> None:
        if len(self._identities) >= _IDENTITY_CACHE_SIZE:
            # Forget the oldest eighth; dicts keep insertion order.
            for stale in list(itertools.islice(self._identities, _IDENTITY_CACHE_SIZE // 8)):
                del self._identities[stale]
        self._identities[key] = identity

    async def _require_usable(self, key: AwaitEventKey, action: str) -> KeyRow:
        row, reason = await self.identify(key)
        if row is None:
            log.info("%s refused: key_id=%s reason=%s", action, safe(key.key_id), reason)
            raise UnknownOrRevokedError("await_event_unknown_or_revoked", UNKNOWN_OR_REVOKED_MESSAGE)
        return row

    def _check_resolution(self, resolution: Resolution) -> str:
        if isinstance(resolution, Err) and blank(resolution.payload.code):
            raise InvalidArgumentError("invalid_resolution", "an err resolution needs a non-empty code")
        text = dumps(resolution)
        if len(text.encode("utf-8")) > self.limits.max_payload_bytes:
            raise InvalidArgumentError(
                "payload_too_large",
                f"the resolution is larger than the limit of {self.limits.max_payload_bytes} bytes",
            )
        return text

    # -- operations --------------------------------------------------------------------------
    async def mint(self, scope: ExecutionScope, wait: AwaitEventWaitIdentity) -> AwaitEventKey:
        validate_scope(scope)
        validate_wait(wait)
        scope_json, wait_json = dumps(scope), dumps(wait)
        key_id = hashlib.sha256(f"[{scope_json},{wait_json}]".encode()).hexdigest()
        signature = self.keyring.sign_message(mac_message(scope_json, wait_json, key_id))
        key = AwaitEventKey(scope, wait, key_id, signature)
        row = KeyRow(key_id, scope_json, wait_json, scope.session)
        await self.store.record_keys([row], now_ms())
        self._remember(key, (row, signature.split(".")[1]))
        return key

    async def resolve(
        self, key: AwaitEventKey, resolution: Resolution, *, resolved_by: str | None = None
    ) -> ResolveOutcome:
        result = await self.resolve_many([(key, resolution)], resolved_by=resolved_by)
        outcome = result[0]
        if isinstance(outcome, EffectdError):
            raise outcome
        return outcome

    async def resolve_many(
        self, items: Sequence[tuple[AwaitEventKey, Resolution]], *, resolved_by: str | None = None
    ) -> list[ResolveOutcome | EffectdError]:
        """Each item answered on its own: an outcome, or the error that made that item invalid. Each
        terminal recorded keeps who recorded it: `resolved_by`, else the caller being served."""
        if len(items) > self.config.max_batch:
            raise InvalidArgumentError(
                "batch_too_large", f"a batch holds at most {self.config.max_batch} items, got {len(items)}"
            )
        arrived = time.perf_counter()
        if resolved_by is None:
            resolved_by = current_caller()
        answers: list[ResolveOutcome | EffectdError | None] = [None] * len(items)
        to_store: list[ResolveItem] = []
        positions: list[int] = []
        for index, (key, resolution) in enumerate(items):
            try:
                text = self._check_resolution(resolution)
                row, reason = await self.identify(key)
            except EffectdError as exc:
                answers[index] = exc
                continue
            if row is None:
                log.info("resolve refused: key_id=%s reason=%s", safe(key.key_id), reason)
                answers[index] = UnknownOrRevoked()
                continue
            to_store.append(ResolveItem(row, text, resolved_by))
            positions.append(index)
        if to_store:
            results = await self.store.resolve(to_store, now_ms())
            for index, item, result in zip(positions, to_store, results, strict=True):
                answers[index] = self._answer(item.key.key_id, items[index][1], result, arrived)
        return [a for a in answers if a is not None]

    def _answer(
        self, key_id: str, resolution: Resolution, result: ResolveResult, arrived: float | None = None
    ) -> ResolveOutcome:
        if result.status == "accepted":
            assert result.resolution_seq is not None
            self.hub.publish(KeyTerminal(key_id, resolution, result.resolution_seq))
            if arrived is not None and self.resolve_to_wake is not None and self.hub.is_watched(key_id):
                self.resolve_to_wake.observe(time.perf_counter() - arrived)
            return Accepted()
        if result.status == "already_resolved":
            assert result.terminal_json is not None
            return AlreadyResolved(_decode_terminal(result.terminal_json))
        log.info("resolve refused: key_id=%s reason=revoked in store", key_id)
        return UnknownOrRevoked()

    async def cancel(self, key: AwaitEventKey) -> ResolveOutcome:
        return await self.resolve(key, Cancelled())

    async def peek(self, key: AwaitEventKey) -> Resolution | KeyPendingState:
        await self._require_usable(key, "peek")
        state = (await self.store.key_states([key.key_id])).get(key.key_id)
        if state is None:
            return KeyPendingState(None)
        if state.terminal_json is not None:
            return _decode_terminal(state.terminal_json)
        if state.revoked:
            raise UnknownOrRevokedError("await_event_unknown_or_revoked", UNKNOWN_OR_REVOKED_MESSAGE)
        return KeyPendingState(state.deadline_ms)

    async def open_wait(self, key: AwaitEventKey, deadline_unix_ms: int | None) -> Resolution | Waiter:
        """The key's terminal when it has one, else a Waiter whose future gets it. With a deadline,
        `timeout` is recorded when it passes (durably)."""
        row = await self._require_usable(key, "await")
        waiter = Waiter(self.hub, key.key_id)
        # Subscribe before reading: a terminal committed after the read is delivered to the waiter.
        self.hub.subscribe(key.key_id, key.scope.session, waiter)
        try:
            state = (await self.store.key_states([key.key_id])).get(key.key_id)
            if state is not None and state.terminal_json is not None:
                waiter.close()
                return _decode_terminal(state.terminal_json)
            if state is not None and state.revoked:
                raise UnknownOrRevokedError("await_event_unknown_or_revoked", UNKNOWN_OR_REVOKED_MESSAGE)
            if deadline_unix_ms is not None:
                effective = await self.store.set_deadline(row, deadline_unix_ms, now_ms())
                if effective is not None:
                    self._timers.schedule(effective)
        except BaseException:
            waiter.close()
            raise
        return waiter

    async def wait(self, key: AwaitEventKey, deadline_unix_ms: int | None) -> Resolution:
        """The key's terminal, waiting for it."""
        opened = await self.open_wait(key, deadline_unix_ms)
        if not isinstance(opened, Waiter):
            return opened
        try:
            await opened.future
            return opened.resolution()
        finally:
            opened.close()

    async def states(self, key_ids: Sequence[str]) -> dict[str, KeyState]:
        return await self.store.key_states(key_ids)

    def decode_terminal(self, terminal_json: str) -> Resolution:
        return _decode_terminal(terminal_json)

    async def revoke_key(self, key: AwaitEventKey) -> None:
        row, reason = await self.identify(key)
        if row is None:
            # Revoking what is already unusable changes nothing and tells the caller nothing.
            log.info("revoke-key on unusable key: key_id=%s reason=%s", safe(key.key_id), reason)
            return
        await self.store.revoke_key(row, now_ms())
        log.info("key revoked: key_id=%s", safe(key.key_id))
        await self.tell_revoked([key.key_id])

    async def revoke_session(self, session_id: str) -> None:
        _require_session_id(session_id)
        await self.store.revoke_session(session_id, now_ms())
        self._revoked_sessions.add(session_id)
        for listener in self.session_revoked:
            listener(session_id)
        log.info("session revoked: session_id=%s", safe(session_id))
        await self.tell_revoked(self.hub.keys_of_session(session_id))

    async def cancel_session_waits(self, session_id: str) -> int:
        _require_session_id(session_id)
        rows = await self.store.pending_keys_of_session(session_id)
        if not rows:
            return 0
        cancelled = Cancelled()
        text = dumps(cancelled)
        by = current_caller()
        results = await self.store.resolve([ResolveItem(row, text, by) for row in rows], now_ms())
        count = 0
        for row, result in zip(rows, results, strict=True):
            if result.status == "accepted":
                self._answer(row.key_id, cancelled, result)
                count += 1
        log.info("session waits cancelled: session_id=%s count=%d", safe(session_id), count)
        return count

    # -- operator queries and actions (the console) -----------------------------------------------
    async def count_keys(self) -> KeyCounts:
        return await self.store.count_keys()

    async def list_keys(
        self,
        *,
        state: KeyStateFilter = "any",
        session_id: str | None = None,
        contains: str | None = None,
        after_key_id: str = "",
        limit: int = 50,
    ) -> list[KeyListing]:
        return await self.store.list_keys(
            state=state, session_id=session_id, contains=contains, after_key_id=after_key_id, limit=limit
        )

    async def get_key(self, key_id: str) -> KeyListing | None:
        return await self.store.get_key(key_id)

    async def list_sessions(
        self, *, contains: str | None = None, after: str = "", limit: int = 50
    ) -> list[SessionListing]:
        """Sessions that have keys or a revocation, by id."""
        return await self.store.list_key_sessions(contains=contains, after=after, limit=limit)

    def is_session_revoked(self, session_id: str) -> bool:
        return session_id in self._revoked_sessions

    def watched_key_count(self) -> int:
        """Keys some waiter or watch stream on this server waits for."""
        return len(self.hub)

    async def resolve_stored(self, key_id: str, resolution: Resolution) -> ResolveOutcome:
        """Resolve a key known to the store by its id, for an operator who holds no signed key (the
        console, behind the admin role): the same first-writer-wins and revocation rules as `resolve`."""
        text = self._check_resolution(resolution)
        listing = await self.store.get_key(key_id)
        if listing is None:
            return UnknownOrRevoked()
        row = KeyRow(listing.key_id, listing.scope_json, listing.wait_json, listing.session_id)
        if row.session_id is not None and row.session_id in self._revoked_sessions:
            return UnknownOrRevoked()
        (result,) = await self.store.resolve([ResolveItem(row, text, "console")], now_ms())
        log.info("operator resolve: key_id=%s status=%s", safe(key_id), result.status)
        return self._answer(key_id, resolution, result)

    # -- listings (operators) -----------------------------------------------------------------
    async def recent_sessions(self, limit: int) -> list[SessionRow]:
        """Sessions that have keys, latest activity first."""
        return await self.store.list_sessions(limit)

    async def list_pending_keys(self, session_id: str, limit: int) -> list[PendingKeyInfo]:
        """The session's pending keys, each signed again by the active signing key (minting is
        deterministic per signing key: the same key_id, a signature that verifies now)."""
        _require_session_id(session_id)
        if session_id in self._revoked_sessions:
            return []  # every resolve of its keys answers unknown_or_revoked: nothing is pending
        listed: list[PendingKeyInfo] = []
        for row in await self.store.list_pending_keys(session_id, limit):
            key = row.key
            signature = self.keyring.sign_message(mac_message(key.scope_json, key.wait_json, key.key_id))
            scope, wait = scope_from_lash(json.loads(key.scope_json)), wait_from_lash(json.loads(key.wait_json))
            listed.append(
                PendingKeyInfo(AwaitEventKey(scope, wait, key.key_id, signature), row.deadline_ms, row.created_at_ms)
            )
        return listed

    async def _fire_due(self) -> int:
        """Record `timeout` on due keys; the number fired (the timers loop again while it is the limit)."""
        fired = await self.store.fire_due_deadlines(now_ms(), 1000)
        timeout = resolution_from_lash({"status": "timeout"})
        for key_id, result in fired:
            self._answer(key_id, timeout, result)
        return len(fired)


def _require_session_id(session_id: str) -> None:
    if blank(session_id):
        raise InvalidArgumentError("missing_session_id", "a session id must be non-empty")
