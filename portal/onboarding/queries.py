"""Read helpers of payee onboarding."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import sqlalchemy as sa

from portal.accounts.models import User
from portal.companies.models import Company
from portal.core import tenancy
from portal.core.db import db
from portal.core.errors import NotFound
from portal.core.tables import Column, TablePage, TableState, matches_text, paginate
from portal.core.text import name_core, plain_name
from portal.onboarding.models import (
    InvitationState,
    JoinRequestState,
    OnboardingStatus,
    PayAgreement,
    PayeeInvitation,
    PayeeJoinRequest,
    PayeeRelationship,
)
from portal.payees import queries as payee_queries
from portal.payees.queries import PayeeReadiness


def payor_of(invitation: PayeeInvitation) -> Company:
    """The payor that sent the invitation (read unscoped: the recipient belongs to none of
    the payor's companies)."""
    with tenancy.unscoped():
        return db.session.get(Company, invitation.payor_id)


def company_name(company_id: int) -> str:
    with tenancy.unscoped():
        return db.session.scalar(sa.select(Company.name).where(Company.id == company_id))


def payor_name(relationship: PayeeRelationship) -> str:
    return company_name(relationship.payor_id)


def relationship_of(invitation: PayeeInvitation) -> PayeeRelationship:
    with tenancy.unscoped():
        return db.session.get(PayeeRelationship, invitation.relationship_id)


PAYEE_COLUMNS = (
    Column("name", "Company", sortable=True),
    Column("contact", "Contact", sortable=True),
    Column("status", "Status", sortable=True),
    Column("invitation", "Invitation"),
)


def payee_list_state(args) -> TableState:
    return TableState.from_args(
        args, columns=PAYEE_COLUMNS, default_sort="name", filters=("q", "status")
    )


@dataclass(frozen=True)
class PayeeRow:
    relationship: PayeeRelationship
    invitation: PayeeInvitation | None  # the open one, if any


def status_counts(payor_id: int) -> dict[OnboardingStatus, int]:
    """How many of the payor's payees are at each onboarding status (one grouped query)."""
    counts = dict(
        db.session.execute(
            sa.select(PayeeRelationship.status, sa.func.count())
            .where(PayeeRelationship.payor_id == payor_id)
            .group_by(PayeeRelationship.status)
        ).all()
    )
    return {status: counts.get(status, 0) for status in OnboardingStatus}


def payee_table(payor_id: int, state: TableState) -> TablePage:
    """One page of the payor's payees, each with its open invitation (one join)."""
    stmt = (
        sa.select(PayeeRelationship, PayeeInvitation)
        .outerjoin(
            PayeeInvitation,
            sa.and_(
                PayeeInvitation.relationship_id == PayeeRelationship.id,
                PayeeInvitation.state == InvitationState.SENT,
            ),
        )
        .where(
            PayeeRelationship.payor_id == payor_id,
            matches_text(
                state.filter("q"), PayeeRelationship.directory_name, PayeeRelationship.contact_email
            ),
        )
    )
    if state.filter("status") in {s.value for s in OnboardingStatus}:
        stmt = stmt.where(PayeeRelationship.status == OnboardingStatus(state.filter("status")))
    order = sa.case(
        *((PayeeRelationship.status == s, n) for n, s in enumerate(OnboardingStatus)), else_=99
    )
    page = paginate(
        stmt,
        state,
        {
            "name": sa.func.lower(PayeeRelationship.directory_name),
            "contact": PayeeRelationship.contact_email,
            "status": order,
        },
        tiebreak=PayeeRelationship.id,
    )
    return dataclasses.replace(page, rows=[PayeeRow(r, i) for r, i in page.rows])


def invitation_of(payor_id: int, invitation_id: int) -> PayeeInvitation:
    """One of the payor's invitations, in any state (404 for another payor's, whatever the
    scope)."""
    invitation = db.session.scalar(
        sa.select(PayeeInvitation).where(
            PayeeInvitation.id == invitation_id, PayeeInvitation.payor_id == payor_id
        )
    )
    if invitation is None:
        raise NotFound("No such invitation.")
    return invitation


def relationship_for_payor(payor_id: int, relationship_id: int) -> PayeeRelationship:
    """One of the payor's payees (404 for another payor's, whatever the scope)."""
    with tenancy.unscoped():
        relationship = db.session.scalar(
            sa.select(PayeeRelationship).where(
                PayeeRelationship.id == relationship_id, PayeeRelationship.payor_id == payor_id
            )
        )
    if relationship is None:
        raise NotFound("No such payee.")
    return relationship


@dataclass(frozen=True)
class Comparison:
    """One fact as the payor's directory has it and as the payee submitted it."""

    label: str
    directory: str
    submitted: str

    @property
    def differs(self) -> bool:
        """Different names, not merely a legal suffix, case or punctuation apart."""
        both = bool(self.directory and self.submitted)
        return both and name_core(self.directory) != name_core(self.submitted)

    @property
    def missing(self) -> bool:
        """One side has nothing to compare yet."""
        return not (self.directory and self.submitted)

    @property
    def nearly_same(self) -> bool:
        both = bool(self.directory and self.submitted)
        return (
            both and not self.differs and plain_name(self.directory) != plain_name(self.submitted)
        )


@dataclass(frozen=True)
class ManageView:
    relationship: PayeeRelationship
    ready: PayeeReadiness
    comparisons: list[Comparison]


def manage_view(relationship: PayeeRelationship) -> ManageView:
    """The payor's record, the payee's profile and its receiving account side by side.
    Read across the tenant line on purpose: only this relationship's payee is read."""
    with tenancy.unscoped():
        ready = (
            payee_queries.readiness(relationship.payee_id)
            if relationship.payee_id
            else (PayeeReadiness(None, None))
        )
    profile, account = ready.profile, ready.receiving
    comparisons = [
        Comparison(
            "Company name",
            relationship.directory_name,
            profile.legal_name if profile else "",
        ),
        Comparison(
            "Name on the bank account (beside the legal name)",
            profile.legal_name if profile else "",
            account.holder_name if account else "",
        ),
    ]
    return ManageView(relationship, ready, comparisons)


def relationship_for_payee(payee_id: int, relationship_id: int) -> PayeeRelationship:
    """One of the payee's own relationships (404 for another payee's, whatever the scope)."""
    with tenancy.unscoped():
        relationship = db.session.scalar(
            sa.select(PayeeRelationship).where(
                PayeeRelationship.id == relationship_id, PayeeRelationship.payee_id == payee_id
            )
        )
    if relationship is None:
        raise NotFound("No such general contractor.")
    return relationship


def agreement_of(relationship: PayeeRelationship) -> PayAgreement | None:
    """The Pay agreement accepted in this relationship, if it has been."""
    with tenancy.unscoped():
        return db.session.scalar(
            sa.select(PayAgreement).where(PayAgreement.relationship_id == relationship.id)
        )


def agreements_of_payee(payee_id: int) -> dict[int, PayAgreement]:
    """The payee's accepted agreements by relationship id."""
    with tenancy.unscoped():
        return {
            agreement.relationship_id: agreement
            for agreement in db.session.scalars(
                sa.select(PayAgreement).where(PayAgreement.payee_id == payee_id)
            )
        }


def relationships_of_payee(payee_id: int) -> list[tuple[PayeeRelationship, str]]:
    """The payee's own relationships with their payors' names (never another payee's)."""
    with tenancy.unscoped():
        return [
            (relationship, name)
            for relationship, name in db.session.execute(
                sa.select(PayeeRelationship, Company.name)
                .join(Company, Company.id == PayeeRelationship.payor_id)
                .where(PayeeRelationship.payee_id == payee_id)
                .order_by(Company.name)
            )
        ]


JOIN_REQUEST_COLUMNS = (
    Column("person", "Person", sortable=True),
    Column("invited_by", "Invited by"),
    Column("status", "Status", sortable=True),
    Column("asked", "Asked", sortable=True),
)


def join_request_list_state(args) -> TableState:
    return TableState.from_args(
        args, columns=JOIN_REQUEST_COLUMNS, default_sort="status", filters=("status",)
    )


@dataclass(frozen=True)
class JoinRequestRow:
    request: PayeeJoinRequest
    user: User
    payor_name: str
    invitation: PayeeInvitation

    @property
    def invitation_open(self) -> bool:
        """The payor's invitation can still be accepted for the company."""
        return self.invitation.status is InvitationState.SENT


def join_request_table(company_id: int, state: TableState) -> TablePage:
    """One page of the requests to join the payee company, open ones first."""
    with tenancy.unscoped():  # the requester and the inviting payor are in no company of ours
        stmt = (
            sa.select(PayeeJoinRequest, User, Company.name, PayeeInvitation)
            .join(User, User.id == PayeeJoinRequest.user_id)
            .join(PayeeInvitation, PayeeInvitation.id == PayeeJoinRequest.invitation_id)
            .join(Company, Company.id == PayeeInvitation.payor_id)
            .where(PayeeJoinRequest.company_id == company_id)
        )
        if state.filter("status") in {s.value for s in JoinRequestState}:
            stmt = stmt.where(PayeeJoinRequest.state == JoinRequestState(state.filter("status")))
        order = sa.case(
            *((PayeeJoinRequest.state == s, n) for n, s in enumerate(JoinRequestState)), else_=9
        )
        page = paginate(
            stmt,
            state,
            {"person": sa.func.lower(User.name), "status": order, "asked": PayeeJoinRequest.id},
            tiebreak=PayeeJoinRequest.id,
        )
    return dataclasses.replace(page, rows=[JoinRequestRow(*row) for row in page.rows])


def join_request_of(company_id: int, request_id: int) -> PayeeJoinRequest:
    """One of the payee's join requests (404 for another company's, whatever the scope)."""
    request = db.session.scalar(
        sa.select(PayeeJoinRequest).where(
            PayeeJoinRequest.id == request_id, PayeeJoinRequest.company_id == company_id
        )
    )
    if request is None:
        raise NotFound("No such request.")
    return request


def companies_asked(user_id: int) -> list[str]:
    """The names of the payee companies ``user_id`` asked to join and waits for."""
    with tenancy.unscoped():
        return list(
            db.session.scalars(
                sa.select(Company.name)
                .join(PayeeJoinRequest, PayeeJoinRequest.company_id == Company.id)
                .where(
                    PayeeJoinRequest.user_id == user_id,
                    PayeeJoinRequest.state == JoinRequestState.REQUESTED,
                )
                .order_by(Company.name)
            )
        )
