"""The web console: server-rendered pages over the capability cores (keys, sessions, the journal,
processes, workers), with live updates by server-sent events. One aiohttp sub-application, mounted under
`/console/` by whichever HTTP listener serves it."""

from __future__ import annotations

from effectd_server.console.app import console_app
from effectd_server.console.auth import authorize
from effectd_server.console.site import ConsoleSite, start_console

__all__ = ["ConsoleSite", "authorize", "console_app", "start_console"]
