"""A company never loses its last admin: not by its own hand, not by an operator, not when
two admins remove each other at the same moment."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from portal.companies import services
from portal.companies.models import CompanyKind, Membership, MembershipRole, Role
from portal.core import tenancy
from portal.core.db import db
from portal.core.errors import NotAllowed
from tests.factories import make_company, make_user, membership_of, sign_in, step_up


def admins_of(company, role: Role) -> int:
    db.session.expire_all()
    with tenancy.unscoped():
        return db.session.scalar(
            sa.select(sa.func.count())
            .select_from(MembershipRole)
            .where(MembershipRole.company_id == company.id, MembershipRole.role == role)
        )


@pytest.mark.usefixtures("database")
def test_the_only_payee_admin_cannot_remove_their_own_role(client) -> None:
    payee = make_company(CompanyKind.PAYEE)
    admin, phone = make_user(payee, (Role.PAYEE_ADMIN,))
    sign_in(client, admin, phone)
    step_up(client, phone)
    membership = membership_of(admin, payee)
    response = client.submit(
        f"/company/members/{membership.id}/roles/payee_admin/remove",
        {},
        token_from="/company/members",
        htmx=True,
    )
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "is the only Payee Payments Admin of" in text
    assert "Give the Payee Payments Admin role to a teammate first" in text
    assert admins_of(payee, Role.PAYEE_ADMIN) == 1

    make_user(payee, (Role.PAYEE_ADMIN,))  # a teammate who can manage the company
    response = client.submit(
        f"/company/members/{membership.id}/roles/payee_admin/remove",
        {},
        token_from="/company/members",
        htmx=True,
    )
    assert "is no longer Payee Payments Admin" in response.get_data(as_text=True)
    assert admins_of(payee, Role.PAYEE_ADMIN) == 1, "the teammate remains"


@pytest.mark.usefixtures("database")
def test_the_service_refuses_the_last_payments_admin() -> None:
    payor = make_company(CompanyKind.PAYOR)
    admin, _ = make_user(payor, (Role.PAYMENTS_ADMIN,))
    with pytest.raises(NotAllowed, match="only Payments Admin"):
        services.revoke_role(membership_of(admin, payor), Role.PAYMENTS_ADMIN, actor_user_id=None)
    assert admins_of(payor, Role.PAYMENTS_ADMIN) == 1


@pytest.mark.real
@pytest.mark.committed
@pytest.mark.parametrize(
    ("kind", "role"),
    [(CompanyKind.PAYOR, Role.PAYMENTS_ADMIN), (CompanyKind.PAYEE, Role.PAYEE_ADMIN)],
)
def test_two_admins_removing_each_other_at_once_leave_one(app, database, kind, role) -> None:
    company = make_company(kind)
    first, _ = make_user(company, (role,))
    second, _ = make_user(company, (role,))
    ids = [membership_of(first, company).id, membership_of(second, company).id]
    db.session.commit()
    barrier = threading.Barrier(2)
    results: list[bool] = []

    def remove(membership_id: int) -> None:
        with app.app_context(), tenancy.unscoped():
            membership = db.session.get(Membership, membership_id)
            _ = membership.roles, membership.user, membership.company
            barrier.wait()
            try:
                services.revoke_role(membership, role, actor_user_id=None)
                db.session.commit()
                results.append(True)
            except NotAllowed:
                db.session.rollback()
                results.append(False)

    threads = [threading.Thread(target=remove, args=(i,)) for i in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, True]
    assert admins_of(company, role) == 1
