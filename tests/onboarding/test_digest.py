"""The Monday and Thursday digest: each payor's Beneficiary Approvers get one email listing
the payees waiting for their approval and why, with links; nobody else gets one, no payor
sees another's payees, and a second run on the same day sends nothing."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import redis
import sqlalchemy as sa
from croniter import croniter
from rq.cron import CronScheduler

from jobs import onboarding as onboarding_jobs
from portal.banking.models import AccountType
from portal.companies.models import Company, CompanyKind, Role
from portal.core import tenancy
from portal.core.db import db, utcnow
from portal.core.formats import format_date
from portal.notifications.models import EmailMessage
from portal.onboarding import services
from portal.onboarding.digest import DIGEST_TEMPLATE, send_review_digests
from portal.onboarding.models import OnboardingStatus, PayeeRelationship
from portal.onboarding.terms import PAY_AGREEMENT_VERSION, digest
from portal.payees import services as payees
from portal.payees.models import EntityType, TaxClassification, TinType
from tests.factories import make_company, make_paying_payor, make_user
from tests.onboarding.test_statuses import join, relationships
from tests.payees.helpers import ACCOUNT, PROFILE, deposits_of, dollars

pytestmark = pytest.mark.usefixtures("database")

BASE = "http://localhost"  # PORTAL_BASE_URL of the test app


# --------------------------------------------------------------------------- building


def profile_input(**changes: str) -> payees.ProfileInput:
    values = {**PROFILE, **changes}
    return payees.ProfileInput(
        legal_name=values["legal_name"],
        dba=values["dba"],
        entity_type=EntityType(values["entity_type"]),
        address_line1=values["address_line1"],
        address_line2=values["address_line2"],
        city=values["city"],
        region=values["region"],
        postal_code=values["postal_code"],
        remit_to_email=values["remit_to_email"],
        tin_type=TinType(values["tin_type"]),
        tin=values["tin"],
        tax_classification=TaxClassification(values["tax_classification"]),
        exempt_payee_code=values["exempt_payee_code"],
        fatca_code=values["fatca_code"],
    )


def add_verified_account(payee: Company, admin, account_number: str):
    """A bank account of the payee, verified with its two micro-deposits."""
    account = payees.add_bank_account(
        payee,
        payees.BankAccountInput(
            holder_name=f"{payee.name} LLC",
            account_type=AccountType.CHECKING,
            routing_number=ACCOUNT["routing_number"],
            account_number=account_number,
            account_number_confirm=account_number,
        ),
        actor_user_id=admin.id,
    )
    payees.confirm_micro_deposits(
        account, *map(dollars, deposits_of(account)), actor_user_id=admin.id
    )
    return account


class Payee:
    """A payee company onboarded with ``payors`` through the services (no pages, so no
    sign-in): profile certified, account verified, each payor's Pay agreement accepted."""

    def __init__(self, name: str, account_number: str, *payors: Company) -> None:
        self.company = make_company(CompanyKind.PAYEE, name)
        self.admin, _ = make_user(self.company, (Role.PAYEE_ADMIN,), enrolled=False)
        for payor in payors:
            join(payor, self.company, self.admin)
        with tenancy.unscoped():
            profile = payees.save_profile(
                self.company, profile_input(legal_name=f"{name} LLC"), actor_user_id=self.admin.id
            )
            payees.certify(
                profile, name="Ines Ironline", title="Controller", actor_user_id=self.admin.id
            )
            self.account = add_verified_account(self.company, self.admin, account_number)
            for payor in payors:
                relationship = self.of(payor)
                services.accept_pay_agreement(
                    relationship,
                    actor_user_id=self.admin.id,
                    version=PAY_AGREEMENT_VERSION,
                    shown_digest=digest(services.pay_agreement_terms(relationship)),
                    signer_name="Ines Ironline",
                    signer_title="Controller",
                )
            db.session.commit()

    def of(self, payor: Company) -> PayeeRelationship:
        db.session.flush()  # relationships() expires the session: keep what is pending
        return relationships(self.company)[payor.id]

    def approved_by(self, payor: Company, approver) -> Payee:
        with tenancy.unscoped():
            services.approve(self.of(payor), actor_user_id=approver.id)
            db.session.commit()
        assert self.of(payor).status is OnboardingStatus.APPROVED
        return self

    def change_account(self, account_number: str) -> None:
        with tenancy.unscoped():
            account = add_verified_account(self.company, self.admin, account_number)
            payees.choose_receiving(account, actor_user_id=self.admin.id)
            db.session.commit()

    def change_legal_name(self, legal_name: str) -> None:
        with tenancy.unscoped():
            profile = payees.save_profile(
                self.company, profile_input(legal_name=legal_name), actor_user_id=self.admin.id
            )
            payees.certify(
                profile, name="Ines Ironline", title="Controller", actor_user_id=self.admin.id
            )
            db.session.commit()


def digests() -> list[EmailMessage]:
    with tenancy.unscoped():
        return list(
            db.session.scalars(
                sa.select(EmailMessage)
                .where(EmailMessage.template == DIGEST_TEMPLATE)
                .order_by(EmailMessage.id)
            )
        )


def digests_to(address: str) -> list[EmailMessage]:
    return [m for m in digests() if m.to_address == address]


def listed(message: EmailMessage) -> dict[str, str]:
    """Each payee line of a digest: the name and what follows it."""
    return dict(re.findall(r"^(.+?): (.+)\.\nReview it here: ", message.text_body, re.M))


def approver_of(payor: Company):
    user, _ = make_user(payor, (Role.BENEFICIARY_APPROVER,), enrolled=False)
    return user


# --------------------------------------------------------------------------- tests


def test_each_approver_gets_one_digest_of_what_waits_and_why_with_links():
    summit = make_paying_payor()
    first, second = approver_of(summit), approver_of(summit)
    admin, _ = make_user(summit, (Role.PAYMENTS_ADMIN, Role.DISBURSER), enrolled=False)
    new = Payee("Ironline Steel", "000111111111", summit)
    moved = Payee("Brightwire Electric", "000222222222", summit).approved_by(summit, first)
    renamed = Payee("Keystone Concrete", "000333333333", summit).approved_by(summit, first)
    ready = Payee("Granite Masonry", "000444444444", summit).approved_by(summit, first)
    moved.change_account("000222224321")
    renamed.change_legal_name("Keystone Concrete Holdings LLC")
    assert {p.of(summit).status for p in (new, moved, renamed)} == {OnboardingStatus.NEEDS_REVIEW}

    assert send_review_digests() == 2

    assert digests_to(admin.email) == [], "only Beneficiary Approvers get the digest"
    for approver in (first, second):
        (digest,) = digests_to(approver.email)
        assert digest.company_id == summit.id
        assert digest.subject == f"3 payees of {summit.name} are waiting for your approval"
        today = format_date(utcnow())
        assert listed(digest) == {
            "Ironline Steel": f"new payee, waiting since {today}",
            "Brightwire Electric": "changed its bank account (now the one ending 4321), "
            f"waiting since {today}",
            "Keystone Concrete": "changed its tax identity (legal name or tax id), "
            f"waiting since {today}",
        }
        body = digest.text_body
        for payee in (new, moved, renamed):
            assert f"Review it here: {BASE}/payees/{payee.of(summit).id}\n" in body
        assert f"{BASE}/payees/{ready.of(summit).id}\n" not in body
        assert f"Every payee that needs review: {BASE}/payees?status=needs_review\n" in body
        # No micro-deposit amount and no account number beyond its last four digits.
        assert re.search(r"(?<![\d.])\$?0?\.\d\d(?![\d.])", body) is None
        assert "22222" not in body and "11111" not in body


def test_no_payor_sees_another_payors_payees():
    summit, harbor = make_paying_payor(), make_paying_payor()
    summit_approver, harbor_approver = approver_of(summit), approver_of(harbor)
    # The same payee company waits for both, under each payor's own name for it.
    shared = Payee("Ironline Steel", "000111111111", summit, harbor)
    with tenancy.unscoped():
        shared.of(harbor).directory_name = "Ironline (Harbor's record)"
        db.session.commit()
    harbors_own = Payee("Bayside Glazing", "000555555555", harbor)

    assert send_review_digests() == 2

    (summits,) = digests_to(summit_approver.email)
    (harbors,) = digests_to(harbor_approver.email)
    assert set(listed(summits)) == {"Ironline Steel"}
    assert set(listed(harbors)) == {"Ironline (Harbor's record)", "Bayside Glazing"}
    assert summits.company_id == summit.id and harbors.company_id == harbor.id
    assert "Bayside" not in summits.text_body and "Harbor" not in summits.text_body
    for relationship in (shared.of(harbor), harbors_own.of(harbor)):
        assert f"/payees/{relationship.id}\n" not in summits.text_body
    assert f"/payees/{shared.of(summit).id}\n" not in harbors.text_body


def test_nothing_is_sent_when_nothing_waits_or_pay_is_off():
    settled = make_paying_payor()
    settled_approver = approver_of(settled)
    Payee("Granite Masonry", "000444444444", settled).approved_by(settled, settled_approver)
    without_pay = make_company(CompanyKind.PAYOR)
    off_approver = approver_of(without_pay)
    waiting = Payee("Ironline Steel", "000111111111", without_pay)
    assert waiting.of(without_pay).status is OnboardingStatus.NEEDS_REVIEW
    nobody_to_tell = make_paying_payor()
    Payee("Keystone Concrete", "000333333333", nobody_to_tell)

    assert send_review_digests() == 0
    assert digests_to(settled_approver.email) == digests_to(off_approver.email) == []
    assert digests() == []


def test_a_second_run_the_same_day_sends_nothing_more():
    summit = make_paying_payor()
    approver = approver_of(summit)
    Payee("Ironline Steel", "000111111111", summit)

    assert onboarding_jobs.send_review_digests() == 1
    assert onboarding_jobs.send_review_digests() == 0
    (first,) = digests_to(approver.email)
    assert first.subject == f"1 payee of {summit.name} is waiting for your approval"
    # The next run day (Thursday after Monday) sends it again, with how long it waited.
    assert send_review_digests(now=utcnow() + timedelta(days=3)) == 1
    db.session.commit()
    assert send_review_digests(now=utcnow() + timedelta(days=3)) == 0
    later = digests_to(approver.email)[-1]
    assert len(digests_to(approver.email)) == 2
    assert "(3 days)" in listed(later)["Ironline Steel"]


def test_one_payors_failing_digest_leaves_the_others_sent(monkeypatch):
    from portal.onboarding import digest as digest_module

    summit, harbor = make_paying_payor(), make_paying_payor()
    summit_approver, harbor_approver = approver_of(summit), approver_of(harbor)
    Payee("Ironline Steel", "000111111111", summit)
    Payee("Bayside Glazing", "000555555555", harbor)
    sending = digest_module._send_digest

    def broken_for_summit(payor, relationships, now):
        if payor.id == summit.id:
            raise RuntimeError("a template error, say")
        return sending(payor, relationships, now)

    monkeypatch.setattr(digest_module, "_send_digest", broken_for_summit)
    with pytest.raises(RuntimeError, match=f"failed for payors \\[{summit.id}\\]"):
        onboarding_jobs.send_review_digests()
    assert len(digests_to(harbor_approver.email)) == 1, "Harbor's digest was sent"
    assert digests_to(summit_approver.email) == []
    # Run again once mended: Summit gets its digest, Harbor no second one today.
    monkeypatch.setattr(digest_module, "_send_digest", sending)
    assert onboarding_jobs.send_review_digests() == 1
    assert len(digests_to(summit_approver.email)) == 1
    assert len(digests_to(harbor_approver.email)) == 1


def test_the_digest_runs_on_monday_and_thursday_mornings_utc():
    # Loading the schedule registers its jobs; nothing talks to Redis until the scheduler runs.
    scheduler = CronScheduler(connection=redis.Redis())
    scheduler.load_config_from_file("jobs.schedule")
    (job,) = [
        j for j in scheduler.get_jobs() if j.func_name == "jobs.onboarding.send_review_digests"
    ]
    assert job.queue_name == "default" and job.cron == "0 13 * * 1,4"
    sunday = datetime(2026, 3, 1, tzinfo=UTC)
    runs = croniter(job.cron, sunday)
    assert [runs.get_next(datetime) for _ in range(3)] == [
        datetime(2026, 3, 2, 13, tzinfo=UTC),  # Monday
        datetime(2026, 3, 5, 13, tzinfo=UTC),  # Thursday
        datetime(2026, 3, 9, 13, tzinfo=UTC),
    ]
