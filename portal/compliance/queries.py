"""Read helpers: a payor's compliance templates, the documents kept for a commitment or an
invoice, and where each required document stands today."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa

from portal.compliance.models import (
    ComplianceDocument,
    ComplianceTemplate,
    DocumentStanding,
    DocumentStatus,
    RequiredAt,
)
from portal.core import tenancy
from portal.core.db import db
from portal.core.errors import NotFound
from portal.invoicing.models import BillingType, Commitment, Invoice
from portal.onboarding.models import PayeeRelationship

# Standings that satisfy a requirement.
SATISFYING = frozenset({DocumentStanding.CURRENT, DocumentStanding.EXPIRING})


def templates_of(company_id: int) -> list[ComplianceTemplate]:
    return list(
        db.session.scalars(
            sa.select(ComplianceTemplate)
            .where(ComplianceTemplate.company_id == company_id)
            .order_by(
                ComplianceTemplate.document_type,
                ComplianceTemplate.required_at,
                ComplianceTemplate.id,
            )
        )
    )


def template(template_id: int) -> ComplianceTemplate:
    found = db.session.get(ComplianceTemplate, template_id)
    if found is None:
        raise NotFound("No such compliance template.")
    return found


def document(document_id: int) -> ComplianceDocument:
    """A document the current company may see (its payor's or its payee's)."""
    found = db.session.scalar(
        sa.select(ComplianceDocument).where(ComplianceDocument.id == document_id)
    )
    if found is None:
        raise NotFound("No such document.")
    return found


def documents_of(
    commitment: Commitment, invoice: Invoice | None = None
) -> list[ComplianceDocument]:
    """The documents kept for the commitment itself, or with one of its invoices; newest first."""
    place = (
        ComplianceDocument.invoice_id == invoice.id
        if invoice is not None
        else ComplianceDocument.invoice_id.is_(None)
    )
    return list(
        db.session.scalars(
            sa.select(ComplianceDocument)
            .where(ComplianceDocument.commitment_id == commitment.id, place)
            .order_by(ComplianceDocument.uploaded_at.desc(), ComplianceDocument.id.desc())
        )
    )


@dataclass(frozen=True)
class Needed:
    """One required document and how it stands today."""

    template: ComplianceTemplate
    standing: DocumentStanding
    document: ComplianceDocument | None

    @property
    def met(self) -> bool:
        return self.standing in SATISFYING


def needed_for(
    commitment: Commitment,
    documents: list[ComplianceDocument],
    today: date,
    invoice: Invoice | None = None,
) -> list[Needed]:
    """The documents the payor's templates require here (for the commitment, or with the
    invoice), each with its best document on file: a valid one, else the newest."""
    with tenancy.unscoped():  # the payee reads its payor's templates
        templates = templates_of(commitment.company_id)
    needed = []
    for rule in templates:
        if rule.applies_to is not None and rule.applies_to is not commitment.kind:
            continue
        if invoice is None and rule.required_at is not RequiredAt.FIRST_INVOICE:
            continue
        if invoice is not None and (
            rule.required_at is RequiredAt.FIRST_INVOICE
            or (
                rule.required_at is RequiredAt.FINAL_INVOICE
                and invoice.billing_type is not BillingType.FINAL
            )
        ):
            continue
        of_type = [d for d in documents if d.document_type is rule.document_type]
        valid = [d for d in of_type if d.standing(today) in SATISFYING]
        best = (
            max(valid, key=lambda d: (d.expires_on or date.max, d.id))
            if valid
            else (of_type[0] if of_type else None)
        )
        needed.append(
            Needed(rule, best.standing(today) if best else DocumentStanding.MISSING, best)
        )
    return needed


def documents_awaiting_review(company_id: int, limit: int) -> tuple[list, int]:
    """The payor's documents its payees sent for review, oldest first, each with its
    commitment's number and payee's name, and how many."""
    waiting = sa.and_(
        ComplianceDocument.company_id == company_id,
        ComplianceDocument.status == DocumentStatus.SUBMITTED,
    )
    total = db.session.scalar(
        sa.select(sa.func.count()).select_from(ComplianceDocument).where(waiting)
    )
    rows = db.session.execute(
        sa.select(ComplianceDocument, Commitment.number, PayeeRelationship.directory_name)
        .join(Commitment, Commitment.id == ComplianceDocument.commitment_id)
        .join(PayeeRelationship, PayeeRelationship.id == Commitment.relationship_id)
        .where(waiting)
        .order_by(ComplianceDocument.uploaded_at, ComplianceDocument.id)
        .limit(limit)
    ).all()
    return list(rows), total or 0
