"""Who may use the HTTP endpoint: the one place every HTTP request is authorised."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal, Protocol

from aiohttp import web

__all__ = ["ACTION_METHODS", "CallChecker", "HttpAction", "authorize"]

HttpAction = Literal["resolve", "peek"]

ACTION_METHODS: dict[HttpAction, str] = {
    "resolve": "effectd.v1.AwaitEvents/Resolve",
    "peek": "effectd.v1.AwaitEvents/Peek",
}
"""The gRPC method each HTTP action stands for: a caller may do over HTTP what its role may do over gRPC."""


class CallChecker(Protocol):
    """What checks a call's bearer token and role (the edge's token authorizer)."""

    def check(self, method: str, metadata: Iterable[Any] | None) -> str | None:
        """The caller's role; raise an AuthError (unauthenticated / permission_denied) unless the call may
        go on."""


def authorize(request: web.Request, action: HttpAction, checker: CallChecker | None) -> str | None:
    """The caller's role (None without tokens); raise an `effectd.AuthError` when `request` may not do
    `action`.

    Without configured bearer tokens (`checker` None) every request is allowed, as on gRPC: the key token
    in the path is itself the capability (signed, and unknown to whoever was not handed it). With tokens,
    the request's `Authorization: Bearer ...` header is checked as gRPC metadata would be.
    """
    if checker is None:
        return None
    header = request.headers.get("Authorization")
    return checker.check(ACTION_METHODS[action], [] if header is None else [("authorization", header)])
