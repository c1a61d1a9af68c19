"""An invitation is used once, even when ten requests accept it at the same moment."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import sqlalchemy as sa

from portal.accounts.models import User
from portal.companies.models import Company, CompanyKind, Role
from portal.core import tenancy
from portal.core.db import db
from portal.onboarding import services
from portal.onboarding.models import InvitationState, PayeeInvitation, PayeeRelationship
from portal.onboarding.services import Invitee
from tests.factories import PASSWORD, make_company, make_paying_payor, make_user

pytestmark = [pytest.mark.real, pytest.mark.committed]
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
ATTEMPTS = 10


def test_ten_concurrent_acceptances_use_the_link_once(live_server) -> None:
    user, phone = make_user(make_company(CompanyKind.PAYEE), (Role.PAYEE_ADMIN,))
    email = user.email
    with tenancy.unscoped():
        (sent,) = services.invite_payees(
            make_paying_payor(), [Invitee("Racer", email)], actor_user_id=None
        )
    db.session.commit()
    signed_in = requests.Session()
    page = signed_in.get(f"{live_server}/login", timeout=30).text
    signed_in.post(
        f"{live_server}/login",
        data={"csrf_token": CSRF.search(page).group(1), "email": email, "password": PASSWORD},
        timeout=30,
    )
    page = signed_in.get(f"{live_server}/login/code", timeout=30).text
    done = signed_in.post(
        f"{live_server}/login/code",
        data={"csrf_token": CSRF.search(page).group(1), "code": phone.code()},
        timeout=30,
    )
    assert done.url.endswith("/dashboard")
    url = f"{live_server}/payee-invitations/{sent.token}"
    token = CSRF.search(signed_in.get(url, timeout=30).text).group(1)
    browsers = []
    for _ in range(ATTEMPTS):
        browser = requests.Session()
        browser.cookies.update(signed_in.cookies)
        browsers.append(browser)

    def accept(i: int) -> int:
        return (
            browsers[i]
            .post(
                f"{url}/accept",
                data={"csrf_token": token, "payee": "new", "company_name": f"Racer {i}"},
                headers={"Referer": url},
                timeout=120,
                allow_redirects=False,
            )
            .status_code
        )

    with ThreadPoolExecutor(max_workers=ATTEMPTS) as pool:
        statuses = list(pool.map(accept, range(ATTEMPTS)))
    assert statuses.count(303) == 1, statuses
    assert all(s in (303, 200, 410) for s in statuses), statuses
    db.session.rollback()
    with tenancy.unscoped():
        racers = db.session.scalars(sa.select(Company.id).where(Company.name.like("Racer %"))).all()
        linked = db.session.get(PayeeRelationship, sent.invitation.relationship_id)
        invitation = db.session.get(PayeeInvitation, sent.invitation.id)
    assert len(racers) == 1, "the losers' new companies were rolled back"
    assert linked.payee_id == racers[0]
    assert invitation.state is InvitationState.ACCEPTED


def test_ten_concurrent_sign_ups_through_one_link_make_one_account(live_server) -> None:
    with tenancy.unscoped():
        (sent,) = services.invite_payees(
            make_paying_payor(), [Invitee("Racer", "racer@example.com")], actor_user_id=None
        )
    db.session.commit()
    url = f"{live_server}/payee-invitations/{sent.token}"
    browsers = [requests.Session() for _ in range(ATTEMPTS)]
    tokens = [CSRF.search(b.get(url, timeout=30).text).group(1) for b in browsers]

    def sign_up(i: int) -> int:
        form = {
            "csrf_token": tokens[i],
            "company_name": f"Racer {i}",
            "person_name": f"Racer {i}",
            "password": "a long enough passphrase",
            "confirm": "a long enough passphrase",
        }
        return (
            browsers[i]
            .post(
                f"{url}/accept",
                data=form,
                headers={"Referer": url},
                timeout=120,
                allow_redirects=False,
            )
            .status_code
        )

    with ThreadPoolExecutor(max_workers=ATTEMPTS) as pool:
        statuses = list(pool.map(sign_up, range(ATTEMPTS)))
    assert statuses.count(303) == 1, statuses
    assert all(s in (303, 200, 410) for s in statuses), statuses
    db.session.rollback()
    with tenancy.unscoped():
        users = db.session.scalars(sa.select(User.id).where(User.email == "racer@example.com"))
        racers = db.session.scalars(sa.select(Company.id).where(Company.name.like("Racer %")))
        assert len(users.all()) == 1 and len(racers.all()) == 1
