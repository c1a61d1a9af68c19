"""The cron jobs prune what they promise and keep the rest; /healthz says when the database
is down."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from jobs import maintenance
from portal.core.db import db, utcnow
from portal.core.models import OutboxMessage
from portal.core.ratelimit import ThrottleEvent, ThrottleGate
from portal.notifications.models import EmailMessage, EmailStatus


def rows(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


@pytest.mark.usefixtures("database")
def test_prune_throttle_events_keeps_the_recent_ones_and_their_gates() -> None:
    now = utcnow()
    db.session.add_all(
        [
            ThrottleEvent(scope="login:ip", key="old", occurred_at=now - timedelta(days=2)),
            ThrottleEvent(scope="login:ip", key="new", occurred_at=now - timedelta(hours=1)),
            ThrottleGate(scope="login:ip", key="old"),
            ThrottleGate(scope="login:ip", key="new"),
        ]
    )
    db.session.commit()
    assert maintenance.prune_throttle_events() == 1
    assert db.session.scalars(sa.select(ThrottleEvent.key)).all() == ["new"]
    assert db.session.scalars(sa.select(ThrottleGate.key)).all() == ["new"]


@pytest.mark.usefixtures("database")
def test_prune_sent_emails_deletes_only_old_sent_ones() -> None:
    now = utcnow()

    def email(status, sent_days_ago):
        return EmailMessage(
            template="welcome",
            to_address="a@example.com",
            subject="s",
            text_body="b",
            status=status,
            created_at=now - timedelta(days=200),
            sent_at=None if sent_days_ago is None else now - timedelta(days=sent_days_ago),
        )

    db.session.add_all(
        [email(EmailStatus.SENT, 100), email(EmailStatus.SENT, 10), email(EmailStatus.QUEUED, None)]
    )
    db.session.commit()
    assert maintenance.prune_sent_emails() == 1
    assert rows(EmailMessage) == 2


@pytest.mark.usefixtures("database")
def test_prune_outbox_deletes_only_messages_completed_long_ago() -> None:
    now = utcnow()
    for days in (40, 5, None):
        db.session.add(
            OutboxMessage(
                job="jobs.diagnostics.ping",
                args=[],
                queue="default",
                completed_at=None if days is None else now - timedelta(days=days),
            )
        )
    db.session.commit()
    assert maintenance.prune_outbox() == 1
    assert rows(OutboxMessage) == 2


def test_healthz_says_when_the_database_is_down(test_env, tmp_path) -> None:
    from tests.conftest import build_app

    app = build_app(
        {**test_env, "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/nothing"}, str(tmp_path)
    )
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["status"] == "degraded"
    assert response.json["checks"]["database"]["ok"] is False
