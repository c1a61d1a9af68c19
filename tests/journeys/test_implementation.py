"""A payor's first week in Chromium: an operator activates it, designates two admins and opens
the deposit account; an admin sets up a business entity and a funding account; the
implementation checklist follows each step."""

import re

import pytest
import sqlalchemy as sa

from portal.companies.models import CompanyKind, Role
from portal.core.db import db
from portal.notifications.models import EmailMessage
from tests.factories import PASSWORD, Authenticator, make_company, make_user, totp_secret_on_page
from tests.journeys.dialogs import confirm

pytestmark = [pytest.mark.browser, pytest.mark.committed]

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def sign_in(page, email: str, password: str, phone: Authenticator) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/login/code")
    page.get_by_label("6-digit code from your authenticator app").fill(phone.code())
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url("**/dashboard")


def checklist_state(page, key: str) -> str:
    return page.locator(f'.step-items [data-item="{key}"]').get_attribute("data-status")


def welcome_link(email: str) -> str:
    db.session.rollback()
    body = db.session.scalar(
        sa.select(EmailMessage.text_body).where(
            EmailMessage.to_address == email, EmailMessage.template == "welcome"
        )
    )
    return re.search(r"http://localhost(/password/reset/\S+)", body).group(1)


def test_operator_and_admin_take_a_payor_through_step_one_and_two(
    page, browser, live_server
) -> None:
    operator, phone = make_user(make_company(CompanyKind.OPERATOR), (Role.OPERATOR,))
    sign_in(page, operator.email, PASSWORD, phone)

    page.get_by_role("link", name="Payors", exact=True).click()
    current = page.get_by_role("navigation", name="Main").get_by_role("link", name="Payors")
    assert current.get_attribute("aria-current") == "page"
    page.locator("summary", has_text="Create a payor").click()
    page.get_by_label("Company name").fill("Keystone Builders")
    page.get_by_label("Short name", exact=True).fill("keystone-builders")
    page.get_by_role("button", name="Create payor").click()
    page.wait_for_url("**/operator/payors/*")
    payor_url = page.url

    for feature in ("Pay", "Payment Requirements", "Lien Waivers", "Invoice Management"):
        page.get_by_role("button", name=f"Turn {feature} on").click()
        confirm(page, f"Turn {feature} on for Keystone Builders?")
        page.get_by_role("button", name=f"Turn {feature} off").wait_for()
        page.get_by_role("status").get_by_text(f"{feature} is on for Keystone Builders.").wait_for()

    for email, name in (
        ("cfo@keystone.example.com", "Cora CFO"),
        ("ctl@keystone.example.com", "Carl Controller"),
    ):
        page.get_by_text("Add a person", exact=True).click()
        page.get_by_label("Email", exact=True).fill(email)
        page.get_by_label("Full name").fill(name)
        page.get_by_role("button", name="Add person").click()
        page.get_by_text(f"{email} added").wait_for()

    page.get_by_text("Designate Payments Admins from a signed form").click()
    page.get_by_label("Emails of the people the form designates").fill(
        "cfo@keystone.example.com\nctl@keystone.example.com"
    )
    page.get_by_label("Signed designation form (PDF)").set_input_files(
        {"name": "designation.pdf", "mimeType": "application/pdf", "buffer": PDF}
    )
    page.get_by_role("button", name="Designate Payments Admins").click()
    page.get_by_text("Payments Admins designated.").wait_for()

    page.get_by_role("button", name="Open deposit account").click()
    confirm(page, "Open a deposit account for Keystone Builders")
    page.get_by_text("Deposit account ••••").first.wait_for()

    page.get_by_role("link", name="Implementation project").click()
    assert checklist_state(page, "features") == "done"
    assert checklist_state(page, "deposit_account") == "done"
    assert checklist_state(page, "admins") == "done"
    assert checklist_state(page, "mfa") == "to_do", "the new admins have not enrolled yet"
    assert checklist_state(page, "business_entity") == "to_do"

    # The admin chooses a password from the welcome email, enrolls, and sets up payments.
    context = browser.new_context(base_url=live_server)
    admin = context.new_page()
    admin.goto(welcome_link("cfo@keystone.example.com"))
    admin.get_by_label("New password", exact=True).fill("keystone admin passphrase")
    admin.get_by_label("New password again").fill("keystone admin passphrase")
    admin.get_by_role("button", name="Save new password").click()
    admin.wait_for_url("**/login")
    admin.get_by_label("Email").fill("cfo@keystone.example.com")
    admin.get_by_label("Password").fill("keystone admin passphrase")
    admin.get_by_role("button", name="Sign in").click()
    admin.wait_for_url("**/mfa/enroll")
    admin_phone = Authenticator(totp_secret_on_page(admin.content()))
    admin.get_by_label("6-digit code from your authenticator app").fill(admin_phone.code())
    admin.get_by_role("button", name="Turn on two-step verification").click()
    admin.get_by_label("I have saved these recovery codes somewhere safe").check()
    admin.get_by_role("button", name="Continue").click()
    admin.wait_for_url("**/dashboard")

    admin.get_by_role("link", name="Payment settings").click()
    admin.get_by_label("Legal name").fill("Keystone Builders LLC")
    admin.get_by_label("Street address").fill("200 Arch St")
    admin.get_by_label("City").fill("Philadelphia")
    admin.get_by_label("State", exact=True).select_option("PA")
    admin.get_by_label("ZIP code").fill("19106")
    admin.get_by_label("State of incorporation").select_option("DE")
    admin.get_by_label("EIN").fill("12-3456789")
    admin.get_by_role("button", name="Save business entity").click()
    admin.get_by_text("Incomplete: add a controller").wait_for()
    # A new entity's page opens its owner-or-controller form: that is the next step.
    admin.get_by_label("Role").select_option("controller")
    admin.get_by_label("Full legal name").fill("Cora CFO")
    admin.get_by_label("Date of birth").fill("1979-05-04")
    admin.get_by_label("Social Security number").fill("123-45-6789")
    admin.get_by_role("button", name="Add person").click()
    admin.get_by_text("Complete for the bank's business verification.").wait_for()

    admin.get_by_text("Add a funding account").click()
    admin.get_by_label("Nickname").fill("Operating")
    admin.get_by_label("Routing number").fill("021000021")
    admin.get_by_label("Account number", exact=True).fill("000123456789")
    admin.get_by_label("Account number again").fill("000123456789")
    admin.get_by_role("button", name="Add funding account").click()
    admin.get_by_text("Funding account Operating added.").wait_for()
    assert admin.get_by_text("••••6789").first.is_visible()
    context.close()

    page.goto(payor_url + "/implementation")
    assert checklist_state(page, "business_entity") == "done"
    assert checklist_state(page, "funding_account") == "done"
    assert checklist_state(page, "mfa") == "to_do"
    assert "ctl@keystone.example.com" in page.locator('[data-item="mfa"]').text_content()
