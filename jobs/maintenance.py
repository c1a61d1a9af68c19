"""Periodic housekeeping, scheduled by RQ's cron scheduler (see jobs/schedule.py)."""

from __future__ import annotations

from jobs import app_context


def prune_outbox(days: int = 30) -> int:
    """Delete outbox messages completed more than ``days`` ago."""
    from portal.core import outbox

    with app_context():
        return outbox.prune_completed(days)
