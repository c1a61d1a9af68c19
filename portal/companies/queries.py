"""Read helpers for companies and memberships."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import joinedload
from sqlalchemy.sql.base import ExecutableOption

from portal.accounts.models import User
from portal.companies.models import (
    Company,
    CompanyKind,
    Feature,
    FeatureActivation,
    Membership,
    MembershipRole,
    Role,
)
from portal.core import tenancy
from portal.core.db import db
from portal.core.errors import NotFound
from portal.core.tables import Column, TablePage, TableState, matches_text, paginate


def memberships_of(user_id: int) -> list[Membership]:
    """Every company the user belongs to (across tenants: it is the user's own list)."""
    with tenancy.unscoped():
        user = db.session.scalar(
            sa.select(User).where(User.id == user_id).options(*memberships_loaded_with_user())
        )
    return loaded_memberships(user) if user else []


def memberships_loaded_with_user() -> tuple[ExecutableOption, ...]:
    """Loader options that bring a user's memberships along in the user's own statement:
    each company with its features, each membership's roles (a request needs them all)."""
    return (
        joinedload(User.memberships).options(
            joinedload(Membership.roles),
            joinedload(Membership.company).joinedload(Company.feature_activations),
        ),
    )


def loaded_memberships(user: User) -> list[Membership]:
    """The user's memberships by company name (loaded with the user, or now)."""
    return sorted(user.memberships, key=lambda m: (m.company.name, m.id))


MEMBER_COLUMNS = (
    Column("name", "Name", sortable=True),
    Column("email", "Email", sortable=True),
    Column("roles", "Roles"),
    Column("mfa", "Two-step verification"),
)


def member_list_state(args) -> TableState:
    return TableState.from_args(args, columns=MEMBER_COLUMNS, default_sort="name", filters=("q",))


def member_table(company_id: int, state: TableState) -> TablePage:
    """One page of the company's members (tenant-scoped), with their users and roles."""
    stmt = (
        sa.select(Membership)
        .join(User, User.id == Membership.user_id)
        .where(Membership.company_id == company_id)
    )
    stmt = stmt.where(matches_text(state.filter("q"), User.name, User.email))
    return paginate(
        stmt,
        state,
        {"name": sa.func.lower(User.name), "email": User.email},
        tiebreak=Membership.id,
    )


def belong_elsewhere(company_id: int, user_ids: list[int]) -> set[int]:
    """Which of these users are also members of another company (one query, ids only)."""
    if not user_ids:
        return set()
    with tenancy.unscoped():
        return set(
            db.session.scalars(
                sa.select(Membership.user_id)
                .where(Membership.user_id.in_(user_ids), Membership.company_id != company_id)
                .distinct()
            )
        )


def get_membership(membership_id: int) -> Membership:
    """A membership in the current company, or NotFound (also for other companies' ids)."""
    membership = (
        db.session.scalars(sa.select(Membership).where(Membership.id == membership_id))
        .unique()
        .one_or_none()
    )
    if membership is None:
        raise NotFound("No such member.")
    return membership


def company_by_slug(slug: str) -> Company | None:
    return db.session.scalar(sa.select(Company).where(Company.slug == slug))


def features_of(company_id: int) -> dict[Feature, bool]:
    """Every feature and whether it is on for the company."""
    with tenancy.unscoped():
        rows = db.session.scalars(
            sa.select(FeatureActivation).where(FeatureActivation.company_id == company_id)
        ).all()
    enabled = {row.feature: row.enabled for row in rows}
    return {feature: enabled.get(feature, False) for feature in Feature}


def features_in(company: Company) -> dict[Feature, bool]:
    """Every feature and whether it is on, from the company's loaded activations (the
    signed-in memberships load them: no statement for the current company)."""
    enabled = {row.feature: row.enabled for row in company.feature_activations}
    return {feature: enabled.get(feature, False) for feature in Feature}


def feature_enabled(company_id: int, feature: Feature) -> bool:
    return features_of(company_id)[feature]


def role_holder_emails(company_id: int, role: Role) -> list[str]:
    """The email addresses of the company's active members who hold ``role`` (for notices)."""
    return _active_holders(role, Membership.company_id == company_id)


def operator_emails() -> list[str]:
    """The email addresses of every active Trestle operator (for alerts)."""
    return _active_holders(Role.OPERATOR, Company.kind == CompanyKind.OPERATOR)


def _active_holders(role: Role, *where: sa.ColumnElement[bool]) -> list[str]:
    with tenancy.unscoped():
        return list(
            db.session.scalars(
                sa.select(User.email)
                .join(Membership, Membership.user_id == User.id)
                .join(Company, Company.id == Membership.company_id)
                .join(MembershipRole, MembershipRole.membership_id == Membership.id)
                .where(MembershipRole.role == role, User.is_active, *where)
                .distinct()
                .order_by(User.email)
            )
        )


def active_members(company_id: int) -> list[User]:
    """The company's active users by name (a payor picks a payee's invoice contacts from
    them: the list is of that one company, read across the tenant line on purpose)."""
    with tenancy.unscoped():
        return list(
            db.session.scalars(
                sa.select(User)
                .join(Membership, Membership.user_id == User.id)
                .where(Membership.company_id == company_id, User.is_active)
                .order_by(sa.func.lower(User.name), User.id)
            )
        )
