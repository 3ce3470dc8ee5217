"""A TCP proxy for tests that can turn a link half-dead: `black_hole()` keeps the open connections' sockets
open on both sides and drops every byte from then on (no FIN, no RST), as a NAT or load balancer that
forgot a connection does. Connections accepted afterwards are forwarded normally.

async with start_proxy(server.target) as proxy:
    client = await Client.connect(proxy.target)
    ...
    proxy.black_hole()
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

__all__ = ["TcpProxy", "start_proxy"]


class _Link:
    """One proxied connection: two pumps, each copying one direction until black-holed."""

    def __init__(self, proxy: TcpProxy, downstream: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        self.proxy = proxy
        self.downstream = downstream
        self.black_holed = False
        self.writers: list[asyncio.StreamWriter] = [downstream[1]]

    async def run(self, host: str, port: int) -> None:
        up_reader, up_writer = await asyncio.open_connection(host, port)
        self.writers.append(up_writer)
        down_reader, down_writer = self.downstream
        async with asyncio.TaskGroup() as group:
            group.create_task(self._pump(down_reader, up_writer))
            group.create_task(self._pump(up_reader, down_writer))

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            data = await reader.read(65536)
            if not data:
                if not self.black_holed:  # a black hole passes no FIN either
                    with contextlib.suppress(OSError):
                        writer.write_eof()
                return
            if self.black_holed:
                self.proxy.dropped_bytes += len(data)
                continue
            writer.write(data)
            await writer.drain()

    def close(self) -> None:
        for writer in self.writers:
            writer.close()


class TcpProxy:
    """Forwards 127.0.0.1:`port` to the upstream target; counts accepted connections."""

    def __init__(self, upstream: str) -> None:
        host, _, port = upstream.rpartition(":")
        self._upstream = (host.strip("[]") or "127.0.0.1", int(port))
        self._server: asyncio.Server | None = None
        self._links: list[_Link] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.connections = 0
        """Connections accepted so far."""
        self.dropped_bytes = 0
        """Bytes that went into the black hole."""

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def black_hole(self) -> None:
        """From now on every byte on the open connections is dropped; their sockets stay open."""
        for link in self._links:
            link.black_holed = True

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        link = _Link(self, (reader, writer))
        self._links.append(link)
        task = asyncio.get_running_loop().create_task(self._serve(link))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, link: _Link) -> None:
        try:
            await link.run(*self._upstream)
        except (OSError, ExceptionGroup):
            pass
        finally:
            link.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for link in self._links:
            link.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1)


@contextlib.asynccontextmanager
async def start_proxy(upstream: str) -> AsyncIterator[TcpProxy]:
    proxy = TcpProxy(upstream)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()
