"""Granting and removing roles: who may, separation of duties, step-up, audit."""

import pytest
import sqlalchemy as sa

from portal.companies import services
from portal.companies.models import CompanyKind, MembershipRole, Role
from portal.core.db import db
from portal.core.errors import InvalidInput, NotAllowed
from portal.core.models import AuditEvent
from tests.factories import make_company, make_user, membership_of, sign_in, step_up

pytestmark = pytest.mark.usefixtures("database")


def roles_of(membership) -> set[str]:
    db.session.expire_all()
    return set(
        db.session.scalars(
            sa.select(MembershipRole.role).where(MembershipRole.membership_id == membership.id)
        )
    )


@pytest.fixture
def payor_admin(client):
    payor = make_company(CompanyKind.PAYOR)
    admin, phone = make_user(payor, (Role.PAYMENTS_ADMIN,))
    sign_in(client, admin, phone)
    return payor, admin, phone


def test_admin_grants_and_removes_a_role_after_step_up(client, payor_admin) -> None:
    payor, _admin, phone = payor_admin
    teammate, _ = make_user(payor)
    member = membership_of(teammate, payor)
    with client.session_transaction() as session:
        session["mfa_at"] = 0
    response = client.submit(
        f"/company/members/{member.id}/roles", {"role": "disburser"}, token_from="/company/members"
    )
    assert "/verify" in response.headers["Location"]
    assert roles_of(member) == set()

    step_up(client, phone)
    response = client.submit(
        f"/company/members/{member.id}/roles",
        {"role": "disburser"},
        token_from="/company/members",
        htmx=True,
    )
    assert response.status_code == 200
    assert f'id="member-{member.id}"' in response.get_data(as_text=True)
    assert roles_of(member) == {Role.DISBURSER}
    response = client.submit(
        f"/company/members/{member.id}/roles/disburser/remove",
        {},
        token_from="/company/members",
        htmx=True,
    )
    assert roles_of(member) == set()
    tags = db.session.scalars(
        sa.select(AuditEvent.action).where(
            AuditEvent.object_type == "membership", AuditEvent.object_id == str(member.id)
        )
    ).all()
    assert tags[-2:] == ["companies:role:granted", "companies:role:removed"]


def test_payments_admins_are_designated_by_operators_only(client, payor_admin) -> None:
    payor, _admin, phone = payor_admin
    teammate, _ = make_user(payor)
    member = membership_of(teammate, payor)
    step_up(client, phone)
    response = client.submit(
        f"/company/members/{member.id}/roles",
        {"role": "payments_admin"},
        token_from="/company/members",
    )
    assert response.status_code == 403
    assert roles_of(member) == set()


def test_members_without_an_admin_role_cannot_change_roles(client) -> None:
    payor = make_company(CompanyKind.PAYOR)
    disburser, phone = make_user(payor, (Role.DISBURSER,))
    teammate, _ = make_user(payor)
    sign_in(client, disburser, phone)
    step_up(client, phone)
    member = membership_of(teammate, payor)
    response = client.submit(
        f"/company/members/{member.id}/roles", {"role": "viewer"}, token_from="/company/members"
    )
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("held", "granted"),
    [
        (Role.BENEFICIARY_APPROVER, Role.DISBURSER),
        (Role.BENEFICIARY_APPROVER, Role.PAYMENTS_ADMIN),
        (Role.DISBURSER, Role.BENEFICIARY_APPROVER),
        (Role.PAYMENTS_ADMIN, Role.BENEFICIARY_APPROVER),
    ],
)
def test_a_beneficiary_approver_cannot_also_pay(held: Role, granted: Role) -> None:
    payor = make_company(CompanyKind.PAYOR)
    user, _ = make_user(payor, (held,))
    member = membership_of(user, payor)
    with pytest.raises(NotAllowed, match="cannot also be"):
        services.grant_role(member, granted, actor_user_id=None)
    assert roles_of(member) == {held}


def test_the_exclusion_is_shown_on_the_page(client, payor_admin) -> None:
    payor, _admin, phone = payor_admin
    teammate, _ = make_user(payor, (Role.DISBURSER,))
    member = membership_of(teammate, payor)
    step_up(client, phone)
    response = client.submit(
        f"/company/members/{member.id}/roles",
        {"role": "beneficiary_approver"},
        token_from="/company/members",
        htmx=True,
    )
    assert "cannot also be a Payments Disburser" in response.get_data(as_text=True)
    assert roles_of(member) == {Role.DISBURSER}


def test_roles_must_fit_the_company_kind() -> None:
    payee = make_company(CompanyKind.PAYEE)
    user, _ = make_user(payee)
    with pytest.raises(InvalidInput, match="not a role in a payee company"):
        services.grant_role(membership_of(user, payee), Role.DISBURSER, actor_user_id=None)


def test_switching_company_only_to_ones_the_user_belongs_to(client) -> None:
    first, second, foreign = (make_company() for _ in range(3))
    user, phone = make_user(first)
    services.add_member(second, user, actor_user_id=None)
    db.session.commit()
    sign_in(client, user, phone)
    client.submit("/companies/switch", {"company_id": second.id}, token_from="/dashboard")
    assert second.name in client.get("/dashboard").get_data(as_text=True)
    response = client.submit(
        "/companies/switch", {"company_id": foreign.id}, token_from="/dashboard"
    )
    assert response.status_code == 404
    assert second.name in client.get("/dashboard").get_data(as_text=True)


@pytest.mark.real
@pytest.mark.committed
def test_concurrent_grants_cannot_break_separation_of_duties(app) -> None:
    import threading

    from portal.companies.models import Membership

    payor = make_company(CompanyKind.PAYOR)
    user, _ = make_user(payor)
    membership_id = membership_of(user, payor).id
    barrier = threading.Barrier(2)

    def grant(role: Role) -> bool:
        with app.app_context():
            membership = db.session.get(Membership, membership_id)
            barrier.wait()
            try:
                services.grant_role(membership, role, actor_user_id=None)
                db.session.commit()
                return True
            except NotAllowed:
                db.session.rollback()
                return False

    results: list[bool] = []
    threads = [
        threading.Thread(target=lambda r=r: results.append(grant(r)))
        for r in (Role.DISBURSER, Role.BENEFICIARY_APPROVER)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, True]
    db.session.expire_all()
    assert len(roles_of(membership_of(user, payor))) == 1
