"""Payments users' sessions end after a time idle; the remember-me cookie never outlives its
session row."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.accounts.models import UserSession
from portal.companies.models import CompanyKind, Role
from portal.config import REMEMBER_LIFETIME
from portal.core.db import db, utcnow
from tests.factories import make_company, make_user, sign_in

pytestmark = pytest.mark.usefixtures("database")


def go_idle(user, minutes: int) -> None:
    db.session.execute(
        sa.update(UserSession)
        .where(UserSession.user_id == user.id)
        .values(last_seen_at=utcnow() - timedelta(minutes=minutes))
    )
    db.session.commit()


def test_a_payments_user_is_signed_out_after_thirty_idle_minutes(client) -> None:
    user, phone = make_user(make_company(CompanyKind.PAYOR), (Role.DISBURSER,))
    sign_in(client, user, phone)
    go_idle(user, 29)
    assert client.get("/dashboard").status_code == 200, "29 minutes is not yet idle"
    go_idle(user, 31)
    response = client.get("/dashboard")
    assert response.status_code == 303 and "/login" in response.headers["Location"]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "signed out after 30 minutes without activity" in page
    db.session.expire_all()
    assert db.session.scalar(sa.select(UserSession.revoked_at)) is not None
    assert client.get("/dashboard").status_code == 303, "the session row is over"


def test_a_member_without_a_role_keeps_their_session(client) -> None:
    user, phone = make_user(make_company(CompanyKind.PAYEE))
    sign_in(client, user, phone)
    go_idle(user, 90)
    assert client.get("/dashboard").status_code == 200


def test_the_idle_limit_is_configurable(app, client) -> None:
    user, phone = make_user(make_company(CompanyKind.PAYOR), (Role.PAYMENTS_ADMIN,))
    sign_in(client, user, phone)
    go_idle(user, 10)
    app.config["SESSION_IDLE_MINUTES"] = 5
    try:
        assert client.get("/dashboard").status_code == 303
    finally:
        app.config["SESSION_IDLE_MINUTES"] = 30


def test_the_remember_me_cookie_lasts_exactly_as_long_as_its_session_row(client) -> None:
    user, phone = make_user(make_company(CompanyKind.PAYEE))
    sign_in(client, user, phone, remember=True)
    cookie = client.get_cookie("remember_token")
    row = db.session.scalar(sa.select(UserSession).where(UserSession.user_id == user.id))
    assert row.expires_at - row.created_at == REMEMBER_LIFETIME
    assert cookie is not None and cookie.expires is not None
    assert cookie.expires <= row.expires_at + timedelta(seconds=5)


@pytest.mark.parametrize(
    ("kind", "role", "path"),
    [
        (CompanyKind.PAYOR, Role.PAYMENTS_ADMIN, "/company/members"),
        (CompanyKind.OPERATOR, Role.OPERATOR, "/operator"),
    ],
)
def test_the_request_that_records_activity_keeps_the_users_roles(client, kind, role, path) -> None:
    # Recording activity commits mid-request; the roles loaded before must not be lost (they
    # were reloaded outside the user's company and came back empty: a 403 once a minute).
    user, phone = make_user(make_company(kind), (role,))
    sign_in(client, user, phone)
    for _ in range(2):
        go_idle(user, 2)
        assert client.get(path).status_code == 200
        db.session.expire_all()
        seen = db.session.scalar(sa.select(UserSession.last_seen_at))
        assert utcnow() - seen < timedelta(minutes=1), "the activity was recorded"
