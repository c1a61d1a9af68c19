"""A payee onboards in Chromium, end to end: a payor's Payments Admin invites it, the
invitation arrives at the real SMTP server from a worker process, the recipient signs up,
enrolls TOTP, fills its profile and W-9, adds and verifies a bank account with the sandbox
bank's micro-deposits, accepts the Pay agreement, and the payor's Beneficiary Approver
approves it: both sides then read "Ready for payment"."""

import re
import time

import pytest

from portal.companies import services as company_services
from portal.companies.models import CompanyKind, Feature, Role
from portal.core import tenancy
from portal.core.db import db
from tests.conftest import wait_until
from tests.factories import Authenticator, make_company, make_user
from tests.journeys.dialogs import confirm
from tests.journeys.people import go_to, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.committed, pytest.mark.real]

PAYEE_EMAIL = "ivy@ironline.example.com"
PAYEE_PASSWORD = "ironline steel passphrase"
ROUTING = "021000021"
ACCOUNT = "000123456789"  # ends in neither 9990 nor 9991: the sandbox's ownership check matches
STEP_UP_SECONDS = 3


@pytest.fixture
def short_step_up(app):
    """Make a session's verification go stale within seconds, so every money-moving form
    really asks for a fresh code (by default a new sign-in stays fresh for five minutes)."""
    saved = app.config["STEP_UP_MAX_AGE_SECONDS"]
    app.config["STEP_UP_MAX_AGE_SECONDS"] = STEP_UP_SECONDS
    yield
    app.config["STEP_UP_MAX_AGE_SECONDS"] = saved


def wait_out_step_up() -> None:
    """Let the last verification go stale: the next sensitive form carries its code field."""
    time.sleep(STEP_UP_SECONDS + 0.5)


def invitation_path(smtp, email: str) -> str:
    """The link in the invitation, as the real SMTP server received it from the worker."""
    [message] = wait_until(lambda: smtp.to(email), timeout=30)
    body = message.get_body(("plain",)).get_content()
    return re.search(r"http://localhost(/payee-invitations/\S+)", body).group(1)


def checklist_item(page, payor_name: str, key: str):
    """One item of the payee home's checklist for ``payor_name``."""
    step = page.get_by_role("listitem").filter(
        has=page.get_by_role("heading", name=payor_name, exact=True)
    )
    return step.locator(f'[data-item="{key}"]')


def header_status(page) -> str:
    return page.locator(".page-title .badge").text_content()


def test_a_payee_onboards_and_is_approved_for_payment(
    page, another_person, smtp, rq_worker, short_step_up
) -> None:
    payor = make_company(CompanyKind.PAYOR, "Keystone Builders")
    with tenancy.unscoped():
        company_services.set_feature(payor, Feature.PAY, True, actor_user_id=None)
    db.session.commit()
    admin, admin_phone = make_user(payor, (Role.PAYMENTS_ADMIN,))
    approver, approver_phone = make_user(payor, (Role.BENEFICIARY_APPROVER,))

    # 1. The Payments Admin invites the payee from the Payees page.
    sign_in(page, admin.email, admin_phone)
    go_to(page, "Payees")
    page.get_by_label("Companies to invite").fill(f"Ironline Steel, {PAYEE_EMAIL}")
    page.get_by_role("button", name="Send invitations").click()
    page.get_by_text("Invited 1 company.").wait_for()
    assert "Invite not accepted" in (
        page.get_by_role("row").filter(has_text="Ironline Steel").text_content()
    )

    # 2. The email reaches the real SMTP server; the recipient opens its link elsewhere.
    payee = another_person()
    payee.goto(invitation_path(smtp, PAYEE_EMAIL))
    payee.get_by_role("heading", name="Get paid by Keystone Builders").wait_for()

    # 3. Sign up, enroll in two-step verification, land on the payee home.
    # The page also offers to join a company already on Trestle, folded away.
    accept = payee.get_by_role("region", name="Accept", exact=True)
    assert payee.get_by_label("Your full name").filter(visible=True).count() == 1, "folded away"
    assert accept.get_by_label("Your company's legal name").input_value() == "Ironline Steel"
    accept.get_by_label("Your full name").fill("Ivy Ironline")
    accept.get_by_label("Choose a password").fill(PAYEE_PASSWORD)
    accept.get_by_label("The same password again").fill(PAYEE_PASSWORD)
    accept.get_by_role("button", name="Create my account").click()
    payee.wait_for_url("**/mfa/enroll")
    # The key a person types when they cannot scan, read as shown.
    payee_phone = Authenticator(payee.locator("code.secret").text_content().strip())
    payee.get_by_label("6-digit code from your authenticator app").fill(payee_phone.code())
    payee.get_by_role("button", name="Turn on two-step verification").click()
    payee.wait_for_url("**/mfa/recovery-codes")
    payee.get_by_label("I have saved these recovery codes somewhere safe").check()
    payee.get_by_role("button", name="Continue").click()
    payee.wait_for_url("**/dashboard")
    assert payee.get_by_role("heading", level=1).text_content() == "Good to see you, Ivy Ironline"
    payee.get_by_role("heading", name="Getting paid by each general contractor").wait_for()
    for key in ("profile", "bank", "agreement", "approval"):
        item = checklist_item(payee, "Keystone Builders", key)
        assert item.get_attribute("data-status") == "to_do", key

    # 4. The company profile and W-9 facts (a fresh code), then the certification.
    wait_out_step_up()
    go_to(payee, "Company profile")
    payee.get_by_label("Legal name").fill("Ironline Steel LLC")
    payee.get_by_label("Entity type").select_option(label="Limited liability company (LLC)")
    payee.get_by_label("Street address").fill("40 Foundry Way")
    payee.get_by_label("City").fill("Pittsburgh")
    payee.get_by_label("State", exact=True).select_option("PA")
    payee.get_by_label("ZIP code").fill("15222")
    payee.get_by_label("Remit-to email").fill("ar@ironline.example.com")
    payee.get_by_label("Federal tax classification").select_option(
        label="LLC taxed as a partnership"
    )
    payee.get_by_label("Tax id type").select_option(label="Employer identification number (EIN)")
    payee.get_by_label("Tax id", exact=True).fill("12-3456789")
    payee.get_by_label("Code from your authenticator app").fill(payee_phone.code())
    payee.get_by_role("button", name="Save profile").click()
    payee.get_by_text("Profile saved. Sign the W-9 certification next.").wait_for()
    assert header_status(payee).endswith("W-9 not certified")
    assert payee.get_by_label("Your full name").input_value() == "Ivy Ironline"
    payee.get_by_label("Your title").fill("Controller")
    payee.get_by_role("button", name="Sign the certification").click()
    payee.get_by_text("W-9 certification signed.").wait_for()
    assert header_status(payee).endswith("Complete")
    assert payee.get_by_text("Signed by Ivy Ironline, Controller").is_visible()

    # 5. A bank account, numbers entered twice (another fresh code).
    wait_out_step_up()
    go_to(payee, "Bank accounts")
    payee.get_by_label("Name on the account").fill("Ironline Steel LLC")
    payee.get_by_label("Routing number").fill(ROUTING)
    payee.get_by_label("Account number", exact=True).fill(ACCOUNT)
    payee.get_by_label("Account number again").fill(ACCOUNT)
    payee.get_by_label("Account type").select_option(label="Checking")
    payee.get_by_label("Code from your authenticator app").fill(payee_phone.code())
    payee.get_by_role("button", name="Add bank account").click()
    payee.get_by_text("Account ••••6789 added.").wait_for()
    assert header_status(payee).endswith("Pending verification")

    # 6. The deposits are read where a payee would read them: on its bank's statement.
    with payee.context.expect_page() as opened:
        payee.get_by_role("link", name="sandbox bank's statement page").click()
    bank = opened.value
    bank.wait_for_load_state()
    bank.get_by_label("Routing number").fill(ROUTING)
    bank.get_by_label("Account number").fill(ACCOUNT)
    bank.get_by_role("button", name="Show statement").click()
    deposits = bank.get_by_role("row").filter(has_text="TRESTLE ACCTVERIFY")
    deposits.first.wait_for()
    assert deposits.count() == 2
    first, second = (row.get_by_role("cell").last.text_content() for row in deposits.all())
    assert re.fullmatch(r"\$0\.\d\d", first) and re.fullmatch(r"\$0\.\d\d", second)
    bank.close()
    payee.get_by_label("First deposit").fill(first)
    payee.get_by_label("Second deposit").fill(second)
    payee.get_by_role("button", name="Verify account").click()
    payee.get_by_text("Account ••••6789 verified. Payments go to it.").wait_for()
    assert header_status(payee).endswith("Verified")

    # 7. The Pay agreement, opened from the home checklist.
    go_to(payee, "Home")
    assert checklist_item(payee, "Keystone Builders", "profile").get_attribute("data-status") == (
        "done"
    )
    assert checklist_item(payee, "Keystone Builders", "bank").get_attribute("data-status") == (
        "done"
    )
    payee.get_by_role("link", name="Pay agreement").click()
    payee.wait_for_url("**/payee/agreements/*")
    payee.get_by_role("heading", name="Pay agreement with Keystone Builders").wait_for()
    payee.get_by_label("Your full name").fill("Ivy Ironline")
    payee.get_by_label("Your title").fill("Controller")
    payee.get_by_label("I have read this agreement and accept it").check()
    payee.get_by_role("button", name="Accept the Pay agreement").click()
    payee.wait_for_url("**/dashboard")
    payee.get_by_text("Pay agreement with Keystone Builders accepted.").wait_for()
    agreement = checklist_item(payee, "Keystone Builders", "agreement")
    assert agreement.get_attribute("data-status") == "done"
    approval = checklist_item(payee, "Keystone Builders", "approval")
    assert approval.get_attribute("data-status") == "to_do"
    assert "Waiting for Keystone Builders" in approval.text_content()

    # 8. The Beneficiary Approver finds it in "Needs review" and approves it (a fresh code).
    reviewer = another_person()
    sign_in(reviewer, approver.email, approver_phone)
    wait_out_step_up()
    go_to(reviewer, "Payees")
    reviewer.get_by_role("navigation", name="Payees by onboarding status").get_by_role(
        "link", name="Needs review (1)"
    ).click()
    reviewer.get_by_role("link", name="Ironline Steel", exact=True).click()
    reviewer.get_by_role("heading", name="Ironline Steel", level=1).wait_for()
    assert header_status(reviewer).endswith("Needs review")
    reviewer.get_by_label("Code from your authenticator app").fill(approver_phone.code())
    reviewer.get_by_role("button", name="Approve", exact=True).click()
    confirm(reviewer, "Approve Ironline Steel for payment to the account ending 6789?")
    reviewer.get_by_text("Ironline Steel approved.").wait_for()
    assert header_status(reviewer).endswith("Ready for payment")
    receiving = reviewer.get_by_role("region", name="Bank account receiving payments")
    assert "Approved" in receiving.text_content()
    # The payor's cooling-off period stays at its default (3 days) here: that is what a real
    # payor meets the day it approves a new payee: "Ready for payment" means everything the
    # payee and the approver do is done, and the one reason left not to pay yet is that
    # period, which both sides are told.
    pay_now = reviewer.get_by_role("region", name="May you pay it now?")
    reasons = pay_now.get_by_role("listitem")
    assert reasons.count() == 1, pay_now.text_content()
    assert "wait out the cooling-off period" in reasons.first.text_content()
    assert reviewer.get_by_text("Cooling-off until").is_visible()
    go_to(reviewer, "Payees")
    assert "Ready for payment" in (
        reviewer.get_by_role("row").filter(has_text="Ironline Steel").text_content()
    )

    # 9. The payee's home says it is approved, and when the first payment can go.
    payee.reload()
    approval = checklist_item(payee, "Keystone Builders", "approval")
    assert approval.get_attribute("data-status") == "done"
    assert "Approved." in approval.text_content()
    assert "Keystone Builders' first payment to it can go on" in approval.text_content()
