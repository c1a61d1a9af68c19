"""Per-request security: request ids, audit context and the response headers every page gets."""

from __future__ import annotations

import re
import secrets

from flask import Flask, Response, current_app, g, request

from portal.core import htmx
from portal.core.audit import RequestContext, current_request_context
from portal.core.errors import InvalidInput

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ]
)
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")


# Control characters have no business in a header or a form field (tabs and line breaks in
# fields excepted): a NUL byte, for one, makes PostgreSQL refuse the whole transaction.
# Bidirectional overrides and invisible spaces are refused too: they make a name read
# differently from what it is ("RTL" shown as "LTR") in lists, history and exports.
_CONTROL_IN_FIELD = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]"
)
_CONTROL_IN_HEADER = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
CONTROL_CHARACTER_MESSAGE = (
    "That request contains a control or invisible formatting character (such as a NUL byte "
    "or a right-to-left override) that Trestle does not accept. Nothing was changed: remove "
    "it and try again."
)


def init_app(app: Flask) -> None:
    app.before_request(refuse_control_characters)
    app.before_request(_start_request)
    app.after_request(_secure_response)
    app.after_request(_close_unsent_file)
    app.teardown_request(_end_request)


def refuse_control_characters() -> None:
    """Refuse, before anything reads it, a request carrying control characters anywhere."""
    headers = (v for item in request.headers.items() for v in item)
    fields = (
        v
        for source in (request.args, request.form)
        for item in source.items(multi=True)
        for v in item
    )
    names = (f.filename or "" for f in request.files.values())
    if any(_CONTROL_IN_HEADER.search(v) for v in headers) or any(
        _CONTROL_IN_FIELD.search(v) for v in (*fields, *names)
    ):
        raise InvalidInput(CONTROL_CHARACTER_MESSAGE)


def _start_request() -> None:
    # Trust a load balancer's request id only if it looks like one.
    incoming = request.headers.get("X-Request-ID", "")
    g.request_id = incoming if _REQUEST_ID.fullmatch(incoming) else secrets.token_hex(12)
    g.request_context_token = current_request_context.set(
        RequestContext(
            request_id=g.request_id,
            ip_address=request.remote_addr,
            user_agent=request.user_agent.string,
        )
    )


def _end_request(exc: BaseException | None) -> None:
    token = g.pop("request_context_token", None)
    if token is not None:
        current_request_context.reset(token)


def _close_unsent_file(response: Response) -> Response:
    """A 304 for a static file sends no body, and Werkzeug then never closes the file it
    opened for it (found when a browser revalidates the favicon): close it here."""
    if response.status_code == 304 and hasattr(response.response, "close"):
        response.response.close()
    return response


def _secure_response(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
    if current_app.config["PORTAL_ENV"] == "production":
        headers.setdefault("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
    if request.endpoint != "static":
        # Every dynamic page may carry money or bank data: never store it anywhere.
        headers["Cache-Control"] = "no-store"
    if "request_id" in g:
        headers.setdefault("X-Request-ID", g.request_id)
    return htmx.add_vary(response)
