"""Operator look-ups across companies (deliberately unscoped)."""

from __future__ import annotations

import sqlalchemy as sa

from portal.accounts.models import User
from portal.companies.models import Company, CompanyKind, Membership
from portal.core import tenancy
from portal.core.db import db
from portal.core.errors import NotFound


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
