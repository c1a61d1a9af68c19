"""URLs: ids in paths, and absolute URLs for emails and identity providers (from
configuration, never the Host header)."""

from __future__ import annotations

from typing import Any

from flask import current_app, url_for
from werkzeug.routing import IntegerConverter

# The largest id every database we run on can hold (PostgreSQL's integer).
MAX_ID = 2**31 - 1


class IdConverter(IntegerConverter):
    """``<int:…>`` in every route: an id past what the database holds is simply not found
    (404), never a database error."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def external_url(endpoint: str, **values: Any) -> str:
    """``PORTAL_BASE_URL`` + the endpoint's path: a spoofed Host header cannot redirect it."""
    base = current_app.config["PORTAL_BASE_URL"].rstrip("/")
    return base + url_for(endpoint, _external=False, **values)
