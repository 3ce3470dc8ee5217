"""The async client: one method per RPC, frozen dataclasses in and out, typed errors.

async with await Client.connect("127.0.0.1:50551") as client:
    key = await client.mint_key(TurnScope("s1", "t1"), ToolCompletionWait("c1"))
    await client.resolve(key, Ok({"answer": 42}))
    resolution = await client.await_event(key)
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import grpc

from effectd._channel import TLSConfig
from effectd._convert_await_events import KeyRef, key_ref_to_proto, minted_key_from_proto
from effectd._convert_scope import (
    key_from_proto,
    key_to_proto,
    resolution_from_proto,
    resolution_to_proto,
    resolve_outcome_from_proto,
    scope_to_proto,
    wait_to_proto,
)
from effectd._convert_workers import worker_info_from_proto
from effectd._errors import EffectdError, InvalidArgumentError, error_for
from effectd._rpc import DEFAULT_TIMEOUT_S, Reconnect, Rpc, Watchdog, heartbeat_ms, stall_after
from effectd._scope import (
    AwaitEventKey,
    AwaitEventWaitIdentity,
    ExecutionScope,
    InvalidTokenError,
    Resolution,
    ResolveOutcome,
    key_from_token,
)
from effectd._tools import ToolInfo, tools_of
from effectd.v1 import await_events_pb2 as pb
from effectd.v1 import await_events_pb2_grpc as pb_grpc
from effectd.v1 import workers_pb2, workers_pb2_grpc

__all__ = [
    "RPC_METHODS",
    "Client",
    "KeyPending",
    "PendingKey",
    "SessionSummary",
    "SigningKey",
    "Watch",
    "WatchRejected",
    "WatchTerminal",
]

# Every RPC of the contract and the one SDK method that calls it (a test walks the descriptors).
# Plain names are `Client` methods; EffectController RPCs are served by `RemoteEffectController`,
# Processes RPCs by `RemoteProcessRegistry`, Workers RPCs by `Worker` (the stream) and `RemoteWorkers`.
RPC_METHODS: dict[str, str] = {
    "effectd.v1.Workers/Connect": "Worker.run",
    "effectd.v1.Workers/ListWorkers": "RemoteWorkers.list_workers",
    "effectd.v1.Workers/DescribeWorker": "RemoteWorkers.describe_worker",
    "effectd.v1.Workers/DrainWorker": "RemoteWorkers.drain_worker",
    "effectd.v1.Workers/WatchProgress": "RemoteWorkers.watch_progress",
    "effectd.v1.EffectController/Describe": "RemoteEffectController.describe",
    "effectd.v1.EffectController/Execute": "RemoteEffectController.execute_effect",
    "effectd.v1.EffectController/Complete": "RemoteEffectController._complete",
    "effectd.v1.EffectController/RenewLease": "RemoteEffectController._renew",
    "effectd.v1.EffectController/ListEffects": "RemoteEffectController.list_effects",
    "effectd.v1.EffectController/GetEffect": "RemoteEffectController.get_effect",
    "effectd.v1.EffectController/ListScopes": "RemoteEffectController.list_scopes",
    "effectd.v1.AwaitEvents/MintKey": "mint_key",
    "effectd.v1.AwaitEvents/Resolve": "resolve",
    "effectd.v1.AwaitEvents/ResolveMany": "resolve_many",
    "effectd.v1.AwaitEvents/Await": "await_event",
    "effectd.v1.AwaitEvents/Watch": "watch",
    "effectd.v1.AwaitEvents/Peek": "peek",
    "effectd.v1.AwaitEvents/Cancel": "cancel",
    "effectd.v1.AwaitEvents/RevokeKey": "revoke_key",
    "effectd.v1.AwaitEvents/RevokeSession": "revoke_session",
    "effectd.v1.AwaitEvents/CancelSessionWaits": "cancel_session_waits",
    "effectd.v1.AwaitEvents/ListSessions": "list_sessions",
    "effectd.v1.AwaitEvents/ListPendingKeys": "list_pending_keys",
    "effectd.v1.Keyring/ListSigningKeys": "list_signing_keys",
    "effectd.v1.Keyring/RotateSigningKey": "rotate_signing_key",
    "effectd.v1.Keyring/RetireSigningKey": "retire_signing_key",
    "effectd.v1.Processes/RegisterProcess": "RemoteProcessRegistry.register_process",
    "effectd.v1.Processes/GetProcess": "RemoteProcessRegistry.get_process",
    "effectd.v1.Processes/ListProcesses": "RemoteProcessRegistry.list_processes",
    "effectd.v1.Processes/ListNonTerminal": "RemoteProcessRegistry.list_non_terminal",
    "effectd.v1.Processes/SetExternalRef": "RemoteProcessRegistry.set_external_ref",
    "effectd.v1.Processes/GrantHandle": "RemoteProcessRegistry.grant_handle",
    "effectd.v1.Processes/RevokeHandle": "RemoteProcessRegistry.revoke_handle",
    "effectd.v1.Processes/HasHandleGrant": "RemoteProcessRegistry.has_handle_grant",
    "effectd.v1.Processes/ListHandleGrants": "RemoteProcessRegistry.list_handle_grants",
    "effectd.v1.Processes/ListLiveHandleGrants": "RemoteProcessRegistry.list_live_handle_grants",
    "effectd.v1.Processes/HandleGrantsForProcess": "RemoteProcessRegistry.handle_grants_for_process",
    "effectd.v1.Processes/TransferHandleGrants": "RemoteProcessRegistry.transfer_handle_grants",
    "effectd.v1.Processes/DeleteSessionProcessState": "RemoteProcessRegistry.delete_session_process_state",
    "effectd.v1.Processes/AppendEvent": "RemoteProcessRegistry.append_event",
    "effectd.v1.Processes/EventsAfter": "RemoteProcessRegistry.events_after",
    "effectd.v1.Processes/WakeEventsAfter": "RemoteProcessRegistry.wake_events_after",
    "effectd.v1.Processes/AckWake": "RemoteProcessRegistry.ack_wake",
    "effectd.v1.Processes/CountEventsThrough": "RemoteProcessRegistry.count_events_through",
    "effectd.v1.Processes/RecentEvents": "RemoteProcessRegistry.recent_events",
    "effectd.v1.Processes/WaitEventAfter": "RemoteProcessRegistry.wait_event_after",
    "effectd.v1.Processes/SetProcessWait": "RemoteProcessRegistry.set_process_wait",
    "effectd.v1.Processes/ClearProcessWait": "RemoteProcessRegistry.clear_process_wait",
    "effectd.v1.Processes/CompleteProcess": "RemoteProcessRegistry.complete_process",
    "effectd.v1.Processes/AwaitProcess": "RemoteProcessRegistry.await_process",
    "effectd.v1.Processes/ClaimProcessLease": "RemoteProcessRegistry.claim_process_lease",
    "effectd.v1.Processes/RenewProcessLease": "RemoteProcessRegistry.renew_process_lease",
    "effectd.v1.Processes/CompleteProcessLease": "RemoteProcessRegistry.complete_process_lease",
    "effectd.v1.Processes/Signal": "RemoteProcessRegistry.signal",
    "effectd.v1.Processes/StreamEvents": "RemoteProcessRegistry.stream_events",
}

# The ranges the contract documents (await_events.proto): ten years, and the last millisecond of 9999.
MAX_TIMEOUT_S = 315_360_000
MAX_DEADLINE_UNIX_MS = 253_402_300_799_999


@dataclass(frozen=True, slots=True)
class KeyPending:
    """Peek's answer for a key without a terminal yet."""

    deadline_unix_ms: int | None


@dataclass(frozen=True, slots=True)
class SessionSummary:
    """A session that has keys, as `Client.list_sessions()` lists it."""

    session_id: str
    pending: int
    resolved: int
    revoked: bool
    last_activity_unix_ms: int


@dataclass(frozen=True, slots=True)
class PendingKey:
    """A pending key, as `Client.list_pending_keys()` lists it (signed by the active signing key)."""

    key: AwaitEventKey
    deadline_unix_ms: int | None
    created_at_unix_ms: int


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    state: Literal["active", "verify_only", "retired"]
    created_at_unix_ms: int


@dataclass(frozen=True, slots=True)
class WatchTerminal:
    key_id: str
    resolution: Resolution
    cursor: int
    """The store's resolution sequence number of this terminal."""


@dataclass(frozen=True, slots=True)
class WatchRejected:
    """A watched key that cannot be awaited: invalid, unknown or revoked (also when revoked later)."""

    key_id: str
    """Empty when the key was given as a token that does not decode."""
    code: str
    message: str
    token: str = ""
    """The token as given, when the key was given as a token."""


_KEY_STATE_NAMES: dict[int, Literal["active", "verify_only", "retired"]] = {
    pb.SIGNING_KEY_STATE_ACTIVE: "active",
    pb.SIGNING_KEY_STATE_VERIFY_ONLY: "verify_only",
    pb.SIGNING_KEY_STATE_RETIRED: "retired",
}


def _text(name: str, value: object) -> None:
    """A wrong type is an InvalidArgumentError with a code, not a TypeError from protobuf."""
    if not isinstance(value, str):
        raise InvalidArgumentError("invalid_request", f"{name} must be a str, got {type(value).__name__}")


def _number(name: str, value: object, *, integer: bool = False) -> None:
    kinds: tuple[type, ...] = (int,) if integer else (int, float)
    if value is not None and (not isinstance(value, kinds) or isinstance(value, bool)):
        what = "an int" if integer else "a number of seconds"
        raise InvalidArgumentError("invalid_request", f"{name} must be {what}, got {type(value).__name__}")


def _signing_key(info: pb.SigningKeyInfo) -> SigningKey:
    return SigningKey(info.kid, _KEY_STATE_NAMES.get(info.state, "retired"), info.created_at_unix_ms)


class Client:
    """A connection to effectd. Create with `await Client.connect(target)`; close with `async with`.

    `Client(rpc)` makes another facade over an open `Rpc` (the controller and the host share one); a
    `grpc.aio.Channel` is wrapped in a new `Rpc`. `client.rpc` is what other facades are built on.
    """

    def __init__(self, rpc: Rpc | grpc.aio.Channel, *, default_timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.rpc = rpc if isinstance(rpc, Rpc) else Rpc(rpc, default_timeout=default_timeout)
        self._events = self.rpc.stub(pb_grpc.AwaitEventsStub)
        self._keyring = self.rpc.stub(pb_grpc.KeyringStub)
        self._workers = self.rpc.stub(workers_pb2_grpc.WorkersStub)

    @classmethod
    async def connect(
        cls,
        target: str | Sequence[str],
        *,
        default_timeout: float = DEFAULT_TIMEOUT_S,
        connect_timeout: float | None = 10.0,
        tls: TLSConfig | None = None,
        token: str | None = None,
    ) -> Client:
        """Open a channel to `target`: "host:port", a gRPC target ("dns:///name:port"), or a list of
        "host:port" replicas. Calls go to every address and move on from one that fails. Waits until
        the channel is ready unless connect_timeout is None.

        `tls=TLSConfig(ca_file=..., cert_file=..., key_file=...)` speaks TLS (with a client certificate
        for mTLS); `token` is the bearer token sent with every call (`effectd tokens add` makes one)."""
        return cls(
            await Rpc.connect(
                target, default_timeout=default_timeout, connect_timeout=connect_timeout, tls=tls, token=token
            )
        )

    @property
    def default_timeout(self) -> float:
        """Seconds every unary call may take unless it is given its own `timeout=` (the Rpc's default)."""
        return self.rpc.default_timeout

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the channel (shared by every facade built on this client's `rpc`)."""
        await self.rpc.close()

    # -- AwaitEvents -------------------------------------------------------------------------
    async def mint_key(
        self, scope: ExecutionScope, wait: AwaitEventWaitIdentity, *, timeout: float | None = None
    ) -> AwaitEventKey:
        """The signed key for (scope, wait); the same inputs always give the same key. `key.token` is
        the same key as one string."""
        request = pb.MintKeyRequest(scope=scope_to_proto(scope), wait=wait_to_proto(wait))
        response = await self.rpc.unary(self._events.MintKey, request, timeout=timeout)
        return minted_key_from_proto(response)

    async def resolve(self, key: KeyRef, resolution: Resolution, *, timeout: float | None = None) -> ResolveOutcome:
        """First writer wins: Accepted once, then AlreadyResolved(winner); UnknownOrRevoked for bad keys.
        `key` is an AwaitEventKey or its token (as every method here takes)."""
        request = pb.ResolveRequest(resolution=resolution_to_proto(resolution), **key_ref_to_proto(key))
        response = await self.rpc.unary(self._events.Resolve, request, timeout=timeout)
        return resolve_outcome_from_proto(response.outcome)

    async def resolve_many(
        self, items: Iterable[tuple[KeyRef, Resolution]], *, timeout: float | None = None
    ) -> list[ResolveOutcome | EffectdError]:
        """A batch in one call; each item gets its own outcome, or the error that made it invalid."""
        request = pb.ResolveManyRequest(
            items=[pb.ResolveRequest(resolution=resolution_to_proto(r), **key_ref_to_proto(k)) for k, r in items]
        )
        response = await self.rpc.unary(self._events.ResolveMany, request, timeout=timeout)
        results: list[ResolveOutcome | EffectdError] = []
        for result in response.results:
            if result.WhichOneof("result") == "error":
                results.append(error_for(result.error.code, result.error.message))
            else:
                results.append(resolve_outcome_from_proto(result.outcome))
        return results

    async def await_event(
        self,
        key: KeyRef,
        *,
        timeout: float | None = None,
        deadline_unix_ms: int | None = None,
        heartbeat_interval: float | None = None,
        reconnect_for: float = 60.0,
    ) -> Resolution:
        """Wait for the key's terminal.

        `timeout` (seconds) or `deadline_unix_ms` sets a durable server-side deadline: when it passes the
        server records `timeout`. A broken stream is reopened (for up to `reconnect_for` seconds of
        failures in a row); it resolves nothing. The server sends a heartbeat every `heartbeat_interval`
        seconds (default 5, at least 1); a stream silent for two intervals plus a second is taken for a
        dead link and reopened on a new connection.
        """
        _number("timeout", timeout)
        _number("deadline_unix_ms", deadline_unix_ms, integer=True)
        if timeout is not None and deadline_unix_ms is None:
            if not (math.isfinite(timeout) and 0 <= timeout <= MAX_TIMEOUT_S):
                raise InvalidArgumentError(
                    "value_out_of_range", f"timeout must be between 0 and {MAX_TIMEOUT_S} seconds, got {timeout}"
                )
            deadline_unix_ms = int((time.time() + timeout) * 1000)
        if deadline_unix_ms is not None and not 1 <= deadline_unix_ms <= MAX_DEADLINE_UNIX_MS:
            raise InvalidArgumentError(
                "value_out_of_range",
                f"deadline_unix_ms must be between 1 and {MAX_DEADLINE_UNIX_MS}, got {deadline_unix_ms}",
            )
        request = pb.AwaitRequest(**key_ref_to_proto(key))
        if deadline_unix_ms is not None:
            request.deadline_unix_ms = deadline_unix_ms
        request.heartbeat_interval_ms = heartbeat_ms(heartbeat_interval)
        silence = stall_after(request.heartbeat_interval_ms)
        reconnect = Reconnect(give_up_after=reconnect_for)
        while True:
            watchdog = Watchdog(self.rpc, silence)
            call = self._events.Await(request)
            watchdog.watch(call)
            try:
                async for response in call:
                    watchdog.heard()
                    reconnect.succeeded()
                    if response.WhichOneof("event") == "terminal":
                        return resolution_from_proto(response.terminal, "terminal")
            except (grpc.aio.AioRpcError, asyncio.CancelledError) as exc:
                if watchdog.lost(exc):
                    reconnect.lost(watchdog)
                elif isinstance(exc, grpc.aio.AioRpcError):
                    reconnect.failed(exc)
                else:
                    raise
            finally:
                watchdog.stop()
                call.cancel()
            await reconnect.wait()

    def watch(
        self,
        keys: Iterable[KeyRef] = (),
        *,
        heartbeat_interval: float | None = None,
        until_done: bool = True,
    ) -> Watch:
        """Watch many keys on one stream: `async for event in client.watch(keys)` yields each key's
        WatchTerminal (or WatchRejected) once. Reconnects by itself and re-adds only the keys whose
        terminal has not arrived yet. With `until_done` the iteration ends when every key is answered.
        Keys may be given as tokens; a token that does not decode is answered by a WatchRejected whose
        `key_id` is empty and whose `token` is that token. Heartbeats and the dead-link bound are as for
        `await_event`.
        """
        return Watch(self.rpc, keys, heartbeat_interval=heartbeat_interval, until_done=until_done)

    async def peek(self, key: KeyRef, *, timeout: float | None = None) -> Resolution | KeyPending:
        response = await self.rpc.unary(self._events.Peek, pb.PeekRequest(**key_ref_to_proto(key)), timeout=timeout)
        if response.WhichOneof("state") == "terminal":
            return resolution_from_proto(response.terminal, "terminal")
        pending = response.pending
        return KeyPending(pending.deadline_unix_ms if pending.HasField("deadline_unix_ms") else None)

    async def cancel(self, key: KeyRef, *, timeout: float | None = None) -> ResolveOutcome:
        """Record `cancelled` as the key's terminal (first writer wins)."""
        response = await self.rpc.unary(self._events.Cancel, pb.CancelRequest(**key_ref_to_proto(key)), timeout=timeout)
        return resolve_outcome_from_proto(response.outcome)

    async def revoke_key(self, key: KeyRef, *, timeout: float | None = None) -> None:
        await self.rpc.unary(self._events.RevokeKey, pb.RevokeKeyRequest(**key_ref_to_proto(key)), timeout=timeout)

    async def revoke_session(self, session_id: str, *, timeout: float | None = None) -> None:
        _text("session_id", session_id)
        await self.rpc.unary(
            self._events.RevokeSession, pb.RevokeSessionRequest(session_id=session_id), timeout=timeout
        )

    async def cancel_session_waits(self, session_id: str, *, timeout: float | None = None) -> int:
        """Resolve every pending key of the session as `cancelled`; returns how many."""
        _text("session_id", session_id)
        response = await self.rpc.unary(
            self._events.CancelSessionWaits, pb.CancelSessionWaitsRequest(session_id=session_id), timeout=timeout
        )
        return int(response.cancelled)

    async def list_sessions(self, *, limit: int = 100, timeout: float | None = None) -> list[SessionSummary]:
        """Sessions that have keys, most recently active first (up to `limit`, at most 1000)."""
        _number("limit", limit, integer=True)
        response = await self.rpc.unary(self._events.ListSessions, pb.ListSessionsRequest(limit=limit), timeout=timeout)
        return [
            SessionSummary(s.session_id, s.pending, s.resolved, s.revoked, s.last_activity_unix_ms)
            for s in response.sessions
        ]

    async def list_pending_keys(
        self, session_id: str, *, limit: int = 100, timeout: float | None = None
    ) -> list[PendingKey]:
        """The session's pending keys, oldest first, each signed by the active signing key (`key.token`)."""
        _text("session_id", session_id)
        _number("limit", limit, integer=True)
        request = pb.ListPendingKeysRequest(session_id=session_id, limit=limit)
        response = await self.rpc.unary(self._events.ListPendingKeys, request, timeout=timeout)
        return [
            PendingKey(
                key_from_proto(k.key),
                k.deadline_unix_ms if k.HasField("deadline_unix_ms") else None,
                k.created_at_unix_ms,
            )
            for k in response.keys
        ]

    # -- Tools -------------------------------------------------------------------------------
    async def list_tools(self, *, timeout: float | None = None) -> list[ToolInfo]:
        """Every tool live workers offer (name, MCP server, version, workers, input schema), read from
        `ListWorkers`: what a runtime hands its LLM. Call one with `ToolEffects.call_tool`."""
        response = await self.rpc.unary(self._workers.ListWorkers, workers_pb2.ListWorkersRequest(), timeout=timeout)
        return tools_of([worker_info_from_proto(worker) for worker in response.workers])

    # -- Keyring -----------------------------------------------------------------------------
    async def list_signing_keys(self, *, timeout: float | None = None) -> list[SigningKey]:
        response = await self.rpc.unary(self._keyring.ListSigningKeys, pb.ListSigningKeysRequest(), timeout=timeout)
        return [_signing_key(k) for k in response.keys]

    async def rotate_signing_key(self, *, timeout: float | None = None) -> SigningKey:
        response = await self.rpc.unary(self._keyring.RotateSigningKey, pb.RotateSigningKeyRequest(), timeout=timeout)
        return _signing_key(response.active)

    async def retire_signing_key(self, kid: str, *, timeout: float | None = None) -> SigningKey:
        _text("kid", kid)
        response = await self.rpc.unary(
            self._keyring.RetireSigningKey, pb.RetireSigningKeyRequest(kid=kid), timeout=timeout
        )
        return _signing_key(response.key)


# Keys per WatchRequest, so that large key sets stay far below the message size limit.
_WATCH_CHUNK = 2000
_CLOSE = object()


class Watch:
    """An open watch. Iterate it for events; `add` and `remove` keys while it runs; `aclose` ends it."""

    def __init__(
        self,
        rpc: Rpc,
        keys: Iterable[KeyRef],
        *,
        heartbeat_interval: float | None,
        until_done: bool,
    ) -> None:
        self._rpc = rpc
        self._stub = rpc.stub(pb_grpc.AwaitEventsStub)
        # Keyed by key_id (a token that does not decode: by the token itself).
        self._pending: dict[str, KeyRef] = {}
        self._heartbeat_ms = heartbeat_ms(heartbeat_interval)
        self._silence = stall_after(self._heartbeat_ms)
        self._until_done = until_done
        self._events: asyncio.Queue[WatchTerminal | WatchRejected | BaseException] = asyncio.Queue()
        self._outbox: asyncio.Queue[Any] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.cursor = 0
        """The highest resolution cursor received so far."""
        for key in keys:
            self._pending[_watch_id(key)] = key

    @property
    def pending(self) -> int:
        """How many keys have no terminal yet."""
        return len(self._pending)

    def add(self, keys: Iterable[KeyRef]) -> None:
        new = {_watch_id(k): k for k in keys}
        new = {i: k for i, k in new.items() if i not in self._pending}
        self._pending.update(new)
        if self._outbox is not None and new:
            for request in _add_requests(list(new.values())):
                self._outbox.put_nowait(request)

    def remove(self, key_ids: Sequence[str]) -> None:
        for key_id in key_ids:
            self._pending.pop(key_id, None)
        if self._outbox is not None:
            self._outbox.put_nowait(pb.WatchRequest(remove_key_ids=list(key_ids)))

    def __aiter__(self) -> AsyncIterator[WatchTerminal | WatchRejected]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[WatchTerminal | WatchRejected]:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="effectd-watch")
        try:
            while True:
                if self._until_done and not self._pending and self._events.empty():
                    return
                item = await self._events.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            if self._until_done and not self._pending:
                await self.aclose()

    async def aclose(self) -> None:
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        reconnect = Reconnect()
        while not self._closed:
            outbox: asyncio.Queue[Any] = asyncio.Queue()
            self._outbox = outbox
            first = True
            for request in _add_requests(list(self._pending.values())):
                if first:
                    request.heartbeat_interval_ms = self._heartbeat_ms
                    first = False
                outbox.put_nowait(request)
            if first:
                outbox.put_nowait(pb.WatchRequest(heartbeat_interval_ms=self._heartbeat_ms))
            # Every request is acknowledged at once and an idle stream gets heartbeats, so silence for
            # two intervals means a dead link: the watchdog cancels the call and the loop resumes.
            watchdog = Watchdog(self._rpc, self._silence)
            call = self._stub.Watch(_drain(outbox))
            watchdog.watch(call)
            try:
                async for response in call:
                    watchdog.heard()
                    reconnect.succeeded()
                    self._handle(response)
                if not self._pending:
                    return
            except (grpc.aio.AioRpcError, asyncio.CancelledError) as exc:
                try:
                    if watchdog.lost(exc):
                        reconnect.lost(watchdog)
                    elif isinstance(exc, grpc.aio.AioRpcError):
                        reconnect.failed(exc)
                    else:
                        raise
                except EffectdError as error:
                    self._events.put_nowait(error)
                    return
            finally:
                watchdog.stop()
                outbox.put_nowait(_CLOSE)
                call.cancel()
            await reconnect.wait()

    def _terminal(self, terminal: pb.WatchTerminal) -> None:
        if self._pending.pop(terminal.key_id, None) is None:
            return
        self.cursor = max(self.cursor, terminal.cursor)
        self._events.put_nowait(
            WatchTerminal(terminal.key_id, resolution_from_proto(terminal.terminal, "terminal"), terminal.cursor)
        )

    def _handle(self, response: pb.WatchResponse) -> None:
        which = response.WhichOneof("event")
        if which == "terminal":
            self._terminal(response.terminal)
        elif which == "terminals":
            for terminal in response.terminals.terminals:
                self._terminal(terminal)
        elif which == "rejected":
            rejected = response.rejected
            watch_id = rejected.key_id or rejected.token
            if self._pending.pop(watch_id, None) is None:
                return
            self._events.put_nowait(WatchRejected(rejected.key_id, rejected.code, rejected.message, rejected.token))


def _watch_id(key: KeyRef) -> str:
    """What a watched key is known by: its key_id, or the token itself when it does not decode."""
    if isinstance(key, AwaitEventKey):
        return key.key_id
    try:
        return key_from_token(key).key_id
    except InvalidTokenError:
        return key


def _add_requests(keys: Sequence[KeyRef]) -> list[pb.WatchRequest]:
    requests = []
    for i in range(0, len(keys), _WATCH_CHUNK):
        chunk = keys[i : i + _WATCH_CHUNK]
        requests.append(
            pb.WatchRequest(
                add_keys=[key_to_proto(k) for k in chunk if isinstance(k, AwaitEventKey)],
                add_tokens=[k for k in chunk if isinstance(k, str)],
            )
        )
    return requests


async def _drain(outbox: asyncio.Queue[Any]) -> AsyncIterator[pb.WatchRequest]:
    while True:
        item = await outbox.get()
        if item is _CLOSE:
            return
        yield item
