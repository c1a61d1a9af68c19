"""Projects and their payment controls: Pay per project, Pay on new projects, fixed funding."""

import pytest
import sqlalchemy as sa

from portal.companies.models import Role
from portal.core import tenancy
from portal.core.db import db
from portal.invoicing.models import Project
from portal.payment_settings import services as settings
from portal.payment_settings.models import AccountType, FundingAccountMode
from tests.factories import (
    make_paying_payor,
    make_user,
    sign_in,
    sign_in_fresh_admin,
)

pytestmark = pytest.mark.usefixtures("database")

PROJECT = {
    "name": "Harbor Tower",
    "number": "P-100",
    "address_line1": "1 Pier Rd",
    "city": "Oakland",
    "region": "CA",
    "postal_code": "94607",
}


@pytest.fixture
def payor():
    return make_paying_payor()


@pytest.fixture
def admin(client, payor):
    return sign_in_fresh_admin(client, payor)[0]


def projects() -> list[Project]:
    db.session.expire_all()
    with tenancy.unscoped():
        return list(db.session.scalars(sa.select(Project).order_by(Project.id)))


def set_controls(payor, **changes) -> None:
    values = {
        "disbursements_enabled": True,
        "pay_on_new_projects": True,
        "funding_account_mode": FundingAccountMode.CHOSEN_AT_DISBURSEMENT,
        "invitation_message": None,
        **changes,
    }
    with tenancy.unscoped():
        settings.update_controls(payor, actor_user_id=None, **values)
    db.session.commit()


def test_new_projects_follow_pay_on_new_projects(client, admin, payor) -> None:
    client.submit("/projects", PROJECT, token_from="/projects")
    set_controls(payor, pay_on_new_projects=False)
    client.submit("/projects", {**PROJECT, "number": "P-101"}, token_from="/projects")
    assert [p.pay_enabled for p in projects()] == [True, False]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"region": ""}, "picks the lien waiver forms"),
        ({"postal_code": "9460"}, "ZIP code"),
        ({"name": ""}, "Enter the project"),
    ],
)
def test_bad_project_input_saves_nothing(client, admin, changes, message) -> None:
    response = client.submit("/projects", {**PROJECT, **changes}, token_from="/projects")
    assert message in response.get_data(as_text=True)
    assert projects() == []


def test_duplicate_project_numbers_are_refused(client, admin) -> None:
    client.submit("/projects", PROJECT, token_from="/projects")
    response = client.submit("/projects", PROJECT, token_from="/projects")
    assert "already has that number" in response.get_data(as_text=True)
    assert len(projects()) == 1


def test_pay_per_project_is_an_htmx_swap_of_the_project(client, admin) -> None:
    client.submit("/projects", PROJECT, token_from="/projects")
    [project] = projects()
    response = client.submit(
        f"/projects/{project.id}/pay", {"enabled": "off"}, token_from="/projects", htmx=True
    )
    body = response.get_data(as_text=True)
    assert f'<div id="project-{project.id}"' in body and "Turn Pay on" in body
    assert "<html" not in body, "only the project's part of its page"
    assert projects()[0].pay_enabled is False


def test_invoice_administrators_add_projects_but_do_not_control_pay(app, client, payor) -> None:
    clerk, phone = make_user(payor, (Role.INVOICE_ADMINISTRATOR,))
    sign_in(client, clerk, phone)
    assert client.submit("/projects", PROJECT, token_from="/projects").status_code == 303
    [project] = projects()
    assert (
        client.submit(
            f"/projects/{project.id}/pay", {"enabled": "off"}, token_from="/projects"
        ).status_code
        == 403
    )
    assert projects()[0].pay_enabled is True


def test_funding_account_fixed_per_project_only_in_that_mode(client, admin, payor) -> None:
    with tenancy.unscoped():
        entity = settings.save_entity(
            payor,
            settings.EntityInput(
                "P LLC", None, "1 Main", None, "Austin", "TX", "78701", "DE", "12-3456789"
            ),
            actor_user_id=admin.id,
        )
        account = settings.add_funding_account(
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
            actor_user_id=admin.id,
        )
    db.session.commit()
    client.submit("/projects", PROJECT, token_from="/projects")
    [project] = projects()
    response = client.submit(
        f"/projects/{project.id}/funding-account",
        {"funding_account_id": str(account.id)},
        token_from="/projects",
    )
    assert projects()[0].funding_account_id is None
    assert "chosen for each disbursement" in response.get_data(as_text=True)
    set_controls(payor, funding_account_mode=FundingAccountMode.FIXED_PER_PROJECT)
    client.submit(
        f"/projects/{project.id}/funding-account",
        {"funding_account_id": str(account.id)},
        token_from="/projects",
    )
    assert projects()[0].funding_account_id == account.id
