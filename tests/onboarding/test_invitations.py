"""Payee invitations: single-use links bound to one email, expiring after 14 days, stored
only as hashes; resend, remind, revoke and reassign; every misuse refused with nothing
changed."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.accounts.services import hash_token
from portal.companies.models import CompanyKind
from portal.core import tenancy
from portal.core.db import db, utcnow
from portal.core.errors import IllegalTransition, InvalidInput, NotAllowed, NotFound
from portal.core.models import AuditEvent
from portal.notifications.models import EmailMessage
from portal.onboarding import services
from portal.onboarding.models import (
    InvitationState,
    OnboardingStatus,
    PayeeInvitation,
    PayeeRelationship,
)
from portal.onboarding.services import InvitationClosed, Invitee
from portal.payment_settings.services import controls_of
from tests.factories import make_company, make_paying_payor

pytestmark = pytest.mark.usefixtures("database")

LINK = re.compile(r"/payee-invitations/([A-Za-z0-9_-]{40,})")


@pytest.fixture
def payor():
    company = make_paying_payor()
    with tenancy.unscoped():
        controls_of(company).invitation_message = "Questions? Call Pat in accounts payable."
    db.session.commit()
    return company


def invite(payor, *rows: tuple[str, str]) -> list[services.SentInvitation]:
    with tenancy.unscoped():
        sent = services.invite_payees(
            payor, [Invitee(name, email) for name, email in rows], actor_user_id=None
        )
    db.session.commit()
    return sent


def counts() -> tuple[int, int, int, int]:
    """Relationships, invitations, emails and audit events: what a refused call must not add."""
    with tenancy.unscoped():
        return tuple(
            db.session.scalar(sa.select(sa.func.count()).select_from(model))
            for model in (PayeeRelationship, PayeeInvitation, EmailMessage, AuditEvent)
        )


def emails_to(address: str) -> list[EmailMessage]:
    return list(
        db.session.scalars(
            sa.select(EmailMessage)
            .where(EmailMessage.to_address == address)
            .order_by(EmailMessage.id)
        )
    )


def link_in(message: EmailMessage) -> str:
    return LINK.search(message.text_body).group(1)


def refused(call, error=InvalidInput, match: str | None = None):
    """Run ``call``, which must raise ``error``; roll back and show nothing changed."""
    before = counts()
    with pytest.raises(error, match=match), tenancy.unscoped():
        call()
    db.session.rollback()
    assert counts() == before, "a refused call changed nothing"


def test_inviting_starts_a_relationship_and_emails_a_link_stored_only_as_its_hash(payor):
    (sent,) = invite(payor, ("Ironline Steel", "Billing@Ironline.example.com"))
    invitation = sent.invitation
    assert invitation.email == "billing@ironline.example.com"
    assert invitation.status is InvitationState.SENT
    assert invitation.expires_at - invitation.created_at == timedelta(days=14)
    assert invitation.token_hash == hash_token(sent.token) != sent.token
    with tenancy.unscoped():
        relationship = db.session.get(PayeeRelationship, invitation.relationship_id)
    assert relationship.status is OnboardingStatus.INVITE_NOT_ACCEPTED
    assert relationship.directory_name == "Ironline Steel" and relationship.payee_id is None
    (message,) = emails_to("billing@ironline.example.com")
    assert link_in(message) == sent.token
    assert payor.name in message.subject and "Call Pat in accounts payable" in message.text_body
    with tenancy.unscoped():
        stored = db.session.execute(sa.select(PayeeInvitation.__table__)).one()._asdict()
    assert sent.token not in repr(stored), "the link itself is never stored"


def test_up_to_twenty_at_once_all_or_nothing(payor):
    twenty = [(f"Sub {k}", f"sub{k}@example.com") for k in range(20)]
    assert len(invite(payor, *twenty)) == 20
    more = [(f"Other {k}", f"other{k}@example.com") for k in range(21)]
    rows = [Invitee(name, email) for name, email in more]
    refused(lambda: services.invite_payees(payor, rows, actor_user_id=None), match="at most 20")


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([], "at least one"),
        ([("", "a@example.com")], "Row 1: enter the company"),
        ([("A", "")], "Row 1: enter an email"),
        ([("A", "not an email")], "not a valid email"),
        ([("A", "a@example.com"), ("B", "A@example.com")], "Listed twice: a@example.com"),
        ([("A", "a@example.com"), ("B", "b@example.com"), ("x" * 201, "c@example.com")], "Row 3"),
    ],
)
def test_a_bad_row_refuses_the_whole_batch(payor, rows, message):
    batch = [Invitee(name, email) for name, email in rows]
    refused(lambda: services.invite_payees(payor, batch, actor_user_id=None), match=message)


def test_an_address_with_an_open_invitation_is_not_invited_twice(payor):
    invite(payor, ("Ironline Steel", "billing@ironline.example.com"))
    again = [Invitee("Ironline", "BILLING@ironline.example.com")]
    refused(
        lambda: services.invite_payees(payor, again, actor_user_id=None),
        match="Already invited and not yet accepted: billing@ironline.example.com",
    )


def test_only_a_payor_invites(payor):
    payee = make_company(CompanyKind.PAYEE)
    rows = [Invitee("A", "a@example.com")]
    refused(lambda: services.invite_payees(payee, rows, actor_user_id=None), NotAllowed)


def test_invitations_are_rate_limited_per_payor(payor, monkeypatch):
    monkeypatch.setattr(services, "INVITE_LIMITS", (services.Limit(3, timedelta(hours=1)),))
    invite(payor, ("A", "a@example.com"), ("B", "b@example.com"))
    rows = [Invitee("C", "c@example.com"), Invitee("D", "d@example.com")]
    refused(lambda: services.invite_payees(payor, rows, actor_user_id=None), match="Try again")
    other = make_paying_payor()
    assert len(invite(other, ("C", "c@example.com"), ("D", "d@example.com"))) == 2


# --------------------------------------------------------------------------- the link


def test_a_tampered_or_unknown_link_is_not_valid(payor):
    (sent,) = invite(payor, ("A", "a@example.com"))
    for token in (sent.token[:-1] + ("A" if sent.token[-1] != "A" else "B"), "x", ""):
        refused(lambda token=token: services.find_invitation(token), NotFound, "not valid")
    assert services.find_invitation(sent.token).id == sent.invitation.id


def test_the_link_is_bound_to_its_email(payor):
    (sent,) = invite(payor, ("A", "a@example.com"))
    refused(
        lambda: services.find_invitation(sent.token, email="b@example.com"),
        NotAllowed,
        "another email address",
    )
    assert services.find_invitation(sent.token, email=" A@example.com ").id == sent.invitation.id


def test_an_expired_link_says_so_and_a_resend_opens_it_again(payor):
    (sent,) = invite(payor, ("A", "a@example.com"))
    with tenancy.unscoped():
        sent.invitation.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    refused(lambda: services.find_invitation(sent.token), InvitationClosed, "expired on")
    refused(
        lambda: services.resend(sent.invitation, actor_user_id=None, remind=True),
        match="resend it",
    )
    with tenancy.unscoped():
        again = services.resend(sent.invitation, actor_user_id=None)
    db.session.commit()
    assert services.find_invitation(again.token).expires_at > utcnow() + timedelta(days=13)
    refused(lambda: services.find_invitation(sent.token), NotFound, "most recent invitation")


def test_a_reminder_replaces_the_link_and_keeps_the_date(payor):
    (sent,) = invite(payor, ("A", "a@example.com"))
    expires = sent.invitation.expires_at
    with tenancy.unscoped():
        reminded = services.resend(sent.invitation, actor_user_id=None, remind=True)
    db.session.commit()
    assert reminded.invitation.expires_at == expires and reminded.invitation.times_sent == 2
    first, second = emails_to("a@example.com")
    assert second.subject.startswith("Reminder:") and link_in(second) == reminded.token
    refused(lambda: services.find_invitation(link_in(first)), NotFound)
    assert services.find_invitation(link_in(second)).id == sent.invitation.id


def test_a_revoked_link_stops_working_at_once(payor):
    (sent,) = invite(payor, ("A", "a@example.com"))
    with tenancy.unscoped():
        services.revoke(sent.invitation, actor_user_id=None)
    db.session.commit()
    refused(lambda: services.find_invitation(sent.token), InvitationClosed, "withdrew")
    with tenancy.unscoped():
        relationship = db.session.get(PayeeRelationship, sent.invitation.relationship_id)
        assert relationship.status is OnboardingStatus.INVITE_NOT_SENT
        refused(lambda: services.revoke(sent.invitation, actor_user_id=None), IllegalTransition)
        refused(lambda: services.resend(sent.invitation, actor_user_id=None), InvitationClosed)


def test_a_used_link_says_so(payor):
    (sent,) = invite(payor, ("A", "a@example.com"))
    with tenancy.unscoped():
        db.session.execute(
            sa.update(PayeeInvitation).values(state=InvitationState.ACCEPTED, accepted_at=utcnow())
        )
    db.session.commit()
    refused(lambda: services.find_invitation(sent.token), InvitationClosed, "already accepted")


def test_reassigning_sends_a_new_invitation_and_closes_the_old(payor):
    (sent,) = invite(payor, ("A", "a@example.com"))
    refused(
        lambda: services.reassign(sent.invitation, "A@example.com", actor_user_id=None),
        match="already sent to",
    )
    refused(
        lambda: services.reassign(sent.invitation, "nope", actor_user_id=None),
        match="not a valid email",
    )
    new = services.reassign_by_recipient(sent.token, "treasurer@example.com")
    db.session.commit()
    refused(lambda: services.find_invitation(sent.token), InvitationClosed, "someone else")
    assert (
        services.find_invitation(new.token, email="treasurer@example.com").id == new.invitation.id
    )
    with tenancy.unscoped():
        old = db.session.get(PayeeInvitation, sent.invitation.id)
        relationship = db.session.get(PayeeRelationship, old.relationship_id)
    assert old.replaced_by_id == new.invitation.id and old.status is InvitationState.REVOKED
    assert relationship.contact_email == "treasurer@example.com"
    assert new.invitation.relationship_id == relationship.id
    (message,) = emails_to("treasurer@example.com")
    assert link_in(message) == new.token


def test_one_open_invitation_per_relationship_is_enforced_by_the_database(payor):
    (sent,) = invite(payor, ("A", "a@example.com"))
    with tenancy.unscoped():
        db.session.add(
            PayeeInvitation(
                payor_id=payor.id,
                relationship_id=sent.invitation.relationship_id,
                email="b@example.com",
                token_hash=hash_token("another"),
                expires_at=utcnow() + timedelta(days=1),
            )
        )
        with pytest.raises(sa.exc.IntegrityError):
            db.session.flush()
    db.session.rollback()


# --------------------------------------------------------------------------- the page


def test_the_invitation_page_works_signed_out_and_explains_a_bad_link(client, payor):
    (sent,) = invite(payor, ("A", "a@example.com"))
    page = client.get(f"/payee-invitations/{sent.token}")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert f"Get paid by {payor.name}" in body and "a@example.com" in body
    assert page.headers["Cache-Control"] == "no-store"
    bad = client.get(f"/payee-invitations/{sent.token[:-2]}zz")
    assert bad.status_code == 404 and "This invitation cannot be used" in bad.get_data(as_text=True)


def test_the_recipient_passes_it_on_from_the_page(client, payor):
    (sent,) = invite(payor, ("A", "a@example.com"))
    url = f"/payee-invitations/{sent.token}"
    bad = client.submit(f"{url}/reassign", {"email": "not an email"}, token_from=url)
    assert bad.status_code == 200 and "Enter a valid email address." in bad.get_data(as_text=True)
    done = client.submit(f"{url}/reassign", {"email": "cfo@a.example.com"}, token_from=url)
    assert "Sent to cfo@a.example.com" in done.get_data(as_text=True)
    assert client.get(url).status_code == 410
    assert len(emails_to("cfo@a.example.com")) == 1


def test_the_payee_and_the_payor_see_the_relationship_and_nobody_else_does(payor):
    (sent,) = invite(payor, ("A", "a@example.com"))
    payee, stranger = make_company(CompanyKind.PAYEE), make_paying_payor()
    with tenancy.unscoped():
        relationship = db.session.get(PayeeRelationship, sent.invitation.relationship_id)
        relationship.payee_id = payee.id
    db.session.commit()
    for company, visible in ((payor, 1), (payee, 1), (stranger, 0)):
        token = tenancy.scope_to(company.id)
        try:
            db.session.expire_all()
            assert len(db.session.scalars(sa.select(PayeeRelationship)).all()) == visible
            invitations = db.session.scalars(sa.select(PayeeInvitation)).all()
            assert len(invitations) == (1 if company is payor else 0)
        finally:
            tenancy.reset(token)
