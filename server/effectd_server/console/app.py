"""The console as one aiohttp application, to be mounted under `/console/`."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any

from aiohttp import web

from effectd_server.console import live, pages
from effectd_server.console.auth import admin_only, authorize, login_routes
from effectd_server.console.render import CSRF_KEY, ENV_KEY, environment
from effectd_server.console.sources import SOURCES_KEY, sources_from
from effectd_server.edge.auth import Authorizer
from effectd_server.edge.metrics import Metrics

__all__ = ["console_app"]

_STATIC = Path(__file__).parent / "static"


def console_app(
    parts: dict[str, Any], *, authorizer: Authorizer | None = None, metrics: Metrics | None = None
) -> web.Application:
    """The console over a running server's capability cores (`RunningServer.parts`). Mount it with
    `root.add_subapp("/console/", console_app(parts))`. With `authorizer` (tokens configured) every
    request needs the admin role (`console.auth`)."""
    check = authorize if authorizer is None else admin_only(authorizer)

    @web.middleware
    async def authorized(request: web.Request, handler: Any) -> web.StreamResponse:
        await check(request)
        response: web.StreamResponse = await handler(request)
        return response

    @web.middleware
    async def security_headers(request: web.Request, handler: Any) -> web.StreamResponse:
        response: web.StreamResponse = await handler(request)
        # Everything is served from here: no script, style or frame from elsewhere.
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        # Pages show live state (and may show what only an admin may see): never from a cache.
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    app = web.Application(middlewares=[authorized, security_headers, pages.bad_input_pages])
    sources = sources_from(parts, metrics)
    app[SOURCES_KEY] = sources
    app[pages.COUNTS_KEY] = pages.SharedCounts(sources, live.OVERVIEW_INTERVAL_S)
    app[ENV_KEY] = environment()
    app[CSRF_KEY] = secrets.token_urlsafe(24)
    closing = asyncio.Event()
    app[live.CLOSING_KEY] = closing

    async def end_live_streams(_: web.Application) -> None:
        closing.set()

    app.on_shutdown.append(end_live_streams)
    app.router.add_routes(login_routes(authorizer))
    app.router.add_routes(pages.routes)
    app.router.add_routes(live.routes)
    app.router.add_static("/static/", _STATIC, name="static")
    return app
