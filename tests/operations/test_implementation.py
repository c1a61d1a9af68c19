"""The implementation checklist is derived from real state and closes only when complete."""

from datetime import date, timedelta

import pyotp
import pytest
import sqlalchemy as sa

from portal.accounts.models import User
from portal.banking import services as banking
from portal.companies import services as company_services
from portal.companies.models import CompanyKind, Feature, Role
from portal.core import tenancy
from portal.core.db import db, utcnow
from portal.core.errors import DomainError, InvalidInput
from portal.operations import queries, services
from portal.operations.models import TrainingTopic
from tests.factories import make_company, make_user, sign_in, step_up

pytestmark = pytest.mark.usefixtures("database")


@pytest.fixture
def operator():
    user, _ = make_user(make_company(CompanyKind.OPERATOR), (Role.OPERATOR,))
    return user


@pytest.fixture
def payor(operator):
    with tenancy.unscoped():
        company = services.create_payor("Granite Works", "granite-works", actor_user_id=operator.id)
    db.session.commit()
    return company


def item(company, key: str):
    with tenancy.unscoped():
        steps = queries.implementation_checklist(company, queries.project_for(company.id))
    return next(i for s in steps for i in s.items if i.key == key)


def test_features_item_needs_all_four(payor, operator) -> None:
    assert not item(payor, "features").met
    for feature in Feature:
        with tenancy.unscoped():
            company_services.set_feature(payor, feature, True, actor_user_id=operator.id)
    assert item(payor, "features").met


def test_mfa_item_flips_when_the_last_payments_user_enrolls(payor) -> None:
    assert not item(payor, "mfa").met, "no payments users yet"
    make_user(payor, (Role.PAYMENTS_ADMIN,))
    late, _ = make_user(payor, (Role.DISBURSER,), enrolled=False)
    make_user(payor, (Role.VIEWER,), enrolled=False)  # not a payments user
    assert not item(payor, "mfa").met
    assert late.email in item(payor, "mfa").detail
    late = db.session.get(User, late.id)
    late.totp_secret, late.totp_enrolled_at = pyotp.random_base32(32), utcnow()
    db.session.commit()
    assert item(payor, "mfa").met


def test_sso_item_configured_or_marked_not_used(payor, operator) -> None:
    assert not item(payor, "sso").met
    with tenancy.unscoped():
        services.set_sso_not_used(services.project_of(payor), True, actor_user_id=operator.id)
    assert item(payor, "sso").met


def test_deposit_account_and_admins_items(payor, operator) -> None:
    assert not item(payor, "deposit_account").met
    with tenancy.unscoped():
        banking.open_deposit_account(payor, actor_user_id=operator.id)
    assert item(payor, "deposit_account").met
    assert not item(payor, "admins").met
    make_user(payor, (Role.PAYMENTS_ADMIN,))
    admins = item(payor, "admins")
    assert admins.met and "at least two are recommended" in admins.detail


def test_training_sessions_are_recorded_by_operators(payor, operator) -> None:
    with tenancy.unscoped():
        project = services.project_of(payor)
        with pytest.raises(InvalidInput, match="once it has happened"):
            services.record_training(
                project,
                TrainingTopic.LIEN_WAIVERS,
                utcnow().date() + timedelta(days=1),
                "Ann",
                None,
                actor_user_id=operator.id,
            )
        services.record_training(
            project,
            TrainingTopic.LIEN_WAIVERS,
            date(2026, 11, 2),
            "Ann (AP), Bob (PM)",
            "Covered conditional waivers",
            actor_user_id=operator.id,
        )
    assert item(payor, "training_lien_waivers").met
    assert not item(payor, "training_payments_overview").met


def test_items_of_later_capabilities_say_so(payor) -> None:
    funding = item(payor, "first_payees")
    assert not funding.met and not funding.available and "Not available yet" in funding.detail


def test_closeout_is_refused_until_every_item_is_met(payor, operator) -> None:
    with tenancy.unscoped(), pytest.raises(DomainError, match="cannot close yet"):
        services.close_project(payor, services.project_of(payor), actor_user_id=operator.id)
    assert not item(payor, "project_closed").met


def test_operator_pages_and_the_payors_read_only_view(app, client, payor) -> None:
    operator, phone = make_user(make_company(CompanyKind.OPERATOR), (Role.OPERATOR,))
    admin, admin_phone = make_user(payor, (Role.PAYMENTS_ADMIN,))
    sign_in(client, operator, phone)
    step_up(client, phone)
    page = client.get(f"/operator/payors/{payor.id}/implementation").get_data(as_text=True)
    assert "Step 1: Initial setup" in page and "Step 3: Payment testing and closeout" in page
    response = client.submit(
        f"/operator/payors/{payor.id}/implementation/trainings",
        {"topic": "payments_overview", "held_on": "2026-11-20", "attendees": "Sam, Dana"},
        token_from="/operator",
    )
    assert response.status_code == 303
    response = client.submit(
        f"/operator/payors/{payor.id}/implementation/trainings",
        {"topic": "payments_overview", "held_on": "", "attendees": ""},
        token_from="/operator",
    )
    assert "Enter the date it was held." in response.get_data(as_text=True)
    response = client.submit(
        f"/operator/payors/{payor.id}/implementation/close", {}, token_from="/operator"
    )
    assert "cannot close yet" in client.get(f"/operator/payors/{payor.id}/implementation").get_data(
        as_text=True
    )

    payor_client = type(client)(app, app.response_class, use_cookies=True)
    sign_in(payor_client, admin, admin_phone)
    own = payor_client.get("/company/implementation").get_data(as_text=True)
    assert 'Company payments overview <span class="hint">November 20, 2026: Sam, Dana' in own
    assert "Record session" not in own and "Close the project" not in own
    assert payor_client.get(f"/operator/payors/{payor.id}/implementation").status_code == 403
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) >= 2


def test_entity_and_funding_account_items_follow_payment_settings(payor, operator) -> None:
    from portal.payment_settings import services as settings
    from portal.payment_settings.models import AccountType, PersonRole

    assert not item(payor, "business_entity").met and not item(payor, "funding_account").met
    with tenancy.unscoped():
        entity = settings.save_entity(
            payor,
            settings.EntityInput(
                "Granite Works LLC",
                None,
                "1 Quarry Rd",
                None,
                "Barre",
                "VT",
                "05641",
                "DE",
                "12-3456789",
            ),
            actor_user_id=operator.id,
        )
    assert not item(payor, "business_entity").met, "no controller yet"
    with tenancy.unscoped():
        settings.add_person(
            entity,
            role=PersonRole.CONTROLLER,
            full_name="Casey",
            title="CFO",
            ownership_percent=None,
            date_of_birth=date(1980, 1, 1),
            ssn="123-45-6789",
            actor_user_id=operator.id,
        )
    assert item(payor, "business_entity").met
    with tenancy.unscoped():
        settings.add_funding_account(
            payor,
            settings.FundingAccountInput(
                entity.id,
                "Operating",
                "021000021",
                "123456789",
                "123456789",
                AccountType.CHECKING,
                None,
                None,
                False,
            ),
            actor_user_id=operator.id,
        )
    funding = item(payor, "funding_account")
    assert funding.met and "Operating ••••6789" in funding.detail


def test_operator_marks_sso_not_used_and_back(client, payor) -> None:
    operator, phone = make_user(make_company(CompanyKind.OPERATOR), (Role.OPERATOR,))
    sign_in(client, operator, phone)
    url = f"/operator/payors/{payor.id}/implementation/sso-not-used"
    client.submit(url, {}, token_from="/operator")
    assert item(payor, "sso").met
    client.submit(url, {"used": "1"}, token_from="/operator")
    assert not item(payor, "sso").met
