"""Every main page passes axe-core's WCAG 2 A/AA rules (serious and critical findings fail),
checked in Chromium for a payor admin, a payee admin and an operator."""

from pathlib import Path

import pyotp
import pytest
import sqlalchemy as sa

from portal.accounts.models import User
from portal.core import tenancy
from portal.core.db import db
from portal.demo.seed import DEMO_PASSWORD, seed_demo
from tests.conftest import require_peer
from tests.factories import Authenticator
from tests.peers.oidc_provider import OidcPeerUnavailable, ensure_npm_packages

pytestmark = [pytest.mark.browser, pytest.mark.committed]

AXE_DIR = Path(__file__).resolve().parents[1] / "peers" / "axe"
PAGES = {
    "admin@summit.example.com": [
        "/dashboard",
        "/account",
        "/company/members",
        "/settings/payments",
        "/projects",
        "/company/history",
        "/company/implementation",
        "/settings/sso",
    ],
    "admin@ironline.example.com": ["/dashboard", "/company/members"],
    "ops@trestle.example.com": [
        "/operator",
        "/operator/payors/{summit}",
        "/operator/payors/{summit}/implementation",
        "/operator/users",
    ],
}
PUBLIC = ["/", "/login", "/login/sso", "/password/forgot"]


@pytest.fixture(scope="module")
def axe_script() -> Path:
    try:
        ensure_npm_packages(AXE_DIR)
    except OidcPeerUnavailable as exc:
        require_peer(False, str(exc))
    return AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"


def audit_page(page, axe_script: Path, path: str) -> list[str]:
    page.goto(path)
    page.add_script_tag(path=str(axe_script))
    result = page.evaluate(
        "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa']}})"
    )
    return [
        f"{path}: {v['id']} ({v['impact']}): {v['help']} — "
        + "; ".join(node["target"][0] for node in v["nodes"][:3])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_main_pages_have_no_serious_accessibility_violations(
    browser, live_server, axe_script
) -> None:
    seed_demo()
    secrets = {}
    with tenancy.unscoped():
        for email in PAGES:
            user = db.session.scalar(sa.select(User).where(User.email == email))
            user.totp_secret = secrets[email] = pyotp.random_base32(32)
        from portal.companies.queries import company_by_slug

        summit = company_by_slug("summit-builders").id
    db.session.commit()

    problems: list[str] = []
    # The CSP would refuse the injected axe script; the CSP itself is tested elsewhere.
    context = browser.new_context(base_url=live_server, bypass_csp=True)
    page = context.new_page()
    for path in PUBLIC:
        problems += audit_page(page, axe_script, path)
    # The audit must be able to fail: an unlabelled field is reported.
    page.evaluate("document.querySelector('main').insertAdjacentHTML('beforeend', '<input>')")
    planted = page.evaluate("axe.run(document, {runOnly: {type: 'rule', values: ['label']}})")
    assert [v["id"] for v in planted["violations"]] == ["label"]
    context.close()
    for email, paths in PAGES.items():
        context = browser.new_context(base_url=live_server, bypass_csp=True)
        page = context.new_page()
        page.goto("/login")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/login/code")
        phone = Authenticator(secrets[email])
        page.get_by_label("6-digit code from your authenticator app").fill(phone.code())
        page.get_by_role("button", name="Verify").click()
        page.wait_for_url("**/dashboard")
        for path in paths:
            problems += audit_page(page, axe_script, path.format(summit=summit))
        context.close()
    assert problems == [], "\n".join(problems)
