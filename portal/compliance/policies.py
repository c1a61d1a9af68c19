"""Who may read, add and review compliance documents, and what "compliant" means, as SQL
over invoices (the readiness requirements evaluate these when asked, never stored)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from portal.companies.models import Membership, Role
from portal.compliance.models import (
    ComplianceDocument,
    ComplianceTemplate,
    DocumentStatus,
    DocumentType,
    RequiredAt,
)
from portal.invoicing.models import BillingType, Commitment, CommitmentStatus, Invoice
from portal.invoicing.policies import PROJECT_STAFF, billing_date


@dataclass(frozen=True)
class DocumentAccess:
    read: bool
    add: bool
    review: bool
    payor_side: bool = False


NO_ACCESS = DocumentAccess(False, False, False)


def commitment_document_access(
    membership: Membership, user_id: int, commitment: Commitment
) -> DocumentAccess:
    """The payor's project staff add and review a commitment's documents and its Disbursers
    read them; the payee's invoice contacts add them and its Payments Admins read them."""
    company = membership.company
    roles = membership.role_set
    if company.id == commitment.company_id:
        staff = bool(roles & PROJECT_STAFF)
        if not staff and Role.DISBURSER not in roles:
            return NO_ACCESS
        return DocumentAccess(True, staff, staff, payor_side=True)
    if (
        commitment.payee_company_id is not None
        and company.id == commitment.payee_company_id
        and commitment.status is CommitmentStatus.APPROVED  # a draft is the payor's own
    ):
        contact = any(c.user_id == user_id for c in commitment.contacts)
        return DocumentAccess(contact or Role.PAYEE_ADMIN in roles, contact, False)
    return NO_ACCESS


def valid_on(document: type[ComplianceDocument], today: date) -> sa.ColumnElement[bool]:
    """Accepted, in effect, and not expired on ``today``."""
    return sa.and_(
        document.status == DocumentStatus.ACCEPTED,
        document.effective_on <= today,
        sa.or_(document.expires_on.is_(None), document.expires_on >= today),
    )


def _all_required_on_file(
    *, insurance: bool, per_invoice: bool, today: date | None = None
) -> sa.ColumnElement[bool]:
    """No template of the invoice's payor that applies to the invoice (insurance
    certificates, or every other type) lacks a valid document: for a commitment-level
    template one kept for the commitment, for a per-invoice one attached to this invoice."""
    today = today or billing_date()
    template = aliased(ComplianceTemplate)
    document = aliased(ComplianceDocument)
    commitment = aliased(Commitment)
    kind_of_commitment = (
        sa.select(commitment.kind)
        .where(commitment.id == Invoice.commitment_id)
        .correlate(Invoice)
        .scalar_subquery()
    )
    is_insurance = template.document_type == DocumentType.INSURANCE_CERTIFICATE
    if per_invoice:
        when = sa.or_(
            template.required_at == RequiredAt.EVERY_INVOICE,
            sa.and_(
                template.required_at == RequiredAt.FINAL_INVOICE,
                Invoice.billing_type == BillingType.FINAL,
            ),
        )
        on_file = document.invoice_id == Invoice.id
    else:
        when = template.required_at == RequiredAt.FIRST_INVOICE
        on_file = sa.and_(
            document.commitment_id == Invoice.commitment_id, document.invoice_id.is_(None)
        )
    satisfied = (
        sa.exists()
        .where(
            on_file,
            document.company_id == Invoice.company_id,
            document.document_type == template.document_type,
            valid_on(document, today),
        )
        .correlate(Invoice, template)
    )
    return ~(
        sa.exists()
        .where(
            template.company_id == Invoice.company_id,
            sa.or_(template.applies_to.is_(None), template.applies_to == kind_of_commitment),
            when,
            is_insurance if insurance else ~is_insurance,
            ~satisfied,
        )
        .correlate(Invoice)
    )


def contract_compliant() -> sa.ColumnElement[bool]:
    """Every document the payor requires for the commitment from its first invoice on, other
    than insurance, is on file, accepted and current."""
    return _all_required_on_file(insurance=False, per_invoice=False)


def insurance_compliant() -> sa.ColumnElement[bool]:
    """Every insurance certificate the payor requires is on file, accepted and unexpired:
    for the commitment, and with this invoice where one is required with it."""
    return sa.and_(
        _all_required_on_file(insurance=True, per_invoice=False),
        _all_required_on_file(insurance=True, per_invoice=True),
    )


def invoice_compliant() -> sa.ColumnElement[bool]:
    """Every document the payor requires with this invoice (every invoice, or the final
    one), other than insurance, is attached and accepted."""
    return _all_required_on_file(insurance=False, per_invoice=True)
