"""Read helpers for companies and memberships."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa

from portal.accounts.models import User
from portal.companies.models import Company, Feature, FeatureActivation, Membership
from portal.core import tenancy
from portal.core.db import db
from portal.core.errors import NotFound
from portal.core.models import AuditEvent


def memberships_of(user_id: int) -> list[Membership]:
    """Every company the user belongs to (across tenants: it is the user's own list)."""
    with tenancy.unscoped():
        return list(
            db.session.scalars(
                sa.select(Membership)
                .join(Company, Company.id == Membership.company_id)
                .where(Membership.user_id == user_id)
                .order_by(Company.name)
            ).unique()
        )


def members(company_id: int) -> list[Membership]:
    """The members of the current company (tenant-scoped)."""
    return list(
        db.session.scalars(
            sa.select(Membership).where(Membership.company_id == company_id)
        ).unique()
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


def feature_enabled(company_id: int, feature: Feature) -> bool:
    return features_of(company_id)[feature]


# --------------------------------------------------------------------------- change history

HISTORY_AREAS = {
    "": "Everything",
    "companies:feature": "Feature activation",
    "companies:role": "Roles",
    "companies:member": "People",
    "operations": "Implementation",
    "banking": "Bank accounts",
    "sso": "Single sign-on",
}


@dataclass(frozen=True)
class HistoryFilters:
    area: str = ""
    actor: str = ""
    since: date | None = None
    until: date | None = None

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> HistoryFilters:
        def parse(value: str | None) -> date | None:
            try:
                return date.fromisoformat(value) if value else None
            except ValueError:
                return None

        area = args.get("area", "")
        return cls(
            area=area if area in HISTORY_AREAS else "",
            actor=args.get("actor", "").strip()[:254],
            since=parse(args.get("since")),
            until=parse(args.get("until")),
        )


@dataclass(frozen=True)
class HistoryRow:
    event: AuditEvent
    actor: str


def change_history(company_id: int, filters: HistoryFilters, limit: int = 200) -> list[HistoryRow]:
    """The company's audit events, newest first: who changed what, from what, to what."""
    stmt = (
        sa.select(AuditEvent, User.email)
        .outerjoin(User, User.id == AuditEvent.actor_user_id)
        .where(AuditEvent.company_id == company_id)
        .order_by(AuditEvent.id.desc())
        .limit(limit)
    )
    if filters.area:
        stmt = stmt.where(AuditEvent.action.startswith(filters.area + ":"))
    if filters.actor:
        stmt = stmt.where(User.email.contains(filters.actor.lower()))
    if filters.since:
        stmt = stmt.where(AuditEvent.occurred_at >= datetime.combine(filters.since, time(), UTC))
    if filters.until:
        stmt = stmt.where(
            AuditEvent.occurred_at
            < datetime.combine(filters.until, time(), UTC) + timedelta(days=1)
        )
    return [
        HistoryRow(event, email or "Trestle (system)")
        for event, email in db.session.execute(stmt).all()
    ]
