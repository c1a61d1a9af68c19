"""Error pages: the heading once, and advice that fits the side the user works on."""

import pytest

from portal.companies.models import CompanyKind, Role
from portal.core.views import ERROR_ADVICE, ERROR_TITLES
from tests.factories import make_company, make_user, sign_in

pytestmark = pytest.mark.usefixtures("database")

TITLE = ERROR_TITLES[403]


def test_the_error_page_states_its_heading_once(client) -> None:
    user, phone = make_user(make_company(CompanyKind.PAYOR), (Role.VIEWER,))
    sign_in(client, user, phone)
    response = client.get("/operator")
    body = response.get_data(as_text=True)
    assert response.status_code == 403
    main = body.split('id="main"', 1)[-1]
    assert main.count(TITLE) == 1, "the page heading is not repeated in the error box"
    assert f"<h1>{TITLE}</h1>" in main


def test_the_htmx_alert_keeps_its_own_heading(client) -> None:
    user, phone = make_user(make_company(CompanyKind.PAYOR), (Role.VIEWER,))
    sign_in(client, user, phone)
    response = client.get("/operator", headers={"HX-Request": "true"})
    body = response.get_data(as_text=True)
    assert response.status_code == 403 and "<html" not in body
    assert body.count(TITLE) == 1 and f"<h2>{TITLE}</h2>" in body


@pytest.mark.parametrize(
    ("kind", "role", "advice", "not_advice"),
    [
        (CompanyKind.PAYOR, Role.VIEWER, "Payments Admins", "Payee Payments Admin"),
        (CompanyKind.PAYEE, Role.PAYEE_ADMIN, "Payee Payments Admin", "Payments Admins"),
    ],
)
def test_403_advice_fits_the_users_side(client, kind, role, advice, not_advice) -> None:
    user, phone = make_user(make_company(kind), (role,))
    sign_in(client, user, phone)
    body = client.get("/operator").get_data(as_text=True)
    assert ERROR_ADVICE[(403, kind.value)] in body.replace("&#39;", "'")
    assert advice in body and not_advice not in body


def test_403_advice_without_a_company_is_generic(app) -> None:
    from portal.core.views import render_error

    with app.test_request_context("/somewhere"):
        body = render_error(403).get_data(as_text=True)
    assert ERROR_ADVICE[403] in body.replace("&#39;", "'")
