"""Joining a payee company that is already on Trestle: someone a payor invited asks to join
it, named by its admin's email; one of its Payee Payments Admins lets them in (and the
invitation is accepted for the company) or declines with a reason. A refused request
changes nothing; a decision is made once."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from portal.accounts.models import User
from portal.companies.models import CompanyKind, Membership, Role
from portal.core import tenancy
from portal.core.db import db
from portal.notifications.models import EmailMessage
from portal.onboarding.models import (
    InvitationState,
    JoinRequestState,
    OnboardingStatus,
    PayeeInvitation,
    PayeeJoinRequest,
)
from portal.onboarding.queries import companies_asked
from tests.factories import make_company, make_paying_payor, make_user, sign_in_fresh
from tests.onboarding.test_accepting import NEW_PASSWORD, invite, relationship, state

pytestmark = pytest.mark.usefixtures("database")


def join_form(admin_email: str, **changes) -> dict:
    return {
        "join-admin_email": admin_email,
        "join-person_name": "Jo Joiner",
        "join-password": NEW_PASSWORD,
        "join-confirm": NEW_PASSWORD,
        **{f"join-{k}": v for k, v in changes.items()},
    }


def requests() -> list[PayeeJoinRequest]:
    db.session.expire_all()
    with tenancy.unscoped():
        return list(db.session.scalars(sa.select(PayeeJoinRequest).order_by(PayeeJoinRequest.id)))


def emails(template: str) -> list[EmailMessage]:
    with tenancy.unscoped():
        return list(
            db.session.scalars(sa.select(EmailMessage).where(EmailMessage.template == template))
        )


@pytest.fixture
def existing():
    """Ironline Steel on Trestle, with its Payee Payments Admin."""
    payee = make_company(CompanyKind.PAYEE, "Ironline Steel")
    admin, phone = make_user(payee, (Role.PAYEE_ADMIN,))
    return payee, admin, phone


def ask(client, sent, admin_email: str, **changes):
    url = f"/payee-invitations/{sent.token}"
    return client.submit(f"{url}/join", join_form(admin_email, **changes), token_from=url)


def test_someone_invited_asks_to_join_and_the_admin_lets_them_in(client, app, existing):
    payee, admin, _phone = existing
    payor = make_paying_payor()
    sent = invite(payor, "jo@ironline.example.com", "Ironline")
    page = client.get(f"/payee-invitations/{sent.token}").get_data(as_text=True)
    assert "Your company is already on Trestle?" in page
    response = ask(client, sent, admin.email.upper())
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "Request sent" in page
    assert payee.name not in page, "the page does not tell which company the address runs"
    (request,) = requests()
    assert (request.company_id, request.state) == (payee.id, JoinRequestState.REQUESTED)
    (notice,) = emails("payee_join_request")
    assert notice.to_address == admin.email and "Jo Joiner" in notice.text_body
    assert "/payee/join-requests" in notice.text_body
    # Not a member yet: the invitation waits for the admin.
    with tenancy.unscoped():
        joiner = db.session.scalar(sa.select(User).where(User.email == "jo@ironline.example.com"))
        assert not db.session.scalars(
            sa.select(Membership).where(Membership.user_id == joiner.id)
        ).all()
    assert relationship(sent).payee_id is None
    assert companies_asked(joiner.id) == [payee.name], "their home says whom they wait for"
    # The admin sees it on the home page and on the requests page, and lets them in.
    admin_client = app.test_client()
    sign_in_fresh(admin_client, payee, (Role.PAYEE_ADMIN,))
    home = admin_client.get("/dashboard").get_data(as_text=True)
    assert "Jo Joiner (jo@ironline.example.com), invited by" in home
    team = admin_client.get("/company/members").get_data(as_text=True)
    assert 'href="/payee/join-requests"' in team, "the Team page leads to the requests"
    listing = admin_client.get("/payee/join-requests").get_data(as_text=True)
    assert "Jo Joiner" in listing and "Let them in" in listing
    response = admin_client.submit(
        f"/payee/join-requests/{request.id}/approve", {}, token_from="/payee/join-requests"
    )
    assert response.status_code in (302, 303)
    (request,) = requests()
    assert request.state is JoinRequestState.APPROVED and request.decided_at is not None
    with tenancy.unscoped():
        (membership,) = db.session.scalars(
            sa.select(Membership).where(Membership.user_id == joiner.id)
        ).unique()
        invitation = db.session.get(PayeeInvitation, sent.invitation.id)
    assert membership.company_id == payee.id and membership.role_set == frozenset()
    assert companies_asked(joiner.id) == []
    (decided,) = emails("payee_join_decided")
    assert decided.to_address == "jo@ironline.example.com" and "let you in" in decided.text_body
    # Letting someone in connects no payor: that is a decision of its own.
    assert invitation.state is InvitationState.SENT and relationship(sent).payee_id is None
    listing = admin_client.get("/payee/join-requests").get_data(as_text=True)
    assert (
        f"Accept {payor.name}&#39; invitation" in listing or f"Accept {payor.name}&#39;s" in listing
    )
    assert "will see Ironline Steel&#39;s profile" in listing, "the dialog says what it shares"
    response = admin_client.submit(
        f"/payee/join-requests/{request.id}/accept-invitation",
        {},
        token_from="/payee/join-requests",
    )
    assert response.status_code in (302, 303)
    accepted = admin_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Invitation accepted" in accepted
    db.session.expire_all()
    with tenancy.unscoped():
        invitation = db.session.get(PayeeInvitation, sent.invitation.id)
    assert invitation.state is InvitationState.ACCEPTED
    assert invitation.accepted_by_user_id != joiner.id, "the admin accepted, not the requester"
    assert relationship(sent).payee_id == payee.id
    assert relationship(sent).status is OnboardingStatus.NO_BANK_INFORMATION
    again = admin_client.submit(
        f"/payee/join-requests/{request.id}/accept-invitation",
        {},
        token_from="/payee/join-requests",
    )
    assert "was accepted" in admin_client.get(again.headers["Location"]).get_data(as_text=True)
    # Decided once: a second decision is refused and changes nothing.
    again = admin_client.submit(
        f"/payee/join-requests/{request.id}/decline",
        {"reason": "changed my mind"},
        token_from="/payee/join-requests",
    )
    assert "already decided" in admin_client.get(again.headers["Location"]).get_data(as_text=True)
    assert requests()[0].state is JoinRequestState.APPROVED


def test_the_admin_declines_with_a_reason_they_are_told(client, app, existing):
    payee, _admin, _ = existing
    sent = invite(make_paying_payor(), "mallory@example.com", "Ironline")
    ask(client, sent, _admin.email)
    (request,) = requests()
    admin_client = app.test_client()
    sign_in_fresh(admin_client, payee, (Role.PAYEE_ADMIN,))
    refused = admin_client.submit(
        f"/payee/join-requests/{request.id}/decline", {"reason": " "}, token_from="/dashboard"
    )
    assert "Say why" in admin_client.get(refused.headers["Location"]).get_data(as_text=True)
    assert requests()[0].state is JoinRequestState.REQUESTED
    admin_client.submit(
        f"/payee/join-requests/{request.id}/decline",
        {"reason": "We do not know you."},
        token_from="/dashboard",
    )
    (request,) = requests()
    assert request.state is JoinRequestState.DECLINED
    assert request.decline_reason == "We do not know you."
    (decided,) = emails("payee_join_decided")
    assert "We do not know you." in decided.text_body
    with tenancy.unscoped():
        assert db.session.get(PayeeInvitation, sent.invitation.id).state is InvitationState.SENT


@pytest.mark.parametrize(
    ("admin_email", "changes", "message"),
    [
        ("not-an-email", {}, "Enter a valid email address."),
        ("ADMIN", {"person_name": ""}, "Enter your name."),
        ("ADMIN", {"confirm": "something else entirely"}, "The two passwords do not match."),
        ("ADMIN", {"password": "short", "confirm": "short"}, "at least"),
    ],
)
def test_a_bad_request_gets_a_clear_error_and_changes_nothing(
    client, existing, admin_email, changes, message
):
    _payee, admin, _ = existing
    sent = invite(make_paying_payor(), "jo@ironline.example.com")
    before = state()
    response = ask(client, sent, admin.email if admin_email == "ADMIN" else admin_email, **changes)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert state() == before and requests() == [] and emails("payee_join_request") == []


def test_the_page_does_not_tell_whether_an_address_runs_a_company(client, app, existing):
    """An invitation is no way to learn who manages which company: an unknown address, a
    payor's user and a real payee admin get the same page; only the real admin is asked."""
    _payee, admin, _ = existing
    payor = make_paying_payor()
    payor_admin, _ = make_user(payor, (Role.PAYMENTS_ADMIN,))
    pages = {}
    for address in ("nobody@example.com", payor_admin.email, admin.email):
        sent = invite(payor, f"jo+{len(pages)}@ironline.example.com")
        before = state()
        response = app.test_client().submit(
            f"/payee-invitations/{sent.token}/join",
            join_form(address),
            token_from=f"/payee-invitations/{sent.token}",
        )
        assert response.status_code == 200
        main = response.get_data(as_text=True).split("<main", 1)[1].split("</main>", 1)[0]
        pages[address] = main.replace(address, "ADDRESS")
        if address != admin.email:
            assert state() == before, "nothing is made for an address that runs no company"
    assert len(set(pages.values())) == 1, "the same page whoever the address belongs to"
    assert len(requests()) == 1 and len(emails("payee_join_request")) == 1


def test_tries_are_limited_per_invitation(client, existing):
    _payee, admin, _ = existing
    sent = invite(make_paying_payor(), "jo@ironline.example.com")
    for n in range(5):
        assert ask(client, sent, f"guess{n}@example.com").status_code == 200
    refused = ask(client, sent, admin.email)
    assert refused.status_code == 400 and "too often" in refused.get_data(as_text=True)
    assert requests() == []


def test_a_used_or_tampered_link_cannot_ask(client, existing):
    _payee, admin, _ = existing
    sent = invite(make_paying_payor(), "jo@ironline.example.com")
    ask(client, sent, admin.email)
    # The same link again: the account now exists.
    other = client.application.test_client()
    response = ask(other, sent, admin.email)
    assert response.status_code == 400 and len(requests()) == 1
    assert "already has a Trestle account" in response.get_data(as_text=True)
    tampered = type(sent)(sent.invitation, sent.token[:-2] + "xx")
    response = ask(other, tampered, admin.email)
    assert response.status_code == 404 and len(requests()) == 1


def test_another_companys_request_is_not_found(app, existing):
    _payee, admin, _ = existing
    sent = invite(make_paying_payor(), "jo@ironline.example.com")
    app.test_client().submit(
        f"/payee-invitations/{sent.token}/join",
        join_form(admin.email),
        token_from=f"/payee-invitations/{sent.token}",
    )
    (request,) = requests()
    stranger = app.test_client()
    sign_in_fresh(stranger, make_company(CompanyKind.PAYEE, "Brightwire"), (Role.PAYEE_ADMIN,))
    assert "Jo Joiner" not in stranger.get("/payee/join-requests").get_data(as_text=True)
    response = stranger.submit(
        f"/payee/join-requests/{request.id}/approve", {}, token_from="/dashboard"
    )
    assert response.status_code == 404 and requests()[0].state is JoinRequestState.REQUESTED


def test_a_deactivated_admin_is_not_asked(client, existing):
    payee, admin, _ = existing
    gone, _ = make_user(payee, (Role.PAYEE_ADMIN,))
    with tenancy.unscoped():
        db.session.get(User, gone.id).is_active = False
        db.session.commit()
    sent = invite(make_paying_payor(), "jo@ironline.example.com")
    ask(client, sent, admin.email)
    assert [m.to_address for m in emails("payee_join_request")] == [admin.email]


def test_a_request_is_withdrawn_once_its_invitation_is_used_elsewhere(client, app, existing):
    from portal.onboarding import services

    payee, admin, _ = existing
    sent = invite(make_paying_payor(), "jo@ironline.example.com")
    ask(client, sent, admin.email)
    (request,) = requests()
    with tenancy.unscoped():
        joiner = db.session.scalar(sa.select(User).where(User.email == "jo@ironline.example.com"))
        # The requester signs in and onboards a company of their own with the same link.
        services.accept_for_member(sent.token, joiner, payee=None, company_name="Jo Fabrication")
        db.session.commit()
    (request,) = requests()
    assert request.state is JoinRequestState.WITHDRAWN and request.decided_at is not None
    admin_client = app.test_client()
    sign_in_fresh(admin_client, payee, (Role.PAYEE_ADMIN,))
    assert "Jo Joiner" not in admin_client.get("/dashboard").get_data(as_text=True)
    refused = admin_client.submit(
        f"/payee/join-requests/{request.id}/approve", {}, token_from="/payee/join-requests"
    )
    assert "already decided" in admin_client.get(refused.headers["Location"]).get_data(as_text=True)
    with tenancy.unscoped():
        assert not db.session.scalars(
            sa.select(Membership).where(
                Membership.user_id == joiner.id, Membership.company_id == payee.id
            )
        ).all()
