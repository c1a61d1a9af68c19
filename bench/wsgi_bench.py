"""The portal exactly as ``wsgi:app`` serves it, plus one bench-only page: the baseline.

``gunicorn bench.wsgi_bench:app`` runs the real application (same factory, middleware and
hooks); the baseline route exists only here, never in ``portal/``.
"""

import sqlalchemy as sa
from flask import render_template_string

from portal.core.db import db
from wsgi import app

BASELINE_PATH = "/_bench/baseline"
BASELINE_TEMPLATE = "<!doctype html><title>Baseline</title><p>{{ value }}</p>"


def show_baseline() -> str:
    """Render a trivial template after one trivial query: the floor every page is held to."""
    value = db.session.execute(sa.text("SELECT 1")).scalar_one()
    return render_template_string(BASELINE_TEMPLATE, value=value)


app.add_url_rule(BASELINE_PATH, "bench_baseline", show_baseline)
