"""Adding people to a payor from the console: members already there are refused, other
companies' people are invited (emailed, single-use, expiring) and join only by accepting."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.companies.models import CompanyKind, Membership, MembershipInvitation, Role
from portal.core import tenancy
from portal.core.db import db, utcnow
from portal.core.models import AuditEvent
from portal.notifications.models import EmailMessage
from tests.factories import make_company, make_user, sign_in

pytestmark = pytest.mark.usefixtures("database")

INVITATION_LINK = re.compile(r"http://localhost/invitations/(\S+)")


def add_person(client, payor, email, name=""):
    return client.submit(
        f"/operator/payors/{payor.id}/members",
        {"email": email, "name": name},
        token_from="/operator",
    )


def counts() -> tuple[int, int, int]:
    with tenancy.unscoped():
        return tuple(
            db.session.scalar(sa.select(sa.func.count()).select_from(model))
            for model in (Membership, MembershipInvitation, EmailMessage)
        )


def is_member(user, company) -> bool:
    with tenancy.unscoped():
        return bool(
            db.session.scalar(
                sa.select(Membership.id).where(
                    Membership.user_id == user.id, Membership.company_id == company.id
                )
            )
        )


def invitation_token(email: str) -> str:
    with tenancy.unscoped():
        message = db.session.scalars(
            sa.select(EmailMessage)
            .where(
                EmailMessage.to_address == email, EmailMessage.template == "membership_invitation"
            )
            .order_by(EmailMessage.id.desc())
        ).first()
    assert message is not None, f"no invitation emailed to {email}"
    match = INVITATION_LINK.search(message.text_body)
    assert match, message.text_body
    return match.group(1)


def actions(prefix: str, company) -> list[str]:
    with tenancy.unscoped():
        return list(
            db.session.scalars(
                sa.select(AuditEvent.action)
                .where(AuditEvent.action.startswith(prefix), AuditEvent.company_id == company.id)
                .order_by(AuditEvent.id)
            )
        )


@pytest.fixture
def outsider(new_client):
    """Someone whose account belongs to a payee, signed in on their own browser."""
    user, phone = make_user(make_company(CompanyKind.PAYEE), (Role.PAYEE_ADMIN,))
    browser = new_client()
    sign_in(browser, user, phone)
    return user, browser


def test_adding_someone_already_a_member_says_so_and_changes_nothing(client, payor) -> None:
    member, _ = make_user(payor)
    before = counts()
    response = add_person(client, payor, member.email.upper())
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f"{member.email} is already a member of Granite Works." in body
    assert 'id="email-error"' in body
    assert counts() == before


def test_a_new_person_is_added_and_emailed_a_password_link(client, payor) -> None:
    response = add_person(client, payor, "new@granite.example.com", "New Person")
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "new@granite.example.com added to Granite Works." in page
    assert counts()[1] == 0


def test_another_companys_person_is_invited_not_added(client, payor, outsider) -> None:
    user, _ = outsider
    response = add_person(client, payor, user.email)
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f"Invitation sent to {user.email}." in page
    assert not is_member(user, payor)
    section = page.split('id="member-invitations"', 1)[1]
    assert user.email in section
    token = invitation_token(user.email)
    with tenancy.unscoped():
        stored = db.session.scalar(sa.select(MembershipInvitation.token_hash))
    assert token not in stored and len(stored) == 64, "only the link's hash is stored"
    assert actions("companies:member:", payor) == ["companies:member:invited"]
    # Inviting again while the first is open is refused with a field error.
    before = counts()
    again = add_person(client, payor, user.email)
    assert again.status_code == 200 and "was already invited" in again.get_data(as_text=True)
    assert counts() == before


def test_the_invitee_accepts_once_and_joins(client, payor, outsider) -> None:
    user, browser = outsider
    add_person(client, payor, user.email)
    token = invitation_token(user.email)
    page = browser.get(f"/invitations/{token}")
    assert page.status_code == 200 and "Join Granite Works" in page.get_data(as_text=True)
    assert not is_member(user, payor), "opening the link changes nothing"
    response = browser.submit(f"/invitations/{token}", {}, token_from=f"/invitations/{token}")
    assert response.status_code == 303, response.get_data(as_text=True)
    assert is_member(user, payor)
    assert actions("companies:member:", payor) == [
        "companies:member:invited",
        "companies:member:added",
        "companies:member:invitation_accepted",
    ]
    # The link is single-use.
    before = counts()
    used = browser.get(f"/invitations/{token}")
    assert used.status_code == 410 and "already used" in used.get_data(as_text=True)
    again = browser.submit(f"/invitations/{token}", {}, token_from="/dashboard")
    assert again.status_code == 410
    assert counts() == before
    page = client.get(f"/operator/payors/{payor.id}").get_data(as_text=True)
    section = page.split('id="member-invitations"', 1)[1].split("</section>", 1)[0]
    assert user.email not in section, "an accepted invitation is no longer pending"


@pytest.mark.parametrize("case", ["wrong_user", "expired", "unknown"])
def test_an_invitation_that_cannot_be_used_changes_nothing(
    client, payor, outsider, new_client, case
) -> None:
    user, browser = outsider
    add_person(client, payor, user.email)
    token = invitation_token(user.email)
    expected = {"wrong_user": 403, "expired": 410, "unknown": 404}[case]
    message = {
        "wrong_user": "sent to another account",
        "expired": "has expired",
        "unknown": "not valid",
    }[case]
    if case == "wrong_user":
        stranger, phone = make_user(make_company(CompanyKind.PAYEE))
        browser = new_client()
        sign_in(browser, stranger, phone)
    elif case == "expired":
        with tenancy.unscoped():
            db.session.execute(
                sa.update(MembershipInvitation).values(expires_at=utcnow() - timedelta(minutes=1))
            )
        db.session.commit()
    else:
        token = token[:-4] + "AAAA"
    before = counts()
    page = browser.get(f"/invitations/{token}")
    assert page.status_code == expected and message in page.get_data(as_text=True)
    response = browser.submit(f"/invitations/{token}", {}, token_from="/dashboard")
    assert response.status_code == expected
    assert "Nothing was changed" in response.get_data(as_text=True)
    assert counts() == before
    assert not is_member(user, payor)
    assert "companies:member:invitation_accepted" not in actions("companies:member:", payor)


def test_the_invitation_link_needs_a_signed_in_user(client, payor, outsider, new_client) -> None:
    user, _ = outsider
    add_person(client, payor, user.email)
    token = invitation_token(user.email)
    response = new_client().get(f"/invitations/{token}")
    assert response.status_code in (302, 303)
    assert "/login" in response.headers["Location"]
