"""An aiohttp site on the server's event loop: `GET /metrics` (the Prometheus text format), `POST /gc`
(one retention sweep now; `?dry_run=1` only counts), which `effectd gc --admin HOST:PORT` calls, and the
web console under `/console/`. With tokens configured, `/gc` and the console need the admin role;
`/metrics` stays open to scrapers (counts only, no ids or payloads)."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from effectd_server.edge.auth import Authorizer
from effectd_server.edge.metrics import Metrics

__all__ = ["AdminListener"]

log = logging.getLogger("effectd.admin")


class AdminListener:
    """Started and stopped with the server; `port` is the bound one (useful with port 0)."""

    def __init__(
        self,
        listen: str,
        metrics: Metrics,
        gc: Callable[[bool], Awaitable[dict[str, Any]]] | None = None,
        *,
        authorizer: Authorizer | None = None,
    ) -> None:
        self.gc = gc
        """One retention sweep (dry run or not) answering its report; set once the sweeper exists."""
        host, _, port = listen.rpartition(":")
        self._host = host.strip("[]")
        self._port = int(port)
        self._metrics = metrics
        self._runner: web.AppRunner | None = None
        self._authorizer = authorizer
        self._mounted: list[tuple[str, web.Application]] = []
        self.port = 0

    def mount(self, prefix: str, app: web.Application) -> None:
        """Serve `app` under `prefix` (before `start`)."""
        self._mounted.append((prefix, app))

    def _is_admin(self, request: web.Request) -> bool:
        if self._authorizer is None:
            return True
        return self._authorizer.role_of_header(request.headers.get("Authorization")) == "admin"

    async def _serve_metrics(self, request: web.Request) -> web.Response:
        try:
            body = await self._metrics.render()
        except Exception:  # a failed store refresh must not kill the listener: say so, in the status
            log.exception("metrics scrape failed")
            return web.Response(status=503, text="metrics unavailable: the server logged the details\n")
        response = web.Response(body=body)
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    async def _serve_gc(self, request: web.Request) -> web.Response:
        if not self._is_admin(request):
            return web.Response(status=401, text="gc needs an admin token (Authorization: Bearer ...)\n")
        if self.gc is None:
            return web.Response(status=404, text="this server has no retention sweeper\n")
        dry_run = request.query.get("dry_run", "0") not in ("", "0", "false")
        try:
            report = await self.gc(dry_run)
        except Exception:
            log.exception("gc failed")
            return web.Response(status=503, text="gc failed: the server logged the details\n")
        return web.Response(text=json.dumps(report, sort_keys=True), content_type="application/json")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._serve_metrics)
        app.router.add_post("/gc", self._serve_gc)
        for prefix, mounted in self._mounted:
            app.add_subapp(prefix, mounted)
        if any(prefix == "/console/" for prefix, _ in self._mounted):

            async def to_console(_: web.Request) -> web.StreamResponse:
                raise web.HTTPFound("/console/")

            app.router.add_get("/", to_console)
        # A short shutdown timeout: live console pages hold server-sent event streams open.
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise OSError(f"cannot listen on {self._host}:{self._port} (admin): {exc.strerror}") from None
        self._runner = runner
        server = site._server  # aiohttp exposes the bound sockets only here
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self._port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
