"""Who may do what with invoices, what a project's settings leave unable to work, and what
day billing periods count."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from portal.companies.models import Membership, Role
from portal.core.db import utcnow
from portal.invoicing.models import Commitment, Invoice, Project
from portal.payment_settings.models import FundingAccountMode, PaymentControls


def funding_gap(project: Project, controls: PaymentControls) -> str | None:
    """Why this project's invoices could not be funded, if they could not: Pay is on, the
    payor funds each project from a fixed account, and none is fixed for this one."""
    if (
        project.pay_enabled
        and project.archived_at is None
        and controls.funding_account_mode is FundingAccountMode.FIXED_PER_PROJECT
        and project.funding_account_id is None
    ):
        return (
            "Pay is on, but no funding account is fixed for this project: its approved "
            "invoices cannot be paid until a Payments Admin chooses one."
        )
    return None


# A billing period stays open through its due date in every US time zone: the day that
# counts is the day in Hawaii, the last of them to end.
BILLING_ZONE = ZoneInfo("Pacific/Honolulu")


def billing_date(now: datetime | None = None) -> date:
    """Today, as billing periods count it."""
    return (now or utcnow()).astimezone(BILLING_ZONE).date()


PROJECT_STAFF = frozenset({Role.PAYMENTS_ADMIN, Role.INVOICE_ADMINISTRATOR})


@dataclass(frozen=True)
class InvoiceAccess:
    """What one member may do with one invoice."""

    read: bool
    bill: bool  # fill in, attach, submit
    review: bool  # approve, approve as noted, revise and resubmit
    payor_side: bool = False


NO_ACCESS = InvoiceAccess(False, False, False)


def invoice_access(
    membership: Membership, user_id: int, invoice: Invoice, contact_ids: set[int]
) -> InvoiceAccess:
    """The payor's project staff review its invoices (and bill those they wrote on the
    payee's behalf) and its Disbursers read them; the payee's invoice contacts bill them;
    its Payments Admins read them."""
    company = membership.company
    roles = membership.role_set
    if company.id == invoice.company_id:
        staff = bool(roles & PROJECT_STAFF)
        if not staff and Role.DISBURSER not in roles:
            return NO_ACCESS
        return InvoiceAccess(True, staff and invoice.on_behalf, staff, payor_side=True)
    if company.id == invoice.payee_company_id:
        contact = user_id in contact_ids
        return InvoiceAccess(contact or Role.PAYEE_ADMIN in roles, contact, False)
    return NO_ACCESS


def may_bill_commitment(membership: Membership, user_id: int, commitment: Commitment) -> bool:
    """The payee's invoice contacts start its invoices."""
    return membership.company.id == commitment.payee_company_id and any(
        contact.user_id == user_id for contact in commitment.contacts
    )
