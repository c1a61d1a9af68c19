"""Payee onboarding's periodic jobs, scheduled by RQ's cron scheduler (see jobs/schedule.py)."""

from __future__ import annotations

import logging

from jobs import app_context

log = logging.getLogger(__name__)


def send_review_digests() -> int:
    """Email each payor's Beneficiary Approvers the payees waiting for their approval.

    Each payor's digest is its own transaction: one that fails leaves the others sent, and
    the job fails afterwards so that it is seen and may be run again (a payor already sent
    its digest today is not sent another)."""
    from portal.core.db import db, utcnow
    from portal.onboarding import digest

    with app_context():
        now, queued, failed = utcnow(), 0, []
        for payor_id in digest.payors_waiting():
            try:
                queued += digest.send_review_digest(payor_id, now)
                db.session.commit()
            except Exception:
                db.session.rollback()
                log.exception("review digest of payor %s failed", payor_id)
                failed.append(payor_id)
        if failed:
            raise RuntimeError(f"review digests failed for payors {failed}; the rest were sent")
        return queued
