"""A payor billing world for the invoice and readiness tests: a project, an approved payee
with an invoice contact, the worked example's commitment, and billing periods open now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from portal.companies import services as company_services
from portal.companies.models import CompanyKind, Feature, Role
from portal.core import tenancy
from portal.core.db import db
from portal.invoicing import policies, services
from portal.invoicing.models import BillingPeriod, Commitment, CommitmentKind
from portal.onboarding import services as onboarding
from portal.onboarding.models import OnboardingStatus
from tests.factories import add_project, make_company, make_paying_payor, make_user, sign_in


@dataclass
class Billing:
    payor: object
    payee: object
    admin: object
    admin_phone: object
    contact: object
    contact_phone: object
    commitment: Commitment
    earlier: BillingPeriod  # open now, billing through three weeks ago
    later: BillingPeriod  # open now, billing through next week
    closed: BillingPeriod  # its due date has passed


@pytest.fixture
def billing(database) -> Billing:
    """SC-7 of the worked example, approved, with CO-1 approved: steel $60,000 at 10%,
    erection $37,500 at 5%, canopy $10,000.50 at 7.5% (contract sum to date $107,500.50)."""
    payor = make_paying_payor()
    payee = make_company(CompanyKind.PAYEE, "Ironline Steel")
    admin, admin_phone = make_user(payor, (Role.INVOICE_ADMINISTRATOR,))
    contact, contact_phone = make_user(payee, email="bailey@ironline.example")
    today = policies.billing_date()
    with tenancy.unscoped():
        company_services.set_feature(payor, Feature.INVOICE_MANAGEMENT, True, actor_user_id=None)
        project = add_project(payor, "P-1", actor_user_id=admin.id, name="Harbor Tower")
        relationship = onboarding.add_to_directory(
            payor, onboarding.Invitee("Ironline Steel", "ap@ironline.example"), actor_user_id=None
        )
        relationship.payee_id = payee.id
        relationship.status = OnboardingStatus.APPROVED
        commitment = services.create_commitment(
            project,
            relationship=relationship,
            kind=CommitmentKind.SUBCONTRACT,
            number="SC-7",
            title="Structural steel",
            contract_sum="100,000",
            default_retainage="10",
            actor_user_id=admin.id,
        )
        services.save_schedule(
            commitment,
            [
                services.LineInput("05-100", "Steel", "60,000", ""),
                services.LineInput("05-200", "Erection", "40,000", "5"),
            ],
            actor_user_id=admin.id,
        )
        services.approve_commitment(commitment, actor_user_id=admin.id)
        services.set_contacts(commitment, [contact.id], actor_user_id=admin.id)
        order = services.create_change_order(
            commitment,
            number="CO-1",
            title="Canopy; less erection",
            rows=[
                services.ChangeInput(None, "05-300", "Canopy", "10,000.50", "7.5"),
                services.ChangeInput(commitment.lines[1].id, "", "", "-2,500", ""),
            ],
            actor_user_id=admin.id,
        )
        services.approve_change_order(order, actor_user_id=admin.id)
        periods = [
            services.create_billing_period(
                project,
                starts_on=today + timedelta(days=start),
                ends_on=today + timedelta(days=end),
                due_on=today + timedelta(days=due),
                actor_user_id=admin.id,
            )
            for start, end, due in ((-40, -21, 2), (-20, 7, 3), (-80, -60, -50))
        ]
    db.session.commit()
    return Billing(payor, payee, admin, admin_phone, contact, contact_phone, commitment, *periods)


@pytest.fixture
def payee_client(app, client, billing):
    client = app.test_client()
    sign_in(client, billing.contact, billing.contact_phone)
    return client


@pytest.fixture
def payor_client(app, client, billing):
    client = app.test_client()
    sign_in(client, billing.admin, billing.admin_phone)
    return client
