"""Commands of payee onboarding. They take explicit arguments and never commit."""

from __future__ import annotations

import itertools
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from blinker import Namespace
from email_validator import EmailNotValidError, validate_email

from portal.accounts import services as accounts
from portal.accounts.models import User
from portal.accounts.services import hash_token
from portal.companies import services as companies
from portal.companies.models import Company, CompanyKind, Membership, Role
from portal.companies.queries import role_holder_emails
from portal.core import audit, ratelimit, tenancy
from portal.core.db import db, update_if, utcnow
from portal.core.errors import DomainError, InvalidInput, NotAllowed, NotFound
from portal.core.ratelimit import Limit
from portal.core.text import clean_text, one_line, possessive
from portal.core.urls import external_url
from portal.notifications.services import queue_email, queue_emails
from portal.onboarding import policies as payor_policies
from portal.onboarding import terms
from portal.onboarding.models import (
    InvitationState,
    JoinRequestState,
    OnboardingStatus,
    PayAgreement,
    PayeeInvitation,
    PayeeJoinRequest,
    PayeeRelationship,
)
from portal.onboarding.queries import agreement_of, payor_name, payor_of, relationship_of
from portal.payees import queries as payee_queries
from portal.payees import services as payee_services
from portal.payees.queries import PayeeReadiness

INVITATION_LIFETIME = timedelta(days=14)
MAX_INVITES_AT_ONCE = 20
# Invitation emails a payor may send (invites, resends, reminders, reassignments).
INVITE_SCOPE = "onboarding:invite"
INVITE_LIMITS = (Limit(100, timedelta(hours=1)), Limit(500, timedelta(days=1)))
# Resends and reminders of one invitation (one person's inbox).
RESEND_SCOPE = "onboarding:resend"
RESEND_LIMITS = (Limit(3, timedelta(hours=1)),)
# Requests to join a company made from one invitation (each names an admin's email).
JOIN_SCOPE = "onboarding:join"
JOIN_LIMITS = (Limit(5, timedelta(hours=1)), Limit(10, timedelta(days=1)))


_signals = Namespace()
# Sent with the relationship when a payee company takes up the payor's record of it, so
# that what the payor wrote for that record (its commitments) reaches the payee.
payee_connected = _signals.signal("payee-connected")


class InvitationClosed(DomainError):
    """An invitation link that was used, revoked or has expired."""

    status_code = 410


@dataclass(frozen=True)
class Invitee:
    """One company to invite: the name the payor knows it by, and whom to write to."""

    name: str
    email: str


@dataclass(frozen=True)
class SentInvitation:
    invitation: PayeeInvitation
    token: str  # the link's secret: only ever in the email, never stored


# --------------------------------------------------------------------------- inviting


def invite_payees(
    payor: Company, invitees: list[Invitee], *, actor_user_id: int | None
) -> list[SentInvitation]:
    """Start a relationship with each invitee and email each an invitation.

    All or nothing: one bad row refuses the batch (the error names it) and sends nothing."""
    if payor.kind is not CompanyKind.PAYOR:
        raise NotAllowed("Only a payor invites payees.")
    rows = [Invitee(one_line(i.name), _email(i.email, field="invitees")) for i in invitees]
    rows = [row for row in rows if row.name or row.email]
    if not rows:
        raise InvalidInput("Enter at least one company and email.", field="invitees")
    if len(rows) > MAX_INVITES_AT_ONCE:
        raise InvalidInput(
            f"Invite at most {MAX_INVITES_AT_ONCE} companies at once; this list has {len(rows)}.",
            field="invitees",
        )
    for number, row in enumerate(rows, start=1):
        if not row.name:
            raise InvalidInput(f"Row {number}: enter the company's name.", field="invitees")
        if not row.email:
            raise InvalidInput(f"Row {number}: enter an email address.", field="invitees")
        if len(row.name) > 200:
            raise InvalidInput(
                f"Row {number}: the name is longer than 200 characters.", field="invitees"
            )
    emails = [row.email for row in rows]
    if repeated := sorted({e for e in emails if emails.count(e) > 1}):
        raise InvalidInput(f"Listed twice: {', '.join(repeated)}.", field="invitees")
    waiting = set(
        db.session.scalars(
            sa.select(PayeeInvitation.email).where(
                PayeeInvitation.payor_id == payor.id,
                PayeeInvitation.state == InvitationState.SENT,
                PayeeInvitation.expires_at > utcnow(),
                PayeeInvitation.email.in_(emails),
            )
        )
    )
    if waiting:
        raise InvalidInput(
            f"Already invited and not yet accepted: {', '.join(sorted(waiting))}. "
            "Resend or remind from the list instead.",
            field="invitees",
        )
    if connected := _already_payees(payor, emails):
        raise InvalidInput(
            "Already your payees: "
            + ", ".join(f"{email} ({name})" for email, name in sorted(connected.items()))
            + ". Open them from the list instead.",
            field="invitees",
        )
    _spend_sends(payor, len(rows))
    # A payee whose invitation was withdrawn is invited again on its own record.
    withdrawn = {
        r.contact_email: r
        for r in db.session.scalars(
            sa.select(PayeeRelationship).where(
                PayeeRelationship.payor_id == payor.id,
                PayeeRelationship.payee_id.is_(None),
                PayeeRelationship.status == OnboardingStatus.INVITE_NOT_SENT,
                PayeeRelationship.contact_email.in_(emails),
            )
        )
    }
    sent = []
    for row in rows:
        relationship = withdrawn.get(row.email)
        if relationship is None:
            relationship = PayeeRelationship(
                payor_id=payor.id,
                directory_name=row.name,
                contact_email=row.email,
                created_by_user_id=actor_user_id,
            )
            db.session.add(relationship)
            db.session.flush()
            audit.record(
                "onboarding:payee:added",
                actor_user_id=actor_user_id,
                company_id=payor.id,
                object_type="payee_relationship",
                object_id=relationship.id,
                after={"directory_name": row.name, "contact_email": row.email},
            )
        relationship.status = OnboardingStatus.INVITE_NOT_ACCEPTED
        sent.append(_issue(payor, relationship, row.email, actor_user_id=actor_user_id))
    return sent


def add_to_directory(
    payor: Company, invitee: Invitee, *, actor_user_id: int | None
) -> PayeeRelationship:
    """List a company the payor works with but has not invited yet (a commitment may be
    written to it first); invite it later with ``invite_listed``."""
    if payor.kind is not CompanyKind.PAYOR:
        raise NotAllowed("Only a payor lists payees.")
    name = one_line(invitee.name)
    if not name:
        raise InvalidInput("Enter the company's name.", field="payee_name")
    if len(name) > 200:
        raise InvalidInput("The name is longer than 200 characters.", field="payee_name")
    email = _email(invitee.email, field="payee_email")
    if not email:
        raise InvalidInput("Enter the email of whom to invite.", field="payee_email")
    listed = db.session.scalar(
        sa.select(PayeeRelationship.directory_name).where(
            PayeeRelationship.payor_id == payor.id, PayeeRelationship.contact_email == email
        )
    )
    if listed is None:
        listed = _already_payees(payor, [email]).get(email)
    if listed is not None:
        raise InvalidInput(
            f"{email} is already the contact of {listed}: choose it from your payees.",
            field="payee_email",
        )
    relationship = PayeeRelationship(
        payor_id=payor.id,
        directory_name=name,
        contact_email=email,
        created_by_user_id=actor_user_id,
    )
    db.session.add(relationship)
    db.session.flush()
    audit.record(
        "onboarding:payee:added",
        actor_user_id=actor_user_id,
        company_id=payor.id,
        object_type="payee_relationship",
        object_id=relationship.id,
        after={"directory_name": name, "contact_email": email},
    )
    return relationship


def open_invitation(relationship: PayeeRelationship) -> PayeeInvitation | None:
    """The relationship's invitation that was sent and not used or revoked (it may have
    expired: a resend opens it again)."""
    return db.session.scalar(
        sa.select(PayeeInvitation).where(
            PayeeInvitation.relationship_id == relationship.id,
            PayeeInvitation.state == InvitationState.SENT,
        )
    )


def invite_listed(
    relationship: PayeeRelationship, email: str, *, actor_user_id: int | None
) -> SentInvitation:
    """Invite a company the payor already lists to Trestle Pay, at ``email`` (which becomes
    its contact): the same invitation, link and limits as an invitation from the Payees page."""
    if relationship.payee_id is not None:
        raise DomainError(f"{relationship.directory_name} is already on Trestle Pay.")
    if (sent := open_invitation(relationship)) is not None:
        raise InvalidInput(
            f"{relationship.directory_name} was already invited ({sent.email}, "
            f"{sent.status.label.lower()}): resend, remind or reassign that invitation from "
            "the Payees page instead.",
            field="email",
        )
    address = _email(email, field="email")
    if not address:
        raise InvalidInput("Enter the email of whom to invite.", field="email")
    if connected := _already_payees(payor_of_relationship(relationship), [address]):
        raise InvalidInput(
            f"{address} is already with your payee {connected[address]}.", field="email"
        )
    payor = payor_of_relationship(relationship)
    _spend_sends(payor, 1)
    if address != relationship.contact_email:
        audit.record(
            "onboarding:payee:contact_changed",
            actor_user_id=actor_user_id,
            company_id=payor.id,
            object_type="payee_relationship",
            object_id=relationship.id,
            before={"contact_email": relationship.contact_email},
            after={"contact_email": address},
        )
        relationship.contact_email = address
    relationship.status = OnboardingStatus.INVITE_NOT_ACCEPTED
    return _issue(payor, relationship, address, actor_user_id=actor_user_id)


def payor_of_relationship(relationship: PayeeRelationship) -> Company:
    return db.session.get(Company, relationship.payor_id)


def resend(
    invitation: PayeeInvitation, *, actor_user_id: int | None, remind: bool = False
) -> SentInvitation:
    """Email the invitation again with a new link (the old link stops working).

    A resend also opens it for another 14 days, so it revives an expired invitation; a
    reminder keeps its date and is refused once it has expired."""
    status = invitation.status
    if status not in (InvitationState.SENT, InvitationState.EXPIRED):
        raise InvitationClosed(
            f"This invitation was {status.label.lower()}; there is nothing to send again."
        )
    if remind and status is InvitationState.EXPIRED:
        raise InvalidInput("This invitation has expired: resend it to open it again.")
    payor = payor_of(invitation)
    key = str(invitation.id)
    if ratelimit.is_limited(RESEND_SCOPE, key, RESEND_LIMITS):
        raise InvalidInput(
            "This invitation was sent three times in the last hour. Give the recipient time "
            "to find it (and their spam folder) before sending it again."
        )
    _spend_sends(payor, 1)
    ratelimit.record(RESEND_SCOPE, key)
    token = secrets.token_urlsafe(32)
    now = utcnow()
    before = {"expires_at": invitation.expires_at.isoformat(), "times_sent": invitation.times_sent}
    invitation.token_hash = hash_token(token)
    invitation.last_sent_at = now
    invitation.times_sent += 1
    if not remind:
        invitation.expires_at = now + INVITATION_LIFETIME
    details = {
        "actor_user_id": actor_user_id,
        "company_id": invitation.payor_id,
        "object_type": "payee_invitation",
        "object_id": invitation.id,
        "before": before,
        "after": {
            "expires_at": invitation.expires_at.isoformat(),
            "times_sent": invitation.times_sent,
        },
    }
    if remind:
        audit.record("onboarding:invitation:reminded", **details)
    else:
        audit.record("onboarding:invitation:resent", **details)
    _email_invitation(payor, invitation, token, reminder=remind)
    return SentInvitation(invitation, token)


def revoke(invitation: PayeeInvitation, *, actor_user_id: int | None) -> None:
    """Withdraw an open invitation: its link stops working at once."""
    _close(invitation, actor_user_id=actor_user_id)
    relationship = relationship_of(invitation)
    if relationship.payee_id is None:
        relationship.status = OnboardingStatus.INVITE_NOT_SENT
    audit.record(
        "onboarding:invitation:revoked",
        actor_user_id=actor_user_id,
        company_id=invitation.payor_id,
        object_type="payee_invitation",
        object_id=invitation.id,
        after={"email": invitation.email},
    )


def reassign(
    invitation: PayeeInvitation, email: str, *, actor_user_id: int | None
) -> SentInvitation:
    """Send the invitation to someone else instead (a colleague with authority over banking):
    this one is revoked and a new one, with its own link and 14 days, goes to ``email``."""
    new_email = _email(email, field="email")
    if new_email == invitation.email:
        raise InvalidInput("That is the address it was already sent to.", field="email")
    payor = payor_of(invitation)
    _close(invitation, actor_user_id=actor_user_id)
    db.session.flush()  # the open-invitation index allows one per relationship
    relationship = relationship_of(invitation)
    _spend_sends(payor, 1)
    replacement = _issue(payor, relationship, new_email, actor_user_id=actor_user_id)
    invitation.replaced_by_id = replacement.invitation.id
    relationship.contact_email = new_email
    audit.record(
        "onboarding:invitation:reassigned",
        actor_user_id=actor_user_id,
        company_id=invitation.payor_id,
        object_type="payee_invitation",
        object_id=invitation.id,
        before={"email": invitation.email},
        after={"email": new_email, "invitation_id": replacement.invitation.id},
    )
    return replacement


# --------------------------------------------------------------------------- the link


def find_invitation(token: str, *, email: str | None = None) -> PayeeInvitation:
    """The open invitation behind a link; raise a domain error that says why not.

    With ``email`` (the signed-in person's), the link must also have been sent to it."""
    # The link is the authority here: its holder belongs to no company of the payor's.
    with tenancy.unscoped():
        invitation = db.session.scalar(
            sa.select(PayeeInvitation).where(PayeeInvitation.token_hash == hash_token(token))
        )
        payor = invitation and db.session.get(Company, invitation.payor_id)
    if invitation is None or payor is None:
        raise NotFound(
            "This invitation link is not valid. Open the whole link from the most recent "
            "invitation email: sending an invitation again replaces the link of the one before."
        )
    status = invitation.status
    if status is InvitationState.ACCEPTED:
        raise InvitationClosed(
            f"This invitation from {payor.name} was already accepted "
            f"on {invitation.accepted_at:%B %-d, %Y}. Sign in to continue."
        )
    if status is InvitationState.REVOKED:
        replaced = invitation.replaced_by_id is not None
        raise InvitationClosed(
            f"{payor.name} sent this invitation to someone else instead."
            if replaced
            else f"{payor.name} withdrew this invitation. Ask them to send a new one."
        )
    if status is InvitationState.EXPIRED:
        raise InvitationClosed(
            f"This invitation from {payor.name} expired on {invitation.expires_at:%B %-d, %Y}. "
            "Ask them to send it again."
        )
    if email is not None and email.strip().lower() != invitation.email:
        raise NotAllowed(
            "This invitation was sent to another email address. Sign in with the account of "
            "the address it was sent to, or ask for it to be sent to you."
        )
    return invitation


def reassign_by_recipient(token: str, email: str) -> SentInvitation:
    """The recipient passes their invitation to a colleague (who will set up banking): the
    link is the recipient's authority, as it reached their inbox."""
    invitation = find_invitation(token)
    # The recipient belongs to none of the payor's companies: the link is the scope.
    with tenancy.unscoped():
        return reassign(invitation, email, actor_user_id=None)


# --------------------------------------------------------------------------- helpers


def _email(value: str, *, field: str) -> str:
    text = (value or "").strip()
    if not text:
        return ""
    try:
        return validate_email(text, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise InvalidInput(f"{text[:80]} is not a valid email address.", field=field) from None


def _already_payees(payor: Company, emails: list[str]) -> dict[str, str]:
    """Of ``emails``, those of people at a payee company already connected to the payor
    (or its contact), with the payor's name for that payee."""
    with tenancy.unscoped():
        members = (
            sa.select(User.email, PayeeRelationship.directory_name)
            .join(Membership, Membership.user_id == User.id)
            .join(PayeeRelationship, PayeeRelationship.payee_id == Membership.company_id)
        )
        contacts = sa.select(PayeeRelationship.contact_email, PayeeRelationship.directory_name)
        found = db.session.execute(
            members.where(PayeeRelationship.payor_id == payor.id, User.email.in_(emails)).union(
                contacts.where(
                    PayeeRelationship.payor_id == payor.id,
                    PayeeRelationship.payee_id.is_not(None),
                    PayeeRelationship.contact_email.in_(emails),
                )
            )
        ).all()
    return dict(found)


def _spend_sends(payor: Company, count: int) -> None:
    """Count ``count`` invitation emails against the payor's limits, or refuse them all."""
    key = str(payor.id)
    for _ in range(count):
        if ratelimit.is_limited(INVITE_SCOPE, key, INVITE_LIMITS):
            raise InvalidInput(
                f"{payor.name} has sent as many invitations as it may for now. "
                "Try again in an hour.",
                field="invitees",
            )
        ratelimit.record(INVITE_SCOPE, key)


def _issue(
    payor: Company, relationship: PayeeRelationship, email: str, *, actor_user_id: int | None
) -> SentInvitation:
    token = secrets.token_urlsafe(32)
    now = utcnow()
    invitation = PayeeInvitation(
        payor_id=payor.id,
        relationship_id=relationship.id,
        email=email,
        token_hash=hash_token(token),
        created_by_user_id=actor_user_id,
        created_at=now,
        last_sent_at=now,
        expires_at=now + INVITATION_LIFETIME,
    )
    db.session.add(invitation)
    db.session.flush()
    audit.record(
        "onboarding:invitation:sent",
        actor_user_id=actor_user_id,
        company_id=payor.id,
        object_type="payee_invitation",
        object_id=invitation.id,
        after={"email": email, "relationship_id": relationship.id},
    )
    _email_invitation(payor, invitation, token, reminder=False)
    return SentInvitation(invitation, token)


def _email_invitation(
    payor: Company, invitation: PayeeInvitation, token: str, *, reminder: bool
) -> None:
    from portal.payment_settings.services import controls_of

    queue_email(
        invitation.email,
        "payee_invitation",
        company_id=payor.id,
        payor=payor.name,
        message=controls_of(payor).invitation_message,
        reminder=reminder,
        expires_on=f"{invitation.expires_at:%B %-d, %Y}",
        url=external_url("onboarding.show_invitation", token=token),
    )


def _close(invitation: PayeeInvitation, *, actor_user_id: int | None) -> None:
    # Compare-and-set: of two concurrent closes (or a close and an accept), one wins.
    invitation.check_move(InvitationState.REVOKED)
    closed = db.session.execute(
        sa.update(PayeeInvitation)
        .where(PayeeInvitation.id == invitation.id, PayeeInvitation.state == InvitationState.SENT)
        .values(state=InvitationState.REVOKED, revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if closed.rowcount != 1:
        db.session.expire(invitation)
        raise InvitationClosed("This invitation was closed meanwhile.")
    db.session.expire(invitation, ["state", "revoked_at"])


# --------------------------------------------------------------------------- accepting


def accept_as_new_payee(
    token: str, *, company_name: str, person_name: str, password: str
) -> Membership:
    """Accept for someone new to Trestle: make their account (with the invitation's email),
    a payee company they are the Payee Payments Admin of, and connect it to the payor.

    They enroll in two-step verification at their first sign-in, which follows at once."""
    invitation = find_invitation(token)
    if accounts.find_user_by_email(invitation.email) is not None:
        raise NotAllowed(
            f"{invitation.email} already has a Trestle account. Sign in with it, then open "
            "the invitation link again."
        )
    company_name, person_name = one_line(company_name), one_line(person_name)
    if not company_name:
        raise InvalidInput("Enter your company's name.", field="company_name")
    if not person_name:
        raise InvalidInput("Enter your name.", field="person_name")
    accounts.check_password_rules(password, invitation.email)
    with tenancy.unscoped():
        user = accounts.create_user(invitation.email, person_name, password)
        payee = companies.create_company(_free_slug(company_name), company_name, CompanyKind.PAYEE)
        membership = companies.add_member(payee, user, actor_user_id=user.id)
        companies.grant_role(membership, Role.PAYEE_ADMIN, actor_user_id=user.id)
        _accept(invitation, payee, user)
    return membership


def accept_for_member(token: str, user: User, *, payee: Company | None, company_name: str = ""):
    """Accept for a signed-in person whose email the invitation was sent to: onboard as a
    payee company they are the Payee Payments Admin of (``payee``), or as a new one."""
    invitation = find_invitation(token, email=user.email)
    with tenancy.unscoped():
        if payee is None:
            name = one_line(company_name)
            if not name:
                raise InvalidInput("Enter your company's name.", field="company_name")
            payee = companies.create_company(_free_slug(name), name, CompanyKind.PAYEE)
            membership = companies.add_member(payee, user, actor_user_id=user.id)
            companies.grant_role(membership, Role.PAYEE_ADMIN, actor_user_id=user.id)
        elif not _administers(user, payee):
            raise NotAllowed(
                "Only a Payee Payments Admin of a payee company can onboard it to a payor."
            )
        _accept(invitation, payee, user)
    return payee


def request_to_join(
    token: str, *, person_name: str, password: str, admin_email: str
) -> PayeeJoinRequest | None:
    """Someone new to Trestle whose company already is on it asks to join that company,
    named by its admin's email: their account is made (with the invitation's email), and
    the company's Payee Payments Admins decide.

    Whether the address is a payee admin is never told (the page says the same either way):
    when it is not, nothing is made and None is returned. Tries are limited per invitation."""
    invitation = find_invitation(token)
    if accounts.find_user_by_email(invitation.email) is not None:
        raise NotAllowed(
            f"{invitation.email} already has a Trestle account. Sign in with it, then open "
            "the invitation link again."
        )
    person_name = one_line(person_name)
    if not person_name:
        raise InvalidInput("Enter your name.", field="person_name")
    admin = _email(admin_email, field="admin_email")
    if not admin:
        raise InvalidInput("Enter the email of your company's Trestle admin.", field="admin_email")
    accounts.check_password_rules(password, invitation.email)
    key = str(invitation.id)
    if ratelimit.is_limited(JOIN_SCOPE, key, JOIN_LIMITS):
        raise InvalidInput(
            "This invitation has asked to join a company too often for now. Try again in an "
            "hour, or pass the invitation to your company's admin below.",
            field="admin_email",
        )
    ratelimit.record(JOIN_SCOPE, key)
    with tenancy.unscoped():
        admin_user = accounts.find_user_by_email(admin)
        companies_run = payees_administered(admin_user) if admin_user else []
        if len(companies_run) != 1:
            return None  # nobody to ask (or no one company to ask for): said the same way
        (payee,) = companies_run
        user = accounts.create_user(invitation.email, person_name, password)
        request = PayeeJoinRequest(
            company_id=payee.id, user_id=user.id, invitation_id=invitation.id
        )
        db.session.add(request)
        db.session.flush()  # one open request per invitation
        payor = payor_of(invitation)
        audit.record(
            "onboarding:join:requested",
            actor_user_id=user.id,
            company_id=payee.id,
            object_type="payee_join_request",
            object_id=request.id,
            after={"email": user.email, "name": user.name, "payor": payor.name},
        )
        queue_emails(
            role_holder_emails(payee.id, Role.PAYEE_ADMIN),
            "payee_join_request",
            company_id=payee.id,
            person=user.name,
            person_email=user.email,
            company=payee.name,
            payor=payor.name,
            url=external_url("onboarding.list_join_requests"),
        )
    return request


def approve_join(request: PayeeJoinRequest, *, actor_user_id: int) -> Membership:
    """Let the requester in, as a member without roles (the admin grants roles after).

    The payor's invitation is not accepted here: connecting a payor shows it the company's
    profile and bank account, so the admin does it as its own decision
    (``accept_joined_invitation``)."""
    _decide_join(request, JoinRequestState.APPROVED, actor_user_id=actor_user_id)
    audit.record(
        "onboarding:join:approved",
        actor_user_id=actor_user_id,
        company_id=request.company_id,
        object_type="payee_join_request",
        object_id=request.id,
        after={"user_id": request.user_id},
    )
    with tenancy.unscoped():
        payee = db.session.get(Company, request.company_id)
        user = db.session.get(User, request.user_id)
        membership = companies.add_member(payee, user, actor_user_id=actor_user_id)
        queue_email(
            user.email,
            "payee_join_decided",
            company_id=payee.id,
            company=payee.name,
            approved=True,
            url=external_url("accounts.login"),
        )
    return membership


def accept_joined_invitation(request: PayeeJoinRequest, admin: User) -> Company:
    """The admin accepts, for the company, the invitation that brought someone they let in:
    the payor is connected and sees the company's profile and receiving account."""
    if request.state is not JoinRequestState.APPROVED:
        raise DomainError(
            "Let them in first; then you may accept the invitation that brought them."
        )
    with tenancy.unscoped():
        invitation = db.session.get(PayeeInvitation, request.invitation_id)
        payee = db.session.get(Company, request.company_id)
        if not _administers(admin, payee):
            raise NotAllowed("Only a Payee Payments Admin of the company accepts for it.")
        status = invitation.status
        if status is not InvitationState.SENT:
            raise InvitationClosed(
                f"{possessive(payor_of(invitation).name)} invitation was "
                f"{status.label.lower()}: ask them to send a new one if you want to be paid by "
                "them."
            )
        _accept(invitation, payee, admin)
    return payee


def decline_join(request: PayeeJoinRequest, reason: str, *, actor_user_id: int) -> None:
    """Refuse the request; the requester is told why. Their account stays, without access."""
    text = clean_text(reason or "").strip()
    if not text:
        raise InvalidInput("Say why, so that they know what to do instead.", field="reason")
    if len(text) > 1000:
        raise InvalidInput("Keep the reason under 1,000 characters.", field="reason")
    _decide_join(request, JoinRequestState.DECLINED, actor_user_id=actor_user_id, reason=text)
    audit.record(
        "onboarding:join:declined",
        actor_user_id=actor_user_id,
        company_id=request.company_id,
        object_type="payee_join_request",
        object_id=request.id,
        after={"user_id": request.user_id, "reason": text[:500]},
    )
    with tenancy.unscoped():
        payee = db.session.get(Company, request.company_id)
        user = db.session.get(User, request.user_id)
        queue_email(
            user.email,
            "payee_join_decided",
            company_id=payee.id,
            company=payee.name,
            approved=False,
            reason=text,
        )


def _decide_join(
    request: PayeeJoinRequest,
    state: JoinRequestState,
    *,
    actor_user_id: int,
    reason: str | None = None,
) -> None:
    # Compare-and-set: of two admins deciding at once, one decides.
    if not update_if(
        request,
        PayeeJoinRequest.state == JoinRequestState.REQUESTED,
        state=state,
        decided_at=utcnow(),
        decided_by_user_id=actor_user_id,
        decline_reason=reason,
    ):
        raise DomainError("This request was already decided.")


def payees_administered(user: User) -> list[Company]:
    """The payee companies ``user`` may onboard to a payor: those they are the admin of."""
    return [
        m.company
        for m in user.memberships
        if m.company.kind is CompanyKind.PAYEE and Role.PAYEE_ADMIN in m.role_set
    ]


def _administers(user: User, payee: Company) -> bool:
    return any(company.id == payee.id for company in payees_administered(user))


def _accept(invitation: PayeeInvitation, payee: Company, user: User) -> None:
    invitation.check_move(InvitationState.ACCEPTED)
    relationship = relationship_of(invitation)
    taken = db.session.scalar(
        sa.select(PayeeRelationship.id).where(
            PayeeRelationship.payor_id == invitation.payor_id,
            PayeeRelationship.payee_id == payee.id,
        )
    )
    if taken is not None:
        raise InvalidInput(
            f"{payee.name} is already a payee of {payor_of(invitation).name}.",
            field="payee",
        )
    # Compare-and-set, so two tabs accepting at once cannot both use the link.
    used = db.session.execute(
        sa.update(PayeeInvitation)
        .where(PayeeInvitation.id == invitation.id, PayeeInvitation.state == InvitationState.SENT)
        .values(state=InvitationState.ACCEPTED, accepted_at=utcnow(), accepted_by_user_id=user.id)
        .execution_options(synchronize_session=False)
    )
    if used.rowcount != 1:
        raise InvitationClosed("This invitation was already used.")
    db.session.expire(invitation)
    _withdraw_join_requests(invitation, payee)
    relationship.payee_id = payee.id
    relationship.status = OnboardingStatus.NO_BANK_INFORMATION
    payee_connected.send(relationship)
    audit.record(
        "onboarding:invitation:accepted",
        actor_user_id=user.id,
        company_id=invitation.payor_id,
        object_type="payee_invitation",
        object_id=invitation.id,
        after={"payee_id": payee.id, "payee": payee.name},
    )
    # A payee that onboarded for another payor arrives with its profile and account.
    with tenancy.unscoped():
        _refresh(relationship, payee_queries.readiness(payee.id))


def _withdraw_join_requests(invitation: PayeeInvitation, payee: Company) -> None:
    """A request to join some company, made from an invitation now used for ``payee``, is
    moot: it is withdrawn, so no admin lets in someone who went elsewhere."""
    with tenancy.unscoped():
        waiting = db.session.scalars(
            sa.select(PayeeJoinRequest).where(
                PayeeJoinRequest.invitation_id == invitation.id,
                PayeeJoinRequest.state == JoinRequestState.REQUESTED,
            )
        ).all()
        for request in waiting:
            if not update_if(
                request,
                PayeeJoinRequest.state == JoinRequestState.REQUESTED,
                state=JoinRequestState.WITHDRAWN,
                decided_at=utcnow(),
            ):
                continue  # an admin decided on it meanwhile
            audit.record(
                "onboarding:join:withdrawn",
                company_id=request.company_id,
                object_type="payee_join_request",
                object_id=request.id,
                after={"user_id": request.user_id, "onboarded_as": payee.name},
            )


# --------------------------------------------------------------------------- status


# The statuses that follow from the payee's own facts and the payor's approval.
ONBOARDED = (
    OnboardingStatus.NO_BANK_INFORMATION,
    OnboardingStatus.NEEDS_REVIEW,
    OnboardingStatus.APPROVED,
)


def status_for(
    relationship: PayeeRelationship, ready: PayeeReadiness, *, agreed: bool
) -> OnboardingStatus:
    """Onboarding status from facts: in review once the payee's profile, receiving account
    and this payor's Pay agreement are done; approved only while the payor's approval is of
    the receiving account and the tax identity the payee has now."""
    if not (ready.ready_for_review and agreed):
        return OnboardingStatus.NO_BANK_INFORMATION
    assert ready.receiving is not None and ready.profile is not None
    if (
        relationship.approved_at is not None
        and relationship.approved_bank_account_id == ready.receiving.id
        and relationship.approved_identity_version == ready.profile.identity_version
    ):
        return OnboardingStatus.APPROVED
    return OnboardingStatus.NEEDS_REVIEW


def _refresh(relationship: PayeeRelationship, ready: PayeeReadiness) -> None:
    status = status_for(relationship, ready, agreed=agreement_of(relationship) is not None)
    if status is relationship.status:
        return
    audit.record(
        "onboarding:relationship:status_changed",
        company_id=relationship.payor_id,
        object_type="payee_relationship",
        object_id=relationship.id,
        before={"status": relationship.status.value},
        after={"status": status.value, "payee_id": relationship.payee_id},
    )
    relationship.status = status


def refresh_statuses(payee_id: int) -> None:
    """Recompute every payor's onboarding status of this payee (after it changed)."""
    with tenancy.unscoped():
        ready = payee_queries.readiness(payee_id)
        relationships = db.session.scalars(
            sa.select(PayeeRelationship).where(
                PayeeRelationship.payee_id == payee_id,
                PayeeRelationship.status.in_(ONBOARDED),
            )
        ).all()
        for relationship in relationships:
            _refresh(relationship, ready)


payee_services.PAYEE_CHANGE_LISTENERS.append(refresh_statuses)


# --------------------------------------------------------------------------- approval


def approve(relationship: PayeeRelationship, *, actor_user_id: int) -> None:
    """A Beneficiary Approver approves the payee as it is now: its receiving account and its
    tax identity. Refused while an operator's review or a freeze is pending."""
    with tenancy.unscoped():
        ready = payee_queries.readiness(relationship.payee_id) if relationship.payee_id else None
    if ready is None or relationship.status is not OnboardingStatus.NEEDS_REVIEW:
        raise DomainError(
            f"Only a payee that needs review can be approved; this one is "
            f"“{relationship.status.label}”."
        )
    account, profile = ready.receiving, ready.profile
    assert account is not None and profile is not None  # needs review implies both
    if account.frozen_at is not None:
        raise DomainError(
            "The payee reported this bank account as not theirs; it is frozen until a Trestle "
            "operator has reviewed it."
        )
    if account.needs_operator_review:
        raise DomainError(
            f"A Trestle operator must review this bank account first: {account.review_reason}."
        )
    if not update_if(
        relationship,
        PayeeRelationship.status == OnboardingStatus.NEEDS_REVIEW,
        approved_bank_account_id=account.id,
        approved_identity_version=profile.identity_version,
        approved_at=utcnow(),
        approved_by_user_id=actor_user_id,
        review_note=None,
        review_note_at=None,
    ):
        raise DomainError("The payee changed meanwhile. Reload the page and look again.")
    audit.record(
        "onboarding:relationship:approved",
        actor_user_id=actor_user_id,
        company_id=relationship.payor_id,
        object_type="payee_relationship",
        object_id=relationship.id,
        after={
            "payee": relationship.directory_name,
            "account_last4": account.account_last4,
            "ownership_check": account.ownership_result.value if account.ownership_result else None,
            "identity_version": profile.identity_version,
        },
    )
    _refresh(relationship, ready)


def note_for_payee(relationship: PayeeRelationship, note: str, *, actor_user_id: int) -> None:
    """Instead of rejecting, the approver tells the payee what to fix; it stays in review."""
    text = clean_text(note or "").strip()
    if not text:
        raise InvalidInput("Write what the payee should fix or explain.", field="note")
    if len(text) > 2000:
        raise InvalidInput("Keep the note under 2,000 characters.", field="note")
    if relationship.payee_id is None:
        raise DomainError("The payee has not joined yet: there is nobody to write to.")
    relationship.review_note = text
    relationship.review_note_at = utcnow()
    payor = db.session.get(Company, relationship.payor_id)
    queue_emails(
        role_holder_emails(relationship.payee_id, Role.PAYEE_ADMIN),
        "payee_review_note",
        company_id=relationship.payee_id,
        payor=payor.name,
        note=text,
        url=external_url("home.show_dashboard"),
    )
    audit.record(
        "onboarding:relationship:noted",
        actor_user_id=actor_user_id,
        company_id=relationship.payor_id,
        object_type="payee_relationship",
        object_id=relationship.id,
        after={"note": text[:500]},
    )


# --------------------------------------------------------------------------- Pay agreement


def pay_agreement_terms(relationship: PayeeRelationship) -> str:
    """The current terms between this payor and this payee, as the payee would accept them."""
    with tenancy.unscoped():
        payor = db.session.get(Company, relationship.payor_id)
        profile = payee_queries.profile_of(relationship.payee_id)
        payee = db.session.get(Company, relationship.payee_id)
    return terms.pay_agreement_text(payor.name, profile.legal_name if profile else payee.name)


def accept_pay_agreement(
    relationship: PayeeRelationship,
    *,
    actor_user_id: int,
    version: str,
    shown_digest: str,
    signer_name: str,
    signer_title: str,
) -> PayAgreement:
    """The payee admin accepts the Pay agreement with this payor: the text as shown is kept,
    with its version and digest, and is never changed afterwards."""
    if relationship.payee_id is None:
        raise NotAllowed("Only a payee that joined can accept the Pay agreement.")
    if (accepted := agreement_of(relationship)) is not None:
        raise DomainError(
            f"The Pay agreement was already accepted on {accepted.accepted_at:%B %-d, %Y} "
            f"by {accepted.signer_name}; it cannot be accepted again or changed."
        )
    if version != terms.PAY_AGREEMENT_VERSION:
        raise DomainError(
            "The agreement was updated while you were reading it. Read this version and "
            "accept it again."
        )
    name, title = one_line(signer_name), one_line(signer_title)
    if not name:
        raise InvalidInput("Enter your name.", field="name")
    if not title:
        raise InvalidInput("Enter your title.", field="title")
    if len(name) > 200 or len(title) > 200:
        raise InvalidInput("Keep the name and the title under 200 characters.", field="name")
    text = pay_agreement_terms(relationship)
    if not secrets.compare_digest(terms.digest(text), shown_digest or ""):
        # A name in it changed (the payee's legal name, the payor's) since the page was shown.
        raise DomainError(
            "The agreement changed while you were reading it. Read it again and accept it."
        )
    agreement = PayAgreement(
        relationship_id=relationship.id,
        payor_id=relationship.payor_id,
        payee_id=relationship.payee_id,
        version=terms.PAY_AGREEMENT_VERSION,
        text=text,
        text_sha256=terms.digest(text),
        accepted_at=utcnow(),
        accepted_by_user_id=actor_user_id,
        signer_name=name,
        signer_title=title,
    )
    db.session.add(agreement)
    db.session.flush()  # one per relationship: a concurrent acceptance fails here
    audit.record(
        "onboarding:agreement:accepted",
        actor_user_id=actor_user_id,
        company_id=relationship.payee_id,
        object_type="pay_agreement",
        object_id=agreement.id,
        after={
            "payor_id": relationship.payor_id,
            "payor": payor_name(relationship),
            "version": agreement.version,
            "text_sha256": agreement.text_sha256,
            "signer": name,
            "title": title,
        },
    )
    with tenancy.unscoped():
        _refresh(relationship, payee_queries.readiness(relationship.payee_id))
    return agreement


def _tell_approvers(account, replaced) -> None:
    """Every payor of the payee hears that payments would now go elsewhere."""
    with tenancy.unscoped():
        rows = db.session.execute(
            sa.select(PayeeRelationship, Company)
            .join(Company, Company.id == PayeeRelationship.payor_id)
            .where(
                PayeeRelationship.payee_id == account.company_id,
                PayeeRelationship.status.in_(ONBOARDED),
            )
        ).all()
        for relationship, payor in rows:
            days = payor_policies.cooling_off_days(payor.id)
            queue_emails(
                role_holder_emails(payor.id, Role.BENEFICIARY_APPROVER),
                "payee_bank_account_changed",
                company_id=payor.id,
                payee=relationship.directory_name,
                account_last4=account.account_last4,
                replaced_last4=replaced.account_last4 if replaced else None,
                cooling_off_days=days,
                url=external_url("onboarding.show_payee", relationship_id=relationship.id),
            )


payee_services.RECEIVING_CHANGE_LISTENERS.append(_tell_approvers)


def _free_slug(name: str) -> str:
    """A short name for a new company, from its name, that no company uses yet."""
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:50].strip("-") or "payee"
    if len(base) < 2:
        base = f"{base}-co"
    taken = set(
        db.session.scalars(
            sa.select(Company.slug).where(
                sa.or_(Company.slug == base, Company.slug.like(f"{base}-%"))
            )
        )
    )
    if base not in taken:
        return base
    return next(f"{base}-{n}" for n in itertools.count(2) if f"{base}-{n}" not in taken)
