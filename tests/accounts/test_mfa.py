"""TOTP codes: replay refusal, clock drift, rate limits, recovery codes, step-up, resets."""

import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask

from portal.accounts import services
from portal.accounts.models import User
from portal.companies.models import CompanyKind, Role
from portal.core.db import db
from portal.core.errors import InvalidInput
from portal.core.models import AuditEvent
from portal.core.ratelimit import ThrottleEvent
from tests.conftest import TIER, PortalClient
from tests.factories import (
    PASSWORD,
    Authenticator,
    make_company,
    make_user,
    membership_of,
    oathtool_code,
    sign_in,
    step_up,
    totp_secret_on_page,
)

pytestmark = pytest.mark.usefixtures("database")


def actions() -> list[str]:
    return list(db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)))


def start_login(client, user) -> None:
    response = client.submit("/login", {"email": user.email, "password": PASSWORD})
    assert response.headers["Location"].endswith("/login/code")


def submit_code(client, code: str):
    return client.submit("/login/code", {"code": code}, token_from="/login/code")


def test_a_used_code_is_refused(app: Flask, client) -> None:
    user, phone = make_user(make_company())
    code = phone.code()
    start_login(client, user)
    assert submit_code(client, code).status_code == 303
    other = PortalClient(app, app.response_class, use_cookies=True)
    start_login(other, user)
    response = submit_code(other, code)
    assert response.status_code == 200
    assert "That code was already used" in response.get_data(as_text=True)


def test_codes_from_an_earlier_step_are_refused_after_a_later_one(app, client) -> None:
    user, phone = make_user(make_company())
    step = phone.current_step()
    start_login(client, user)
    assert submit_code(client, oathtool_code(phone.secret, step + 1)).status_code == 303
    other = PortalClient(app, app.response_class, use_cookies=True)
    start_login(other, user)
    assert "already used" in submit_code(other, oathtool_code(phone.secret, step)).get_data(
        as_text=True
    )


def test_a_code_from_a_skewed_clock_gets_its_own_message_and_counts(client) -> None:
    user, phone = make_user(make_company())
    start_login(client, user)
    response = submit_code(client, phone.stale_code(steps_away=5))
    assert "clock is out of sync" in response.get_data(as_text=True)
    failures = db.session.scalars(
        sa.select(AuditEvent.after).where(AuditEvent.action == "accounts:mfa:failed")
    ).all()
    assert failures == [{"reason": "out_of_sync", "purpose": "login"}]


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "000000"])
def test_malformed_or_wrong_codes_are_refused(client, code: str) -> None:
    user, _ = make_user(make_company())
    start_login(client, user)
    response = submit_code(client, code)
    assert response.status_code == 200
    assert client.get("/dashboard").status_code == 303


def test_rate_limit_per_user_refuses_even_a_correct_code(app, client) -> None:
    user, phone = make_user(make_company())
    start_login(client, user)
    for _ in range(5):
        submit_code(client, "000000")
    response = submit_code(client, phone.code())
    assert "Too many incorrect codes" in response.get_data(as_text=True)
    assert client.get("/dashboard").status_code == 303
    assert "accounts:mfa:rate_limited" in actions()


def test_rate_limit_per_ip(app) -> None:
    users = [make_user(make_company()) for _ in range(3)]
    for i in range(10):
        attacker = PortalClient(app, app.response_class, use_cookies=True)
        user, _ = users[i % 3]
        start_login(attacker, user)
        submit_code(attacker, "000000")
    fresh, phone = make_user(make_company())
    victim = PortalClient(app, app.response_class, use_cookies=True)
    start_login(victim, fresh)
    assert "Too many incorrect codes" in submit_code(victim, phone.code()).get_data(as_text=True)
    elsewhere = PortalClient(app, app.response_class, use_cookies=True)
    elsewhere.environ_base["REMOTE_ADDR"] = "10.9.8.7"
    start_login(elsewhere, fresh)
    assert submit_code(elsewhere, phone.code()).status_code == 303


def test_recovery_code_signs_in_once(app, client) -> None:
    user, _ = make_user(make_company())
    codes = services.regenerate_recovery_codes(user, reason="test")
    services.confirm_recovery_codes_saved(user)
    db.session.commit()
    start_login(client, user)
    response = client.submit(
        "/login/recovery",
        {"code": codes[0].upper().replace("-", " ")},
        token_from="/login/recovery",
    )
    assert response.status_code == 303
    other = PortalClient(app, app.response_class, use_cookies=True)
    start_login(other, user)
    again = other.submit("/login/recovery", {"code": codes[0]}, token_from="/login/recovery")
    assert "not valid or was already used" in again.get_data(as_text=True)
    assert "accounts:mfa:recovery_code_used" in actions()


def test_step_up_is_asked_for_htmx_requests_with_hx_redirect(client) -> None:
    user, phone = make_user(make_company())
    sign_in(client, user, phone)
    with client.session_transaction() as session:
        session["mfa_at"] = 0  # the verification is long past
    response = client.submit(
        "/mfa/recovery-codes/regenerate",
        {},
        htmx=True,
        token_from="/account",
        headers={"HX-Current-URL": "http://localhost/account"},
    )
    assert response.status_code == 204
    assert response.headers["HX-Redirect"].startswith("/verify?next=/account")
    step_up(client, phone)
    response = client.submit("/mfa/recovery-codes/regenerate", {}, htmx=True, token_from="/account")
    assert response.headers["HX-Redirect"] == "/mfa/recovery-codes"


def test_ten_failed_step_ups_sign_the_user_out(client) -> None:
    user, phone = make_user(make_company())
    sign_in(client, user, phone)
    for _ in range(10):
        # Clear the per-user code limit so the step-up counter is what ends the session.
        db.session.execute(sa.delete(ThrottleEvent))
        db.session.commit()
        response = client.submit("/verify", {"code": "000000"}, token_from="/verify")
    assert response.headers["Location"].endswith("/login")
    assert client.get("/dashboard").status_code == 303


def test_payee_admin_resets_a_teammates_mfa(client, smtp) -> None:
    payee = make_company(CompanyKind.PAYEE)
    admin, phone = make_user(payee, (Role.PAYEE_ADMIN,))
    teammate, _ = make_user(payee)
    sign_in(client, admin, phone)
    step_up(client, phone)
    membership = membership_of(teammate, payee)
    response = client.submit(
        f"/company/members/{membership.id}/reset-mfa", {}, token_from="/company/members"
    )
    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(User, teammate.id).totp_secret is None
    assert "accounts:mfa:reset" in actions()
    if TIER != "real":
        [mail] = smtp.to(teammate.email)
        assert "two-step verification was reset" in mail["Subject"]


def test_payor_users_cannot_reset_each_others_mfa(client) -> None:
    payor = make_company(CompanyKind.PAYOR)
    admin, phone = make_user(payor, (Role.PAYMENTS_ADMIN,))
    teammate, _ = make_user(payor)
    sign_in(client, admin, phone)
    step_up(client, phone)
    membership = membership_of(teammate, payor)
    response = client.submit(
        f"/company/members/{membership.id}/reset-mfa", {}, token_from="/company/members"
    )
    assert response.status_code == 403


def test_operator_resets_a_payor_users_mfa(client) -> None:
    operators = make_company(CompanyKind.OPERATOR)
    operator, phone = make_user(operators, (Role.OPERATOR,))
    payor_user, _ = make_user(make_company(CompanyKind.PAYOR), (Role.DISBURSER,))
    payee_user, _ = make_user(make_company(CompanyKind.PAYEE))
    sign_in(client, operator, phone)
    step_up(client, phone)
    assert payor_user.email in client.get(f"/operator/users?q={payor_user.email}").get_data(
        as_text=True
    )
    response = client.submit(
        f"/operator/users/{payor_user.id}/reset-mfa", {}, token_from="/operator/users"
    )
    assert response.status_code == 303
    # Payee users are their own admin's to reset, not an operator's.
    assert (
        client.submit(
            f"/operator/users/{payee_user.id}/reset-mfa", {}, token_from="/operator/users"
        ).status_code
        == 404
    )


def test_non_operators_cannot_reach_the_console(client) -> None:
    user, phone = make_user(make_company(), (Role.PAYMENTS_ADMIN,))
    sign_in(client, user, phone)
    assert client.get("/operator/users").status_code == 403


@pytest.mark.committed
def test_the_database_holds_no_totp_secret_or_recovery_code_in_plain_text(app) -> None:
    user, phone = make_user(make_company())
    codes = services.regenerate_recovery_codes(db.session.get(User, user.id), reason="test")
    db.session.commit()
    dump = database_dump(app)
    assert user.email in dump, "the dump is real and holds the user's row"
    assert phone.secret not in dump
    for code in codes:
        assert code not in dump and code.replace("-", "") not in dump


def database_dump(app: Flask) -> str:
    """The whole database as SQL text: pg_dump on PostgreSQL, iterdump on SQLite."""
    if TIER == "real":
        url = app.config["SQLALCHEMY_DATABASE_URI"].replace("postgresql+psycopg", "postgresql")
        return subprocess.run(
            ["pg_dump", "--data-only", url], capture_output=True, text=True, check=True
        ).stdout
    connection = db.engine.raw_connection()
    try:
        return "\n".join(connection.driver_connection.iterdump())
    finally:
        connection.close()


@pytest.mark.real
@pytest.mark.committed
def test_ten_parallel_submissions_of_one_code_let_exactly_one_through(app) -> None:
    user, phone = make_user(make_company())
    user_id, code = user.id, phone.code()
    barrier = threading.Barrier(10)

    def attempt(_: int) -> str:
        with app.app_context():
            account = db.session.get(User, user_id)
            barrier.wait()
            result = services.check_totp(account, code)
            db.session.commit()
            return result.value

    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(attempt, range(10)))
    assert sorted(results) == ["ok"] + ["reused"] * 9


@pytest.mark.real
@pytest.mark.committed
def test_a_recovery_code_used_in_parallel_works_once(app) -> None:
    user, _ = make_user(make_company())
    user_id = user.id
    codes = services.regenerate_recovery_codes(db.session.get(User, user_id), reason="test")
    db.session.commit()
    barrier = threading.Barrier(8)

    def attempt(_: int) -> bool:
        with app.app_context():
            account = db.session.get(User, user_id)
            barrier.wait()
            try:
                services.use_recovery_code(account, codes[0], "127.0.0.1")
                return True
            except (InvalidInput, services.TooManyAttempts):
                # Only a refusal (used, or too many failures): a database error fails the test.
                return False
            finally:
                db.session.commit()

    with ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(attempt, range(8))) == 1


def test_oathtool_and_pyotp_agree(client) -> None:
    import pyotp

    _, phone = make_user(make_company())
    step = phone.current_step()
    assert oathtool_code(phone.secret, step) == pyotp.TOTP(phone.secret).at(step * 30)
    assert subprocess.run(["oathtool", "--version"], capture_output=True).returncode == 0


def test_a_secret_seen_by_someone_with_the_password_is_never_the_one_enrolled(app) -> None:
    """Each browser's setup page shows a secret of its own (derived from a nonce in that
    browser's session; nothing is stored until confirmed): nobody who merely knows the
    password can make the real user's page show a secret they know."""
    user, _ = make_user(make_company(), enrolled=False)
    attacker = PortalClient(app, app.response_class, use_cookies=True)
    attacker.submit("/login", {"email": user.email, "password": PASSWORD})
    planted = totp_secret_on_page(attacker.get("/mfa/enroll").get_data(as_text=True))
    victim = PortalClient(app, app.response_class, use_cookies=True)
    victim.submit("/login", {"email": user.email, "password": PASSWORD})
    shown = totp_secret_on_page(victim.get("/mfa/enroll").get_data(as_text=True))
    assert shown != planted
    assert totp_secret_on_page(victim.get("/mfa/enroll").get_data(as_text=True)) == shown, (
        "a reload shows the same secret, so the app the user scanned keeps working"
    )
    # The planted secret does not confirm the victim's page.
    response = victim.submit(
        "/mfa/enroll", {"code": Authenticator(planted).code()}, token_from="/login"
    )
    assert response.status_code == 200 and "/mfa/recovery-codes" not in response.headers.get(
        "Location", ""
    )
    response = victim.submit(
        "/mfa/enroll", {"code": Authenticator(shown).code()}, token_from="/login"
    )
    assert response.headers["Location"].endswith("/mfa/recovery-codes")
    db.session.expire_all()
    assert db.session.get(User, user.id).totp_secret == shown != planted
    # Once enrolled, the other browser's page can no longer replace it.
    response = attacker.submit(
        "/mfa/enroll", {"code": Authenticator(planted).code()}, token_from="/login"
    )
    assert response.headers["Location"].endswith("/login/code")
    db.session.expire_all()
    assert db.session.get(User, user.id).totp_secret == shown


def test_new_recovery_codes_are_shown_only_to_a_fresh_session(app, client) -> None:
    user, phone = make_user(make_company())
    sign_in(client, user, phone, remember=True)
    remembered = PortalClient(app, app.response_class, use_cookies=True)
    remembered.set_cookie("remember_token", client.get_cookie("remember_token").value)
    step_up(client, phone)
    client.submit("/mfa/recovery-codes/regenerate", {}, token_from="/account")
    response = remembered.get("/mfa/recovery-codes")
    assert "/verify" in response.headers["Location"]
    assert "<code>" not in remembered.get("/verify").get_data(as_text=True)


def test_a_recovery_code_sign_in_is_not_fresh_but_may_replace_the_authenticator(
    app, client, smtp
) -> None:
    user, phone = make_user(make_company())
    other = PortalClient(app, app.response_class, use_cookies=True)
    sign_in(other, user, phone)
    codes = services.regenerate_recovery_codes(db.session.get(User, user.id), reason="test")
    services.confirm_recovery_codes_saved(db.session.get(User, user.id))
    db.session.commit()
    start_login(client, user)
    client.submit("/login/recovery", {"code": codes[0]}, token_from="/login/recovery")
    response = client.submit("/mfa/recovery-codes/regenerate", {}, token_from="/account")
    assert "/verify" in response.headers["Location"], "a recovery code is not a fresh TOTP"
    secret = totp_secret_on_page(client.get("/mfa/enroll").get_data(as_text=True))
    response = client.submit(
        "/mfa/enroll", {"code": Authenticator(secret).code()}, token_from="/account"
    )
    assert response.headers["Location"].endswith("/mfa/recovery-codes")
    elsewhere = other.get("/dashboard")
    assert elsewhere.status_code == 303, "other browsers are signed out"
    assert urlsplit(elsewhere.headers["Location"]).path == "/login", "to sign-in, not elsewhere"
    assert other.get("/account").headers["Location"].startswith("/login")
    if TIER != "real":
        assert "authenticator was changed" in smtp.to(user.email)[-1]["Subject"]


def test_payee_admins_cannot_reset_users_who_also_belong_elsewhere(client) -> None:
    from portal.companies import services as company_services

    payee = make_company(CompanyKind.PAYEE)
    admin, phone = make_user(payee, (Role.PAYEE_ADMIN,))
    payor = make_company(CompanyKind.PAYOR)
    both, _ = make_user(payor, (Role.PAYMENTS_ADMIN,))
    company_services.add_member(payee, both, actor_user_id=None)
    db.session.commit()
    sign_in(client, admin, phone)
    step_up(client, phone)
    membership = membership_of(both, payee)
    response = client.submit(
        f"/company/members/{membership.id}/reset-mfa", {}, token_from="/company/members"
    )
    assert response.status_code == 403
    db.session.expire_all()
    assert db.session.get(User, both.id).totp_secret is not None
