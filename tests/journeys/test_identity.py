"""A new demo user in Chromium: sign in, enroll TOTP (secret read from the page, codes from
oathtool), save recovery codes, reach the dashboard, and verify again for a protected action."""

import time

import pytest

from portal.core.db import db
from portal.demo.seed import DEMO_PASSWORD, seed_demo
from tests.factories import Authenticator
from tests.journeys.dialogs import confirm

pytestmark = [pytest.mark.browser, pytest.mark.committed]


@pytest.fixture
def short_step_up(app):
    saved = app.config["STEP_UP_MAX_AGE_SECONDS"]
    app.config["STEP_UP_MAX_AGE_SECONDS"] = 3
    yield 3
    app.config["STEP_UP_MAX_AGE_SECONDS"] = saved


def test_new_user_enrolls_and_is_asked_to_verify_again(page, short_step_up) -> None:
    seed_demo()
    db.session.commit()
    page.on("dialog", lambda dialog: dialog.accept())

    page.goto("/login")
    page.get_by_label("Email").fill("admin@summit.example.com")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/mfa/enroll")
    assert page.locator("svg").first.is_visible(), "the QR code is shown"
    secret = page.locator("[data-totp-secret]").get_attribute("data-totp-secret")
    phone = Authenticator(secret)
    page.get_by_label("6-digit code from your authenticator app").fill(phone.code())
    page.get_by_role("button", name="Turn on two-step verification").click()

    page.wait_for_url("**/mfa/recovery-codes")
    assert page.locator("#recovery-codes li").count() == 10
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("button", name="Copy codes").click()
    page.get_by_text("Copied to the clipboard.").wait_for()
    assert len(page.evaluate("navigator.clipboard.readText()").split()) == 10
    page.get_by_role("button", name="Continue").click()
    assert page.get_by_text("Confirm that you have saved").is_visible()
    page.get_by_label("I have saved these recovery codes somewhere safe").check()
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url("**/dashboard")
    assert page.get_by_role("heading", level=1).text_content() == "Good to see you, Sam Summit"
    assert page.get_by_text("Payments Admin").is_visible()

    time.sleep(short_step_up + 0.5)  # the sign-in verification is no longer fresh
    page.goto("/account")
    page.get_by_role("button", name="Generate new recovery codes").click()
    confirm(page, "Your current ones stop working")
    # Not fresh: the action waits behind the prompt, which names it, and then finishes.
    page.wait_for_url("**/verify?next=/account*")
    assert page.get_by_text("Replace your recovery codes").is_visible()
    page.get_by_label("6-digit code from your authenticator app").fill(phone.code())
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url("**/mfa/recovery-codes")
    assert page.locator("#recovery-codes li").count() == 10
