"""Who may use the HTTP endpoint: the one place every HTTP request is authorised."""

from __future__ import annotations

from typing import Literal

from aiohttp import web

__all__ = ["HttpAction", "authorize"]

HttpAction = Literal["resolve", "peek"]


def authorize(request: web.Request, action: HttpAction) -> None:
    """Raise an `effectd.AuthError` when `request` may not do `action`.

    The key token in the path is itself the capability (it is signed, and unknown to whoever was not
    handed it), so without configured bearer tokens every request is allowed, as on gRPC. Token auth
    (the `resolver` role) plugs in here.
    """
    del request, action
