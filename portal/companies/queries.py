"""Read helpers for companies and memberships."""

from __future__ import annotations

import sqlalchemy as sa

from portal.companies.models import Company, Feature, FeatureActivation, Membership
from portal.core import tenancy
from portal.core.db import db
from portal.core.errors import NotFound


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
