"""Password reset by an emailed, single-use, expiring link; MFA still applies afterwards."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.accounts.models import PasswordResetToken
from portal.core.db import db, utcnow
from portal.notifications.models import EmailMessage
from tests.conftest import TIER
from tests.factories import make_company, make_user, sign_in

pytestmark = pytest.mark.usefixtures("database")
NEW = "a completely new passphrase"


def reset_link(smtp, email: str) -> str:
    """The link in the email: as the SMTP server received it (fast tier, sent in-process) or
    as queued for the worker processes (real tier)."""
    if TIER == "real":
        [body] = db.session.scalars(
            sa.select(EmailMessage.text_body).where(
                EmailMessage.to_address == email, EmailMessage.template == "password_reset"
            )
        )
    else:
        [message] = smtp.to(email)
        body = message.get_body(("plain",)).get_content()
    return re.search(r"http://localhost(/password/reset/\S+)", body).group(1)


def test_reset_by_email_link_then_mfa_still_required(app, client, smtp) -> None:
    user, _phone = make_user(make_company())
    response = client.submit(
        "/password/forgot", {"email": user.email}, token_from="/password/forgot"
    )
    assert "we have emailed it a link" in response.get_data(as_text=True)
    path = reset_link(smtp, user.email)
    response = client.submit(path, {"password": NEW, "confirm": NEW}, token_from=path)
    assert response.headers["Location"].endswith("/login")
    response = client.submit("/login", {"email": user.email, "password": NEW})
    assert response.headers["Location"].endswith("/login/code"), "MFA is still required"
    assert client.get("/dashboard").status_code == 303
    # The link works once.
    assert client.get(path).status_code == 404


def test_unknown_addresses_get_the_same_answer_and_no_email(client, smtp) -> None:
    response = client.submit(
        "/password/forgot", {"email": "nobody@example.com"}, token_from="/password/forgot"
    )
    assert "we have emailed it a link" in response.get_data(as_text=True)
    assert smtp.messages == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(EmailMessage)) == 0


def test_an_expired_link_is_refused(client, smtp) -> None:
    user, _ = make_user(make_company())
    client.submit("/password/forgot", {"email": user.email}, token_from="/password/forgot")
    path = reset_link(smtp, user.email)
    db.session.execute(sa.update(PasswordResetToken).values(expires_at=utcnow() - timedelta(1)))
    db.session.commit()
    response = client.get(path)
    assert response.status_code == 404
    assert "expired or was already used" in response.get_data(as_text=True)


def test_a_reset_signs_out_existing_sessions(app, client, smtp) -> None:
    user, phone = make_user(make_company())
    sign_in(client, user, phone)
    other = type(client)(app, app.response_class, use_cookies=True)
    other.submit("/password/forgot", {"email": user.email}, token_from="/password/forgot")
    path = reset_link(smtp, user.email)
    other.submit(path, {"password": NEW, "confirm": NEW}, token_from=path)
    assert client.get("/dashboard").status_code == 303


@pytest.mark.parametrize(
    ("password", "confirm", "message"),
    [("short", "short", "at least 12"), (NEW, NEW + "x", "do not match")],
)
def test_weak_or_mismatched_passwords_change_nothing(
    client, smtp, password, confirm, message
) -> None:
    user, _ = make_user(make_company())
    client.submit("/password/forgot", {"email": user.email}, token_from="/password/forgot")
    path = reset_link(smtp, user.email)
    response = client.submit(path, {"password": password, "confirm": confirm}, token_from=path)
    assert message in response.get_data(as_text=True)
    assert client.get(path).status_code == 200, "the link still works after a refused attempt"


def test_a_spoofed_host_header_cannot_redirect_links_in_emails(app) -> None:
    from portal.core.urls import external_url

    with app.test_request_context("/password/forgot", headers={"Host": "evil.example.net"}):
        link = external_url("accounts.reset_password", token="abc")
    assert link == app.config["PORTAL_BASE_URL"] + "/password/reset/abc"
