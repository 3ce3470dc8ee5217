"""Templates (jinja2, HTML autoescaped) and the small formatters the pages share."""

from __future__ import annotations

import datetime
import json
from typing import Any

import jinja2
from aiohttp import web
from effectd._lashjson import dumps

__all__ = ["environment", "page", "pretty_json", "pretty_lash", "when"]


def pretty_json(text: str | None) -> str:
    """JSON text indented for reading; text that is not JSON is shown as it is."""
    if text is None:
        return ""
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


def pretty_lash(value: Any) -> str:
    """A domain object as indented lash-json (what the SDK and lash write)."""
    return pretty_json(dumps(value))


def when(ms: int | None) -> str:
    """A unix time in ms as UTC, to the millisecond."""
    if ms is None or ms <= 0:
        return ""
    moment = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{ms % 1000:03d}Z"


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("effectd_server.console", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pretty_json"] = pretty_json
    env.filters["pretty_lash"] = pretty_lash
    env.filters["when"] = when
    return env


ENV_KEY = web.AppKey("console_templates", jinja2.Environment)
CSRF_KEY = web.AppKey("console_csrf", str)


def page(request: web.Request, template: str, *, http_status: int = 200, **context: Any) -> web.Response:
    """Render a page of the console; every page gets the base path and the form token."""
    app = request.config_dict
    base = request.app.router["overview"].url_for().path
    context.setdefault("nav", "")
    body = app[ENV_KEY].get_template(template).render(base=base, csrf=app[CSRF_KEY], **context)
    return web.Response(text=body, status=http_status, content_type="text/html", charset="utf-8")
