"""Who may do what in a company: pure functions over the acting membership and the target."""

from __future__ import annotations

from portal.companies.models import CompanyKind, Membership, Role

# Which roles each kind of admin may hand out. Payments Admins are designated by operators
# only (with a signed designation form, in the operator console).
GRANTABLE_BY = {
    Role.PAYMENTS_ADMIN: frozenset(
        {
            Role.DISBURSER,
            Role.CONTRIBUTOR,
            Role.BENEFICIARY_APPROVER,
            Role.INVOICE_ADMINISTRATOR,
            Role.VIEWER,
        }
    ),
    Role.PAYEE_ADMIN: frozenset({Role.PAYEE_ADMIN}),
}


def grantable_roles(actor: Membership | None) -> frozenset[Role]:
    if actor is None:
        return frozenset()
    roles: frozenset[Role] = frozenset()
    for held in actor.role_set:
        roles |= GRANTABLE_BY.get(held, frozenset())
    return roles


def may_change_role(actor: Membership | None, target: Membership, role: Role) -> bool:
    return (
        actor is not None
        and actor.company_id == target.company_id
        and role in grantable_roles(actor)
    )


def may_reset_member_mfa(actor: Membership | None, target: Membership, *, elsewhere: bool) -> bool:
    """A Payee Payments Admin resets the MFA of the payee's other users, but only of users who
    belong to no other company (``elsewhere``: an MFA reset is account-wide; for the others,
    an operator)."""
    return (
        actor is not None
        and actor.company.kind is CompanyKind.PAYEE
        and Role.PAYEE_ADMIN in actor.role_set
        and actor.company_id == target.company_id
        and actor.user_id != target.user_id
        and not elsewhere
    )


# Change History shows who changed money settings: payments roles and operators only. Every
# role is one today; a member with no role sees none of it.
HISTORY_ROLES = frozenset(Role)


def may_view_history(actor: Membership | None) -> bool:
    return actor is not None and bool(actor.role_set & HISTORY_ROLES)
