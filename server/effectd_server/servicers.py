"""Thin gRPC servicers: convert at the edge, call the core, convert back."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from effectd._convert_await_events import minted_key_to_proto
from effectd._convert_scope import (
    key_from_proto,
    resolution_from_proto,
    resolution_to_proto,
    resolve_outcome_to_proto,
    scope_from_proto,
    wait_from_proto,
)
from effectd._errors import EffectdError, InvalidArgumentError, ResourceExhaustedError, UnavailableError
from effectd._scope import AwaitEventKey, CustomWait, Resolution, TurnScope
from effectd._token import InvalidTokenError, key_from_token
from effectd.v1 import await_events_pb2 as pb

from effectd_server.await_events import (
    UNKNOWN_OR_REVOKED_MESSAGE,
    AwaitEventCore,
    KeyPendingState,
    now_ms,
)
from effectd_server.hub import KeyEvent, KeyRevoked
from effectd_server.keyring import Keyring
from effectd_server.store import SigningKeyRow

__all__ = ["AwaitEventsServicer", "KeyringServicer"]

Context = Any

_KEY_STATES = {
    "active": pb.SIGNING_KEY_STATE_ACTIVE,
    "verify_only": pb.SIGNING_KEY_STATE_VERIFY_ONLY,
    "retired": pb.SIGNING_KEY_STATE_RETIRED,
}


def shutting_down() -> UnavailableError:
    """Streams end at once on shutdown; clients reconnect (to another replica, or after the restart)."""
    return UnavailableError("server_shutting_down", "the server is shutting down; reconnect")


def _heartbeat() -> pb.Heartbeat:
    return pb.Heartbeat(server_time_unix_ms=now_ms())


# What an undecodable token stands for: a well-formed key whose key_id matches nothing, so that it is
# answered exactly like a tampered key (resolve: unknown_or_revoked; await/peek: NOT_FOUND).
UNDECODABLE_TOKEN_KEY = AwaitEventKey(
    TurnScope("undecodable-token", "undecodable-token"),
    CustomWait("undecodable-token"),
    key_id="undecodable-token",
    signature="v1.undecodable-token.0",
)


class _KeyDecoder:
    """Decodes keys (structured or token) from the wire, reusing the object decoded before for the
    same bytes: the core's cache of verified keys then matches it by identity, with no re-validation
    or re-rendering."""

    _SIZE = 16_384

    def __init__(self) -> None:
        self._decoded: dict[bytes, AwaitEventKey] = {}
        self._tokens: dict[str, AwaitEventKey] = {}

    def __call__(self, request: Any) -> AwaitEventKey:
        which = request.WhichOneof("key_ref")
        if which == "token":
            return self.token(request.token)
        if which != "key":
            raise InvalidArgumentError("invalid_await_event_key", "an await-event key (or its token) is required")
        wire = request.key.SerializeToString()
        key = self._decoded.get(wire)
        if key is None:
            key = key_from_proto(request.key)
            if len(self._decoded) >= self._SIZE:
                self._decoded.clear()
            self._decoded[wire] = key
        return key

    def token(self, token: str) -> AwaitEventKey:
        """The key a token holds; UNDECODABLE_TOKEN_KEY when it does not decode."""
        key = self._tokens.get(token)
        if key is None:
            try:
                key = key_from_token(token)
            except InvalidTokenError:
                return UNDECODABLE_TOKEN_KEY
            if len(self._tokens) >= self._SIZE:
                self._tokens.clear()
            self._tokens[token] = key
        return key


def _required_resolution(request: Any) -> Resolution:
    if not request.HasField("resolution"):
        raise InvalidArgumentError("invalid_resolution", "a resolution is required")
    return resolution_from_proto(request.resolution)


class AwaitEventsServicer:
    def __init__(
        self, core: AwaitEventCore, closing: asyncio.Event, *, heartbeat_interval_s: float, max_watched_keys: int
    ) -> None:
        self._core = core
        self._key = _KeyDecoder()
        self._closing = closing
        self._heartbeat_s = heartbeat_interval_s
        self._max_watched = max_watched_keys

    def _interval(self, requested_ms: int) -> float:
        return max(0.05, requested_ms / 1000) if requested_ms else self._heartbeat_s

    async def MintKey(self, request: pb.MintKeyRequest, context: Context) -> pb.MintKeyResponse:
        key = await self._core.mint(scope_from_proto(request.scope), wait_from_proto(request.wait))
        return minted_key_to_proto(key)

    async def Resolve(self, request: pb.ResolveRequest, context: Context) -> pb.ResolveResponse:
        outcome = await self._core.resolve(self._key(request), _required_resolution(request))
        return pb.ResolveResponse(outcome=resolve_outcome_to_proto(outcome))

    async def ResolveMany(self, request: pb.ResolveManyRequest, context: Context) -> pb.ResolveManyResponse:
        parsed: list[tuple[AwaitEventKey, Resolution] | EffectdError] = []
        for item in request.items:
            try:
                parsed.append((self._key(item), _required_resolution(item)))
            except EffectdError as exc:
                parsed.append(exc)
        valid = [p for p in parsed if not isinstance(p, EffectdError)]
        answers = iter(await self._core.resolve_many(valid))
        response = pb.ResolveManyResponse()
        for p in parsed:
            answer = p if isinstance(p, EffectdError) else next(answers)
            result = response.results.add()
            if isinstance(answer, EffectdError):
                result.error.code = answer.code
                result.error.message = answer.message
            else:
                result.outcome.CopyFrom(resolve_outcome_to_proto(answer))
        return response

    async def Await(self, request: pb.AwaitRequest, context: Context) -> AsyncIterator[pb.AwaitResponse]:
        key = self._key(request)
        limit = request.WhichOneof("limit")
        deadline: int | None = None
        if limit == "timeout_ms":
            deadline = now_ms() + request.timeout_ms
        elif limit == "deadline_unix_ms":
            deadline = request.deadline_unix_ms
        interval = self._interval(request.heartbeat_interval_ms)
        waiting = asyncio.ensure_future(self._core.wait(key, deadline))
        closing = asyncio.ensure_future(self._closing.wait())
        try:
            while True:
                done, _ = await asyncio.wait({waiting, closing}, timeout=interval, return_when=asyncio.FIRST_COMPLETED)
                if waiting in done:
                    yield pb.AwaitResponse(terminal=resolution_to_proto(waiting.result()))
                    return
                if closing in done:
                    raise shutting_down()
                yield pb.AwaitResponse(heartbeat=_heartbeat())
        finally:
            closing.cancel()
            # A dropped stream resolves nothing: stop waiting, leave the key (and its deadline) alone.
            waiting.cancel()
            with contextlib.suppress(asyncio.CancelledError, EffectdError):
                await waiting

    async def Watch(
        self, requests: AsyncIterator[pb.WatchRequest], context: Context
    ) -> AsyncIterator[pb.WatchResponse]:
        stream = _WatchStream(self._core, self._max_watched, self._key)
        reader = asyncio.ensure_future(stream.read(requests))
        closing = asyncio.ensure_future(self._closing.wait())
        interval = self._heartbeat_s
        try:
            while True:
                if closing.done():
                    raise shutting_down()
                reading = not reader.done()
                item = await stream.next_response(interval, reader if reading else None, closing)
                interval = stream.heartbeat_interval or self._heartbeat_s
                if item is not None:
                    yield item
                    continue
                if reader.done():
                    reader.result()  # re-raise a failure of the request side
                    if stream.idle():
                        return  # the client closed its side and every watched key was answered
                    if reading:
                        continue
                yield pb.WatchResponse(heartbeat=_heartbeat())
        finally:
            closing.cancel()
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
            stream.close()

    async def Peek(self, request: pb.PeekRequest, context: Context) -> pb.PeekResponse:
        state = await self._core.peek(self._key(request))
        if isinstance(state, KeyPendingState):
            pending = pb.KeyPending()
            if state.deadline_unix_ms is not None:
                pending.deadline_unix_ms = state.deadline_unix_ms
            return pb.PeekResponse(pending=pending)
        return pb.PeekResponse(terminal=resolution_to_proto(state))

    async def Cancel(self, request: pb.CancelRequest, context: Context) -> pb.CancelResponse:
        outcome = await self._core.cancel(self._key(request))
        return pb.CancelResponse(outcome=resolve_outcome_to_proto(outcome))

    async def RevokeKey(self, request: pb.RevokeKeyRequest, context: Context) -> pb.RevokeKeyResponse:
        await self._core.revoke_key(self._key(request))
        return pb.RevokeKeyResponse()

    async def RevokeSession(self, request: pb.RevokeSessionRequest, context: Context) -> pb.RevokeSessionResponse:
        await self._core.revoke_session(request.session_id)
        return pb.RevokeSessionResponse()

    async def CancelSessionWaits(
        self, request: pb.CancelSessionWaitsRequest, context: Context
    ) -> pb.CancelSessionWaitsResponse:
        count = await self._core.cancel_session_waits(request.session_id)
        return pb.CancelSessionWaitsResponse(cancelled=count)


class _WatchStream:
    """One Watch stream: the keys it watches and the responses waiting to be sent."""

    def __init__(self, core: AwaitEventCore, max_keys: int, decoder: _KeyDecoder) -> None:
        self._core = core
        self._decoder = decoder
        self._max_keys = max_keys
        self._watched: dict[str, str | None] = {}
        self._responses: asyncio.Queue[pb.WatchResponse] = asyncio.Queue()
        self._resume_after = 0
        self._first = True
        self.heartbeat_interval: float | None = None

    def idle(self) -> bool:
        return not self._watched and self._responses.empty()

    # Hub subscriber: called on the loop when a watched key gets its terminal or is revoked.
    def deliver(self, event: KeyEvent) -> None:
        if self._watched.pop(event.key_id, _MISSING) is _MISSING:
            return
        self._core.hub.unsubscribe(event.key_id, self)
        if isinstance(event, KeyRevoked):
            self._responses.put_nowait(
                _rejected(event.key_id, "await_event_unknown_or_revoked", UNKNOWN_OR_REVOKED_MESSAGE)
            )
        else:
            self._responses.put_nowait(
                pb.WatchResponse(
                    terminal=pb.WatchTerminal(
                        key_id=event.key_id, terminal=resolution_to_proto(event.resolution), cursor=event.seq
                    )
                )
            )

    async def next_response(
        self, timeout: float, reader: asyncio.Future[None] | None, closing: asyncio.Future[Any]
    ) -> pb.WatchResponse | None:
        """The next response, or None on timeout or when `reader` or `closing` finished first."""
        if not self._responses.empty():
            return self._responses.get_nowait()
        getter = asyncio.ensure_future(self._responses.get())
        waiting: set[asyncio.Future[Any]] = {getter, closing} if reader is None else {getter, reader, closing}
        try:
            done, _ = await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not getter.done():
                getter.cancel()
        if getter in done and not getter.cancelled():
            return getter.result()
        return None

    async def read(self, requests: AsyncIterator[pb.WatchRequest]) -> None:
        async for request in requests:
            await self.apply(request)

    async def apply(self, request: pb.WatchRequest) -> None:
        if self._first:
            self._first = False
            self._resume_after = request.resume_after
            if request.heartbeat_interval_ms:
                self.heartbeat_interval = max(0.05, request.heartbeat_interval_ms / 1000)
        if len(self._watched) + len(request.add_keys) + len(request.add_tokens) > self._max_keys:
            raise ResourceExhaustedError(
                "too_many_watched_keys", f"one watch stream holds at most {self._max_keys} keys"
            )
        added: list[str] = []
        adds: list[tuple[Any, str]] = [(m, "") for m in request.add_keys]
        adds += [(t, t) for t in request.add_tokens]
        for message, token in adds:
            try:
                key = self._decoder.token(token) if token else key_from_proto(message)
                row, _ = await self._core.identify(key)
            except EffectdError as exc:
                key_id = "" if token else message.key_id
                self._responses.put_nowait(_rejected(key_id, exc.code, exc.message, token))
                continue
            if row is None:
                key_id = "" if key is UNDECODABLE_TOKEN_KEY else key.key_id
                self._responses.put_nowait(
                    _rejected(key_id, "await_event_unknown_or_revoked", UNKNOWN_OR_REVOKED_MESSAGE, token)
                )
                continue
            if key.key_id in self._watched:
                continue
            self._watched[key.key_id] = row.session_id
            self._core.hub.subscribe(key.key_id, row.session_id, self)
            added.append(key.key_id)
        # Subscribed first, then read: a terminal committed in between arrives through `deliver`.
        for start in range(0, len(added), 2000):
            chunk = added[start : start + 2000]
            states = await self._core.states(chunk)
            for key_id in chunk:
                state = states.get(key_id)
                if state is None or key_id not in self._watched:
                    continue
                if state.revoked:
                    self._drop(key_id)
                    self._responses.put_nowait(
                        _rejected(key_id, "await_event_unknown_or_revoked", UNKNOWN_OR_REVOKED_MESSAGE)
                    )
                elif state.terminal_json is not None:
                    self._drop(key_id)
                    seq = state.resolution_seq or 0
                    if seq > self._resume_after:
                        self._responses.put_nowait(
                            pb.WatchResponse(
                                terminal=pb.WatchTerminal(
                                    key_id=key_id,
                                    terminal=resolution_to_proto(self._core.decode_terminal(state.terminal_json)),
                                    cursor=seq,
                                )
                            )
                        )
        removed = 0
        for key_id in request.remove_key_ids:
            if key_id in self._watched:
                self._drop(key_id)
                removed += 1
        self._responses.put_nowait(pb.WatchResponse(ack=pb.WatchAck(added=len(added), removed=removed)))

    def _drop(self, key_id: str) -> None:
        self._watched.pop(key_id, None)
        self._core.hub.unsubscribe(key_id, self)

    def close(self) -> None:
        for key_id in list(self._watched):
            self._core.hub.unsubscribe(key_id, self)
        self._watched.clear()


_MISSING = object()


def _rejected(key_id: str, code: str, message: str, token: str = "") -> pb.WatchResponse:
    return pb.WatchResponse(rejected=pb.WatchRejected(key_id=key_id, code=code, message=message, token=token))


def _key_info(row: SigningKeyRow) -> pb.SigningKeyInfo:
    return pb.SigningKeyInfo(kid=row.kid, state=_KEY_STATES[row.state], created_at_unix_ms=row.created_at_ms)


class KeyringServicer:
    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring

    async def ListSigningKeys(self, request: pb.ListSigningKeysRequest, context: Context) -> pb.ListSigningKeysResponse:
        await self._keyring.refresh()
        return pb.ListSigningKeysResponse(keys=[_key_info(row) for row in self._keyring.keys()])

    async def RotateSigningKey(
        self, request: pb.RotateSigningKeyRequest, context: Context
    ) -> pb.RotateSigningKeyResponse:
        return pb.RotateSigningKeyResponse(active=_key_info(await self._keyring.rotate()))

    async def RetireSigningKey(
        self, request: pb.RetireSigningKeyRequest, context: Context
    ) -> pb.RetireSigningKeyResponse:
        if not request.kid.strip():
            raise InvalidArgumentError("invalid_request", "kid is required")
        return pb.RetireSigningKeyResponse(key=_key_info(await self._keyring.retire(request.kid)))
