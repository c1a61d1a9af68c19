"""The Monday and Thursday digest: each payor's Beneficiary Approvers hear which payees are
waiting for their approval, and why."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa

from portal.companies.models import Company, CompanyKind, Feature, FeatureActivation, Role
from portal.companies.queries import role_holder_emails
from portal.core import ratelimit, tenancy
from portal.core.db import db, utcnow
from portal.core.models import AuditEvent
from portal.core.ratelimit import Limit
from portal.core.urls import external_url
from portal.notifications.services import queue_email
from portal.onboarding.models import OnboardingStatus, PayeeRelationship
from portal.payees import queries as payee_queries
from portal.payees.queries import PayeeReadiness

DIGEST_TEMPLATE = "payee_review_digest"
# One digest per payor per run day. The throttle gate's row lock also makes a second run
# that starts while the first is still sending wait for it, then send nothing.
DIGEST_SCOPE = "onboarding:review_digest"
ONCE_A_DAY = (Limit(1, timedelta(days=1)),)
STATUS_CHANGED = "onboarding:relationship:status_changed"


@dataclass(frozen=True)
class WaitingPayee:
    """One payee in a digest: who, why it needs review, since when, and where to review it."""

    name: str
    reasons: tuple[str, ...]
    waiting_since: datetime | None  # None when no status change was recorded
    waiting_days: int | None
    url: str


def waiting_reasons(relationship: PayeeRelationship, ready: PayeeReadiness) -> tuple[str, ...]:
    """Why the payee needs review: the payor never approved it, or what changed since."""
    if relationship.approved_at is None:
        return ("new payee",)
    reasons = []
    account, profile = ready.receiving, ready.profile
    if account is not None and relationship.approved_bank_account_id != account.id:
        reasons.append(f"changed its bank account (now the one ending {account.account_last4})")
    if profile is not None and relationship.approved_identity_version != profile.identity_version:
        reasons.append("changed its tax identity (legal name or tax id)")
    return tuple(reasons)


def send_review_digests(now: datetime | None = None) -> int:
    """Email every Beneficiary Approver of each payor with Pay on the payees waiting for
    their approval; return how many emails were queued. Payors with nothing waiting get
    nothing, and a payor is sent one digest per day however often this runs."""
    return sum(send_review_digest(payor_id, now) for payor_id in payors_waiting())


def payors_waiting() -> list[int]:
    """The payors with Pay on and payees in needs review (the job sends each its own)."""
    with tenancy.unscoped():
        return [payor.id for payor, _ in _waiting_by_payor()]


def send_review_digest(payor_id: int, now: datetime | None = None) -> int:
    """One payor's digest (at most once per run day); how many emails were queued."""
    now = now or utcnow()
    # The system reads every payor's payees, and each payor's digest lists only its own.
    with tenancy.unscoped():
        for payor, relationships in _waiting_by_payor(payor_id):
            return _send_digest(payor, relationships, now)
    return 0


def _waiting_by_payor(
    payor_id: int | None = None,
) -> list[tuple[Company, list[PayeeRelationship]]]:
    """The payors with Pay on and payees in needs review (or only ``payor_id``), each with
    those payees."""
    only = () if payor_id is None else (Company.id == payor_id,)
    rows = db.session.execute(
        sa.select(Company, PayeeRelationship)
        .join(PayeeRelationship, PayeeRelationship.payor_id == Company.id)
        .join(
            FeatureActivation,
            sa.and_(
                FeatureActivation.company_id == Company.id,
                FeatureActivation.feature == Feature.PAY,
            ),
        )
        .where(
            Company.kind == CompanyKind.PAYOR,
            FeatureActivation.enabled,
            PayeeRelationship.status == OnboardingStatus.NEEDS_REVIEW,
            *only,
        )
        .order_by(Company.id, PayeeRelationship.id)
    ).all()
    return [
        (payor, [relationship for _, relationship in group])
        for payor, group in itertools.groupby(rows, key=lambda row: row[0])
    ]


def _send_digest(payor: Company, relationships: list[PayeeRelationship], now: datetime) -> int:
    key = f"{payor.id}:{_run_day(now).isoformat()}"
    if ratelimit.is_limited(DIGEST_SCOPE, key, ONCE_A_DAY):
        return 0
    recipients = role_holder_emails(payor.id, Role.BENEFICIARY_APPROVER)
    if not recipients:
        return 0
    payees = _waiting_payees(payor, relationships, now)
    for email in recipients:
        queue_email(
            email,
            DIGEST_TEMPLATE,
            company_id=payor.id,
            payor=payor.name,
            payees=payees,
            list_url=external_url(
                "onboarding.list_payees", status=OnboardingStatus.NEEDS_REVIEW.value
            ),
        )
    ratelimit.record(DIGEST_SCOPE, key)
    return len(recipients)


def _waiting_payees(
    payor: Company, relationships: list[PayeeRelationship], now: datetime
) -> list[WaitingPayee]:
    """The digest's lines, the longest waiting first."""
    since = _needs_review_since(payor.id, [r.id for r in relationships])
    payees = []
    for relationship in relationships:
        assert relationship.payee_id is not None  # needs review implies a joined payee
        waited = since.get(relationship.id)
        payees.append(
            WaitingPayee(
                name=relationship.directory_name,
                reasons=waiting_reasons(
                    relationship, payee_queries.readiness(relationship.payee_id)
                ),
                waiting_since=waited,
                waiting_days=(now - waited).days if waited else None,
                url=external_url("onboarding.show_payee", relationship_id=relationship.id),
            )
        )
    never = datetime.max.replace(tzinfo=UTC)
    return sorted(payees, key=lambda p: (p.waiting_since or never, p.name.lower()))


def _needs_review_since(payor_id: int, relationship_ids: list[int]) -> dict[int, datetime]:
    """When each relationship last changed status: for one in needs review now, when it
    went there (every move into needs review is recorded)."""
    rows = db.session.execute(
        sa.select(AuditEvent.object_id, sa.func.max(AuditEvent.occurred_at))
        .where(
            AuditEvent.company_id == payor_id,
            AuditEvent.action == STATUS_CHANGED,
            AuditEvent.object_type == "payee_relationship",
            AuditEvent.object_id.in_([str(i) for i in relationship_ids]),
        )
        .group_by(AuditEvent.object_id)
    ).all()
    return {int(object_id): occurred_at for object_id, occurred_at in rows}


def _run_day(now: datetime) -> date:
    return now.astimezone(UTC).date()
