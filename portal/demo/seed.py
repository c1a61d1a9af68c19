"""Seed the demo data idempotently and say how to sign in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa

from portal.accounts import services as accounts
from portal.accounts.models import User
from portal.banking import services as banking
from portal.banking.queries import deposit_account_of
from portal.companies import services as companies
from portal.companies.models import Company, CompanyKind, Feature, Role
from portal.core import tenancy
from portal.core.db import db
from portal.invoicing import services as invoicing
from portal.invoicing.models import Project
from portal.operations import services as operations
from portal.operations.models import TrainingTopic
from portal.payment_settings import queries as settings_queries
from portal.payment_settings import services as payment_settings
from portal.payment_settings.models import PersonRole

DEMO_PASSWORD = "trestle-demo-password"  # noqa: S105 - printed for the demo on purpose

COMPANIES = [
    ("trestle-ops", "Trestle Payment Operations", CompanyKind.OPERATOR),
    ("summit-builders", "Summit Builders", CompanyKind.PAYOR),
    ("harbor-construction", "Harbor Construction", CompanyKind.PAYOR),
    ("ironline-steel", "Ironline Steel", CompanyKind.PAYEE),
    ("brightwire-electric", "Brightwire Electric", CompanyKind.PAYEE),
]

# (login role shown, email, name, company slug, roles held)
USERS = [
    ("operator", "ops@trestle.example.com", "Olivia Operator", "trestle-ops", [Role.OPERATOR]),
    (
        "payments_admin",
        "admin@summit.example.com",
        "Sam Summit",
        "summit-builders",
        [Role.PAYMENTS_ADMIN],
    ),
    (
        "disburser",
        "disburser@summit.example.com",
        "Dana Disburser",
        "summit-builders",
        [Role.DISBURSER],
    ),
    (
        "beneficiary_approver",
        "approver@summit.example.com",
        "Avery Approver",
        "summit-builders",
        [Role.BENEFICIARY_APPROVER],
    ),
    (
        "payments_admin",
        "admin@harbor.example.com",
        "Harper Harbor",
        "harbor-construction",
        [Role.PAYMENTS_ADMIN],
    ),
    (
        "payee_admin",
        "admin@ironline.example.com",
        "Ivan Ironline",
        "ironline-steel",
        [Role.PAYEE_ADMIN],
    ),
    ("invoice_contact", "billing@ironline.example.com", "Bailey Billing", "ironline-steel", []),
    (
        "payee_admin",
        "admin@brightwire.example.com",
        "Brook Brightwire",
        "brightwire-electric",
        [Role.PAYEE_ADMIN],
    ),
]


@dataclass(frozen=True)
class DemoLogin:
    role: str
    email: str
    password: str
    company_slug: str

    def line(self) -> str:
        return f"LOGIN {self.role} {self.email} {self.password} {self.company_slug}"


def seed_demo() -> list[DemoLogin]:
    """Create (or find) the demo companies and users; return the logins.

    Keyed by natural identifiers (slugs, emails), so a second run changes nothing. Demo
    users have no authenticator yet: they enroll at first sign-in.
    """
    with tenancy.unscoped():
        by_slug = {}
        for slug, name, kind in COMPANIES:
            company = db.session.scalar(sa.select(Company).where(Company.slug == slug))
            by_slug[slug] = company or companies.create_company(slug, name, kind)
        logins = []
        for login_role, email, name, slug, roles in USERS:
            user = db.session.scalar(sa.select(User).where(User.email == email))
            if user is None:
                user = accounts.create_user(email, name, DEMO_PASSWORD)
            membership = companies.add_member(by_slug[slug], user, actor_user_id=None)
            for role in roles:
                companies.grant_role(membership, role, actor_user_id=None)
            logins.append(DemoLogin(login_role, email, DEMO_PASSWORD, slug))
        operator = db.session.scalar(sa.select(User).where(User.email == USERS[0][1]))
        _implementation_part_way(by_slug["summit-builders"], operator.id)
        operations.project_of(by_slug["harbor-construction"])
    return logins


def _implementation_part_way(company: Company, operator_id: int) -> None:
    """Summit Builders is part-way through implementation: some of step 1 and 2 done."""
    project = operations.project_of(company)
    for feature in (Feature.PAY, Feature.LIEN_WAIVERS):
        companies.set_feature(company, feature, True, actor_user_id=operator_id)
    if deposit_account_of(company.id) is None:
        banking.open_deposit_account(company, actor_user_id=operator_id)
    operations.set_sso_not_used(project, True, actor_user_id=operator_id)
    if not settings_queries.entities(company.id):
        entity = payment_settings.save_entity(
            company,
            payment_settings.EntityInput(
                "Summit Builders, Inc.",
                "Summit",
                "500 Market St",
                "Suite 1200",
                "San Francisco",
                "CA",
                "94105",
                "DE",
                "12-3456789",
            ),
            actor_user_id=operator_id,
        )
        payment_settings.add_person(
            entity,
            role=PersonRole.CONTROLLER,
            full_name="Sam Summit",
            title="CFO",
            ownership_percent=None,
            date_of_birth=date(1978, 3, 14),
            ssn="123-45-6789",
            actor_user_id=operator_id,
        )
    if not db.session.scalar(
        sa.select(Project.id).where(Project.company_id == company.id).limit(1)
    ):
        for name, number, street, city, state, postal in (
            (
                "Mission Bay Medical Center",
                "SB-2101",
                "1600 Owens St",
                "San Francisco",
                "CA",
                "94158",
            ),
            ("Riverside Lofts", "SB-2102", "901 E Cesar Chavez St", "Austin", "TX", "78702"),
        ):
            invoicing.create_project(
                company,
                name=name,
                number=number,
                address_line1=street,
                city=city,
                region=state,
                postal_code=postal,
                actor_user_id=operator_id,
            )
    if not project.trainings:
        operations.record_training(
            project,
            TrainingTopic.PAYMENTS_OVERVIEW,
            date(2026, 11, 2),
            "Sam Summit (Payments Admin), Dana Disburser",
            "Walked through the payment flow.",
            actor_user_id=operator_id,
        )
