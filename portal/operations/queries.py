"""Operator look-ups across companies (deliberately unscoped)."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from portal.accounts.models import User
from portal.companies.models import (
    PAYMENT_ROLES,
    Company,
    CompanyKind,
    Membership,
    MembershipRole,
    Role,
)
from portal.core import tenancy
from portal.core.db import db
from portal.core.errors import NotFound
from portal.operations.models import ImplementationProject, TrainingTopic


def search_payor_users(text: str, limit: int = 50) -> list[tuple[User, list[str]]]:
    """Payor users whose email or name contains ``text``, with their payor companies."""
    pattern = f"%{text.strip().lower()}%"
    with tenancy.unscoped():
        rows = db.session.execute(
            sa.select(User, Company.name)
            .join(Membership, Membership.user_id == User.id)
            .join(Company, Company.id == Membership.company_id)
            .where(
                Company.kind == CompanyKind.PAYOR,
                sa.or_(User.email.like(pattern), sa.func.lower(User.name).like(pattern)),
            )
            .order_by(User.email)
            .limit(limit)
        ).all()
    grouped: dict[int, tuple[User, list[str]]] = {}
    for user, company_name in rows:
        grouped.setdefault(user.id, (user, []))[1].append(company_name)
    return list(grouped.values())


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


def search_payors(text: str = "", limit: int = 100) -> list[PayorRow]:
    """Payors whose name or short name contains ``text``, with their implementation project.

    One query, whatever the number of payors (the checklist is computed on each payor's page).
    """
    pattern = f"%{text.strip().lower()}%"
    with tenancy.unscoped():
        rows = (
            db.session.execute(
                sa.select(Company, ImplementationProject)
                .outerjoin(ImplementationProject, ImplementationProject.company_id == Company.id)
                .where(
                    Company.kind == CompanyKind.PAYOR,
                    sa.or_(sa.func.lower(Company.name).like(pattern), Company.slug.like(pattern)),
                )
                .order_by(Company.name)
                .limit(limit)
            )
            .unique()
            .all()
        )
    return [PayorRow(company, project) for company, project in rows]


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


def payor_members(company_id: int) -> list[Membership]:
    with tenancy.unscoped():
        return list(
            db.session.scalars(
                sa.select(Membership).where(Membership.company_id == company_id)
            ).unique()
        )


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


def payments_users_without_mfa(company_id: int) -> list[User]:
    with tenancy.unscoped():
        return list(
            db.session.scalars(
                sa.select(User)
                .join(Membership, Membership.user_id == User.id)
                .join(MembershipRole, MembershipRole.membership_id == Membership.id)
                .where(
                    Membership.company_id == company_id,
                    MembershipRole.role.in_(PAYMENT_ROLES),
                    User.totp_secret.is_(None),
                )
                .distinct()
            )
        )


# --------------------------------------------------------------------------- checklist


@dataclass(frozen=True)
class ChecklistItem:
    key: str
    label: str
    met: bool
    detail: str = ""
    available: bool = True  # False: depends on a capability that has not landed yet


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


def implementation_checklist(
    company: Company, project: ImplementationProject | None
) -> list[ChecklistStep]:
    """The three steps, every item derived from the system's state (or recorded by an operator
    where only people can attest it)."""
    from portal.banking.queries import deposit_account_of
    from portal.companies.queries import features_of
    from portal.payment_settings import queries as payment_queries
    from portal.payment_settings.services import entity_gaps
    from portal.sso.models import SsoConnection

    with tenancy.unscoped():
        features = features_of(company.id)
        sso_configured = (
            db.session.scalar(
                sa.select(SsoConnection.id).where(
                    SsoConnection.company_id == company.id, SsoConnection.enabled.is_(True)
                )
            )
            is not None
        )
        members = payor_members(company.id)
        without_mfa = payments_users_without_mfa(company.id)
        deposit = deposit_account_of(company.id)
        entities = payment_queries.entities(company.id)
        complete_entities = [e for e in entities if not entity_gaps(e)]
        active_accounts = [a for a in payment_queries.funding_accounts(company.id) if a.active]
    holders = {role: [m for m in members if role in m.role_set] for role in Role}
    payments_users = [m for m in members if m.role_set & PAYMENT_ROLES]
    admins = holders[Role.PAYMENTS_ADMIN]
    off = [f.label for f, on in features.items() if not on]
    trainings = {t.topic: t for t in (project.trainings if project else [])}

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
                bool(payments_users) and not without_mfa,
                "No payments users yet."
                if not payments_users
                else (
                    "All enrolled."
                    if not without_mfa
                    else "Not yet: " + ", ".join(sorted(u.email for u in without_mfa)) + "."
                ),
            ),
            ChecklistItem(
                "deposit_account",
                "Deposit account opened",
                deposit is not None,
                f"{deposit.bank_name} ••••{deposit.account_last4}" if deposit else "Not opened.",
            ),
            ChecklistItem(
                "admins",
                "Payments Admins designated",
                bool(admins),
                f"{len(admins)} designated"
                + ("" if len(admins) >= 2 else " (at least two are recommended)")
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
                bool(complete_entities),
                f"{len(complete_entities)} of {len(entities)} complete."
                if entities
                else "None added.",
            ),
            ChecklistItem(
                "funding_account",
                "Funding account added",
                bool(active_accounts),
                ", ".join(f"{a.nickname} ••••{a.account_last4}" for a in active_accounts)
                or "None added.",
            ),
            ChecklistItem(
                "disbursers",
                "Disbursers assigned",
                bool(holders[Role.DISBURSER]),
                f"{len(holders[Role.DISBURSER])} assigned.",
            ),
            _not_available("first_payees", "First payees onboarded and approved"),
            *[
                ChecklistItem(
                    f"training_{topic.value}",
                    f"Training held: {topic.label}",
                    topic in trainings,
                    f"Held {trainings[topic].held_on:%B %-d, %Y}."
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
