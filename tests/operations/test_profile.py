"""A payor's profile and its signed designation forms: operators edit and download, the
payor's Payments Admins read and download their own, every download is audited."""

import io

import pytest
import sqlalchemy as sa

from portal.companies.models import Company, CompanyKind, Role
from portal.core import tenancy
from portal.core.db import db
from portal.core.models import AuditEvent
from portal.operations import services
from portal.operations.models import AdminDesignation
from tests.factories import emails_of, make_company, make_user, sign_in

pytestmark = pytest.mark.usefixtures("database")

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PROFILE = {
    "legal_name": "Granite Works Construction LLC",
    "address_line1": "100 Congress Ave",
    "address_line2": "Suite 400",
    "city": "Austin",
    "region": "TX",
    "postal_code": "78701",
    "main_phone": "(512) 555-0100",
    "primary_contact_name": "Rosa Diaz",
    "primary_contact_email": "Rosa@Granite.example.com",
}


def audit_actions(prefix: str) -> list[str]:
    with tenancy.unscoped():
        return list(
            db.session.scalars(
                sa.select(AuditEvent.action)
                .where(AuditEvent.action.startswith(prefix))
                .order_by(AuditEvent.id)
            )
        )


def saved_profile(payor) -> dict[str, str | None]:
    db.session.expire_all()
    with tenancy.unscoped():
        company = db.session.get(Company, payor.id)
    return {name: getattr(company, name) for name in PROFILE}


def designate(client, payor, user_ids):
    token = client.csrf_token("/operator")
    response = client.post(
        f"/operator/payors/{payor.id}/designations",
        data={
            "csrf_token": token,
            "emails": emails_of(user_ids),
            "form_file": (io.BytesIO(PDF), "signed form.pdf"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    with tenancy.unscoped():
        return db.session.scalars(
            sa.select(AdminDesignation).order_by(AdminDesignation.id.desc())
        ).first()


def test_operator_saves_a_payors_profile_and_it_is_audited(client, payor) -> None:
    page = client.get(f"/operator/payors/{payor.id}/profile")
    assert page.status_code == 200 and 'id="profile-form"' in page.get_data(as_text=True)
    response = client.submit(
        f"/operator/payors/{payor.id}/profile", PROFILE, token_from="/operator"
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    assert saved_profile(payor) == {
        **PROFILE,
        "primary_contact_email": "rosa@granite.example.com",
    }
    assert audit_actions("operations:profile:") == ["operations:profile:updated"]
    with tenancy.unscoped():
        event = db.session.scalar(
            sa.select(AuditEvent).where(AuditEvent.action == "operations:profile:updated")
        )
    assert event.company_id == payor.id
    assert event.after["legal_name"] == PROFILE["legal_name"]
    # Saving the same values again changes nothing and records nothing.
    client.submit(f"/operator/payors/{payor.id}/profile", PROFILE, token_from="/operator")
    assert audit_actions("operations:profile:") == ["operations:profile:updated"]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"legal_name": ""}, "legal_name", "Enter the company&#39;s legal name."),
        ({"legal_name": "   "}, "legal_name", "Enter the company&#39;s legal name."),
        ({"region": "ZZ"}, "region", "Not a valid choice"),
        ({"postal_code": "7870"}, "postal_code", "Enter a ZIP code like 94107"),
        ({"main_phone": "call me"}, "main_phone", "Enter a phone number like"),
        ({"main_phone": "555-0100"}, "main_phone", "Enter a phone number like"),
        ({"primary_contact_email": "not-an-email"}, "primary_contact_email", "valid email"),
        ({"primary_contact_name": ""}, "primary_contact_name", "Enter the primary contact"),
        ({"primary_contact_email": ""}, "primary_contact_email", "Enter the primary contact"),
    ],
)
def test_bad_profile_input_gets_a_field_error_and_saves_nothing(
    client, payor, change, field, message
) -> None:
    response = client.submit(
        f"/operator/payors/{payor.id}/profile", {**PROFILE, **change}, token_from="/operator"
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f'id="{field}-error"' in body and message in body
    assert set(saved_profile(payor).values()) == {None}
    assert audit_actions("operations:profile:") == []


def test_only_operators_edit_profiles(client, app, payor, new_client) -> None:
    admin, phone = make_user(payor, (Role.PAYMENTS_ADMIN,))
    admin_client = new_client()
    sign_in(admin_client, admin, phone)
    assert admin_client.get(f"/operator/payors/{payor.id}/profile").status_code == 403
    response = admin_client.submit(
        f"/operator/payors/{payor.id}/profile", PROFILE, token_from="/dashboard"
    )
    assert response.status_code == 403
    assert set(saved_profile(payor).values()) == {None}


def test_payments_admins_read_their_own_profile(client, payor, new_client) -> None:
    client.submit(f"/operator/payors/{payor.id}/profile", PROFILE, token_from="/operator")
    admin, phone = make_user(payor, (Role.PAYMENTS_ADMIN,))
    admin_client = new_client()
    sign_in(admin_client, admin, phone)
    page = admin_client.get("/company/profile")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    for value in ("Granite Works Construction LLC", "Suite 400", "Austin, TX 78701", "Rosa Diaz"):
        assert value in body
    assert 'id="profile-form"' not in body and "Save profile" not in body


@pytest.mark.parametrize("role", [Role.DISBURSER, Role.VIEWER])
def test_other_payor_roles_do_not_see_the_profile(payor, new_client, role) -> None:
    user, phone = make_user(payor, (role,))
    member_client = new_client()
    sign_in(member_client, user, phone)
    assert member_client.get("/company/profile").status_code == 403


def test_the_profile_lists_the_forms_on_file(client, operator, payor) -> None:
    cfo, _ = make_user(payor)
    controller, _ = make_user(payor)
    designate(client, payor, [cfo.id, controller.id])
    body = client.get(f"/operator/payors/{payor.id}/profile").get_data(as_text=True)
    assert 'id="designation-forms"' in body
    assert operator.name in body and cfo.name in body and controller.name in body
    assert f"{len(PDF)} bytes" in body
    assert "/download" in body


def assert_is_a_safe_download(response, payor) -> None:
    assert response.status_code == 200
    assert response.data == PDF
    assert response.headers["Content-Type"] == "application/pdf"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment; filename=")
    assert f"designation-form-{payor.slug}-" in disposition and disposition.endswith(".pdf")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"


def test_operators_download_forms_and_every_download_is_audited(client, operator, payor) -> None:
    member, _ = make_user(payor)
    designation = designate(client, payor, [member.id])
    url = f"/operator/payors/{payor.id}/designations/{designation.id}/download"
    for _ in range(2):
        response = client.get(url)
        assert_is_a_safe_download(response, payor)
        response.close()
    with tenancy.unscoped():
        events = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "operations:designation:downloaded")
        ).all()
    assert len(events) == 2
    assert {(e.actor_user_id, e.company_id, e.object_id) for e in events} == {
        (operator.id, payor.id, str(designation.id))
    }


def test_a_form_is_reached_only_through_its_own_payor(client, payor) -> None:
    member, _ = make_user(payor)
    designation = designate(client, payor, [member.id])
    with tenancy.unscoped():
        other = services.create_payor("Other Co", "other-co", actor_user_id=None)
    db.session.commit()
    response = client.get(f"/operator/payors/{other.id}/designations/{designation.id}/download")
    assert response.status_code == 404
    assert audit_actions("operations:designation:downloaded") == []


def test_payments_admins_download_their_own_forms_only(client, payor, new_client) -> None:
    admin, phone = make_user(payor, (Role.PAYMENTS_ADMIN,))
    own = designate(client, payor, [admin.id])
    with tenancy.unscoped():
        other = services.create_payor("Other Co", "other-co", actor_user_id=None)
    db.session.commit()
    other_member, _ = make_user(other)
    foreign = designate(client, other, [other_member.id])
    admin_client = new_client()
    sign_in(admin_client, admin, phone)
    page = admin_client.get("/company/profile").get_data(as_text=True)
    assert f"/company/designations/{own.id}/download" in page
    assert f"/company/designations/{foreign.id}/download" not in page
    response = admin_client.get(f"/company/designations/{own.id}/download")
    assert_is_a_safe_download(response, payor)
    response.close()
    assert admin_client.get(f"/company/designations/{foreign.id}/download").status_code == 404
    with tenancy.unscoped():
        events = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "operations:designation:downloaded")
        ).all()
    assert [(e.actor_user_id, e.object_id) for e in events] == [(admin.id, str(own.id))]


@pytest.mark.parametrize(
    ("kind", "role"),
    [(CompanyKind.PAYOR, Role.DISBURSER), (CompanyKind.PAYEE, Role.PAYEE_ADMIN)],
)
def test_no_one_else_downloads_forms(client, payor, new_client, kind, role) -> None:
    member, _ = make_user(payor)
    designation = designate(client, payor, [member.id])
    company = payor if kind is CompanyKind.PAYOR else make_company(kind)
    user, phone = make_user(company, (role,))
    someone = new_client()
    sign_in(someone, user, phone)
    assert someone.get(f"/company/designations/{designation.id}/download").status_code == 403
    assert (
        someone.get(
            f"/operator/payors/{payor.id}/designations/{designation.id}/download"
        ).status_code
        == 403
    )
    assert audit_actions("operations:designation:downloaded") == []
