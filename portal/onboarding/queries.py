"""Read helpers of payee onboarding."""

from __future__ import annotations

from portal.companies.models import Company
from portal.core import tenancy
from portal.core.db import db
from portal.onboarding.models import PayeeInvitation, PayeeRelationship


def payor_of(invitation: PayeeInvitation) -> Company:
    """The payor that sent the invitation (read unscoped: the recipient belongs to none of
    the payor's companies)."""
    with tenancy.unscoped():
        return db.session.get(Company, invitation.payor_id)


def relationship_of(invitation: PayeeInvitation) -> PayeeRelationship:
    with tenancy.unscoped():
        return db.session.get(PayeeRelationship, invitation.relationship_id)
