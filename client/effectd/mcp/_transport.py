"""A transport wrapper that reports when the server's stream ends (a stdio server that exited).

The SDK's dispatcher treats the end of the read stream as the end of the connection and fails pending
requests, but tells nobody else; the bridge's supervisor needs to know, to connect again."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any

import anyio

__all__ = ["WatchedTransport"]


class _WatchedReadStream:
    """The transport's read stream, calling `on_closed` once when it ends."""

    def __init__(self, inner: Any, on_closed: Callable[[], None]) -> None:
        self._inner = inner
        self._on_closed = on_closed
        self._reported = False

    def _ended(self) -> None:
        if not self._reported:
            self._reported = True
            self._on_closed()

    def __getattr__(self, name: str) -> Any:
        # Anything else the dispatcher may look up (e.g. `last_context`) is the inner stream's.
        return getattr(self._inner, name)

    async def receive(self) -> Any:
        try:
            return await self._inner.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
            self._ended()
            raise

    def __aiter__(self) -> _WatchedReadStream:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> _WatchedReadStream:
        await self._inner.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        result: bool | None = await self._inner.__aexit__(exc_type, exc, tb)
        return result


class WatchedTransport:
    """Wraps an MCP transport (an async context manager of a read and a write stream)."""

    def __init__(self, inner: Any, *, on_closed: Callable[[], None]) -> None:
        self._inner = inner
        self._on_closed = on_closed

    async def __aenter__(self) -> tuple[Any, Any]:
        read_stream, write_stream = await self._inner.__aenter__()
        return _WatchedReadStream(read_stream, self._on_closed), write_stream

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        result: bool | None = await self._inner.__aexit__(exc_type, exc, tb)
        return result
