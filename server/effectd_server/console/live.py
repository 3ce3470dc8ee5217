"""Live updates by server-sent events: the overview's figures, and a process's event log as it grows."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable
from typing import Any, TypeVar

from aiohttp import web

from effectd_server.console.pages import COUNTS_KEY
from effectd_server.console.render import pretty_lash, when
from effectd_server.console.sources import SOURCES_KEY

__all__ = ["CLOSING_KEY", "OVERVIEW_INTERVAL_S", "routes"]

OVERVIEW_INTERVAL_S = 2.0
"""How often the overview's figures are recounted while someone watches them."""
_KEEPALIVE_S = 15.0
_EVENTS_PER_READ = 100

CLOSING_KEY = web.AppKey("console_closing", asyncio.Event)
"""Set when the server stops: every live stream ends."""

routes = web.RouteTableDef()
T = TypeVar("T")


async def _open(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    return response


async def _send(response: web.StreamResponse, event: str, data: Any, event_id: int | None = None) -> None:
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append("data: " + json.dumps(data, ensure_ascii=False, separators=(",", ":")))
    await response.write(("\n".join(lines) + "\n\n").encode())


async def _until_closing(request: web.Request, work: Awaitable[T], timeout: float) -> tuple[bool, T | None]:
    """(True, result) when `work` finished, (False, None) on timeout or when the server is closing."""
    task = asyncio.ensure_future(work)
    closing = asyncio.ensure_future(request.app[CLOSING_KEY].wait())
    try:
        await asyncio.wait((task, closing), timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            return True, task.result()
        return False, None
    finally:
        for pending in (task, closing):
            if not pending.done():
                pending.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pending


@routes.get("/live/overview", name="live_overview")
async def live_overview(request: web.Request) -> web.StreamResponse:
    shared = request.app[COUNTS_KEY]
    response = await _open(request)
    closing = request.app[CLOSING_KEY]
    sent: dict[str, float | None] | None = None
    since_sent = 0.0
    while not closing.is_set():
        counts = await shared.get()
        if counts != sent or since_sent >= _KEEPALIVE_S:
            await _send(response, "counts", counts)
            sent, since_sent = counts, 0.0
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(closing.wait(), OVERVIEW_INTERVAL_S)
        since_sent += OVERVIEW_INTERVAL_S
    return response


def _event_view(event: Any) -> dict[str, Any]:
    return {
        "sequence": event.sequence,
        "event_type": event.event_type,
        "occurred_at": when(event.occurred_at.ms),
        "payload": pretty_lash(event.payload),
    }


@routes.get("/live/process", name="live_process")
async def live_process(request: web.Request) -> web.StreamResponse:
    processes = request.app[SOURCES_KEY].processes
    if processes is None:
        raise web.HTTPNotFound(text="this server has no process registry")
    process_id = request.query.get("id", "")
    after_text = request.headers.get("Last-Event-ID") or request.query.get("after", "0")
    if not process_id or not after_text.isdigit() or int(after_text) >= 2**63:
        raise web.HTTPBadRequest(text="live/process needs id and a whole-number after")
    if await processes.get_process(process_id) is None:
        raise web.HTTPNotFound(text=f"no process with id {process_id}")
    after = int(after_text)
    response = await _open(request)
    while not request.app[CLOSING_KEY].is_set():
        done, events = await _until_closing(
            request, processes.follow_events(process_id, after, _EVENTS_PER_READ), _KEEPALIVE_S
        )
        if not done:
            await response.write(b": keepalive\n\n")
            continue
        for event in events or []:
            await _send(response, "process_event", _event_view(event), event.sequence)
            after = event.sequence
    return response
