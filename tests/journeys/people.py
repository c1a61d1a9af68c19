"""What a person does in the browser on every journey: sign in, use the navigation."""

from __future__ import annotations

from tests.factories import PASSWORD, Authenticator


def sign_in(page, email: str, phone: Authenticator) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/login/code")
    page.get_by_label("6-digit code from your authenticator app").fill(phone.code())
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url("**/dashboard")


def go_to(page, section: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=section).click()
