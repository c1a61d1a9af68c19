"""End-to-end check of the job pipeline: outbox → relay → queue → worker → database."""

from __future__ import annotations


def ping(token: str) -> None:
    """Record that a ping with ``token`` reached a worker (an audit event)."""
    from portal.core import diagnostics

    diagnostics.record_ping(token)
