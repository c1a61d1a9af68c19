"""Operator look-ups across companies (deliberately unscoped), and the designation forms
a payor's own admins may also read."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import joinedload, lazyload

from portal.accounts.models import MfaStatus, User
from portal.companies.models import (
    PAYMENT_ROLES,
    Company,
    CompanyKind,
    Membership,
    MembershipInvitation,
    MembershipRole,
    Role,
)
from portal.core import tenancy
from portal.core.db import db, utcnow
from portal.core.errors import NotFound
from portal.core.models import StoredFile
from portal.core.status import Status, Tone
from portal.core.tables import Column, TablePage, TableState, matches_text, paginate
from portal.operations.models import (
    AdminDesignation,
    ImplementationProject,
    ProjectContact,
    TrainingSession,
    TrainingTopic,
)

USER_COLUMNS = (
    Column("email", "Email", sortable=True),
    Column("name", "Name", sortable=True),
    Column("payors", "Payors"),
    Column("mfa", "Two-step verification", sortable=True),
)


def user_list_state(args) -> TableState:
    return TableState.from_args(
        args, columns=USER_COLUMNS, default_sort="email", filters=("q", "mfa")
    )


@dataclass(frozen=True)
class PayorUserRow:
    user: User
    payors: list[str]


def payor_user_table(state: TableState) -> TablePage:
    """One page of the users who belong to a payor, searched by email or name and filtered by
    two-step verification, each with the names of their payors (two statements and a count)."""
    in_a_payor = (
        sa.select(Membership.id)
        .join(Company, Company.id == Membership.company_id)
        .where(Membership.user_id == User.id, Company.kind == CompanyKind.PAYOR)
        .exists()
    )
    stmt = sa.select(User).where(in_a_payor, matches_text(state.filter("q"), User.email, User.name))
    if state.filter("mfa") == MfaStatus.ENROLLED.value:
        stmt = stmt.where(User.totp_enrolled_at.is_not(None))
    elif state.filter("mfa") == MfaStatus.NOT_ENROLLED.value:
        stmt = stmt.where(User.totp_enrolled_at.is_(None))
    with tenancy.unscoped():
        page = paginate(
            stmt,
            state,
            {
                "email": User.email,
                "name": sa.func.lower(User.name),
                # Not set up first when ascending: those are whom the operator chases.
                "mfa": sa.case((User.totp_enrolled_at.is_(None), 0), else_=1),
            },
            tiebreak=User.id,
        )
        payors: dict[int, list[str]] = {user.id: [] for user in page.rows}
        if payors:
            for user_id, name in db.session.execute(
                sa.select(Membership.user_id, Company.name)
                .join(Company, Company.id == Membership.company_id)
                .where(Membership.user_id.in_(payors), Company.kind == CompanyKind.PAYOR)
                .order_by(sa.func.lower(Company.name))
            ):
                payors[user_id].append(name)
    return dataclasses.replace(page, rows=[PayorUserRow(u, payors[u.id]) for u in page.rows])


def payor_user(user_id: int) -> User:
    """A user who belongs to at least one payor (operators reset only those)."""
    with tenancy.unscoped():
        user = db.session.scalar(
            sa.select(User)
            .join(Membership, Membership.user_id == User.id)
            .join(Company, Company.id == Membership.company_id)
            .where(User.id == user_id, Company.kind == CompanyKind.PAYOR)
            .limit(1)
        )
    if user is None:
        raise NotFound("No such payor user.")
    return user


# --------------------------------------------------------------------------- payors


@dataclass(frozen=True)
class PayorRow:
    company: Company
    project: ImplementationProject | None

    @property
    def status(self) -> ImplementationStatus:
        if self.project is None:
            return ImplementationStatus.NOT_STARTED
        if self.project.closed_at:
            return ImplementationStatus.CLOSED
        return ImplementationStatus.IN_PROGRESS


PAYOR_COLUMNS = (
    Column("name", "Payor", sortable=True),
    Column("slug", "Short name", sortable=True),
    Column("implementation", "Implementation"),
)


def payors_statement(text: str = "") -> sa.Select:
    """Payors whose name or short name contains ``text``, with their implementation project
    (one row each, whatever the number of payors)."""
    return (
        sa.select(Company, ImplementationProject)
        .outerjoin(ImplementationProject, ImplementationProject.company_id == Company.id)
        .where(Company.kind == CompanyKind.PAYOR, matches_text(text, Company.name, Company.slug))
    )


def payor_table(state: TableState) -> TablePage:
    """One page of payors in the list's URL state (sort, search, page)."""
    with tenancy.unscoped():
        page = paginate(
            payors_statement(state.filter("q")),
            state,
            {
                "name": sa.func.lower(Company.name),
                "slug": Company.slug,
            },
            tiebreak=Company.id,
        )
    rows = [PayorRow(company, project) for company, project in page.rows]
    return dataclasses.replace(page, rows=rows)


def payor(company_id: int) -> Company:
    with tenancy.unscoped():
        company = db.session.get(Company, company_id)
    if company is None or company.kind is not CompanyKind.PAYOR:
        raise NotFound("No such payor.")
    return company


def project_for(company_id: int) -> ImplementationProject | None:
    with tenancy.unscoped():
        return db.session.scalar(
            sa.select(ImplementationProject).where(ImplementationProject.company_id == company_id)
        )


def payor_admins(company_id: int) -> list[Membership]:
    """The payor's Payments Admins, by name (few by design: each needs a signed form)."""
    with tenancy.unscoped():
        return list(
            db.session.scalars(
                sa.select(Membership)
                .join(User, User.id == Membership.user_id)
                .where(
                    Membership.company_id == company_id,
                    Membership.roles.any(MembershipRole.role == Role.PAYMENTS_ADMIN),
                )
                .order_by(sa.func.lower(User.name), Membership.id)
            ).unique()
        )


def payor_members_by_email(company_id: int, emails: list[str]) -> dict[str, Membership]:
    """The payor's memberships of the people with these emails (lower-cased), by email."""
    if not emails:
        return {}
    with tenancy.unscoped():
        members = db.session.scalars(
            sa.select(Membership)
            .join(User, User.id == Membership.user_id)
            .where(Membership.company_id == company_id, User.email.in_(emails))
        ).unique()
        return {m.user.email: m for m in members}


def payor_membership(company_id: int, membership_id: int) -> Membership:
    with tenancy.unscoped():
        membership = (
            db.session.scalars(
                sa.select(Membership).where(
                    Membership.id == membership_id, Membership.company_id == company_id
                )
            )
            .unique()
            .one_or_none()
        )
    if membership is None:
        raise NotFound("No such member of this payor.")
    return membership


def pending_invitations(company_id: int, limit: int = 10) -> RecentRows:
    """The newest invitations to join the payor that are neither accepted nor expired, and
    how many there are."""
    with tenancy.unscoped():
        return _recent(
            sa.select(MembershipInvitation)
            .where(
                MembershipInvitation.company_id == company_id,
                MembershipInvitation.accepted_at.is_(None),
                MembershipInvitation.expires_at > utcnow(),
            )
            .order_by(MembershipInvitation.id.desc()),
            limit,
        )


# --------------------------------------------------------------------------- designation forms
# Read in the caller's scope: the operator console's (unscoped) or the payor's own request's,
# so a payor's Payments Admin reaches only their own company's forms.


@dataclass(frozen=True)
class DesignationFormRow:
    designation: AdminDesignation
    stored: StoredFile
    uploaded_by: str
    designated: list[str]

    @property
    def file_size(self) -> str:
        size = self.stored.size_bytes
        if size < 1024:
            return f"{size} bytes"
        if size < 1024 * 1024:
            return f"{size / 1024:.0f} KB"
        return f"{size / (1024 * 1024):.1f} MB"


def designation_forms(company_id: int) -> list[DesignationFormRow]:
    """The payor's signed designation forms on file, newest first (two queries in all)."""
    rows = db.session.execute(
        sa.select(AdminDesignation, StoredFile, User.name)
        .join(StoredFile, StoredFile.id == AdminDesignation.stored_file_id)
        .outerjoin(User, User.id == AdminDesignation.uploaded_by_user_id)
        .where(AdminDesignation.company_id == company_id)
        .order_by(AdminDesignation.id.desc())
    ).all()
    user_ids = {user_id for designation, _, _ in rows for user_id in designation.user_ids}
    names = (
        dict(db.session.execute(sa.select(User.id, User.name).where(User.id.in_(user_ids))).all())
        if user_ids
        else {}
    )
    return [
        DesignationFormRow(
            designation,
            stored,
            uploader or "Unknown",
            [names.get(user_id, f"user #{user_id}") for user_id in designation.user_ids],
        )
        for designation, stored, uploader in rows
    ]


def designation_form(company_id: int, designation_id: int) -> AdminDesignation:
    designation = db.session.scalar(
        sa.select(AdminDesignation).where(
            AdminDesignation.id == designation_id, AdminDesignation.company_id == company_id
        )
    )
    if designation is None:
        raise NotFound("No such designation form.")
    return designation


# --------------------------------------------------------------------------- checklist


class ChecklistItemStatus(Status):
    DONE = "done", "Done", Tone.SUCCESS
    TO_DO = "to_do", "To do", Tone.WARNING
    NOT_AVAILABLE = "not_available", "Not available yet", Tone.NEUTRAL


class ImplementationStatus(Status):
    """Where a payor is on its way to the first production payment."""

    NOT_STARTED = "not_started", "Not started", Tone.NEUTRAL
    IN_PROGRESS = "in_progress", "In progress", Tone.PROGRESS  # step not computed (lists)
    INITIAL_SETUP = "initial_setup", "Step 1: initial setup", Tone.PROGRESS
    PAYMENT_READINESS = "payment_readiness", "Step 2: payment readiness", Tone.PROGRESS
    PAYMENT_TESTING = "payment_testing", "Step 3: testing and closeout", Tone.PROGRESS
    CLOSED = "closed", "Closed", Tone.SUCCESS


@dataclass(frozen=True)
class ChecklistItem:
    key: str
    label: str
    met: bool
    detail: str = ""
    available: bool = True  # False: depends on a capability that has not landed yet
    url: str = ""  # where to do it or, once done, to read it (beats the list's link for its key)

    @property
    def status(self) -> ChecklistItemStatus:
        if self.met:
            return ChecklistItemStatus.DONE
        return ChecklistItemStatus.TO_DO if self.available else ChecklistItemStatus.NOT_AVAILABLE


@dataclass(frozen=True)
class ChecklistStep:
    number: int
    title: str
    items: list[ChecklistItem]

    @property
    def met_count(self) -> int:
        return sum(item.met for item in self.items)

    @property
    def percent(self) -> int:
        return round(100 * self.met_count / len(self.items)) if self.items else 100


def _not_available(key: str, label: str) -> ChecklistItem:
    return ChecklistItem(
        key, label, False, "Not available yet: arrives with a later release.", available=False
    )


@dataclass(frozen=True)
class ChecklistFacts:
    """What one payor's checklist is derived from, read for many payors at once."""

    features: dict
    sso_configured: bool = False
    role_counts: dict[Role, int] = field(default_factory=dict)
    payments_users: int = 0
    without_mfa: list[str] = field(default_factory=list)  # emails
    deposit: tuple[str, str] | None = None  # bank name, last four
    entities: int = 0
    complete_entities: int = 0
    active_accounts: list[tuple[str, str]] = field(default_factory=list)  # nickname, last four
    trainings: dict[TrainingTopic, date] = field(default_factory=dict)  # latest held on
    approved_payees: int = 0
    payees: int = 0


def checklist_facts(
    company_ids: list[int], within: sa.Select | None = None
) -> dict[int, ChecklistFacts]:
    """The checklist's facts for every company of ``company_ids``, in a fixed number of
    statements (one per kind of fact, grouped by company), however many companies.

    ``within``, a SELECT of those same ids, stands in for the list in the statements: a long
    list is a bound parameter per id, which costs more to send than the subquery to run."""
    from portal.banking.models import DepositAccount
    from portal.companies.models import Feature, FeatureActivation
    from portal.onboarding.models import OnboardingStatus, PayeeRelationship
    from portal.payment_settings.models import BusinessEntity, FundingAccount
    from portal.payment_settings.services import entity_gaps
    from portal.sso.models import SsoConnection

    if not company_ids:
        return {}
    ids = list(company_ids)
    scope = within if within is not None else ids
    with tenancy.unscoped():
        enabled: dict[int, dict] = {company_id: {} for company_id in ids}
        for company_id, feature, on in db.session.execute(
            sa.select(
                FeatureActivation.company_id, FeatureActivation.feature, FeatureActivation.enabled
            ).where(FeatureActivation.company_id.in_(scope))
        ):
            enabled[company_id][feature] = on
        sso = set(
            db.session.scalars(
                sa.select(SsoConnection.company_id).where(
                    SsoConnection.company_id.in_(scope), SsoConnection.enabled.is_(True)
                )
            )
        )
        # Every role held at each company, with its holder's email and MFA state: role
        # counts and the payments users without MFA come from the same rows.
        role_counts: dict[int, dict[Role, int]] = {company_id: {} for company_id in ids}
        payments_people: dict[int, dict[str, bool]] = {company_id: {} for company_id in ids}
        for company_id, role, email, enrolled in db.session.execute(
            sa.select(
                Membership.company_id,
                MembershipRole.role,
                User.email,
                User.totp_enrolled_at.is_not(None),
            )
            .join(User, User.id == Membership.user_id)
            .join(MembershipRole, MembershipRole.membership_id == Membership.id)
            .where(Membership.company_id.in_(scope))
        ):
            role_counts[company_id][role] = role_counts[company_id].get(role, 0) + 1
            if role in PAYMENT_ROLES:
                payments_people[company_id][email] = enrolled
        trainings: dict[int, dict[TrainingTopic, date]] = {company_id: {} for company_id in ids}
        for company_id, topic, held_on in db.session.execute(
            sa.select(TrainingSession.company_id, TrainingSession.topic, TrainingSession.held_on)
            .where(TrainingSession.company_id.in_(scope))
            .order_by(TrainingSession.held_on)
        ):
            trainings[company_id][topic] = held_on  # the latest session of each topic
        deposits = {
            company_id: (bank, last4)
            for company_id, bank, last4 in db.session.execute(
                sa.select(
                    DepositAccount.company_id,
                    DepositAccount.bank_name,
                    DepositAccount.account_last4,
                ).where(DepositAccount.company_id.in_(scope))
            )
        }
        entities: dict[int, list] = {company_id: [] for company_id in ids}
        for entity in db.session.scalars(
            sa.select(BusinessEntity)
            .where(BusinessEntity.company_id.in_(scope))
            .options(joinedload(BusinessEntity.people), lazyload(BusinessEntity.funding_accounts))
        ).unique():
            entities[entity.company_id].append(entity)
        accounts: dict[int, list[tuple[str, str]]] = {company_id: [] for company_id in ids}
        for company_id, nickname, last4 in db.session.execute(
            sa.select(
                FundingAccount.company_id, FundingAccount.nickname, FundingAccount.account_last4
            )
            .where(FundingAccount.company_id.in_(scope), FundingAccount.active.is_(True))
            .order_by(FundingAccount.nickname)
        ):
            accounts[company_id].append((nickname, last4))
        payees: dict[int, dict[bool, int]] = {company_id: {} for company_id in ids}
        for company_id, status, count in db.session.execute(
            sa.select(PayeeRelationship.payor_id, PayeeRelationship.status, sa.func.count())
            .where(PayeeRelationship.payor_id.in_(scope))
            .group_by(PayeeRelationship.payor_id, PayeeRelationship.status)
        ):
            approved = status is OnboardingStatus.APPROVED
            payees[company_id][approved] = payees[company_id].get(approved, 0) + count
    return {
        company_id: ChecklistFacts(
            features={feature: enabled[company_id].get(feature, False) for feature in Feature},
            sso_configured=company_id in sso,
            role_counts=role_counts[company_id],
            payments_users=len(payments_people[company_id]),
            without_mfa=sorted(e for e, on in payments_people[company_id].items() if not on),
            trainings=trainings[company_id],
            deposit=deposits.get(company_id),
            entities=len(entities[company_id]),
            complete_entities=sum(not entity_gaps(e) for e in entities[company_id]),
            active_accounts=accounts[company_id],
            approved_payees=payees[company_id].get(True, 0),
            payees=sum(payees[company_id].values()),
        )
        for company_id in ids
    }


def implementation_checklist(
    company: Company, project: ImplementationProject | None, facts: ChecklistFacts | None = None
) -> list[ChecklistStep]:
    """The three steps, every item derived from the system's state (or recorded by an operator
    where only people can attest it). ``facts`` are read when not given."""
    if facts is None:
        facts = checklist_facts([company.id])[company.id]
    features = facts.features
    sso_configured = facts.sso_configured
    without_mfa = facts.without_mfa
    deposit = facts.deposit
    admins = facts.role_counts.get(Role.PAYMENTS_ADMIN, 0)
    disbursers = facts.role_counts.get(Role.DISBURSER, 0)
    off = [f.label for f, on in features.items() if not on]
    trainings = facts.trainings

    step1 = ChecklistStep(
        1,
        "Initial setup",
        [
            ChecklistItem(
                "features",
                "Features activated",
                not off,
                "All four are on." if not off else "Off: " + ", ".join(off) + ".",
            ),
            ChecklistItem(
                "sso",
                "Single sign-on configured or marked not used",
                sso_configured or bool(project and project.sso_not_used),
                "Configured."
                if sso_configured
                else (
                    "Marked not used." if project and project.sso_not_used else "Not configured."
                ),
            ),
            ChecklistItem(
                "mfa",
                "Every payments user enrolled in MFA",
                bool(facts.payments_users) and not without_mfa,
                "No payments users yet."
                if not facts.payments_users
                else (
                    "All enrolled."
                    if not without_mfa
                    else "Not yet: " + ", ".join(without_mfa) + "."
                ),
            ),
            ChecklistItem(
                "deposit_account",
                "Deposit account opened",
                deposit is not None,
                f"{deposit[0]} ••••{deposit[1]}" if deposit else "Not opened.",
            ),
            ChecklistItem(
                "admins",
                "Payments Admins designated",
                bool(admins),
                f"{admins} designated"
                + ("" if admins >= 2 else " (at least two are recommended)")
                + ".",
            ),
        ],
    )
    step2 = ChecklistStep(
        2,
        "Payment readiness",
        [
            ChecklistItem(
                "business_entity",
                "Business entity complete",
                bool(facts.complete_entities),
                f"{facts.complete_entities} of {facts.entities} complete."
                if facts.entities
                else "None added.",
            ),
            ChecklistItem(
                "funding_account",
                "Funding account added",
                bool(facts.active_accounts),
                ", ".join(f"{nickname} ••••{last4}" for nickname, last4 in facts.active_accounts)
                or "None added.",
            ),
            ChecklistItem(
                "disbursers",
                "Disbursers assigned",
                bool(disbursers),
                f"{disbursers} assigned.",
            ),
            ChecklistItem(
                "first_payees",
                "First payees onboarded and approved",
                bool(facts.approved_payees),
                f"{facts.approved_payees} of {facts.payees} payees ready for payment."
                if facts.payees
                else "No payee invited yet.",
            ),
            *[
                ChecklistItem(
                    f"training_{topic.value}",
                    f"Training held: {topic.label}",
                    topic in trainings,
                    f"Held {trainings[topic]:%B %-d, %Y}."
                    if topic in trainings
                    else "Not held yet.",
                )
                for topic in TrainingTopic
            ],
        ],
    )
    step3 = ChecklistStep(
        3,
        "Payment testing and closeout",
        [
            _not_available("test_drawdown", "Test drawdown succeeded for each funding account"),
            _not_available("first_production", "First production disbursement paid"),
            ChecklistItem(
                "lessons_learned",
                "Lessons learned recorded",
                bool(project and project.lessons_learned),
            ),
            ChecklistItem("project_closed", "Project closed", bool(project and project.closed_at)),
        ],
    )
    return [step1, step2, step3]


# Where a payor's own Payments Admin completes a checklist item (endpoint, anchor). Items
# missing here are done by the operator, and say so.
PAYOR_SCREENS: dict[str, tuple[str, str]] = {
    "sso": ("sso.setup", ""),
    "mfa": ("companies.list_members", ""),
    "business_entity": ("payment_settings.show", "entities-heading"),
    "funding_account": ("payment_settings.list_funding_accounts", "accounts-heading"),
    "disbursers": ("companies.list_members", ""),
    "first_payees": ("onboarding.list_payees", ""),
}

# Where an operator completes a checklist item for a payor (endpoint, anchor).
OPERATOR_SCREENS: dict[str, tuple[str, str]] = {
    "features": ("operations.show_payor", "features"),
    "sso": ("operations.setup_sso", ""),
    "mfa": ("operations.show_payor", "people-heading"),
    "deposit_account": ("operations.show_payor", "deposit-heading"),
    "admins": ("operations.show_payor", "admins-heading"),
    "training_payments_overview": ("operations.show_implementation", "training-heading"),
    "training_lien_waivers": ("operations.show_implementation", "training-heading"),
    "training_requirements_and_holds": ("operations.show_implementation", "training-heading"),
    "lessons_learned": ("operations.show_implementation", "lessons-heading"),
    "project_closed": ("operations.show_implementation", "closeout-heading"),
}


def checklist_links(company: Company, screens: dict[str, tuple[str, str]]) -> dict[str, str]:
    """For each checklist item, the URL of the screen (of ``screens``) that completes it."""
    from flask import url_for

    links = {}
    for key, (endpoint, anchor) in screens.items():
        args = {"company_id": company.id} if endpoint.startswith("operations.") else {}
        links[key] = url_for(endpoint, **args) + (f"#{anchor}" if anchor else "")
    return links


def left_before_close(steps: list[ChecklistStep]) -> list[ChecklistItem]:
    """What must still be done before the project may close."""
    items = [item for step in steps for item in step.items]
    return [item for item in items if not item.met and item.key != "project_closed"]


STEP_STATUSES = {
    1: ImplementationStatus.INITIAL_SETUP,
    2: ImplementationStatus.PAYMENT_READINESS,
    3: ImplementationStatus.PAYMENT_TESTING,
}


@dataclass(frozen=True)
class PayorProgress:
    """One payor's way to its first production payment, for the operator's work queue."""

    company: Company
    project: ImplementationProject | None
    status: ImplementationStatus
    percent: int
    blockers: list[ChecklistItem]


def implementation_progress(
    company: Company,
    project: ImplementationProject | None = None,
    facts: ChecklistFacts | None = None,
) -> PayorProgress:
    """Where the payor stands: its current step, percent of all items done, what is left.
    ``project`` and ``facts`` are read when not given (a list passes both)."""
    if facts is None:
        project = project_for(company.id)
    steps = implementation_checklist(company, project, facts)
    items = [item for step in steps for item in step.items]
    percent = round(100 * sum(item.met for item in items) / len(items))
    if project is None:
        status = ImplementationStatus.NOT_STARTED
    elif project.closed_at:
        status = ImplementationStatus.CLOSED
    else:
        current = next((s for s in steps if any(i.available and not i.met for i in s.items)), None)
        status = STEP_STATUSES[current.number if current else 3]
    blockers = [item for item in items if item.available and not item.met]
    return PayorProgress(company, project, status, percent, blockers)


@dataclass(frozen=True)
class PayorQueue:
    """The most stuck payors still in implementation, and how many there are in all."""

    rows: list[PayorProgress]
    total: int


def payors_by_progress(limit: int = 10) -> PayorQueue:
    """The payors whose implementation is not closed, most stuck first (least done, then
    longest under way): the first ``limit`` of them, in a fixed number of statements."""
    with tenancy.unscoped():
        open_payors = payors_statement().where(ImplementationProject.closed_at.is_(None))
        payors = db.session.execute(open_payors).all()
        facts = checklist_facts(
            [company.id for company, _ in payors],
            within=open_payors.with_only_columns(Company.id),
        )
    rows = [
        implementation_progress(company, project, facts[company.id]) for company, project in payors
    ]
    rows.sort(
        key=lambda p: (p.percent, p.project.created_at if p.project else p.company.created_at)
    )
    return PayorQueue(rows[:limit], len(rows))


# --------------------------------------------------------------------------- contacts, trainings
# Read in the caller's scope, like the designation forms: the operator console's (unscoped by
# ``operator_only``) or the payor's own request's, and always filtered by ``company_id``.

RECENT_LIMIT = 5


@dataclass(frozen=True)
class RecentRows:
    """The newest rows of a list, and how many there are in all."""

    rows: list
    total: int

    @property
    def has_more(self) -> bool:
        return self.total > len(self.rows)


def _recent(stmt: sa.Select, limit: int) -> RecentRows:
    # One statement: the window count is taken before LIMIT, so it counts every row.
    rows = db.session.execute(stmt.add_columns(sa.func.count().over()).limit(limit)).all()
    return RecentRows([row[0] for row in rows], rows[0][1] if rows else 0)


def recent_contacts(company_id: int, limit: int = RECENT_LIMIT) -> RecentRows:
    """The payor's newest key contacts and technical leads, and how many there are."""
    return _recent(
        sa.select(ProjectContact)
        .where(ProjectContact.company_id == company_id)
        .order_by(ProjectContact.id.desc()),
        limit,
    )


def recent_trainings(company_id: int, limit: int = RECENT_LIMIT) -> RecentRows:
    """The payor's latest training sessions (by the day held), and how many there are."""
    return _recent(
        sa.select(TrainingSession)
        .where(TrainingSession.company_id == company_id)
        .order_by(TrainingSession.held_on.desc(), TrainingSession.id.desc()),
        limit,
    )


CONTACT_COLUMNS = (
    Column("name", "Name", sortable=True),
    Column("kind", "Role"),
    Column("email", "Email", sortable=True),
    Column("phone", "Phone"),
)


def contact_list_state(args) -> TableState:
    return TableState.from_args(args, columns=CONTACT_COLUMNS, default_sort="name", filters=("q",))


def contact_table(company_id: int, state: TableState) -> TablePage:
    """One page of the payor's key contacts and technical leads, searched by name or email."""
    stmt = sa.select(ProjectContact).where(ProjectContact.company_id == company_id)
    stmt = stmt.where(matches_text(state.filter("q"), ProjectContact.name, ProjectContact.email))
    return paginate(
        stmt,
        state,
        {"name": sa.func.lower(ProjectContact.name), "email": ProjectContact.email},
        tiebreak=ProjectContact.id,
    )


TRAINING_COLUMNS = (
    Column("topic", "Topic"),
    Column("held_on", "Held on", sortable=True),
    Column("attendees", "Attendees"),
    Column("notes", "Notes"),
)


def training_list_state(args) -> TableState:
    return TableState.from_args(
        args, columns=TRAINING_COLUMNS, default_sort="held_on", default_direction="desc"
    )


def training_table(company_id: int, state: TableState) -> TablePage:
    """One page of the payor's training sessions, newest first unless the URL says otherwise."""
    return paginate(
        sa.select(TrainingSession).where(TrainingSession.company_id == company_id),
        state,
        {"held_on": TrainingSession.held_on},
        tiebreak=TrainingSession.id,
    )
