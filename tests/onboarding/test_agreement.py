"""The Pay agreement: one per payor relationship, terms without fees, accepted by the payee
admin, kept word for word with its version and digest, read-only afterwards, and a
condition of review and of payment."""

from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa

from portal.companies.models import CompanyKind, Role
from portal.core import tenancy
from portal.core.db import db
from portal.core.models import AuditEvent
from portal.onboarding.models import OnboardingStatus, PayAgreement
from portal.onboarding.policies import may_pay_payee
from portal.onboarding.terms import PAY_AGREEMENT_VERSION
from tests.factories import make_company, make_paying_payor, sign_in_fresh
from tests.onboarding.test_statuses import agree, join, relationships, verify
from tests.payees.helpers import add_account, certify, payee_admin, save_profile

pytestmark = pytest.mark.usefixtures("database")


def agreements() -> list[PayAgreement]:
    db.session.expire_all()
    with tenancy.unscoped():
        return list(db.session.scalars(sa.select(PayAgreement).order_by(PayAgreement.id)))


def joined(client):
    payee, user, _ = payee_admin(client)
    payor = make_paying_payor()
    join(payor, payee, user)
    return payor, payee, relationships(payee)[payor.id]


def test_the_payee_reads_the_terms_and_accepts_them_once(client):
    payor, payee, relationship = joined(client)
    page = client.get(f"/payee/agreements/{relationship.id}").get_data(as_text=True)
    assert f"Pay agreement with {payor.name}" in page
    assert "charges the payee nothing" in page and "Accept the Pay agreement" in page
    response = agree(client, relationship)
    assert response.status_code in (302, 303) or response.headers.get("HX-Redirect")
    (agreement,) = agreements()
    assert (agreement.payor_id, agreement.payee_id) == (payor.id, payee.id)
    assert agreement.signer_name == "Ines Ironline" and agreement.signer_title == "Controller"
    assert payor.name in agreement.text and payee.name in agreement.text
    assert agreement.text_sha256 == hashlib.sha256(agreement.text.encode()).hexdigest()
    # Read-only afterwards: the page shows what was accepted and no form; a second
    # acceptance is refused and changes nothing.
    page = client.get(f"/payee/agreements/{relationship.id}").get_data(as_text=True)
    assert "Accepted by" in page and "Ines Ironline, Controller" in page
    assert "Accept the Pay agreement</button>" not in page
    again = agree(client, relationship, name="Someone Else", title="Clerk")
    assert again.status_code == 400 and "already accepted" in again.get_data(as_text=True)
    assert [a.signer_name for a in agreements()] == ["Ines Ironline"]
    with tenancy.unscoped():
        audit = db.session.scalar(
            sa.select(AuditEvent).where(AuditEvent.action == "onboarding:agreement:accepted")
        )
    assert audit.company_id == payee.id and audit.after["version"] == agreement.version
    history = client.get("/company/history").get_data(as_text=True)
    assert f"Accepted the Pay agreement with {payor.name}" in history


def test_the_accepted_text_stays_as_it_was_when_names_change(client):
    payor, _payee, relationship = joined(client)
    agree(client, relationship)
    (before,) = agreements()
    with tenancy.unscoped():
        payor.name = "Summit Builders Renamed"
        db.session.commit()
    page = client.get(f"/payee/agreements/{relationship.id}").get_data(as_text=True)
    assert (
        "Summit Builders Renamed"
        not in page.split("Pay agreement with", 2)[-1].split("Accepted by")[-1]
    )
    (after,) = agreements()
    assert after.text == before.text


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"agree": ""}, "Tick the box"),
        ({"name": "  "}, "Enter your name."),
        ({"title": ""}, "Enter your title."),
        ({"version": "2020-01"}, "updated while you were reading"),
        ({"digest": "0" * 64}, "changed while you were reading it"),
        ({"digest": ""}, "changed while you were reading it"),
        ({"name": "x" * 201}, "Field cannot be longer than 200"),
    ],
)
def test_bad_acceptances_get_a_clear_error_and_change_nothing(client, changes, message):
    _payor, _payee, relationship = joined(client)
    response = agree(client, relationship, **changes)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert agreements() == []


def accept_from_elsewhere(client, relationship):
    """A POST to the acceptance with a valid token of the signed-in person's session."""
    form = {"name": "Mallory", "title": "Owner", "agree": "y", "version": PAY_AGREEMENT_VERSION}
    return client.submit(f"/payee/agreements/{relationship.id}", form, token_from="/dashboard")


def test_only_the_payee_admin_of_this_relationship_accepts(client, app):
    _payor, payee, relationship = joined(client)
    # Another payee's admin: the relationship is not theirs.
    stranger = app.test_client()
    sign_in_fresh(
        stranger, make_company(CompanyKind.PAYEE, "Brightwire Electric"), (Role.PAYEE_ADMIN,)
    )
    assert stranger.get(f"/payee/agreements/{relationship.id}").status_code == 404
    assert accept_from_elsewhere(stranger, relationship).status_code == 404
    # A user of the payee without the admin role.
    clerk = app.test_client()
    sign_in_fresh(clerk, payee, ())
    assert clerk.get(f"/payee/agreements/{relationship.id}").status_code == 403
    assert accept_from_elsewhere(clerk, relationship).status_code == 403
    assert agreements() == []


def test_review_and_payment_wait_for_the_agreement_and_the_payor_reads_it(client, app):
    payor, payee, relationship = joined(client)
    save_profile(client)
    certify(client)
    add_account(client)
    verify(client, payee)
    assert relationships(payee)[payor.id].status is OnboardingStatus.NO_BANK_INFORMATION
    reasons = may_pay_payee(payor.id, payee.id).reasons
    assert "The payee has not accepted your Pay agreement." in reasons
    agree(client, relationship)
    assert relationships(payee)[payor.id].status is OnboardingStatus.NEEDS_REVIEW
    reasons = may_pay_payee(payor.id, payee.id).reasons
    assert "The payee has not accepted your Pay agreement." not in reasons
    # The payor's Payments Admin sees it on the Manage view and reads it as accepted.
    client = app.test_client()
    sign_in_fresh(client, payor, (Role.PAYMENTS_ADMIN,))
    page = client.get(f"/payees/{relationship.id}").get_data(as_text=True)
    assert "Accepted by Ines Ironline, Controller" in page
    page = client.get(f"/payees/{relationship.id}/agreement").get_data(as_text=True)
    assert "As the payee accepted it" in page and agreements()[0].text_sha256 in page
    assert "Accept the Pay agreement</button>" not in page
    # Another payor cannot open it.
    other = app.test_client()
    sign_in_fresh(other, make_paying_payor(), (Role.PAYMENTS_ADMIN,))
    assert other.get(f"/payees/{relationship.id}/agreement").status_code == 404
