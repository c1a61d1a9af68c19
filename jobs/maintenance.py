"""Periodic housekeeping, scheduled by RQ's cron scheduler (see jobs/schedule.py)."""

from __future__ import annotations

from jobs import app_context


def prune_outbox(days: int = 30) -> int:
    """Delete outbox messages completed more than ``days`` ago."""
    from portal.core import outbox

    with app_context():
        return outbox.prune_completed(days)


def prune_throttle_events(days: int = 1) -> int:
    """Forget counted failures older than the longest rate-limit window."""
    from datetime import timedelta

    from portal.core import ratelimit
    from portal.core.db import db

    with app_context():
        pruned = ratelimit.prune(timedelta(days=days))
        db.session.commit()
        return pruned


def prune_sent_emails(days: int = 90) -> int:
    """Delete emails sent more than ``days`` ago (their bodies can hold old links)."""
    from portal.core.db import db
    from portal.notifications import services

    with app_context():
        pruned = services.prune_sent(days)
        db.session.commit()
        return pruned


def prune_held_actions() -> int:
    """Delete step-up held actions past their ten-minute life (files, not rows)."""
    from portal.accounts import held_actions

    with app_context():
        return held_actions.prune_expired()


def sweep_orphan_files(hours: int = 24) -> int:
    """Delete stored files that no record names, left by transactions that failed after the
    file was written, once they are ``hours`` old."""
    from datetime import timedelta

    from portal.core import storage

    with app_context():
        return storage.sweep_orphans(timedelta(hours=hours))
