"""A listener for the console alone (`--console-listen`), until it moves to the admin listener."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from effectd_server.console.app import console_app

__all__ = ["ConsoleSite", "start_console"]

_SHUTDOWN_TIMEOUT_S = 2.0


@dataclass(slots=True)
class ConsoleSite:
    runner: web.AppRunner
    port: int

    async def close(self) -> None:
        await self.runner.cleanup()


def _split(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


async def start_console(parts: dict[str, Any], listen: str) -> ConsoleSite:
    """Serve the console at http://HOST:PORT/console/ (port 0 picks a free one)."""
    root = web.Application()
    root.add_subapp("/console/", console_app(parts))

    async def to_console(_: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/console/")

    root.router.add_get("/", to_console)
    runner = web.AppRunner(root, access_log=None, shutdown_timeout=_SHUTDOWN_TIMEOUT_S)
    await runner.setup()
    host, port = _split(listen)
    site = web.TCPSite(runner, host, port, reuse_address=True)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise OSError(f"cannot listen on {listen} for the console: {exc}") from None
    return ConsoleSite(runner, int(runner.addresses[0][1]))
