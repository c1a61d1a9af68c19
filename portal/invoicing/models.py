"""Construction projects of a payor, and the commitments (subcontracts and purchase orders)
its payees bill against: each with its schedule of values and its change orders."""

from __future__ import annotations

import enum
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.core.db import db, str_enum, utcnow
from portal.core.errors import IllegalTransition
from portal.core.models import StoredFile
from portal.core.status import Status, Tone
from portal.core.tenancy import TenantOwned
from portal.payment_settings.models import FundingAccount


class Project(TenantOwned, db.Model):
    """A construction job. Its state picks the lien waiver forms; Pay is on or off per project."""

    __tablename__ = "project"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("company.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    number: Mapped[str] = mapped_column(sa.String(40))
    address_line1: Mapped[str] = mapped_column(sa.String(200))
    city: Mapped[str] = mapped_column(sa.String(100))
    region: Mapped[str] = mapped_column(sa.String(2))
    postal_code: Mapped[str] = mapped_column(sa.String(10))
    # The property's owner, named on its lien waivers.
    owner_name: Mapped[str] = mapped_column(sa.String(200), default="")
    pay_enabled: Mapped[bool] = mapped_column(default=True)
    funding_account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("funding_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # An archived project is finished: it leaves the lists and takes no new work.
    archived_at: Mapped[datetime | None]
    archived_by_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))

    funding_account: Mapped[FundingAccount | None] = relationship(lazy="joined")

    __table_args__ = (sa.UniqueConstraint("company_id", "number"),)

    @classmethod
    def tenant_criteria(cls, company_id: int) -> sa.ColumnElement[bool]:
        """The payor's own; and, for a payee, the projects it holds a commitment on."""
        return sa.or_(cls.company_id == company_id, cls.id.in_(_projects_of_payee(company_id)))


def _projects_of_payee(company_id: int) -> sa.Select:
    return sa.select(Commitment.project_id).where(Commitment.payee_company_id == company_id)


class CommitmentKind(enum.StrEnum):
    SUBCONTRACT = "subcontract"
    PURCHASE_ORDER = "purchase_order"

    @property
    def label(self) -> str:
        return "Subcontract" if self is CommitmentKind.SUBCONTRACT else "Purchase order"


class CommitmentStatus(Status):
    """A commitment is drafted, then approved; its schedule of values is fixed from then on
    and changes only by approved change orders."""

    DRAFT = "draft", "Draft", Tone.NEUTRAL
    APPROVED = "approved", "Approved", Tone.SUCCESS


class ChangeOrderStatus(Status):
    DRAFT = "draft", "Draft", Tone.NEUTRAL
    APPROVED = "approved", "Approved", Tone.SUCCESS


# The one table of moves a commitment or change order may make; anything else is refused.
COMMITMENT_TRANSITIONS: dict[CommitmentStatus, frozenset[CommitmentStatus]] = {
    CommitmentStatus.DRAFT: frozenset({CommitmentStatus.APPROVED}),
    CommitmentStatus.APPROVED: frozenset(),
}
CHANGE_ORDER_TRANSITIONS: dict[ChangeOrderStatus, frozenset[ChangeOrderStatus]] = {
    ChangeOrderStatus.DRAFT: frozenset({ChangeOrderStatus.APPROVED}),
    ChangeOrderStatus.APPROVED: frozenset(),
}


class Commitment(TenantOwned, db.Model):
    """A subcontract or purchase order between the payor and a payee on one project.

    The payee is the payor's directory record of it (``relationship_id``), so a commitment
    can be written before the payee is on Trestle; ``payee_company_id`` is filled in when the
    payee company accepts its invitation, and from then on the payee sees the commitment."""

    __tablename__ = "commitment"
    tenant_columns = ("company_id", "payee_company_id")

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("company.id"), index=True)
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("project.id"), index=True)
    relationship_id: Mapped[int] = mapped_column(sa.ForeignKey("payee_relationship.id"), index=True)
    payee_company_id: Mapped[int | None] = mapped_column(sa.ForeignKey("company.id"), index=True)
    kind: Mapped[CommitmentKind] = mapped_column(str_enum(CommitmentKind))
    number: Mapped[str] = mapped_column(sa.String(40))
    title: Mapped[str] = mapped_column(sa.String(200))
    # The contract sum as signed; change orders add to it (``approved_changes_cents``).
    original_sum_cents: Mapped[int] = mapped_column(sa.BigInteger)
    approved_changes_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    # New lines start with this retainage; each line may then have its own.
    default_retainage_bps: Mapped[int] = mapped_column(default=1000)
    status: Mapped[CommitmentStatus] = mapped_column(
        str_enum(CommitmentStatus), default=CommitmentStatus.DRAFT
    )
    approved_at: Mapped[datetime | None]
    approved_by_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    # Executed: both parties signed the contract (a payment requirement may ask for it).
    executed_on: Mapped[date | None]
    executed_by_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))

    project: Mapped[Project] = relationship(lazy="joined", innerjoin=True)
    lines: Mapped[list[SovLine]] = relationship(
        back_populates="commitment", order_by="SovLine.position", cascade="all, delete-orphan"
    )
    change_orders: Mapped[list[ChangeOrder]] = relationship(
        back_populates="commitment", order_by="ChangeOrder.id"
    )
    contacts: Mapped[list[CommitmentContact]] = relationship(
        cascade="all, delete-orphan", order_by="CommitmentContact.added_at"
    )

    __table_args__ = (
        sa.UniqueConstraint("project_id", "number"),
        sa.CheckConstraint("original_sum_cents > 0", name="original_sum_positive"),
        sa.CheckConstraint(
            "original_sum_cents + approved_changes_cents >= 0", name="contract_sum_not_negative"
        ),
        sa.CheckConstraint(
            "default_retainage_bps BETWEEN 0 AND 10000", name="default_retainage_in_range"
        ),
        sa.CheckConstraint(
            "(status = 'approved') = (approved_at IS NOT NULL)", name="approved_with_time"
        ),
        sa.CheckConstraint(
            "(executed_on IS NULL) = (executed_by_user_id IS NULL)", name="executed_with_whom"
        ),
        sa.Index("ix_commitment_company_status", "company_id", "status"),
    )

    @property
    def contract_sum_cents(self) -> int:
        """The contract sum to date: as signed, plus approved change orders."""
        return self.original_sum_cents + self.approved_changes_cents

    @property
    def scheduled_total_cents(self) -> int:
        return sum(line.scheduled_value_cents for line in self.lines)

    def check_move(self, status: CommitmentStatus) -> None:
        if status not in COMMITMENT_TRANSITIONS[self.status]:
            raise IllegalTransition(
                f"A commitment that is {self.status.label.lower()} cannot become "
                f"{status.label.lower()}."
            )


class SovLine(db.Model):
    """One line of a commitment's schedule of values. Reached only through its commitment
    (which carries the tenant scope). A line added by a change order starts at zero and
    carries that change order's amount."""

    __tablename__ = "sov_line"

    id: Mapped[int] = mapped_column(primary_key=True)
    commitment_id: Mapped[int] = mapped_column(sa.ForeignKey("commitment.id"), index=True)
    position: Mapped[int]
    code: Mapped[str] = mapped_column(sa.String(40), default="")
    description: Mapped[str] = mapped_column(sa.String(200))
    original_value_cents: Mapped[int] = mapped_column(sa.BigInteger)
    # As signed plus approved change orders: the scheduled value an invoice bills against.
    scheduled_value_cents: Mapped[int] = mapped_column(sa.BigInteger)
    retainage_bps: Mapped[int]
    added_by_change_order_id: Mapped[int | None] = mapped_column(sa.ForeignKey("change_order.id"))

    commitment: Mapped[Commitment] = relationship(back_populates="lines")
    retainage_changes: Mapped[list[RetainageChange]] = relationship(
        order_by="RetainageChange.id", cascade="all, delete-orphan"
    )

    __table_args__ = (
        sa.UniqueConstraint("commitment_id", "position"),
        sa.CheckConstraint("original_value_cents >= 0", name="original_value_not_negative"),
        sa.CheckConstraint("scheduled_value_cents >= 0", name="scheduled_value_not_negative"),
        sa.CheckConstraint("retainage_bps BETWEEN 0 AND 10000", name="retainage_in_range"),
    )


class RetainageChange(db.Model):
    """The history of one line's retainage: each change, by whom and when (append-only)."""

    __tablename__ = "retainage_change"

    id: Mapped[int] = mapped_column(primary_key=True)
    line_id: Mapped[int] = mapped_column(sa.ForeignKey("sov_line.id"), index=True)
    from_bps: Mapped[int]
    to_bps: Mapped[int]
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    changed_by_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))

    __table_args__ = (
        sa.CheckConstraint("from_bps <> to_bps", name="retainage_changed"),
        sa.CheckConstraint("to_bps BETWEEN 0 AND 10000", name="retainage_change_in_range"),
    )


class ChangeOrder(db.Model):
    """A change to a commitment: drafted, then approved. Approving applies its lines: each
    either changes an existing line's scheduled value or adds a new line."""

    __tablename__ = "change_order"

    id: Mapped[int] = mapped_column(primary_key=True)
    commitment_id: Mapped[int] = mapped_column(sa.ForeignKey("commitment.id"), index=True)
    number: Mapped[str] = mapped_column(sa.String(40))
    title: Mapped[str] = mapped_column(sa.String(200))
    status: Mapped[ChangeOrderStatus] = mapped_column(
        str_enum(ChangeOrderStatus), default=ChangeOrderStatus.DRAFT
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    approved_at: Mapped[datetime | None]
    approved_by_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))

    commitment: Mapped[Commitment] = relationship(back_populates="change_orders")
    lines: Mapped[list[ChangeOrderLine]] = relationship(
        order_by="ChangeOrderLine.id", cascade="all, delete-orphan"
    )

    __table_args__ = (
        sa.UniqueConstraint("commitment_id", "number"),
        sa.CheckConstraint(
            "(status = 'approved') = (approved_at IS NOT NULL)", name="co_approved_with_time"
        ),
    )

    @property
    def amount_cents(self) -> int:
        return sum(line.amount_cents for line in self.lines)

    def check_move(self, status: ChangeOrderStatus) -> None:
        if status not in CHANGE_ORDER_TRANSITIONS[self.status]:
            raise IllegalTransition(
                f"A change order that is {self.status.label.lower()} cannot become "
                f"{status.label.lower()}."
            )


class ChangeOrderLine(db.Model):
    """One change: an amount added to (or, negative, taken from) an existing line, or a new
    line with its description and retainage."""

    __tablename__ = "change_order_line"

    id: Mapped[int] = mapped_column(primary_key=True)
    change_order_id: Mapped[int] = mapped_column(sa.ForeignKey("change_order.id"), index=True)
    sov_line_id: Mapped[int | None] = mapped_column(sa.ForeignKey("sov_line.id"))
    code: Mapped[str] = mapped_column(sa.String(40), default="")
    description: Mapped[str | None] = mapped_column(sa.String(200))
    amount_cents: Mapped[int] = mapped_column(sa.BigInteger)
    retainage_bps: Mapped[int | None]

    sov_line: Mapped[SovLine | None] = relationship(foreign_keys=[sov_line_id])

    __table_args__ = (
        sa.CheckConstraint("amount_cents <> 0", name="co_line_changes_something"),
        # A change to an existing line, or a new line with its description and retainage.
        sa.CheckConstraint(
            "(sov_line_id IS NULL) = (description IS NOT NULL)"
            " AND (sov_line_id IS NULL) = (retainage_bps IS NOT NULL)",
            name="co_line_existing_or_new",
        ),
    )


class CommitmentContact(db.Model):
    """A payee user who bills this commitment: submits its invoices and signs its waivers."""

    __tablename__ = "commitment_contact"

    commitment_id: Mapped[int] = mapped_column(sa.ForeignKey("commitment.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"), primary_key=True)
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
    added_by_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))

    user = relationship("User", foreign_keys=[user_id], lazy="joined", innerjoin=True)


class BillingPeriodStatus(Status):
    """Where a billing period stands today: invoices are submitted while it is open."""

    UPCOMING = "upcoming", "Upcoming", Tone.NEUTRAL
    OPEN = "open", "Open for billing", Tone.PROGRESS
    CLOSED = "closed", "Closed", Tone.NEUTRAL


class BillingPeriod(TenantOwned, db.Model):
    """A window in which payees bill a project: work through ``ends_on``, invoices in by
    ``due_on``. A project's periods never overlap."""

    __tablename__ = "billing_period"

    @classmethod
    def tenant_criteria(cls, company_id: int) -> sa.ColumnElement[bool]:
        """The payor's own; and, for a payee, those of the projects it has commitments on."""
        return sa.or_(
            cls.company_id == company_id, cls.project_id.in_(_projects_of_payee(company_id))
        )

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("company.id"), index=True)
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("project.id"), index=True)
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    due_on: Mapped[date]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    # The last invite-to-bill email to the project's invoice contacts.
    invited_at: Mapped[datetime | None]
    invited_by_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))

    __table_args__ = (
        sa.UniqueConstraint("project_id", "starts_on"),
        sa.CheckConstraint("starts_on <= ends_on", name="period_in_order"),
        sa.CheckConstraint("due_on >= starts_on", name="due_within_or_after"),
    )

    @property
    def name(self) -> str:
        """``November 2026`` for a calendar month, else ``Nov 3 to Nov 16, 2026``."""
        start, end = self.starts_on, self.ends_on
        next_day = end + timedelta(days=1)
        if (
            start.day == 1
            and next_day.day == 1
            and (start.year, start.month)
            == (
                end.year,
                end.month,
            )
        ):
            return f"{start:%B %Y}"
        if start.year == end.year:
            return f"{start:%b} {start.day} to {end:%b} {end.day}, {end.year}"
        return f"{start:%b} {start.day}, {start.year} to {end:%b} {end.day}, {end.year}"

    def status_on(self, today: date) -> BillingPeriodStatus:
        if today < self.starts_on:
            return BillingPeriodStatus.UPCOMING
        if today <= self.due_on:
            return BillingPeriodStatus.OPEN
        return BillingPeriodStatus.CLOSED


class BillingType(enum.StrEnum):
    PROGRESS = "progress"
    FINAL = "final"
    RETAINAGE_RELEASE = "retainage_release"

    @property
    def label(self) -> str:
        return {
            BillingType.PROGRESS: "Progress",
            BillingType.FINAL: "Final",
            BillingType.RETAINAGE_RELEASE: "Retainage release",
        }[self]


class InvoiceStatus(Status):
    """A pay application's review (DESIGN §6): the payee drafts and submits it; the payor
    approves it, approves it as noted, or sends it back to revise and resubmit."""

    DRAFT = "draft", "Draft", Tone.NEUTRAL
    UNDER_REVIEW = "under_review", "Under review", Tone.PROGRESS
    APPROVED = "approved", "Approved", Tone.SUCCESS
    APPROVED_AS_NOTED = "approved_as_noted", "Approved as noted", Tone.SUCCESS
    REVISE_AND_RESUBMIT = "revise_and_resubmit", "Revise and resubmit", Tone.WARNING


class PaymentStatus(Status):
    UNPAID = "unpaid", "Unpaid", Tone.NEUTRAL
    PARTIALLY_PAID = "partially_paid", "Partially paid", Tone.PROGRESS
    PAID = "paid", "Paid", Tone.SUCCESS


# The one table of moves an invoice may make; anything else is refused.
INVOICE_TRANSITIONS: dict[InvoiceStatus, frozenset[InvoiceStatus]] = {
    InvoiceStatus.DRAFT: frozenset({InvoiceStatus.UNDER_REVIEW}),
    InvoiceStatus.UNDER_REVIEW: frozenset(
        {
            InvoiceStatus.APPROVED,
            InvoiceStatus.APPROVED_AS_NOTED,
            InvoiceStatus.REVISE_AND_RESUBMIT,
        }
    ),
    InvoiceStatus.REVISE_AND_RESUBMIT: frozenset({InvoiceStatus.UNDER_REVIEW}),
    InvoiceStatus.APPROVED: frozenset(),
    InvoiceStatus.APPROVED_AS_NOTED: frozenset(),
}
# The payee may change an invoice in these states (and only the commitment's latest).
EDITABLE = frozenset({InvoiceStatus.DRAFT, InvoiceStatus.REVISE_AND_RESUBMIT})
APPROVED_STATES = frozenset({InvoiceStatus.APPROVED, InvoiceStatus.APPROVED_AS_NOTED})


class Invoice(TenantOwned, db.Model):
    """A payee's pay application on one commitment for one billing period. Its G702 figures
    are kept with it (computed from its lines at every save, never typed), so lists of many
    invoices read them without recomputing."""

    __tablename__ = "invoice"
    tenant_columns = ("company_id", "payee_company_id")

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("company.id"), index=True)
    payee_company_id: Mapped[int] = mapped_column(sa.ForeignKey("company.id"), index=True)
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("project.id"), index=True)
    commitment_id: Mapped[int] = mapped_column(sa.ForeignKey("commitment.id"), index=True)
    billing_period_id: Mapped[int] = mapped_column(sa.ForeignKey("billing_period.id"))
    # The application number: 1, 2, 3… on its commitment.
    number: Mapped[int]
    billing_type: Mapped[BillingType] = mapped_column(str_enum(BillingType))
    status: Mapped[InvoiceStatus] = mapped_column(
        str_enum(InvoiceStatus), default=InvoiceStatus.DRAFT
    )
    payment_status: Mapped[PaymentStatus] = mapped_column(
        str_enum(PaymentStatus), default=PaymentStatus.UNPAID
    )
    # How many times it was submitted (a resubmission after revise and resubmit is round 2).
    round: Mapped[int] = mapped_column(default=0)
    payee_note: Mapped[str] = mapped_column(sa.Text, default="")
    # The G702 figures, as of its last save.
    original_contract_sum_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    net_change_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    completed_stored_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    retainage_completed_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    retainage_stored_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    previous_certificates_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    current_due_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    # A payor admin may write one on the payee's behalf (after the due date, say).
    on_behalf: Mapped[bool] = mapped_column(default=False)
    submitted_at: Mapped[datetime | None]
    submitted_by_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    decided_at: Mapped[datetime | None]
    # Who last approved it: they may not authorize the disbursement that pays it.
    approved_by_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))

    commitment: Mapped[Commitment] = relationship(lazy="joined", innerjoin=True)
    billing_period: Mapped[BillingPeriod] = relationship(lazy="joined", innerjoin=True)
    lines: Mapped[list[InvoiceLine]] = relationship(
        order_by="InvoiceLine.item", cascade="all, delete-orphan"
    )
    attachments: Mapped[list[InvoiceAttachment]] = relationship(
        order_by="InvoiceAttachment.id", cascade="all, delete-orphan"
    )
    events: Mapped[list[InvoiceEvent]] = relationship(order_by="InvoiceEvent.id")

    __table_args__ = (
        sa.UniqueConstraint("commitment_id", "number"),
        sa.UniqueConstraint("commitment_id", "billing_period_id"),
        sa.CheckConstraint("number >= 1", name="numbered_from_one"),
        sa.CheckConstraint("completed_stored_cents >= 0", name="completed_not_negative"),
        sa.CheckConstraint(
            "retainage_completed_cents >= 0 AND retainage_stored_cents >= 0",
            name="retainage_not_negative",
        ),
        sa.CheckConstraint(
            "current_due_cents = completed_stored_cents - retainage_completed_cents"
            " - retainage_stored_cents - previous_certificates_cents",
            name="due_is_earned_less_retainage_less_previous",
        ),
        sa.CheckConstraint(
            "(status = 'draft') = (submitted_at IS NULL)", name="submitted_unless_draft"
        ),
        sa.Index("ix_invoice_company_status", "company_id", "status", "id"),
        sa.Index("ix_invoice_payee_status", "payee_company_id", "status", "id"),
    )

    @property
    def contract_sum_to_date_cents(self) -> int:
        return self.original_contract_sum_cents + self.net_change_cents

    @property
    def retainage_cents(self) -> int:
        return self.retainage_completed_cents + self.retainage_stored_cents

    @property
    def earned_less_retainage_cents(self) -> int:
        return self.completed_stored_cents - self.retainage_cents

    @property
    def editable(self) -> bool:
        return self.status in EDITABLE

    def period_ends_after(self, period: BillingPeriod) -> bool:
        """Whether this invoice billed through a later day than ``period`` ends."""
        return self.billing_period.ends_on >= period.ends_on

    def check_move(self, status: InvoiceStatus) -> None:
        if status not in INVOICE_TRANSITIONS[self.status]:
            raise IllegalTransition(
                f"An invoice that is {self.status.label.lower()} cannot become "
                f"{status.label.lower()}."
            )


class InvoiceLine(db.Model):
    """One G703 line of an invoice: its schedule line's value and retainage as of the
    invoice, what earlier applications completed, and what this one bills."""

    __tablename__ = "invoice_line"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(sa.ForeignKey("invoice.id"), index=True)
    sov_line_id: Mapped[int] = mapped_column(sa.ForeignKey("sov_line.id"))
    item: Mapped[int]
    description: Mapped[str] = mapped_column(sa.String(200))
    scheduled_value_cents: Mapped[int] = mapped_column(sa.BigInteger)
    previous_completed_cents: Mapped[int] = mapped_column(sa.BigInteger)
    this_period_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    stored_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    retainage_bps: Mapped[int]

    __table_args__ = (
        sa.UniqueConstraint("invoice_id", "sov_line_id"),
        sa.CheckConstraint(
            "this_period_cents >= 0 AND stored_cents >= 0 AND previous_completed_cents >= 0",
            name="billed_not_negative",
        ),
        # No line billed beyond 100%, whatever writes the row.
        sa.CheckConstraint(
            "previous_completed_cents + this_period_cents + stored_cents <= scheduled_value_cents",
            name="not_beyond_scheduled_value",
        ),
        sa.CheckConstraint("retainage_bps BETWEEN 0 AND 10000", name="line_retainage_in_range"),
    )


class ReviewDecision(Status):
    SUBMITTED = "submitted", "Submitted", Tone.PROGRESS
    APPROVED = "approved", "Approved", Tone.SUCCESS
    APPROVED_AS_NOTED = "approved_as_noted", "Approved as noted", Tone.SUCCESS
    REVISE_AND_RESUBMIT = "revise_and_resubmit", "Revise and resubmit", Tone.WARNING


class InvoiceEvent(db.Model):
    """The history of an invoice's rounds (append-only): each submission with the amounts it
    asked for, and each decision with its comments (general and per line)."""

    __tablename__ = "invoice_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(sa.ForeignKey("invoice.id"), index=True)
    round: Mapped[int]
    decision: Mapped[ReviewDecision] = mapped_column(str_enum(ReviewDecision))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    by_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    comment: Mapped[str] = mapped_column(sa.Text, default="")
    current_due_cents: Mapped[int] = mapped_column(sa.BigInteger)
    # Per line (by item): what was billed this period and stored, and any comment on it.
    lines: Mapped[list[dict]] = mapped_column(sa.JSON, default=list)


class InvoiceAttachment(db.Model):
    """A file the payee (or the payor's reviewer) attached to an invoice: backup for the
    amounts, photos, delivery tickets. Reached only through its invoice."""

    __tablename__ = "invoice_attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(sa.ForeignKey("invoice.id"), index=True)
    file_id: Mapped[int] = mapped_column(sa.ForeignKey("stored_file.id"))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)
    uploaded_by_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))

    file: Mapped[StoredFile] = relationship(lazy="joined", innerjoin=True)


class ImportStatus(Status):
    QUEUED = "queued", "Waiting to start", Tone.PROGRESS
    RUNNING = "running", "Checking the file", Tone.PROGRESS
    SUCCEEDED = "succeeded", "Imported", Tone.SUCCESS
    FAILED = "failed", "Not imported", Tone.DANGER


class CommitmentImport(TenantOwned, db.Model):
    """A CSV file of commitments and schedule lines, imported by a job: every row checked
    first, then everything written in one transaction, or nothing."""

    __tablename__ = "commitment_import"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("company.id"), index=True)
    file_id: Mapped[int] = mapped_column(sa.ForeignKey("stored_file.id"))
    status: Mapped[ImportStatus] = mapped_column(
        str_enum(ImportStatus), default=ImportStatus.QUEUED
    )
    total_rows: Mapped[int] = mapped_column(default=0)
    checked_rows: Mapped[int] = mapped_column(default=0)
    commitments_created: Mapped[int] = mapped_column(default=0)
    # Each bad row, by line and column (the first few hundred).
    errors: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    finished_at: Mapped[datetime | None]

    file: Mapped[StoredFile] = relationship(lazy="joined", innerjoin=True)

    @property
    def finished(self) -> bool:
        return self.status in (ImportStatus.SUCCEEDED, ImportStatus.FAILED)

    @property
    def percent(self) -> int:
        if self.finished:
            return 100
        return self.checked_rows * 100 // self.total_rows if self.total_rows else 0
