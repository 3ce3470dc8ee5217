"""AwaitEvents and Keyring servicers: convert at the edge, call the core, convert back."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from effectd._client import SigningKey
from effectd._convert_await_events import minted_key_to_proto
from effectd._convert_scope import (
    key_from_proto,
    key_to_proto,
    resolution_from_proto,
    resolution_to_proto,
    resolve_outcome_to_proto,
    scope_from_proto,
    wait_from_proto,
)
from effectd._errors import EffectdError, InvalidArgumentError
from effectd._scope import (
    AwaitEventKey,
    CustomWait,
    InvalidTokenError,
    Resolution,
    TurnScope,
    key_from_token,
    key_token,
)
from effectd.v1 import await_events_pb2 as pb

from effectd_server.await_events.core import UNKNOWN_OR_REVOKED_MESSAGE, AwaitEventCore, KeyPendingState, Waiter, now_ms
from effectd_server.await_events.keyring import Keyring, describe
from effectd_server.await_events.watch import (
    WatchAck,
    WatchAnswer,
    WatchRejection,
    WatchSession,
    WatchTerminalEvent,
)
from effectd_server.config import AwaitEventsConfig, LimitsConfig, StreamsConfig
from effectd_server.edge.checks import (
    MAX_CURSOR,
    MAX_DEADLINE_UNIX_MS,
    MAX_HEARTBEAT_MS,
    MAX_PAGE_SIZE,
    MAX_TIMEOUT_MS,
    check_id,
    check_ids,
    in_range,
)
from effectd_server.edge.errors import shutting_down
from effectd_server.edge.streams import Streams

__all__ = ["AwaitEventsServicer", "KeyringServicer"]

Context = Any

_LIST_DEFAULT = 100
_UNKNOWN = ("await_event_unknown_or_revoked", UNKNOWN_OR_REVOKED_MESSAGE)

_KEY_STATES = {
    "active": pb.SIGNING_KEY_STATE_ACTIVE,
    "verify_only": pb.SIGNING_KEY_STATE_VERIFY_ONLY,
    "retired": pb.SIGNING_KEY_STATE_RETIRED,
}


def _heartbeat() -> pb.Heartbeat:
    return pb.Heartbeat(server_time_unix_ms=now_ms())


def _await_heartbeat() -> pb.AwaitResponse:
    return pb.AwaitResponse(heartbeat=_heartbeat())


# What an undecodable token stands for: a well-formed key whose key_id matches nothing, so that it is
# answered exactly like a tampered key (resolve: unknown_or_revoked; await/peek: NOT_FOUND).
UNDECODABLE_TOKEN_KEY = AwaitEventKey(
    TurnScope("undecodable-token", "undecodable-token"),
    CustomWait("undecodable-token"),
    key_id="undecodable-token",
    signature="v1.undecodable-token.0",
)


class _KeyDecoder:
    """Decodes keys (structured or token) from the wire, reusing the object decoded before for the same
    bytes: the core's cache of verified keys then matches it with no re-validation or re-rendering."""

    _SIZE = 16_384

    def __init__(self, limits: LimitsConfig) -> None:
        self._decoded: dict[bytes, AwaitEventKey] = {}
        self._tokens: dict[str, AwaitEventKey] = {}
        self._max_bytes = limits.max_key_bytes

    def _too_long(self) -> InvalidArgumentError:
        return InvalidArgumentError(
            "id_too_long", f"the await-event key is longer than the limit of {self._max_bytes} bytes"
        )

    def message(self, message: Any, *, remember: bool = True) -> AwaitEventKey:
        wire = message.SerializeToString()
        key = self._decoded.get(wire)
        if key is None:
            if len(wire) > self._max_bytes:
                raise self._too_long()
            key = key_from_proto(message)
            if remember:
                self._remember(wire, key)
        return key

    def remember(self, message: Any, key: AwaitEventKey) -> None:
        """Take `key` as the decoding of `message` (a key this server just minted)."""
        self._remember(message.SerializeToString(), key)

    def _remember(self, wire: bytes, key: AwaitEventKey) -> None:
        if len(self._decoded) >= self._SIZE:
            self._decoded.clear()
        self._decoded[wire] = key

    def token(self, token: str, *, remember: bool = True) -> AwaitEventKey:
        """The key a token holds; UNDECODABLE_TOKEN_KEY when it does not decode."""
        key = self._tokens.get(token)
        if key is None:
            if len(token) > self._max_bytes:
                raise self._too_long()
            try:
                key = key_from_token(token)
            except InvalidTokenError:
                return UNDECODABLE_TOKEN_KEY
            if remember:
                if len(self._tokens) >= self._SIZE:
                    self._tokens.clear()
                self._tokens[token] = key
        return key

    def __call__(self, request: Any, *, remember: bool = True) -> AwaitEventKey:
        which = request.WhichOneof("key_ref")
        if which == "token":
            return self.token(request.token, remember=remember)
        if which != "key":
            raise InvalidArgumentError("invalid_await_event_key", "an await-event key (or its token) is required")
        return self.message(request.key, remember=remember)


def _required_resolution(request: Any) -> Resolution:
    if not request.HasField("resolution"):
        raise InvalidArgumentError("invalid_resolution", "a resolution is required")
    return resolution_from_proto(request.resolution)


_WATCH_BATCH = 256
_WATCH_BATCH_BYTES = 1 << 20
"""Answers taken at once; consecutive terminals among them go out as one WatchTerminals message."""


def _watch_responses(answers: list[WatchAnswer]) -> list[pb.WatchResponse]:
    responses: list[pb.WatchResponse] = []
    batch: list[pb.WatchTerminal] = []
    for answer in answers:
        if isinstance(answer, WatchTerminalEvent):
            batch.append(
                pb.WatchTerminal(
                    key_id=answer.key_id, terminal=resolution_to_proto(answer.resolution), cursor=answer.cursor
                )
            )
            continue
        if batch:
            responses.append(_terminals(batch))
            batch = []
        responses.append(_watch_response(answer))
    if batch:
        responses.append(_terminals(batch))
    return responses


def _terminals(batch: list[pb.WatchTerminal]) -> pb.WatchResponse:
    if len(batch) == 1:
        return pb.WatchResponse(terminal=batch[0])
    return pb.WatchResponse(terminals=pb.WatchTerminals(terminals=batch))


def _watch_response(answer: WatchAnswer) -> pb.WatchResponse:
    if isinstance(answer, WatchAck):
        return pb.WatchResponse(ack=pb.WatchAck(added=answer.added, removed=answer.removed))
    if isinstance(answer, WatchRejection):
        return pb.WatchResponse(
            rejected=pb.WatchRejected(
                key_id=answer.key_id, code=answer.code, message=answer.message, token=answer.token
            )
        )
    return pb.WatchResponse(
        terminal=pb.WatchTerminal(
            key_id=answer.key_id, terminal=resolution_to_proto(answer.resolution), cursor=answer.cursor
        )
    )


def _deadline(request: pb.AwaitRequest) -> int | None:
    limit = request.WhichOneof("limit")
    if limit == "timeout_ms":
        return now_ms() + in_range("timeout_ms", request.timeout_ms, 1, MAX_TIMEOUT_MS)
    if limit == "deadline_unix_ms":
        return in_range("deadline_unix_ms", request.deadline_unix_ms, 1, MAX_DEADLINE_UNIX_MS)
    return None


class AwaitEventsServicer:
    def __init__(
        self,
        core: AwaitEventCore,
        streams: Streams,
        *,
        limits: LimitsConfig,
        streams_config: StreamsConfig,
        config: AwaitEventsConfig,
    ) -> None:
        self._core = core
        self._limits = limits
        self._key = _KeyDecoder(limits)
        self._streams = streams
        self._streams_config = streams_config
        self._config = config

    async def MintKey(self, request: pb.MintKeyRequest, context: Context) -> pb.MintKeyResponse:
        scope, wait = scope_from_proto(request.scope), wait_from_proto(request.wait)
        check_ids(scope, "scope", self._limits.max_id_bytes)
        check_ids(wait, "wait", self._limits.max_id_bytes)
        key = await self._core.mint(scope, wait)
        response = minted_key_to_proto(key)
        # The minting runtime usually awaits or watches this key next: decode it from memory then.
        self._key.remember(response.key, key)
        return response

    async def Resolve(self, request: pb.ResolveRequest, context: Context) -> pb.ResolveResponse:
        outcome = await self._core.resolve(self._key(request), _required_resolution(request))
        return pb.ResolveResponse(outcome=resolve_outcome_to_proto(outcome))

    async def ResolveMany(self, request: pb.ResolveManyRequest, context: Context) -> pb.ResolveManyResponse:
        if len(request.items) > self._config.max_batch:
            raise InvalidArgumentError(
                "batch_too_large", f"a batch holds at most {self._config.max_batch} items, got {len(request.items)}"
            )
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

    async def Await(self, request: pb.AwaitRequest, context: Context) -> None:
        """Writes its responses itself: an idle Await stream holds one coroutine frame and its Waiter."""
        key = self._key(request, remember=False)
        deadline = _deadline(request)
        interval = self._streams.heartbeat_s(
            in_range("heartbeat_interval_ms", request.heartbeat_interval_ms, 0, MAX_HEARTBEAT_MS)
        )
        del request
        opened = await self._core.open_wait(key, deadline)
        del key
        if not isinstance(opened, Waiter):
            await context.write(pb.AwaitResponse(terminal=resolution_to_proto(opened)))
            return
        streams = self._streams
        streams.hold(opened.future)
        try:
            # A first heartbeat at once: the wait is registered (a resolve from now on wakes it).
            await context.write(_await_heartbeat())
            while not await streams.done_within(opened.future, interval):
                await context.write(_await_heartbeat())
            # The terminal, or server_shutting_down / unknown_or_revoked raised here.
            await context.write(pb.AwaitResponse(terminal=resolution_to_proto(opened.resolution())))
        finally:
            # A dropped stream resolves nothing: stop waiting, leave the key (and its deadline) alone.
            streams.release(opened.future, cancel=False)
            opened.close()

    async def Watch(
        self, requests: AsyncIterator[pb.WatchRequest], context: Context
    ) -> AsyncIterator[pb.WatchResponse]:
        session = WatchSession(
            self._core,
            max_keys=self._config.max_watched_keys,
            max_queued=self._streams_config.max_queued_responses,
            max_queued_bytes=self._streams_config.max_queued_bytes,
        )
        reader = asyncio.ensure_future(self._read_watch(session, requests))
        stop = self._streams.stop_future()
        interval = self._streams.default_heartbeat_s
        try:
            while True:
                if stop.done():
                    raise shutting_down()
                answers = session.take_many(_WATCH_BATCH, _WATCH_BATCH_BYTES)
                if answers:
                    for response in _watch_responses(answers):
                        yield response
                    continue
                reading = not reader.done()
                await session.wait(interval, (reader, stop) if reading else (stop,))
                interval = self._streams.heartbeat_s(session.heartbeat_interval_ms)
                if session.has_answer():
                    continue
                if reader.done():
                    reader.result()  # re-raise a failure of the request side
                    if session.idle():
                        return  # the client closed its side and every watched key was answered
                    if reading:
                        continue
                if stop.done():
                    raise shutting_down()
                yield pb.WatchResponse(heartbeat=_heartbeat())
        finally:
            self._streams.release(stop)
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
            session.close()

    async def _read_watch(self, session: WatchSession, requests: AsyncIterator[pb.WatchRequest]) -> None:
        async for request in requests:
            add: list[AwaitEventKey | WatchRejection] = []
            for message in request.add_keys:
                try:
                    add.append(self._key.message(message))
                except EffectdError as exc:
                    add.append(WatchRejection(message.key_id[:1024], exc.code, exc.message))
            for token in request.add_tokens:
                try:
                    key = self._key.token(token)
                except EffectdError as exc:
                    add.append(WatchRejection("", exc.code, exc.message, token[:1024]))
                    continue
                add.append(WatchRejection("", *_UNKNOWN, token) if key is UNDECODABLE_TOKEN_KEY else key)
            await session.apply(
                add,
                request.remove_key_ids,
                resume_after=in_range("resume_after", request.resume_after, 0, MAX_CURSOR),
                heartbeat_interval_ms=in_range(
                    "heartbeat_interval_ms", request.heartbeat_interval_ms, 0, MAX_HEARTBEAT_MS
                ),
            )

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

    def _session_id(self, session_id: str) -> str:
        return check_id("session_id", session_id, self._limits.max_id_bytes)

    async def RevokeSession(self, request: pb.RevokeSessionRequest, context: Context) -> pb.RevokeSessionResponse:
        await self._core.revoke_session(self._session_id(request.session_id))
        return pb.RevokeSessionResponse()

    async def ListSessions(self, request: pb.ListSessionsRequest, context: Context) -> pb.ListSessionsResponse:
        limit = in_range("limit", request.limit, 0, MAX_PAGE_SIZE) or _LIST_DEFAULT
        rows = await self._core.recent_sessions(limit)
        return pb.ListSessionsResponse(
            sessions=[
                pb.SessionSummary(
                    session_id=r.session_id,
                    pending=r.pending,
                    resolved=r.resolved,
                    revoked=r.revoked,
                    last_activity_unix_ms=r.last_activity_ms,
                )
                for r in rows
            ]
        )

    async def ListPendingKeys(self, request: pb.ListPendingKeysRequest, context: Context) -> pb.ListPendingKeysResponse:
        limit = in_range("limit", request.limit, 0, MAX_PAGE_SIZE) or _LIST_DEFAULT
        listed = await self._core.list_pending_keys(self._session_id(request.session_id), limit)
        response = pb.ListPendingKeysResponse()
        for info in listed:
            item = response.keys.add(
                key=key_to_proto(info.key), token=key_token(info.key), created_at_unix_ms=info.created_at_unix_ms
            )
            if info.deadline_unix_ms is not None:
                item.deadline_unix_ms = info.deadline_unix_ms
        return response

    async def CancelSessionWaits(
        self, request: pb.CancelSessionWaitsRequest, context: Context
    ) -> pb.CancelSessionWaitsResponse:
        count = await self._core.cancel_session_waits(self._session_id(request.session_id))
        return pb.CancelSessionWaitsResponse(cancelled=count)


def _key_info(key: SigningKey) -> pb.SigningKeyInfo:
    return pb.SigningKeyInfo(kid=key.kid, state=_KEY_STATES[key.state], created_at_unix_ms=key.created_at_unix_ms)


class KeyringServicer:
    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring

    async def ListSigningKeys(self, request: pb.ListSigningKeysRequest, context: Context) -> pb.ListSigningKeysResponse:
        await self._keyring.refresh()
        return pb.ListSigningKeysResponse(keys=[_key_info(key) for key in self._keyring.described()])

    async def RotateSigningKey(
        self, request: pb.RotateSigningKeyRequest, context: Context
    ) -> pb.RotateSigningKeyResponse:
        return pb.RotateSigningKeyResponse(active=_key_info(describe(await self._keyring.rotate())))

    async def RetireSigningKey(
        self, request: pb.RetireSigningKeyRequest, context: Context
    ) -> pb.RetireSigningKeyResponse:
        if not request.kid.strip():
            raise InvalidArgumentError("invalid_request", "kid is required")
        return pb.RetireSigningKeyResponse(key=_key_info(describe(await self._keyring.retire(request.kid))))
