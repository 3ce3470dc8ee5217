"""The console's pages: each reads one page of rows from a core and renders a template."""

from __future__ import annotations

import asyncio
import hmac
from typing import Any, Literal

from aiohttp import web
from effectd._errors import InvalidArgumentError
from effectd._json import parse_json
from effectd._scope import (
    Accepted,
    AlreadyResolved,
    Cancelled,
    Err,
    ExternalCompletionError,
    Ok,
    Resolution,
    ResolveOutcome,
)

from effectd_server.console.render import CSRF_KEY, page
from effectd_server.console.sources import SOURCES_KEY, Sources
from effectd_server.processes.rules import status_name

__all__ = ["routes"]

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
_PROCESS_STATUSES = ("running", "completed", "failed", "cancelled")

routes = web.RouteTableDef()


class BadInput(ValueError):
    """A query or form value the console cannot use; shown as a 400 page."""


def _sources(request: web.Request) -> Sources:
    return request.app[SOURCES_KEY]


def _text(request: web.Request, name: str) -> str:
    return request.query.get(name, "")


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit", "")
    if not raw:
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise BadInput(f"limit must be a whole number from 1 to {MAX_LIMIT}, got {raw!r}")
    return int(raw)


def _count(request: web.Request, name: str) -> int:
    raw = request.query.get(name, "")
    if not raw:
        return 0
    if not raw.isdigit() or int(raw) >= 2**63:
        raise BadInput(f"{name} must be a whole number, got {raw!r}")
    return int(raw)


def _required(request: web.Request, name: str) -> str:
    value = request.query.get(name, "")
    if not value:
        raise BadInput(f"the {name!r} parameter is required")
    return value


def _not_found(request: web.Request, what: str) -> web.Response:
    return page(request, "error.html", http_status=404, title="Not found", message=what)


async def overview_counts(sources: Sources) -> dict[str, float | None]:
    """The figures of the overview, also sent live (server-sent events)."""
    keys = await sources.await_events.count_keys()
    effects = await sources.journal.count_by_status()
    counts: dict[str, float | None] = {
        "keys_pending": keys.pending,
        "keys_resolved": keys.resolved,
        "sessions_revoked": keys.revoked_sessions,
        "keys_waited_on": sources.await_events.watched_key_count(),
        "effects_in_progress": effects.get("in_progress", 0),
        "effects_completed": effects.get("completed", 0),
        "effects_failed": effects.get("failed", 0),
    }
    if sources.processes is not None:
        processes = await sources.processes.count_by_status()
        for status in _PROCESS_STATUSES:
            counts[f"processes_{status}"] = processes.get(status, 0)
        counts["process_waiters"] = sources.processes.waiting
    if sources.workers is not None:
        counts["workers"] = len(await sources.workers.list_workers())
    if sources.figures is not None:
        counts.update(sources.figures.read())
    return counts


class SharedCounts:
    """The overview's figures, counted at most once per interval however many pages watch them."""

    def __init__(self, sources: Sources, interval_s: float) -> None:
        self._sources = sources
        self._interval_s = interval_s
        self._lock = asyncio.Lock()
        self._counted_at = -1e9
        self._counts: dict[str, float | None] = {}

    async def fresh(self) -> dict[str, float | None]:
        """Counted now (for a page being rendered): the live updates that follow never go back in time."""
        async with self._lock:
            self._counts = await overview_counts(self._sources)
            self._counted_at = asyncio.get_running_loop().time()
            return self._counts

    async def get(self) -> dict[str, float | None]:
        async with self._lock:
            now = asyncio.get_running_loop().time()
            if now - self._counted_at >= self._interval_s:
                self._counts = await overview_counts(self._sources)
                self._counted_at = now
            return self._counts


COUNTS_KEY = web.AppKey("console_counts", SharedCounts)


@routes.get("/", name="overview")
async def overview(request: web.Request) -> web.Response:
    counts = await request.app[COUNTS_KEY].fresh()
    return page(request, "overview.html", title="Overview", counts=counts, nav="overview")


@routes.get("/sessions", name="sessions")
async def sessions(request: web.Request) -> web.Response:
    sources = _sources(request)
    query, after, limit = _text(request, "q"), _text(request, "after"), _limit(request)
    found = {
        s.session_id: s.revoked
        for s in await sources.await_events.list_sessions(contains=query or None, after=after, limit=limit)
    }
    if sources.processes is not None:
        for session_id in await sources.processes.list_grant_sessions(contains=query or None, after=after, limit=limit):
            found.setdefault(session_id, sources.await_events.is_session_revoked(session_id))
    ordered = sorted(found.items())[:limit]
    next_after = ordered[-1][0] if len(ordered) == limit else None
    return page(
        request,
        "sessions.html",
        title="Sessions",
        nav="sessions",
        rows=ordered,
        q=query,
        next_after=next_after,
        limit=limit,
    )


@routes.get("/session", name="session")
async def session(request: web.Request) -> web.Response:
    sources = _sources(request)
    session_id = _required(request, "id")
    limit = _limit(request)
    pending_after, resolved_after = _text(request, "pending_after"), _text(request, "resolved_after")
    scopes_after, processes_after = _text(request, "scopes_after"), _text(request, "processes_after")
    ae = sources.await_events
    pending = await ae.list_keys(state="pending", session_id=session_id, after_key_id=pending_after, limit=limit)
    resolved = await ae.list_keys(state="resolved", session_id=session_id, after_key_id=resolved_after, limit=limit)
    scopes = await sources.journal.list_scopes(session_id=session_id, after_scope_json=scopes_after, limit=limit)
    grants: list[Any] = []
    if sources.processes is not None:
        grants = await sources.processes.grants_of_session(session_id, after_process_id=processes_after, limit=limit)
    return page(
        request,
        "session.html",
        title=f"Session {session_id}",
        nav="sessions",
        session_id=session_id,
        revoked=ae.is_session_revoked(session_id),
        pending=pending,
        resolved=resolved,
        scopes=scopes,
        grants=[(grant, record, status_name(record.status)) for grant, record in grants],
        has_processes=sources.processes is not None,
        limit=limit,
    )


@routes.get("/keys", name="keys")
async def keys(request: web.Request) -> web.Response:
    sources = _sources(request)
    state = _text(request, "state") or "pending"
    if state not in ("pending", "resolved", "any"):
        raise BadInput(f"state must be pending, resolved or any, got {state!r}")
    query, after, limit = _text(request, "q"), _text(request, "after"), _limit(request)
    rows = await sources.await_events.list_keys(
        state=state,  # type: ignore[arg-type]  # checked above
        contains=query or None,
        after_key_id=after,
        limit=limit,
    )
    next_after = rows[-1].key_id if len(rows) == limit else None
    return page(
        request,
        "keys.html",
        title="Keys",
        nav="keys",
        rows=rows,
        state=state,
        q=query,
        next_after=next_after,
        limit=limit,
    )


_RESULTS = {
    "accepted": "Resolved: the key took this resolution and its waiters were woken.",
    "already_resolved": "Not changed: the key was already resolved (first writer wins).",
    "unknown_or_revoked": "Refused: the key or its session is revoked.",
}


@routes.get("/key", name="key")
async def key(request: web.Request) -> web.Response:
    sources = _sources(request)
    key_id = _required(request, "id")
    listing = await sources.await_events.get_key(key_id)
    if listing is None:
        return _not_found(request, f"no await-event key with id {key_id}")
    state = "resolved" if listing.terminal_json is not None else "revoked" if listing.revoked else "pending"
    return page(
        request,
        "key.html",
        title=f"Key {key_id[:12]}…",
        nav="keys",
        key=listing,
        state=state,
        result=_RESULTS.get(_text(request, "result")),
    )


def _resolution_from_form(form: Any, action: Literal["resolve", "cancel"]) -> Resolution:
    if action == "cancel":
        return Cancelled()
    outcome = form.get("outcome", "")
    if outcome == "ok":
        return Ok(parse_json(str(form.get("payload", "")), "payload"))
    if outcome == "err":
        code, message = str(form.get("code", "")).strip(), str(form.get("message", ""))
        if not code:
            raise BadInput("an err resolution needs a code")
        return Err(ExternalCompletionError(code, message))
    raise BadInput(f"outcome must be ok or err, got {outcome!r}")


def _outcome_name(outcome: ResolveOutcome) -> str:
    if isinstance(outcome, Accepted):
        return "accepted"
    if isinstance(outcome, AlreadyResolved):
        return "already_resolved"
    return "unknown_or_revoked"


async def _act(request: web.Request, action: Literal["resolve", "cancel"]) -> web.Response:
    """Resolve or cancel in two steps: the form posts here, a confirmation page shows what would be
    recorded, and only its `confirmed=yes` post writes."""
    sources = _sources(request)
    form = await request.post()
    if not hmac.compare_digest(str(form.get("csrf", "")), request.app[CSRF_KEY]):
        raise web.HTTPForbidden(text="the form token is missing or stale: reload the page and try again")
    key_id = str(form.get("key_id", ""))
    listing = await sources.await_events.get_key(key_id)
    if listing is None:
        return _not_found(request, f"no await-event key with id {key_id}")
    resolution = _resolution_from_form(form, action)
    if form.get("confirmed") != "yes":
        return page(
            request,
            "confirm.html",
            title="Confirm",
            nav="keys",
            key=listing,
            action=action,
            resolution=resolution,
            fields={k: str(v) for k, v in form.items() if k not in ("csrf", "confirmed")},
        )
    outcome = await sources.await_events.resolve_stored(key_id, resolution)
    target = request.app.router["key"].url_for().with_query(id=key_id, result=_outcome_name(outcome))
    raise web.HTTPSeeOther(location=str(target))


@routes.post("/key/resolve", name="key_resolve")
async def key_resolve(request: web.Request) -> web.Response:
    return await _act(request, "resolve")


@routes.post("/key/cancel", name="key_cancel")
async def key_cancel(request: web.Request) -> web.Response:
    return await _act(request, "cancel")


@routes.get("/journal", name="journal")
async def journal(request: web.Request) -> web.Response:
    sources = _sources(request)
    query, after, limit = _text(request, "q"), _text(request, "after"), _limit(request)
    rows = await sources.journal.list_scopes(contains=query or None, after_scope_json=after, limit=limit)
    next_after = rows[-1].scope_json if len(rows) == limit else None
    return page(
        request, "journal.html", title="Journal", nav="journal", rows=rows, q=query, next_after=next_after, limit=limit
    )


@routes.get("/scope", name="scope")
async def scope(request: web.Request) -> web.Response:
    sources = _sources(request)
    scope_json = _required(request, "scope")
    after, limit = _count(request, "after"), _limit(request)
    records = await sources.journal.list_rows(scope_json, after, limit)
    if not records and after == 0:
        return _not_found(request, f"no journaled effect in scope {scope_json}")
    first_seq = after + 1
    next_after = after + len(records) if len(records) == limit else None
    return page(
        request,
        "scope.html",
        title="Journal scope",
        nav="journal",
        scope_json=scope_json,
        records=records,
        first_seq=first_seq,
        next_after=next_after,
        limit=limit,
    )


@routes.get("/processes", name="processes")
async def processes(request: web.Request) -> web.Response:
    sources = _sources(request)
    if sources.processes is None:
        return page(request, "error.html", title="Processes", message="This server has no process registry.")
    status = _text(request, "status") or "any"
    if status not in (*_PROCESS_STATUSES, "any"):
        raise BadInput(f"status must be one of {', '.join(_PROCESS_STATUSES)} or any, got {status!r}")
    waiting_text = _text(request, "waiting") or "any"
    if waiting_text not in ("yes", "no", "any"):
        raise BadInput(f"waiting must be yes, no or any, got {waiting_text!r}")
    waiting = None if waiting_text == "any" else waiting_text == "yes"
    query, after, limit = _text(request, "q"), _text(request, "after"), _limit(request)
    records = await sources.processes.page_processes(
        status=None if status == "any" else status,
        waiting=waiting,
        contains=query or None,
        after_process_id=after,
        limit=limit,
    )
    next_after = records[-1].id if len(records) == limit else None
    return page(
        request,
        "processes.html",
        title="Processes",
        nav="processes",
        rows=[(record, status_name(record.status)) for record in records],
        status=status,
        waiting=waiting_text,
        statuses=_PROCESS_STATUSES,
        q=query,
        next_after=next_after,
        limit=limit,
    )


@routes.get("/process", name="process")
async def process(request: web.Request) -> web.Response:
    sources = _sources(request)
    if sources.processes is None:
        return page(request, "error.html", title="Processes", message="This server has no process registry.")
    process_id = _required(request, "id")
    record = await sources.processes.get_process(process_id)
    if record is None:
        return _not_found(request, f"no process with id {process_id}")
    after, limit = _count(request, "after"), _limit(request)
    events = await sources.processes.events_page(process_id, after, limit)
    last_sequence = events[-1].sequence if events else after
    return page(
        request,
        "process.html",
        title=f"Process {process_id}",
        nav="processes",
        record=record,
        status=status_name(record.status),
        lease=await sources.processes.current_lease(process_id),
        grants=await sources.processes.grant_rows_of_process(process_id),
        events=events,
        last_sequence=last_sequence,
        # Follow live only on the newest page: older pages link onwards instead.
        follow=len(events) < limit,
        next_after=last_sequence if len(events) == limit else None,
        limit=limit,
    )


@routes.get("/workers", name="workers")
async def workers(request: web.Request) -> web.Response:
    sources = _sources(request)
    rows = None if sources.workers is None else await sources.workers.list_workers()
    return page(request, "workers.html", title="Workers", nav="workers", rows=rows)


@web.middleware
async def bad_input_pages(request: web.Request, handler: Any) -> web.StreamResponse:
    """Input the console cannot use is a 400 page naming the problem (and the stable code when a core
    refused it), never a 500."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except BadInput as exc:
        return page(request, "error.html", http_status=400, title="Bad request", message=str(exc))
    except InvalidArgumentError as exc:
        return page(request, "error.html", http_status=400, title="Bad request", message=str(exc))
