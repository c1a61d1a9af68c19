"""The operator console: payors, features, admins, deposit accounts, Change History."""

import io

import pytest
import sqlalchemy as sa

from portal.banking.models import DepositAccount, SandboxBankAccount
from portal.companies.models import Company, CompanyKind, Feature, FeatureActivation, Role
from portal.core import tenancy
from portal.core.db import db
from portal.core.models import AuditEvent, StoredFile
from portal.operations.models import AdminDesignation
from tests.conftest import TIER
from tests.factories import emails_of, make_company, make_user, members_of, sign_in

pytestmark = pytest.mark.usefixtures("database")

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def count(model) -> int:
    with tenancy.unscoped():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model))


@pytest.mark.parametrize("kind", [CompanyKind.PAYOR, CompanyKind.PAYEE])
def test_payor_and_payee_users_cannot_reach_the_console(client, kind) -> None:
    roles = (Role.PAYMENTS_ADMIN,) if kind is CompanyKind.PAYOR else (Role.PAYEE_ADMIN,)
    user, phone = make_user(make_company(kind), roles)
    sign_in(client, user, phone)
    assert client.get("/operator").status_code == 403
    response = client.submit(
        "/operator/payors", {"name": "X", "slug": "x-co"}, token_from="/dashboard"
    )
    assert response.status_code == 403
    assert count(Company) == 1


def test_operator_creates_a_payor_with_its_project(client, operator) -> None:
    response = client.submit(
        "/operator/payors",
        {"name": "Granite Works", "slug": "granite-works"},
        token_from="/operator",
    )
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Granite Works" in page and "Implementation project" in page
    listing = client.get("/operator?q=granite").get_data(as_text=True)
    assert "Granite Works" in listing


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "", "slug": "ok-slug"}, "Enter the company"),
        ({"name": "Acme", "slug": "Bad Slug"}, "lowercase letters"),
        ({"name": "Acme", "slug": "granite-works"}, "already uses that short name"),
    ],
)
def test_bad_payor_input_gets_a_field_error(client, payor, data, message) -> None:
    before = count(Company)
    response = client.submit("/operator/payors", data, token_from="/operator", htmx=True)
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert count(Company) == before


def test_feature_toggle_is_an_htmx_partial_with_confirmation_and_audit(client, payor) -> None:
    page = client.get(f"/operator/payors/{payor.id}").get_data(as_text=True)
    assert 'hx-confirm="Turn Pay on for Granite Works?' in page
    response = client.submit(
        f"/operator/payors/{payor.id}/features/pay",
        {"enabled": "on"},
        token_from="/operator",
        htmx=True,
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body
    assert 'id="features"' in body and "Turn Pay off" in body
    with tenancy.unscoped():
        row = db.session.scalar(
            sa.select(FeatureActivation).where(
                FeatureActivation.company_id == payor.id, FeatureActivation.feature == Feature.PAY
            )
        )
    assert row.enabled is True
    history = client.get(f"/operator/payors/{payor.id}/history?area=features")
    assert "Turned on Pay" in history.get_data(as_text=True)
    client.submit(
        f"/operator/payors/{payor.id}/features/pay",
        {"enabled": "off"},
        token_from="/operator",
        htmx=True,
    )
    db.session.expire_all()
    with tenancy.unscoped():
        assert db.session.get(FeatureActivation, row.id).enabled is False


def test_unknown_features_are_404(client, payor) -> None:
    response = client.submit(
        f"/operator/payors/{payor.id}/features/teleport", {"enabled": "on"}, token_from="/operator"
    )
    assert response.status_code == 404


def add_people(client, payor, *emails):
    for email in emails:
        response = client.submit(
            f"/operator/payors/{payor.id}/members",
            {"email": email, "name": email.split("@")[0].title()},
            token_from="/operator",
        )
        assert response.status_code == 303, response.get_data(as_text=True)


def designate(client, payor, user_ids, data=PDF, name="designation.pdf", emails=None):
    token = client.csrf_token("/operator")
    return client.post(
        f"/operator/payors/{payor.id}/designations",
        data={
            "csrf_token": token,
            "emails": emails_of(user_ids) if emails is None else emails,
            "form_file": (io.BytesIO(data), name),
        },
        content_type="multipart/form-data",
    )


def member_ids(payor) -> dict[str, int]:
    return {m.user.email: m.user_id for m in members_of(payor)}


def test_operator_designates_two_admins_from_a_signed_pdf(client, payor, smtp) -> None:
    add_people(client, payor, "cfo@granite.example.com", "controller@granite.example.com")
    if TIER != "real":
        assert smtp.to("cfo@granite.example.com"), "new people are emailed a password link"
    ids = member_ids(payor)
    response = designate(client, payor, ids.values())
    assert response.status_code == 303, response.get_data(as_text=True)
    with tenancy.unscoped():
        designation = db.session.scalar(sa.select(AdminDesignation))
        stored = db.session.get(StoredFile, designation.stored_file_id)
    assert sorted(designation.user_ids) == sorted(ids.values())
    assert stored.content_type == "application/pdf"
    page = client.get(f"/operator/payors/{payor.id}").get_data(as_text=True)
    assert "At least two Payments Admins are recommended" not in page


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"GIF89a not a pdf", "form.pdf", "must be one of: PDF"),
        (b"%PDF-1.4 cut off before its end", "form.pdf", "incomplete or damaged"),
        (b"", "form.pdf", "The file is empty"),
        (PDF + b"0" * (10 * 1024 * 1024), "form.pdf", "larger than 10 MB"),
    ],
)
def test_a_bad_designation_form_saves_nothing(client, payor, data, name, message) -> None:
    add_people(client, payor, "cfo@granite.example.com")
    response = designate(client, payor, member_ids(payor).values(), data=data, name=name)
    # Werkzeug's test client spools a large multipart body to a temporary file and leaves
    # closing it to whoever holds the request.
    response.request.environ["wsgi.input"].close()
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert count(AdminDesignation) == 0 and count(StoredFile) == 0
    with tenancy.unscoped():
        member = membership_of_email(payor, "cfo@granite.example.com")
        assert Role.PAYMENTS_ADMIN not in member.role_set


def membership_of_email(payor, email):
    return next(m for m in members_of(payor) if m.user.email == email)


def test_only_members_can_be_designated(client, payor) -> None:
    stranger, _ = make_user(make_company())
    add_people(client, payor, "cfo@granite.example.com")
    cfo = member_ids(payor)["cfo@granite.example.com"]
    response = designate(client, payor, [cfo, stranger.id])
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert f"Not among Granite Works&#39;s people: {stranger.email}." in page
    assert count(AdminDesignation) == 0 and count(StoredFile) == 0
    with tenancy.unscoped():
        assert (
            Role.PAYMENTS_ADMIN
            not in membership_of_email(payor, "cfo@granite.example.com").role_set
        )


def test_designation_emails_are_read_in_any_case_and_separator(client, payor) -> None:
    add_people(client, payor, "cfo@granite.example.com", "ceo@granite.example.com")
    response = designate(
        client,
        payor,
        [],
        emails=" CFO@Granite.example.com,\n\nceo@granite.example.com ; cfo@granite.example.com",
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    with tenancy.unscoped():
        designation = db.session.scalar(sa.select(AdminDesignation))
    assert sorted(designation.user_ids) == sorted(member_ids(payor).values())
    assert "Enter the emails" in designate(client, payor, [], emails="  ").get_data(as_text=True)


def test_the_payor_page_pages_its_people_and_caps_its_invitations(client, payor) -> None:
    for k in range(12):
        make_user(payor, email=f"person{k:02d}@granite.example.com")
        make_user(make_company(), email=f"invitee{k:02d}@elsewhere.example.com")
    add_people(client, payor, *(f"invitee{k:02d}@elsewhere.example.com" for k in range(12)))
    url = f"/operator/payors/{payor.id}"
    page = client.get(f"{url}?per_page=10").get_data(as_text=True)
    assert "Showing 1\N{EN DASH}10 of 12" in page and "person10@" not in page
    assert "The newest 10 of 12 waiting invitations." in page
    assert page.count("<td>invitee") == 10
    page = client.get(f"{url}?per_page=10&page=2").get_data(as_text=True)
    assert "person10@granite" in page and "person11@granite" in page
    page = client.get(f"{url}?q=PERSON05").get_data(as_text=True)
    assert "person05@" in page and "person04@" not in page
    fragment = client.htmx("GET", f"{url}?page=2&per_page=10")
    body = fragment.get_data(as_text=True)
    assert body.lstrip().startswith('<div id="people-results"') and "<html" not in body
    assert "HX-Request" in fragment.headers["Vary"]


def test_operator_removes_an_admin_but_never_the_last(client, payor) -> None:
    add_people(client, payor, "cfo@granite.example.com", "ceo@granite.example.com")
    designate(client, payor, member_ids(payor).values())
    cfo = membership_of_email(payor, "cfo@granite.example.com")
    ceo = membership_of_email(payor, "ceo@granite.example.com")
    response = client.submit(
        f"/operator/payors/{payor.id}/admins/{cfo.id}/remove", {}, token_from="/operator"
    )
    assert response.status_code == 303
    db.session.expire_all()
    assert Role.PAYMENTS_ADMIN not in membership_of_email(payor, "cfo@granite.example.com").role_set

    response = client.submit(
        f"/operator/payors/{payor.id}/admins/{ceo.id}/remove", {}, token_from="/operator"
    )
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "is the only Payments Admin of Granite Works" in page
    assert "designate another Payments Admin" in page
    db.session.expire_all()
    assert Role.PAYMENTS_ADMIN in membership_of_email(payor, "ceo@granite.example.com").role_set


def test_operator_opens_the_deposit_account_once(client, payor) -> None:
    response = client.submit(
        f"/operator/payors/{payor.id}/deposit-account", {}, token_from="/operator"
    )
    assert response.status_code == 303
    with tenancy.unscoped():
        account = db.session.scalar(sa.select(DepositAccount))
        bank_side = db.session.scalar(sa.select(SandboxBankAccount))
    assert account.account_number == bank_side.account_number
    assert account.account_last4 in client.get(f"/operator/payors/{payor.id}").get_data(
        as_text=True
    )
    raw = db.session.execute(sa.text("SELECT account_number FROM deposit_account")).scalar()
    assert account.account_number not in raw, "bank numbers are encrypted at rest"
    client.submit(f"/operator/payors/{payor.id}/deposit-account", {}, token_from="/operator")
    assert count(DepositAccount) == 1
    assert "already has a deposit account" in client.get("/operator").get_data(as_text=True)


def test_sensitive_console_actions_need_step_up(client, payor) -> None:
    with client.session_transaction() as session:
        session["mfa_at"] = 0
    response = client.submit(
        f"/operator/payors/{payor.id}/deposit-account", {}, token_from="/operator"
    )
    assert "/verify" in response.headers["Location"]
    assert count(DepositAccount) == 0


def test_change_history_filters_and_payor_view(client, payor, app) -> None:
    admin, phone = make_user(payor, (Role.PAYMENTS_ADMIN,))
    client.submit(
        f"/operator/payors/{payor.id}/features/pay", {"enabled": "on"}, token_from="/operator"
    )
    history = client.get(f"/operator/payors/{payor.id}/history?area=roles")
    body = history.get_data(as_text=True)
    assert f"Granted the Payments Admin role to {admin.name}" in body
    assert "Turned on Pay" not in body
    assert f'href="/operator/payors/{payor.id}/history.csv?area=roles"' in body
    exported = client.get(f"/operator/payors/{payor.id}/history.csv?area=features")
    assert exported.headers["Content-Disposition"].startswith("attachment;")
    lines = exported.get_data(as_text=True).splitlines()
    assert len(lines) == 2 and "Turned on Pay" in lines[1]
    payor_client = type(client)(app, app.response_class, use_cookies=True)
    sign_in(payor_client, admin, phone)
    own = payor_client.get("/company/history").get_data(as_text=True)
    assert "Turned on Pay" in own
    assert (
        payor_client.get("/company/history", headers={"HX-Request": "true"})
        .get_data(as_text=True)
        .lstrip()
        .startswith('<div id="history-table"')
    )


def test_feature_changes_never_touch_payees() -> None:
    payee = make_company(CompanyKind.PAYEE)
    from portal.companies import services as company_services
    from portal.core.errors import InvalidInput

    with pytest.raises(InvalidInput, match="payors only"):
        company_services.set_feature(payee, Feature.PAY, True, actor_user_id=None)
    assert count(FeatureActivation) == 0
    with tenancy.unscoped():
        assert not db.session.scalar(
            sa.select(AuditEvent.id).where(AuditEvent.action.like("companies:feature:%"))
        )


def test_a_designation_without_a_file_is_refused(client, payor) -> None:
    add_people(client, payor, "cfo@granite.example.com")
    token = client.csrf_token("/operator")
    response = client.post(
        f"/operator/payors/{payor.id}/designations",
        data={"csrf_token": token, "emails": emails_of(member_ids(payor).values())},
        content_type="multipart/form-data",
    )
    assert "Attach the signed form." in response.get_data(as_text=True)
    assert count(AdminDesignation) == 0
