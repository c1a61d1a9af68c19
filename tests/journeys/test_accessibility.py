"""Every page an operator, a Payments Admin, a Disburser and a payee admin can reach in the
demo, found by following the links on the pages themselves, is checked in Chromium:

- it is the page that was asked for (no redirect to a prompt instead), answered 200;
- no horizontal overflow at 390 px and at 1280 px wide;
- the current navigation item carries ``aria-current="page"``;
- no inline ``style`` attribute and no ``<style>`` element, and no id used twice;
- no CSP violation and no console error (the strict CSP stays on: axe is evaluated through
  the DevTools protocol, which the page's CSP does not govern);
- axe-core finds no serious or critical WCAG 2 A/AA violation.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import pyotp
import pytest
import sqlalchemy as sa

from portal.accounts.models import User
from portal.core import tenancy
from portal.core.db import db, utcnow
from portal.demo.seed import DEMO_PASSWORD, seed_demo
from tests.conftest import require_peer
from tests.factories import Authenticator
from tests.peers.oidc_provider import OidcPeerUnavailable, ensure_npm_packages

pytestmark = [pytest.mark.browser, pytest.mark.committed]

AXE_DIR = Path(__file__).resolve().parents[1] / "peers" / "axe"
PEOPLE = [
    "ops@trestle.example.com",
    "admin@summit.example.com",
    "disburser@summit.example.com",
    "admin@ironline.example.com",
]
PUBLIC = ["/", "/login", "/login/sso", "/password/forgot"]
WIDTHS = (390, 1280)
SCREENSHOTS = os.environ.get("TRESTLE_PAGE_SCREENSHOTS")
MAX_PAGES_PER_PERSON = 40
# Links that leave the page set on purpose: files, actions and pages that end the session.
NOT_PAGES = re.compile(r"^/(static/|logout|login|password/|invitations/|verify)|\.csv$|/download$")
# Pages every signed-in person must reach by links, whoever they are.
EXPECTED = {
    "ops@trestle.example.com": {
        "/dashboard",
        "/operator",
        "/operator/users",
        "/account",
        "/_components",
    },
    "admin@summit.example.com": {
        "/dashboard",
        "/company/members",
        "/settings/payments",
        "/settings/sso",
        "/projects",
        "/company/history",
        "/company/implementation",
        "/company/profile",
    },
    "disburser@summit.example.com": {"/dashboard", "/company/members", "/company/history"},
    "admin@ironline.example.com": {"/dashboard", "/company/members", "/company/history"},
}

WATCH_CSP = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(event.violatedDirective + " " + (event.blockedURI || "inline"));
});
"""


@pytest.fixture(scope="module")
def axe_source() -> str:
    try:
        ensure_npm_packages(AXE_DIR)
    except OidcPeerUnavailable as exc:
        require_peer(False, str(exc))
    return (AXE_DIR / "node_modules" / "axe-core" / "axe.min.js").read_text()


def axe_violations(page, axe_source: str) -> list[str]:
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(axe_source)
    result = page.evaluate(
        "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa']}})"
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — "
        + "; ".join(str(node["target"][0]) for node in v["nodes"][:3])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def check_page(page, path: str, axe_source: str, *, signed_in: bool) -> list[str]:
    """Open ``path`` and return what is wrong with it."""
    problems = []
    page.set_viewport_size({"width": 1280, "height": 900})
    response = page.goto(path)
    landed = urlsplit(page.url)
    landed_path = landed.path + (f"?{landed.query}" if landed.query else "")
    if response is None or response.status != 200:
        return [f"answered {response.status if response else 'nothing'}"]
    if landed_path != path:
        return [f"landed on {landed_path} instead"]
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        if SCREENSHOTS:  # for looking at every page by eye: TRESTLE_PAGE_SCREENSHOTS=<dir>
            name = re.sub(r"[^a-z0-9]+", "-", f"{path}-{width}".lower()).strip("-")
            page.screenshot(
                path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True, caret="initial"
            )
        scroll, client = page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        if scroll > client:
            problems.append(f"scrolls sideways at {width} px ({scroll} > {client})")
    page.set_viewport_size({"width": 1280, "height": 900})
    styled = page.evaluate(
        "[document.querySelectorAll('[style]').length, document.querySelectorAll('style').length]"
    )
    duplicates = page.evaluate(
        "(() => { const seen = {}; for (const e of document.querySelectorAll('[id]'))"
        " seen[e.id] = (seen[e.id] || 0) + 1;"
        " return Object.keys(seen).filter(id => seen[id] > 1); })()"
    )
    if duplicates:
        problems.append(f"duplicate ids: {duplicates}")
    if styled != [0, 0]:
        problems.append(f"inline styles: {styled[0]} style attributes, {styled[1]} <style>")
    if signed_in:
        current = page.locator('.site-header [aria-current="page"]').count()
        if current != 1:
            problems.append(f"{current} navigation items marked aria-current")
    violations = page.evaluate("window.__cspViolations")
    if violations:
        problems.append(f"CSP violations: {violations}")
    problems += axe_violations(page, axe_source)
    return problems


def links_on(page) -> set[str]:
    hrefs = page.eval_on_selector_all(
        "a[href]:not([download])", "links => links.map(a => a.getAttribute('href'))"
    )
    found = set()
    for href in hrefs:
        parts = urlsplit(href)
        if parts.netloc or not parts.path.startswith("/") or parts.query:
            continue  # other origins, in-page anchors, and list states of a page already seen
        if not NOT_PAGES.search(parts.path):
            found.add(parts.path)
    return found


def sign_in(page, email: str, secret: str) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/login/code")
    page.get_by_label("6-digit code from your authenticator app").fill(Authenticator(secret).code())
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url("**/dashboard")


def crawl(page, axe_source: str, email: str) -> tuple[set[str], list[str]]:
    """Visit every page reachable by links from the home page; return them and the problems."""
    seen: set[str] = set()
    queue = ["/dashboard"]
    problems: list[str] = []
    while queue and len(seen) < MAX_PAGES_PER_PERSON:
        path = queue.pop(0)
        if path in seen:
            continue
        seen.add(path)
        problems += [
            f"{email} {path}: {p}" for p in check_page(page, path, axe_source, signed_in=True)
        ]
        queue += sorted(links_on(page) - seen)
    return seen, problems


MISSING_PAGE = "/no/such/page"


def console_errors(errors: list[str]):
    """A console listener keeping errors, except the 404 the audit asks for on purpose."""

    def listen(message) -> None:
        if message.type == "error" and MISSING_PAGE not in message.location.get("url", ""):
            errors.append(message.text)

    return listen


def check_states(page, axe_source: str, email: str) -> list[str]:
    """Not only first loads: an error page, a form sent back with errors, an htmx swap."""
    problems = []
    response = page.goto(MISSING_PAGE)
    if response.status != 404:
        problems.append(f"a missing page answered {response.status}")
    problems += [f"404 page: {v}" for v in axe_violations(page, axe_source)]
    if email == "admin@summit.example.com":
        page.goto("/projects")
        page.locator("summary", has_text="Add a project").click()
        page.get_by_role("button", name="Add project").click()
        page.locator('[aria-invalid="true"]').first.wait_for()
        problems += [f"project form errors: {v}" for v in axe_violations(page, axe_source)]
        if page.evaluate("document.activeElement.getAttribute('aria-invalid')") != "true":
            problems.append("the first field to fix does not have the focus")
    if email == "ops@trestle.example.com":
        page.goto("/operator")
        page.get_by_label("Name or short name contains").fill("zzz-nobody")
        page.get_by_role("button", name="Search").click()
        page.get_by_text("No payor matches").wait_for()
        if urlsplit(page.url).query != "q=zzz-nobody":
            problems.append(f"the search did not reach the URL: {page.url}")
        problems += [f"payor search fragment: {v}" for v in axe_violations(page, axe_source)]
    return problems


# It crawls the whole demo (up to 40 pages a person, each at two widths, with axe): it
# takes minutes, and more as the demo grows.
@pytest.mark.timeout(600)
def test_every_page_of_the_demo_is_usable_at_both_widths(browser, live_server, axe_source):
    seed_demo()
    secrets = {}
    with tenancy.unscoped():
        for email in PEOPLE:
            user = db.session.scalar(sa.select(User).where(User.email == email))
            user.totp_secret = secrets[email] = pyotp.random_base32(32)
            user.totp_enrolled_at = utcnow()
    db.session.commit()

    problems: list[str] = []
    context = browser.new_context(base_url=live_server)
    context.add_init_script(WATCH_CSP)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", console_errors(errors))
    for path in PUBLIC:
        problems += [
            f"public {path}: {p}" for p in check_page(page, path, axe_source, signed_in=False)
        ]
    # The checks must be able to fail: an unlabelled field, a style attribute (which the CSP
    # refuses, and reports), and a box too wide for a phone.
    page.evaluate(
        "document.querySelector('main').insertAdjacentHTML('beforeend', '<input>');"
        "document.querySelector('main').setAttribute('style', 'color: red');"
        "document.querySelector('main').style.width = '2000px';"
    )
    assert any(v.startswith("label ") for v in axe_violations(page, axe_source))
    assert page.evaluate("document.querySelectorAll('[style]').length") == 1
    page.wait_for_function("window.__cspViolations.length > 0")
    page.set_viewport_size({"width": 390, "height": 900})
    assert page.evaluate("document.documentElement.scrollWidth > 390")
    errors.clear()  # the planted style attribute is reported as a console error too
    context.close()

    for email in PEOPLE:
        context = browser.new_context(base_url=live_server)
        context.add_init_script(WATCH_CSP)
        page = context.new_page()
        page.on("console", console_errors(errors))
        sign_in(page, email, secrets[email])
        seen, found = crawl(page, axe_source, email)
        problems += found
        problems += [f"{email} states: {p}" for p in check_states(page, axe_source, email)]
        missing = EXPECTED[email] - seen
        if missing:
            problems.append(f"{email}: not reached by any link: {sorted(missing)}")
        context.close()
    assert problems == [], "\n".join(problems)
    assert errors == [], f"the browser reported errors: {errors}"
