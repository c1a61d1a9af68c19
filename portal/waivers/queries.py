"""Read helpers: one waiver as the current company may see it, and an invoice's waivers."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa

from portal.core.db import db
from portal.core.errors import NotFound
from portal.invoicing.models import CommitmentContact
from portal.waivers.models import LienWaiver, WaiverStatus


def waiver(waiver_id: int) -> LienWaiver:
    found = db.session.scalar(sa.select(LienWaiver).where(LienWaiver.id == waiver_id))
    if found is None:
        raise NotFound("No such lien waiver.")
    return found


def waivers_of(invoice_id: int) -> list[LienWaiver]:
    """The invoice's waivers, the current ones first, newest first."""
    return list(
        db.session.scalars(
            sa.select(LienWaiver)
            .where(LienWaiver.invoice_id == invoice_id)
            .order_by((LienWaiver.status == "superseded").asc(), LienWaiver.id.desc())
        )
    )


def waivers_to_sign(payee_id: int, user_id: int, limit: int) -> tuple[list[LienWaiver], int]:
    """The payee's waivers awaiting the signature of ``user_id`` (an invoice contact of
    their commitments), oldest first, and how many."""
    waiting = sa.and_(
        LienWaiver.payee_company_id == payee_id,
        LienWaiver.status == WaiverStatus.AWAITING_SIGNATURE,
        LienWaiver.commitment_id.in_(
            sa.select(CommitmentContact.commitment_id).where(CommitmentContact.user_id == user_id)
        ),
    )
    total = db.session.scalar(sa.select(sa.func.count()).select_from(LienWaiver).where(waiting))
    rows = db.session.scalars(
        sa.select(LienWaiver).where(waiting).order_by(LienWaiver.id).limit(limit)
    ).all()
    return list(rows), total or 0


def signed_waivers_of_project(
    project_id: int, signed_from: date | None = None, signed_to: date | None = None
) -> list[LienWaiver]:
    """The project's signed waivers (superseded ones too: each was signed), oldest first;
    with dates, those signed from ``signed_from`` through ``signed_to`` (UTC days)."""
    stmt = sa.select(LienWaiver).where(
        LienWaiver.project_id == project_id, LienWaiver.signed_sha256.is_not(None)
    )
    if signed_from is not None:
        stmt = stmt.where(LienWaiver.signed_at >= datetime.combine(signed_from, time(), UTC))
    if signed_to is not None:
        stmt = stmt.where(
            LienWaiver.signed_at < datetime.combine(signed_to + timedelta(days=1), time(), UTC)
        )
    return list(db.session.scalars(stmt.order_by(LienWaiver.signed_at, LienWaiver.id)))
