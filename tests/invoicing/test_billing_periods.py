"""Billing periods: by hand or monthly, never overlapping; the invite-to-bill email; and the
payee's Billing page with the periods open for its commitments."""

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from portal.companies.models import CompanyKind, Role
from portal.core import tenancy
from portal.core.db import db
from portal.invoicing import policies, services
from portal.invoicing.models import BillingPeriod, BillingPeriodStatus, CommitmentKind
from portal.notifications.models import EmailMessage
from portal.onboarding import services as onboarding
from portal.onboarding.models import OnboardingStatus, PayeeRelationship
from tests.factories import (
    add_project,
    make_company,
    make_invoicing_payor,
    make_user,
    sign_in,
    sign_in_fresh,
)

pytestmark = pytest.mark.usefixtures("database")


@pytest.fixture
def payor():
    return make_invoicing_payor()


@pytest.fixture
def admin(client, payor):
    return sign_in_fresh(client, payor, (Role.INVOICE_ADMINISTRATOR,))[0]


@pytest.fixture
def project(payor, admin):
    made = add_project(payor, "P-1", actor_user_id=admin.id, name="Harbor Tower")
    db.session.commit()
    return made


def periods() -> list[tuple[date, date, date]]:
    db.session.expire_all()
    with tenancy.unscoped():
        return [
            (p.starts_on, p.ends_on, p.due_on)
            for p in db.session.scalars(sa.select(BillingPeriod).order_by(BillingPeriod.starts_on))
        ]


def add_one(client, project, starts, ends, due):
    path = f"/projects/{project.id}/billing-periods"
    return client.submit(
        path, {"starts_on": starts, "ends_on": ends, "due_on": due}, token_from=path
    )


def add_months(client, project, first, months, due_day):
    path = f"/projects/{project.id}/billing-periods"
    return client.submit(
        f"{path}/monthly",
        {"first_month": first, "months": months, "due_day": due_day},
        token_from=path,
    )


def test_a_period_is_added_by_its_dates(client, project) -> None:
    response = add_one(client, project, "2026-11-01", "2026-11-30", "2026-11-25")
    assert response.status_code == 303
    assert periods() == [(date(2026, 11, 1), date(2026, 11, 30), date(2026, 11, 25))]
    page = client.get(f"/projects/{project.id}/billing-periods").get_data(as_text=True)
    assert "November 2026" in page


@pytest.mark.parametrize(
    ("dates", "message"),
    [
        (("2026-11-30", "2026-11-01", "2026-11-25"), "ends before it starts"),
        (("2026-11-01", "2026-11-30", "2026-10-31"), "due before the period starts"),
        (("2026-11-01", "2027-03-01", "2026-11-25"), "at most three months"),
        (("2026-11-15", "2026-12-15", "2026-12-10"), "overlap the billing period November 2026"),
        (("30/11/2026", "2026-11-30", "2026-11-25"), "Enter a date, for example"),
        (("", "2026-11-30", "2026-11-25"), "Enter the first day"),
    ],
)
def test_bad_dates_add_nothing(client, project, dates, message) -> None:
    add_one(client, project, "2026-11-01", "2026-11-30", "2026-11-25")
    response = add_one(client, project, *dates)
    assert message in response.get_data(as_text=True)
    assert len(periods()) == 1


def test_monthly_periods_take_each_months_due_day(client, project) -> None:
    response = add_months(client, project, "2027-01", "3", "31")
    assert response.status_code == 303
    assert periods() == [
        (date(2027, 1, 1), date(2027, 1, 31), date(2027, 1, 31)),
        (date(2027, 2, 1), date(2027, 2, 28), date(2027, 2, 28)),
        (date(2027, 3, 1), date(2027, 3, 31), date(2027, 3, 31)),
    ]


@pytest.mark.parametrize(
    ("form", "message"),
    [
        (("2027-02", "3", "25"), "overlap the billing period March 2027"),
        (("2027-05", "25", "25"), "between 1 and 24"),
        (("2027-05", "0", "25"), "between 1 and 24"),
        (("2027-05", "", "25"), "Enter how many months"),
        (("2027-05", "2", "32"), "1 to 31"),
        (("May 2027", "2", "25"), "Enter the first month, for example"),
        (("2027-05", "two", "25"), "Enter a whole number"),
    ],
)
def test_bad_monthly_periods_add_none(client, project, form, message) -> None:
    add_one(client, project, "2027-03-01", "2027-03-31", "2027-03-25")
    response = add_months(client, project, *form)
    assert message in response.get_data(as_text=True)
    assert len(periods()) == 1


def test_a_period_is_open_through_its_due_date_in_every_us_time_zone() -> None:
    period = BillingPeriod(
        starts_on=date(2026, 11, 1), ends_on=date(2026, 11, 30), due_on=date(2026, 11, 25)
    )
    # 09:59 UTC on the 26th is still the 25th in Hawaii (UTC-10); 10:00 is the 26th.
    still = policies.billing_date(datetime(2026, 11, 26, 9, 59, tzinfo=UTC))
    after = policies.billing_date(datetime(2026, 11, 26, 10, 0, tzinfo=UTC))
    assert period.status_on(still) is BillingPeriodStatus.OPEN
    assert period.status_on(after) is BillingPeriodStatus.CLOSED
    assert period.status_on(date(2026, 10, 31)) is BillingPeriodStatus.UPCOMING
    assert period.name == "November 2026"
    period.ends_on = date(2026, 11, 15)
    assert period.name == "Nov 1 to Nov 15, 2026"


# --------------------------------------------------------------------------- invite to bill


@pytest.fixture
def billed(payor, admin, project):
    """Ironline (approved for payment) with two approved commitments on the project, both
    billed by Bailey; Cam bills one of them."""
    with tenancy.unscoped():
        relationship = onboarding.add_to_directory(
            payor, onboarding.Invitee("Ironline", "ap@ironline.example"), actor_user_id=None
        )
        payee = make_company(CompanyKind.PAYEE)
        relationship.payee_id = payee.id
        relationship.status = OnboardingStatus.APPROVED
        bailey, bailey_phone = make_user(payee, email="bailey@ironline.example")
        cam, _ = make_user(payee, email="cam@ironline.example")
        made = []
        for number, contacts in (("SC-1", [bailey.id, cam.id]), ("SC-2", [bailey.id])):
            commitment = services.create_commitment(
                project,
                relationship=relationship,
                kind=CommitmentKind.SUBCONTRACT,
                number=number,
                title=f"Work {number}",
                contract_sum="1,000",
                default_retainage="10",
                actor_user_id=admin.id,
            )
            services.save_schedule(
                commitment, [services.LineInput("", "All", "1,000", "")], actor_user_id=admin.id
            )
            services.approve_commitment(commitment, actor_user_id=admin.id)
            services.set_contacts(commitment, contacts, actor_user_id=admin.id)
            made.append(commitment)
        today = policies.billing_date()
        period = services.create_billing_period(
            project,
            starts_on=today - timedelta(days=10),
            ends_on=today + timedelta(days=5),
            due_on=today + timedelta(days=2),
            actor_user_id=admin.id,
        )
    db.session.commit()
    return period, payee, bailey, bailey_phone


def invitations() -> list[EmailMessage]:
    db.session.expire_all()
    with tenancy.unscoped():
        return list(
            db.session.scalars(
                sa.select(EmailMessage)
                .where(EmailMessage.template == "invite_to_bill")
                .order_by(EmailMessage.to_address)
            )
        )


def invite(client, project, period, **kwargs):
    path = f"/projects/{project.id}/billing-periods"
    return client.submit(f"{path}/{period.id}/invite", {}, token_from=path, **kwargs)


def test_invite_to_bill_writes_to_each_contact_once(client, project, billed) -> None:
    period = billed[0]
    response = invite(client, project, period, follow_redirects=True)
    assert "2 invoice contacts invited" in response.get_data(as_text=True)
    bailey, cam = invitations()
    assert (bailey.to_address, cam.to_address) == (
        "bailey@ironline.example",
        "cam@ironline.example",
    )
    assert "SC-1" in bailey.text_body and "SC-2" in bailey.text_body
    assert "SC-2" not in cam.text_body
    assert "/billing" in bailey.text_body
    # Again within the hour: refused, nothing sent.
    response = invite(client, project, period, follow_redirects=True)
    assert "invite them again after an hour" in response.get_data(as_text=True)
    assert len(invitations()) == 2


def test_a_closed_period_or_one_without_contacts_invites_nobody(client, project, admin) -> None:
    with tenancy.unscoped():
        period = services.create_billing_period(
            project,
            starts_on=date(2026, 1, 1),
            ends_on=date(2026, 1, 31),
            due_on=date(2026, 1, 25),
            actor_user_id=admin.id,
        )
        current = services.create_billing_period(
            project,
            starts_on=policies.billing_date(),
            ends_on=policies.billing_date() + timedelta(days=20),
            due_on=policies.billing_date() + timedelta(days=15),
            actor_user_id=admin.id,
        )
    db.session.commit()
    page = invite(client, project, period, follow_redirects=True).get_data(as_text=True)
    assert "January 2026 is closed" in page
    page = invite(client, project, current, follow_redirects=True).get_data(as_text=True)
    assert "No approved commitment on this project has an invoice contact" in page
    assert invitations() == []


def test_the_payee_sees_its_commitments_and_their_open_periods(app, project, billed) -> None:
    period, _, bailey, phone = billed
    payee_client = app.test_client()
    sign_in(payee_client, bailey, phone)
    page = payee_client.get("/billing").get_data(as_text=True)
    assert "SC-1 · Work SC-1" in page and "SC-2 · Work SC-2" in page
    assert period.name in page and "Open for billing" in page
    assert "you are its invoice contact" in page
    # Until the payor approves the payee for payment, there is nothing to bill.
    with tenancy.unscoped():
        db.session.scalar(sa.select(PayeeRelationship)).status = OnboardingStatus.NEEDS_REVIEW
    db.session.commit()
    assert "No commitments to bill yet" in payee_client.get("/billing").get_data(as_text=True)


def test_the_billing_page_is_the_payees(client, project) -> None:
    assert client.get("/billing").status_code == 403
