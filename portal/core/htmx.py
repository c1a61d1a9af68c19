"""The one place that knows htmx: page or fragment, redirects, triggers, and Vary."""

from __future__ import annotations

import json
from typing import Any

from flask import (
    Flask,
    Response,
    get_flashed_messages,
    make_response,
    redirect,
    render_template,
    render_template_string,
)
from flask import session as flask_session
from htmx_flask import request

HTMX_SCRIPT = "vendor/htmx-2.0.11.min.js"

# Sent as <meta name="htmx-config">: no eval, same-origin requests only, no page snapshots
# in localStorage (pages may show bank data), no inline indicator styles (CSP), and error
# responses swapped into the page's alert region instead of silently dropped.
HTMX_CONFIG = {
    "allowEval": False,
    "allowScriptTags": False,
    "selfRequestsOnly": True,
    "historyCacheSize": 0,
    "includeIndicatorStyles": False,
    "responseHandling": [
        {"code": "204", "swap": False},
        {"code": "[23]..", "swap": True},
        {"code": "[45]..", "swap": True, "error": True, "target": "#htmx-alert"},
    ],
}


def is_fragment_request() -> bool:
    """True only for a genuine htmx swap: not a boosted navigation, not a history restore."""
    htmx = request.htmx
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def render(page: str, fragment: str, status: int = 200, **context: Any) -> Response:
    """Render the full ``page``, or just its ``fragment`` for an htmx swap."""
    template = fragment if is_fragment_request() else page
    return make_response(render_template(template, **context), status)


def redirect_to(location: str) -> Response:
    """Navigate: ``HX-Redirect`` for htmx requests (htmx ignores a bare 302), else 303."""
    if request.htmx:
        response = make_response("", 204)
        response.headers["HX-Redirect"] = location
        return response
    return redirect(location, code=303)


def trigger(response: Response, event: str, detail: Any = None) -> Response:
    """Ask htmx to fire ``event`` on the client after the swap."""
    events = json.loads(response.headers.get("HX-Trigger", "{}") or "{}")
    events[event] = detail if detail is not None else True
    response.headers["HX-Trigger"] = json.dumps(events)
    return response


def add_vary(response: Response) -> Response:
    """Caches must key on HX-Request, since one URL answers with a page or a fragment."""
    response.vary.add("HX-Request")
    return response


def config_json() -> str:
    return json.dumps(HTMX_CONFIG, separators=(",", ":"))


NOTICES_OOB = '{% from "components/notice.html" import notices %}{{ notices(messages, oob=True) }}'


def init_app(app: Flask) -> None:
    app.after_request(attach_notices)


def attach_notices(response: Response) -> Response:
    """An htmx swap acknowledges its action like a page does: messages flashed during the
    request are swapped into the page's notice region out of band."""
    if (
        not is_fragment_request()
        or response.status_code != 200
        or response.mimetype != "text/html"
        or response.direct_passthrough
        or "_flashes" not in flask_session
    ):
        return response
    messages = get_flashed_messages(with_categories=True)
    extra = render_template_string(NOTICES_OOB, messages=messages)
    response.set_data(response.get_data() + extra.encode())
    return response
