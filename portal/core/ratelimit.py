"""Count failures in sliding windows, in the database (works with or without Redis).

Deciding and counting are one step: ``is_limited`` first locks the scope-and-key's gate row
until the transaction ends, so concurrent attempts for one account, user or address are
decided one after another, each seeing the failures recorded before it.

A failure outlives the request that recorded it: when that request then fails for another
reason and its transaction is rolled back, the error pages write its failures again on
their own (``keep_recorded``), so an attempt cannot escape its count by also breaking.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, Session, mapped_column

from portal.core.db import PortalSession, db, utcnow

log = logging.getLogger(__name__)


class ThrottleEvent(db.Model):
    """One counted event (usually a failure) for a scope and key, e.g. ("mfa:user", "42")."""

    __tablename__ = "throttle_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(sa.String(40))
    key: Mapped[str] = mapped_column(sa.String(200))
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (sa.Index("ix_throttle_event_lookup", "scope", "key", "occurred_at"),)


class ThrottleGate(db.Model):
    """One row per scope and key, locked while an attempt is decided and counted."""

    __tablename__ = "throttle_gate"

    scope: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(200), primary_key=True)


def _lock(scope: str, key: str) -> None:
    """Take the gate's row lock (creating the row the first time), held until commit."""
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    db.session.execute(insert(ThrottleGate).values(scope=scope, key=key).on_conflict_do_nothing())
    db.session.execute(
        sa.select(ThrottleGate.scope)
        .where(ThrottleGate.scope == scope, ThrottleGate.key == key)
        .with_for_update()
    )


@dataclass(frozen=True)
class Limit:
    """At most ``count`` events per ``window``."""

    count: int
    window: timedelta


def is_limited(scope: str, key: str, limits: tuple[Limit, ...]) -> bool:
    """True when any of ``limits`` is already reached for this scope and key.

    Locks the scope-and-key first (see the module docstring): call it before the check it
    guards, and ``record`` a failure in the same transaction.
    """
    key = key[:200]
    _lock(scope, key)
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
    event = (scope, key[:200], utcnow())
    db.session.add(ThrottleEvent(scope=event[0], key=event[1], occurred_at=event[2]))
    db.session().info.setdefault(_RECORDED, []).append(event)


_RECORDED = "throttle_recorded"


@sa.event.listens_for(PortalSession, "after_commit")
def _forget_committed(session: Session) -> None:
    session.info.pop(_RECORDED, None)


def keep_recorded() -> None:
    """Roll back the failed transaction, then write its uncommitted failures on their own.

    For error handlers: whatever else the request did is discarded, its failures are not.
    """
    recorded: list[tuple[str, str, datetime]] = db.session().info.pop(_RECORDED, [])
    db.session.rollback()
    if not recorded:
        return
    try:
        db.session.add_all(ThrottleEvent(scope=s, key=k, occurred_at=t) for s, k, t in recorded)
        db.session.commit()
    except SQLAlchemyError:
        log.exception("could not keep %d recorded failures", len(recorded))
        db.session.rollback()


def clear(scope: str, key: str) -> None:
    db.session.execute(
        sa.delete(ThrottleEvent).where(ThrottleEvent.scope == scope, ThrottleEvent.key == key)
    )


def prune(older_than: timedelta = timedelta(days=1)) -> int:
    """Delete old events, and the gates no event needs any more; return the events deleted."""
    result = db.session.execute(
        sa.delete(ThrottleEvent).where(ThrottleEvent.occurred_at < utcnow() - older_than)
    )
    db.session.execute(
        sa.delete(ThrottleGate).where(
            ~sa.exists().where(
                ThrottleEvent.scope == ThrottleGate.scope, ThrottleEvent.key == ThrottleGate.key
            )
        )
    )
    return result.rowcount
