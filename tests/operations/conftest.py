"""Fixtures of the operator console's tests: a signed-in, freshly verified operator and the
payor they work on."""

import pytest

from portal.core import tenancy
from portal.core.db import db
from portal.operations import services
from tests.factories import sign_in_fresh_operator


@pytest.fixture
def operator(client):
    return sign_in_fresh_operator(client)[0]


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
