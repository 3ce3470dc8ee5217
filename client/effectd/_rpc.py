"""The one small RPC layer every facade uses: the channel, default deadlines, calls and error mapping.

`Client`, `RemoteEffectController` and `RemoteEffectHost` (and the process and worker facades to come)
share one `Rpc`: it owns the channel, makes one stub per service, gives every unary call a deadline
(`DEFAULT_TIMEOUT_S` unless the caller passes `timeout=`) and turns a failed call into the typed
`EffectdError` the server named in its `google.rpc.ErrorInfo`. Streams reconnect with `Reconnect`.

A stream is only as alive as what arrives on it. A link that a NAT or load balancer dropped without a
reset stays open and silent, and HTTP/2 keepalive notices it only after `keepalive_time + ping timeout`
(40 s). So every SDK stream asks the server for heartbeats (`DEFAULT_HEARTBEAT_S` unless given an
interval) and runs under a `Watchdog`: when nothing arrives for `stall_after(interval)` seconds (two
intervals plus a margin) the call is cancelled, the `Rpc` replaces its channel (a new connection: the
old one would carry the retry into the same hole) and the stream reopens with backoff and resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar, cast

import grpc
from google.rpc import error_details_pb2, status_pb2

from effectd._channel import TLSConfig, open_channel
from effectd._errors import DOMAIN, EffectdError, InvalidArgumentError, UnavailableError, error_for

__all__ = [
    "DEFAULT_HEARTBEAT_S",
    "DEFAULT_TIMEOUT_S",
    "RETRYABLE",
    "Reconnect",
    "Rpc",
    "Watchdog",
    "backoff",
    "call",
    "error_from_rpc",
    "heartbeat_ms",
    "stall_after",
]

T = TypeVar("T")
Stub = TypeVar("Stub")

DEFAULT_TIMEOUT_S = 10.0
"""The deadline of every unary call unless the caller passes `timeout=`."""

RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE})
"""Statuses after which a stream is reopened (unary calls are retried by the channel's service config)."""

DEFAULT_HEARTBEAT_S = 5.0
"""The heartbeat interval SDK streams (Await, Watch) ask for unless given one: a dead link is noticed
within `stall_after(5.0)` = 11 s."""

SERVER_MIN_HEARTBEAT_S = 1.0
"""The server raises requested heartbeat intervals to this (its `min_heartbeat_interval_s` default)."""

MAX_HEARTBEAT_S = 3600.0
"""The longest heartbeat interval the contract accepts (`heartbeat_interval_ms` up to 3,600,000)."""

STALL_HEARTBEATS = 2
"""How many heartbeat intervals of silence make a stream dead."""

STALL_MARGIN_S = 1.0
"""Added to those intervals for scheduling and network jitter."""

_STATUS_DETAILS_KEY = "grpc-status-details-bin"


def heartbeat_ms(heartbeat_interval: float | None) -> int:
    """The `heartbeat_interval_ms` an SDK stream asks for: `DEFAULT_HEARTBEAT_S` when None; otherwise
    seconds, more than 0 and at most an hour (the server raises it to its minimum, 1 s)."""
    if heartbeat_interval is None:
        heartbeat_interval = DEFAULT_HEARTBEAT_S
    if not isinstance(heartbeat_interval, int | float) or isinstance(heartbeat_interval, bool):
        raise InvalidArgumentError(
            "invalid_request",
            f"heartbeat_interval must be a number of seconds, got {type(heartbeat_interval).__name__}",
        )
    if not (math.isfinite(heartbeat_interval) and 0 < heartbeat_interval <= MAX_HEARTBEAT_S):
        raise InvalidArgumentError(
            "value_out_of_range",
            f"heartbeat_interval must be more than 0 and at most {MAX_HEARTBEAT_S:g} seconds, got {heartbeat_interval}",
        )
    return max(1, int(heartbeat_interval * 1000))


def stall_after(heartbeat_interval_ms: int) -> float:
    """Seconds of silence after which a stream that asked for `heartbeat_interval_ms` is taken for dead:
    `STALL_HEARTBEATS` intervals as the server applies them (raised to its 1 s minimum) plus
    `STALL_MARGIN_S`. The server sends the first message at once (Await: a heartbeat when the wait is
    registered; Watch: the acknowledgement of the first request), so the bound holds from the start."""
    interval = max(heartbeat_interval_ms / 1000, SERVER_MIN_HEARTBEAT_S)
    return STALL_HEARTBEATS * interval + STALL_MARGIN_S


def error_from_rpc(exc: grpc.aio.AioRpcError) -> EffectdError:
    """The typed error for a failed call, from its ErrorInfo when the server sent one."""
    status = exc.code()
    for name, value in exc.trailing_metadata() or ():
        if name != _STATUS_DETAILS_KEY or not isinstance(value, bytes):
            continue
        details = status_pb2.Status.FromString(value)
        for detail in details.details:
            info = error_details_pb2.ErrorInfo()
            if detail.Unpack(info) and info.domain == DOMAIN:
                return error_for(info.reason, details.message or exc.details() or "", status)
    return error_for(status.name.lower(), exc.details() or status.name, status)


async def call(pending: Awaitable[T]) -> T:
    """Await a call; a failed one raises its typed `EffectdError` (without the gRPC traceback)."""
    try:
        return await pending
    except grpc.aio.AioRpcError as exc:
        raise error_from_rpc(exc) from None


def backoff(attempt: int) -> float:
    """Seconds to wait before reconnect `attempt` (0, 1, ...): exponential from 50 ms to 2 s, jittered."""
    return float(min(2.0, 0.05 * 2**attempt)) * (0.5 + random.random() / 2)


RESUMABLE_CODES = frozenset({"stream_too_slow"})
"""Codes that end a stream which the client reopens, resuming where it was (besides UNAVAILABLE)."""


class Reconnect:
    """Pacing for a stream that reopens after UNAVAILABLE: `failed(exc)` raises the typed error unless the
    stream may be reopened (a retryable status, and failing for at most `give_up_after` seconds in a row);
    `wait()` sleeps the backoff; `succeeded()` is called when the stream delivers something."""

    def __init__(self, give_up_after: float | None = None) -> None:
        self.give_up_after = give_up_after
        self.attempt = 0
        self._failing_since: float | None = None

    def succeeded(self) -> None:
        self.attempt = 0
        self._failing_since = None

    def failed(self, exc: grpc.aio.AioRpcError) -> None:
        if exc.code() not in RETRYABLE:
            error = error_from_rpc(exc)
            # A stream ended because its reader fell behind resumes like one that dropped.
            if error.code not in RESUMABLE_CODES:
                raise error from None
        if self._given_up():
            raise error_from_rpc(exc) from None

    def lost(self, watchdog: Watchdog) -> None:
        """The stream went silent (see `Watchdog`): reopen it like one that failed with UNAVAILABLE."""
        if self._given_up():
            raise UnavailableError(
                "unavailable", f"effectd sent nothing for {watchdog.after:g} s on every attempt; the link looks dead"
            )

    def _given_up(self) -> bool:
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
        return self.give_up_after is not None and now - self._failing_since > self.give_up_after

    async def wait(self) -> None:
        await asyncio.sleep(backoff(self.attempt))
        self.attempt += 1


class Watchdog:
    """Takes a stream for dead when nothing arrives on it for `after` seconds: a half-dead link (dropped by a
    NAT or load balancer without a reset) stays open and silent, so only the missing heartbeats tell.

    One per attempt, made before the call (it notes the `Rpc`'s channel generation): `watch(call)` arms it,
    `heard()` on every message, `stop()` when the attempt ends. When it fires it cancels the call; the
    reader then gets a CancelledError (or CANCELLED), and `lost(exc)` says whether that came from here (or
    from the channel being replaced under the call) rather than from the task being cancelled; if so it
    has the `Rpc` replace the channel, and the stream reopens and resumes.
    """

    def __init__(self, rpc: Rpc, after: float) -> None:
        self.rpc = rpc
        self.after = after
        self.generation = rpc.generation
        self.fired = False
        self._loop = asyncio.get_running_loop()
        self._last = self._loop.time()
        self._call: grpc.aio.Call | None = None
        self._timer: asyncio.TimerHandle | None = None

    def watch(self, call: grpc.aio.Call) -> None:
        self._call = call
        self._last = self._loop.time()
        self._timer = self._loop.call_at(self._last + self.after, self._check)

    def heard(self) -> None:
        self._last = self._loop.time()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _check(self) -> None:
        # One timer per attempt, moved on lazily: a message costs a clock read, not a timer.
        due = self._last + self.after
        if self._loop.time() < due:
            self._timer = self._loop.call_at(due, self._check)
            return
        self._timer = None
        self.fired = True
        if self._call is not None:
            self._call.cancel()

    def lost(self, exc: BaseException) -> bool:
        """Whether the attempt ended because the link went silent (then the channel is replaced) or because
        its channel was replaced and closed under it; False for anything else."""
        cancelled = isinstance(exc, asyncio.CancelledError) or (
            isinstance(exc, grpc.aio.AioRpcError) and exc.code() == grpc.StatusCode.CANCELLED
        )
        if not cancelled:
            return False
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            return False  # the caller cancelled us
        if self.fired:
            self.rpc.renew_channel(self.generation)
            return True
        return isinstance(exc, grpc.aio.AioRpcError) and self.rpc.generation != self.generation


class _LiveStub:
    """What `Rpc.stub` hands out: each method is looked up on the current channel's stub when called, so
    facades keep their stubs across `Rpc.renew_channel`."""

    __slots__ = ("_factory", "_rpc")

    def __init__(self, rpc: Rpc, factory: Callable[[grpc.aio.Channel], Any]) -> None:
        self._rpc = rpc
        self._factory = factory

    def __getattr__(self, name: str) -> Any:
        return getattr(self._rpc._current_stub(self._factory), name)


_KEEP_RETIRED_CHANNELS = 4
_RETIRED_CLOSE_GRACE_S = 60.0


class Rpc:
    """A channel to effectd and how calls go over it. Facades share one; closing it closes the channel.

    Create with `await Rpc.connect(target)` or wrap an open channel with `Rpc(channel)`. A stream that
    finds its link dead has the channel replaced (`renew_channel`) when the `Rpc` knows how to open one
    (`Rpc.connect`, or `reopen=`); a wrapped channel without `reopen` is kept.
    """

    def __init__(
        self,
        channel: grpc.aio.Channel,
        *,
        default_timeout: float = DEFAULT_TIMEOUT_S,
        reopen: Callable[[], grpc.aio.Channel] | None = None,
    ) -> None:
        if default_timeout <= 0:
            raise ValueError(f"default_timeout must be positive, got {default_timeout!r}")
        self._channel = channel
        self._reopen = reopen
        self._generation = 0
        self._retired: list[grpc.aio.Channel] = []
        self._closing: dict[asyncio.Task[None], grpc.aio.Channel] = {}
        self._stubs: dict[Callable[..., Any], Any] = {}
        self._live_stubs: dict[Callable[..., Any], _LiveStub] = {}
        self.default_timeout = default_timeout
        """Seconds every unary call may take unless it is given its own `timeout=`."""

    @classmethod
    async def connect(
        cls,
        target: str | Sequence[str],
        *,
        default_timeout: float = DEFAULT_TIMEOUT_S,
        connect_timeout: float | None = 10.0,
        tls: TLSConfig | None = None,
        token: str | None = None,
    ) -> Rpc:
        """Open a channel to `target`: "host:port", a gRPC target ("dns:///name:port"), or a list of
        "host:port" replicas; over TLS with `tls`, every call carrying the bearer `token` if given.
        Waits until the channel is ready unless connect_timeout is None."""

        def reopen() -> grpc.aio.Channel:
            return open_channel(target, tls=tls, token=token)

        channel = reopen()
        try:
            rpc = cls(channel, default_timeout=default_timeout, reopen=reopen)
            if connect_timeout is not None:
                try:
                    await asyncio.wait_for(channel.channel_ready(), connect_timeout)
                except TimeoutError:
                    raise UnavailableError("unavailable", f"cannot reach effectd at {target}") from None
        except BaseException:
            await channel.close()
            raise
        return rpc

    @property
    def channel(self) -> grpc.aio.Channel:
        """The current channel (a new one after `renew_channel`)."""
        return self._channel

    @property
    def generation(self) -> int:
        """How many times the channel was replaced."""
        return self._generation

    def stub(self, factory: Callable[[grpc.aio.Channel], Stub]) -> Stub:
        """The stub of one service (`factory` is the generated `...Stub` class), one per service; its calls
        go over the current channel, also after `renew_channel`."""
        live = self._live_stubs.get(factory)
        if live is None:
            live = self._live_stubs[factory] = _LiveStub(self, factory)
        return cast(Stub, live)

    def _current_stub(self, factory: Callable[[grpc.aio.Channel], Stub]) -> Stub:
        stub = self._stubs.get(factory)
        if stub is None:
            stub = self._stubs[factory] = factory(self._channel)
        return cast(Stub, stub)

    def renew_channel(self, generation: int) -> bool:
        """Replace the channel, whose connection a stream found dead, with a new one (new connections), once
        per `generation`: the streams that noticed the same dead link together replace it once.

        The old channel stays open, so that calls still on it end by their own deadlines (or go on, if only
        one replica's link died); the last few are kept until `close`, older ones are closed after a grace.
        Returns whether a new channel was opened (False: already replaced, or no way to open one).
        """
        if generation != self._generation or self._reopen is None:
            return False
        old = self._channel
        self._channel = self._reopen()
        self._generation += 1
        self._stubs.clear()
        self._retired.append(old)
        if len(self._retired) > _KEEP_RETIRED_CHANNELS:
            oldest = self._retired.pop(0)
            task = asyncio.get_running_loop().create_task(oldest.close(_RETIRED_CLOSE_GRACE_S))
            self._closing[task] = oldest
            task.add_done_callback(lambda done: self._closing.pop(done, None))
        return True

    def timeout(self, timeout: float | None) -> float:
        """The deadline of one unary call: `timeout` if given, else the default."""
        return self.default_timeout if timeout is None else timeout

    async def unary(self, method: Callable[..., Awaitable[T]], request: Any, *, timeout: float | None = None) -> T:
        """Call a unary stub method with a deadline; a failure raises its typed `EffectdError`."""
        return await call(method(request, timeout=self.timeout(timeout)))

    async def close(self) -> None:
        closing = dict(self._closing)
        for task in closing:
            task.cancel()
        for task in closing:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for channel in (*closing.values(), *self._retired, self._channel):
            await channel.close()
        self._retired.clear()

    async def __aenter__(self) -> Rpc:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
