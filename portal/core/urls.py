"""URLs: ids in paths, and absolute URLs for emails and identity providers (from
configuration, never the Host header)."""

from __future__ import annotations

from typing import Any

from flask import current_app, has_request_context, url_for
from werkzeug.routing import IntegerConverter

# The largest id every database we run on can hold (PostgreSQL's integer).
MAX_ID = 2**31 - 1


def digits_up_to(limit: int) -> str:
    """A regular expression of the decimal numbers from 0 to ``limit`` (leading zeros allowed
    only below ``limit``'s length), so that a larger number matches no route at all."""
    top = str(limit)
    parts = [rf"\d{{1,{len(top) - 1}}}"] if len(top) > 1 else []
    for i, digit in enumerate(top):
        if digit != "0":
            rest = len(top) - i - 1
            parts.append(top[:i] + f"[0-{int(digit) - 1}]" + (rf"\d{{{rest}}}" if rest else ""))
    parts.append(top)
    return "(?:" + "|".join(parts) + ")"


class IdConverter(IntegerConverter):
    """``<int:…>`` in every route: an id past what the database holds is simply not found
    (404), never a database error. The limit is in the pattern, not only in the conversion:
    werkzeug answers 405 when a path matches one route's pattern for another method, even if
    that route's conversion would have refused the id."""

    regex = digits_up_to(MAX_ID)

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def external_url(endpoint: str, **values: Any) -> str:
    """``PORTAL_BASE_URL`` + the endpoint's path: a spoofed Host header cannot redirect it.

    Works outside a request too (jobs, the shell): the path is built from the URL map."""
    base = current_app.config["PORTAL_BASE_URL"].rstrip("/")
    if has_request_context():
        return base + url_for(endpoint, _external=False, **values)
    return base + current_app.url_map.bind("localhost").build(endpoint, values)
