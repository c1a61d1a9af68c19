"""Fixtures of the operator console's tests: a signed-in, freshly verified operator and the
payor they work on."""

import pytest

from portal.companies.models import CompanyKind, Role
from portal.core import tenancy
from portal.core.db import db
from portal.operations import services
from tests.factories import make_company, make_user, sign_in, step_up


@pytest.fixture
def operator(client):
    user, phone = make_user(make_company(CompanyKind.OPERATOR), (Role.OPERATOR,))
    sign_in(client, user, phone)
    step_up(client, phone)
    return user


@pytest.fixture
def payor(operator):
    with tenancy.unscoped():
        company = services.create_payor("Granite Works", "granite-works", actor_user_id=operator.id)
    db.session.commit()
    return company


@pytest.fixture
def new_client(app):
    """Another browser, with its own cookies."""
    return lambda: type(app.test_client())(app, app.response_class, use_cookies=True)
