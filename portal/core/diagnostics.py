"""Prove the job pipeline works end to end: `flask --app wsgi jobs ping` and /healthz."""

from __future__ import annotations

import time

import sqlalchemy as sa

from portal.core import audit, outbox
from portal.core.db import db
from portal.core.models import AuditEvent

PING_ACTION = "core:diagnostics:pinged"


def send_ping(token: str, hold_seconds: float = 0) -> None:
    """Queue a ping job; it runs once the current transaction commits."""
    outbox.enqueue("jobs.diagnostics.ping", token, hold_seconds, queue="default")


def record_ping(token: str, hold_seconds: float = 0) -> None:
    """Called by the job: leave an audit event carrying the token (written at commit)."""
    audit.record(PING_ACTION, object_type="ping", object_id=token[:60], after={"token": token})
    if hold_seconds:
        time.sleep(hold_seconds)


def ping_count(token: str) -> int:
    """How many times a ping with ``token`` has run."""
    return db.session.scalar(
        sa.select(sa.func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.action == PING_ACTION, AuditEvent.object_id == token[:60])
    )
