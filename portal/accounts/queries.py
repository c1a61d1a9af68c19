"""Read helpers for the account pages."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from portal.accounts.models import FederatedIdentity, RecoveryCode, User, UserSession
from portal.core.db import db, utcnow


@dataclass(frozen=True)
class AccountOverview:
    user: User
    recovery_codes_left: int
    sessions: list[UserSession]
    identities: list[FederatedIdentity]


def account_overview(user: User) -> AccountOverview:
    left = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    )
    sessions = db.session.scalars(
        sa.select(UserSession)
        .where(
            UserSession.user_id == user.id,
            UserSession.revoked_at.is_(None),
            UserSession.expires_at > utcnow(),
        )
        .order_by(UserSession.last_seen_at.desc())
    ).all()
    identities = db.session.scalars(
        sa.select(FederatedIdentity).where(FederatedIdentity.user_id == user.id)
    ).all()
    return AccountOverview(user, left, list(sessions), list(identities))
