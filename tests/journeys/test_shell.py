"""The portal shell in a real browser: htmx from our own origin under a strict CSP, keyboard
navigation, htmx form swaps and error pages."""

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.committed]


def test_login_page_loads_htmx_under_the_csp(page) -> None:
    page.goto("/login")
    assert page.title() == "Sign in · Trestle"
    assert page.evaluate("window.htmx && window.htmx.version") == "2.0.11"
    assert page.evaluate("htmx.config.allowEval") is False
    assert page.evaluate("htmx.config.selfRequestsOnly") is True


def test_skip_link_is_first_for_keyboard_users(page) -> None:
    page.goto("/login")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to main content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"


def test_the_form_swaps_in_place_with_field_errors(page) -> None:
    page.goto("/login")
    page.evaluate("window.stillHere = true")
    page.get_by_role("button", name="Sign in").click()
    error = page.locator("#email-error")
    error.wait_for()
    assert error.text_content() == "Enter your email address."
    assert page.locator("#email").get_attribute("aria-invalid") == "true"
    assert page.evaluate("window.stillHere") is True, "an htmx swap, not a page load"

    page.get_by_label("Email").fill("someone@example.com")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("alert").filter(has_text="do not match").wait_for()
    assert page.evaluate("window.stillHere") is True


def test_unknown_pages_get_a_helpful_404(page) -> None:
    response = page.goto("/no/such/page")
    assert response.status == 404
    assert page.get_by_role("heading", level=1).text_content() == "We could not find that page"
    page.problems.clear()  # the browser logs the 404 itself
