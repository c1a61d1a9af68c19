"""Lien waivers: one per invoice and kind at a time, generated from a form, signed once."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.core.db import db, str_enum, utcnow
from portal.core.models import StoredFile
from portal.core.status import Status, Tone
from portal.core.tenancy import TenantOwned
from portal.waivers.forms import WaiverKind

# What the signer agrees to before signing electronically (ESIGN § 101(c)): versioned, and
# the version each signature agreed to is kept with it.
CONSENT_VERSION = "2026-12-07"
CONSENT_TEXT = (
    "I agree to sign this lien waiver electronically. My typed name and signature below are "
    "my signature, with the same effect as signing on paper. I may ask the general contractor "
    "for a paper copy to sign instead, and I may withdraw this consent for later documents by "
    "telling them. I can open, save and print PDF files on this device."
)


class WaiverStatus(Status):
    AWAITING_SIGNATURE = "awaiting_signature", "Awaiting signature", Tone.WARNING
    SIGNED = "signed", "Signed", Tone.SUCCESS
    SUPERSEDED = "superseded", "Superseded", Tone.NEUTRAL


class LienWaiver(TenantOwned, db.Model):
    """A waiver of one invoice: its form (by the project's state), the facts filled in, the
    PDF to sign, and once signed the signed PDF with its SHA-256 and the signature's record.
    A new amount supersedes it (a new waiver, a new signature)."""

    __tablename__ = "lien_waiver"
    tenant_columns = ("company_id", "payee_company_id")

    id: Mapped[int] = mapped_column(primary_key=True)
    # Names the document on its verification page, which anyone holding it may open.
    public_id: Mapped[str] = mapped_column(sa.String(32), unique=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("company.id"), index=True)
    payee_company_id: Mapped[int] = mapped_column(sa.ForeignKey("company.id"), index=True)
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("project.id"))
    commitment_id: Mapped[int] = mapped_column(sa.ForeignKey("commitment.id"))
    invoice_id: Mapped[int] = mapped_column(sa.ForeignKey("invoice.id"), index=True)
    kind: Mapped[WaiverKind] = mapped_column(str_enum(WaiverKind))
    form_key: Mapped[str] = mapped_column(sa.String(40))
    state: Mapped[str] = mapped_column(sa.String(2))
    amount_cents: Mapped[int] = mapped_column(sa.BigInteger)
    through_date: Mapped[date | None]
    # An unconditional waiver's evidence of payment: the bank's reference (a trace number)
    # and the day the payment settled ("" and None on a conditional one).
    payment_reference: Mapped[str] = mapped_column(sa.String(100), default="")
    paid_on: Mapped[date | None]
    # The last reminder to sign (an unconditional waiver waits on the payee after payment).
    reminded_at: Mapped[datetime | None]
    # The escrow flow: an unconditional waiver signed before payment stays locked (its PDF
    # kept from the payor) until the invoice is paid in full or the payee unlocks it.
    escrowed: Mapped[bool] = mapped_column(default=False)
    released_at: Mapped[datetime | None]
    unlock_requested_at: Mapped[datetime | None]
    facts: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    status: Mapped[WaiverStatus] = mapped_column(
        str_enum(WaiverStatus), default=WaiverStatus.AWAITING_SIGNATURE
    )
    file_id: Mapped[int] = mapped_column(sa.ForeignKey("stored_file.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The signature.
    signed_file_id: Mapped[int | None] = mapped_column(sa.ForeignKey("stored_file.id"))
    signed_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    signed_at: Mapped[datetime | None]
    signer_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    signer_name: Mapped[str] = mapped_column(sa.String(200), default="")
    signer_title: Mapped[str] = mapped_column(sa.String(200), default="")
    signature: Mapped[str] = mapped_column(sa.String(200), default="")
    signer_ip: Mapped[str] = mapped_column(sa.String(64), default="")
    signer_user_agent: Mapped[str] = mapped_column(sa.String(400), default="")
    consent_version: Mapped[str] = mapped_column(sa.String(20), default="")
    signer_email: Mapped[str] = mapped_column(sa.String(320), default="")
    # Signed through a delegation: who gave the authority.
    delegated_by_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    superseded_at: Mapped[datetime | None]

    file: Mapped[StoredFile] = relationship(foreign_keys=[file_id], lazy="joined", innerjoin=True)
    signed_file: Mapped[StoredFile | None] = relationship(
        foreign_keys=[signed_file_id], lazy="joined"
    )

    __table_args__ = (
        # One waiver of each kind per invoice and payment is current; the others are
        # superseded.
        sa.Index(
            "uq_lien_waiver_current",
            "invoice_id",
            "kind",
            "payment_reference",
            unique=True,
            postgresql_where=sa.text("status <> 'superseded'"),
            sqlite_where=sa.text("status <> 'superseded'"),
        ),
        sa.CheckConstraint("amount_cents >= 0", name="amount_not_negative"),
        sa.CheckConstraint(
            "status <> 'signed' OR (signed_sha256 IS NOT NULL AND signed_at IS NOT NULL)",
            name="signed_has_its_record",
        ),
    )


DELEGATION_LIFETIME_DAYS = 7


class WaiverDelegation(TenantOwned, db.Model):
    """Authority to sign one waiver, given by its invoice contact to an email address: a
    single-use link (only its hash kept) that expires. A new one replaces the one before."""

    __tablename__ = "waiver_delegation"
    tenant_columns = ("company_id", "payee_company_id")

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("company.id"), index=True)
    payee_company_id: Mapped[int] = mapped_column(sa.ForeignKey("company.id"), index=True)
    waiver_id: Mapped[int] = mapped_column(sa.ForeignKey("lien_waiver.id"), index=True)
    email: Mapped[str] = mapped_column(sa.String(320))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class WaiverFlow(enum.StrEnum):
    """How a payor collects waivers. Settlement (the default, as the statutes intend): the
    payee signs a conditional waiver, and the unconditional one is made once the money has
    arrived. Escrow (as other products do it): the payee signs the unconditional waiver up
    front, and it stays locked until the invoice is paid in full."""

    SETTLEMENT = "settlement"
    ESCROW = "escrow"

    @property
    def label(self) -> str:
        return {
            WaiverFlow.SETTLEMENT: "Conditional first, unconditional once paid (recommended)",
            WaiverFlow.ESCROW: "Unconditional signed up front, locked until paid in full",
        }[self]


# Texas forbids requiring an unconditional waiver before payment (Prop. Code § 53.283).
ESCROW_REFUSED_STATES = frozenset({"TX"})


class WaiverSettings(TenantOwned, db.Model):
    """A payor's lien waiver flow (a payor without a row uses the settlement flow)."""

    __tablename__ = "waiver_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("company.id"), unique=True)
    flow: Mapped[WaiverFlow] = mapped_column(str_enum(WaiverFlow), default=WaiverFlow.SETTLEMENT)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))


AUTHORIZATION_TEXT = (
    "We authorize Trestle to sign, on our behalf, the unconditional lien waiver for each "
    "payment a general contractor makes us through Trestle, once our bank confirms the "
    "payment settled, for the amount received. We may revoke this at any time; it is never "
    "a condition of payment."
)


class WaiverAuthorization(TenantOwned, db.Model):
    """A payee's standing authorization for Trestle to sign its unconditional waivers once
    the bank confirms a payment (revocable; the latest unrevoked one is in force)."""

    __tablename__ = "waiver_authorization"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("company.id"), index=True)  # payee
    authorized_at: Mapped[datetime] = mapped_column(default=utcnow)
    authorized_by_user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    signer_name: Mapped[str] = mapped_column(sa.String(200))
    signer_title: Mapped[str] = mapped_column(sa.String(200))
    text_version: Mapped[str] = mapped_column(sa.String(20))
    revoked_at: Mapped[datetime | None]
    revoked_by_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
