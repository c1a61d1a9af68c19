"""What a payee company keeps once, for every payor: its profile with its W-9 tax facts, and
its bank accounts with how each was verified."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.banking.models import AccountType, fingerprint_rebuilder
from portal.core import crypto
from portal.core.crypto import encrypted_column
from portal.core.db import db, str_enum, utcnow
from portal.core.models import StoredFile
from portal.core.status import Status, Tone
from portal.core.tenancy import TenantOwned


class EntityType(enum.StrEnum):
    CORPORATION = "corporation"
    LLC = "llc"
    PARTNERSHIP = "partnership"
    SOLE_PROPRIETORSHIP = "sole_proprietorship"
    TRUST_ESTATE = "trust_estate"
    OTHER = "other"


ENTITY_TYPE_LABELS = {
    EntityType.CORPORATION: "Corporation",
    EntityType.LLC: "Limited liability company (LLC)",
    EntityType.PARTNERSHIP: "Partnership",
    EntityType.SOLE_PROPRIETORSHIP: "Sole proprietorship",
    EntityType.TRUST_ESTATE: "Trust or estate",
    EntityType.OTHER: "Other",
}


class TaxClassification(enum.StrEnum):
    """Form W-9, line 3a (Rev. March 2024)."""

    INDIVIDUAL = "individual"
    C_CORPORATION = "c_corporation"
    S_CORPORATION = "s_corporation"
    PARTNERSHIP = "partnership"
    TRUST_ESTATE = "trust_estate"
    LLC_C = "llc_c"
    LLC_S = "llc_s"
    LLC_P = "llc_p"
    OTHER = "other"


TAX_CLASSIFICATION_LABELS = {
    TaxClassification.INDIVIDUAL: "Individual/sole proprietor",
    TaxClassification.C_CORPORATION: "C corporation",
    TaxClassification.S_CORPORATION: "S corporation",
    TaxClassification.PARTNERSHIP: "Partnership",
    TaxClassification.TRUST_ESTATE: "Trust/estate",
    TaxClassification.LLC_C: "LLC taxed as a C corporation",
    TaxClassification.LLC_S: "LLC taxed as an S corporation",
    TaxClassification.LLC_P: "LLC taxed as a partnership",
    TaxClassification.OTHER: "Other",
}


class TinType(enum.StrEnum):
    EIN = "ein"
    SSN = "ssn"
    ITIN = "itin"


TIN_TYPE_LABELS = {
    TinType.EIN: "Employer identification number (EIN)",
    TinType.SSN: "Social Security number (SSN)",
    TinType.ITIN: "Individual taxpayer identification number (ITIN)",
}


# The words pages show for each choice of the profile, by field.
PROFILE_LABELS = {
    "entity_type": ENTITY_TYPE_LABELS,
    "tax_classification": TAX_CLASSIFICATION_LABELS,
    "tin_type": TIN_TYPE_LABELS,
}


class ProfileStatus(Status):
    INCOMPLETE = "incomplete", "Incomplete", Tone.WARNING
    NOT_CERTIFIED = "not_certified", "W-9 not certified", Tone.WARNING
    COMPLETE = "complete", "Complete", Tone.SUCCESS


class PayeeProfile(TenantOwned, db.Model):
    """The payee company's one profile: who it is, where it is, and its W-9 tax facts.

    Every change to the W-9 facts (legal name, tax id, classification, exemptions) voids
    the certification, which the payee signs again. A change of tax id or legal name also
    counts up ``identity_version``: payors that approved the earlier identity review again.
    """

    __tablename__ = "payee_profile"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("company.id"), unique=True)
    legal_name: Mapped[str] = mapped_column(sa.String(200))
    dba: Mapped[str | None] = mapped_column(sa.String(200))
    entity_type: Mapped[EntityType] = mapped_column(str_enum(EntityType, 30))
    address_line1: Mapped[str] = mapped_column(sa.String(200))
    address_line2: Mapped[str | None] = mapped_column(sa.String(200))
    city: Mapped[str] = mapped_column(sa.String(100))
    region: Mapped[str] = mapped_column(sa.String(2))
    postal_code: Mapped[str] = mapped_column(sa.String(10))
    country: Mapped[str] = mapped_column(sa.String(2), default="US")
    remit_to_email: Mapped[str] = mapped_column(sa.String(254))
    tin_type: Mapped[TinType] = mapped_column(str_enum(TinType, 10))
    tin: Mapped[str] = encrypted_column()
    tin_last4: Mapped[str] = mapped_column(sa.String(4))
    tax_classification: Mapped[TaxClassification] = mapped_column(str_enum(TaxClassification, 30))
    exempt_payee_code: Mapped[str | None] = mapped_column(sa.String(2))
    fatca_code: Mapped[str | None] = mapped_column(sa.String(1))
    certified_name: Mapped[str | None] = mapped_column(sa.String(200))
    certified_title: Mapped[str | None] = mapped_column(sa.String(100))
    certified_at: Mapped[datetime | None]
    certified_by_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    w9_file_id: Mapped[int | None] = mapped_column(sa.ForeignKey("stored_file.id"))
    identity_version: Mapped[int] = mapped_column(default=1)
    identity_changed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        sa.CheckConstraint(
            "(certified_at IS NULL) = (certified_name IS NULL)", name="certified_with_name"
        ),
        sa.CheckConstraint("identity_version >= 1", name="identity_version_positive"),
    )

    @property
    def status(self) -> ProfileStatus:
        return ProfileStatus.COMPLETE if self.certified_at else ProfileStatus.NOT_CERTIFIED


class BankAccountStatus(Status):
    """DESIGN §6: pending_verification → verified · verification_failed; deactivated."""

    PENDING_VERIFICATION = "pending_verification", "Pending verification", Tone.PROGRESS
    VERIFIED = "verified", "Verified", Tone.SUCCESS
    VERIFICATION_FAILED = "verification_failed", "Verification failed", Tone.DANGER
    DEACTIVATED = "deactivated", "Deactivated", Tone.NEUTRAL


BANK_ACCOUNT_TRANSITIONS: dict[BankAccountStatus, frozenset[BankAccountStatus]] = {
    BankAccountStatus.PENDING_VERIFICATION: frozenset(
        {
            BankAccountStatus.VERIFIED,
            BankAccountStatus.VERIFICATION_FAILED,
            BankAccountStatus.DEACTIVATED,
        }
    ),
    # A failed verification may still be proven by a document an operator accepts.
    BankAccountStatus.VERIFICATION_FAILED: frozenset(
        {BankAccountStatus.VERIFIED, BankAccountStatus.DEACTIVATED}
    ),
    BankAccountStatus.VERIFIED: frozenset({BankAccountStatus.DEACTIVATED}),
    BankAccountStatus.DEACTIVATED: frozenset(),
}


class OwnershipResult(Status):
    """What the bank's account-validation service says of the holder name."""

    MATCH = "match", "Name matches", Tone.SUCCESS
    CLOSE_MATCH = "close_match", "Close match", Tone.WARNING
    NO_MATCH = "no_match", "No match", Tone.DANGER


class VerificationMethod(enum.StrEnum):
    MICRO_DEPOSITS = "micro_deposits"
    DOCUMENT = "document"


class PayeeBankAccount(TenantOwned, db.Model):
    """A bank account the payee is paid to. Its numbers are never edited: to change where
    money goes, add an account, verify it, make it the receiving account, deactivate the old."""

    __tablename__ = "payee_bank_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("company.id"), index=True)
    holder_name: Mapped[str] = mapped_column(sa.String(200))
    account_type: Mapped[AccountType] = mapped_column(str_enum(AccountType, 20))
    routing_number: Mapped[str] = mapped_column(sa.String(9))
    account_number: Mapped[str] = encrypted_column()
    account_last4: Mapped[str] = mapped_column(sa.String(4))
    # Blind index of routing and account number: the same account on two payees is found
    # without decrypting any.
    account_fingerprint: Mapped[str] = mapped_column(sa.String(64), index=True)
    status: Mapped[BankAccountStatus] = mapped_column(
        str_enum(BankAccountStatus), default=BankAccountStatus.PENDING_VERIFICATION
    )
    receives_payments: Mapped[bool] = mapped_column(default=False)
    ownership_result: Mapped[OwnershipResult | None] = mapped_column(str_enum(OwnershipResult))
    ownership_checked_at: Mapped[datetime | None]
    verification_method: Mapped[VerificationMethod | None] = mapped_column(
        str_enum(VerificationMethod, 20)
    )
    verified_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    deactivated_at: Mapped[datetime | None]
    # Since when payments go here: the payor's cooling-off period counts from this time.
    receiving_since: Mapped[datetime | None]
    # The same routing and account number is live on another payee (blind index match).
    shared_with_other_payee: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # A Trestle operator looked at a no-match or a shared account and cleared it.
    operator_cleared_at: Mapped[datetime | None]
    operator_cleared_by_user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id")
    )
    operator_cleared_note: Mapped[str | None] = mapped_column(sa.Text)
    # "This was not me": a payee admin reported the account from the notice email.
    freeze_token_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    frozen_at: Mapped[datetime | None]

    __table_args__ = (
        # One receiving account per payee, even when two admins choose at the same moment.
        sa.Index(
            "uq_payee_bank_account_receiving",
            "company_id",
            unique=True,
            postgresql_where=sa.text("receives_payments"),
            sqlite_where=sa.text("receives_payments"),
        ),
        # The same account is added to one payee once while it is in use.
        sa.Index(
            "uq_payee_bank_account_live_fingerprint",
            "company_id",
            "account_fingerprint",
            unique=True,
            postgresql_where=sa.text("status <> 'deactivated'"),
            sqlite_where=sa.text("status <> 'deactivated'"),
        ),
        sa.CheckConstraint(
            "NOT receives_payments OR status = 'verified'", name="receiving_is_verified"
        ),
        sa.CheckConstraint(
            "status <> 'verified' OR verified_at IS NOT NULL", name="verified_with_time"
        ),
        sa.CheckConstraint(
            "(status = 'deactivated') = (deactivated_at IS NOT NULL)",
            name="deactivated_with_time",
        ),
    )

    @property
    def needs_operator_review(self) -> bool:
        """A no-match or a shared account blocks approval until an operator clears it."""
        flagged = self.ownership_result is OwnershipResult.NO_MATCH or self.shared_with_other_payee
        return flagged and self.operator_cleared_at is None

    @property
    def review_reason(self) -> str:
        reasons = []
        if self.ownership_result is OwnershipResult.NO_MATCH:
            reasons.append("the bank says the holder name does not match")
        if self.shared_with_other_payee:
            reasons.append("the same account is on another payee")
        return " and ".join(reasons)

    @property
    def bank_reference(self) -> str:
        """Our deterministic reference for this account at the banking partner."""
        return f"payee-account-{self.id}"


class MicroDepositState(Status):
    AWAITING_AMOUNTS = "awaiting_amounts", "Waiting for the amounts", Tone.PROGRESS
    CONFIRMED = "confirmed", "Confirmed", Tone.SUCCESS
    LOCKED = "locked", "Locked after three wrong tries", Tone.DANGER
    EXPIRED = "expired", "Expired", Tone.NEUTRAL  # derived: awaiting past its expiry


class MicroDepositCheck(TenantOwned, db.Model):
    """One micro-deposit verification of a bank account. The two amounts are never stored
    here: only the bank knows them, and it answers whether the payee's guess is right."""

    __tablename__ = "micro_deposit_check"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("company.id"), index=True)
    bank_account_id: Mapped[int] = mapped_column(
        sa.ForeignKey("payee_bank_account.id"), unique=True
    )
    state: Mapped[MicroDepositState] = mapped_column(
        str_enum(MicroDepositState), default=MicroDepositState.AWAITING_AMOUNTS
    )
    attempts: Mapped[int] = mapped_column(default=0)
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    confirmed_at: Mapped[datetime | None]

    __table_args__ = (
        sa.CheckConstraint("attempts >= 0 AND attempts <= 3", name="at_most_three_attempts"),
    )

    @property
    def current_state(self) -> MicroDepositState:
        if self.state is MicroDepositState.AWAITING_AMOUNTS and self.expires_at <= utcnow():
            return MicroDepositState.EXPIRED
        return self.state


class DocumentKind(enum.StrEnum):
    BANK_LETTER = "bank_letter"
    VOIDED_CHECK = "voided_check"


DOCUMENT_KIND_LABELS = {
    DocumentKind.BANK_LETTER: "Bank letter",
    DocumentKind.VOIDED_CHECK: "Voided check",
}


class DocumentState(Status):
    SUBMITTED = "submitted", "Awaiting document review", Tone.PROGRESS
    APPROVED = "approved", "Approved", Tone.SUCCESS
    REJECTED = "rejected", "Rejected", Tone.DANGER
    # Closed unreviewed: the account was verified by its micro-deposits, or deactivated,
    # while the document waited.
    WITHDRAWN = "withdrawn", "Not needed", Tone.NEUTRAL


DOCUMENT_TRANSITIONS: dict[DocumentState, frozenset[DocumentState]] = {
    DocumentState.SUBMITTED: frozenset(
        {DocumentState.APPROVED, DocumentState.REJECTED, DocumentState.WITHDRAWN}
    ),
    DocumentState.APPROVED: frozenset(),
    DocumentState.REJECTED: frozenset(),
    DocumentState.WITHDRAWN: frozenset(),
}


class BankAccountDocument(TenantOwned, db.Model):
    """A bank letter or voided check that proves a bank account instead of micro-deposits.

    A Trestle operator approves it (the account is verified) or rejects it with a reason.
    One document per account is open at a time; earlier ones are kept as its history.
    """

    __tablename__ = "bank_account_document"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("company.id"), index=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("payee_bank_account.id"), index=True)
    kind: Mapped[DocumentKind] = mapped_column(str_enum(DocumentKind, 20))
    file_id: Mapped[int] = mapped_column(sa.ForeignKey("stored_file.id"))
    state: Mapped[DocumentState] = mapped_column(
        str_enum(DocumentState, 20),
        default=DocumentState.SUBMITTED,
        server_default=DocumentState.SUBMITTED.value,
    )
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)
    uploaded_by_user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    reviewed_at: Mapped[datetime | None]
    # None when the document was closed by the system rather than decided by a person.
    reviewed_by_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    rejection_reason: Mapped[str | None] = mapped_column(sa.Text)
    file: Mapped[StoredFile] = relationship(lazy="joined")

    __table_args__ = (
        # One document waits for review per account, even when two admins upload at once.
        sa.Index(
            "uq_bank_account_document_open",
            "account_id",
            unique=True,
            postgresql_where=sa.text("state = 'submitted'"),
            sqlite_where=sa.text("state = 'submitted'"),
        ),
        sa.CheckConstraint(
            "(state = 'submitted') = (reviewed_at IS NULL)", name="reviewed_unless_open"
        ),
        sa.CheckConstraint(
            "(state = 'rejected') = (rejection_reason IS NOT NULL)",
            name="rejected_with_reason",
        ),
    )

    @property
    def kind_label(self) -> str:
        return DOCUMENT_KIND_LABELS[self.kind]


class ReviewReason(Status):
    """Why a bank account is in the operators' review queue (derived, never stored)."""

    FROZEN = "frozen", "Frozen: reported by the payee", Tone.DANGER
    DOCUMENT = "document", "Document to review", Tone.PROGRESS
    NO_MATCH = "no_match", "Name does not match", Tone.WARNING
    SHARED = "shared", "Shared with another payee", Tone.WARNING


crypto.BLIND_INDEX_REBUILDERS.append(
    fingerprint_rebuilder(PayeeBankAccount.__table__)  # type: ignore[arg-type]
)
