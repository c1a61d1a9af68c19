"""Change History: sentences with names, an area for every audited action, filters in the
URL, a CSV of exactly the filtered rows, long values that wrap, and who may see it."""

import ast
import csv
import io
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from portal.companies import history
from portal.companies import services as company_services
from portal.companies.models import CompanyKind, Feature, Role
from portal.core import audit, tenancy, text
from portal.core.db import db
from portal.core.models import AuditEvent
from portal.invoicing import services as invoicing
from portal.payment_settings import services as payment_settings
from portal.payment_settings.models import FundingAccountMode
from tests.factories import make_company, make_user, membership_of, sign_in

pytestmark = pytest.mark.usefixtures("database")

PORTAL = Path(__file__).resolve().parents[2] / "portal"


def named(company, name: str, roles: tuple[Role, ...] = ()):
    user, phone = make_user(company, roles)
    with tenancy.unscoped():
        user.name = name
    db.session.commit()
    return user, phone


@pytest.fixture
def summit():
    return make_company(CompanyKind.PAYOR, name="Summit Builders")


@pytest.fixture
def sam(client, summit):
    """Sam Summit, Payments Admin, signed in on ``client``."""
    user, phone = named(summit, "Sam Summit", (Role.PAYMENTS_ADMIN,))
    sign_in(client, user, phone)
    return user


def grant(user, company, role: Role, actor) -> None:
    with tenancy.unscoped():
        company_services.grant_role(membership_of(user, company), role, actor_user_id=actor.id)
    db.session.commit()


def test_sentences_name_people_roles_features_and_projects(client, summit, sam) -> None:
    dana, _ = named(summit, "Dana Disburser")
    grant(dana, summit, Role.CONTRIBUTOR, sam)
    with tenancy.unscoped():
        company_services.set_feature(summit, Feature.PAY, True, actor_user_id=sam.id)
        project = invoicing.create_project(
            summit,
            name="Tower A",
            number="T-1",
            address_line1="1 Main St",
            city="Austin",
            region="TX",
            postal_code="78701",
            actor_user_id=sam.id,
        )
        invoicing.set_project_pay(project, not project.pay_enabled, actor_user_id=sam.id)
        company_services.revoke_role(
            membership_of(dana, summit), Role.CONTRIBUTOR, actor_user_id=sam.id
        )
    db.session.commit()

    body = client.get("/company/history").get_data(as_text=True)
    assert "Granted the Disbursement Contributor role to Dana Disburser" in body
    assert "Removed the Disbursement Contributor role from Dana Disburser" in body
    assert "Turned on Pay" in body
    assert "Created project Tower A (T-1)" in body
    assert re.search(r"Turned Pay o(n|ff) for project Tower A", body)
    assert '<td class="wrap-anywhere">Sam Summit</td>' in body
    assert "Person:</span> Dana Disburser" in body
    for leak in ("user_id", "user id", f"membership {membership_of(dana, summit).id}"):
        assert leak not in body


def audited_actions() -> dict[str, str]:
    """Every action tag passed to audit.record anywhere in portal/, with where it is."""
    found: dict[str, str] = {}
    for path in sorted(PORTAL.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        constants = {
            target.id: node.value.value
            for node in tree.body
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        # A module-level table of literal tags (``ACTIONS[decision]``) names all its values.
        constants |= {
            target.id: [v.value for v in node.value.values]
            for node in tree.body
            if isinstance(node, ast.Assign | ast.AnnAssign)
            and isinstance(node.value, ast.Dict)
            and node.value.values
            and all(
                isinstance(v, ast.Constant) and isinstance(v.value, str) for v in node.value.values
            )
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
            if isinstance(target, ast.Name)
        }
        for node in ast.walk(tree):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "record"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "audit"
            ):
                continue
            where = f"{path.relative_to(PORTAL.parent)}:{node.lineno}"
            for tag in _tags(node.args[0] if node.args else None, constants, where):
                found.setdefault(tag, where)
    return found


def _tags(arg, constants: dict, where: str) -> list[str]:
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return [arg.value]
    if isinstance(arg, ast.Name) and isinstance(constants.get(arg.id), str):
        return [constants[arg.id]]
    if (
        isinstance(arg, ast.Subscript)
        and isinstance(arg.value, ast.Name)
        and isinstance(constants.get(arg.value.id), list)
    ):
        return constants[arg.value.id]
    if isinstance(arg, ast.JoinedStr):  # f"a:b:{'x' if c else 'y'}" names both tags
        tags = [""]
        for part in arg.values:
            if isinstance(part, ast.Constant):
                tags = [t + part.value for t in tags]
            elif isinstance(part.value, ast.IfExp) and all(
                isinstance(b, ast.Constant) for b in (part.value.body, part.value.orelse)
            ):
                tags = [t + b.value for t in tags for b in (part.value.body, part.value.orelse)]
            else:
                break
        else:
            return tags
    pytest.fail(f"{where}: write the audit action as a literal so Change History can map it")


def test_every_audited_action_has_an_area_and_a_sentence() -> None:
    found = audited_actions()
    assert len(found) > 30, "the walk must find the audit calls"
    unmapped = {tag: where for tag, where in found.items() if tag not in history.ACTIONS}
    assert not unmapped, f"add these to portal/companies/history.py ACTIONS: {unmapped}"
    stale = set(history.ACTIONS) - set(found)
    assert not stale, f"no code records these any more: {stale}"
    names = history.Names({}, {}, {}, {})
    for tag, action in history.ACTIONS.items():
        assert action.area in history.HISTORY_AREAS, tag
        # A row missing every detail still reads as a sentence, never an error or an id.
        event = AuditEvent(action=tag, object_id=None, before=None, after=None)
        sentence = history.describe(event, names)
        assert sentence and sentence[0].isupper() and "_" not in sentence, (tag, sentence)


def test_each_area_filter_shows_only_its_actions() -> None:
    for area in history.HISTORY_AREAS:
        tags = history.actions_in(area)
        assert tags, f"area {area} has no actions"
        assert all(history.ACTIONS[t].area == area for t in tags)


def test_filters_round_trip_through_the_url(client, summit, sam) -> None:
    dana, _ = named(summit, "Dana Disburser", (Role.PAYMENTS_ADMIN,))
    grant(dana, summit, Role.VIEWER, sam)
    grant(sam, summit, Role.INVOICE_ADMINISTRATOR, dana)
    with tenancy.unscoped():
        company_services.set_feature(summit, Feature.PAY, True, actor_user_id=sam.id)
    db.session.commit()

    query = f"area=roles&person={sam.id}&since=2020-01-01&until=2999-12-31&dir=asc"
    body = client.get(f"/company/history?{query}").get_data(as_text=True)
    assert '<option value="roles" selected>' in body
    assert f'<option value="{sam.id}" selected>Sam Summit</option>' in body
    assert 'value="2020-01-01"' in body and 'value="2999-12-31"' in body
    assert "Granted the Viewer role to Dana Disburser" in body
    assert "Invoice Administrator" not in body  # Dana did that
    assert "Turned on Pay" not in body  # another area
    # The sort link and the CSV link carry the same filters; the form resends the sort.
    filters = f"area=roles&amp;person={sam.id}&amp;since=2020-01-01&amp;until=2999-12-31"
    assert f'href="/company/history?{filters}"' in body  # Date header: back to newest first
    assert f'href="/company/history.csv?{filters}"' in body
    assert '<input type="hidden" name="dir" value="asc" form="history-filters">' in body
    # Garbage is dropped, not echoed into links.
    body = client.get("/company/history?area=nope&person=x&since=soon").get_data(as_text=True)
    assert 'href="/company/history.csv"' in body and "Turned on Pay" in body


def test_an_htmx_swap_gets_the_table_fragment_and_navigation_the_page(client, sam) -> None:
    fragment = client.htmx("GET", "/company/history?area=roles").get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="history-table"') and "<html" not in fragment
    boosted = client.htmx("GET", "/company/history", headers={"HX-Boosted": "true"})
    assert "<html" in boosted.get_data(as_text=True)
    assert "HX-Request" in boosted.headers["Vary"]


def test_pages_replace_the_old_200_row_cap(client, summit, sam) -> None:
    with tenancy.unscoped():
        for i in range(30):
            company_services.set_feature(summit, Feature.PAY, i % 2 == 0, actor_user_id=sam.id)
    db.session.commit()
    body = client.get("/company/history?area=features").get_data(as_text=True)
    assert "Showing 1\N{EN DASH}25 of 30" in body and 'aria-current="page"' in body
    page_two = client.get("/company/history?area=features&page=2").get_data(as_text=True)
    assert "Showing 26\N{EN DASH}30 of 30" in page_two


def read_csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def test_csv_has_exactly_the_filtered_rows_on_every_page(client, summit, sam) -> None:
    other, _ = named(summit, '=HYPERLINK("http://evil")', (Role.PAYMENTS_ADMIN,))
    with tenancy.unscoped():
        for i in range(40):
            company_services.set_feature(summit, Feature.PAY, i % 2 == 0, actor_user_id=sam.id)
        company_services.set_feature(summit, Feature.LIEN_WAIVERS, True, actor_user_id=other.id)
    db.session.commit()
    response = client.get(f"/company/history.csv?area=features&person={sam.id}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith(
        'attachment; filename="change-history-'
    )
    rows = read_csv(response)
    assert rows[0] == list(history.CSV_HEADER)
    assert len(rows) - 1 == 40  # more than a page: the CSV is not one page of the table
    assert {r[1] for r in rows[1:]} == {"Features"} and {r[2] for r in rows[1:]} == {"Sam Summit"}
    everything = read_csv(client.get("/company/history.csv?area=features"))
    with tenancy.unscoped():
        expected = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(AuditEvent)
            .where(
                AuditEvent.company_id == summit.id, AuditEvent.action.like("companies:feature:%")
            )
        )
    assert len(everything) - 1 == expected == 41
    assert [r[2] for r in everything[1:] if "evil" in r[2]] == ['\'=HYPERLINK("http://evil")']


@pytest.mark.parametrize(
    ("value", "cell"),
    [("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@SUM(A1)", "'@SUM(A1)"), ("a=b", "a=b")],
)
def test_csv_cells_that_a_spreadsheet_would_run_are_quoted(value, cell) -> None:
    assert text.safe_cell(value) == cell


def test_a_2000_character_value_wraps(client, summit, sam) -> None:
    long_value = "x" * 2000
    with tenancy.unscoped():
        payment_settings.update_controls(
            summit,
            disbursements_enabled=True,
            pay_on_new_projects=True,
            funding_account_mode=FundingAccountMode.CHOSEN_AT_DISBURSEMENT,
            invitation_message=long_value,
            actor_user_id=sam.id,
        )
    db.session.commit()
    body = client.get("/company/history").get_data(as_text=True)
    assert "Changed payment controls: invitation message" in body
    cell = re.search(r'<td class="([^"]*)">(?:(?!</td>).)*' + long_value, body, re.S)
    assert cell and "wrap-anywhere" in cell.group(1)
    assert long_value in body and 'class="table-scroll"' in body and "style=" not in body
    css = (PORTAL.parent / "static" / "css" / "portal.css").read_text()
    block = css[css.index("/* ---- data table ---- */") :]
    assert re.search(r"\.wrap-anywhere \{[^}]*overflow-wrap: anywhere", block)
    assert re.search(r"\.table-scroll \{[^}]*overflow: auto", block)


@pytest.mark.parametrize("path", ["/company/history", "/company/history.csv"])
def test_a_member_without_a_role_is_refused(client, summit, path) -> None:
    user, phone = make_user(summit)
    sign_in(client, user, phone)
    assert client.get(path).status_code == 403


@pytest.mark.parametrize(
    ("kind", "role"),
    [
        (CompanyKind.PAYOR, Role.VIEWER),
        (CompanyKind.PAYOR, Role.BENEFICIARY_APPROVER),
        (CompanyKind.PAYEE, Role.PAYEE_ADMIN),
    ],
)
def test_payments_roles_see_their_history(client, kind, role) -> None:
    user, phone = make_user(make_company(kind), (role,))
    sign_in(client, user, phone)
    response = client.get("/company/history")
    assert response.status_code == 200
    assert "Granted the " + role.label + " role to " + user.name in response.get_data(as_text=True)


@pytest.mark.parametrize("until", ["9999-12-31", "0001-01-01", "2026-13-45", "abc"])
def test_dates_nobody_means_are_ignored_not_a_500(client, summit, sam, until) -> None:
    response = client.get(f"/company/history?until={until}")
    assert response.status_code == 200
    assert f'value="{until}"' not in response.get_data(as_text=True)
    assert client.get(f"/company/history.csv?since={until}").status_code == 200


def test_names_of_another_companys_rows_are_never_shown(client, summit, sam) -> None:
    """An event that mentions another payor's project and funding account (ids are only
    numbers) names neither: the one name lookup is tenant-scoped in every branch."""
    from tests.factories import add_entity_with_controller, add_funding_account, add_project

    other = make_company(CompanyKind.PAYOR, name="Other Builders")
    with tenancy.unscoped():
        secret_project = add_project(other, "X-1", name="Secret Tower", actor_user_id=None)
        entity, _ = add_entity_with_controller(other, "Other Holdings LLC", actor_user_id=None)
        secret_account = add_funding_account(
            entity, "Secret Account", "021000021", "7000001", actor_user_id=None
        )
        own_project = add_project(summit, "S-1", name="Own Tower", actor_user_id=sam.id)
        for object_type, object_id in (
            ("project", secret_project.id),
            ("funding_account", secret_account.id),
            ("project", own_project.id),
        ):
            audit.record(
                "invoicing:project:pay_changed"
                if object_type == "project"
                else "payment_settings:funding_account:deactivated",
                actor_user_id=sam.id,
                company_id=summit.id,
                object_type=object_type,
                object_id=object_id,
                before={"pay_enabled": False},
                after={"pay_enabled": True},
            )
    db.session.commit()
    body = client.get("/company/history").get_data(as_text=True)
    assert "Own Tower" in body, "the company's own names are found"
    assert "Secret Tower" not in body and "Secret Account" not in body
    assert "a deleted project" in body and "a deleted funding account" in body
