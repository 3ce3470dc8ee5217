"""The HTTP listener: `POST /v1/resolve/{token}` and `GET /v1/keys/{token}` over the await-event core.

The same rules as the gRPC servicer: the body is read strictly (`effectd._json`), sizes are limited by
the same `LimitsConfig`, and the core decides. Answers (see docs/contract.md, "HTTP resolve endpoint"):

- 200 `{"status":"accepted"}`: this resolve is the key's terminal.
- 409 `{"status":"already_resolved","terminal":WINNER}`: another resolution won; retrying cannot change
  it. A resend of the winning resolution itself (a sender that missed the first answer) gets 200 with
  the same body, so that webhook senders that retry every non-2xx stop.
- 404 `{"status":"unknown_or_revoked"}`: unknown, tampered, retired-kid or revoked key (the server logs
  which).
- errors: `{"code": C, "message": M}` with 400 (bad body), 413 (body over the payload limit), 414 (token
  over the key limit), 401/403 (auth), 429, 503 (store unavailable: retry), 500.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import grpc
from aiohttp import web
from effectd._errors import EffectdError, InvalidArgumentError, UnknownOrRevokedError, status_for
from effectd._lashjson import dumps, to_lash
from effectd._scope import (
    AlreadyResolved,
    AwaitEventKey,
    InvalidTokenError,
    ResolveOutcome,
    UnknownOrRevoked,
    key_from_token,
)

from effectd_server.await_events.core import AwaitEventCore, KeyPendingState
from effectd_server.config import LimitsConfig
from effectd_server.edge.logs import safe
from effectd_server.http.auth import CallChecker, authorize
from effectd_server.http.body import resolution_from_body

__all__ = ["HTTP_STATUS", "HttpListener", "check_listen", "start_http_listener"]

log = logging.getLogger("effectd.http")

# The HTTP status of an error, by its gRPC status; size limits have their own HTTP statuses.
HTTP_STATUS: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}
_CODE_HTTP_STATUS = {"payload_too_large": 413, "id_too_long": 414}
_BODY_SLACK_BYTES = 4096
"""The body may exceed the payload limit by its wrapper and whitespace; the core checks the resolution."""


def check_listen(listen: str) -> tuple[str, int]:
    """(host, port) of a HOST:PORT (`[::1]:8080` for IPv6); ValueError otherwise."""
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"--http-listen must be HOST:PORT, got {listen!r}")
    return host.removeprefix("[").removesuffix("]"), int(port)


def _json(body: Any, status: int) -> web.Response:
    return web.Response(status=status, text=dumps(body), content_type="application/json")


def _error(code: str, message: str, status: int) -> web.Response:
    return _json({"code": code, "message": message}, status)


def _error_response(exc: EffectdError) -> web.Response:
    status = _CODE_HTTP_STATUS.get(exc.code) or HTTP_STATUS.get(status_for(exc), 500)
    return _error(exc.code, exc.message, status)


_UNKNOWN = {"status": "unknown_or_revoked"}


class _Routes:
    def __init__(self, core: AwaitEventCore, limits: LimitsConfig, checker: CallChecker | None) -> None:
        self._core = core
        self._limits = limits
        self._checker = checker

    def _key(self, request: web.Request) -> AwaitEventKey | None:
        """The path's key; None for a token that does not decode (answered like a tampered key)."""
        token = request.match_info["token"]
        if len(token) > self._limits.max_key_bytes:
            raise InvalidArgumentError(
                "id_too_long", f"the await-event key is longer than the limit of {self._limits.max_key_bytes} bytes"
            )
        try:
            return key_from_token(token)
        except InvalidTokenError:
            log.info("http %s refused: reason=undecodable token %s", request.method, safe(token, 32))
            return None

    async def resolve(self, request: web.Request) -> web.Response:
        role = authorize(request, "resolve", self._checker)
        key = self._key(request)
        try:
            data = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _error(
                "payload_too_large",
                f"the resolution is larger than the limit of {self._limits.max_payload_bytes} bytes",
                413,
            )
        resolution = resolution_from_body(data)
        by = f"http {request.remote or 'unknown'}" if role is None else f"{role} http {request.remote or 'unknown'}"
        outcome: ResolveOutcome = (
            UnknownOrRevoked() if key is None else await self._core.resolve(key, resolution, resolved_by=by)
        )
        if isinstance(outcome, UnknownOrRevoked):
            return _json(_UNKNOWN, 404)
        if isinstance(outcome, AlreadyResolved):
            resent = dumps(outcome.terminal) == dumps(resolution)
            return _json(to_lash(outcome), 200 if resent else 409)
        return _json(to_lash(outcome), 200)

    async def peek(self, request: web.Request) -> web.Response:
        authorize(request, "peek", self._checker)
        key = self._key(request)
        if key is None:
            return _json(_UNKNOWN, 404)
        try:
            state = await self._core.peek(key)
        except UnknownOrRevokedError:
            return _json(_UNKNOWN, 404)
        if isinstance(state, KeyPendingState):
            return _json({"status": "pending", "deadline_unix_ms": state.deadline_unix_ms}, 200)
        return _json({"status": "resolved", "terminal": to_lash(state)}, 200)


@web.middleware
async def _errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Every failure answers JSON `{"code","message"}`; no input answers a traceback or stops serving."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except EffectdError as exc:
        if status_for(exc) in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN):
            log.error("http %s failed: %s: %s", request.method, exc.code, safe(exc.message))
        return _error_response(exc)
    except web.HTTPException as exc:  # no such route, wrong method
        return _error("invalid_request", f"{exc.reason}: {request.method} {safe(request.path, 64)}", exc.status)
    except Exception:
        log.exception("http %s failed", request.method)
        return _error("internal", "internal error (logged by the server)", 500)


@dataclass(slots=True)
class HttpListener:
    runner: web.AppRunner
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def stop(self) -> None:
        """Stop accepting; requests being served finish (up to the runner's shutdown timeout)."""
        await self.runner.cleanup()


async def start_http_listener(
    listen: str,
    core: AwaitEventCore,
    limits: LimitsConfig,
    *,
    checker: CallChecker | None = None,
    shutdown_timeout_s: float = 10.0,
) -> HttpListener:
    """Serve the endpoint on `listen` (port 0 picks a free port). OSError when it cannot bind. With a
    `checker` (the edge's token authorizer) every request needs a bearer token whose role may resolve."""
    host, port = check_listen(listen)
    routes = _Routes(core, limits, checker)
    app = web.Application(middlewares=[_errors], client_max_size=limits.max_payload_bytes + _BODY_SLACK_BYTES)
    app.router.add_post("/v1/resolve/{token}", routes.resolve)
    app.router.add_get("/v1/keys/{token}", routes.peek)
    # No access log: the path holds the key token, which is the capability to resolve.
    runner = web.AppRunner(
        app,
        access_log=None,
        shutdown_timeout=shutdown_timeout_s,
        max_line_size=limits.max_key_bytes + 1024,
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound = runner.addresses[0]
    log.info("effectd HTTP resolve endpoint on %s:%s", host, bound[1])
    return HttpListener(runner, host, int(bound[1]))
