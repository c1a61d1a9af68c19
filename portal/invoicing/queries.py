"""Read helpers for projects and commitments (tenant-scoped)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from portal.accounts.models import User
from portal.companies.models import Company
from portal.core import tenancy
from portal.core.db import db
from portal.core.errors import InvalidInput, NotFound
from portal.core.tables import Column, TablePage, TableState, matches_text, paginate
from portal.invoicing.models import (
    BillingPeriod,
    BillingPeriodStatus,
    ChangeOrder,
    Commitment,
    CommitmentContact,
    CommitmentImport,
    CommitmentStatus,
    Invoice,
    InvoiceAttachment,
    InvoiceStatus,
    Project,
    RetainageChange,
    SovLine,
)
from portal.onboarding.models import OnboardingStatus, PayeeRelationship

PROJECT_COLUMNS = (
    Column("number", "Number", sortable=True),
    Column("name", "Project", sortable=True),
    Column("region", "State", sortable=True),
    Column("pay", "Pay"),
    Column("funding", "Funding account"),
)


def project_list_state(args) -> TableState:
    return TableState.from_args(
        args, columns=PROJECT_COLUMNS, default_sort="number", filters=("q", "archived")
    )


def project_table(company_id: int, state: TableState) -> TablePage:
    """One page of the payor's projects (tenant-scoped), each with its funding account:
    the ones in use, or (``archived=1``) the archived ones."""
    stmt = sa.select(Project).where(Project.company_id == company_id)
    archived = state.filter("archived") == "1"
    stmt = stmt.where(
        Project.archived_at.is_not(None) if archived else Project.archived_at.is_(None)
    )
    stmt = stmt.where(matches_text(state.filter("q"), Project.name, Project.number))
    return paginate(
        stmt,
        state,
        {"number": Project.number, "name": sa.func.lower(Project.name), "region": Project.region},
        tiebreak=Project.id,
    )


def project(project_id: int) -> Project:
    found = db.session.scalar(sa.select(Project).where(Project.id == project_id))
    if found is None:
        raise NotFound("No such project.")
    return found


def projects_funded_by(account_id: int) -> list[Project]:
    return list(
        db.session.scalars(
            sa.select(Project)
            .where(Project.funding_account_id == account_id)
            .order_by(Project.name)
        )
    )


COMMITMENT_COLUMNS = (
    Column("number", "Number", sortable=True),
    Column("title", "Commitment", sortable=True),
    Column("payee", "Payee", sortable=True),
    Column("status", "Status"),
    Column("contract_sum", "Contract sum to date", sortable=True, numeric=True),
)


def commitment_list_state(args) -> TableState:
    return TableState.from_args(
        args, columns=COMMITMENT_COLUMNS, default_sort="number", filters=("q",)
    )


def commitment_table(project_id: int, state: TableState) -> TablePage:
    """One page of a project's commitments, each with the payor's name for its payee."""
    stmt = (
        sa.select(Commitment, PayeeRelationship.directory_name)
        .join(PayeeRelationship, PayeeRelationship.id == Commitment.relationship_id)
        .where(Commitment.project_id == project_id)
        .where(
            matches_text(
                state.filter("q"),
                Commitment.number,
                Commitment.title,
                PayeeRelationship.directory_name,
            )
        )
    )
    return paginate(
        stmt,
        state,
        {
            "number": Commitment.number,
            "title": sa.func.lower(Commitment.title),
            "payee": sa.func.lower(PayeeRelationship.directory_name),
            "contract_sum": Commitment.original_sum_cents + Commitment.approved_changes_cents,
        },
        tiebreak=Commitment.id,
    )


def commitment(commitment_id: int) -> Commitment:
    """One commitment the current company may see, with its lines, change orders and
    contacts (a commitment page shows them all)."""
    found = db.session.scalar(
        sa.select(Commitment)
        .where(Commitment.id == commitment_id)
        .options(
            selectinload(Commitment.lines).selectinload(SovLine.retainage_changes),
            selectinload(Commitment.change_orders).selectinload(ChangeOrder.lines),
            selectinload(Commitment.contacts),
        )
    )
    if found is None:
        raise NotFound("No such commitment.")
    return found


def change_order(commitment: Commitment, change_order_id: int) -> ChangeOrder:
    """One change order of ``commitment`` (reached only through its commitment's scope)."""
    for order in commitment.change_orders:
        if order.id == change_order_id:
            return order
    raise NotFound("No such change order.")


def payee_choices(payor_id: int) -> list[PayeeRelationship]:
    """The payor's payees a commitment may be written to, by the payor's name for them."""
    return list(
        db.session.scalars(
            sa.select(PayeeRelationship)
            .where(PayeeRelationship.payor_id == payor_id)
            .order_by(sa.func.lower(PayeeRelationship.directory_name), PayeeRelationship.id)
        )
    )


def payee_choice(payor_id: int, relationship_id: int) -> PayeeRelationship:
    found = db.session.scalar(
        sa.select(PayeeRelationship).where(
            PayeeRelationship.id == relationship_id, PayeeRelationship.payor_id == payor_id
        )
    )
    if found is None:  # an id from a form: a choice to correct, not a missing page
        raise InvalidInput("Choose one of your payees.", field="payee")
    return found


@dataclass(frozen=True)
class RetainageEntry:
    line: SovLine
    change: RetainageChange
    changed_by: str


def retainage_history(commitment: Commitment) -> list[RetainageEntry]:
    """Every retainage change of the commitment's lines, newest first, with who made it."""
    changes = [(line, change) for line in commitment.lines for change in line.retainage_changes]
    ids = {change.changed_by_user_id for _, change in changes if change.changed_by_user_id}
    names = (
        dict(db.session.execute(sa.select(User.id, User.name).where(User.id.in_(ids))).all())
        if ids
        else {}
    )
    return sorted(
        (
            RetainageEntry(line, change, names.get(change.changed_by_user_id, "Trestle"))
            for line, change in changes
        ),
        key=lambda entry: (entry.change.changed_at, entry.change.id),
        reverse=True,
    )


BILLING_PERIOD_COLUMNS = (
    Column("period", "Period", sortable=True),
    Column("due", "Invoices due", sortable=True),
    Column("status", "Status"),
    Column("invited", "Invited to bill"),
)


def billing_period_state(args) -> TableState:
    return TableState.from_args(
        args,
        columns=BILLING_PERIOD_COLUMNS,
        default_sort="period",
        default_direction="desc",
        filters=(),
    )


def billing_period_table(project_id: int, state: TableState) -> TablePage:
    """One page of a project's billing periods, newest first by default."""
    return paginate(
        sa.select(BillingPeriod).where(BillingPeriod.project_id == project_id),
        state,
        {"period": BillingPeriod.starts_on, "due": BillingPeriod.due_on},
        tiebreak=BillingPeriod.id,
    )


def billing_period(project: Project, period_id: int) -> BillingPeriod:
    found = db.session.scalar(
        sa.select(BillingPeriod).where(
            BillingPeriod.id == period_id, BillingPeriod.project_id == project.id
        )
    )
    if found is None:
        raise NotFound("No such billing period.")
    return found


def periods_around(project_ids: list[int], today: date) -> dict[int, list[BillingPeriod]]:
    """For each project, its billing periods not yet closed on ``today`` (open first)."""
    if not project_ids:
        return {}
    rows = db.session.scalars(
        sa.select(BillingPeriod)
        .where(BillingPeriod.project_id.in_(project_ids), BillingPeriod.due_on >= today)
        .order_by(BillingPeriod.starts_on)
    )
    found: dict[int, list[BillingPeriod]] = {}
    for period in rows:
        found.setdefault(period.project_id, []).append(period)
    return found


@dataclass(frozen=True)
class BilledCommitment:
    """A commitment as its payee sees it: whose, where, and the periods it can bill."""

    commitment: Commitment
    payor: str
    project: Project
    periods: list[BillingPeriod]
    is_contact: bool


def payee_commitments(payee_id: int, user_id: int, today: date) -> list[BilledCommitment]:
    """The approved commitments of the payee's payors that approved it, with the billing
    periods open or coming on each project. Read across the tenant line on purpose: the
    rows are the payee's own commitments, and their projects and periods are the payor's."""
    with tenancy.unscoped():
        rows = db.session.execute(
            sa.select(Commitment, Company.name)
            .join(Company, Company.id == Commitment.company_id)
            .join(PayeeRelationship, PayeeRelationship.id == Commitment.relationship_id)
            .where(
                Commitment.payee_company_id == payee_id,
                Commitment.status == CommitmentStatus.APPROVED,
                PayeeRelationship.status == OnboardingStatus.APPROVED,
            )
            .order_by(Company.name, Commitment.number)
        ).all()
        periods = periods_around(list({c.project_id for c, _ in rows}), today)
        contact_of = set(
            db.session.scalars(
                sa.select(CommitmentContact.commitment_id).where(
                    CommitmentContact.user_id == user_id,
                    CommitmentContact.commitment_id.in_([c.id for c, _ in rows]),
                )
            )
        )
    return [
        BilledCommitment(c, payor, c.project, periods.get(c.project_id, []), c.id in contact_of)
        for c, payor in rows
    ]


def invoice(invoice_id: int) -> Invoice:
    """One invoice the current company may see (the payor's or the payee's own)."""
    found = db.session.scalar(
        sa.select(Invoice)
        .where(Invoice.id == invoice_id)
        .options(
            selectinload(Invoice.lines),
            selectinload(Invoice.attachments),
            selectinload(Invoice.events),
        )
    )
    if found is None:
        raise NotFound("No such invoice.")
    return found


def invoices_of(commitment_id: int) -> list[Invoice]:
    return list(
        db.session.scalars(
            sa.select(Invoice)
            .where(Invoice.commitment_id == commitment_id)
            .order_by(Invoice.number.desc())
        )
    )


def attachment(invoice: Invoice, attachment_id: int) -> InvoiceAttachment:
    for found in invoice.attachments:
        if found.id == attachment_id:
            return found
    raise NotFound("No such attachment.")


def user_names(user_ids: set[int | None]) -> dict[int, str]:
    ids = {user_id for user_id in user_ids if user_id is not None}
    if not ids:
        return {}
    with tenancy.unscoped():  # the names of people on either side of one invoice
        return dict(db.session.execute(sa.select(User.id, User.name).where(User.id.in_(ids))).all())


def open_periods(project_id: int, today: date) -> list[BillingPeriod]:
    """The project's periods open for billing today (an invoice may be started in them)."""
    return [
        period
        for period in periods_around([project_id], today).get(project_id, [])
        if period.status_on(today) is BillingPeriodStatus.OPEN
    ]


def all_periods(project_id: int) -> list[BillingPeriod]:
    return list(
        db.session.scalars(
            sa.select(BillingPeriod)
            .where(BillingPeriod.project_id == project_id)
            .order_by(BillingPeriod.starts_on.desc())
        )
    )


def commitment_import(run_id: int) -> CommitmentImport:
    found = db.session.scalar(sa.select(CommitmentImport).where(CommitmentImport.id == run_id))
    if found is None:
        raise NotFound("No such import.")
    return found


def recent_imports(company_id: int, limit: int = 10) -> list[CommitmentImport]:
    return list(
        db.session.scalars(
            sa.select(CommitmentImport)
            .where(CommitmentImport.company_id == company_id)
            .order_by(CommitmentImport.id.desc())
            .limit(limit)
        )
    )


def invoices_under_review(company_id: int, limit: int) -> tuple[list[Invoice], int]:
    """The payor's invoices waiting for a decision, oldest submission first, and how many."""
    waiting = sa.and_(
        Invoice.company_id == company_id, Invoice.status == InvoiceStatus.UNDER_REVIEW
    )
    total = db.session.scalar(sa.select(sa.func.count()).select_from(Invoice).where(waiting))
    rows = db.session.scalars(
        sa.select(Invoice).where(waiting).order_by(Invoice.submitted_at, Invoice.id).limit(limit)
    ).all()
    return list(rows), total or 0


def contact_emails(commitment_id: int) -> list[str]:
    """The email addresses of the commitment's active invoice contacts."""
    return list(
        db.session.scalars(
            sa.select(User.email)
            .join(CommitmentContact, CommitmentContact.user_id == User.id)
            .where(CommitmentContact.commitment_id == commitment_id, User.is_active)
            .order_by(User.email)
        )
    )
