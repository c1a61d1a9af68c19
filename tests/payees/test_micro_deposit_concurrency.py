"""Concurrent guesses cannot get more than three answers between them."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import sqlalchemy as sa

from portal.banking.models import AccountType
from portal.companies.models import CompanyKind, Role
from portal.core import tenancy
from portal.core.db import db
from portal.payees import services
from portal.payees.models import BankAccountStatus, MicroDepositCheck, PayeeBankAccount
from tests.factories import PASSWORD, make_company, make_user
from tests.payees.helpers import deposits_of, dollars

pytestmark = [pytest.mark.real, pytest.mark.committed]
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
GUESSES = 8


def test_eight_concurrent_wrong_guesses_spend_exactly_three_tries(live_server) -> None:
    payee = make_company(CompanyKind.PAYEE, "Racing Guessers")
    user, phone = make_user(payee, (Role.PAYEE_ADMIN,))
    with tenancy.unscoped():
        account = services.add_bank_account(
            payee,
            services.BankAccountInput(
                "Racing Guessers", AccountType.CHECKING, "021000021", "4440001234", "4440001234"
            ),
            actor_user_id=user.id,
        )
        db.session.commit()
        first, second = deposits_of(account)
    signed_in = requests.Session()
    page = signed_in.get(f"{live_server}/login", timeout=30).text
    signed_in.post(
        f"{live_server}/login",
        data={"csrf_token": CSRF.search(page).group(1), "email": user.email, "password": PASSWORD},
        timeout=30,
    )
    page = signed_in.get(f"{live_server}/login/code", timeout=30).text
    signed_in.post(
        f"{live_server}/login/code",
        data={"csrf_token": CSRF.search(page).group(1), "code": phone.code()},
        timeout=30,
    )
    url = f"{live_server}/payee/bank-accounts/{account.id}"
    token = CSRF.search(signed_in.get(url, timeout=30).text).group(1)
    wrong = dollars(first % 99 + 1)

    def guess(_: int) -> int:
        browser = requests.Session()
        browser.cookies.update(signed_in.cookies)
        return browser.post(
            f"{url}/micro-deposits",
            data={"csrf_token": token, "first": wrong, "second": dollars(second)},
            headers={"Referer": url},
            timeout=120,
            allow_redirects=False,
        ).status_code

    with ThreadPoolExecutor(max_workers=GUESSES) as pool:
        statuses = list(pool.map(guess, range(GUESSES)))
    assert 500 not in statuses, statuses
    db.session.rollback()
    with tenancy.unscoped():
        check = db.session.scalar(
            sa.select(MicroDepositCheck).where(MicroDepositCheck.bank_account_id == account.id)
        )
        stored = db.session.get(PayeeBankAccount, account.id)
    assert check.attempts == 3
    assert stored.status is BankAccountStatus.VERIFICATION_FAILED
