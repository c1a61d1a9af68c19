"""The implementation checklist is derived from real state and closes only when complete."""

import re
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
from portal.operations.models import ContactKind, TrainingTopic
from tests.factories import make_company, make_user, sign_in, sign_in_fresh_operator, step_up

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
    drawdown = item(payor, "test_drawdown")
    assert not drawdown.met and not drawdown.available and "Not available yet" in drawdown.detail


def test_first_payees_is_met_once_a_payee_is_ready_for_payment(payor) -> None:
    from portal.onboarding.models import OnboardingStatus, PayeeRelationship

    first = item(payor, "first_payees")
    assert first.available and not first.met and first.detail == "No payee invited yet."
    with tenancy.unscoped():
        for name, status in (
            ("Ironline", OnboardingStatus.NEEDS_REVIEW),
            ("Brightwire", OnboardingStatus.APPROVED),
        ):
            db.session.add(
                PayeeRelationship(
                    payor_id=payor.id,
                    directory_name=name,
                    contact_email="a@x.example",
                    status=status,
                )
            )
        db.session.commit()
    first = item(payor, "first_payees")
    assert first.met and first.detail == "1 of 2 payees ready for payment."


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


# --------------------------------------------------------------------------- contacts, trainings


def add_contacts(company, count: int, *, prefix: str = "Person") -> None:
    """``count`` contacts named ``Person 00``, ``Person 01``… in the order they are added."""
    with tenancy.unscoped():
        project = services.project_of(company)
        for k in range(count):
            services.add_contact(
                project,
                ContactKind.TECHNICAL_LEAD if k % 2 else ContactKind.KEY_CONTACT,
                f"{prefix} {k:02d}",
                f"{prefix.lower()}{k:02d}@{company.slug}.example.com",
                None,
                actor_user_id=None,
            )
    db.session.commit()


def add_trainings(company, count: int, *, prefix: str = "Trainee") -> None:
    """``count`` sessions attended by ``Trainee 00``… held on consecutive past days, in order."""
    first = utcnow().date() - timedelta(days=count + 1)
    with tenancy.unscoped():
        project = services.project_of(company)
        for k in range(count):
            services.record_training(
                project,
                TrainingTopic.LIEN_WAIVERS,
                first + timedelta(days=k),
                f"{prefix} {k:02d}",
                None,
                actor_user_id=None,
            )
    db.session.commit()


def shown(page: str, prefix: str) -> list[str]:
    """The numbers of the ``prefix NN`` rows on the page, in their order."""
    return re.findall(rf"{prefix} (\d\d)", page)


@pytest.fixture
def operator_client(client):
    sign_in_fresh_operator(client)
    return client


@pytest.fixture
def payor_client(app, payor):
    admin, phone = make_user(payor, (Role.PAYMENTS_ADMIN,))
    browser = app.test_client()
    sign_in(browser, admin, phone)
    return browser


@pytest.fixture(params=["operator", "payor"])
def viewer(request, payor):
    """A browser of either view of the payor's project, and the URL of that view."""
    if request.param == "operator":
        return request.getfixturevalue("operator_client"), f"/operator/payors/{payor.id}"
    return request.getfixturevalue("payor_client"), "/company"


def test_the_page_shows_the_newest_five_of_each_and_links_to_all(viewer, payor) -> None:
    browser, base = viewer
    add_contacts(payor, 7)
    add_trainings(payor, 7)
    page = browser.get(f"{base}/implementation").get_data(as_text=True)
    assert shown(page, "Person") == ["06", "05", "04", "03", "02"]
    assert shown(page, "Trainee") == ["06", "05", "04", "03", "02"]
    assert f'<a href="{base}/implementation/contacts">All 7 contacts</a>' in page
    assert f'<a href="{base}/implementation/trainings">All 7 training sessions</a>' in page
    assert 'id="contacts-heading"' in page and 'id="training-heading"' in page


def test_a_short_list_has_no_link_and_an_empty_one_says_so(operator_client, payor) -> None:
    url = f"/operator/payors/{payor.id}/implementation"
    page = operator_client.get(url).get_data(as_text=True)
    assert "None recorded yet." in page and "None held yet." in page
    assert "Add contact" in page and "Record session" in page
    add_contacts(payor, 3)
    page = operator_client.get(url).get_data(as_text=True)
    assert shown(page, "Person") == ["02", "01", "00"] and "3 recorded." in page
    assert "All 3 contacts" not in page and 'href="' + url + '/contacts"' not in page


def test_the_list_pages_paginate_and_sort(viewer, payor) -> None:
    browser, base = viewer
    add_contacts(payor, 12)
    add_trainings(payor, 12)
    contacts = f"{base}/implementation/contacts"
    page = browser.get(contacts).get_data(as_text=True)
    assert shown(page, "Person") == [f"{k:02d}" for k in range(12)], "by name"
    page = browser.get(f"{contacts}?per_page=10&page=2").get_data(as_text=True)
    assert shown(page, "Person") == ["10", "11"] and "Showing 11\N{EN DASH}12 of 12" in page
    page = browser.get(f"{contacts}?sort=email&dir=desc&per_page=10").get_data(as_text=True)
    assert shown(page, "Person")[:2] == ["11", "10"]
    assert f'href="{base}/implementation#contacts-heading"' in page, "back to the project"

    trainings = f"{base}/implementation/trainings"
    page = browser.get(trainings).get_data(as_text=True)
    assert shown(page, "Trainee") == [f"{k:02d}" for k in range(11, -1, -1)], "newest first"
    page = browser.get(f"{trainings}?per_page=10&page=2").get_data(as_text=True)
    assert shown(page, "Trainee") == ["01", "00"]
    page = browser.get(f"{trainings}?sort=held_on&dir=asc&per_page=10").get_data(as_text=True)
    assert shown(page, "Trainee") == [f"{k:02d}" for k in range(10)]
    assert 'aria-sort="ascending"' in page


def test_the_contact_list_filters_by_name_or_email(operator_client, payor) -> None:
    add_contacts(payor, 12)
    add_contacts(payor, 1, prefix="Lead")
    url = f"/operator/payors/{payor.id}/implementation/contacts"
    assert shown(operator_client.get(f"{url}?q=PERSON 0").get_data(as_text=True), "Person") == [
        f"{k:02d}" for k in range(10)
    ]
    page = operator_client.get(f"{url}?q=lead00@").get_data(as_text=True)
    assert "Lead 00" in page and not shown(page, "Person")
    page = operator_client.get(f"{url}?q=nobody").get_data(as_text=True)
    assert "No contact matches “nobody”." in page
    assert shown(operator_client.get(f"{url}?q=%25").get_data(as_text=True), "Person") == []


@pytest.mark.parametrize(
    ("path", "root"),
    [("contacts", "contact-results"), ("trainings", "training-results")],
)
def test_an_htmx_swap_gets_the_table_and_navigation_the_page(viewer, payor, path, root) -> None:
    browser, base = viewer
    add_contacts(payor, 2)
    add_trainings(payor, 2)
    url = f"{base}/implementation/{path}"
    fragment = browser.htmx("GET", f"{url}?page=1")
    body = fragment.get_data(as_text=True)
    assert body.lstrip().startswith(f'<div id="{root}"') and "<html" not in body
    assert "HX-Request" in fragment.headers["Vary"]
    boosted = browser.htmx("GET", url, headers={"HX-Boosted": "true"})
    assert "<html" in boosted.get_data(as_text=True)
    assert "HX-Request" in boosted.headers["Vary"]


def test_payor_people_reach_only_their_own_lists(payor_client, payor, operator) -> None:
    with tenancy.unscoped():
        other = services.create_payor("Other Works", "other-works", actor_user_id=operator.id)
    db.session.commit()
    add_contacts(payor, 1, prefix="Ours")
    add_trainings(payor, 1, prefix="Ours")
    add_contacts(other, 1, prefix="Theirs")
    add_trainings(other, 1, prefix="Theirs")
    for company in (payor, other):
        for path in ("contacts", "trainings"):
            url = f"/operator/payors/{company.id}/implementation/{path}"
            assert payor_client.get(url).status_code == 403
    for path in ("contacts", "trainings"):
        page = payor_client.get(f"/company/implementation/{path}").get_data(as_text=True)
        assert "Ours 00" in page and "Theirs" not in page
        assert "Add a contact" not in page and "Record a session" not in page


def test_people_of_a_payee_do_not_have_own_implementation_lists(client) -> None:
    payee = make_company(CompanyKind.PAYEE)
    user, phone = make_user(payee, (Role.PAYEE_ADMIN,))
    sign_in(client, user, phone)
    for path in ("", "/contacts", "/trainings"):
        assert client.get(f"/company/implementation{path}").status_code in (403, 404)
