"""Whether a payor may start new disbursements now.

Turning Pay off (operator) or disbursements off (Payments Admin) stops *new* disbursements;
disbursements already authorized are in the bank's hands and finish either way.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from portal.companies.models import Feature
from portal.companies.queries import feature_enabled
from portal.core import tenancy
from portal.core.db import db
from portal.payment_settings.models import PaymentControls


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""


def may_start_disbursements(company_id: int) -> Decision:
    if not feature_enabled(company_id, Feature.PAY):
        return Decision(False, "Pay is not active for this company.")
    with tenancy.unscoped():
        enabled = db.session.scalar(
            sa.select(PaymentControls.disbursements_enabled).where(
                PaymentControls.company_id == company_id
            )
        )
    if enabled is False:
        return Decision(False, "Disbursements are turned off in payment settings.")
    return Decision(True)
