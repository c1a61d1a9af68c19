"""A payor's relationship with a payee company, and the invitations that start it."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal.core.db import db, str_enum, utcnow
from portal.core.errors import IllegalTransition
from portal.core.status import Status, Tone
from portal.core.tenancy import TenantOwned


class OnboardingStatus(Status):
    """Where one payor stands with one payee (DESIGN §6), in the order a payee goes."""

    INVITE_NOT_SENT = "invite_not_sent", "Invite not sent", Tone.NEUTRAL
    INVITE_NOT_ACCEPTED = "invite_not_accepted", "Invite not accepted", Tone.PROGRESS
    NO_BANK_INFORMATION = "no_bank_information", "Onboarding in progress", Tone.PROGRESS
    NEEDS_REVIEW = "needs_review", "Needs review", Tone.WARNING
    APPROVED = "approved", "Ready for payment", Tone.SUCCESS


class InvitationState(Status):
    """A payee invitation's stored state. An open one past its expiry reads as expired."""

    SENT = "sent", "Sent", Tone.PROGRESS
    ACCEPTED = "accepted", "Accepted", Tone.SUCCESS
    EXPIRED = "expired", "Expired", Tone.NEUTRAL
    REVOKED = "revoked", "Revoked", Tone.NEUTRAL


# The one table of moves an invitation may make; anything else is refused.
INVITATION_TRANSITIONS: dict[InvitationState, frozenset[InvitationState]] = {
    InvitationState.SENT: frozenset({InvitationState.ACCEPTED, InvitationState.REVOKED}),
    InvitationState.ACCEPTED: frozenset(),
    InvitationState.REVOKED: frozenset(),
    InvitationState.EXPIRED: frozenset(),  # never stored: derived from the time
}


class PayeeRelationship(TenantOwned, db.Model):
    """One payor's record of one payee company: its directory entry (the name and contact the
    payor knows it by) and its onboarding status with this payor. Both sides see the row;
    neither sees the other relationships of the other side."""

    __tablename__ = "payee_relationship"
    tenant_columns = ("payor_id", "payee_id")

    id: Mapped[int] = mapped_column(primary_key=True)
    payor_id: Mapped[int] = mapped_column(sa.ForeignKey("company.id"), index=True)
    # Set once an invitation is accepted by a payee company.
    payee_id: Mapped[int | None] = mapped_column(sa.ForeignKey("company.id"), index=True)
    directory_name: Mapped[str] = mapped_column(sa.String(200))
    contact_email: Mapped[str] = mapped_column(sa.String(254))
    status: Mapped[OnboardingStatus] = mapped_column(
        str_enum(OnboardingStatus), default=OnboardingStatus.INVITE_NOT_SENT
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    # The payor's approval is of one bank account and one identity (tax id and legal name):
    # a change to either leaves the approval behind, and the payee needs review again.
    approved_bank_account_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("payee_bank_account.id")
    )
    approved_identity_version: Mapped[int | None]
    approved_at: Mapped[datetime | None]
    approved_by_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    # The approver's note to the payee while it stays in needs review (there is no reject).
    review_note: Mapped[str | None] = mapped_column(sa.Text)
    review_note_at: Mapped[datetime | None]

    __table_args__ = (
        # A payee company has one relationship with each payor.
        sa.Index(
            "uq_payee_relationship_payor_payee",
            "payor_id",
            "payee_id",
            unique=True,
            postgresql_where=sa.text("payee_id IS NOT NULL"),
            sqlite_where=sa.text("payee_id IS NOT NULL"),
        ),
        sa.Index("ix_payee_relationship_payor_status", "payor_id", "status"),
    )


class PayeeInvitation(TenantOwned, db.Model):
    """An invitation for one email address to onboard as a payee of the payor: a single-use
    link, bound to that email, that expires; only the link's hash is stored. Resending or
    reminding gives the invitation a new link (the old one stops working); reassigning
    revokes it and sends a new invitation to another address."""

    __tablename__ = "payee_invitation"
    tenant_columns = ("payor_id",)

    id: Mapped[int] = mapped_column(primary_key=True)
    payor_id: Mapped[int] = mapped_column(sa.ForeignKey("company.id"), index=True)
    relationship_id: Mapped[int] = mapped_column(sa.ForeignKey("payee_relationship.id"), index=True)
    email: Mapped[str] = mapped_column(sa.String(254))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    state: Mapped[InvitationState] = mapped_column(
        str_enum(InvitationState), default=InvitationState.SENT
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    last_sent_at: Mapped[datetime] = mapped_column(default=utcnow)
    times_sent: Mapped[int] = mapped_column(default=1)
    expires_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
    accepted_by_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    revoked_at: Mapped[datetime | None]
    # The invitation a reassignment replaced this one with.
    replaced_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("payee_invitation.id"))

    __table_args__ = (
        # One open invitation per relationship: concurrent invites cannot make two.
        sa.Index(
            "uq_payee_invitation_open",
            "relationship_id",
            unique=True,
            postgresql_where=sa.text("state = 'sent'"),
            sqlite_where=sa.text("state = 'sent'"),
        ),
        sa.CheckConstraint("times_sent >= 1", name="sent_at_least_once"),
        sa.CheckConstraint(
            "(state = 'accepted') = (accepted_at IS NOT NULL)", name="accepted_with_time"
        ),
        sa.CheckConstraint(
            "(state = 'revoked') = (revoked_at IS NOT NULL)", name="revoked_with_time"
        ),
    )

    @property
    def status(self) -> InvitationState:
        """The state as people see it: an open invitation past its expiry has expired."""
        if self.state is InvitationState.SENT and self.expires_at <= utcnow():
            return InvitationState.EXPIRED
        return self.state

    def check_move(self, state: InvitationState) -> None:
        """Refuse a move the transition table does not allow (the caller then makes it with
        a compare-and-set, so a concurrent move cannot slip in between)."""
        if state not in INVITATION_TRANSITIONS[self.status]:
            raise IllegalTransition(
                f"An invitation that is {self.status.label.lower()} cannot become "
                f"{state.label.lower()}."
            )


class PayAgreement(TenantOwned, db.Model):
    """The Pay agreement a payee accepted with one payor: the exact text it was shown, the
    version of the terms, and who accepted it when. Written once and never changed."""

    __tablename__ = "pay_agreement"
    tenant_columns = ("payor_id", "payee_id")

    id: Mapped[int] = mapped_column(primary_key=True)
    relationship_id: Mapped[int] = mapped_column(
        sa.ForeignKey("payee_relationship.id"), unique=True
    )
    payor_id: Mapped[int] = mapped_column(sa.ForeignKey("company.id"), index=True)
    payee_id: Mapped[int] = mapped_column(sa.ForeignKey("company.id"), index=True)
    version: Mapped[str] = mapped_column(sa.String(20))
    # The terms as shown, word for word, and their SHA-256: the record of what was agreed.
    text: Mapped[str] = mapped_column(sa.Text)
    text_sha256: Mapped[str] = mapped_column(sa.String(64))
    accepted_at: Mapped[datetime] = mapped_column(default=utcnow)
    accepted_by_user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    # The signer's name and title as they typed them.
    signer_name: Mapped[str] = mapped_column(sa.String(200))
    signer_title: Mapped[str] = mapped_column(sa.String(200))

    __table_args__ = (
        sa.CheckConstraint("length(text_sha256) = 64", name="text_digest_length"),
        sa.CheckConstraint("payor_id <> payee_id", name="two_companies"),
    )


class JoinRequestState(Status):
    REQUESTED = "requested", "Waiting for approval", Tone.WARNING
    APPROVED = "approved", "Approved", Tone.SUCCESS
    DECLINED = "declined", "Declined", Tone.NEUTRAL
    # The invitation that brought them was used meanwhile (for a company of their own).
    WITHDRAWN = "withdrawn", "Withdrawn", Tone.NEUTRAL


class PayeeJoinRequest(TenantOwned, db.Model):
    """Someone invited by a payor asks to join the payee company that is already on Trestle;
    one of its Payee Payments Admins approves (they become a member) or declines."""

    __tablename__ = "payee_join_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("company.id"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"), index=True)
    # The invitation that brought them: accepted for the company once they are let in.
    invitation_id: Mapped[int] = mapped_column(sa.ForeignKey("payee_invitation.id"), index=True)
    state: Mapped[JoinRequestState] = mapped_column(
        str_enum(JoinRequestState), default=JoinRequestState.REQUESTED
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]
    decided_by_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    decline_reason: Mapped[str | None] = mapped_column(sa.Text)

    __table_args__ = (
        # One open request per invitation: a double submit cannot ask twice.
        sa.Index(
            "uq_payee_join_request_open",
            "invitation_id",
            unique=True,
            postgresql_where=sa.text("state = 'requested'"),
            sqlite_where=sa.text("state = 'requested'"),
        ),
        sa.CheckConstraint(
            "(state = 'requested') = (decided_at IS NULL)", name="decided_with_time"
        ),
    )
