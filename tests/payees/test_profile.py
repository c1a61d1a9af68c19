"""The payee profile: W-9 facts checked and kept once (the tax id encrypted and masked), the
certification signed in the portal, and a new tax id or legal name reviewed again."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa

from portal.companies.models import CompanyKind, Role
from portal.core import tenancy
from portal.core.db import db
from portal.core.models import AuditEvent
from portal.payees.models import PayeeProfile, ProfileStatus
from tests.factories import make_company, make_paying_payor, make_user, sign_in, sign_in_fresh
from tests.payees.helpers import PROFILE, certify, payee_admin, save_profile

pytestmark = pytest.mark.usefixtures("database")


def profile_of(company) -> PayeeProfile | None:
    db.session.expire_all()
    with tenancy.unscoped():
        return db.session.scalar(
            sa.select(PayeeProfile).where(PayeeProfile.company_id == company.id)
        )


def test_a_payee_admin_fills_the_profile_and_signs_the_certification(client):
    payee, user, _ = payee_admin(client)
    page = client.get("/payee/profile").get_data(as_text=True)
    assert "No profile yet." in page and 'value="Ironline Steel"' in page
    response = save_profile(client)
    assert response.status_code == 303, response.get_data(as_text=True)
    page = client.get("/payee/profile").get_data(as_text=True)
    assert "Profile saved. Sign the W-9 certification next." in page
    assert "•••••6789" in page and "123456789" not in page and "3456789" not in page
    assert "Under penalties of perjury" in page
    profile = profile_of(payee)
    assert profile.status is ProfileStatus.NOT_CERTIFIED and profile.tin == "123456789"
    with tenancy.unscoped():
        raw = db.session.execute(sa.text("SELECT tin FROM payee_profile")).scalar()
    assert "123456789" not in raw, "the tax id is encrypted at rest"
    assert certify(client).status_code == 303
    profile = profile_of(payee)
    assert profile.status is ProfileStatus.COMPLETE
    assert (profile.certified_name, profile.certified_title) == ("Ines Ironline", "Controller")
    assert profile.certified_by_user_id == user.id
    page = client.get("/payee/profile").get_data(as_text=True)
    assert "Signed by Ines Ironline, Controller" in page and "Under penalties" not in page
    with tenancy.unscoped():
        audit = " ".join(str(e.after) for e in db.session.scalars(sa.select(AuditEvent)).all())
    assert "payees:profile" not in audit  # the actions are in their own column
    assert "123456789" not in audit and "6789" in audit


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"tin": "12-345678"}, "Enter a valid EIN"),
        ({"tin": "00-0000000"}, "Enter a valid EIN"),
        ({"tin_type": "ssn", "tin": "078-05-1120"}, "Only an individual or sole proprietor"),
        (
            {"tin_type": "itin", "tin": "123-45-6789", "tax_classification": "individual"},
            "valid ITIN",
        ),
        ({"postal_code": "9460"}, "ZIP code"),
        ({"region": "XX"}, "Not a valid choice"),
        ({"entity_type": "empire"}, "Not a valid choice"),
        ({"exempt_payee_code": "14"}, "Exempt payee codes are 1 to 13"),
        ({"fatca_code": "Z"}, "A to M"),
        ({"remit_to_email": "nobody"}, "payment notices go to"),
        ({"legal_name": "   "}, "Enter the legal name"),
        ({"tin": "١٢٣٤٥٦٧٨٩"}, "Enter a valid EIN"),
    ],
)
def test_bad_profile_input_is_refused_and_saves_nothing(client, changes, message):
    payee, _, _ = payee_admin(client)
    response = save_profile(client, **changes)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert profile_of(payee) is None


def test_an_individual_may_give_an_ssn(client):
    payee, _, _ = payee_admin(client)
    response = save_profile(
        client,
        entity_type="sole_proprietorship",
        tax_classification="individual",
        tin_type="ssn",
        tin="078-05-1121",
    )
    assert response.status_code == 303
    assert profile_of(payee).tin_last4 == "1121"


def test_a_new_tax_id_or_legal_name_voids_the_certification_and_is_a_new_identity(client):
    payee, _, _ = payee_admin(client)
    save_profile(client)
    certify(client)
    assert profile_of(payee).identity_version == 1
    # A blank tax id keeps the one on file; a new address is not a new identity.
    assert save_profile(client, tin="", city="Berkeley").status_code == 303
    profile = profile_of(payee)
    assert profile.city == "Berkeley" and profile.tin == "123456789"
    assert profile.identity_version == 1 and profile.certified_at is not None
    assert save_profile(client, tin="98-7654321", city="Berkeley").status_code == 303
    profile = profile_of(payee)
    assert profile.identity_version == 2 and profile.identity_changed_at is not None
    assert profile.certified_at is None, "the certification was of the old tax id"
    certify(client)
    assert (
        save_profile(
            client, tin="", city="Berkeley", legal_name="Ironline Holdings LLC"
        ).status_code
        == 303
    )
    profile = profile_of(payee)
    assert profile.identity_version == 3 and profile.certified_at is None
    with tenancy.unscoped():
        changes = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "payees:profile:identity_changed")
        ).all()
    assert [c.after["tin_last4"] for c in changes] == ["4321", "4321"]
    assert changes[0].before["tin_last4"] == "6789"


def test_saving_the_profile_needs_a_fresh_code(client):
    payee = make_company(CompanyKind.PAYEE)
    user, phone = make_user(payee, (Role.PAYEE_ADMIN,))
    sign_in(client, user, phone)
    with client.session_transaction() as session:
        session["mfa_at"] = 0  # the login's proof has gone stale
    response = save_profile(client)
    assert response.status_code in (302, 303) and "/verify" in response.headers["Location"]
    assert profile_of(payee) is None, "held until the code is given, not saved"


def test_a_w9_pdf_is_checked_kept_and_downloaded(client):
    payee, _, _ = payee_admin(client)
    save_profile(client)
    refused = client.submit(
        "/payee/profile/w9",
        {"w9_file": (io.BytesIO(b"MZ\x90\x00 not a pdf"), "w9.pdf")},
        token_from="/payee/profile",
        content_type="multipart/form-data",
    )
    assert refused.status_code == 400 and "must be one of: PDF" in refused.get_data(as_text=True)
    assert profile_of(payee).w9_file_id is None
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    done = client.submit(
        "/payee/profile/w9",
        {"w9_file": (io.BytesIO(pdf), "w9.pdf")},
        token_from="/payee/profile",
        content_type="multipart/form-data",
    )
    assert done.status_code == 303
    download = client.get("/payee/profile/w9")
    assert download.status_code == 200 and download.data == pdf
    assert "attachment" in download.headers["Content-Disposition"]
    download.close()


def test_only_payee_admins_open_the_profile(client):
    payor = make_paying_payor()
    sign_in_fresh(client, payor, (Role.PAYMENTS_ADMIN,))
    assert client.get("/payee/profile").status_code == 403
    contact = client.application.test_client()  # an invoice contact: no role
    user, phone = make_user(make_company(CompanyKind.PAYEE), ())
    sign_in(contact, user, phone)
    assert contact.get("/payee/profile").status_code == 403
    assert contact.get("/payee/bank-accounts").status_code == 403


def test_the_profile_page_decrypts_nothing(client, app):
    payee_admin(client)
    save_profile(client)
    from portal.core import crypto

    calls = []
    original = crypto.decrypt
    crypto.decrypt = lambda token: calls.append(1) or original(token)
    try:
        assert client.get("/payee/profile").status_code == 200
    finally:
        crypto.decrypt = original
    assert calls == []
    assert PROFILE["tin"]  # the tax id is never sent back to the browser
