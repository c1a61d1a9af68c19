"""Each payor's onboarding status of a payee follows from the payee's facts and from what
the payor approved: a new receiving account or a new tax identity needs review again."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from portal.core import tenancy
from portal.core.db import db, utcnow
from portal.onboarding import services
from portal.onboarding.models import OnboardingStatus, PayeeRelationship
from portal.onboarding.services import Invitee
from portal.onboarding.terms import PAY_AGREEMENT_VERSION
from portal.payees.models import PayeeProfile
from tests.factories import make_paying_payor
from tests.payees.helpers import (
    add_account,
    certify,
    confirm,
    deposits_of,
    dollars,
    last_account,
    payee_admin,
    save_profile,
)

pytestmark = pytest.mark.usefixtures("database")


def relationships(payee) -> dict[int, PayeeRelationship]:
    db.session.expire_all()
    with tenancy.unscoped():
        rows = db.session.scalars(
            sa.select(PayeeRelationship).where(PayeeRelationship.payee_id == payee.id)
        ).all()
    return {r.payor_id: r for r in rows}


def join(payor, payee, user) -> None:
    with tenancy.unscoped():
        (sent,) = services.invite_payees(
            payor, [Invitee(payee.name, user.email)], actor_user_id=None
        )
        services.accept_for_member(sent.token, user, payee=payee)
        db.session.commit()


def agree(client, relationship: PayeeRelationship, **changes: str):
    """The payee admin reads the Pay agreement with the relationship's payor and accepts it
    (the form carries the version and the digest of the text it showed)."""
    path = f"/payee/agreements/{relationship.id}"
    page = client.get(path).get_data(as_text=True)
    shown = re.search(r'name="digest" type="hidden" value="([0-9a-f]*)"', page)
    form = {"name": "Ines Ironline", "title": "Controller", "agree": "y"}
    form |= {"version": PAY_AGREEMENT_VERSION, "digest": shown.group(1) if shown else ""}
    return client.submit(path, {**form, **changes}, token_from=path)


def approve(relationship: PayeeRelationship, payee) -> None:
    """What the Beneficiary Approver's approval records (its page comes with review)."""
    with tenancy.unscoped():
        profile = db.session.scalar(
            sa.select(PayeeProfile).where(PayeeProfile.company_id == payee.id)
        )
        relationship.approved_bank_account_id = last_account(payee).id
        relationship.approved_identity_version = profile.identity_version
        relationship.approved_at = utcnow()
        services.refresh_statuses(payee.id)
        db.session.commit()


def verify(client, payee) -> None:
    account = last_account(payee)
    confirm(client, account.id, *map(dollars, deposits_of(account)))


def test_statuses_follow_the_payees_facts_for_each_payor(client):
    payee, user, _ = payee_admin(client)
    summit, harbor = make_paying_payor(), make_paying_payor()
    join(summit, payee, user)
    assert relationships(payee)[summit.id].status is OnboardingStatus.NO_BANK_INFORMATION
    save_profile(client)
    certify(client)
    add_account(client)
    assert relationships(payee)[summit.id].status is OnboardingStatus.NO_BANK_INFORMATION
    verify(client, payee)
    assert relationships(payee)[summit.id].status is OnboardingStatus.NO_BANK_INFORMATION
    agree(client, relationships(payee)[summit.id])
    assert relationships(payee)[summit.id].status is OnboardingStatus.NEEDS_REVIEW
    # A second payor gets the payee's profile and account as they are now; its own Pay
    # agreement is all that is left before its review.
    join(harbor, payee, user)
    assert relationships(payee)[harbor.id].status is OnboardingStatus.NO_BANK_INFORMATION
    agree(client, relationships(payee)[harbor.id])
    assert relationships(payee)[harbor.id].status is OnboardingStatus.NEEDS_REVIEW
    approve(relationships(payee)[summit.id], payee)
    statuses = {k: r.status for k, r in relationships(payee).items()}
    assert statuses == {
        summit.id: OnboardingStatus.APPROVED,
        harbor.id: OnboardingStatus.NEEDS_REVIEW,
    }, "one payor's approval is its own"
    # A new receiving account leaves the approval behind.
    add_account(client, account_number="000987654321", account_number_confirm="000987654321")
    assert relationships(payee)[summit.id].status is OnboardingStatus.APPROVED
    verify(client, payee)
    client.submit(
        f"/payee/bank-accounts/{last_account(payee).id}/receive",
        {},
        token_from="/payee/bank-accounts",
    )
    assert relationships(payee)[summit.id].status is OnboardingStatus.NEEDS_REVIEW
    approve(relationships(payee)[summit.id], payee)
    assert relationships(payee)[summit.id].status is OnboardingStatus.APPROVED
    # A new tax id voids the certification: back to onboarding, then review once signed.
    save_profile(client, tin="98-7654321")
    assert relationships(payee)[summit.id].status is OnboardingStatus.NO_BANK_INFORMATION
    certify(client)
    assert relationships(payee)[summit.id].status is OnboardingStatus.NEEDS_REVIEW


def test_the_payee_home_lists_what_is_left_for_each_payor(client):
    payee, user, _ = payee_admin(client)
    page = client.get("/dashboard").get_data(as_text=True)
    assert "No general contractor has invited you yet." in page
    summit = make_paying_payor()
    join(summit, payee, user)
    page = client.get("/dashboard").get_data(as_text=True)
    assert summit.name in page and "Fill in your legal name" in page
    assert 'href="/payee/profile"' in page and "0 of 4 done" in page
    save_profile(client)
    certify(client)
    add_account(client)
    verify(client, payee)
    page = client.get("/dashboard").get_data(as_text=True)
    assert "2 of 4 done" in page and "Once your profile, bank account and Pay agreement" in page
    assert "Payments go to ••••6789." in page
    relationship = relationships(payee)[summit.id]
    assert f'href="/payee/agreements/{relationship.id}"' in page
    agree(client, relationship)
    page = client.get("/dashboard").get_data(as_text=True)
    assert "3 of 4 done" in page and f"Waiting for {summit.name}" in page
