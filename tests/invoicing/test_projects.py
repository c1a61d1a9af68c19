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
    # Pay on, fixed per project, no account yet: both the list and the page warn.
    gap = "no funding account is fixed for this project"
    assert gap in client.get(f"/projects/{project.id}").get_data(as_text=True)
    assert "Its invoices cannot be paid" in client.get("/projects").get_data(as_text=True)
    client.submit(
        f"/projects/{project.id}/funding-account",
        {"funding_account_id": str(account.id)},
        token_from="/projects",
    )
    assert projects()[0].funding_account_id == account.id
    assert gap not in client.get(f"/projects/{project.id}").get_data(as_text=True)
    assert "Its invoices cannot be paid" not in client.get("/projects").get_data(as_text=True)


def edit(client, project, **changes):
    form = {f"edit-{k}": v for k, v in {**PROJECT, **changes}.items()}
    return client.submit(f"/projects/{project.id}", form, token_from=f"/projects/{project.id}")


def test_a_project_is_corrected_and_its_change_audited(client, admin) -> None:
    client.submit("/projects", PROJECT, token_from="/projects")
    [project] = projects()
    response = edit(client, project, name="Harbor Tower II", region="TX", postal_code="78701")
    assert response.status_code == 303
    [project] = projects()
    assert (project.name, project.region, project.postal_code) == ("Harbor Tower II", "TX", "78701")
    history = client.get("/company/history").get_data(as_text=True)
    assert "Changed project Harbor Tower II: name, state, ZIP code" in history
    assert edit(client, project, name="Harbor Tower II", region="TX", postal_code="78701")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"number": "P-200"}, "already has that number"),
        ({"region": "XX"}, "Not a valid choice"),
        ({"postal_code": "ABCDE"}, "ZIP code"),
        ({"name": "   "}, "Enter the project"),
    ],
)
def test_a_bad_correction_changes_nothing(client, admin, changes, message) -> None:
    client.submit("/projects", PROJECT, token_from="/projects")
    client.submit("/projects", {**PROJECT, "number": "P-200"}, token_from="/projects")
    first = projects()[0]
    before = (first.name, first.number, first.region, first.postal_code)
    response = edit(client, first, **changes)
    assert message in response.get_data(as_text=True)
    first = projects()[0]
    assert (first.name, first.number, first.region, first.postal_code) == before


def test_an_archived_project_leaves_the_list_takes_no_change_and_comes_back(client, admin):
    client.submit("/projects", PROJECT, token_from="/projects")
    [project] = projects()
    path = f"/projects/{project.id}"
    assert client.submit(f"{path}/archive", {}, token_from=path).status_code == 303
    assert projects()[0].archived_at is not None
    assert "Harbor Tower" not in client.get("/projects").get_data(as_text=True).split("<main")[1]
    archived = client.get("/projects?archived=1").get_data(as_text=True)
    assert "Harbor Tower" in archived and "Back to the projects in use" in archived
    page = client.get(path).get_data(as_text=True)
    assert "Archived on" in page and "Save the project" not in page
    # Archived, it takes no change, and archiving again is refused.
    edit(client, project, name="Renamed")
    client.submit(f"{path}/pay", {"enabled": "off"}, token_from=path)
    again = client.submit(f"{path}/archive", {}, token_from=path)
    body = client.get(again.headers["Location"]).get_data(as_text=True)
    assert "is archived. Restore it first" in body
    assert (projects()[0].name, projects()[0].pay_enabled) == ("Harbor Tower", True)
    assert client.submit(f"{path}/restore", {}, token_from=path).status_code == 303
    assert projects()[0].archived_at is None
    assert "Harbor Tower" in client.get("/projects").get_data(as_text=True).split("<main")[1]
    history = client.get("/company/history").get_data(as_text=True)
    assert "Archived project Harbor Tower" in history and "Restored project Harbor Tower" in history
