"""Absolute URLs for emails and identity providers, from configuration, never the Host header."""

from __future__ import annotations

from typing import Any

from flask import current_app, url_for


def external_url(endpoint: str, **values: Any) -> str:
    """``PORTAL_BASE_URL`` + the endpoint's path: a spoofed Host header cannot redirect it."""
    base = current_app.config["PORTAL_BASE_URL"].rstrip("/")
    return base + url_for(endpoint, _external=False, **values)
