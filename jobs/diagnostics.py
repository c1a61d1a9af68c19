"""End-to-end check of the job pipeline: outbox → relay → queue → worker → database."""

from __future__ import annotations


def ping(token: str, hold_seconds: float = 0) -> None:
    """Record that a ping with ``token`` reached a worker (an audit event).

    ``hold_seconds`` keeps the job running before it commits, to rehearse a worker that
    dies mid-job.
    """
    from portal.core import diagnostics

    diagnostics.record_ping(token, hold_seconds)
