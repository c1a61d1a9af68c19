"""What the lien waiver requirements mean, as SQL over invoices (readiness evaluates them
when asked)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from portal.invoicing.models import Invoice
from portal.waivers.forms import WaiverKind
from portal.waivers.models import LienWaiver, WaiverStatus

UNCONDITIONAL_KINDS = [WaiverKind.UNCONDITIONAL_PROGRESS, WaiverKind.UNCONDITIONAL_FINAL]


def previous_unconditional_received() -> sa.ColumnElement[bool]:
    """Every payment already settled on the invoice's commitment (before this invoice) has
    its unconditional waiver signed: none waits for the payee's signature."""
    waiver = aliased(LienWaiver)
    return ~(
        sa.exists()
        .where(
            waiver.commitment_id == Invoice.commitment_id,
            waiver.invoice_id != Invoice.id,
            waiver.kind.in_(UNCONDITIONAL_KINDS),
            waiver.status == WaiverStatus.AWAITING_SIGNATURE,
        )
        .correlate(Invoice)
    )


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
