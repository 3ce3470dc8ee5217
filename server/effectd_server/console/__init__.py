"""The web console: server-rendered pages over the capability cores (keys, sessions, the journal,
processes, workers), with live updates by server-sent events. One aiohttp sub-application, mounted under
`/console/` by the admin listener (`--admin-listen`)."""

from __future__ import annotations

from effectd_server.console.app import console_app

__all__ = ["console_app"]
