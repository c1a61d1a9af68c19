"""The shared components in Chromium: the data table keeps its state in the URL, and the
confirmation dialog stands in for window.confirm."""

import pytest

from tests.factories import PASSWORD, make_company, make_user
from tests.journeys.dialogs import confirm
from tests.journeys.test_implementation import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.committed]


def test_table_sort_filter_and_page_round_trip_through_the_url(page) -> None:
    user, phone = make_user(make_company())
    sign_in(page, user.email, PASSWORD, phone)
    page.goto("/_components")
    table = page.locator("#sample-table")
    page.get_by_role("link", name="Amount").click()
    page.wait_for_url("**/_components?sort=amount*")
    assert table.locator("th[aria-sort]").get_attribute("aria-sort") == "ascending"
    page.get_by_role("link", name="Amount").click()
    page.wait_for_url("**dir=desc*")
    first = table.locator("tbody tr").first.text_content()
    assert "Sample Subcontractor 30" in first
    page.get_by_role("navigation", name="Pagination").get_by_role("link", name="Page 2").click()
    page.wait_for_url("**page=2*")
    assert "Sample Subcontractor 20" in table.locator("tbody tr").first.text_content()
    shared = page.url

    page.reload()  # the state lives in the URL: a reload or a shared link shows the same page
    assert "Sample Subcontractor 20" in table.locator("tbody tr").first.text_content()
    assert table.locator('a[aria-current="page"]').text_content().strip().endswith("2")

    page.get_by_label("Payee contains").fill("Subcontractor 0")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(lambda url: "q=Subcontractor%200" in url)
    assert "sort=amount" in page.url and "dir=desc" in page.url, "filtering keeps the sort"
    assert "page=" not in page.url, "a new filter starts at the first page"
    assert table.locator("tbody tr").count() == 9
    page.go_back()
    page.wait_for_url(shared)


def test_the_confirmation_dialog_says_what_happens_and_can_be_cancelled(page) -> None:
    user, phone = make_user(make_company())
    sign_in(page, user.email, PASSWORD, phone)
    page.goto("/account")
    page.get_by_role("button", name="Sign out everywhere").click()
    dialog = page.locator("#confirm-dialog[open]")
    dialog.wait_for()
    assert "Every browser, phone and remembered sign-in" in dialog.text_content()
    assert page.evaluate("document.activeElement.textContent") == "Cancel", "safe default"
    dialog.get_by_role("button", name="Cancel").click()
    assert page.url.endswith("/account"), "cancelled: nothing happened"
    page.get_by_role("button", name="Sign out everywhere").click()
    confirm(page, "Sign out on every device")
    page.wait_for_url("**/login")
