"""The one place that knows htmx: page or fragment, redirects, triggers, and Vary."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, make_response, redirect, render_template
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
