"""Payee onboarding's periodic jobs, scheduled by RQ's cron scheduler (see jobs/schedule.py)."""

from __future__ import annotations

from jobs import app_context


def send_review_digests() -> int:
    """Email each payor's Beneficiary Approvers the payees waiting for their approval."""
    from portal.core.db import db
    from portal.onboarding import digest

    with app_context():
        queued = digest.send_review_digests()
        db.session.commit()
        return queued
