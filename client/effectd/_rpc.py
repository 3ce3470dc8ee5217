"""The one small RPC layer every facade uses: the channel, default deadlines, calls and error mapping.

`Client`, `RemoteEffectController` and `RemoteEffectHost` (and the process and worker facades to come)
share one `Rpc`: it owns the channel, makes one stub per service, gives every unary call a deadline
(`DEFAULT_TIMEOUT_S` unless the caller passes `timeout=`) and turns a failed call into the typed
`EffectdError` the server named in its `google.rpc.ErrorInfo`. Streams reconnect with `Reconnect`.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import grpc
from google.rpc import error_details_pb2, status_pb2

from effectd._channel import insecure_channel
from effectd._errors import DOMAIN, EffectdError, UnavailableError, error_for

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "RETRYABLE",
    "Reconnect",
    "Rpc",
    "backoff",
    "call",
    "error_from_rpc",
]

T = TypeVar("T")
Stub = TypeVar("Stub")

DEFAULT_TIMEOUT_S = 10.0
"""The deadline of every unary call unless the caller passes `timeout=`."""

RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE})
"""Statuses after which a stream is reopened (unary calls are retried by the channel's service config)."""

_STATUS_DETAILS_KEY = "grpc-status-details-bin"


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
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
        if self.give_up_after is not None and now - self._failing_since > self.give_up_after:
            raise error_from_rpc(exc) from None

    async def wait(self) -> None:
        await asyncio.sleep(backoff(self.attempt))
        self.attempt += 1


class Rpc:
    """A channel to effectd and how calls go over it. Facades share one; closing it closes the channel.

    Create with `await Rpc.connect(target)` or wrap an open channel with `Rpc(channel)`.
    """

    def __init__(self, channel: grpc.aio.Channel, *, default_timeout: float = DEFAULT_TIMEOUT_S) -> None:
        if default_timeout <= 0:
            raise ValueError(f"default_timeout must be positive, got {default_timeout!r}")
        self._channel = channel
        self._stubs: dict[Callable[..., Any], Any] = {}
        self.default_timeout = default_timeout
        """Seconds every unary call may take unless it is given its own `timeout=`."""

    @classmethod
    async def connect(
        cls,
        target: str | Sequence[str],
        *,
        default_timeout: float = DEFAULT_TIMEOUT_S,
        connect_timeout: float | None = 10.0,
    ) -> Rpc:
        """Open a channel to `target`: "host:port", a gRPC target ("dns:///name:port"), or a list of
        "host:port" replicas. Waits until the channel is ready unless connect_timeout is None."""
        channel = insecure_channel(target)
        try:
            rpc = cls(channel, default_timeout=default_timeout)
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
        return self._channel

    def stub(self, factory: Callable[[grpc.aio.Channel], Stub]) -> Stub:
        """The stub of one service on this channel (`factory` is the generated `...Stub` class); one per service."""
        stub = self._stubs.get(factory)
        if stub is None:
            stub = self._stubs[factory] = factory(self._channel)
        return stub

    def timeout(self, timeout: float | None) -> float:
        """The deadline of one unary call: `timeout` if given, else the default."""
        return self.default_timeout if timeout is None else timeout

    async def unary(self, method: Callable[..., Awaitable[T]], request: Any, *, timeout: float | None = None) -> T:
        """Call a unary stub method with a deadline; a failure raises its typed `EffectdError`."""
        return await call(method(request, timeout=self.timeout(timeout)))

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> Rpc:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
