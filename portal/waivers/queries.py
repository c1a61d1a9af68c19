"""Read helpers: one waiver as the current company may see it, and an invoice's waivers."""

from __future__ import annotations

import sqlalchemy as sa

from portal.core.db import db
from portal.core.errors import NotFound
from portal.waivers.models import LienWaiver


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
