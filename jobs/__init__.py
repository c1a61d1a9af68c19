"""Thin RQ entry points: ids in, one service call, inside the portal's app context."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, current_app, has_app_context

_app: Flask | None = None


@contextmanager
def app_context() -> Iterator[Flask]:
    """Use the current app context (``flask jobs worker``) or build the app once (plain ``rq``)."""
    global _app
    if has_app_context():
        yield current_app._get_current_object()  # type: ignore[attr-defined]
        return
    if _app is None:
        from portal import create_app

        _app = create_app()
    with _app.app_context():
        yield _app
