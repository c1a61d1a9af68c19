"""Emails the portal has decided to send, and whether they went."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal.core.crypto import encrypted_column
from portal.core.db import db, str_enum, utcnow
from portal.core.status import Status, Tone


class EmailStatus(Status):
    QUEUED = "queued", "Queued", Tone.PROGRESS
    SENT = "sent", "Sent", Tone.SUCCESS


class EmailMessage(db.Model):
    """One rendered email to one recipient."""

    __tablename__ = "email_message"

    id: Mapped[int] = mapped_column(primary_key=True)
    template: Mapped[str] = mapped_column(sa.String(100))
    to_address: Mapped[str] = mapped_column(sa.String(254), index=True)
    subject: Mapped[str] = mapped_column(sa.String(300))
    # Bodies can hold single-use links (password resets, welcomes): encrypted at rest.
    text_body: Mapped[str] = encrypted_column()
    html_body: Mapped[str | None] = encrypted_column()
    status: Mapped[EmailStatus] = mapped_column(
        str_enum(EmailStatus, 20),
        default=EmailStatus.QUEUED,
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    company_id: Mapped[int | None] = mapped_column(index=True)
