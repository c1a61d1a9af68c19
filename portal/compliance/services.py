"""Changing compliance: the payor's templates, documents added and reviewed, and the
reminders sent before documents expire. Callers commit."""

from __future__ import annotations

from datetime import date, timedelta
from typing import IO

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from portal.companies import queries as companies
from portal.companies.models import Company, Role
from portal.compliance.models import (
    REMINDER_LEAD,
    ComplianceDocument,
    ComplianceTemplate,
    DocumentStatus,
    DocumentType,
    RequiredAt,
)
from portal.compliance.policies import valid_on
from portal.core import audit, storage, tenancy
from portal.core.db import db, update_if, utcnow
from portal.core.errors import DomainError, InvalidInput
from portal.core.text import clean_text
from portal.core.urls import external_url
from portal.invoicing import queries as invoicing_queries
from portal.invoicing.models import Commitment, CommitmentKind, Invoice
from portal.invoicing.policies import billing_date
from portal.notifications.services import queue_emails

MAX_DOCUMENTS_PER_PLACE = 50
# An expiration date further out than this is a typing mistake, not a policy term.
LONGEST_TERM = timedelta(days=366 * 10)


# --------------------------------------------------------------------------- templates


def add_template(
    payor: Company,
    *,
    document_type: DocumentType,
    applies_to: CommitmentKind | None,
    required_at: RequiredAt,
    actor_user_id: int,
) -> ComplianceTemplate:
    """Require a document of the payor's payees (the same rule twice is refused)."""
    # The same document at the same moment for the same commitments, or for all of them
    # when one rule covers some already (or the other way round), is one rule twice.
    overlapping = db.session.scalar(
        sa.select(ComplianceTemplate).where(
            ComplianceTemplate.company_id == payor.id,
            ComplianceTemplate.document_type == document_type,
            ComplianceTemplate.required_at == required_at,
            sa.true()
            if applies_to is None
            else sa.or_(
                ComplianceTemplate.applies_to.is_(None),
                ComplianceTemplate.applies_to == applies_to,
            ),
        )
    )
    if overlapping is not None:
        raise InvalidInput(
            f"{document_type.label} is already required {required_at.label.lower()} for "
            f"{overlapping.applies_to_label.lower()}: stop requiring that first to change it."
        )
    template = ComplianceTemplate(
        company_id=payor.id,
        document_type=document_type,
        applies_to=applies_to,
        required_at=required_at,
        created_by_user_id=actor_user_id,
    )
    db.session.add(template)
    db.session.flush()
    audit.record(
        "compliance:template:added",
        actor_user_id=actor_user_id,
        company_id=payor.id,
        object_type="compliance_template",
        object_id=template.id,
        after=_template_facts(template),
    )
    return template


def remove_template(template: ComplianceTemplate, *, actor_user_id: int) -> None:
    """Stop requiring a document (those already on file stay)."""
    facts = _template_facts(template)
    db.session.delete(template)
    db.session.flush()
    audit.record(
        "compliance:template:removed",
        actor_user_id=actor_user_id,
        company_id=template.company_id,
        object_type="compliance_template",
        object_id=template.id,
        before=facts,
    )


def _template_facts(template: ComplianceTemplate) -> dict[str, str]:
    return {
        "document": template.document_type.label,
        "applies_to": template.applies_to_label,
        "required": template.required_at.label,
    }


# --------------------------------------------------------------------------- documents


def add_document(
    commitment: Commitment,
    *,
    invoice: Invoice | None,
    document_type: DocumentType,
    effective_on: date | None,
    expires_on: date | None,
    upload: tuple[IO[bytes], str] | None,
    payor_side: bool,
    actor_user_id: int,
) -> ComplianceDocument:
    """Keep a document for the commitment (or with one of its invoices). The payee's go to
    the payor for review; one its payor's staff add is accepted as they add it."""
    if invoice is not None and invoice.commitment_id != commitment.id:
        raise InvalidInput("That invoice bills another commitment.")
    if effective_on is None:
        raise InvalidInput("Enter the date the document takes effect.", field="effective_on")
    today = billing_date()
    if not (today - LONGEST_TERM <= effective_on <= today + timedelta(days=366)):
        raise InvalidInput(
            "Check the effective date: it is more than ten years ago or a year ahead.",
            field="effective_on",
        )
    if expires_on is None and document_type.expires:
        raise InvalidInput(
            f"Enter the date the {document_type.label.lower()} expires.", field="expires_on"
        )
    if expires_on is not None and not document_type.expires:
        raise InvalidInput(
            f"A {document_type.label} does not expire: leave the expiration date empty.",
            field="expires_on",
        )
    if expires_on is not None and expires_on <= effective_on:
        raise InvalidInput("It must expire after it takes effect.", field="expires_on")
    if expires_on is not None and expires_on - effective_on > LONGEST_TERM:
        raise InvalidInput(
            "Check the expiration date: it is over ten years out.", field="expires_on"
        )
    if upload is None:
        raise InvalidInput("Choose the file.", field="file")
    place = (
        ComplianceDocument.invoice_id == invoice.id
        if invoice is not None
        else sa.and_(
            ComplianceDocument.commitment_id == commitment.id,
            ComplianceDocument.invoice_id.is_(None),
        )
    )
    if (
        db.session.scalar(sa.select(sa.func.count()).select_from(ComplianceDocument).where(place))
        >= MAX_DOCUMENTS_PER_PLACE
    ):
        raise InvalidInput(f"At most {MAX_DOCUMENTS_PER_PLACE} documents are kept here.")
    stream, filename = upload
    try:
        record = storage.save_file(
            stream,
            original_name=filename,
            kind="compliance_document",
            rules=storage.PDF_ONLY,
            company_id=commitment.company_id,
            uploaded_by_user_id=actor_user_id,
        )
    except InvalidInput as error:
        raise InvalidInput(error.message, field="file") from None
    now = utcnow()
    document = ComplianceDocument(
        company_id=commitment.company_id,
        payee_company_id=commitment.payee_company_id,
        commitment_id=commitment.id,
        invoice_id=invoice.id if invoice is not None else None,
        document_type=document_type,
        effective_on=effective_on,
        expires_on=expires_on,
        status=DocumentStatus.ACCEPTED if payor_side else DocumentStatus.SUBMITTED,
        file=record,
        uploaded_at=now,
        uploaded_by_user_id=actor_user_id,
        reviewed_at=now if payor_side else None,
        reviewed_by_user_id=actor_user_id if payor_side else None,
    )
    db.session.add(document)
    db.session.flush()
    audit.record(
        "compliance:document:added",
        actor_user_id=actor_user_id,
        company_id=commitment.company_id,
        object_type="compliance_document",
        object_id=document.id,
        after={
            **_document_facts(document, commitment, invoice),
            "file": record.original_name,
            "sha256": record.sha256,
            "status": document.status.label,
        },
    )
    return document


def review_document(
    document: ComplianceDocument, *, accept: bool, note: str, actor_user_id: int
) -> None:
    """Accept a document awaiting review, or reject it saying why (once: a document
    reviewed is replaced by a new one, not reviewed again)."""
    note = clean_text(note or "").strip()
    if len(note) > 2000:
        raise InvalidInput("The note is at most 2,000 characters.", field="note")
    if not accept and not note:
        raise InvalidInput("Say why it is rejected: the payee reads it.", field="note")
    if document.status is not DocumentStatus.SUBMITTED:
        raise DomainError(f"This document was already {document.status.label.lower()}.")
    target = DocumentStatus.ACCEPTED if accept else DocumentStatus.REJECTED
    if not update_if(
        document,
        ComplianceDocument.status == DocumentStatus.SUBMITTED,
        status=target,
        reviewed_at=utcnow(),
        reviewed_by_user_id=actor_user_id,
        review_note=note,
    ):
        raise DomainError("Someone reviewed this document just now; see its status below.")
    commitment = db.session.get(Commitment, document.commitment_id)
    invoice = db.session.get(Invoice, document.invoice_id) if document.invoice_id else None
    audit.record(
        f"compliance:document:{'accepted' if accept else 'rejected'}",
        actor_user_id=actor_user_id,
        company_id=document.company_id,
        object_type="compliance_document",
        object_id=document.id,
        before={"status": DocumentStatus.SUBMITTED.label},
        after={
            **_document_facts(document, commitment, invoice),
            "status": target.label,
            "note": note,
        },
    )


def _document_facts(
    document: ComplianceDocument, commitment: Commitment, invoice: Invoice | None
) -> dict[str, object]:
    return {
        "document": document.document_type.label,
        "commitment": commitment.number,
        "invoice": invoice.number if invoice is not None else None,
        "effective_on": document.effective_on.isoformat(),
        "expires_on": document.expires_on.isoformat() if document.expires_on else None,
    }


# --------------------------------------------------------------------------- reminders


def documents_to_remind(today: date) -> list[int]:
    """Accepted documents that expire within the reminder lead and were not reminded of,
    unless a later accepted document of the same type already replaces them."""
    later = aliased(ComplianceDocument)
    replaced = (
        sa.exists()
        .where(
            later.commitment_id == ComplianceDocument.commitment_id,
            sa.or_(
                later.invoice_id == ComplianceDocument.invoice_id,
                sa.and_(later.invoice_id.is_(None), ComplianceDocument.invoice_id.is_(None)),
            ),
            later.document_type == ComplianceDocument.document_type,
            later.id != ComplianceDocument.id,
            valid_on(later, today),
            later.expires_on.is_not(None),
            later.expires_on > ComplianceDocument.expires_on,
        )
        .correlate(ComplianceDocument)
    )
    with tenancy.unscoped():
        return list(
            db.session.scalars(
                sa.select(ComplianceDocument.id)
                .where(
                    ComplianceDocument.status == DocumentStatus.ACCEPTED,
                    ComplianceDocument.reminded_at.is_(None),
                    ComplianceDocument.expires_on >= today,
                    ComplianceDocument.expires_on <= today + REMINDER_LEAD,
                    ~replaced,
                )
                .order_by(ComplianceDocument.id)
            )
        )


def remind_of_expiry(document_id: int, today: date) -> int:
    """Email the payee's invoice contacts of the document's commitment (else its Payments
    Admins) that it expires soon, once: the document is marked reminded in the same
    transaction the emails are queued in. Return how many were written to."""
    with tenancy.unscoped():
        document = db.session.get(ComplianceDocument, document_id)
        if document is None or document.reminded_at is not None:
            return 0
        if not update_if(document, ComplianceDocument.reminded_at.is_(None), reminded_at=utcnow()):
            return 0  # another run of the job reminded of it first
        commitment = db.session.get(Commitment, document.commitment_id)
        payor = db.session.get(Company, document.company_id)
        addresses = _payee_recipients(commitment)
        invoice = db.session.get(Invoice, document.invoice_id) if document.invoice_id else None
        queue_emails(
            addresses,
            "document_expiring",
            company_id=document.payee_company_id,
            payor=payor.name,
            document=document.document_type.label,
            commitment=f"{commitment.number} · {commitment.title}",
            invoice=invoice.number if invoice is not None else None,
            expires_on=f"{document.expires_on:%B %-d, %Y}",
            days=(document.expires_on - today).days,
            url=external_url("invoicing.show_billed_commitment", commitment_id=commitment.id),
        )
        audit.record(
            "compliance:document:reminded",
            actor_user_id=None,
            company_id=document.company_id,
            object_type="compliance_document",
            object_id=document.id,
            after={
                "document": document.document_type.label,
                "commitment": commitment.number,
                "expires_on": document.expires_on.isoformat(),
                "recipients": len(addresses),
            },
        )
        return len(addresses)


def _payee_recipients(commitment: Commitment) -> list[str]:
    if commitment.payee_company_id is None:
        return []
    contacts = invoicing_queries.contact_emails(commitment.id)
    if contacts:
        return contacts
    return companies.role_holder_emails(commitment.payee_company_id, Role.PAYEE_ADMIN)


def remind_all(today: date | None = None) -> int:
    """Send every reminder due today, each document in its own transaction."""
    today = today or billing_date()
    sent = 0
    for document_id in documents_to_remind(today):
        sent += remind_of_expiry(document_id, today)
        db.session.commit()
    return sent
