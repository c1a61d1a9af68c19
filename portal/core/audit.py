"""Record audit events in a hash chain sealed at commit time, and verify the chain."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.core.db import PortalSession, db, utcnow
from portal.core.models import AuditEvent
from portal.core.text import clean_text

GENESIS_HASH = "0" * 64
# Any constant works; it only has to be the same in every process that appends.
_AUDIT_LOCK_KEY = 0x7472657374_6C65 % (2**31)


@dataclass(frozen=True)
class RequestContext:
    """Who and where a change came from, set once per web request by the security layer."""

    request_id: str | None = None
    ip_address: str | None = None
    user_agent: str | None = None
    sso_issuer: str | None = None
    sso_subject: str | None = None


current_request_context: ContextVar[RequestContext] = ContextVar(
    "current_request_context",
    default=RequestContext(),  # noqa: B039 - frozen, never mutated
)


@contextmanager
def request_context(context: RequestContext | None = None) -> Iterator[None]:
    """Attribute what happens inside to ``context`` (default: to no request at all)."""
    token = current_request_context.set(context or RequestContext())
    try:
        yield
    finally:
        current_request_context.reset(token)


def record(
    action: str,
    *,
    actor_user_id: int | None = None,
    company_id: int | None = None,
    object_type: str | None = None,
    object_id: Any = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    actor_sso: tuple[str, str] | None = None,
    session: Session | None = None,
) -> AuditEvent:
    """Queue an audit event; it is chained and written when the current transaction commits.

    ``action`` is tagged ``feature:subject:verb``, e.g. ``payments:disbursement:authorized``.
    The actor's SSO identity comes from the request unless ``actor_sso`` names it.
    """
    if action.count(":") < 2:
        raise ValueError(f"audit actions are tagged feature:subject:verb, not {action!r}")
    context = current_request_context.get()
    event = AuditEvent(
        occurred_at=utcnow(),
        action=action,
        actor_user_id=actor_user_id,
        actor_sso_issuer=actor_sso[0] if actor_sso else context.sso_issuer,
        actor_sso_subject=actor_sso[1] if actor_sso else context.sso_subject,
        company_id=company_id,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        before=clean_values(before),
        after=clean_values(after),
        request_id=context.request_id,
        ip_address=context.ip_address,
        user_agent=clean_text((context.user_agent or "")[:400]) or None,
    )
    target = session if session is not None else db.session()
    if not target.in_transaction():
        # Begin now, so a rollback before any SQL still discards the event.
        target.begin()
    target.info.setdefault("audit_pending", []).append(event)
    return event


def clean_values(values: dict[str, Any] | None) -> dict[str, Any] | None:
    """Before/after values with every string cleaned, however deep."""

    def clean(value: Any) -> Any:
        if isinstance(value, str):
            return clean_text(value)
        if isinstance(value, dict):
            return {clean(k): clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return value

    return None if values is None else clean(values)


def event_digest(event: AuditEvent) -> str:
    """Return the SHA-256 over the event's content and the previous row's hash."""
    content = {
        "occurred_at": event.occurred_at.isoformat(),
        "action": event.action,
        "actor_user_id": event.actor_user_id,
        "actor_sso_issuer": event.actor_sso_issuer,
        "actor_sso_subject": event.actor_sso_subject,
        "company_id": event.company_id,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "before": event.before,
        "after": event.after,
        "request_id": event.request_id,
        "ip_address": event.ip_address,
        "user_agent": event.user_agent,
        "prev_hash": event.prev_hash,
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@sa.event.listens_for(PortalSession, "before_commit")
def _seal_pending_events(session: Session) -> None:
    """Chain the transaction's events onto the newest row, one appender at a time."""
    pending: list[AuditEvent] = session.info.pop("audit_pending", [])
    if not pending:
        return
    if session.get_bind().dialect.name == "postgresql":
        # Held until this transaction ends, so concurrent appenders cannot fork the chain.
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _AUDIT_LOCK_KEY})
    previous = session.execute(
        sa.select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
    ).scalar()
    previous = previous or GENESIS_HASH
    for event in pending:
        event.prev_hash = previous
        event.hash = event_digest(event)
        previous = event.hash
        # The unit of work inserts rows of one class in the order they were added,
        # so ids follow chain order.
        session.add(event)


@sa.event.listens_for(PortalSession, "after_soft_rollback")
def _drop_pending_events(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.parent is None:
        session.info.pop("audit_pending", None)


@dataclass(frozen=True)
class ChainBreak:
    """A row where the chain does not hold, and why."""

    event_id: int
    reason: str


def verify_chain(session: Session | None = None) -> Iterator[ChainBreak]:
    """Walk the whole log in id order and yield every row where the chain breaks."""
    session = session if session is not None else db.session()
    previous = GENESIS_HASH
    rows = session.execute(
        sa.select(AuditEvent).order_by(AuditEvent.id).execution_options(yield_per=1000)
    ).scalars()
    for event in rows:
        if event.prev_hash != previous:
            yield ChainBreak(
                event.id, "does not follow the row before it (a row was deleted, inserted or moved)"
            )
        elif event_digest(event) != event.hash:
            yield ChainBreak(event.id, "its content does not match its hash (the row was edited)")
        previous = event.hash


def chain_head(session: Session | None = None) -> tuple[int, str] | None:
    """The newest row's id and hash: keep it outside the database as a checkpoint."""
    session = session if session is not None else db.session()
    row = session.execute(
        sa.select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
    ).first()
    return (row[0], row[1]) if row else None
