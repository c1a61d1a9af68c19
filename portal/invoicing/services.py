"""Create, edit and archive projects and set their payment controls; write commitments,
their schedules of values, retainage and change orders."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from typing import IO

import sqlalchemy as sa
from blinker import Namespace

from portal.accounts.models import User
from portal.companies import queries as companies
from portal.companies.models import Company, CompanyKind
from portal.core import addresses, audit, storage, tenancy
from portal.core.db import db, update_if, utcnow
from portal.core.errors import DomainError, InvalidInput, NotAllowed
from portal.core.money import format_bps, format_cents, parse_amount, parse_percent, share_of
from portal.core.text import clean_text, one_line
from portal.core.urls import external_url
from portal.invoicing import pdf, policies
from portal.invoicing.models import (
    APPROVED_STATES,
    BillingPeriod,
    BillingPeriodStatus,
    BillingType,
    ChangeOrder,
    ChangeOrderLine,
    ChangeOrderStatus,
    Commitment,
    CommitmentContact,
    CommitmentKind,
    CommitmentStatus,
    Invoice,
    InvoiceAttachment,
    InvoiceEvent,
    InvoiceLine,
    InvoiceStatus,
    Project,
    RetainageChange,
    ReviewDecision,
    SovLine,
)
from portal.invoicing.payapp import PayApplication, SheetLine
from portal.notifications.services import queue_email
from portal.onboarding import services as onboarding
from portal.onboarding.models import PayeeRelationship
from portal.payment_settings import services as payment_settings
from portal.payment_settings.models import FundingAccount, FundingAccountMode

_signals = Namespace()
# Sent with the invoice, in its transaction, each time it is submitted for review (again,
# after revise and resubmit): what follows from a submission (its lien waiver) listens.
invoice_submitted = _signals.signal("invoice-submitted")


def create_project(
    company: Company,
    *,
    name: str,
    number: str,
    address_line1: str,
    city: str,
    region: str,
    postal_code: str,
    actor_user_id: int,
    owner_name: str = "",
) -> Project:
    """Add a project; Pay starts on or off as the payor's "Pay on new projects" says."""
    if company.kind is not CompanyKind.PAYOR:
        raise InvalidInput("Only payors have projects.")
    number = number.strip()
    if db.session.scalar(
        sa.select(Project.id).where(Project.company_id == company.id, Project.number == number)
    ):
        raise InvalidInput("Another project already has that number.", field="number")
    controls = payment_settings.controls_of(company)
    project = Project(
        company_id=company.id,
        name=name.strip(),
        number=number,
        address_line1=address_line1.strip(),
        city=city.strip(),
        region=addresses.validate_state(region, "region"),
        postal_code=addresses.validate_postal_code(postal_code),
        owner_name=one_line(owner_name or ""),
        pay_enabled=controls.pay_on_new_projects,
    )
    db.session.add(project)
    db.session.flush()
    audit.record(
        "invoicing:project:created",
        actor_user_id=actor_user_id,
        company_id=company.id,
        object_type="project",
        object_id=project.id,
        after={"name": project.name, "number": number, "pay_enabled": project.pay_enabled},
    )
    return project


def update_project(
    project: Project,
    *,
    name: str,
    number: str,
    address_line1: str,
    city: str,
    region: str,
    postal_code: str,
    actor_user_id: int,
    owner_name: str = "",
) -> list[str]:
    """Correct a project's name, number or job site; return the fields that changed.

    A new state changes which lien waiver forms its future waivers use."""
    _refuse_archived(project)
    facts = {
        "name": one_line(name),
        "number": one_line(number),
        "address_line1": one_line(address_line1),
        "city": one_line(city),
        "region": addresses.validate_state(region, "region"),
        "postal_code": addresses.validate_postal_code(postal_code),
        "owner_name": one_line(owner_name or ""),
    }
    for field, label in (("name", "name"), ("number", "number"), ("address_line1", "address")):
        if not facts[field]:
            raise InvalidInput(f"Enter the project's {label}.", field=field)
    if not facts["city"]:
        raise InvalidInput("Enter the city.", field="city")
    if facts["number"] != project.number and db.session.scalar(
        sa.select(Project.id).where(
            Project.company_id == project.company_id,
            Project.number == facts["number"],
            Project.id != project.id,
        )
    ):
        raise InvalidInput("Another project already has that number.", field="number")
    changed = [field for field, value in facts.items() if getattr(project, field) != value]
    if not changed:
        return []
    before = {field: getattr(project, field) for field in changed}
    for field in changed:
        setattr(project, field, facts[field])
    audit.record(
        "invoicing:project:updated",
        actor_user_id=actor_user_id,
        company_id=project.company_id,
        object_type="project",
        object_id=project.id,
        before=before,
        after={field: facts[field] for field in changed},
    )
    return changed


def archive_project(project: Project, *, actor_user_id: int) -> None:
    """The job is finished: the project leaves the lists and takes no new work (its
    records stay, and it can be restored)."""
    _refuse_archived(project)
    if not update_if(
        project,
        Project.archived_at.is_(None),
        archived_at=utcnow(),
        archived_by_user_id=actor_user_id,
    ):
        raise DomainError("This project was archived meanwhile.")
    audit.record(
        "invoicing:project:archived",
        actor_user_id=actor_user_id,
        company_id=project.company_id,
        object_type="project",
        object_id=project.id,
        after={"name": project.name, "number": project.number},
    )


def restore_project(project: Project, *, actor_user_id: int) -> None:
    """Bring an archived project back into use."""
    if project.archived_at is None:
        raise DomainError("This project is not archived.")
    if not update_if(
        project, Project.archived_at.is_not(None), archived_at=None, archived_by_user_id=None
    ):
        raise DomainError("This project was restored meanwhile.")
    audit.record(
        "invoicing:project:restored",
        actor_user_id=actor_user_id,
        company_id=project.company_id,
        object_type="project",
        object_id=project.id,
        after={"name": project.name, "number": project.number},
    )


def _refuse_archived(project: Project) -> None:
    if project.archived_at is not None:
        raise DomainError("This project is archived. Restore it first to change it.")


def set_project_pay(project: Project, enabled: bool, *, actor_user_id: int) -> None:
    _refuse_archived(project)
    if project.pay_enabled == enabled:
        return
    project.pay_enabled = enabled
    audit.record(
        "invoicing:project:pay_changed",
        actor_user_id=actor_user_id,
        company_id=project.company_id,
        object_type="project",
        object_id=project.id,
        before={"pay_enabled": not enabled},
        after={"pay_enabled": enabled},
    )


def set_project_funding_account(
    company: Company, project: Project, account_id: int | None, *, actor_user_id: int
) -> None:
    """Fix the funding account of a project (only when the payor funds per project)."""
    _refuse_archived(project)
    controls = payment_settings.controls_of(company)
    if controls.funding_account_mode is not FundingAccountMode.FIXED_PER_PROJECT:
        raise DomainError(
            "Funding accounts are chosen for each disbursement; switch payment "
            "controls to “fixed per project” first."
        )
    account = None
    if account_id is not None:
        account = db.session.scalar(
            sa.select(FundingAccount).where(
                FundingAccount.id == account_id,
                FundingAccount.company_id == company.id,
                FundingAccount.active.is_(True),
            )
        )
        if account is None:
            raise InvalidInput(
                "Choose one of your active funding accounts.", field="funding_account_id"
            )
    before = project.funding_account.nickname if project.funding_account else None
    project.funding_account_id = account.id if account else None
    audit.record(
        "invoicing:project:funding_account_changed",
        actor_user_id=actor_user_id,
        company_id=company.id,
        object_type="project",
        object_id=project.id,
        before={"funding_account": before},
        after={"funding_account": account.nickname if account else None},
    )


# --------------------------------------------------------------------------- commitments

MAX_LINES = 500  # a schedule of values longer than this comes in by CSV import


@dataclass(frozen=True)
class LineInput:
    """One schedule-of-values line as typed: cost code, description, value, retainage %."""

    code: str
    description: str
    value: str
    retainage: str

    @property
    def blank(self) -> bool:
        return not any(part.strip() for part in (self.code, self.description, self.value))


@dataclass(frozen=True)
class ChangeInput:
    """One change order line as typed: an amount for an existing line (``line_id``), or a
    new line with its code, description and retainage %."""

    line_id: int | None
    code: str
    description: str
    amount: str
    retainage: str

    @property
    def blank(self) -> bool:
        return self.line_id is None and not any(
            part.strip() for part in (self.code, self.description, self.amount)
        )


def create_commitment(
    project: Project,
    *,
    relationship: PayeeRelationship,
    kind: CommitmentKind,
    number: str,
    title: str,
    contract_sum: str,
    default_retainage: str,
    actor_user_id: int,
) -> Commitment:
    """Write a draft commitment to a payee on a project (its lines come next)."""
    _refuse_archived(project)
    if relationship.payor_id != project.company_id:
        raise NotAllowed("That payee is not one of yours.")
    facts = _commitment_facts(number, title, contract_sum, default_retainage)
    _refuse_taken_number(project.id, facts["number"])
    commitment = Commitment(
        company_id=project.company_id,
        project_id=project.id,
        relationship_id=relationship.id,
        payee_company_id=relationship.payee_id,
        kind=kind,
        created_by_user_id=actor_user_id,
        **facts,
    )
    db.session.add(commitment)
    db.session.flush()
    audit.record(
        "invoicing:commitment:created",
        actor_user_id=actor_user_id,
        **_about(commitment),
        after={
            "payee": relationship.directory_name,
            "type": kind.label,
            "number": commitment.number,
            "title": commitment.title,
            "contract_sum": format_cents(commitment.original_sum_cents),
            "default_retainage": format_bps(commitment.default_retainage_bps),
        },
    )
    return commitment


def add_payee_and_commit(
    project: Project,
    *,
    payee_name: str,
    payee_email: str,
    actor_user_id: int,
    **commitment: object,
) -> Commitment:
    """Write a commitment to a company the payor has not listed yet: it joins the payor's
    payees (not yet invited; "Invite to Trestle Pay" from the commitment does that)."""
    payor = db.session.get(Company, project.company_id)
    relationship = onboarding.add_to_directory(
        payor, onboarding.Invitee(payee_name, payee_email), actor_user_id=actor_user_id
    )
    return create_commitment(
        project, relationship=relationship, actor_user_id=actor_user_id, **commitment
    )


def update_commitment(
    commitment: Commitment,
    *,
    number: str,
    title: str,
    contract_sum: str,
    default_retainage: str,
    actor_user_id: int,
) -> list[str]:
    """Correct a draft commitment's number, title, contract sum or default retainage;
    return the fields that changed. Once approved, the sum changes only by change order."""
    _refuse_unless_draft(commitment, "changed; write a change order instead")
    facts = _commitment_facts(number, title, contract_sum, default_retainage)
    if facts["number"] != commitment.number:
        _refuse_taken_number(commitment.project_id, facts["number"])
    changed = [field for field, value in facts.items() if getattr(commitment, field) != value]
    if not changed:
        return []
    before = {field: _shown(field, getattr(commitment, field)) for field in changed}
    for field in changed:
        setattr(commitment, field, facts[field])
    audit.record(
        "invoicing:commitment:updated",
        actor_user_id=actor_user_id,
        **_about(commitment),
        before=before,
        after={
            "commitment": commitment.number,
            **{field: _shown(field, facts[field]) for field in changed},
        },
    )
    return changed


def save_schedule(
    commitment: Commitment, rows: list[LineInput], *, actor_user_id: int
) -> list[SovLine]:
    """Replace a draft commitment's schedule of values. All or nothing: every line must be
    whole and the lines must add up to the contract sum."""
    _refuse_unless_draft(commitment, "rescheduled; write a change order instead")
    parsed = []
    for number, row in enumerate((r for r in rows if not r.blank), start=1):
        description = one_line(row.description)
        if not description:
            raise InvalidInput(f"Line {number}: enter a description.", field="lines")
        if len(description) > 200 or len(one_line(row.code)) > 40:
            raise InvalidInput(
                f"Line {number}: the cost code is at most 40 characters and the "
                "description at most 200.",
                field="lines",
            )
        value = _line_amount(number, row.value, "scheduled value")
        retainage = (
            _line_percent(number, row.retainage)
            if row.retainage.strip()
            else commitment.default_retainage_bps
        )
        parsed.append((one_line(row.code), description, value, retainage))
    if not parsed:
        raise InvalidInput("Enter at least one line.", field="lines")
    if len(parsed) > MAX_LINES:
        raise InvalidInput(
            f"A schedule of values entered here has at most {MAX_LINES} lines; import a "
            "longer one from CSV.",
            field="lines",
        )
    total = sum(value for _, _, value, _ in parsed)
    if total != commitment.original_sum_cents:
        raise InvalidInput(_sum_mismatch(total, commitment.original_sum_cents), field="lines")
    before = _schedule_summary(commitment.lines)
    commitment.lines.clear()
    db.session.flush()  # the old positions go before the new ones take them
    commitment.lines.extend(
        SovLine(
            position=position,
            code=code,
            description=description,
            original_value_cents=value,
            scheduled_value_cents=value,
            retainage_bps=retainage,
        )
        for position, (code, description, value, retainage) in enumerate(parsed, start=1)
    )
    db.session.flush()
    audit.record(
        "invoicing:commitment:schedule_saved",
        actor_user_id=actor_user_id,
        **_about(commitment),
        before=before,
        after={"commitment": commitment.number, **_schedule_summary(commitment.lines)},
    )
    return commitment.lines


def approve_commitment(commitment: Commitment, *, actor_user_id: int) -> None:
    """Approve a draft commitment: its schedule of values is fixed from now on, invoices may
    bill against it, and it changes only by approved change orders."""
    _refuse_archived(commitment.project)
    commitment.check_move(CommitmentStatus.APPROVED)
    if not commitment.lines:
        raise InvalidInput("Enter its schedule of values before approving it.", field="lines")
    if commitment.scheduled_total_cents != commitment.original_sum_cents:
        raise InvalidInput(
            _sum_mismatch(commitment.scheduled_total_cents, commitment.original_sum_cents),
            field="lines",
        )
    if not update_if(
        commitment,
        Commitment.status == CommitmentStatus.DRAFT,
        status=CommitmentStatus.APPROVED,
        approved_at=utcnow(),
        approved_by_user_id=actor_user_id,
    ):
        raise DomainError("This commitment was approved meanwhile.")
    audit.record(
        "invoicing:commitment:approved",
        actor_user_id=actor_user_id,
        **_about(commitment),
        after={
            "commitment": commitment.number,
            "contract_sum": format_cents(commitment.original_sum_cents),
        },
    )


def set_executed(commitment: Commitment, executed_on: date | None, *, actor_user_id: int) -> None:
    """Record that both parties signed the contract (on ``executed_on``), or take it back."""
    _refuse_archived(commitment.project)
    if executed_on is not None and executed_on > utcnow().date():
        raise InvalidInput("The contract cannot be signed in the future.", field="executed_on")
    if executed_on == commitment.executed_on:
        return
    before = commitment.executed_on
    commitment.executed_on = executed_on
    commitment.executed_by_user_id = actor_user_id if executed_on else None
    audit.record(
        f"invoicing:commitment:{'executed' if executed_on else 'execution_withdrawn'}",
        actor_user_id=actor_user_id,
        **_about(commitment),
        before={"executed_on": before.isoformat() if before else None},
        after={
            "commitment": commitment.number,
            "executed_on": executed_on.isoformat() if executed_on else None,
        },
    )


def change_retainage(
    commitment: Commitment, line_id: int, retainage: str, *, actor_user_id: int
) -> SovLine:
    """Change one line's retainage %: from the next invoice on (invoices already submitted
    keep theirs), kept in the line's history."""
    _refuse_archived(commitment.project)
    line = _line_of(commitment, line_id)
    bps = parse_percent(retainage) if retainage.strip() else None
    if bps is None:
        raise InvalidInput("Enter the new retainage percentage.", field="retainage")
    if bps == line.retainage_bps:
        raise InvalidInput(
            f"Line {line.position} already retains {format_bps(bps)}.", field="retainage"
        )
    line.retainage_changes.append(
        RetainageChange(from_bps=line.retainage_bps, to_bps=bps, changed_by_user_id=actor_user_id)
    )
    before = line.retainage_bps
    line.retainage_bps = bps
    audit.record(
        "invoicing:commitment:retainage_changed",
        actor_user_id=actor_user_id,
        **_about(commitment),
        before={"line": line.position, "retainage": format_bps(before)},
        after={
            "commitment": commitment.number,
            "line": line.position,
            "retainage": format_bps(bps),
        },
    )
    return line


def set_contacts(commitment: Commitment, user_ids: list[int], *, actor_user_id: int) -> None:
    """Name the payee's users who bill this commitment (submit invoices, sign waivers)."""
    _refuse_archived(commitment.project)
    if commitment.payee_company_id is None:
        raise DomainError(
            "Invoice contacts are the payee's own users: invite the payee to Trestle Pay first."
        )
    members = {user.id: user for user in companies.active_members(commitment.payee_company_id)}
    wanted = list(dict.fromkeys(user_ids))
    if stray := [user_id for user_id in wanted if user_id not in members]:
        raise InvalidInput(
            f"Choose invoice contacts among the payee's active users ({len(stray)} are not).",
            field="contacts",
        )
    current = {contact.user_id for contact in commitment.contacts}
    if set(wanted) == current:
        return
    before = sorted(contact.user.email for contact in commitment.contacts)
    commitment.contacts[:] = [c for c in commitment.contacts if c.user_id in wanted]
    commitment.contacts.extend(
        CommitmentContact(user_id=user_id, added_by_user_id=actor_user_id)
        for user_id in wanted
        if user_id not in current
    )
    audit.record(
        "invoicing:commitment:contacts_changed",
        actor_user_id=actor_user_id,
        **_about(commitment),
        before={"contacts": before},
        after={
            "commitment": commitment.number,
            "contacts": sorted(members[user_id].email for user_id in wanted),
        },
    )


def invite_payee(commitment: Commitment, email: str, *, actor_user_id: int):
    """Invite the commitment's payee to Trestle Pay (the onboarding invitation, as from the
    Payees page)."""
    relationship = relationship_of(commitment)
    return onboarding.invite_listed(relationship, email, actor_user_id=actor_user_id)


def relationship_of(commitment: Commitment) -> PayeeRelationship:
    return db.session.get(PayeeRelationship, commitment.relationship_id)


@onboarding.payee_connected.connect
def _commitments_follow_their_payee(relationship: PayeeRelationship, **_: object) -> None:
    """The payee company took up the payor's record of it: it now sees its commitments."""
    with tenancy.unscoped():
        db.session.execute(
            sa.update(Commitment)
            .where(Commitment.relationship_id == relationship.id)
            .values(payee_company_id=relationship.payee_id)
            .execution_options(synchronize_session=False)
        )


# --------------------------------------------------------------------------- change orders


def create_change_order(
    commitment: Commitment,
    *,
    number: str,
    title: str,
    rows: list[ChangeInput],
    actor_user_id: int,
) -> ChangeOrder:
    """Draft a change order to an approved commitment."""
    _refuse_archived(commitment.project)
    if commitment.status is not CommitmentStatus.APPROVED:
        raise DomainError(
            "A draft commitment is changed directly: edit its schedule of values instead."
        )
    number, title = _change_order_names(commitment, number, title)
    order = ChangeOrder(
        commitment=commitment, number=number, title=title, created_by_user_id=actor_user_id
    )
    order.lines.extend(_change_lines(commitment, rows))
    db.session.add(order)
    db.session.flush()
    audit.record(
        "invoicing:change_order:created",
        actor_user_id=actor_user_id,
        **_about_order(order),
        after=_change_order_summary(order),
    )
    return order


def update_change_order(
    order: ChangeOrder,
    *,
    number: str,
    title: str,
    rows: list[ChangeInput],
    actor_user_id: int,
) -> None:
    """Rewrite a draft change order."""
    commitment = order.commitment
    _refuse_archived(commitment.project)
    if order.status is not ChangeOrderStatus.DRAFT:
        raise DomainError("An approved change order is part of the contract; write another.")
    number, title = _change_order_names(commitment, number, title, order=order)
    lines = _change_lines(commitment, rows)
    before = _change_order_summary(order)
    order.number, order.title = number, title
    order.lines[:] = lines
    db.session.flush()
    audit.record(
        "invoicing:change_order:updated",
        actor_user_id=actor_user_id,
        **_about_order(order),
        before=before,
        after=_change_order_summary(order),
    )


def approve_change_order(order: ChangeOrder, *, actor_user_id: int) -> None:
    """Approve a change order: its amounts join the lines they change, its new lines join
    the schedule of values, and the contract sum to date moves by its total."""
    commitment = order.commitment
    _refuse_archived(commitment.project)
    order.check_move(ChangeOrderStatus.APPROVED)
    # Lock the commitment: two change orders approved at once must both land on its sum.
    db.session.execute(
        sa.select(Commitment.id).where(Commitment.id == commitment.id).with_for_update()
    )
    db.session.refresh(commitment)
    for line in commitment.lines:
        db.session.expire(line)  # read as they are now, under the lock
    for change in order.lines:
        if (
            change.sov_line_id is not None
            and change.sov_line.scheduled_value_cents + (change.amount_cents) < 0
        ):
            raise InvalidInput(
                f"Line {change.sov_line.position} would be scheduled below zero; an approved "
                "change order changed it meanwhile.",
                field="lines",
            )
    if not update_if(
        order,
        ChangeOrder.status == ChangeOrderStatus.DRAFT,
        status=ChangeOrderStatus.APPROVED,
        approved_at=utcnow(),
        approved_by_user_id=actor_user_id,
    ):
        raise DomainError("This change order was approved meanwhile.")
    position = max((line.position for line in commitment.lines), default=0)
    for change in order.lines:
        if change.sov_line_id is not None:
            change.sov_line.scheduled_value_cents += change.amount_cents
        else:
            position += 1
            commitment.lines.append(
                SovLine(
                    position=position,
                    code=change.code,
                    description=change.description,
                    original_value_cents=0,
                    scheduled_value_cents=change.amount_cents,
                    retainage_bps=change.retainage_bps,
                    added_by_change_order_id=order.id,
                )
            )
    commitment.approved_changes_cents += order.amount_cents
    db.session.flush()
    audit.record(
        "invoicing:change_order:approved",
        actor_user_id=actor_user_id,
        **_about_order(order),
        after={
            "commitment": commitment.number,
            "number": order.number,
            "amount": format_cents(order.amount_cents),
            "contract_sum_to_date": format_cents(commitment.contract_sum_cents),
        },
    )


def _change_order_names(
    commitment: Commitment, number: str, title: str, *, order: ChangeOrder | None = None
) -> tuple[str, str]:
    number, title = one_line(number), one_line(title)
    if not number:
        raise InvalidInput("Enter the change order's number.", field="number")
    if not title:
        raise InvalidInput("Enter what the change order is for.", field="title")
    if len(number) > 40 or len(title) > 200:
        raise InvalidInput(
            "The number is at most 40 characters and the title at most 200.", field="title"
        )
    if any(other.number == number and other is not order for other in commitment.change_orders):
        raise InvalidInput("Another change order already has that number.", field="number")
    return number, title


def _change_lines(commitment: Commitment, rows: list[ChangeInput]) -> list[ChangeOrderLine]:
    lines = []
    changed: set[int] = set()
    for number, row in enumerate((r for r in rows if not r.blank), start=1):
        amount = _line_amount(number, row.amount, "amount", allow_negative=True)
        if row.line_id is not None:
            line = _line_of(commitment, row.line_id)
            if line.id in changed:
                raise InvalidInput(
                    f"Line {number}: line {line.position} is already changed above; give it "
                    "one amount.",
                    field="lines",
                )
            changed.add(line.id)
            if line.scheduled_value_cents + amount < 0:
                raise InvalidInput(
                    f"Line {number}: line {line.position} is scheduled at "
                    f"{format_cents(line.scheduled_value_cents)}; it cannot go below zero.",
                    field="lines",
                )
            lines.append(ChangeOrderLine(sov_line_id=line.id, amount_cents=amount))
            continue
        description = one_line(row.description)
        if not description:
            raise InvalidInput(
                f"Line {number}: choose the line it changes, or describe the new line.",
                field="lines",
            )
        if len(description) > 200 or len(one_line(row.code)) > 40:
            raise InvalidInput(
                f"Line {number}: the cost code is at most 40 characters and the "
                "description at most 200.",
                field="lines",
            )
        if amount < 0:
            raise InvalidInput(
                f"Line {number}: a new line adds work; its amount cannot be negative.",
                field="lines",
            )
        retainage = (
            _line_percent(number, row.retainage)
            if row.retainage.strip()
            else commitment.default_retainage_bps
        )
        lines.append(
            ChangeOrderLine(
                code=one_line(row.code),
                description=description,
                amount_cents=amount,
                retainage_bps=retainage,
            )
        )
    if not lines:
        raise InvalidInput("Enter at least one change.", field="lines")
    return lines


# --------------------------------------------------------------------------- billing periods

MAX_MONTHS_AT_ONCE = 24
# An invite to bill goes to the same inboxes at most once an hour.
INVITE_TO_BILL_INTERVAL = timedelta(hours=1)


def create_billing_period(
    project: Project, *, starts_on: date, ends_on: date, due_on: date, actor_user_id: int
) -> BillingPeriod:
    """Add one billing period to a project (it may not overlap another)."""
    return _add_periods(project, [(starts_on, ends_on, due_on)], actor_user_id=actor_user_id)[0]


def create_monthly_periods(
    project: Project, *, first_month: date, months: int, due_day: int, actor_user_id: int
) -> list[BillingPeriod]:
    """Add a period for each of ``months`` calendar months from ``first_month``, each due
    on its ``due_day`` (or its last day, in a shorter month). All or nothing."""
    if not 1 <= months <= MAX_MONTHS_AT_ONCE:
        raise InvalidInput(
            f"Add between 1 and {MAX_MONTHS_AT_ONCE} months at once.", field="months"
        )
    if not 1 <= due_day <= 31:
        raise InvalidInput("The due day is a day of the month, 1 to 31.", field="due_day")
    windows = []
    year, month = first_month.year, first_month.month
    for _ in range(months):
        last = calendar.monthrange(year, month)[1]
        windows.append(
            (date(year, month, 1), date(year, month, last), date(year, month, min(due_day, last)))
        )
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return _add_periods(project, windows, actor_user_id=actor_user_id)


def _add_periods(
    project: Project, windows: list[tuple[date, date, date]], *, actor_user_id: int
) -> list[BillingPeriod]:
    _refuse_archived(project)
    for starts_on, ends_on, due_on in windows:
        if ends_on < starts_on:
            raise InvalidInput("The period ends before it starts.", field="ends_on")
        if due_on < starts_on:
            raise InvalidInput("Invoices cannot be due before the period starts.", field="due_on")
        if (ends_on - starts_on).days > 92:
            raise InvalidInput("A billing period is at most three months long.", field="ends_on")
    # Lock the project: two people adding periods at once cannot make them overlap.
    db.session.execute(sa.select(Project.id).where(Project.id == project.id).with_for_update())
    first, last = min(w[0] for w in windows), max(w[1] for w in windows)
    existing = list(
        db.session.scalars(
            sa.select(BillingPeriod).where(
                BillingPeriod.project_id == project.id,
                BillingPeriod.starts_on <= last,
                BillingPeriod.ends_on >= first,
            )
        )
    )
    for starts_on, ends_on, _ in windows:
        for other in existing:
            if other.starts_on <= ends_on and other.ends_on >= starts_on:
                raise InvalidInput(
                    f"It would overlap the billing period {other.name}: a project's periods "
                    "never overlap.",
                    field="starts_on",
                )
    periods = [
        BillingPeriod(
            company_id=project.company_id,
            project_id=project.id,
            starts_on=starts_on,
            ends_on=ends_on,
            due_on=due_on,
            created_by_user_id=actor_user_id,
        )
        for starts_on, ends_on, due_on in windows
    ]
    db.session.add_all(periods)
    db.session.flush()
    for period in periods:
        audit.record(
            "invoicing:billing_period:created",
            actor_user_id=actor_user_id,
            company_id=project.company_id,
            object_type="billing_period",
            object_id=period.id,
            after={
                "project": project.name,
                "period": period.name,
                "due_on": period.due_on.isoformat(),
            },
        )
    return periods


def invite_to_bill(period: BillingPeriod, *, actor_user_id: int) -> int:
    """Email each invoice contact of the project's approved commitments that the period is
    open for their invoices; return how many were written to."""
    project = db.session.get(Project, period.project_id)
    _refuse_archived(project)
    if period.status_on(policies.billing_date()) is BillingPeriodStatus.CLOSED:
        raise DomainError(f"{period.name} is closed: its invoices were due {period.due_on:%B %-d}.")
    now = utcnow()
    if period.invited_at is not None and now - period.invited_at < INVITE_TO_BILL_INTERVAL:
        raise DomainError(
            f"The invoice contacts were invited to bill {period.name} at "
            f"{period.invited_at:%H:%M} UTC; invite them again after an hour."
        )
    rows = db.session.execute(
        sa.select(Commitment, User.email)
        .join(CommitmentContact, CommitmentContact.commitment_id == Commitment.id)
        .join(User, User.id == CommitmentContact.user_id)
        .where(
            Commitment.project_id == project.id,
            Commitment.status == CommitmentStatus.APPROVED,
            User.is_active,
        )
        .order_by(Commitment.number, User.email)
    ).all()
    if not rows:
        raise DomainError(
            "No approved commitment on this project has an invoice contact yet: approve a "
            "commitment and name its contacts first."
        )
    payor = db.session.get(Company, project.company_id)
    by_email: dict[str, list[str]] = {}
    for commitment, email in rows:
        by_email.setdefault(email, []).append(f"{commitment.number} · {commitment.title}")
    for email, names in by_email.items():
        queue_email(
            email,
            "invite_to_bill",
            company_id=payor.id,
            payor=payor.name,
            project=project.name,
            period=period.name,
            due_on=f"{period.due_on:%B %-d, %Y}",
            commitments=names,
            url=external_url("invoicing.list_billing"),
        )
    if not update_if(
        period,
        sa.or_(BillingPeriod.invited_at.is_(None), BillingPeriod.invited_at == period.invited_at),
        invited_at=now,
        invited_by_user_id=actor_user_id,
    ):
        raise DomainError("Someone invited them to bill this period just now.")
    audit.record(
        "invoicing:billing_period:invited_to_bill",
        actor_user_id=actor_user_id,
        company_id=project.company_id,
        object_type="billing_period",
        object_id=period.id,
        after={"period": period.name, "project": project.name, "contacts": len(by_email)},
    )
    return len(by_email)


# --------------------------------------------------------------------------- helpers


def _commitment_facts(
    number: str, title: str, contract_sum: str, default_retainage: str
) -> dict[str, object]:
    number, title = one_line(number), one_line(title)
    if not number:
        raise InvalidInput("Enter the commitment's number.", field="number")
    if not title:
        raise InvalidInput("Enter the commitment's title.", field="title")
    if len(number) > 40:
        raise InvalidInput("The number is at most 40 characters.", field="number")
    if len(title) > 200:
        raise InvalidInput("The title is at most 200 characters.", field="title")
    try:
        sum_cents = parse_amount(contract_sum)
    except InvalidInput as error:
        raise InvalidInput(error.message, field="contract_sum") from None
    try:
        retainage = parse_percent(default_retainage)
    except InvalidInput as error:
        raise InvalidInput(error.message, field="default_retainage") from None
    return {
        "number": number,
        "title": title,
        "original_sum_cents": sum_cents,
        "default_retainage_bps": retainage,
    }


def _shown(field: str, value: object) -> object:
    if field == "original_sum_cents":
        return format_cents(value)
    if field == "default_retainage_bps":
        return format_bps(value)
    return value


def _refuse_taken_number(project_id: int, number: str) -> None:
    if db.session.scalar(
        sa.select(Commitment.id).where(
            Commitment.project_id == project_id, Commitment.number == number
        )
    ):
        raise InvalidInput(
            "Another commitment on this project already has that number.", field="number"
        )


def _refuse_unless_draft(commitment: Commitment, what: str) -> None:
    _refuse_archived(commitment.project)
    if commitment.status is not CommitmentStatus.DRAFT:
        raise DomainError(f"An approved commitment cannot be {what}.")


def _line_of(commitment: Commitment, line_id: int) -> SovLine:
    for line in commitment.lines:
        if line.id == line_id:
            return line
    raise InvalidInput("Choose one of this commitment's lines.", field="lines")


def _line_amount(number: int, text: str, what: str, *, allow_negative: bool = False) -> int:
    try:
        return parse_amount(text, allow_negative=allow_negative)
    except InvalidInput as error:
        raise InvalidInput(f"Line {number}, {what}: {error.message}", field="lines") from None


def _line_percent(number: int, text: str) -> int:
    try:
        return parse_percent(text)
    except InvalidInput as error:
        raise InvalidInput(f"Line {number}, retainage: {error.message}", field="lines") from None


def _sum_mismatch(total: int, contract_sum: int) -> str:
    difference = total - contract_sum
    return (
        f"The lines add up to {format_cents(total)}, but the contract sum is "
        f"{format_cents(contract_sum)}: they are {format_cents(abs(difference))} "
        f"{'over' if difference > 0 else 'short'}."
    )


def _schedule_summary(lines: list[SovLine]) -> dict[str, object]:
    return {
        "lines": len(lines),
        "total": format_cents(sum(line.scheduled_value_cents for line in lines)),
    }


def _change_order_summary(order: ChangeOrder) -> dict[str, object]:
    return {
        "commitment": order.commitment.number,
        "number": order.number,
        "title": order.title,
        "lines": len(order.lines),
        "amount": format_cents(order.amount_cents),
    }


def _about(commitment: Commitment) -> dict[str, object]:
    """Where a commitment's audit event belongs: the payor's history, the commitment."""
    return {
        "company_id": commitment.company_id,
        "object_type": "commitment",
        "object_id": commitment.id,
    }


def _about_order(order: ChangeOrder) -> dict[str, object]:
    return {
        "company_id": order.commitment.company_id,
        "object_type": "change_order",
        "object_id": order.id,
    }


# --------------------------------------------------------------------------- invoices


@dataclass(frozen=True)
class LineBill:
    """What one line bills, as typed: work this period (an amount, or a % of the line's
    scheduled value such as ``25%``) and materials presently stored."""

    sov_line_id: int
    this_period: str
    stored: str


def start_invoice(
    commitment: Commitment,
    period: BillingPeriod,
    *,
    billing_type: BillingType,
    actor_user_id: int,
    on_behalf: bool,
) -> Invoice:
    """Open the commitment's next pay application for ``period`` (a draft to fill in).

    The payee's invoice contact may open one while the period is open; a payor's admin may
    open one on the payee's behalf at any time."""
    project = commitment.project
    _refuse_archived(project)
    # One at a time per commitment: two invoices started at once get different numbers.
    db.session.execute(
        sa.select(Commitment.id).where(Commitment.id == commitment.id).with_for_update()
    )
    if commitment.status is not CommitmentStatus.APPROVED:
        raise DomainError("Invoices bill approved commitments only.")
    if commitment.payee_company_id is None:
        raise DomainError("The payee is not on Trestle Pay yet.")
    if period.project_id != commitment.project_id:
        raise InvalidInput("Choose one of this project's billing periods.", field="period_id")
    if not on_behalf:
        _refuse_closed(period)
    invoices = _invoices_of(commitment)
    if any(invoice.billing_period_id == period.id for invoice in invoices):
        raise InvalidInput(
            f"{commitment.number} already has an invoice for {period.name}.", field="period_id"
        )
    previous = invoices[-1] if invoices else None
    if previous is not None:
        if previous.status not in APPROVED_STATES:
            raise DomainError(
                f"Invoice {previous.number} of {commitment.number} is "
                f"{previous.status.label.lower()}: the next one starts once it is approved."
            )
        if previous.billing_type is BillingType.RETAINAGE_RELEASE:
            raise DomainError(f"{commitment.number} is fully billed and its retainage released.")
        if previous.billing_type is BillingType.FINAL and (
            billing_type is not BillingType.RETAINAGE_RELEASE
        ):
            raise InvalidInput(
                "After the final invoice only a retainage release is left to bill.",
                field="billing_type",
            )
        if previous.period_ends_after(period):
            raise InvalidInput(
                f"Invoice {previous.number} already billed through "
                f"{previous.billing_period.name}: choose a later period.",
                field="period_id",
            )
    if billing_type is BillingType.RETAINAGE_RELEASE:
        _refuse_unfinished(commitment, previous)
    invoice = Invoice(
        company_id=commitment.company_id,
        payee_company_id=commitment.payee_company_id,
        project_id=commitment.project_id,
        commitment=commitment,
        billing_period=period,
        number=previous.number + 1 if previous else 1,
        billing_type=billing_type,
        created_by_user_id=actor_user_id,
        on_behalf=on_behalf,
    )
    _refresh_sheet(invoice, previous)
    db.session.add(invoice)
    db.session.flush()
    audit.record(
        "invoicing:invoice:created",
        actor_user_id=actor_user_id,
        **_about_invoice(invoice),
        after={
            "commitment": commitment.number,
            "number": invoice.number,
            "period": period.name,
            "billing_type": billing_type.label,
            "on_behalf": on_behalf,
        },
    )
    return invoice


def save_invoice(
    invoice: Invoice, bills: list[LineBill], note: str, *, actor_user_id: int
) -> PayApplication:
    """Fill in what each line bills; the G702 figures follow. All or nothing: one bad
    amount or one line past 100% saves none of it."""
    _lock(invoice)
    _refuse_unless_editable(invoice)
    previous = _previous_of(invoice)
    _refresh_sheet(invoice, previous)
    by_line = {line.sov_line_id: line for line in invoice.lines}
    entered: dict[int, tuple[int, int]] = {}
    for bill in bills:
        line = by_line.get(bill.sov_line_id)
        if line is None:
            raise InvalidInput("Bill this invoice's own lines.", field="lines")
        entered[line.sov_line_id] = (
            _this_period(line, bill.this_period),
            _cents_of(line.item, bill.stored, "stored materials"),
        )
    if invoice.billing_type is BillingType.RETAINAGE_RELEASE and any(
        work or stored for work, stored in entered.values()
    ):
        raise InvalidInput(
            "A retainage release bills no work: it releases what was retained.", field="lines"
        )
    for line in invoice.lines:
        line.this_period_cents, line.stored_cents = entered.get(line.sov_line_id, (0, 0))
    note = clean_text(note or "").strip()
    if len(note) > 2000:
        raise InvalidInput("The note is at most 2,000 characters.", field="payee_note")
    sheet = _check_sheet(invoice)
    before = format_cents(invoice.current_due_cents)
    _keep_figures(invoice, sheet)
    invoice.payee_note = note
    db.session.flush()
    audit.record(
        "invoicing:invoice:saved",
        actor_user_id=actor_user_id,
        **_about_invoice(invoice),
        before={"current_payment_due": before},
        after={
            "commitment": invoice.commitment.number,
            "number": invoice.number,
            "current_payment_due": format_cents(invoice.current_due_cents),
        },
    )
    return sheet


def submit_invoice(invoice: Invoice, *, actor_user_id: int, on_behalf: bool) -> None:
    """Send the invoice for review (again, after revise and resubmit: a returned invoice
    was submitted in time, so its period's due date no longer stops it)."""
    _lock(invoice)
    _refuse_unless_editable(invoice)
    if not on_behalf and invoice.round == 0:
        _refuse_closed(invoice.billing_period)
    sheet = _check_sheet(invoice)
    if invoice.billing_type is not BillingType.RETAINAGE_RELEASE and not (
        sheet.this_period or sheet.stored
    ):
        raise InvalidInput(
            "Nothing is billed this period: enter work completed or materials stored.",
            field="lines",
        )
    was = invoice.status
    invoice.check_move(InvoiceStatus.UNDER_REVIEW)
    now = utcnow()
    if not update_if(
        invoice,
        Invoice.status == was,
        status=InvoiceStatus.UNDER_REVIEW,
        round=invoice.round + 1,
        submitted_at=now,
        submitted_by_user_id=actor_user_id,
    ):
        raise DomainError("This invoice was submitted meanwhile.")
    db.session.add(
        InvoiceEvent(
            invoice_id=invoice.id,
            round=invoice.round,
            decision=ReviewDecision.SUBMITTED,
            at=now,
            by_user_id=actor_user_id,
            comment=invoice.payee_note,
            current_due_cents=invoice.current_due_cents,
            lines=[
                {
                    "item": line.item,
                    "this_period_cents": line.this_period_cents,
                    "stored_cents": line.stored_cents,
                }
                for line in invoice.lines
            ],
        )
    )
    audit.record(
        "invoicing:invoice:submitted",
        actor_user_id=actor_user_id,
        **_about_invoice(invoice),
        before={"status": was.label},
        after={
            "commitment": invoice.commitment.number,
            "number": invoice.number,
            "round": invoice.round,
            "status": InvoiceStatus.UNDER_REVIEW.label,
            "current_payment_due": format_cents(invoice.current_due_cents),
        },
    )
    invoice_submitted.send(invoice, actor_user_id=actor_user_id)


DECISIONS = {
    InvoiceStatus.APPROVED: ReviewDecision.APPROVED,
    InvoiceStatus.APPROVED_AS_NOTED: ReviewDecision.APPROVED_AS_NOTED,
    InvoiceStatus.REVISE_AND_RESUBMIT: ReviewDecision.REVISE_AND_RESUBMIT,
}
DECISION_ACTIONS = {
    InvoiceStatus.APPROVED: "invoicing:invoice:approved",
    InvoiceStatus.APPROVED_AS_NOTED: "invoicing:invoice:approved_as_noted",
    InvoiceStatus.REVISE_AND_RESUBMIT: "invoicing:invoice:revise_and_resubmit",
}


def decide_invoice(
    invoice: Invoice,
    decision: InvoiceStatus,
    *,
    comment: str,
    line_comments: dict[int, str],
    actor_user_id: int,
) -> None:
    """Approve, approve as noted, or send back to revise and resubmit (with what to fix:
    a comment on the invoice or on its lines). Kept in the invoice's history."""
    if decision not in DECISIONS:
        raise InvalidInput("Choose approve, approve as noted, or revise and resubmit.")
    invoice.check_move(decision)
    comment = clean_text(comment or "").strip()
    items = {line.item for line in invoice.lines}
    notes = {
        item: clean_text(text).strip()
        for item, text in line_comments.items()
        if item in items and clean_text(text or "").strip()
    }
    if len(comment) > 4000 or any(len(text) > 1000 for text in notes.values()):
        raise InvalidInput(
            "Comments are at most 4,000 characters, and 1,000 per line.", field="comment"
        )
    if decision is InvoiceStatus.APPROVED_AS_NOTED and not (comment or notes):
        raise InvalidInput("Write the note it is approved with.", field="comment")
    if decision is InvoiceStatus.REVISE_AND_RESUBMIT and not (comment or notes):
        raise InvalidInput(
            "Say what to revise: a comment on the invoice or on the lines to change.",
            field="comment",
        )
    now = utcnow()
    approving = decision in APPROVED_STATES
    if not update_if(
        invoice,
        Invoice.status == InvoiceStatus.UNDER_REVIEW,
        status=decision,
        decided_at=now,
        approved_by_user_id=actor_user_id if approving else invoice.approved_by_user_id,
    ):
        raise DomainError("This invoice was decided meanwhile.")
    db.session.add(
        InvoiceEvent(
            invoice_id=invoice.id,
            round=invoice.round,
            decision=DECISIONS[decision],
            at=now,
            by_user_id=actor_user_id,
            comment=comment,
            current_due_cents=invoice.current_due_cents,
            lines=[{"item": item, "comment": text} for item, text in sorted(notes.items())],
        )
    )
    audit.record(
        DECISION_ACTIONS[decision],
        actor_user_id=actor_user_id,
        **_about_invoice(invoice),
        before={"status": InvoiceStatus.UNDER_REVIEW.label},
        after={
            "commitment": invoice.commitment.number,
            "number": invoice.number,
            "round": invoice.round,
            "status": decision.label,
            "comment": comment,
            "line_comments": {str(item): text for item, text in notes.items()},
        },
    )
    contacts = [c.user.email for c in invoice.commitment.contacts if c.user.is_active]
    payor = db.session.get(Company, invoice.company_id)
    for email in contacts:
        queue_email(
            email,
            "invoice_decided",
            company_id=invoice.company_id,
            payor=payor.name,
            commitment=f"{invoice.commitment.number} · {invoice.commitment.title}",
            number=invoice.number,
            period=invoice.billing_period.name,
            decision=decision.label,
            comment=comment,
            line_comments=[(item, text) for item, text in sorted(notes.items())],
            url=external_url("invoicing.show_invoice", invoice_id=invoice.id),
        )


def sheet_of(invoice: Invoice) -> PayApplication:
    """The invoice's G702/G703 as it stands."""
    return PayApplication(
        original_contract_sum=invoice.original_contract_sum_cents,
        net_change_by_change_orders=invoice.net_change_cents,
        lines=tuple(
            SheetLine(
                line.item,
                line.description,
                line.scheduled_value_cents,
                line.previous_completed_cents,
                line.this_period_cents,
                line.stored_cents,
                line.retainage_bps,
            )
            for line in invoice.lines
        ),
        previous_certificates=invoice.previous_certificates_cents,
    )


def is_latest(invoice: Invoice) -> bool:
    return _invoices_of(invoice.commitment)[-1].id == invoice.id


def _invoices_of(commitment: Commitment) -> list[Invoice]:
    return list(
        db.session.scalars(
            sa.select(Invoice)
            .where(Invoice.commitment_id == commitment.id)
            .order_by(Invoice.number)
        )
    )


def _previous_of(invoice: Invoice) -> Invoice | None:
    return db.session.scalar(
        sa.select(Invoice).where(
            Invoice.commitment_id == invoice.commitment_id, Invoice.number == invoice.number - 1
        )
    )


def _lock(invoice: Invoice) -> None:
    """Hold the invoice's row and read it (and its lines) as they are now."""
    db.session.execute(sa.select(Invoice.id).where(Invoice.id == invoice.id).with_for_update())
    db.session.refresh(invoice)
    for line in invoice.lines:
        db.session.refresh(line)


def _refresh_sheet(invoice: Invoice, previous: Invoice | None) -> None:
    """Bring an editable invoice's lines to its commitment as it is now (a change order
    approved meanwhile changes a line or adds one), keeping what each line bills."""
    commitment = invoice.commitment
    done = {
        line.sov_line_id: line.previous_completed_cents + line.this_period_cents
        for line in (previous.lines if previous else [])
    }
    releasing = invoice.billing_type is BillingType.RETAINAGE_RELEASE
    current = {line.sov_line_id: line for line in invoice.lines}
    for sov in commitment.lines:
        line = current.get(sov.id)
        if line is None:
            line = InvoiceLine(sov_line_id=sov.id, this_period_cents=0, stored_cents=0)
            invoice.lines.append(line)
        line.item = sov.position
        line.description = sov.description
        line.scheduled_value_cents = sov.scheduled_value_cents
        line.previous_completed_cents = done.get(sov.id, 0)
        line.retainage_bps = 0 if releasing else sov.retainage_bps
    invoice.original_contract_sum_cents = commitment.original_sum_cents
    invoice.net_change_cents = commitment.approved_changes_cents
    invoice.previous_certificates_cents = (
        previous.earned_less_retainage_cents if previous is not None else 0
    )
    _keep_figures(invoice, sheet_of(invoice))


def _check_sheet(invoice: Invoice) -> PayApplication:
    sheet = sheet_of(invoice)
    if problems := sheet.problems():
        raise InvalidInput(" ".join(problems), field="lines")
    if invoice.billing_type is BillingType.FINAL and any(
        line.balance_to_finish or line.stored for line in sheet.lines
    ):
        raise InvalidInput(
            "A final invoice bills every line to 100% as work completed (nothing left stored): "
            + ", ".join(
                f"line {line.item} has {format_cents(line.balance_to_finish + line.stored)} left"
                for line in sheet.lines
                if line.balance_to_finish or line.stored
            )
            + ".",
            field="lines",
        )
    if sheet.current_payment_due < 0:
        raise InvalidInput(
            f"This invoice would certify {format_cents(-sheet.current_payment_due)} less than "
            "the invoices before it: stored materials that were installed are billed as work "
            "this period.",
            field="lines",
        )
    return sheet


def _keep_figures(invoice: Invoice, sheet: PayApplication) -> None:
    invoice.completed_stored_cents = sheet.total_completed_and_stored
    invoice.retainage_completed_cents = sheet.retainage_on_completed
    invoice.retainage_stored_cents = sheet.retainage_on_stored
    invoice.current_due_cents = sheet.current_payment_due


def _this_period(line: InvoiceLine, text: str) -> int:
    raw = (text or "").strip()
    if raw.endswith("%"):
        try:
            bps = parse_percent(raw)
        except InvalidInput as error:
            raise InvalidInput(
                f"Line {line.item}, work this period: {error.message}", field="lines"
            ) from None
        return share_of(line.scheduled_value_cents, bps)
    return _cents_of(line.item, raw, "work this period")


def _cents_of(item: int, text: str, what: str) -> int:
    if not (text or "").strip():
        return 0
    try:
        return parse_amount(text, allow_zero=True)
    except InvalidInput as error:
        raise InvalidInput(f"Line {item}, {what}: {error.message}", field="lines") from None


def _refuse_unless_editable(invoice: Invoice) -> None:
    _refuse_archived(invoice.commitment.project)
    if not invoice.editable:
        raise DomainError(
            f"Invoice {invoice.number} is {invoice.status.label.lower()}: it can no longer be "
            "changed."
        )
    if not is_latest(invoice):
        raise DomainError("Only the latest invoice of a commitment can be changed.")


def _refuse_closed(period: BillingPeriod) -> None:
    status = period.status_on(policies.billing_date())
    if status is BillingPeriodStatus.CLOSED:
        raise DomainError(
            f"{period.name} closed on {period.due_on:%B %-d, %Y}: invoices for it were due "
            "then. Ask the general contractor to enter it on your behalf."
        )
    if status is BillingPeriodStatus.UPCOMING:
        raise DomainError(f"{period.name} opens on {period.starts_on:%B %-d, %Y}.")


def _refuse_unfinished(commitment: Commitment, previous: Invoice | None) -> None:
    if (
        previous is None
        or any(
            line.previous_completed_cents + line.this_period_cents != line.scheduled_value_cents
            or line.stored_cents
            for line in previous.lines
        )
        or len(previous.lines) != len(commitment.lines)
    ):
        raise InvalidInput(
            "Retainage is released once every line is billed to 100% as work completed.",
            field="billing_type",
        )


def _about_invoice(invoice: Invoice) -> dict[str, object]:
    return {"company_id": invoice.company_id, "object_type": "invoice", "object_id": invoice.id}


MAX_ATTACHMENTS = 20


def attach_to_invoice(
    invoice: Invoice, stream: IO[bytes], filename: str, *, actor_user_id: int
) -> InvoiceAttachment:
    """Keep a file with the invoice (a PDF, PNG or JPEG of at most 10 MB, checked by its
    content), while the payee may still change it."""
    _refuse_unless_editable(invoice)
    if len(invoice.attachments) >= MAX_ATTACHMENTS:
        raise InvalidInput(
            f"An invoice has at most {MAX_ATTACHMENTS} attachments.", field="attachment"
        )
    try:
        record = storage.save_file(
            stream,
            original_name=filename,
            kind="invoice_attachment",
            rules=storage.DOCUMENTS,
            company_id=invoice.payee_company_id,
            uploaded_by_user_id=actor_user_id,
        )
    except InvalidInput as error:
        raise InvalidInput(error.message, field="attachment") from None
    attachment = InvoiceAttachment(file=record, uploaded_by_user_id=actor_user_id)
    invoice.attachments.append(attachment)
    db.session.flush()
    audit.record(
        "invoicing:invoice:attached",
        actor_user_id=actor_user_id,
        **_about_invoice(invoice),
        after={
            "commitment": invoice.commitment.number,
            "number": invoice.number,
            "file": record.original_name,
            "sha256": record.sha256,
        },
    )
    return attachment


def pdf_of(invoice: Invoice) -> bytes:
    """The invoice's G702/G703 as a PDF."""
    project = invoice.commitment.project
    with tenancy.unscoped():  # both names print on the form, whoever asks for it
        payor = db.session.get(Company, invoice.company_id)
        payee = db.session.get(Company, invoice.payee_company_id)
    heading = pdf.Heading(
        payor=payor.name,
        payee=payee.name,
        project=project.name,
        project_address=(
            f"{project.address_line1}, {project.city}, {project.region} {project.postal_code}"
        ),
        commitment=f"{invoice.commitment.number} · {invoice.commitment.title}",
        application_number=invoice.number,
        period=invoice.billing_period.name,
        period_to=invoice.billing_period.ends_on,
        billing_type=invoice.billing_type.label,
        status=invoice.status.label,
    )
    return pdf.render(heading, sheet_of(invoice))
