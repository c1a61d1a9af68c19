"""Trestle operators review payee bank accounts: documents sent instead of micro-deposits,
no-match and shared accounts, and accounts frozen from a notice email. Each decision is a
compare-and-set, needs step-up, is audited, and refreshes every payor's onboarding status."""

from __future__ import annotations

import io
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import sqlalchemy as sa

from portal.banking.models import AccountType
from portal.companies.models import Company, CompanyKind, Role
from portal.core import tenancy
from portal.core.db import commit_keeping_loaded, db
from portal.core.errors import DomainError, IllegalTransition
from portal.core.models import AuditEvent
from portal.notifications.models import EmailMessage
from portal.onboarding import services as onboarding
from portal.onboarding.models import OnboardingStatus
from portal.onboarding.policies import may_pay_payee
from portal.payees import services
from portal.payees.models import (
    BankAccountDocument,
    BankAccountStatus,
    DocumentKind,
    DocumentState,
    OwnershipResult,
    PayeeBankAccount,
    VerificationMethod,
)
from tests.factories import (
    PASSWORD,
    make_company,
    make_paying_payor,
    make_user,
    sign_in_fresh,
    sign_in_fresh_operator,
)
from tests.onboarding.test_statuses import agree, join, relationships, verify
from tests.payees.document_helpers import PDF, documents, fresh, png, upload
from tests.payees.helpers import (
    add_account,
    certify,
    confirm,
    deposits_of,
    dollars,
    last_account,
    payee_admin,
    save_profile,
)

pytestmark = pytest.mark.usefixtures("database")

NO_MATCH = "000123459990"  # the sandbox bank's ownership check answers "no match"
# Each decision's note field, as the review page names it.
NOTES = {f"{action}-note": "A note." for action in ("clear", "unfreeze", "deactivate")}


@pytest.fixture
def operator(app):
    """A Trestle operator, signed in on their own browser and just verified."""
    browser = app.test_client()
    user, _ = sign_in_fresh_operator(browser)
    browser.user = user
    return browser


def decide(operator, account_id: int, action: str, data: dict | None = None):
    return operator.submit(
        f"/operator/bank-reviews/{account_id}/{action}",
        data or {},
        token_from=f"/operator/bank-reviews/{account_id}",
    )


def said(operator, response) -> str:
    assert response.status_code == 303, response.get_data(as_text=True)[-2000:]
    return operator.get(response.headers["Location"]).get_data(as_text=True)


def with_document(client, name: str = "Ironline Steel", **account):
    """A payee whose admin added an account and sent a bank letter for it."""
    payee, user, _ = payee_admin(client, name)
    add_account(client, **account)
    bank_account = last_account(payee)
    assert upload(client, bank_account.id, PDF, "letter.pdf").status_code == 303
    (document,) = documents(bank_account)
    return payee, user, bank_account, document


def joined(client, payor=None):
    """A payee of a payor with a certified profile and the Pay agreement accepted: it
    needs only a receiving account before the payor reviews it."""
    payee, user, _ = payee_admin(client)
    payor = payor or make_paying_payor()
    join(payor, payee, user)
    save_profile(client)
    certify(client)
    agree(client, relationships(payee)[payor.id])
    return payor, payee, user


def emails(template: str, to: str | None = None) -> list[EmailMessage]:
    with tenancy.unscoped():
        stmt = sa.select(EmailMessage).where(EmailMessage.template == template)
        if to is not None:
            stmt = stmt.where(EmailMessage.to_address == to)
        return list(db.session.scalars(stmt.order_by(EmailMessage.id)))


def audited(action: str) -> list[AuditEvent]:
    with tenancy.unscoped():
        return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)))


def report(app, account) -> None:
    """An admin of the payee clicks "this was not me" in the account's notice email."""
    (notice, *_) = [
        m
        for m in emails("payee_bank_account_added")
        if f"ending {account.account_last4}" in m.subject
    ]
    link = re.search(r"http\S+/payee/bank-account-reports/\S+", notice.text_body).group(0)
    path = "/" + link.split("://", 1)[1].split("/", 1)[1]
    stranger = app.test_client()
    assert stranger.submit(path, {}, token_from=path).status_code == 200
    assert fresh(account).frozen_at is not None


# --------------------------------------------------------------------------- the queue


def test_the_queue_lists_what_waits_with_its_filters_in_the_url(client, app, operator):
    _, _, documented, _ = with_document(client, "Ironline Steel")
    mismatched_admin = app.test_client()
    payee_admin(mismatched_admin, "Namebent Concrete")
    add_account(
        mismatched_admin,
        holder_name="Namebent Concrete Inc",
        account_number=NO_MATCH,
        account_number_confirm=NO_MATCH,
    )
    frozen_admin = app.test_client()
    frozen_payee, _, _ = payee_admin(frozen_admin, "Coldsnap Glazing")
    add_account(
        frozen_admin,
        holder_name="Coldsnap Glazing LLC",
        account_number="000111222333",
        account_number_confirm="000111222333",
    )
    report(app, last_account(frozen_payee))
    quiet_admin = app.test_client()
    payee_admin(quiet_admin, "Quietly Fine Electric")
    add_account(
        quiet_admin,
        holder_name="Quietly Fine Electric",
        account_number="000444555666",
        account_number_confirm="000444555666",
    )

    page = operator.get("/operator/bank-reviews")
    assert page.status_code == 200 and "HX-Request" in page.headers["Vary"]
    body = page.get_data(as_text=True)
    for name in ("Ironline Steel", "Namebent Concrete", "Coldsnap Glazing"):
        assert name in body
    assert "Quietly Fine Electric" not in body
    assert "Document to review" in body and "Name does not match" in body
    assert "Frozen: reported by the payee" in body and "<html" in body
    # The longest waiting first: the document came before the freeze.
    assert body.index("Ironline Steel") < body.index("Coldsnap Glazing")

    frozen_only = operator.get("/operator/bank-reviews?reason=frozen").get_data(as_text=True)
    assert "Coldsnap Glazing" in frozen_only and "Ironline Steel" not in frozen_only
    assert 'value="frozen" selected' in frozen_only
    flagged = operator.get("/operator/bank-reviews?reason=flagged").get_data(as_text=True)
    assert "Namebent Concrete" in flagged and "Ironline Steel" not in flagged
    searched = operator.get("/operator/bank-reviews?q=ironline").get_data(as_text=True)
    assert "Ironline Steel" in searched and "Namebent Concrete" not in searched

    fragment = operator.get(
        "/operator/bank-reviews?reason=document", headers={"HX-Request": "true"}
    )
    text = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "<html" not in text
    assert text.lstrip().startswith('<div id="review-results"') and "Ironline Steel" in text
    assert f"/operator/bank-reviews/{documented.id}" in text
    boosted = operator.get(
        "/operator/bank-reviews", headers={"HX-Request": "true", "HX-Boosted": "true"}
    )
    assert "<html" in boosted.get_data(as_text=True), "a boosted navigation gets the page"
    # The operator's home lists the same work, each a link to its review.
    home = operator.get("/dashboard").get_data(as_text=True)
    assert "Bank accounts to review" in home
    assert f'href="/operator/bank-reviews/{documented.id}">Ironline Steel' in home
    assert "Quietly Fine Electric" not in home


def test_the_record_shows_the_account_and_the_other_payee_with_the_same_one(client, app, operator):
    _, _, account, document = with_document(client, "Ironline Steel")
    other_admin = app.test_client()
    other, _, _ = payee_admin(other_admin, "Lookalike Steel Co")
    add_account(other_admin, holder_name="Lookalike Steel Co")
    assert fresh(account).shared_with_other_payee
    page = operator.get(f"/operator/bank-reviews/{account.id}").get_data(as_text=True)
    for text in (
        "Ironline Steel",
        "Ironline Steel LLC",  # the name on the account
        "••••6789",
        "021000021",
        "Name matches",
        "Shared with another payee",
        "Lookalike Steel Co",  # another tenant's name: operators see across payees
        "Document to review",
        "letter.pdf",
    ):
        assert text in page, text
    assert f"/operator/bank-reviews/{last_account(other).id}" in page
    download = operator.get(f"/operator/bank-reviews/{account.id}/documents/{document.id}")
    assert download.status_code == 200 and download.data == PDF
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.headers["Cache-Control"] == "no-store"
    download.close()
    assert len(audited("payees:bank_document:downloaded")) == 1
    elsewhere = operator.get(
        f"/operator/bank-reviews/{last_account(other).id}/documents/{document.id}"
    )
    assert elsewhere.status_code == 404, "a document is reached through its own account"


# --------------------------------------------------------------------------- documents


def test_approving_a_document_verifies_the_account_and_the_payor_reviews_it(client, app, operator):
    payor, payee, _ = joined(client)
    approver_user, _ = make_user(payor, (Role.BENEFICIARY_APPROVER,))
    add_account(client)
    account = last_account(payee)
    upload(client, account.id, PDF, "letter.pdf")
    (document,) = documents(account)
    assert relationships(payee)[payor.id].status is OnboardingStatus.NO_BANK_INFORMATION

    page = said(operator, decide(operator, account.id, f"documents/{document.id}/approve"))
    assert "is verified by its bank letter. Payments go to it." in page
    account = fresh(account)
    assert account.status is BankAccountStatus.VERIFIED and account.verified_at is not None
    assert account.verification_method is VerificationMethod.DOCUMENT
    assert account.receives_payments, "a first verified account receives payments"
    (document,) = documents(account)
    assert document.state is DocumentState.APPROVED
    assert document.reviewed_by_user_id == operator.user.id and document.reviewed_at
    assert relationships(payee)[payor.id].status is OnboardingStatus.NEEDS_REVIEW
    assert emails("payee_bank_account_changed", approver_user.email), "the payor is told"
    (event,) = audited("payees:bank_document:approved")
    assert event.company_id == payee.id and event.actor_user_id == operator.user.id
    history = client.get("/company/history").get_data(as_text=True)
    assert "A Trestle operator accepted the bank letter" in history
    payee_page = client.get(f"/payee/bank-accounts/{account.id}").get_data(as_text=True)
    assert "Verified by a document" in payee_page and "(document)" in payee_page
    assert "Verify account" not in payee_page, "the micro-deposit form is gone"
    queue = operator.get("/operator/bank-reviews").get_data(as_text=True)
    assert "Nothing waits for review." in queue

    again = said(operator, decide(operator, account.id, f"documents/{document.id}/approve"))
    assert "already approved" in again
    assert len(audited("payees:bank_document:approved")) == 1


def test_a_document_for_a_second_account_does_not_redirect_payments(client, operator):
    payee, _, _ = payee_admin(client)
    add_account(client)
    verify(client, payee)
    first = last_account(payee)
    add_account(client, account_number="000987654321", account_number_confirm="000987654321")
    second = last_account(payee)
    upload(client, second.id, png(), "check.png", "voided_check")
    (document,) = documents(second)
    page = said(operator, decide(operator, second.id, f"documents/{document.id}/approve"))
    assert "verified by its voided check." in page and "Payments go to it" not in page
    assert fresh(second).status is BankAccountStatus.VERIFIED
    assert not fresh(second).receives_payments and fresh(first).receives_payments


def test_rejecting_needs_a_reason_and_tells_the_payee_admins(client, app, operator):
    payee, admin, account, document = with_document(client)
    colleague, _ = make_user(payee, (Role.PAYEE_ADMIN,))
    refused = decide(operator, account.id, f"documents/{document.id}/reject", {"reason": "  "})
    assert refused.status_code == 400
    assert "Say why the document does not prove the account." in refused.get_data(as_text=True)
    assert documents(account)[0].state is DocumentState.SUBMITTED
    assert emails("payee_bank_document_rejected") == []

    reason = "The account number is cut off at the edge of the scan."
    page = said(
        operator,
        decide(operator, account.id, f"documents/{document.id}/reject", {"reason": reason}),
    )
    assert "Document rejected." in page
    (document,) = documents(account)
    assert document.state is DocumentState.REJECTED and document.rejection_reason == reason
    account = fresh(account)
    assert account.status is BankAccountStatus.PENDING_VERIFICATION
    assert account.verified_at is None and not account.receives_payments
    sent = {m.to_address: m for m in emails("payee_bank_document_rejected")}
    assert set(sent) == {admin.email, colleague.email}
    assert reason in sent[admin.email].text_body
    assert f"/payee/bank-accounts/{account.id}" in sent[admin.email].text_body
    assert "ending 6789 was not accepted" in sent[admin.email].subject
    payee_page = client.get(f"/payee/bank-accounts/{account.id}").get_data(as_text=True)
    assert reason in payee_page and "Send the document" in payee_page


# --------------------------------------------------------------------------- flags


def test_clearing_a_no_match_lets_the_beneficiary_approver_approve(client, operator):
    payor, payee, _ = joined(client)
    approver, _ = make_user(payor, (Role.BENEFICIARY_APPROVER,))
    add_account(client, account_number=NO_MATCH, account_number_confirm=NO_MATCH)
    verify(client, payee)
    account = last_account(payee)
    assert account.ownership_result is OwnershipResult.NO_MATCH and account.needs_operator_review
    with tenancy.unscoped(), pytest.raises(DomainError, match="must review this bank account"):
        onboarding.approve(relationships(payee)[payor.id], actor_user_id=approver.id)

    no_note = decide(operator, account.id, "clear", {"clear-note": ""})
    assert no_note.status_code == 400 and "Write a note for the record." in no_note.get_data(
        as_text=True
    )
    assert fresh(account).operator_cleared_at is None
    note = "Called Ines at Ironline on the number we have: the bank shortens their name."
    page = said(operator, decide(operator, account.id, "clear", {"clear-note": note}))
    assert "cleared: payors may approve it" in page and note in page
    account = fresh(account)
    assert account.operator_cleared_by_user_id == operator.user.id
    assert account.operator_cleared_note == note and not account.needs_operator_review
    assert audited("payees:bank_account:review_cleared")[0].after["note"] == note

    with tenancy.unscoped():
        onboarding.approve(relationships(payee)[payor.id], actor_user_id=approver.id)
        db.session.commit()
    assert relationships(payee)[payor.id].status is OnboardingStatus.APPROVED
    again = said(operator, decide(operator, account.id, "clear", {"clear-note": note}))
    assert "nothing for an operator to clear" in again


def test_a_shared_account_is_cleared_on_each_payee_separately(client, app, operator):
    payee, _, _ = payee_admin(client)
    add_account(client)
    other_admin = app.test_client()
    other, _, _ = payee_admin(other_admin, "Twin Steel")
    add_account(other_admin, holder_name="Ironline Steel LLC")
    mine, theirs = last_account(payee), last_account(other)
    assert mine.needs_operator_review and theirs.needs_operator_review
    said(
        operator, decide(operator, mine.id, "clear", {"clear-note": "Twin Steel is a subsidiary."})
    )
    assert not fresh(mine).needs_operator_review and fresh(theirs).needs_operator_review


# --------------------------------------------------------------------------- freezes


def test_a_freeze_emails_every_operator_with_the_review_page(client, app, operator):
    payee, admin, _ = payee_admin(client)
    add_account(client)
    account = last_account(payee)
    second_operator, _ = make_user(make_company(CompanyKind.OPERATOR), (Role.OPERATOR,))
    report(app, account)
    sent = {m.to_address: m for m in emails("operator_bank_account_frozen")}
    assert set(sent) == {operator.user.email, second_operator.email}
    message = sent[second_operator.email]
    assert payee.name in message.subject and "ending 6789" in message.subject
    assert f"/operator/bank-reviews/{account.id}" in message.text_body
    assert emails("operator_bank_account_frozen", to=admin.email) == [], "operators only"


def test_an_account_the_payee_confirms_is_unfrozen(client, app, operator):
    payor, payee, _ = joined(client)
    add_account(client)
    verify(client, payee)
    account = last_account(payee)
    report(app, account)
    assert any("frozen" in r for r in may_pay_payee(payor.id, payee.id).reasons)
    no_note = decide(operator, account.id, "unfreeze", {"unfreeze-note": " "})
    assert no_note.status_code == 400 and fresh(account).frozen_at is not None
    page = said(
        operator,
        decide(
            operator,
            account.id,
            "unfreeze",
            {"unfreeze-note": "Ines confirmed: her colleague added it."},
        ),
    )
    assert "is no longer frozen" in page
    assert fresh(account).frozen_at is None
    assert not any("frozen" in r for r in may_pay_payee(payor.id, payee.id).reasons)
    assert audited("payees:bank_account:unfrozen")
    again = said(operator, decide(operator, account.id, "unfreeze", {"unfreeze-note": "again"}))
    assert "This account is not frozen." in again


def test_an_account_that_was_not_the_payees_stays_frozen_and_is_deactivated(client, app, operator):
    payor, payee, admin = joined(client)
    add_account(client)
    verify(client, payee)
    account = last_account(payee)
    assert account.receives_payments
    report(app, account)
    note = "Nobody at Ironline added it: the admin's password was phished."
    page = said(operator, decide(operator, account.id, "deactivate", {"deactivate-note": note}))
    assert "is deactivated" in page
    account = fresh(account)
    assert account.status is BankAccountStatus.DEACTIVATED and account.frozen_at is not None
    assert not account.receives_payments and account.deactivated_at is not None
    assert relationships(payee)[payor.id].status is OnboardingStatus.NO_BANK_INFORMATION
    (told,) = emails("payee_bank_account_deactivated", to=admin.email)
    assert "general contractors cannot pay you" in told.text_body
    assert "Nothing waits for review." in operator.get("/operator/bank-reviews").get_data(
        as_text=True
    )
    refused = said(operator, decide(operator, account.id, "unfreeze", {"unfreeze-note": "oops"}))
    assert "stays frozen for the record" in refused
    assert fresh(account).frozen_at is not None


def test_a_frozen_accounts_document_waits_for_the_freeze_to_be_decided(client, app, operator):
    _, _, account, document = with_document(client)
    report(app, account)
    page = operator.get(f"/operator/bank-reviews/{account.id}").get_data(as_text=True)
    assert "decide on the freeze before the document" in page
    refused = said(operator, decide(operator, account.id, f"documents/{document.id}/approve"))
    assert "The account is frozen" in refused
    assert documents(account)[0].state is DocumentState.SUBMITTED
    said(operator, decide(operator, account.id, "deactivate", {"deactivate-note": "Not theirs."}))
    assert documents(account)[0].state is DocumentState.WITHDRAWN


# --------------------------------------------------------------------------- safety


# Another operator's decision on the document, made while a second one looked at it.
DECIDED = {
    "approved": {"state": DocumentState.APPROVED},
    "rejected": {"state": DocumentState.REJECTED, "rejection_reason": "Blurry."},
}


@pytest.mark.parametrize(
    ("meanwhile", "decision"),
    [
        ("approved", lambda a, d, by: services.reject_document(a, d, "Cut off.", actor_user_id=by)),
        ("rejected", lambda a, d, by: services.approve_document(a, d, actor_user_id=by)),
        ("approved", lambda a, d, by: services.approve_document(a, d, actor_user_id=by)),
    ],
    ids=["reject-after-approve", "approve-after-reject", "approve-after-approve"],
)
def test_two_decisions_on_one_document_cannot_both_win(client, operator, meanwhile, decision):
    """The decision is a compare-and-set on the document's state: one made from a page
    loaded before another operator's decided loses and changes nothing."""
    _, _, account, document = with_document(client)
    with tenancy.unscoped():
        stale_account, stale_document = fresh(account), documents(account)[0]
        commit_keeping_loaded()  # the rollback below undoes only what follows
        db.session.execute(
            sa.update(BankAccountDocument)
            .where(BankAccountDocument.id == document.id)
            .values(reviewed_at=sa.func.current_timestamp(), **DECIDED[meanwhile])
            .execution_options(synchronize_session=False)
        )
        with pytest.raises(IllegalTransition, match="decided on this document meanwhile"):
            decision(stale_account, stale_document, operator.user.id)
        db.session.rollback()
    assert fresh(account).status is BankAccountStatus.PENDING_VERIFICATION
    assert documents(account)[0].state is DocumentState.SUBMITTED  # the rollback undid both
    assert emails("payee_bank_document_rejected") == []


# What another operator did meanwhile, and the decision made from a page loaded before it.
MEANWHILE = {
    "cleared": {"operator_cleared_at": sa.func.current_timestamp()},
    "unfrozen": {"frozen_at": None},
    "deactivated": {"status": "deactivated", "deactivated_at": sa.func.current_timestamp()},
}


def test_a_document_approved_from_a_page_loaded_before_a_freeze_loses(client, operator):
    """The payee reports the account while the operator reads its document: the approval
    that follows must not verify a frozen account (the freeze is part of the compare)."""
    _payee, _, account, document = with_document(client)
    with tenancy.unscoped():
        stale, stale_document = fresh(account), db.session.get(BankAccountDocument, document.id)
        commit_keeping_loaded()  # the rollback below undoes only what follows
        db.session.execute(
            sa.update(PayeeBankAccount)
            .where(PayeeBankAccount.id == account.id)
            .values(frozen_at=sa.func.current_timestamp())
            .execution_options(synchronize_session=False)
        )
        with pytest.raises(IllegalTransition, match="changed meanwhile"):
            services.approve_document(stale, stale_document, actor_user_id=operator.user.id)
        db.session.rollback()
    assert fresh(account).status is BankAccountStatus.PENDING_VERIFICATION


@pytest.mark.parametrize(
    ("number", "meanwhile", "decision"),
    [
        (NO_MATCH, "cleared", services.clear_review_flag),
        ("000123456789", "unfrozen", services.unfreeze),
        ("000123456789", "unfrozen", services.deactivate_frozen),
        ("000123456789", "deactivated", services.unfreeze),
        ("000123456789", "deactivated", services.deactivate_frozen),
    ],
    ids=[
        "clear-after-clear",
        "unfreeze-after-unfreeze",
        "deactivate-after-unfreeze",
        "unfreeze-after-deactivate",
        "deactivate-after-deactivate",
    ],
)
def test_an_account_decision_from_a_stale_page_loses(
    client, app, operator, number, meanwhile, decision
):
    """Each account decision is a compare-and-set on what it decides (the flag, the freeze,
    the status): two operators cannot both decide, whichever buttons they press."""
    payee, _, _ = payee_admin(client)
    add_account(client, account_number=number, account_number_confirm=number)
    account = last_account(payee)
    report(app, account)
    with tenancy.unscoped():
        stale = fresh(account)  # the page the second operator loaded
        assert stale.frozen_at is not None
        commit_keeping_loaded()  # the rollback below undoes only what follows
        db.session.execute(
            sa.update(PayeeBankAccount)
            .where(PayeeBankAccount.id == account.id)
            .values(**MEANWHILE[meanwhile])
            .execution_options(synchronize_session=False)
        )
        with pytest.raises(IllegalTransition, match="changed meanwhile"):
            decision(stale, "A note.", actor_user_id=operator.user.id)
        db.session.rollback()
    account = fresh(account)
    assert account.status is BankAccountStatus.PENDING_VERIFICATION
    assert account.frozen_at is not None and account.operator_cleared_at is None


def test_every_review_route_is_for_operators_only(client, app):
    _, _, account, document = with_document(client)
    payor = make_paying_payor()
    outsiders = []
    for company, roles in (
        (None, ()),  # signed out
        (account.company_id, (Role.PAYEE_ADMIN,)),  # the account's own payee
        (payor.id, (Role.PAYMENTS_ADMIN,)),
        (payor.id, (Role.BENEFICIARY_APPROVER,)),
    ):
        browser = app.test_client()
        if company is not None:
            with tenancy.unscoped():
                sign_in_fresh(browser, db.session.get(Company, company), roles)
        outsiders.append((roles, browser))
    rules = [r for r in app.url_map.iter_rules() if r.rule.startswith("/operator/bank-reviews")]
    assert len(rules) == 8, sorted(r.endpoint for r in rules)
    values = {"account_id": account.id, "document_id": document.id}
    for roles, browser in outsiders:
        token = browser.csrf_token("/login" if not roles else "/dashboard")
        for rule in rules:
            path = app.url_map.bind("localhost").build(
                rule.endpoint, {a: values[a] for a in rule.arguments}
            )
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                response = browser.open(
                    path,
                    method=method,
                    headers={"X-CSRFToken": token},
                    data={"csrf_token": token, "reason": "x", **NOTES},
                )
                if roles:
                    assert response.status_code in (403, 404), (roles, method, path)
                else:
                    assert response.status_code in (302, 303), (method, path)
                    assert "/login" in response.headers["Location"]
    account = fresh(account)
    assert account.status is BankAccountStatus.PENDING_VERIFICATION and not account.frozen_at
    assert documents(account)[0].state is DocumentState.SUBMITTED
    assert audited("payees:bank_document:downloaded") == []


def test_review_decisions_need_step_up(client, operator):
    _, _, account, document = with_document(client)
    with operator.session_transaction() as session:
        session["mfa_at"] = 0
    page = operator.get(f"/operator/bank-reviews/{account.id}").get_data(as_text=True)
    assert page.count('name="step_up_code"') >= 2, "each decision form carries its code field"
    for action, data in (
        (f"documents/{document.id}/approve", {}),
        (f"documents/{document.id}/reject", {"reason": "Blurry."}),
    ):
        response = decide(operator, account.id, action, data)
        assert response.status_code == 303 and "/verify" in response.headers["Location"]
    assert documents(account)[0].state is DocumentState.SUBMITTED
    assert fresh(account).status is BankAccountStatus.PENDING_VERIFICATION


# --------------------------------------------------------------------------- real tier

CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
RACERS = 6


def _signed_in(live_server: str, user, phone) -> requests.Session:
    browser = requests.Session()
    page = browser.get(f"{live_server}/login", timeout=30).text
    browser.post(
        f"{live_server}/login",
        data={"csrf_token": CSRF.search(page).group(1), "email": user.email, "password": PASSWORD},
        timeout=30,
    )
    page = browser.get(f"{live_server}/login/code", timeout=30).text
    browser.post(
        f"{live_server}/login/code",
        data={"csrf_token": CSRF.search(page).group(1), "code": phone.code()},
        timeout=30,
    )
    return browser


@pytest.mark.real
@pytest.mark.committed
def test_two_operators_approving_at_once_one_wins(live_server) -> None:
    """Six approvals of one document from two operators' browsers, released together: one
    verifies the account, the others are told someone decided meanwhile."""
    payee = make_company(CompanyKind.PAYEE, "Racing Letters")
    admin, _ = make_user(payee, (Role.PAYEE_ADMIN,))
    with tenancy.unscoped():
        account = services.add_bank_account(
            payee,
            services.BankAccountInput(
                "Racing Letters", AccountType.CHECKING, "021000021", "4440005678", "4440005678"
            ),
            actor_user_id=admin.id,
        )
        document = services.submit_document(
            account, DocumentKind.BANK_LETTER, io.BytesIO(PDF), "letter.pdf", actor_user_id=admin.id
        )
        db.session.commit()
        account_id, document_id = account.id, document.id
    console = make_company(CompanyKind.OPERATOR)
    operators = [make_user(console, (Role.OPERATOR,)) for _ in range(2)]
    url = f"{live_server}/operator/bank-reviews/{account_id}"
    signed_in = [_signed_in(live_server, user, phone) for user, phone in operators]
    tokens = [CSRF.search(s.get(url, timeout=30).text).group(1) for s in signed_in]
    start = threading.Barrier(RACERS)

    def approve(n: int) -> int:
        browser = requests.Session()
        browser.cookies.update(signed_in[n % 2].cookies)
        start.wait(timeout=30)
        return browser.post(
            f"{url}/documents/{document_id}/approve",
            data={"csrf_token": tokens[n % 2]},
            headers={"Referer": url},
            timeout=120,
            allow_redirects=False,
        ).status_code

    with ThreadPoolExecutor(max_workers=RACERS) as pool:
        statuses = list(pool.map(approve, range(RACERS)))
    assert statuses == [303] * RACERS, statuses
    db.session.rollback()
    with tenancy.unscoped():
        stored = db.session.get(PayeeBankAccount, account_id)
        decided = db.session.get(BankAccountDocument, document_id)
        approvals = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "payees:bank_document:approved")
        ).all()
    assert stored.status is BankAccountStatus.VERIFIED and stored.receives_payments
    assert decided.state is DocumentState.APPROVED
    assert len(approvals) == 1
    assert decided.reviewed_by_user_id in {user.id for user, _ in operators}
    assert approvals[0].actor_user_id == decided.reviewed_by_user_id


def test_a_frozen_account_cannot_be_chosen_to_receive_payments(client, app):
    payee, _, _ = payee_admin(client)
    add_account(client)
    first = last_account(payee)
    confirm(client, first.id, *map(dollars, deposits_of(first)))
    add_account(client, account_number="000123450456", account_number_confirm="000123450456")
    second = last_account(payee)
    confirm(client, second.id, *map(dollars, deposits_of(second)))
    assert fresh(second).status is BankAccountStatus.VERIFIED and fresh(first).receives_payments
    report(app, second)
    page = client.get(f"/payee/bank-accounts/{second.id}").get_data(as_text=True)
    assert "Receive payments here" not in page and "cannot be chosen to receive" in page
    response = client.submit(
        f"/payee/bank-accounts/{second.id}/receive", {}, token_from="/payee/bank-accounts"
    )
    assert "frozen" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert fresh(first).receives_payments and not fresh(second).receives_payments
