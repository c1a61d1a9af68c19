import pytest
import sqlalchemy as sa
from flask import Flask

from portal.core.db import db
from portal.notifications import services
from portal.notifications.models import EmailMessage, EmailStatus
from tests.conftest import TIER, wait_until

pytestmark = pytest.mark.usefixtures("database")


@pytest.mark.skipif(TIER == "real", reason="tier split: the real tier sends from a worker process")
def test_an_email_arrives_at_a_real_smtp_server(smtp) -> None:
    services.queue_email("pm@example.com", "test_message")
    assert smtp.messages == [], "nothing leaves before the transaction commits"
    db.session.commit()
    [message] = smtp.to("pm@example.com")
    assert message["Subject"] == "Trestle test message"
    assert "check that email delivery works" in message.get_body(("plain",)).get_content()
    assert "<p>Hello,</p>" in message.get_body(("html",)).get_content()
    email = db.session.scalar(sa.select(EmailMessage))
    assert email.status == EmailStatus.SENT and email.sent_at is not None


def test_a_rolled_back_email_is_never_sent(smtp) -> None:
    services.queue_email("nobody@example.com", "test_message")
    db.session.rollback()
    db.session.commit()
    assert smtp.to("nobody@example.com") == []


def test_delivering_twice_sends_once(smtp, app: Flask) -> None:
    email = services.queue_email("twice@example.com", "test_message")
    db.session.flush()
    assert services.deliver_email(email.id) is True
    assert services.deliver_email(email.id) is False
    assert len(smtp.to("twice@example.com")) == 1


@pytest.mark.real
@pytest.mark.committed
def test_a_worker_process_delivers_email(rq_worker, smtp) -> None:
    services.queue_email("worker@example.com", "test_message")
    db.session.commit()
    wait_until(lambda: smtp.to("worker@example.com"))
    assert len(smtp.to("worker@example.com")) == 1


def test_email_bodies_are_encrypted_at_rest() -> None:
    services.queue_email(
        "secret@example.com",
        "password_reset",
        name="Ann",
        url="http://localhost/password/reset/SINGLE-USE-TOKEN",
    )
    db.session.flush()
    raw = db.session.execute(sa.text("SELECT text_body FROM email_message")).scalar()
    assert "SINGLE-USE-TOKEN" not in raw
    assert "SINGLE-USE-TOKEN" in db.session.scalar(sa.select(EmailMessage.text_body))


def test_old_sent_emails_are_pruned(smtp) -> None:
    from datetime import timedelta

    from portal.core.db import utcnow

    old = services.queue_email("old@example.com", "test_message")
    new = services.queue_email("new@example.com", "test_message")
    db.session.flush()
    old.status, old.sent_at = EmailStatus.SENT, utcnow() - timedelta(days=120)
    new.status, new.sent_at = EmailStatus.SENT, utcnow() - timedelta(days=3)
    db.session.flush()
    assert services.prune_sent(90) == 1
    assert db.session.scalars(sa.select(EmailMessage.to_address)).all() == ["new@example.com"]


def test_emails_written_to_the_log_are_readable_with_links_whole(
    app: Flask, monkeypatch, caplog
) -> None:
    import logging

    monkeypatch.setitem(app.config, "MAIL_SERVER", None)
    url = "http://localhost/password/reset/" + "Zx9-_" * 30 + "?next=/settings/payments&x=1"
    email = services.queue_email("dev@example.com", "password_reset", name="Ann", url=url)
    db.session.flush()
    with caplog.at_level(logging.INFO, logger="portal.notifications.services"):
        assert services.deliver_email(email.id) is True
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert url in logged.splitlines(), "the link is on one line, exactly as sent"
    assert "Subject: " in logged and "To: dev@example.com" in logged
    assert "=3D" not in logged and "Content-Transfer-Encoding" not in logged
