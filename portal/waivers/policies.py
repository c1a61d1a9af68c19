"""What "lien waiver signed" means, as SQL over invoices (readiness evaluates it when asked)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from portal.invoicing.models import Invoice
from portal.waivers.models import LienWaiver, WaiverStatus


def waiver_signed() -> sa.ColumnElement[bool]:
    """The payee signed this invoice's waiver for the payment now due (a waiver for another
    amount, or superseded, does not count)."""
    waiver = aliased(LienWaiver)
    return (
        sa.exists()
        .where(
            waiver.invoice_id == Invoice.id,
            waiver.status == WaiverStatus.SIGNED,
            waiver.amount_cents == Invoice.current_due_cents,
        )
        .correlate(Invoice)
    )
