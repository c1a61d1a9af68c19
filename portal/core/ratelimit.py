"""Count failures in sliding windows, in the database (works with or without Redis)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal.core.db import db, utcnow


class ThrottleEvent(db.Model):
    """One counted event (usually a failure) for a scope and key, e.g. ("mfa:user", "42")."""

    __tablename__ = "throttle_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(sa.String(40))
    key: Mapped[str] = mapped_column(sa.String(200))
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (sa.Index("ix_throttle_event_lookup", "scope", "key", "occurred_at"),)


@dataclass(frozen=True)
class Limit:
    """At most ``count`` events per ``window``."""

    count: int
    window: timedelta


def is_limited(scope: str, key: str, limits: tuple[Limit, ...]) -> bool:
    """True when any of ``limits`` is already reached for this scope and key."""
    now = utcnow()
    longest = max(limit.window for limit in limits)
    times = db.session.scalars(
        sa.select(ThrottleEvent.occurred_at).where(
            ThrottleEvent.scope == scope,
            ThrottleEvent.key == key,
            ThrottleEvent.occurred_at > now - longest,
        )
    ).all()
    return any(sum(1 for t in times if t > now - limit.window) >= limit.count for limit in limits)


def record(scope: str, key: str) -> None:
    db.session.add(ThrottleEvent(scope=scope, key=key, occurred_at=utcnow()))


def clear(scope: str, key: str) -> None:
    db.session.execute(
        sa.delete(ThrottleEvent).where(ThrottleEvent.scope == scope, ThrottleEvent.key == key)
    )


def prune(older_than: timedelta = timedelta(days=1)) -> int:
    result = db.session.execute(
        sa.delete(ThrottleEvent).where(ThrottleEvent.occurred_at < utcnow() - older_than)
    )
    return result.rowcount
