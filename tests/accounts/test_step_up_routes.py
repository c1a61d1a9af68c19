"""Every action that changes money or identity data asks for a fresh code first."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from portal.core import tenancy
from portal.core.db import db
from portal.core.models import AuditEvent
from portal.invoicing import services as invoicing
from portal.payment_settings import services as settings
from tests.factories import (
    make_company,
    make_paying_payor,
    make_user,
    sign_in,
    sign_in_fresh_admin,
)

pytestmark = pytest.mark.usefixtures("database")


def go_stale(client) -> None:
    with client.session_transaction() as session:
        session["mfa_at"] = 0


def audit_count() -> int:
    with tenancy.unscoped():
        return db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))


@pytest.fixture
def payor_world(client):
    payor = make_paying_payor()
    admin, _ = sign_in_fresh_admin(client, payor)
    with tenancy.unscoped():
        entity = settings.save_entity(
            payor,
            settings.EntityInput(
                legal_name="Granite Works LLC",
                dba=None,
                address_line1="1 Quarry Rd",
                address_line2=None,
                city="Barre",
                region="VT",
                postal_code="05641",
                incorporation_state="DE",
                ein="12-3456789",
            ),
            actor_user_id=admin.id,
        )
        project = invoicing.create_project(
            payor,
            name="Quarry",
            number="Q-1",
            address_line1="1 Quarry Rd",
            city="Barre",
            region="VT",
            postal_code="05641",
            actor_user_id=admin.id,
        )
    db.session.commit()
    return payor, entity, project


STALE_PAYOR_ACTIONS = [
    ("Save the payment controls", "/settings/payments/controls", {"funding_account_mode": "x"}),
    ("Save a business entity", "/settings/payments/entities", {"legal_name": "X"}),
    ("Add an owner or controller", "/settings/payments/entities/{entity}/people", {}),
    ("Turn Pay on or off for a project", "/projects/{project}/pay", {"enabled": "off"}),
]


@pytest.mark.parametrize(("action", "path", "data"), STALE_PAYOR_ACTIONS)
def test_money_settings_ask_for_a_fresh_code(client, payor_world, action, path, data) -> None:
    _payor, entity, project = payor_world
    go_stale(client)
    before = audit_count()
    response = client.submit(
        path.format(entity=entity.id, project=project.id), data, token_from="/dashboard"
    )
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/verify?"), action
    assert action in client.get(response.headers["Location"]).get_data(as_text=True)
    assert audit_count() == before, "nothing changed before the code"


def test_the_operators_feature_switches_ask_for_a_fresh_code(client) -> None:
    from portal.companies.models import CompanyKind, Role

    operator, phone = make_user(make_company(CompanyKind.OPERATOR), (Role.OPERATOR,))
    payor = make_paying_payor()
    sign_in(client, operator, phone)
    go_stale(client)
    before = audit_count()
    response = client.submit(
        f"/operator/payors/{payor.id}/features/lien_waivers",
        {"enabled": "on"},
        token_from="/dashboard",
    )
    assert response.headers["Location"].startswith("/verify?")
    assert audit_count() == before
