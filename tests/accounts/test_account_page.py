"""The account page offers to link a sign-on account only where the company has SSO."""

import pytest

from portal.companies.models import CompanyKind, Role
from portal.core import tenancy
from portal.core.db import db
from portal.sso.models import SsoConnection
from tests.factories import make_company, make_user, sign_in

pytestmark = pytest.mark.usefixtures("database")

BUTTON = "Link my company sign-on account"


def add_sso(company, *, enabled: bool) -> None:
    with tenancy.unscoped():
        db.session.add(
            SsoConnection(
                company_id=company.id,
                issuer="https://idp.example.com",
                client_id="trestle",
                client_secret="secret",
                allowed_domains="example.com",
                enabled=enabled,
            )
        )
    db.session.commit()


@pytest.mark.parametrize(("sso", "shown"), [(None, False), ("disabled", False), ("enabled", True)])
def test_the_link_button_appears_only_with_sso(client, sso, shown) -> None:
    company = make_company(CompanyKind.PAYOR)
    if sso:
        add_sso(company, enabled=sso == "enabled")
    user, phone = make_user(company, (Role.PAYMENTS_ADMIN,))
    sign_in(client, user, phone)
    body = client.get("/account").get_data(as_text=True)
    assert (BUTTON in body) is shown
    assert "Single sign-on" in body
