"""Read helpers: a payor's requirement modes, the readiness of invoices (computed, never
stored), and holds."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import contains_eager

from portal.companies.queries import features_of
from portal.core import tenancy
from portal.core.db import db
from portal.core.errors import NotFound
from portal.core.tables import Column, TablePage, TableState, matches_text, paginate
from portal.invoicing.models import BillingPeriod, Commitment, Invoice, InvoiceStatus, Project
from portal.onboarding.models import PayeeRelationship
from portal.readiness.models import (
    EnforcementMode,
    Hold,
    HoldKind,
    HoldStatus,
    PaymentRequirement,
    ReadinessStatus,
    RequirementKind,
)
from portal.readiness.policies import BY_KIND, REQUIREMENTS, Requirement, holds_released


def available_kinds(company_id: int) -> set[RequirementKind]:
    """The requirements the payor can enforce: built, and with the feature each needs."""
    features = features_of(company_id)
    return {
        r.kind
        for r in REQUIREMENTS
        if r.condition is not None and (r.feature is None or features[r.feature])
    }


def modes_of(company_id: int) -> dict[RequirementKind, EnforcementMode]:
    """Each requirement's mode for the payor: its setting, else the default; a requirement
    whose capability is not built yet, or whose feature is off, is not required."""
    with tenancy.unscoped():  # a payee's view of readiness reads its payor's settings
        saved = dict(
            db.session.execute(
                sa.select(PaymentRequirement.kind, PaymentRequirement.mode).where(
                    PaymentRequirement.company_id == company_id
                )
            ).all()
        )
    available = available_kinds(company_id)
    return {
        r.kind: (
            saved.get(r.kind, r.default) if r.kind in available else EnforcementMode.NOT_REQUIRED
        )
        for r in REQUIREMENTS
    }


@dataclass(frozen=True)
class Item:
    requirement: Requirement
    mode: EnforcementMode
    met: bool

    @property
    def blocks(self) -> bool:
        return not self.met and self.mode is EnforcementMode.PREVENTS_PAYMENT


@dataclass(frozen=True)
class Readiness:
    """Whether one invoice may be paid now, requirement by requirement."""

    items: tuple[Item, ...]

    @property
    def total(self) -> int:
        return len(self.items)

    @property
    def met(self) -> int:
        return sum(item.met for item in self.items)

    @property
    def ready(self) -> bool:
        return not any(item.blocks for item in self.items)

    @property
    def unmet(self) -> list[Item]:
        return [item for item in self.items if not item.met]

    @property
    def status(self) -> ReadinessStatus:
        return ReadinessStatus.of(ready=self.ready, all_met=not self.unmet)


def enforced(modes: dict[RequirementKind, EnforcementMode]) -> list[Requirement]:
    return [BY_KIND[k] for k, m in modes.items() if m is not EnforcementMode.NOT_REQUIRED]


def readiness_of(company_id: int, invoice_ids: list[int]) -> dict[int, Readiness]:
    """The readiness of the payor's invoices, in one statement whatever their number."""
    modes = modes_of(company_id)
    checked = enforced(modes)
    if not invoice_ids:
        return {}
    if not checked:
        return {invoice_id: Readiness(()) for invoice_id in invoice_ids}
    with tenancy.unscoped():  # conditions span holds and commitments; the ids are in scope
        rows = db.session.execute(
            sa.select(Invoice.id, *(r.condition().label(r.kind.value) for r in checked)).where(
                Invoice.id.in_(invoice_ids), Invoice.company_id == company_id
            )
        ).all()
    return {
        row.id: Readiness(
            tuple(Item(r, modes[r.kind], bool(getattr(row, r.kind.value))) for r in checked)
        )
        for row in rows
    }


def readiness(invoice: Invoice) -> Readiness:
    return readiness_of(invoice.company_id, [invoice.id])[invoice.id]


def ready_condition(company_id: int) -> sa.ColumnElement[bool]:
    """An invoice of the payor is ready to pay: every requirement that prevents payment
    is met (for filtering a list in SQL by the same conditions)."""
    modes = modes_of(company_id)
    stopping = [
        r.condition() for r in enforced(modes) if modes[r.kind] is EnforcementMode.PREVENTS_PAYMENT
    ]
    return sa.and_(sa.true(), *stopping)


def met_count(company_id: int) -> tuple[sa.ColumnElement[int], int]:
    """How many enforced requirements an invoice meets, as SQL, and of how many."""
    checked = enforced(modes_of(company_id))
    if not checked:
        return sa.literal(0), 0
    return sum(sa.case((r.condition(), 1), else_=0) for r in checked), len(checked)


def holds_on(invoice: Invoice) -> list[Hold]:
    """The applied holds that stop this invoice (its own, and its payee's vendor holds),
    as far as the current company may see them."""
    return list(
        db.session.scalars(
            sa.select(Hold)
            .where(
                Hold.status == HoldStatus.APPLIED,
                Hold.company_id == invoice.company_id,
                sa.or_(
                    sa.and_(Hold.kind == HoldKind.INVOICE, Hold.invoice_id == invoice.id),
                    sa.and_(
                        Hold.kind == HoldKind.VENDOR,
                        Hold.payee_company_id == invoice.payee_company_id,
                    ),
                ),
            )
            .order_by(Hold.applied_at)
        )
    )


def hidden_holds_exist(invoice: Invoice) -> bool:
    """Whether a hold the payee may not see stops the invoice (the payee is told only that
    it waits on the general contractor)."""
    with tenancy.unscoped():
        return bool(
            db.session.scalar(
                sa.select(
                    sa.exists().where(
                        Hold.status == HoldStatus.APPLIED,
                        Hold.visible_to_payee.is_(False),
                        Hold.company_id == invoice.company_id,
                        sa.or_(
                            Hold.invoice_id == invoice.id,
                            sa.and_(
                                Hold.kind == HoldKind.VENDOR,
                                Hold.payee_company_id == invoice.payee_company_id,
                            ),
                        ),
                    )
                )
            )
        )


def vendor_holds(payor_id: int, payee_id: int) -> list[Hold]:
    return list(
        db.session.scalars(
            sa.select(Hold)
            .where(
                Hold.company_id == payor_id,
                Hold.payee_company_id == payee_id,
                Hold.kind == HoldKind.VENDOR,
                Hold.status == HoldStatus.APPLIED,
            )
            .order_by(Hold.applied_at)
        )
    )


def hold(hold_id: int) -> Hold:
    found = db.session.scalar(sa.select(Hold).where(Hold.id == hold_id))
    if found is None:
        raise NotFound("No such hold.")
    return found


INVOICE_COLUMNS = (
    Column("invoice", "Invoice", sortable=True),
    Column("project", "Project", sortable=True),
    Column("payee", "Payee", sortable=True),
    Column("period", "Billing period", sortable=True),
    Column("status", "Status"),
    Column("due", "Payment due", sortable=True, numeric=True),
    Column("readiness", "Readiness"),
)
INVOICE_FILTERS = ("project", "payee", "status", "readiness", "period", "q")


def invoice_list_state(args) -> TableState:
    return TableState.from_args(
        args,
        columns=INVOICE_COLUMNS,
        default_sort="period",
        default_direction="desc",
        filters=INVOICE_FILTERS,
    )


@dataclass(frozen=True)
class InvoiceRow:
    invoice: Invoice
    project: str
    payee: str
    met: int
    total: int
    ready: bool
    held: bool

    @property
    def status(self) -> ReadinessStatus:
        return ReadinessStatus.of(ready=self.ready, all_met=self.met == self.total)


def invoice_table(company_id: int, state: TableState) -> TablePage:
    """One page of the payor's invoices across projects, each with its readiness computed
    in the same statement (a fixed number of statements, whatever the number of invoices).

    The page's ids are found first, by a statement that joins only what the filters and
    the order need; the readiness of those 25 alone is then computed with their details.
    One statement doing both had the planner misjudge the readiness conditions over all
    the payor's invoices (it guessed one row) and join every one of them the slow way."""
    met, total = met_count(company_id)
    ready = ready_condition(company_id)
    held = ~holds_released()
    keys = (
        sa.select(Invoice.id)
        .join(Commitment, Commitment.id == Invoice.commitment_id)
        .join(Project, Project.id == Commitment.project_id)
        .join(PayeeRelationship, PayeeRelationship.id == Commitment.relationship_id)
        .join(BillingPeriod, BillingPeriod.id == Invoice.billing_period_id)
        .where(Invoice.company_id == company_id, Invoice.status != InvoiceStatus.DRAFT)
    )
    if project := _as_int(state.filter("project")):
        keys = keys.where(Invoice.project_id == project)
    if payee := _as_int(state.filter("payee")):
        keys = keys.where(Commitment.relationship_id == payee)
    if (status := state.filter("status")) in {s.value for s in InvoiceStatus}:
        keys = keys.where(Invoice.status == status)
    if period := _month(state.filter("period")):
        keys = keys.where(BillingPeriod.ends_on >= period[0], BillingPeriod.ends_on <= period[1])
    keys = keys.where(
        matches_text(state.filter("q"), Commitment.number, PayeeRelationship.directory_name)
    )
    order = {
        "invoice": Commitment.number,
        "project": sa.func.lower(Project.name),
        "payee": sa.func.lower(PayeeRelationship.directory_name),
        "period": BillingPeriod.ends_on,
        "due": Invoice.current_due_cents,
    }
    tiebreak = Invoice.id
    by_readiness = {"ready": ready, "not_ready": ~ready, "held": held}.get(
        state.filter("readiness")
    )
    if by_readiness is not None:
        # The readiness conditions are judged by the planner as if almost no invoice met
        # them (a hold table of a few rows matches every invoice's payor), and with that
        # guess it joined everything the slow way. So the other filters and the joins run
        # first, fenced off (a materialized CTE), and readiness filters what they found.
        listed = (
            keys.add_columns(*(expression.label(f"by_{key}") for key, expression in order.items()))
            .cte("listed")
            .prefix_with("MATERIALIZED")
        )
        keys = sa.select(listed.c.id).join(Invoice, Invoice.id == listed.c.id).where(by_readiness)
        order = {key: listed.c[f"by_{key}"] for key in order}
        tiebreak = listed.c.id
    page = paginate(keys, state, order, tiebreak=tiebreak)
    ids = list(page.rows)
    if not ids:
        return page
    details = {
        row[0].id: row
        for row in db.session.execute(
            sa.select(
                Invoice,
                Project.name,
                PayeeRelationship.directory_name,
                met.label("met"),
                ready.label("ready"),
                held.label("held"),
            )
            .join(Commitment, Commitment.id == Invoice.commitment_id)
            .join(Project, Project.id == Commitment.project_id)
            .join(PayeeRelationship, PayeeRelationship.id == Commitment.relationship_id)
            .join(BillingPeriod, BillingPeriod.id == Invoice.billing_period_id)
            # The invoice's eagerly loaded commitment, project and period come from these
            # same joins, not from a second join of each.
            .options(
                contains_eager(Invoice.commitment).contains_eager(Commitment.project),
                contains_eager(Invoice.billing_period),
            )
            .where(Invoice.id.in_(ids))
        ).unique()
    }
    page.rows[:] = [
        InvoiceRow(row[0], row[1], row[2], int(row.met), total, bool(row.ready), bool(row.held))
        for row in (details[invoice_id] for invoice_id in ids)
    ]
    return page


def _as_int(text: str) -> int | None:
    return int(text) if text.isdigit() and len(text) < 10 else None


def _month(text: str) -> tuple[date, date] | None:
    """``2026-11`` as its first and last day."""
    try:
        year, month = (int(part) for part in text.split("-"))
        first = date(year, month, 1)
    except ValueError:
        return None
    return first, date(year, month, calendar.monthrange(year, month)[1])


def invoice_filter_choices(company_id: int) -> dict[str, list[tuple[str, str]]]:
    """The projects, payees and months the payor's invoices can be filtered by."""
    projects = db.session.execute(
        sa.select(Project.id, Project.name)
        .where(Project.company_id == company_id, Project.archived_at.is_(None))
        .order_by(sa.func.lower(Project.name))
    ).all()
    payees = db.session.execute(
        sa.select(PayeeRelationship.id, PayeeRelationship.directory_name)
        .where(
            PayeeRelationship.payor_id == company_id,
            sa.exists().where(Commitment.relationship_id == PayeeRelationship.id),
        )
        .order_by(sa.func.lower(PayeeRelationship.directory_name))
    ).all()
    months = db.session.scalars(
        sa.select(BillingPeriod.ends_on)
        .distinct()
        .where(BillingPeriod.company_id == company_id)
        .order_by(BillingPeriod.ends_on.desc())
        .limit(36)
    ).all()
    seen = dict.fromkeys(f"{d:%Y-%m}" for d in months)
    return {
        "project": [(str(i), name) for i, name in projects],
        "payee": [(str(i), name) for i, name in payees],
        "period": [(m, f"{date(int(m[:4]), int(m[5:]), 1):%B %Y}") for m in seen],
    }
