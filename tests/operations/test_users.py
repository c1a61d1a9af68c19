"""The operator's list of payor users: every one, a page at a time, searchable and filtered by
two-step verification; never a payee's or an operator's people."""

import re

import pytest

from portal.companies import services as companies
from portal.companies.models import CompanyKind, Role
from portal.core import tenancy
from portal.core.db import db
from tests.factories import make_company, make_user

pytestmark = pytest.mark.usefixtures("database")


def emails(page: str) -> list[str]:
    """The listed users' emails, in their order."""
    return re.findall(r'<td class="wrap-anywhere">([^<]+)</td>', page)


@pytest.fixture
def people(operator):
    """Twelve payor users (odd ones without MFA, one in two payors), plus people of a payee."""
    north, south = (
        make_company(CompanyKind.PAYOR, "North Co"),
        make_company(CompanyKind.PAYOR, "South Co"),
    )
    users = [
        make_user(
            north if k % 3 else south,
            (Role.VIEWER,),
            email=f"p{k:02d}@example.com",
            enrolled=k % 2 == 0,
        )[0]
        for k in range(12)
    ]
    with tenancy.unscoped():
        companies.add_member(south, users[1], actor_user_id=None)
    db.session.commit()
    make_user(make_company(CompanyKind.PAYEE), (Role.PAYEE_ADMIN,), email="payee@example.com")
    return users


def test_every_payor_user_is_listed_a_page_at_a_time(client, people) -> None:
    page = client.get("/operator/users?per_page=10").get_data(as_text=True)
    assert emails(page) == [f"p{k:02d}@example.com" for k in range(10)]
    assert "Showing 1\N{EN DASH}10 of 12" in page and "payee@example.com" not in page
    assert "operator" not in "".join(emails(page)), "the operator is in no payor"
    page = client.get("/operator/users?per_page=10&page=2").get_data(as_text=True)
    assert emails(page) == ["p10@example.com", "p11@example.com"]
    page = client.get("/operator/users?sort=email&dir=desc").get_data(as_text=True)
    assert emails(page)[:2] == ["p11@example.com", "p10@example.com"]


def test_a_row_names_the_users_payors_and_offers_reset_only_when_enrolled(client, people) -> None:
    page = client.get("/operator/users?q=p01@").get_data(as_text=True)
    assert emails(page) == ["p01@example.com"]
    assert "North Co, South Co" in page and "Not set up" in page
    assert f"/operator/users/{people[1].id}/reset-mfa" not in page
    page = client.get("/operator/users?q=p02@").get_data(as_text=True)
    assert f"/operator/users/{people[2].id}/reset-mfa" in page


def test_the_mfa_filter_and_sort_show_who_has_not_set_it_up(client, people) -> None:
    page = client.get("/operator/users?mfa=not_enrolled").get_data(as_text=True)
    assert emails(page) == [f"p{k:02d}@example.com" for k in range(1, 12, 2)]
    page = client.get("/operator/users?mfa=enrolled").get_data(as_text=True)
    assert emails(page) == [f"p{k:02d}@example.com" for k in range(0, 12, 2)]
    page = client.get("/operator/users?mfa=bogus").get_data(as_text=True)
    assert "of 12" in page, "an unknown filter value filters nothing"
    page = client.get("/operator/users?sort=mfa").get_data(as_text=True)
    assert emails(page)[:6] == [f"p{k:02d}@example.com" for k in range(1, 12, 2)]


def test_search_matches_email_or_name_and_wildcards_are_literal(client, people) -> None:
    assert len(emails(client.get("/operator/users?q=USER").get_data(as_text=True))) == 12
    page = client.get("/operator/users?q=%25").get_data(as_text=True)
    assert emails(page) == [] and "No payor user matches these filters." in page
    assert emails(client.get("/operator/users?q=p_1").get_data(as_text=True)) == []


def test_an_htmx_swap_gets_only_the_table(client, people) -> None:
    response = client.htmx("GET", "/operator/users?per_page=10&page=2")
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith('<div id="user-results"') and "<html" not in body
    assert "HX-Request" in response.headers["Vary"]


def test_with_nobody_the_page_says_what_to_do(client, operator) -> None:
    page = client.get("/operator/users").get_data(as_text=True)
    assert "No payor users yet." in page and 'href="/operator"' in page
