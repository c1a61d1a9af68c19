"""Compliance documents: the payor's templates of which documents it requires and when, and
the documents kept per commitment and per invoice."""

from __future__ import annotations

import enum
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.core.db import db, str_enum, utcnow
from portal.core.models import StoredFile
from portal.core.status import Status, Tone
from portal.core.tenancy import TenantOwned
from portal.invoicing.models import CommitmentKind

# The reminder goes out this long before a document expires.
REMINDER_LEAD = timedelta(days=14)


class DocumentType(enum.StrEnum):
    INSURANCE_CERTIFICATE = "insurance_certificate"
    W9 = "w9"
    BOND = "bond"
    LICENSE = "license"

    @property
    def label(self) -> str:
        return {
            DocumentType.INSURANCE_CERTIFICATE: "Certificate of insurance",
            DocumentType.W9: "Form W-9",
            DocumentType.BOND: "Payment and performance bond",
            DocumentType.LICENSE: "Contractor's license",
        }[self]

    @property
    def expires(self) -> bool:
        """Whether a document of this type must carry an expiration date."""
        return self is not DocumentType.W9


class RequiredAt(enum.StrEnum):
    """When a template's document is required: on file for the commitment from its first
    invoice on (and kept current), with every invoice, or with the final invoice."""

    FIRST_INVOICE = "first_invoice"
    EVERY_INVOICE = "every_invoice"
    FINAL_INVOICE = "final_invoice"

    @property
    def label(self) -> str:
        return {
            RequiredAt.FIRST_INVOICE: "From the first invoice (kept on file)",
            RequiredAt.EVERY_INVOICE: "With every invoice",
            RequiredAt.FINAL_INVOICE: "With the final invoice",
        }[self]

    @property
    def per_invoice(self) -> bool:
        """Whether the document is attached to an invoice rather than kept for the commitment."""
        return self is not RequiredAt.FIRST_INVOICE


class ComplianceTemplate(TenantOwned, db.Model):
    """One document a payor requires: its type, for which commitments, and when."""

    __tablename__ = "compliance_template"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("company.id"), index=True)
    document_type: Mapped[DocumentType] = mapped_column(str_enum(DocumentType))
    # None: subcontracts and purchase orders alike.
    applies_to: Mapped[CommitmentKind | None] = mapped_column(str_enum(CommitmentKind))
    required_at: Mapped[RequiredAt] = mapped_column(str_enum(RequiredAt))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))

    __table_args__ = (
        # One row per rule; NULL applies_to is compared as "both" by the service.
        sa.UniqueConstraint(
            "company_id",
            "document_type",
            "applies_to",
            "required_at",
            name="uq_compliance_template_rule",
        ),
    )

    @property
    def applies_to_label(self) -> str:
        return (
            "Subcontracts and purchase orders"
            if self.applies_to is None
            else (f"{self.applies_to.label}s only")
        )


class DocumentStatus(Status):
    """A document's review, as stored."""

    SUBMITTED = "submitted", "Awaiting review", Tone.PROGRESS
    ACCEPTED = "accepted", "Accepted", Tone.SUCCESS
    REJECTED = "rejected", "Rejected", Tone.DANGER


class DocumentStanding(Status):
    """What a document counts for today: its review, and whether its dates cover today."""

    AWAITING_REVIEW = "awaiting_review", "Awaiting review", Tone.PROGRESS
    CURRENT = "current", "Current", Tone.SUCCESS
    EXPIRING = "expiring", "Expires soon", Tone.WARNING
    NOT_YET_EFFECTIVE = "not_yet_effective", "Not yet in effect", Tone.WARNING
    EXPIRED = "expired", "Expired", Tone.DANGER
    REJECTED = "rejected", "Rejected", Tone.DANGER
    MISSING = "missing", "Missing", Tone.DANGER


class ComplianceDocument(TenantOwned, db.Model):
    """A document on file for a commitment (``invoice_id`` None) or with one of its invoices.
    Owned by the payor; its payee sees and adds its own."""

    __tablename__ = "compliance_document"
    tenant_columns = ("company_id", "payee_company_id")

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("company.id"), index=True)
    payee_company_id: Mapped[int | None] = mapped_column(sa.ForeignKey("company.id"), index=True)
    commitment_id: Mapped[int] = mapped_column(sa.ForeignKey("commitment.id"), index=True)
    invoice_id: Mapped[int | None] = mapped_column(sa.ForeignKey("invoice.id"), index=True)
    document_type: Mapped[DocumentType] = mapped_column(str_enum(DocumentType))
    effective_on: Mapped[date]
    expires_on: Mapped[date | None] = mapped_column(index=True)
    status: Mapped[DocumentStatus] = mapped_column(
        str_enum(DocumentStatus), default=DocumentStatus.SUBMITTED
    )
    file_id: Mapped[int] = mapped_column(sa.ForeignKey("stored_file.id"))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)
    uploaded_by_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    reviewed_at: Mapped[datetime | None]
    reviewed_by_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    review_note: Mapped[str] = mapped_column(sa.String(2000), default="")
    # When the expiry reminder went out (once per document).
    reminded_at: Mapped[datetime | None]

    file: Mapped[StoredFile] = relationship(lazy="joined", innerjoin=True)

    __table_args__ = (
        sa.CheckConstraint(
            "expires_on IS NULL OR expires_on > effective_on", name="expires_after_effective"
        ),
    )

    def standing(self, today: date) -> DocumentStanding:
        if self.status is DocumentStatus.REJECTED:
            return DocumentStanding.REJECTED
        if self.status is DocumentStatus.SUBMITTED:
            return DocumentStanding.AWAITING_REVIEW
        if self.expires_on is not None and self.expires_on < today:
            return DocumentStanding.EXPIRED
        if self.effective_on > today:
            return DocumentStanding.NOT_YET_EFFECTIVE
        if self.expires_on is not None and self.expires_on - today <= REMINDER_LEAD:
            return DocumentStanding.EXPIRING
        return DocumentStanding.CURRENT

    @property
    def counts(self) -> bool:
        """Whether it can satisfy a requirement at all (the dates are checked separately)."""
        return self.status is DocumentStatus.ACCEPTED
