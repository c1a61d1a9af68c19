"""A payor's payment requirements (one enforcement mode per kind) and its holds on invoices
and on payees."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.core.db import db, str_enum, utcnow
from portal.core.errors import IllegalTransition
from portal.core.models import StoredFile
from portal.core.status import Status, Tone
from portal.core.tenancy import TenantOwned


class RequirementKind(enum.StrEnum):
    """What must hold before an invoice is paid (DESIGN §10), in the order they are shown."""

    HOLDS_RELEASED = "holds_released"
    INVOICE_APPROVED = "invoice_approved"
    COMMITMENT_EXECUTED = "commitment_executed"
    CHANGE_ORDERS_EXECUTED = "change_orders_executed"
    CONTRACT_COMPLIANT = "contract_compliant"
    INSURANCE_COMPLIANT = "insurance_compliant"
    INVOICE_COMPLIANT = "invoice_compliant"
    LIEN_WAIVER_SIGNED = "lien_waiver_signed"
    PREVIOUS_UNCONDITIONAL_RECEIVED = "previous_unconditional_received"
    SUB_TIER_WAIVERS_RECEIVED = "sub_tier_waivers_received"


class EnforcementMode(Status):
    """How a requirement bites: not at all, a warning, or a stop."""

    NOT_REQUIRED = "not_required", "Not required", Tone.NEUTRAL
    ALLOWS_PAYMENT = "allows_payment", "Required, allows payment", Tone.WARNING
    PREVENTS_PAYMENT = "prevents_payment", "Required, prevents payment", Tone.DANGER


class PaymentRequirement(TenantOwned, db.Model):
    """One payor's mode for one requirement kind (a kind without a row takes its default)."""

    __tablename__ = "payment_requirement"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("company.id"), index=True)
    kind: Mapped[RequirementKind] = mapped_column(str_enum(RequirementKind))
    mode: Mapped[EnforcementMode] = mapped_column(str_enum(EnforcementMode))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))

    __table_args__ = (sa.UniqueConstraint("company_id", "kind"),)


class HoldKind(enum.StrEnum):
    INVOICE = "invoice"  # stops paying one invoice
    VENDOR = "vendor"  # stops paying every invoice of one payee

    @property
    def label(self) -> str:
        return "Invoice hold" if self is HoldKind.INVOICE else "Vendor hold"


class HoldReason(enum.StrEnum):
    MISSING_DOCUMENTS = "missing_documents"
    WORK_DISPUTED = "work_disputed"
    BACKCHARGE = "backcharge"
    LEGAL = "legal"
    OTHER = "other"

    @property
    def label(self) -> str:
        return {
            HoldReason.MISSING_DOCUMENTS: "Missing documents",
            HoldReason.WORK_DISPUTED: "Work disputed",
            HoldReason.BACKCHARGE: "Backcharge pending",
            HoldReason.LEGAL: "Legal or lien matter",
            HoldReason.OTHER: "Other",
        }[self]


class HoldStatus(Status):
    APPLIED = "applied", "On hold", Tone.DANGER
    RELEASED = "released", "Released", Tone.NEUTRAL


HOLD_TRANSITIONS: dict[HoldStatus, frozenset[HoldStatus]] = {
    HoldStatus.APPLIED: frozenset({HoldStatus.RELEASED}),
    HoldStatus.RELEASED: frozenset({HoldStatus.APPLIED}),
}


class Hold(TenantOwned, db.Model):
    """A manual stop on paying one invoice, or every invoice of one payee. The payee sees a
    hold only when the payor marks it visible."""

    __tablename__ = "hold"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("company.id"), index=True)
    payee_company_id: Mapped[int] = mapped_column(sa.ForeignKey("company.id"), index=True)
    kind: Mapped[HoldKind] = mapped_column(str_enum(HoldKind))
    # An invoice hold's invoice (a vendor hold has none).
    invoice_id: Mapped[int | None] = mapped_column(sa.ForeignKey("invoice.id"), index=True)
    reason: Mapped[HoldReason] = mapped_column(str_enum(HoldReason))
    description: Mapped[str] = mapped_column(sa.Text)
    visible_to_payee: Mapped[bool] = mapped_column(default=False)
    status: Mapped[HoldStatus] = mapped_column(str_enum(HoldStatus), default=HoldStatus.APPLIED)
    applied_at: Mapped[datetime] = mapped_column(default=utcnow)
    applied_by_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    released_at: Mapped[datetime | None]
    released_by_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    release_note: Mapped[str | None] = mapped_column(sa.Text)

    attachments: Mapped[list[HoldAttachment]] = relationship(
        order_by="HoldAttachment.id", cascade="all, delete-orphan"
    )

    __table_args__ = (
        sa.CheckConstraint(
            "(kind = 'invoice') = (invoice_id IS NOT NULL)", name="invoice_hold_has_invoice"
        ),
        sa.CheckConstraint(
            "(status = 'released') = (released_at IS NOT NULL)", name="released_with_time"
        ),
        sa.Index("ix_hold_payee_status", "payee_company_id", "status"),
    )

    @classmethod
    def tenant_criteria(cls, company_id: int) -> sa.ColumnElement[bool]:
        """The payor's holds; a payee sees only those marked visible to it."""
        return sa.or_(
            cls.company_id == company_id,
            sa.and_(cls.payee_company_id == company_id, cls.visible_to_payee.is_(True)),
        )

    def check_move(self, status: HoldStatus) -> None:
        if status not in HOLD_TRANSITIONS[self.status]:
            raise IllegalTransition(
                f"A hold that is {self.status.label.lower()} cannot become {status.label.lower()}."
            )


class HoldAttachment(db.Model):
    """A file kept with a hold (the backcharge, the letter). Reached through its hold."""

    __tablename__ = "hold_attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    hold_id: Mapped[int] = mapped_column(sa.ForeignKey("hold.id"), index=True)
    file_id: Mapped[int] = mapped_column(sa.ForeignKey("stored_file.id"))

    file: Mapped[StoredFile] = relationship(lazy="joined", innerjoin=True)


class ReadinessStatus(Status):
    """An invoice's payment readiness as its badge reads."""

    READY = "ready", "Ready to pay", Tone.SUCCESS
    READY_WITH_WARNINGS = "ready_with_warnings", "Ready, with warnings", Tone.WARNING
    NOT_READY = "not_ready", "Not ready to pay", Tone.DANGER

    @classmethod
    def of(cls, *, ready: bool, all_met: bool) -> ReadinessStatus:
        if not ready:
            return cls.NOT_READY
        return cls.READY if all_met else cls.READY_WITH_WARNINGS
