"""Approving a payee, and every control on a new or changed bank account: notices to both
sides, a one-click freeze, the cooling-off period, the shared-account flag, and the policy
that says whether a payee may be paid now and why not."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.companies.models import Role
from portal.core import tenancy
from portal.core.db import db, utcnow
from portal.notifications.models import EmailMessage
from portal.onboarding.models import OnboardingStatus, PayeeRelationship
from portal.onboarding.policies import may_pay_payee
from portal.payees.models import PayeeBankAccount
from portal.payment_settings import services as settings
from portal.payment_settings.models import FundingAccountMode
from tests.factories import make_paying_payor, make_user, sign_in_fresh
from tests.onboarding.test_statuses import agree, join, relationships, verify
from tests.payees.helpers import add_account, certify, last_account, payee_admin, save_profile

pytestmark = pytest.mark.usefixtures("database")


def onboarded(client, payor=None):
    """A payee of ``payor`` with a certified profile, a verified receiving account and the
    payor's Pay agreement accepted."""
    payee, user, _phone = payee_admin(client)
    payor = payor or make_paying_payor()
    join(payor, payee, user)
    save_profile(client)
    certify(client)
    add_account(client)
    verify(client, payee)
    agree(client, relationships(payee)[payor.id])
    return payor, payee, relationships(payee)[payor.id]


def emails_to(address: str) -> list[EmailMessage]:
    with tenancy.unscoped():
        return list(
            db.session.scalars(
                sa.select(EmailMessage)
                .where(EmailMessage.to_address == address)
                .order_by(EmailMessage.id)
            )
        )


def set_cooling_off(payor, days: int) -> None:
    with tenancy.unscoped():
        settings.update_controls(
            payor,
            disbursements_enabled=True,
            pay_on_new_projects=True,
            funding_account_mode=FundingAccountMode.CHOSEN_AT_DISBURSEMENT,
            invitation_message=None,
            cooling_off_days=days,
            actor_user_id=None,
        )
        db.session.commit()


def test_a_beneficiary_approver_approves_with_a_code_and_the_payee_is_ready(client, app):
    payor, payee, relationship = onboarded(client)
    approver = app.test_client()
    sign_in_fresh(approver, payor, (Role.BENEFICIARY_APPROVER,))
    home = approver.get("/dashboard").get_data(as_text=True)
    assert f'href="/payees/{relationship.id}">{relationship.directory_name}</a>' in home
    page = approver.get(f"/payees/{relationship.id}").get_data(as_text=True)
    assert "Ironline Steel LLC" in page and "•••••6789" in page and "Needs review" in page
    assert "Same but for case, punctuation or a legal suffix" in page, "Ironline Steel (LLC)"
    assert "▲ Differs" not in page
    assert "You have not approved this payee yet." in page
    assert "changed since you approved" not in page and "current bank account" not in page
    response = approver.submit(f"/payees/{relationship.id}/approve", {}, token_from="/payees")
    assert response.status_code == 303
    relationship = relationships(payee)[payor.id]
    assert relationship.status is OnboardingStatus.APPROVED
    assert relationship.approved_bank_account_id == last_account(payee).id
    decision = may_pay_payee(payor.id, payee.id, now=utcnow() + timedelta(days=3, minutes=1))
    assert decision.allowed, decision.reasons
    # Within the cooling-off period, even approved, it waits.
    decision = may_pay_payee(payor.id, payee.id)
    assert not decision.allowed and "cooling-off" in decision.reasons[0]
    page = approver.get(f"/payees/{relationship.id}").get_data(as_text=True)
    assert "Ready for payment" in page and "cooling-off period" in page
    home = approver.get("/dashboard").get_data(as_text=True)
    assert f'href="/payees/{relationship.id}"' not in home, "nothing waits for them any more"


def test_only_beneficiary_approvers_approve_and_only_what_needs_review(client, app):
    payor, payee, relationship = onboarded(client)
    admin = app.test_client()
    sign_in_fresh(admin, payor, (Role.PAYMENTS_ADMIN,))
    assert admin.get(f"/payees/{relationship.id}").status_code == 200
    refused = admin.submit(f"/payees/{relationship.id}/approve", {}, token_from="/payees")
    assert refused.status_code == 403
    assert relationships(payee)[payor.id].status is OnboardingStatus.NEEDS_REVIEW
    other_payor = make_paying_payor()
    stranger = app.test_client()
    sign_in_fresh(stranger, other_payor, (Role.BENEFICIARY_APPROVER,))
    assert stranger.get(f"/payees/{relationship.id}").status_code == 404
    assert (
        stranger.submit(f"/payees/{relationship.id}/approve", {}, token_from="/payees").status_code
        == 404
    )
    assert relationships(payee)[payor.id].approved_at is None


def test_a_no_match_account_cannot_be_approved_until_an_operator_clears_it(client, app):
    payee, user, _ = payee_admin(client)
    payor = make_paying_payor()
    join(payor, payee, user)
    save_profile(client)
    certify(client)
    add_account(client, account_number="000123459990", account_number_confirm="000123459990")
    verify(client, payee)
    agree(client, relationships(payee)[payor.id])
    relationship = relationships(payee)[payor.id]
    approver = app.test_client()
    sign_in_fresh(approver, payor, (Role.BENEFICIARY_APPROVER,))
    page = approver.get(f"/payees/{relationship.id}").get_data(as_text=True)
    assert "No match" in page and "operator" in page
    assert "Approve</button>" not in page, "no approval is offered that would be refused"
    response = approver.submit(f"/payees/{relationship.id}/approve", {}, token_from="/payees")
    assert "must review this bank account first" in approver.get(
        response.headers["Location"]
    ).get_data(as_text=True)
    assert relationships(payee)[payor.id].status is OnboardingStatus.NEEDS_REVIEW


def test_a_changed_account_invalidates_approval_starts_cooling_off_and_tells_both_sides(
    client, app
):
    payor, payee, relationship = onboarded(client)
    approver_user, _ = make_user(payor, (Role.BENEFICIARY_APPROVER,))
    set_cooling_off(payor, 5)
    with tenancy.unscoped():
        from portal.onboarding import services

        services.approve(relationship, actor_user_id=approver_user.id)
        db.session.execute(
            sa.update(PayeeBankAccount).values(receiving_since=utcnow() - timedelta(days=10))
        )
        db.session.commit()
    assert may_pay_payee(payor.id, payee.id).allowed
    add_account(client, account_number="000987654321", account_number_confirm="000987654321")
    with tenancy.unscoped():
        admin_email = db.session.scalar(
            sa.select(EmailMessage)
            .where(EmailMessage.template == "payee_bank_account_added")
            .order_by(EmailMessage.id.desc())
        )
    assert "ending 4321" in admin_email.subject and "If this was not you" in admin_email.text_body
    assert may_pay_payee(payor.id, payee.id).allowed, "a new account changes nothing until chosen"
    verify(client, payee)
    client.submit(
        f"/payee/bank-accounts/{last_account(payee).id}/receive",
        {},
        token_from="/payee/bank-accounts",
    )
    assert relationships(payee)[payor.id].status is OnboardingStatus.NEEDS_REVIEW
    decision = may_pay_payee(payor.id, payee.id)
    assert not decision.allowed
    assert "You have not approved the payee's current bank account." in decision.reasons
    (notice,) = emails_to(approver_user.email)
    assert "ending 4321, instead of the one ending 6789" in notice.text_body
    assert "cooling-off period of 5 days" in notice.text_body
    with tenancy.unscoped():
        from portal.onboarding import services

        services.approve(relationships(payee)[payor.id], actor_user_id=approver_user.id)
        db.session.commit()
    decision = may_pay_payee(payor.id, payee.id)
    assert not decision.allowed and "cooling-off" in decision.reasons[0]
    assert may_pay_payee(payor.id, payee.id, now=utcnow() + timedelta(days=5, minutes=1)).allowed


def test_the_report_link_freezes_the_account_and_stops_payment(client, app):
    payor, payee, _relationship = onboarded(client)
    with tenancy.unscoped():
        notice = db.session.scalar(
            sa.select(EmailMessage).where(EmailMessage.template == "payee_bank_account_added")
        )
    link = re.search(r"http\S+/payee/bank-account-reports/\S+", notice.text_body).group(0)
    path = link.split("://", 1)[1].split("/", 1)[1]
    stranger = app.test_client()  # the link works signed out
    page = stranger.get(f"/{path}").get_data(as_text=True)
    assert "Freeze this account" in page
    assert last_account(payee).frozen_at is None, "showing the page changes nothing"
    frozen = stranger.submit(f"/{path}", {}, token_from=f"/{path}")
    assert frozen.status_code == 200 and "No payment goes to account" in frozen.get_data(
        as_text=True
    )
    db.session.expire_all()
    assert last_account(payee).frozen_at is not None
    decision = may_pay_payee(payor.id, payee.id, now=utcnow() + timedelta(days=30))
    assert any("frozen" in r for r in decision.reasons)
    assert stranger.get("/payee/bank-account-reports/not-a-token").status_code == 404
    # Every admin of the payee hears of it (one may be the one who added the account).
    with tenancy.unscoped():
        told = db.session.scalars(
            sa.select(EmailMessage.to_address).where(
                EmailMessage.template == "payee_bank_account_frozen"
            )
        ).all()
    assert told == [notice.to_address]


def test_the_same_account_on_two_payees_is_flagged_for_review(client, app):
    payor, payee, _relationship = onboarded(client)
    other = app.test_client()
    impostor, _, _ = payee_admin(other, "Ironline Steel Co")
    add_account(other, holder_name="Ironline Steel Co")
    flagged = last_account(impostor)
    db.session.expire_all()
    original = last_account(payee)
    assert flagged.shared_with_other_payee and original.shared_with_other_payee
    assert original.needs_operator_review and "another payee" in original.review_reason
    decision = may_pay_payee(payor.id, payee.id, now=utcnow() + timedelta(days=30))
    assert any("operator's review" in r for r in decision.reasons)


def test_a_note_keeps_the_payee_in_review_and_emails_its_admins(client, app):
    payor, payee, relationship = onboarded(client)
    approver = app.test_client()
    sign_in_fresh(approver, payor, (Role.BENEFICIARY_APPROVER,))
    empty = approver.submit(f"/payees/{relationship.id}/note", {"note": "  "}, token_from="/payees")
    assert empty.status_code == 400
    sent = approver.submit(
        f"/payees/{relationship.id}/note",
        {"note": "Please upload a W-9 signed by an officer."},
        token_from="/payees",
    )
    assert sent.status_code == 303
    relationship = relationships(payee)[payor.id]
    assert relationship.status is OnboardingStatus.NEEDS_REVIEW
    assert relationship.review_note.startswith("Please upload")
    with tenancy.unscoped():
        note = db.session.scalar(
            sa.select(EmailMessage).where(EmailMessage.template == "payee_review_note")
        )
    assert "Please upload a W-9" in note.text_body


def test_the_policy_explains_each_reason(client):
    payor, payee, relationship = onboarded(client)
    decision = may_pay_payee(payor.id, payee.id)
    assert not decision.allowed
    assert decision.reasons[0] == "You have not approved this payee yet."
    assert len(decision.reasons) == 2 and "cooling-off" in decision.reasons[1], decision.reasons
    assert may_pay_payee(payor.id, 999_999).reasons == ["This company is not one of your payees."]
    with tenancy.unscoped():
        assert (
            db.session.get(PayeeRelationship, relationship.id).status
            is OnboardingStatus.NEEDS_REVIEW
        )


@pytest.mark.parametrize(
    ("directory", "submitted", "differs", "nearly"),
    [
        ("Ironline Steel", "Ironline Steel", False, False),
        ("Ironline Steel", "IRONLINE STEEL, LLC", False, True),
        ("Brook & Sons Inc.", "Brook and Sons", False, True),
        ("Ironline Steel", "Ironside Steel LLC", True, False),
        ("Ironline Steel", "", False, False),
    ],
)
def test_the_manage_view_marks_only_real_differences(directory, submitted, differs, nearly):
    from portal.onboarding.queries import Comparison

    comparison = Comparison("Company name", directory, submitted)
    assert (comparison.differs, comparison.nearly_same) == (differs, nearly)


def test_the_approvers_home_lists_the_first_twenty_and_counts_them_all(client, app):
    payor = make_paying_payor()
    with tenancy.unscoped():
        for n in range(21):
            db.session.add(
                PayeeRelationship(
                    payor_id=payor.id,
                    directory_name=f"Sub {n:02d}",
                    contact_email=f"sub{n}@example.com",
                    status=OnboardingStatus.NEEDS_REVIEW,
                )
            )
        db.session.commit()
    sign_in_fresh(client, payor, (Role.BENEFICIARY_APPROVER,))
    home = client.get("/dashboard").get_data(as_text=True)
    assert 'Payee bank accounts to approve <span class="queue-count">(21)</span>' in home
    assert "The first 20 of 21." in home and 'href="/payees?status=needs_review"' in home
    assert "Sub 19" in home and "Sub 20" not in home
