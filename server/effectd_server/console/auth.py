"""Who may use the console: without tokens configured, whoever reaches the admin listener (loopback by
default); with tokens, only the `admin` role. A browser signs in once on the login page with its token,
kept in an HttpOnly, SameSite=Strict cookie; scripts may send `Authorization: Bearer ...` instead."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from effectd_server.edge.auth import Authorizer

__all__ = ["TOKEN_COOKIE", "Authorize", "admin_only", "authorize", "login_routes"]

Authorize = Callable[[web.Request], Awaitable[None]]
TOKEN_COOKIE = "effectd_token"


async def authorize(request: web.Request) -> None:
    """Allow every request (no tokens configured)."""
    del request


def _role(authorizer: Authorizer, request: web.Request, token: str | None = None) -> str | None:
    header = f"Bearer {token}" if token is not None else request.headers.get("Authorization")
    if header is None and (cookie := request.cookies.get(TOKEN_COOKIE)):
        header = f"Bearer {cookie}"
    return authorizer.role_of_header(header)


def admin_only(authorizer: Authorizer) -> Authorize:
    """Refuse requests without an admin token: a browser asking for a page is sent to the login page,
    anything else gets 401 (no or unknown token) or 403 (another role)."""

    async def check(request: web.Request) -> None:
        if request.match_info.route.name == "static" or request.path == request.app.router["login"].url_for().path:
            return
        role = _role(authorizer, request)
        if role == "admin":
            return
        if role is None and request.method == "GET" and "text/html" in request.headers.get("Accept", ""):
            raise web.HTTPSeeOther(request.app.router["login"].url_for().path)
        if role is None:
            raise web.HTTPUnauthorized(text="a known bearer token is needed\n", headers={"WWW-Authenticate": "Bearer"})
        raise web.HTTPForbidden(text=f"the console needs the admin role, not {role}\n")

    return check


def login_routes(authorizer: Authorizer | None) -> web.RouteTableDef:
    routes = web.RouteTableDef()

    @routes.get("/login", name="login")
    async def login_form(request: web.Request) -> web.Response:
        from effectd_server.console.render import page

        return page(request, "login.html", title="Sign in", tokens=authorizer is not None, message="")

    @routes.post("/login")
    async def login(request: web.Request) -> web.StreamResponse:
        from effectd_server.console.render import page

        overview = request.app.router["overview"].url_for().path
        if authorizer is None:
            raise web.HTTPSeeOther(overview)
        token = str((await request.post()).get("token", "")).strip()
        role = _role(authorizer, request, token) if token else None
        if role != "admin":
            message = "That token is not known." if role is None else f"That token has the role {role}, not admin."
            return page(request, "login.html", title="Sign in", tokens=True, message=message, http_status=403)
        response = web.HTTPSeeOther(overview)
        response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="Strict", path=overview)
        raise response

    return routes
