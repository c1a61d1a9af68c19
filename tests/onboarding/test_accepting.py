"""Accepting a payee invitation: someone new makes their account and company (and goes on to
two-step verification); a signed-in payee admin onboards one of their companies or a new one.
The link is single use and bound to its email; a refused acceptance changes nothing."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from portal.accounts.models import User
from portal.companies.models import Company, CompanyKind, Membership, Role
from portal.core import tenancy
from portal.core.db import db
from portal.core.errors import InvalidInput
from portal.onboarding import services
from portal.onboarding.models import InvitationState, OnboardingStatus, PayeeRelationship
from portal.onboarding.services import Invitee
from tests.factories import make_company, make_paying_payor, make_user, sign_in

pytestmark = pytest.mark.usefixtures("database")

NEW_PASSWORD = "a long enough passphrase"


def invite(payor, email: str, name: str = "Brightwire Electric") -> services.SentInvitation:
    with tenancy.unscoped():
        (sent,) = services.invite_payees(payor, [Invitee(name, email)], actor_user_id=None)
    db.session.commit()
    return sent


def state() -> tuple[int, int, int, list]:
    """Users, companies, memberships and relationship states: what a refusal leaves alone."""
    db.session.expire_all()
    with tenancy.unscoped():
        count = lambda model: db.session.scalar(sa.select(sa.func.count()).select_from(model))  # noqa: E731
        relationships = db.session.execute(
            sa.select(PayeeRelationship.payee_id, PayeeRelationship.status)
        ).all()
        return count(User), count(Company), count(Membership), sorted(map(str, relationships))


def relationship(sent) -> PayeeRelationship:
    db.session.expire_all()
    with tenancy.unscoped():
        return db.session.get(PayeeRelationship, sent.invitation.relationship_id)


def new_payee_form(**changes) -> dict:
    return {
        "company_name": "Brightwire Electric LLC",
        "person_name": "Bea Bright",
        "password": NEW_PASSWORD,
        "confirm": NEW_PASSWORD,
        **changes,
    }


def test_someone_new_makes_their_account_and_company_then_sets_up_mfa(client):
    payor = make_paying_payor()
    sent = invite(payor, "bea@brightwire.example.com")
    url = f"/payee-invitations/{sent.token}"
    page = client.get(url).get_data(as_text=True)
    assert 'value="Brightwire Electric"' in page, "the payor's name for it is offered"
    response = client.submit(f"{url}/accept", new_payee_form(), token_from=url)
    assert response.status_code == 303 and response.headers["Location"].endswith("/mfa/enroll")
    with tenancy.unscoped():
        user = db.session.scalar(sa.select(User).where(User.email == "bea@brightwire.example.com"))
        (membership,) = db.session.scalars(
            sa.select(Membership).where(Membership.user_id == user.id)
        ).unique()
        assert membership.company.kind is CompanyKind.PAYEE
        assert membership.company.name == "Brightwire Electric LLC"
        assert membership.role_set == {Role.PAYEE_ADMIN}
        assert not user.mfa_enrolled
    linked = relationship(sent)
    assert linked.payee_id == membership.company_id
    assert linked.status is OnboardingStatus.NO_BANK_INFORMATION
    used = client.get(url)  # the link is used up
    assert used.status_code == 410 and "already accepted" in used.get_data(as_text=True)
    assert "Set up two-step verification" in client.get("/mfa/enroll").get_data(as_text=True)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"password": "short", "confirm": "short"}, "Use at least 12 characters."),
        ({"confirm": "something else entirely"}, "The two passwords do not match."),
        ({"company_name": "  "}, "Enter your company"),
        ({"person_name": ""}, "Enter your name."),
        (
            {"password": "bea@brightwire.example.com", "confirm": "bea@brightwire.example.com"},
            "cannot be your email",
        ),
    ],
)
def test_bad_sign_up_input_is_refused_and_changes_nothing(client, changes, message):
    sent = invite(make_paying_payor(), "bea@brightwire.example.com")
    url = f"/payee-invitations/{sent.token}"
    before = state()
    response = client.submit(f"{url}/accept", new_payee_form(**changes), token_from=url)
    assert response.status_code == 200 and message in response.get_data(as_text=True)
    assert state() == before
    assert client.get(url).status_code == 200, "the link still works"


def test_an_existing_account_is_asked_to_sign_in(client):
    user, _ = make_user(make_company(CompanyKind.PAYEE), (Role.PAYEE_ADMIN,))
    sent = invite(make_paying_payor(), user.email)
    url = f"/payee-invitations/{sent.token}"
    page = client.get(url).get_data(as_text=True)
    assert "Sign in to accept" in page and f"next=/payee-invitations/{sent.token}" in page
    before = state()
    response = client.submit(f"{url}/accept", new_payee_form(), token_from=url)
    assert response.status_code == 200 and "already has a Trestle account" in response.get_data(
        as_text=True
    )
    assert state() == before


def test_a_signed_in_payee_admin_onboards_their_company(client):
    payee = make_company(CompanyKind.PAYEE, "Ironline Steel")
    user, phone = make_user(payee, (Role.PAYEE_ADMIN,))
    payor = make_paying_payor()
    sent = invite(payor, user.email)
    sign_in(client, user, phone)
    url = f"/payee-invitations/{sent.token}"
    page = client.get(url).get_data(as_text=True)
    assert f'<option selected value="{payee.id}">Ironline Steel</option>' in page
    response = client.submit(f"{url}/accept", {"payee": str(payee.id)}, token_from=url)
    assert response.status_code == 303, response.get_data(as_text=True)
    assert relationship(sent).payee_id == payee.id
    # The payor cannot invite its payee's people again...
    with pytest.raises(InvalidInput, match="Already your payees"), tenancy.unscoped():
        services.invite_payees(payor, [Invitee("Ironline (yard)", user.email)], actor_user_id=None)
    # ...and someone invited before they joined that payee cannot connect it a second time.
    second = invite(payor, "yard@ironline.example.com", name="Ironline (yard)")
    colleague, colleague_phone = make_user(payee, (Role.PAYEE_ADMIN,))
    with tenancy.unscoped():
        db.session.get(User, colleague.id).email = "yard@ironline.example.com"
        db.session.commit()
    other = client.application.test_client()
    sign_in(other, colleague, colleague_phone)
    url = f"/payee-invitations/{second.token}"
    before = state()
    refused = other.submit(f"{url}/accept", {"payee": str(payee.id)}, token_from=url)
    assert "already a payee of" in refused.get_data(as_text=True) and state() == before


def test_a_signed_in_person_may_onboard_a_new_company_but_not_one_they_do_not_run(client):
    mine = make_company(CompanyKind.PAYEE, "Mine")
    user, phone = make_user(mine, ())  # a member without the admin role
    theirs = make_company(CompanyKind.PAYEE, "Theirs")
    sent = invite(make_paying_payor(), user.email)
    sign_in(client, user, phone)
    url = f"/payee-invitations/{sent.token}"
    before = state()
    for payee in (mine, theirs):
        response = client.submit(f"{url}/accept", {"payee": str(payee.id)}, token_from=url)
        assert response.status_code == 404
        assert state() == before
    response = client.submit(
        f"{url}/accept", {"payee": "new", "company_name": "Fresh Start LLC"}, token_from=url
    )
    assert response.status_code == 303
    with tenancy.unscoped():
        fresh = db.session.scalar(sa.select(Company).where(Company.name == "Fresh Start LLC"))
    assert relationship(sent).payee_id == fresh.id


def test_a_signed_in_person_with_another_email_cannot_use_the_link(client):
    user, phone = make_user(make_company(CompanyKind.PAYEE), (Role.PAYEE_ADMIN,))
    sent = invite(make_paying_payor(), "someone.else@example.com")
    sign_in(client, user, phone)
    url = f"/payee-invitations/{sent.token}"
    page = client.get(url)
    assert page.status_code == 403 and "another email address" in page.get_data(as_text=True)
    before = state()
    response = client.submit(
        f"{url}/accept", {"payee": "new", "company_name": "X"}, token_from="/dashboard"
    )
    assert response.status_code == 403 and state() == before
    with tenancy.unscoped():
        assert sent.invitation.state is InvitationState.SENT


def test_the_new_company_gets_a_short_name_of_its_own(client):
    payor = make_paying_payor()
    for k in range(2):
        sent = invite(payor, f"p{k}@example.com", name=f"Same Name {k}")
        url = f"/payee-invitations/{sent.token}"
        form = new_payee_form(company_name="Same Name", person_name=f"P {k}")
        assert client.submit(f"{url}/accept", form, token_from=url).status_code == 303
    with tenancy.unscoped():
        slugs = db.session.scalars(
            sa.select(Company.slug).where(Company.name == "Same Name").order_by(Company.id)
        ).all()
    assert slugs == ["same-name", "same-name-2"]
