"""The public HTTP resolve endpoint (`--http-listen`): for outside systems that speak only HTTP."""

from __future__ import annotations

from effectd_server.http.auth import authorize
from effectd_server.http.listener import HttpListener, check_listen, start_http_listener

__all__ = ["HttpListener", "authorize", "check_listen", "start_http_listener"]
