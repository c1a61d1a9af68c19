"""Password sign-in, enrollment, sessions and their invalidation."""

import re

import pytest
import sqlalchemy as sa

from portal.accounts.models import RecoveryCode, User
from portal.companies.models import CompanyKind, Role
from portal.core.db import db
from portal.core.models import AuditEvent
from tests.factories import (
    PASSWORD,
    Authenticator,
    make_company,
    make_user,
    sign_in,
    step_up,
    totp_secret_on_page,
)

pytestmark = pytest.mark.usefixtures("database")


def actions() -> list[str]:
    return list(db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)))


def test_first_sign_in_enrolls_totp_then_shows_recovery_codes_once(client) -> None:
    company = make_company(CompanyKind.PAYEE)
    user, _ = make_user(company, enrolled=False)
    response = client.submit("/login", {"email": user.email.upper(), "password": PASSWORD})
    assert response.headers["Location"].endswith("/mfa/enroll")

    page = client.get("/mfa/enroll").get_data(as_text=True)
    secret = totp_secret_on_page(page)
    assert "<svg" in page, "a QR code is shown beside the key"
    phone = Authenticator(secret)
    response = client.submit("/mfa/enroll", {"code": phone.code()}, token_from="/mfa/enroll")
    assert response.status_code == 303, response.get_data(as_text=True)
    assert response.headers["Location"].endswith("/mfa/recovery-codes")

    # Until the codes are confirmed as saved, every page leads back to them.
    assert client.get("/dashboard").headers["Location"].endswith("/mfa/recovery-codes")
    page = client.get("/mfa/recovery-codes").get_data(as_text=True)
    codes = re.findall(r"<code>([0-9a-f]{4}(?:-[0-9a-f]{4}){3})</code>", page)
    assert len(codes) == 10
    refused = client.submit("/mfa/recovery-codes", {}, token_from="/mfa/recovery-codes")
    assert "Confirm that you have saved" in refused.get_data(as_text=True)
    done = client.submit("/mfa/recovery-codes", {"saved": "y"}, token_from="/mfa/recovery-codes")
    assert done.headers["Location"].endswith("/dashboard")
    assert client.get("/mfa/recovery-codes").status_code == 303, "never shown twice"
    assert client.get("/dashboard").status_code == 200
    db.session.expire_all()
    assert db.session.get(User, user.id).totp_secret == secret
    assert "accounts:mfa:enrolled" in actions()


def test_wrong_password_and_unknown_email_get_the_same_answer(client) -> None:
    user, _ = make_user(make_company())
    wrong = client.submit("/login", {"email": user.email, "password": "nope nope nope"})
    unknown = client.submit("/login", {"email": "ghost@example.com", "password": "nope nope"})
    for response in (wrong, unknown):
        assert response.status_code == 200
        assert "That email and password do not match an account." in response.get_data(as_text=True)
    assert actions().count("accounts:login:failed") == 2


def test_password_guessing_is_throttled_per_account(client) -> None:
    user, _phone = make_user(make_company())
    for _ in range(10):
        client.submit("/login", {"email": user.email, "password": "wrong password!"})
    response = client.submit("/login", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 429
    assert "Too many sign-in attempts" in response.get_data(as_text=True)
    assert "accounts:login:rate_limited" in actions()


def test_a_guess_that_also_breaks_the_request_is_still_counted(client, monkeypatch) -> None:
    """A wrong password whose request then fails (here: the audit log refuses the event)
    rolls back everything but its failure count, so breaking requests buys no guesses."""
    from portal.accounts import services

    record = services.audit.record

    def failing_record(action: str, **kwargs):
        if action == "accounts:login:failed":
            raise RuntimeError("the audit log refused the event")
        return record(action, **kwargs)

    user, _phone = make_user(make_company())
    monkeypatch.setattr(services.audit, "record", failing_record)
    for _ in range(10):
        response = client.submit("/login", {"email": user.email, "password": "wrong password!"})
        assert response.status_code == 500
    monkeypatch.setattr(services.audit, "record", record)
    response = client.submit("/login", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 429, "ten failures were counted though none was audited"
    assert "accounts:login:failed" not in actions(), "the rest of each request was rolled back"


def test_password_guessing_is_throttled_per_ip(client) -> None:
    for i in range(50):  # fifty different accounts, so no per-account limit trips first
        client.submit("/login", {"email": f"ghost{i}@example.com", "password": f"guess {i}"})
    other, _ = make_user(make_company())
    response = client.submit("/login", {"email": other.email, "password": PASSWORD})
    assert response.status_code == 429


def test_sign_in_needs_the_second_factor(client) -> None:
    user, phone = make_user(make_company())
    client.submit("/login", {"email": user.email, "password": PASSWORD})
    assert client.get("/dashboard").status_code == 303, "a password alone does not sign in"
    sign_in(client, user, phone)
    assert client.get("/dashboard").status_code == 200


def test_sign_in_rotates_the_session(client) -> None:
    user, phone = make_user(make_company())
    client.get("/login")
    before = client.get_cookie("session").value
    sign_in(client, user, phone)
    after = client.get_cookie("session").value
    assert before != after


def test_a_cookie_captured_before_logout_is_refused(app, client) -> None:
    user, phone = make_user(make_company())
    sign_in(client, user, phone)
    captured = client.get_cookie("session").value
    client.submit("/logout", {}, token_from="/dashboard")
    thief = app.test_client()
    thief.set_cookie("session", captured)
    assert thief.get("/dashboard").status_code == 303


def test_sign_out_everywhere_ends_other_browsers(app, client) -> None:
    user, phone = make_user(make_company())
    sign_in(client, user, phone)
    laptop = type(client)(app, app.response_class, use_cookies=True)
    sign_in(laptop, user, phone)
    assert laptop.get("/dashboard").status_code == 200
    client.submit("/account/sessions/revoke", {}, token_from="/account")
    assert laptop.get("/dashboard").status_code == 303
    assert client.get("/dashboard").status_code == 303
    assert "accounts:sessions:revoked" in actions()


def test_password_change_invalidates_old_cookies(app, client) -> None:
    user, phone = make_user(make_company())
    sign_in(client, user, phone)
    captured = client.get_cookie("session").value
    response = client.submit(
        "/account/password",
        {
            "current_password": PASSWORD,
            "password": "a brand new passphrase",
            "confirm": "a brand new passphrase",
        },
        token_from="/account",
    )
    assert response.status_code == 303
    thief = app.test_client()
    thief.set_cookie("session", captured)
    assert thief.get("/dashboard").status_code == 303


def test_remember_me_is_never_fresh_enough_for_step_up(app, client) -> None:
    user, phone = make_user(make_company())
    sign_in(client, user, phone, remember=True)
    remember = client.get_cookie("remember_token").value
    # A new browser session restored from the remember-me cookie alone:
    restored = type(client)(app, app.response_class, use_cookies=True)
    restored.set_cookie("remember_token", remember)
    assert restored.get("/dashboard").status_code == 200
    response = restored.submit("/mfa/recovery-codes/regenerate", {}, token_from="/account")
    assert response.status_code == 303
    assert "/verify" in response.headers["Location"]


def test_users_without_a_company_see_what_to_do(client) -> None:
    user, phone = make_user(None)
    sign_in(client, user, phone)
    assert "You do not belong to a company yet" in client.get("/dashboard").get_data(as_text=True)


def test_recovery_codes_are_stored_hashed(client) -> None:
    user, _ = make_user(make_company(), enrolled=False)
    client.submit("/login", {"email": user.email, "password": PASSWORD})
    secret = totp_secret_on_page(client.get("/mfa/enroll").get_data(as_text=True))
    client.submit("/mfa/enroll", {"code": Authenticator(secret).code()}, token_from="/mfa/enroll")
    page = client.get("/mfa/recovery-codes").get_data(as_text=True)
    shown = re.findall(r"<code>([0-9a-f-]{19})</code>", page)
    stored = db.session.scalars(sa.select(RecoveryCode.code_hash)).all()
    assert len(stored) == 10 and not set(shown) & set(stored)


def test_step_up_then_action(client) -> None:
    company = make_company()
    admin, phone = make_user(company, (Role.PAYMENTS_ADMIN,))
    sign_in(client, admin, phone)
    step_up(client, phone)
    response = client.submit("/mfa/recovery-codes/regenerate", {}, token_from="/account")
    assert response.headers["Location"].endswith("/mfa/recovery-codes")


def lands_on_sign_in(browser) -> bool:
    response = browser.get("/dashboard")
    return response.status_code == 303 and response.headers["Location"].startswith("/login")


def test_sign_out_everywhere_also_ends_a_remember_me_cookie(app, client) -> None:
    user, phone = make_user(make_company())
    phone_browser = type(client)(app, app.response_class, use_cookies=True)
    sign_in(phone_browser, user, phone, remember=True)
    remember = phone_browser.get_cookie("remember_token").value
    sign_in(client, user, phone)
    client.submit("/account/sessions/revoke", {}, token_from="/account")
    restored = type(client)(app, app.response_class, use_cookies=True)
    restored.set_cookie("remember_token", remember)  # the browser was closed and reopened
    assert lands_on_sign_in(restored)
    assert lands_on_sign_in(phone_browser)


def test_an_admins_mfa_reset_signs_the_teammate_out_everywhere(app, client) -> None:
    from portal.companies.models import CompanyKind, Role
    from tests.factories import membership_of, step_up

    payee = make_company(CompanyKind.PAYEE)
    admin, admin_phone = make_user(payee, (Role.PAYEE_ADMIN,))
    teammate, teammate_phone = make_user(payee)
    teammate_browser = type(client)(app, app.response_class, use_cookies=True)
    sign_in(teammate_browser, teammate, teammate_phone)
    assert teammate_browser.get("/dashboard").status_code == 200
    sign_in(client, admin, admin_phone)
    step_up(client, admin_phone)
    client.submit(
        f"/company/members/{membership_of(teammate, payee).id}/reset-mfa",
        {},
        token_from="/company/members",
    )
    assert lands_on_sign_in(teammate_browser)


def test_the_unknown_email_hash_is_made_at_the_first_attempt_and_once(
    app, client, test_env, tmp_path
) -> None:
    from tests.conftest import build_app

    assert "trestle.dummy_hash" not in build_app(test_env, str(tmp_path)).extensions, (
        "not at start-up"
    )
    app.extensions.pop("trestle.dummy_hash", None)
    client.submit("/login", {"email": "ghost@example.com", "password": "nope nope nope"})
    first = app.extensions["trestle.dummy_hash"]
    client.submit("/login", {"email": "ghost2@example.com", "password": "nope nope nope"})
    assert app.extensions["trestle.dummy_hash"] == first
