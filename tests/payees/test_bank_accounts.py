"""Payee bank accounts: numbers checked and never edited, ownership checked with the bank,
verified by two micro-deposits the portal never shows, locked after three wrong tries."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.banking.models import SandboxBankEntry
from portal.core import tenancy
from portal.core.db import db, utcnow
from portal.core.models import AuditEvent
from portal.notifications.models import EmailMessage
from portal.payees.models import (
    BankAccountStatus,
    MicroDepositCheck,
    MicroDepositState,
    OwnershipResult,
    PayeeBankAccount,
)
from tests.payees.helpers import (
    ACCOUNT,
    add_account,
    confirm,
    deposits_of,
    dollars,
    last_account,
    payee_admin,
)

pytestmark = pytest.mark.usefixtures("database")


def accounts_count() -> int:
    with tenancy.unscoped():
        return db.session.scalar(sa.select(sa.func.count()).select_from(PayeeBankAccount))


def fresh(account: PayeeBankAccount) -> PayeeBankAccount:
    db.session.expire_all()
    with tenancy.unscoped():
        return db.session.get(PayeeBankAccount, account.id)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"routing_number": "021000022"}, "routing number is not valid"),
        ({"routing_number": "02100002"}, "routing number is not valid"),
        ({"account_number_confirm": "000123456788"}, "do not match"),
        ({"account_number": "12-34", "account_number_confirm": "12-34"}, "4 to 17 digits"),
        (
            {"account_number": "١٢٣٤٥٦٧٨", "account_number_confirm": "١٢٣٤٥٦٧٨"},
            "4 to 17 digits",
        ),
        ({"account_number": "123", "account_number_confirm": "123"}, "4 to 17 digits"),
        ({"holder_name": "  "}, "Enter the name on the account"),
        ({"account_type": "brokerage"}, "Not a valid choice"),
    ],
)
def test_bad_account_input_is_refused_and_adds_nothing(client, changes, message):
    payee_admin(client)
    response = add_account(client, **changes)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert accounts_count() == 0
    with tenancy.unscoped():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SandboxBankEntry)) == 0


def test_an_account_is_added_encrypted_checked_and_sent_two_deposits(client):
    payee, _, _ = payee_admin(client)
    response = add_account(client)
    assert response.status_code == 303, response.get_data(as_text=True)
    account = last_account(payee)
    assert account.status is BankAccountStatus.PENDING_VERIFICATION
    assert account.ownership_result is OwnershipResult.MATCH
    assert not account.receives_payments and account.account_last4 == "6789"
    with tenancy.unscoped():
        raw = db.session.execute(sa.text("SELECT account_number FROM payee_bank_account")).scalar()
    assert "000123456789" not in raw
    amounts = deposits_of(account)
    assert len(amounts) == 2 and all(1 <= c <= 99 for c in amounts) and amounts[0] != amounts[1]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Two small deposits are on their way" in page and "3 of 3 tries left" in page
    assert "sandbox bank's statement page" in page
    again = add_account(client)
    assert again.status_code == 400 and "already on file" in again.get_data(as_text=True)


@pytest.mark.parametrize(
    ("number", "holder", "result"),
    [
        ("000123459990", "Ironline Steel LLC", OwnershipResult.NO_MATCH),
        ("000123459991", "Ironline Steel LLC", OwnershipResult.CLOSE_MATCH),
    ],
)
def test_the_ownership_check_answers_as_the_bank_does(client, number, holder, result):
    payee, _, _ = payee_admin(client)
    add_account(client, account_number=number, account_number_confirm=number, holder_name=holder)
    account = last_account(payee)
    assert account.ownership_result is result
    page = client.get(f"/payee/bank-accounts/{account.id}").get_data(as_text=True)
    assert result.label in page


def test_an_account_the_bank_knows_under_another_name_is_no_match(client, app):
    payee_admin(client, "Ironline Steel")
    add_account(client)
    other = app.test_client()
    second, _, _ = payee_admin(other, "Impostor Builders")
    add_account(other, holder_name="Impostor Builders Inc")
    assert last_account(second).ownership_result is OwnershipResult.NO_MATCH
    third_client = app.test_client()
    third, _, _ = payee_admin(third_client, "Ironline Steel (again)")
    add_account(third_client, holder_name="IRONLINE STEEL, L.L.C.")
    assert last_account(third).ownership_result is OwnershipResult.CLOSE_MATCH


def test_the_right_amounts_verify_the_account_and_it_receives_payments(client):
    payee, _, _ = payee_admin(client)
    add_account(client)
    account = last_account(payee)
    first, second = deposits_of(account)
    # In either order, written as a payee would.
    response = confirm(client, account.id, f"${dollars(second)}", dollars(first).lstrip("0"))
    assert response.status_code == 303, response.get_data(as_text=True)
    account = fresh(account)
    assert account.status is BankAccountStatus.VERIFIED and account.receives_payments
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "verified. Payments go to it." in page
    again = confirm(client, account.id, dollars(first), dollars(second))
    assert "already verified" in again.get_data(as_text=True)


def test_three_wrong_tries_lock_verification_for_good(client):
    payee, _, _ = payee_admin(client)
    add_account(client)
    account = last_account(payee)
    first, second = deposits_of(account)
    wrong = dollars(first % 99 + 1)
    pages = [confirm(client, account.id, wrong, dollars(second)) for _ in range(3)]
    assert [p.status_code for p in pages] == [400, 400, 400]
    assert "2 tries left" in pages[0].get_data(as_text=True)
    assert "1 try left" in pages[1].get_data(as_text=True)
    assert "verification is locked" in pages[2].get_data(as_text=True)
    right = confirm(client, account.id, dollars(first), dollars(second))
    assert "locked after three wrong tries" in right.get_data(as_text=True)
    account = fresh(account)
    assert account.status is BankAccountStatus.VERIFICATION_FAILED
    with tenancy.unscoped():
        check = db.session.scalar(
            sa.select(MicroDepositCheck).where(MicroDepositCheck.bank_account_id == account.id)
        )
    assert check.state is MicroDepositState.LOCKED and check.attempts == 3


def test_a_malformed_amount_spends_no_try(client):
    payee, _, _ = payee_admin(client)
    add_account(client)
    account = last_account(payee)
    for text in ("1.00", "0.001", "abc", "-0.05", "0"):
        response = confirm(client, account.id, text, "0.10")
        assert response.status_code == 400
    page = client.get(f"/payee/bank-accounts/{account.id}").get_data(as_text=True)
    assert "3 of 3 tries left" in page


def test_expired_micro_deposits_cannot_be_confirmed(client):
    payee, _, _ = payee_admin(client)
    add_account(client)
    account = last_account(payee)
    with tenancy.unscoped():
        db.session.execute(
            sa.update(MicroDepositCheck).values(expires_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()
    first, second = deposits_of(account)
    response = confirm(client, account.id, dollars(first), dollars(second))
    assert "expired after 10 days" in response.get_data(as_text=True)
    assert fresh(account).status is BankAccountStatus.PENDING_VERIFICATION


def test_the_receiving_account_changes_only_to_a_verified_one_and_is_never_deactivated(client):
    payee, _, _ = payee_admin(client)
    add_account(client)
    old = last_account(payee)
    confirm(client, old.id, *map(dollars, deposits_of(old)))
    add_account(client, account_number="000987654321", account_number_confirm="000987654321")
    new = last_account(payee)
    refused = client.submit(
        f"/payee/bank-accounts/{new.id}/receive", {}, token_from="/payee/bank-accounts"
    )
    assert refused.status_code == 303
    assert "Only a verified account" in client.get(refused.headers["Location"]).get_data(
        as_text=True
    )
    kept = client.submit(
        f"/payee/bank-accounts/{old.id}/deactivate", {}, token_from="/payee/bank-accounts"
    )
    assert "choose it to receive payments first" in client.get(kept.headers["Location"]).get_data(
        as_text=True
    )
    confirm(client, new.id, *map(dollars, deposits_of(new)))
    assert not fresh(new).receives_payments, "a second account is chosen, never automatic"
    client.submit(f"/payee/bank-accounts/{new.id}/receive", {}, token_from="/payee/bank-accounts")
    assert fresh(new).receives_payments and not fresh(old).receives_payments
    done = client.submit(
        f"/payee/bank-accounts/{old.id}/deactivate", {}, token_from="/payee/bank-accounts"
    )
    assert done.status_code == 303, done.get_data(as_text=True)[-3000:]
    assert "deactivated" in client.get(done.headers["Location"]).get_data(as_text=True)
    assert fresh(old).status is BankAccountStatus.DEACTIVATED
    page = client.get("/payee/bank-accounts").get_data(as_text=True)
    assert "(receives payments)" in page and page.index("4321") < page.index("6789")


def test_another_payees_account_is_not_found(client, app):
    payee_admin(client)
    add_account(client)
    other = app.test_client()
    second, _, _ = payee_admin(other, "Other Co")
    add_account(other, account_number="000555555555", account_number_confirm="000555555555")
    foreign = last_account(second)
    for path in ("", "/micro-deposits", "/receive", "/deactivate"):
        if path:
            response = client.submit(
                f"/payee/bank-accounts/{foreign.id}{path}", {}, token_from="/payee/bank-accounts"
            )
        else:
            response = client.get(f"/payee/bank-accounts/{foreign.id}")
        assert response.status_code == 404, path
    assert fresh(foreign).status is BankAccountStatus.PENDING_VERIFICATION


def test_the_amounts_appear_nowhere_in_the_portal(client, caplog):
    """The whole flow, scanned: every response body, log line, audit row and email."""
    caplog.set_level(logging.DEBUG)
    payee, _, _ = payee_admin(client)
    bodies = []

    def keep(response):
        bodies.append(response.get_data(as_text=True))
        return response

    keep(client.get("/payee/bank-accounts"))
    response = keep(add_account(client))
    account = last_account(payee)
    keep(client.get(response.headers["Location"]))
    first, second = deposits_of(account)
    wrong = dollars(first % 99 + 1)
    keep(confirm(client, account.id, wrong, dollars(second)))
    keep(client.get(f"/payee/bank-accounts/{account.id}"))
    keep(client.get(f"/payee/bank-accounts/{account.id}", headers={"HX-Request": "true"}))
    done = keep(confirm(client, account.id, dollars(first), dollars(second)))
    keep(client.get(done.headers["Location"]))
    keep(client.get("/payee/bank-accounts"))
    keep(client.get("/payee/bank-accounts", headers={"HX-Request": "true"}))
    keep(client.get("/dashboard"))
    keep(client.get("/company/history"))
    # Where the payee reads them: the sandbox bank's statement, outside the portal.
    statement = client.submit(
        "/sandbox-bank/statement",
        {"routing_number": ACCOUNT["routing_number"], "account_number": ACCOUNT["account_number"]},
        token_from="/sandbox-bank/statement",
    ).get_data(as_text=True)
    assert dollars(first) in statement and dollars(second) in statement
    assert "TRESTLE ACCTVERIFY" in statement
    with tenancy.unscoped():
        audit = [
            f"{e.action} {e.before} {e.after}" for e in db.session.scalars(sa.select(AuditEvent))
        ]
        emails = [
            f"{m.subject} {m.text_body} {m.html_body}"
            for m in db.session.scalars(sa.select(EmailMessage))
        ]
    assert any("verification_attempt_failed" in a for a in audit)
    assert any("bank_account:verified" in a for a in audit)
    logs = [r.getMessage() for r in caplog.records]
    # Each amount as money (0.07, $0.07, .07; not inside a version such as 2.0.07, nor a
    # random token such as a CSRF token's "…Ai.07Qx…") anywhere, and as a bare number of
    # cents in a structured audit row ('7', 7,).
    for cents in (first, second):
        money = rf"(?<![\w.])\$?0?\.{cents:02d}(?!\w|\.\d)"
        bare = [rf"amount\w*\W+{cents}\b", rf"[\[ ]'?{cents}'?[,\]]"]
        for where, texts in (("page", bodies), ("audit", audit), ("email", emails), ("log", logs)):
            for text in texts:
                for shape in [money, *(bare if where == "audit" else [])]:
                    found = re.search(shape, text)
                    around = found and text[max(0, found.start() - 120) : found.end() + 40]
                    assert found is None, f"{found} in a {where}: …{around}…"
    cents_shown = re.findall(r"(?<![\w.])0\.\d\d(?!\w|\.\d)", " ".join(bodies))
    assert set(cents_shown) <= {"0.00"}, f"no cent amount on any page: {cents_shown}"
