"""Kernel tables: the append-only audit log, the transactional outbox and stored files."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal.core.db import db, utcnow


class AuditEvent(db.Model):
    """One security or business event. Rows are only ever inserted; each carries the hash
    of the row before it, so editing, deleting or reordering rows breaks the chain."""

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    action: Mapped[str] = mapped_column(sa.String(120), index=True)
    actor_user_id: Mapped[int | None] = mapped_column(index=True)
    actor_sso_issuer: Mapped[str | None] = mapped_column(sa.String(300))
    actor_sso_subject: Mapped[str | None] = mapped_column(sa.String(300))
    company_id: Mapped[int | None] = mapped_column(index=True)
    object_type: Mapped[str | None] = mapped_column(sa.String(60))
    object_id: Mapped[str | None] = mapped_column(sa.String(60))
    before: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    request_id: Mapped[str | None] = mapped_column(sa.String(64))
    ip_address: Mapped[str | None] = mapped_column(sa.String(64))
    user_agent: Mapped[str | None] = mapped_column(sa.String(400))
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64), unique=True)

    __table_args__ = (sa.Index("ix_audit_event_company_time", "company_id", "occurred_at"),)


class OutboxMessage(db.Model):
    """A side effect (a job to run) written in the same transaction as the change that
    caused it, and relayed to the job queue only once that transaction has committed."""

    __tablename__ = "outbox_message"

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(sa.String(200))
    args: Mapped[list[Any]] = mapped_column(sa.JSON, default=list)
    queue: Mapped[str] = mapped_column(sa.String(40), default="default")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    available_at: Mapped[datetime] = mapped_column(default=utcnow)
    relayed_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text)

    __table_args__ = (
        sa.Index("ix_outbox_message_pending", "completed_at", "relayed_at", "available_at"),
        sa.CheckConstraint("attempts >= 0", name="attempts_not_negative"),
    )


class StoredFile(db.Model):
    """A file kept in storage under a server-generated key; the original name is only shown."""

    __tablename__ = "stored_file"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(40))
    storage_key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    original_name: Mapped[str] = mapped_column(sa.String(255))
    content_type: Mapped[str] = mapped_column(sa.String(100))
    size_bytes: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64))
    company_id: Mapped[int | None] = mapped_column(index=True)
    uploaded_by_user_id: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (sa.CheckConstraint("size_bytes > 0", name="size_positive"),)
