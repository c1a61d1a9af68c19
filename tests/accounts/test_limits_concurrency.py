"""Limits hold under concurrency: 40 wrong passwords or codes sent at once get exactly as
many checks as the limit allows (deciding and counting are one locked step)."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import sqlalchemy as sa

from portal.core import tenancy
from portal.core.db import db
from portal.core.ratelimit import ThrottleEvent
from tests.factories import PASSWORD, make_company, make_user

pytestmark = [pytest.mark.real, pytest.mark.committed]
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
ATTEMPTS = 40


def token(browser: requests.Session, url: str) -> str:
    return CSRF.search(browser.get(url, timeout=30).text).group(1)


def events(scope: str) -> int:
    db.session.rollback()
    with tenancy.unscoped():
        return db.session.scalar(
            sa.select(sa.func.count())
            .select_from(ThrottleEvent)
            .where(ThrottleEvent.scope == scope)
        )


def test_forty_concurrent_wrong_passwords_get_ten_checks(live_server) -> None:
    user, _ = make_user(make_company())
    email = user.email  # the threads below have no app context to load it in
    browsers = [requests.Session() for _ in range(ATTEMPTS)]
    tokens = [token(b, f"{live_server}/login") for b in browsers]

    def attempt(i: int) -> str:
        return (
            browsers[i]
            .post(
                f"{live_server}/login",
                data={"csrf_token": tokens[i], "email": email, "password": f"wrong {i}"},
                timeout=120,
            )
            .text
        )

    with ThreadPoolExecutor(max_workers=ATTEMPTS) as pool:
        pages = list(pool.map(attempt, range(ATTEMPTS)))
    checked = sum("do not match an account" in page for page in pages)
    refused = sum("Too many sign-in attempts" in page for page in pages)
    assert (checked, refused) == (10, ATTEMPTS - 10)
    assert events("login:account") == 10
    # The limit holds for the right password too.
    browser = requests.Session()
    page = browser.post(
        f"{live_server}/login",
        data={
            "csrf_token": token(browser, f"{live_server}/login"),
            "email": email,
            "password": PASSWORD,
        },
        timeout=30,
    ).text
    assert "Too many sign-in attempts" in page


def test_forty_concurrent_wrong_codes_get_five_checks(live_server) -> None:
    user, _ = make_user(make_company())
    first = requests.Session()
    first.post(
        f"{live_server}/login",
        data={
            "csrf_token": token(first, f"{live_server}/login"),
            "email": user.email,
            "password": PASSWORD,
        },
        timeout=30,
    )
    code_token = token(first, f"{live_server}/login/code")
    browsers = []
    for _ in range(ATTEMPTS):  # the same signed-in-by-password browser, 40 requests at once
        browser = requests.Session()
        browser.cookies.update(first.cookies)
        browsers.append(browser)

    def attempt(i: int) -> str:
        return (
            browsers[i]
            .post(
                f"{live_server}/login/code",
                data={"csrf_token": code_token, "code": f"{i:06d}"},
                timeout=120,
            )
            .text
        )

    with ThreadPoolExecutor(max_workers=ATTEMPTS) as pool:
        pages = list(pool.map(attempt, range(ATTEMPTS)))
    checked = sum("That code is not right" in page for page in pages)
    refused = sum("Too many incorrect codes" in page for page in pages)
    assert (checked, refused) == (5, ATTEMPTS - 5)
    assert events("mfa:user") == 5
