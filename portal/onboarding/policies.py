"""May this payor pay this payee now, and if not, why not. The payments code asks this
before a payee's invoice joins a disbursement and again when the disbursement is authorized.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa

from portal.core import tenancy
from portal.core.db import db, utcnow
from portal.onboarding.models import OnboardingStatus, PayeeRelationship
from portal.onboarding.queries import agreement_of
from portal.payees import queries as payee_queries
from portal.payees.models import BankAccountStatus
from portal.payment_settings.models import PaymentControls


@dataclass(frozen=True)
class PayeeDecision:
    """The answer, with every reason it is no (each one a sentence for the payor)."""

    allowed: bool
    reasons: list[str] = field(default_factory=list)
    # When the cooling-off of a new receiving account ends (payments wait until then).
    cooling_off_until: datetime | None = None


def cooling_off_days(payor_id: int) -> int:
    with tenancy.unscoped():
        days = db.session.scalar(
            sa.select(PaymentControls.cooling_off_days).where(
                PaymentControls.company_id == payor_id
            )
        )
    return 3 if days is None else days


def may_pay_payee(payor_id: int, payee_id: int, *, now: datetime | None = None) -> PayeeDecision:
    """Every condition under which money may go to the payee's receiving account."""
    now = now or utcnow()
    with tenancy.unscoped():
        relationship = db.session.scalar(
            sa.select(PayeeRelationship).where(
                PayeeRelationship.payor_id == payor_id, PayeeRelationship.payee_id == payee_id
            )
        )
        if relationship is None:
            return PayeeDecision(False, ["This company is not one of your payees."])
        ready = payee_queries.readiness(payee_id)
    reasons: list[str] = []
    approved_once = relationship.approved_at is not None
    if relationship.status is OnboardingStatus.NO_BANK_INFORMATION:
        reasons.append("The payee has not finished onboarding.")
    elif relationship.status is not OnboardingStatus.APPROVED and not approved_once:
        reasons.append(
            "You have not approved this payee yet."
            if relationship.status is OnboardingStatus.NEEDS_REVIEW
            else f"The payee has not joined yet (its status is “{relationship.status.label}”)."
        )
    account = ready.receiving
    until = None
    if account is None:
        reasons.append("The payee has no verified bank account receiving payments.")
    else:
        if account.status is not BankAccountStatus.VERIFIED:
            reasons.append("The payee's receiving bank account is not verified.")
        if account.frozen_at is not None:
            reasons.append(
                "The payee's bank account is frozen: someone at the payee reported a change "
                "they did not make. A Trestle operator is reviewing it."
            )
        if account.needs_operator_review:
            reasons.append(
                "The payee's bank account waits for a Trestle operator's review "
                f"({account.review_reason})."
            )
        if approved_once and relationship.approved_bank_account_id != account.id:
            reasons.append("You have not approved the payee's current bank account.")
        since = account.receiving_since or account.created_at
        until = since + timedelta(days=cooling_off_days(payor_id))
        if now < until:
            reasons.append(
                "The payee's bank account is new: payments to it wait out the cooling-off "
                f"period, until {until:%B %-d, %Y at %H:%M} UTC."
            )
    if agreement_of(relationship) is None:
        reasons.append("The payee has not accepted your Pay agreement.")
    if ready.profile is None or ready.profile.certified_at is None:
        reasons.append("The payee has not certified its W-9 facts.")
    elif approved_once and relationship.approved_identity_version != ready.profile.identity_version:
        reasons.append("The payee's tax id or legal name changed since you approved it.")
    if relationship.status is not OnboardingStatus.APPROVED and not reasons:
        # A safety net: nothing above named why, but only an approved payee is paid.
        reasons.append(f"The payee is “{relationship.status.label}”, not ready for payment.")
    return PayeeDecision(not reasons, reasons, until)
