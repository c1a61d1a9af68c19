"""Create companies, add and invite members, grant and remove roles."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from datetime import timedelta

import sqlalchemy as sa

from portal.accounts.models import User
from portal.accounts.services import hash_token
from portal.companies.models import (
    ROLES_BY_KIND,
    Company,
    CompanyKind,
    Feature,
    FeatureActivation,
    Membership,
    MembershipInvitation,
    MembershipRole,
    Role,
)
from portal.core import audit, tenancy
from portal.core.db import db, utcnow
from portal.core.errors import DomainError, InvalidInput, NotAllowed, NotFound

INVITATION_LIFETIME = timedelta(days=7)

SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,58}[a-z0-9])?")
# A Beneficiary Approver vets payees' bank accounts; they must not also be able to pay them.
EXCLUSIVE_ROLES = {
    Role.BENEFICIARY_APPROVER: frozenset({Role.PAYMENTS_ADMIN, Role.DISBURSER}),
    Role.PAYMENTS_ADMIN: frozenset({Role.BENEFICIARY_APPROVER}),
    Role.DISBURSER: frozenset({Role.BENEFICIARY_APPROVER}),
}


# Features that keep a row per company (a payor's payment controls, its implementation
# project) register here and make it with the company, so no page ever has to create one.
COMPANY_CREATED: list[Callable[[Company], None]] = []


def create_company(slug: str, name: str, kind: CompanyKind) -> Company:
    slug = slug.strip().lower()
    if not SLUG.fullmatch(slug):
        raise InvalidInput(
            "Use lowercase letters, digits and hyphens for the short name.", field="slug"
        )
    if db.session.scalar(sa.select(Company.id).where(Company.slug == slug)):
        raise InvalidInput("Another company already uses that short name.", field="slug")
    company = Company(slug=slug, name=name.strip(), kind=kind)
    db.session.add(company)
    db.session.flush()
    for make_rows in COMPANY_CREATED:
        make_rows(company)
    db.session.flush()
    return company


def add_member(company: Company, user: User, *, actor_user_id: int | None) -> Membership:
    existing = db.session.scalar(
        sa.select(Membership).where(
            Membership.company_id == company.id, Membership.user_id == user.id
        )
    )
    if existing:
        return existing
    membership = Membership(company_id=company.id, user_id=user.id)
    db.session.add(membership)
    db.session.flush()
    audit.record(
        "companies:member:added",
        actor_user_id=actor_user_id,
        company_id=company.id,
        object_type="user",
        object_id=user.id,
    )
    return membership


def is_member(company: Company, user: User) -> bool:
    return (
        db.session.scalar(
            sa.select(Membership.id).where(
                Membership.company_id == company.id, Membership.user_id == user.id
            )
        )
        is not None
    )


# --------------------------------------------------------------------------- invitations


class InvitationClosed(DomainError):
    """An invitation link that has expired or was already used."""

    status_code = 410


def invite_member(
    company: Company,
    user: User,
    *,
    actor_user_id: int | None,
    lifetime: timedelta = INVITATION_LIFETIME,
) -> tuple[MembershipInvitation, str]:
    """Invite an existing account to join ``company``; return the invitation and its link token.

    The account's owner joins only by accepting, since it already answers to another company.
    """
    now = utcnow()
    pending = db.session.scalar(
        sa.select(MembershipInvitation).where(
            MembershipInvitation.company_id == company.id,
            MembershipInvitation.user_id == user.id,
            MembershipInvitation.accepted_at.is_(None),
            MembershipInvitation.expires_at > now,
        )
    )
    if pending is not None:
        raise InvalidInput(
            f"{user.email} was already invited on {pending.created_at:%B %-d, %Y}; "
            f"the invitation is open until {pending.expires_at:%B %-d, %Y}.",
            field="email",
        )
    token = secrets.token_urlsafe(32)
    invitation = MembershipInvitation(
        company_id=company.id,
        user_id=user.id,
        token_hash=hash_token(token),
        invited_by_user_id=actor_user_id,
        created_at=now,
        expires_at=now + lifetime,
    )
    db.session.add(invitation)
    db.session.flush()
    audit.record(
        "companies:member:invited",
        actor_user_id=actor_user_id,
        company_id=company.id,
        object_type="membership_invitation",
        object_id=invitation.id,
        after={"user_id": user.id, "email": user.email},
    )
    return invitation, token


def find_invitation(token: str, user: User) -> MembershipInvitation:
    """The open invitation behind a link, for ``user``; raise a domain error that says why not."""
    # The link is the authority here, not the company the invitee is working in.
    with tenancy.unscoped():
        invitation = db.session.scalar(
            sa.select(MembershipInvitation).where(
                MembershipInvitation.token_hash == hash_token(token)
            )
        )
    if invitation is None:
        raise NotFound(
            "This invitation link is not valid. Check that you opened the whole link from the "
            "email."
        )
    if invitation.user_id != user.id:
        raise NotAllowed(
            "This invitation was sent to another account. Sign out, then sign in with the "
            "account it was sent to."
        )
    if invitation.accepted_at is not None:
        raise InvitationClosed(
            f"This invitation was already used: you joined {invitation.company.name} on "
            f"{invitation.accepted_at:%B %-d, %Y}."
        )
    if invitation.expires_at <= utcnow():
        raise InvitationClosed(
            f"This invitation to {invitation.company.name} has expired. Ask the person who "
            "invited you to send a new one."
        )
    return invitation


def accept_invitation(token: str, user: User) -> Membership:
    """Use an invitation once: ``user`` becomes a member of the inviting company."""
    invitation = find_invitation(token, user)
    with tenancy.unscoped():
        # Compare-and-set, so two tabs accepting at once cannot both use the link.
        used = db.session.execute(
            sa.update(MembershipInvitation)
            .where(
                MembershipInvitation.id == invitation.id,
                MembershipInvitation.accepted_at.is_(None),
            )
            .values(accepted_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if used.rowcount != 1:
            raise InvitationClosed("This invitation was already used.")
        db.session.expire(invitation, ["accepted_at"])
        membership = add_member(invitation.company, user, actor_user_id=user.id)
    audit.record(
        "companies:member:invitation_accepted",
        actor_user_id=user.id,
        company_id=invitation.company_id,
        object_type="membership_invitation",
        object_id=invitation.id,
        after={"user_id": user.id},
    )
    return membership


def grant_role(membership: Membership, role: Role, *, actor_user_id: int | None) -> MembershipRole:
    """Give a member a role their company kind allows, honouring separation of duties."""
    company = membership.company
    # Lock the membership so two concurrent grants cannot both pass the separation-of-duties
    # check below; re-read its roles under the lock.
    db.session.execute(
        sa.select(Membership.id).where(Membership.id == membership.id).with_for_update()
    )
    db.session.expire(membership, ["roles"])
    if role not in ROLES_BY_KIND[company.kind]:
        raise InvalidInput(
            f"{role.label} is not a role in a {company.kind.value} company.", field="role"
        )
    held = membership.role_set
    if role in held:
        return next(r for r in membership.roles if r.role == role)
    conflicts = EXCLUSIVE_ROLES.get(role, frozenset()) & held
    if conflicts:
        names = " or ".join(sorted(c.label for c in conflicts))
        raise NotAllowed(f"A {role.label} cannot also be a {names}; remove that role first.")
    grant = MembershipRole(company_id=company.id, role=role, granted_by_user_id=actor_user_id)
    membership.roles.append(grant)
    db.session.flush()
    audit.record(
        "companies:role:granted",
        actor_user_id=actor_user_id,
        company_id=company.id,
        object_type="membership",
        object_id=membership.id,
        after={"user_id": membership.user_id, "role": role.value},
    )
    return grant


# A company always keeps someone who can manage it: the last holder of these cannot go.
LAST_ADMIN_ADVICE = {
    Role.PAYMENTS_ADMIN: (
        "Ask your Trestle operator to designate another Payments Admin (from a signed "
        "designation form) first, then remove this one."
    ),
    Role.PAYEE_ADMIN: (
        "Give the Payee Payments Admin role to a teammate first, then remove this one."
    ),
}


def revoke_role(membership: Membership, role: Role, *, actor_user_id: int | None) -> None:
    if role in LAST_ADMIN_ADVICE:
        _keep_an_admin(membership, role)
    db.session.expire(membership, ["roles"])
    grant = next((r for r in membership.roles if r.role == role), None)
    if grant is None:
        raise InvalidInput(f"They do not hold the {role.label} role.", field="role")
    membership.roles.remove(grant)
    db.session.flush()
    audit.record(
        "companies:role:removed",
        actor_user_id=actor_user_id,
        company_id=membership.company_id,
        object_type="membership",
        object_id=membership.id,
        before={"user_id": membership.user_id, "role": role.value},
    )


def _keep_an_admin(membership: Membership, role: Role) -> None:
    """Refuse to remove the company's last ``role`` holder. The company row is locked first,
    so two admins removing each other at once are decided one after the other."""
    db.session.execute(
        sa.select(Company.id).where(Company.id == membership.company_id).with_for_update()
    )
    holders = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(MembershipRole)
        .where(MembershipRole.company_id == membership.company_id, MembershipRole.role == role)
    )
    if holders <= 1:
        raise NotAllowed(
            f"{membership.user.name} is the only {role.label} of {membership.company.name}: "
            "the company would have nobody to manage it. " + LAST_ADMIN_ADVICE[role]
        )


def set_feature(
    company: Company, feature: Feature, enabled: bool, *, actor_user_id: int | None
) -> FeatureActivation:
    """Switch a payor's feature on or off (idempotent; audited when it changes)."""
    if company.kind is not CompanyKind.PAYOR:
        raise InvalidInput("Features are activated for payors only.")
    row = db.session.scalar(
        sa.select(FeatureActivation).where(
            FeatureActivation.company_id == company.id, FeatureActivation.feature == feature
        )
    )
    if row is None:
        row = FeatureActivation(company_id=company.id, feature=feature, enabled=False)
        db.session.add(row)
    if row.enabled == enabled:
        return row
    row.enabled = enabled
    row.changed_at = utcnow()
    row.changed_by_user_id = actor_user_id
    db.session.flush()
    db.session.expire(company, ["feature_activations"])
    audit.record(
        f"companies:feature:{'activated' if enabled else 'deactivated'}",
        actor_user_id=actor_user_id,
        company_id=company.id,
        object_type="feature",
        object_id=feature.value,
        before={"enabled": not enabled},
        after={"enabled": enabled},
    )
    return row
