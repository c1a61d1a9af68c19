"""Queue emails in the current transaction and deliver them over SMTP from a job."""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Iterable
from datetime import timedelta
from email.message import EmailMessage as MimeMessage
from email.utils import formatdate, make_msgid
from typing import Any

import sqlalchemy as sa
from flask import current_app, render_template
from jinja2 import TemplateNotFound

from portal.core import outbox
from portal.core.db import db, utcnow
from portal.notifications.models import EmailMessage, EmailStatus

log = logging.getLogger(__name__)


def queue_email(
    to_address: str,
    template: str,
    /,
    *,
    company_id: int | None = None,
    **context: Any,
) -> EmailMessage:
    """Render ``templates/notifications/email/<template>.{subject,txt,html}`` and queue it.

    The email leaves only if the current transaction commits.
    """
    context["to_address"] = to_address
    base = f"notifications/email/{template}"
    subject = render_template(f"{base}.subject.txt", **context).strip()
    text_body = render_template(f"{base}.txt", **context)
    try:
        html_body: str | None = render_template(f"{base}.html", **context)
    except TemplateNotFound:
        html_body = None
    message = EmailMessage(
        template=template,
        to_address=to_address,
        subject=" ".join(subject.split())[:300],
        text_body=text_body,
        html_body=html_body,
        company_id=company_id,
    )
    db.session.add(message)
    db.session.flush()
    outbox.enqueue("jobs.notifications.deliver_email", message.id, queue="notifications")
    return message


def queue_emails(
    to_addresses: Iterable[str],
    template: str,
    /,
    *,
    company_id: int | None = None,
    **context: Any,
) -> list[EmailMessage]:
    """The same email to each address, each its own message (nobody sees who else got it)."""
    return [
        queue_email(address, template, company_id=company_id, **context) for address in to_addresses
    ]


def build_mime(message: EmailMessage, sender: str) -> MimeMessage:
    """Build the MIME message; the Message-ID is stable so a retried send can be deduplicated."""
    mime = MimeMessage()
    mime["From"] = sender
    mime["To"] = message.to_address
    mime["Subject"] = message.subject
    mime["Date"] = formatdate(message.created_at.timestamp(), usegmt=True)
    mime["Message-ID"] = make_msgid(idstring=f"email-{message.id}", domain="trestle.local")
    mime.set_content(message.text_body)
    if message.html_body:
        mime.add_alternative(message.html_body, subtype="html")
    return mime


def deliver_email(email_id: int) -> bool:
    """Send a queued email over SMTP (or to the log when no MAIL_SERVER is set).

    Returns False when it had already been sent.
    """
    message = db.session.get(EmailMessage, email_id, with_for_update=True)
    if message is None or message.status == EmailStatus.SENT:
        return False
    config = current_app.config
    if config["MAIL_SERVER"]:
        mime = build_mime(message, config["MAIL_DEFAULT_SENDER"])
        smtp_class = smtplib.SMTP_SSL if config["MAIL_USE_SSL"] else smtplib.SMTP
        with smtp_class(
            config["MAIL_SERVER"], config["MAIL_PORT"], timeout=config["MAIL_TIMEOUT"]
        ) as smtp:
            if config["MAIL_USE_TLS"]:
                smtp.starttls()
            if config["MAIL_USERNAME"]:
                smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"] or "")
            smtp.send_message(mime)
    else:
        # The decoded text, not the MIME wire form: quoted-printable would wrap lines at 76
        # characters with "=" and encode "=" itself, breaking every link a developer copies.
        log.info(
            "email (no MAIL_SERVER set, not sent)\nTo: %s\nSubject: %s\n\n%s",
            message.to_address,
            message.subject,
            message.text_body,
        )
    message.status = EmailStatus.SENT
    message.sent_at = utcnow()
    return True


def prune_sent(days: int) -> int:
    """Delete emails sent more than ``days`` ago; return how many went."""
    result = db.session.execute(
        sa.delete(EmailMessage).where(
            EmailMessage.status == EmailStatus.SENT,
            EmailMessage.sent_at < utcnow() - timedelta(days=days),
        )
    )
    return result.rowcount
