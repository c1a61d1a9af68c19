"""OpenID Connect sign-in against a real provider (node oidc-provider on loopback)."""

from collections.abc import Iterator
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
import sqlalchemy as sa

from portal.accounts.models import FederatedIdentity, UserSession
from portal.companies.models import CompanyKind, Role
from portal.core import tenancy
from portal.core.db import db
from portal.core.errors import InvalidInput
from portal.core.models import AuditEvent
from portal.sso import services as sso
from portal.sso.models import SsoMode, SsoState
from tests.conftest import require_peer
from tests.factories import make_company, make_user, sign_in, step_up
from tests.peers.oidc_provider import OidcPeerUnavailable, OidcProvider, ensure_installed

pytestmark = pytest.mark.usefixtures("database")

CALLBACK = "http://localhost/login/sso/callback"
ACCOUNTS = [
    {"sub": "ann-1", "email": "ann@acme.example.com", "email_verified": True, "name": "Ann"},
    {"sub": "bob-2", "email": "bob@acme.example.com", "email_verified": True, "name": "Bob"},
]


@pytest.fixture(scope="module")
def provider() -> Iterator[OidcProvider]:
    try:
        ensure_installed()
    except OidcPeerUnavailable as exc:
        require_peer(False, str(exc))
    peer = OidcProvider()
    peer.start(
        clients=[
            {
                "client_id": "trestle",
                "client_secret": "client-secret-1",
                "redirect_uris": [CALLBACK],
            }
        ],
        accounts=ACCOUNTS,
    )
    yield peer
    peer.stop()


@pytest.fixture
def acme(provider: OidcProvider):
    provider.set_mode("normal")
    company = make_company(CompanyKind.PAYOR, name="Acme Builders")
    with tenancy.unscoped():
        sso.configure(
            company,
            issuer=provider.issuer,
            client_id="trestle",
            client_secret="client-secret-1",
            allowed_domains="acme.example.com",
            mode=SsoMode.OPTIONAL,
            actor_user_id=None,
            by_operator=True,
        )
    db.session.commit()
    return company


def link(user, provider: OidcProvider, subject: str) -> None:
    db.session.add(FederatedIdentity(user_id=user.id, issuer=provider.issuer, subject=subject))
    db.session.commit()


def go_to_provider(client, email: str) -> str:
    response = client.submit("/login/sso", {"email": email}, token_from="/login/sso")
    assert response.status_code == 303, response.get_data(as_text=True)
    response = client.get(response.headers["Location"])
    assert response.status_code == 302
    authorize = response.headers["Location"]
    query = dict(parse_qsl(urlsplit(authorize).query))
    assert query["code_challenge_method"] == "S256" and query["code_challenge"]
    assert query["state"] and query["nonce"]
    return authorize


def callback_path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def sso_login(client, provider: OidcProvider, email: str):
    callback = provider.follow_login(go_to_provider(client, email), login_hint=email)
    return client.get(callback_path(callback)), callback


def flashes(client) -> str:
    return client.get("/login/sso").get_data(as_text=True)


def test_happy_path_then_the_portals_own_totp(client, provider, acme) -> None:
    user, phone = make_user(acme, (Role.DISBURSER,), email="ann@acme.example.com")
    link(user, provider, "ann-1")
    response, _ = sso_login(client, provider, "ann@acme.example.com")
    assert response.headers["Location"].endswith("/login/code"), "TOTP still applies after SSO"
    assert client.get("/dashboard").status_code == 303
    response = client.submit("/login/code", {"code": phone.code()}, token_from="/login/code")
    assert response.status_code == 303
    assert client.get("/dashboard").status_code == 200
    session_row = db.session.scalar(sa.select(UserSession).where(UserSession.user_id == user.id))
    assert (session_row.sso_issuer, session_row.sso_subject) == (provider.issuer, "ann-1")
    event = db.session.scalar(
        sa.select(AuditEvent).where(AuditEvent.action == "accounts:login:succeeded")
    )
    assert (event.actor_sso_issuer, event.actor_sso_subject) == (provider.issuer, "ann-1")


def test_a_tampered_state_is_refused(client, provider, acme) -> None:
    user, _ = make_user(acme, email="ann@acme.example.com")
    link(user, provider, "ann-1")
    callback = provider.follow_login(
        go_to_provider(client, "ann@acme.example.com"), login_hint="ann@acme.example.com"
    )
    parts = urlsplit(callback)
    query = dict(parse_qsl(parts.query))
    query["state"] = query["state"][:-2] + "xx"
    response = client.get(callback_path(urlunsplit(parts._replace(query=urlencode(query)))))
    assert response.headers["Location"].endswith("/login/sso")
    assert "did not match this browser" in flashes(client)
    assert client.get("/login/code").status_code == 303, "no sign-in is pending"


def test_a_replayed_state_is_refused(client, provider, acme) -> None:
    user, _ = make_user(acme, email="ann@acme.example.com")
    link(user, provider, "ann-1")
    first, callback = sso_login(client, provider, "ann@acme.example.com")
    assert first.headers["Location"].endswith("/login/code")
    go_to_provider(client, "ann@acme.example.com")  # a new flow: a new state in this browser
    response = client.get(callback_path(callback))
    assert response.headers["Location"].endswith("/login/sso")
    assert "did not match this browser" in flashes(client)


def test_a_callback_replayed_with_its_own_saved_cookie_is_refused(client, provider, acme):
    """The state, nonce and PKCE verifier live server-side and are used once: a copy of the
    browser's cookie taken before the callback cannot replay it."""
    user, _ = make_user(acme, email="ann@acme.example.com")
    link(user, provider, "ann-1")
    authorize = go_to_provider(client, "ann@acme.example.com")
    cookie = client.get_cookie("session")
    saved = client.application.session_interface.get_signing_serializer(client.application).loads(
        cookie.value
    )
    states = [v for k, v in saved.items() if k.startswith("_state_")]
    assert states and all(set(v) == {"exp"} for v in states), "the cookie holds no secrets"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SsoState)) == 1
    callback = provider.follow_login(authorize, login_hint="ann@acme.example.com")
    first = client.get(callback_path(callback))
    assert first.headers["Location"].endswith("/login/code")
    client.set_cookie("session", cookie.value)  # the saved copy, with its sso_intent
    replay = client.get(callback_path(callback))
    assert replay.headers["Location"].endswith("/login/sso")
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SsoState)) == 0


def test_a_replayed_authorization_code_is_refused(client, provider, acme) -> None:
    user, _ = make_user(acme, email="ann@acme.example.com")
    link(user, provider, "ann-1")
    first, callback = sso_login(client, provider, "ann@acme.example.com")
    assert first.headers["Location"].endswith("/login/code")
    old_code = dict(parse_qsl(urlsplit(callback).query))["code"]
    fresh = go_to_provider(client, "ann@acme.example.com")  # a new flow, a new state
    new_state = dict(parse_qsl(urlsplit(fresh).query))["state"]
    response = client.get(f"/login/sso/callback?code={old_code}&state={new_state}")
    assert response.headers["Location"].endswith("/login/sso")
    assert "Single sign-on failed" in flashes(client), "no second sign-in from one code"


@pytest.mark.parametrize(
    ("mode", "explanation"),
    [
        ("wrong_nonce", "not valid for this portal"),
        ("wrong_issuer", "not valid for this portal"),
        ("wrong_audience", "not valid for this portal"),
        ("other_key", "signature did not verify"),
        ("expired", "had expired"),
        ("alg_none", "Single sign-on failed"),
        ("hs256", "Single sign-on failed"),
    ],
)
def test_a_bad_id_token_is_refused(client, provider, acme, mode: str, explanation: str) -> None:
    user, _ = make_user(acme, email="ann@acme.example.com")
    link(user, provider, "ann-1")
    with provider.mode(mode):
        response, _ = sso_login(client, provider, "ann@acme.example.com")
    assert response.headers["Location"].endswith("/login/sso")
    page = flashes(client)
    assert "Single sign-on failed" in page and explanation in page, page
    assert client.get("/login/code").status_code == 303
    assert (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "sso:login:failed")
        )
        == 1
    )


def test_a_key_rotated_at_the_provider_is_found_at_the_next_sign_in(client, provider, acme) -> None:
    """The key set is fetched once per sign-in from the checked ``jwks_uri``: a key the
    provider starts signing with is picked up without a restart, in one fetch."""
    user, _ = make_user(acme, email="ann@acme.example.com")
    link(user, provider, "ann-1")
    first, _ = sso_login(client, provider, "ann@acme.example.com")
    assert first.headers["Location"].endswith("/login/code")
    with provider.mode("rotated_key"):
        before = provider.jwks_requests()
        response, _ = sso_login(client, provider, "ann@acme.example.com")
        fetches = provider.jwks_requests() - before
    assert response.headers["Location"].endswith("/login/code"), flashes(client)
    assert fetches == 1


def test_an_unknown_key_id_refetches_the_keys_once_then_is_refused(client, provider, acme) -> None:
    user, _ = make_user(acme, email="ann@acme.example.com")
    link(user, provider, "ann-1")
    with provider.mode("unknown_kid"):
        before = provider.jwks_requests()
        response, _ = sso_login(client, provider, "ann@acme.example.com")
        fetches = provider.jwks_requests() - before
    assert response.headers["Location"].endswith("/login/sso")
    assert "signed with a key the identity provider does not publish" in flashes(client)
    assert fetches == 2, "one fetch, then one more for the unknown key id, and no more"
    assert client.get("/login/code").status_code == 303


def test_an_email_that_matches_an_existing_user_is_not_linked(client, provider, acme) -> None:
    make_user(acme, email="bob@acme.example.com")  # same email, never linked
    response, _ = sso_login(client, provider, "bob@acme.example.com")
    assert response.headers["Location"].endswith("/login/sso")
    assert "not linked to a Trestle account" in flashes(client)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(FederatedIdentity)) == 0
    assert client.get("/login/code").status_code == 303


def test_a_link_finishes_only_for_the_user_who_started_it(client, provider, acme) -> None:
    """A link started for Ann completes in a browser now signed in as Bob: nothing links."""
    ann, _ = make_user(acme, email="ann@acme.example.com")
    bob, bob_phone = make_user(acme, email="bob@acme.example.com")
    sign_in(client, bob, bob_phone)
    with client.session_transaction() as browser:
        browser["sso_intent"] = {
            "company_id": acme.id,
            "purpose": "link",
            "user_id": ann.id,
            "login_hint": "ann@acme.example.com",
        }
    authorize = client.get("/login/sso/start").headers["Location"]
    callback = provider.follow_login(authorize, login_hint="ann@acme.example.com")
    response = client.get(callback_path(callback))
    assert response.headers["Location"].endswith("/login/sso")
    assert "Sign in again before linking" in flashes(client)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(FederatedIdentity)) == 0


def test_a_signed_in_user_links_their_identity_after_step_up(client, provider, acme) -> None:
    user, phone = make_user(acme, (Role.DISBURSER,), email="ann@acme.example.com")
    sign_in(client, user, phone)
    with client.session_transaction() as session:
        session["mfa_at"] = 0
    response = client.submit("/account/sso/link", {}, token_from="/account")
    assert "/verify" in response.headers["Location"], "linking needs a fresh second factor"
    step_up(client, phone)
    response = client.submit("/account/sso/link", {}, token_from="/account")
    start = client.get(response.headers["Location"])
    callback = provider.follow_login(start.headers["Location"], login_hint="ann@acme.example.com")
    response = client.get(callback_path(callback))
    assert response.headers["Location"].endswith("/account")
    [identity] = db.session.scalars(sa.select(FederatedIdentity)).all()
    assert (identity.user_id, identity.issuer, identity.subject) == (
        user.id,
        provider.issuer,
        "ann-1",
    )
    assert "sso:identity:linked" in db.session.scalars(sa.select(AuditEvent.action)).all()


def require_sso(company, provider: OidcProvider) -> None:
    """The operator switches the company's SSO to required."""
    with tenancy.unscoped():
        sso.configure(
            company,
            issuer=provider.issuer,
            client_id="trestle",
            client_secret=None,
            allowed_domains="acme.example.com",
            mode=SsoMode.REQUIRED,
            actor_user_id=None,
            by_operator=True,
        )
    db.session.commit()


def test_sso_required_refuses_password_sign_in(client, provider, acme) -> None:
    user, _ = make_user(acme, email="ann@acme.example.com")
    require_sso(acme, provider)
    right = client.submit(
        "/login", {"email": user.email, "password": "correct horse battery staple"}
    )
    wrong = client.submit("/login", {"email": user.email, "password": "not the password"})
    assert right.status_code == wrong.status_code == 200
    # Refused before the password is looked at: the answer does not tell the two apart.
    assert "Acme Builders requires single sign-on" in right.get_data(as_text=True)
    assert "Acme Builders requires single sign-on" in wrong.get_data(as_text=True)
    assert "do not match" not in wrong.get_data(as_text=True)


def test_switching_to_sso_required_ends_password_sessions(client, provider, acme) -> None:
    user, phone = make_user(acme, email="ann@acme.example.com")
    sign_in(client, user, phone)
    assert client.get("/dashboard").status_code == 200
    require_sso(acme, provider)
    assert client.get("/dashboard").status_code == 303, "the password session ended"


def test_a_misconfigured_provider_gets_a_precise_error(client, acme) -> None:
    with tenancy.unscoped():
        sso.configure(
            acme,
            issuer="http://127.0.0.1:9",
            client_id="trestle",
            client_secret=None,
            allowed_domains="acme.example.com",
            mode=SsoMode.OPTIONAL,
            actor_user_id=None,
            by_operator=True,
        )
    db.session.commit()
    response = client.submit(
        "/login/sso", {"email": "ann@acme.example.com"}, token_from="/login/sso"
    )
    assert "Could not reach the identity provider at http://127.0.0.1:9" in response.get_data(
        as_text=True
    )


def test_a_provider_that_hangs_at_the_token_call_gets_the_error_page(
    client, provider, acme, monkeypatch
) -> None:
    """Every call to the provider is bounded: a token endpoint that never answers ends in
    the SSO error page within the timeout, not a hung worker and a 500."""
    import socket
    import time

    silent = socket.socket()  # accepts connections (the backlog) and never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    checked = sso.check_discovery

    def discovery_with_a_silent_token_endpoint(issuer: str):
        return {**checked(issuer), "token_endpoint": f"http://127.0.0.1:{silent.getsockname()[1]}"}

    user, _ = make_user(acme, email="ann@acme.example.com")
    link(user, provider, "ann-1")
    callback = provider.follow_login(
        go_to_provider(client, "ann@acme.example.com"), login_hint="ann@acme.example.com"
    )
    monkeypatch.setattr(sso, "check_discovery", discovery_with_a_silent_token_endpoint)
    monkeypatch.setattr(sso, "PROVIDER_TIMEOUT_SECONDS", 0.5)
    started = time.monotonic()
    try:
        response = client.get(callback_path(callback))
    finally:
        silent.close()
    assert time.monotonic() - started < 5
    assert response.headers["Location"].endswith("/login/sso")
    assert "did not answer in time" in flashes(client)
    assert client.get("/login/code").status_code == 303


def test_discovery_check_names_an_issuer_mismatch(provider) -> None:
    with pytest.raises(sso.SsoError, match="names its issuer"):
        sso.check_discovery(provider.issuer.replace("127.0.0.1", "localhost"))


def test_unknown_domains_are_told_to_use_a_password(client, acme) -> None:
    response = client.submit(
        "/login/sso", {"email": "someone@elsewhere.example.org"}, token_from="/login/sso"
    )
    assert "not set up for that email address" in response.get_data(as_text=True)


def test_client_secrets_are_encrypted_at_rest(acme) -> None:
    raw = db.session.execute(sa.text("SELECT client_secret FROM sso_connection")).scalar()
    assert raw and "client-secret-1" not in raw


def test_configure_command(runner, provider, monkeypatch) -> None:
    company = make_company(CompanyKind.PAYOR)
    monkeypatch.setenv("SSO_CLIENT_SECRET", "client-secret-1")
    result = runner.invoke(
        args=[
            "sso",
            "configure",
            "--company",
            company.slug,
            "--issuer",
            provider.issuer,
            "--client-id",
            "trestle",
            "--domains",
            "cli.example.com",
            "--mode",
            "required",
        ]
    )
    assert result.exit_code == 0, result.output
    connection = sso.connection_for_email("x@cli.example.com")
    assert connection.mode is SsoMode.REQUIRED and connection.client_secret == "client-secret-1"
    bad = runner.invoke(args=["sso", "check", "http://127.0.0.1:9"])
    assert bad.exit_code == 1 and "Could not reach" in bad.output


def test_payments_admin_sets_up_sso_and_tests_the_connection(client, provider) -> None:
    payor = make_company(CompanyKind.PAYOR, name="Setup Co")
    admin, phone = make_user(payor, (Role.PAYMENTS_ADMIN,), email="admin@setup.example.com")
    sign_in(client, admin, phone)
    step_up(client, phone)
    page = client.get("/settings/sso").get_data(as_text=True)
    assert "http://localhost/login/sso/callback" in page
    ok = client.submit(
        "/settings/sso/test", {"issuer": provider.issuer}, htmx=True, token_from="/settings/sso"
    )
    assert "The provider answered" in ok.get_data(as_text=True)
    bad = client.submit(
        "/settings/sso/test",
        {"issuer": "http://127.0.0.1:9"},
        htmx=True,
        token_from="/settings/sso",
    )
    assert "Could not reach the identity provider" in bad.get_data(as_text=True)
    response = client.submit(
        "/settings/sso",
        {
            "issuer": provider.issuer,
            "client_id": "trestle",
            "client_secret": "client-secret-1",
            "allowed_domains": "setup.example.com",
            "mode": "optional",
        },
        token_from="/settings/sso",
    )
    assert response.status_code == 303
    assert sso.connection_for_email("x@setup.example.com").company_id == payor.id


@pytest.mark.parametrize(
    ("issuer", "message"),
    [
        ("ftp://idp.example.com", "must be an https:// URL"),
        ("https://10.0.0.5", "public host"),
        ("https://169.254.169.254", "public host"),
    ],
)
def test_issuers_on_private_hosts_are_refused(client, issuer, message) -> None:
    payor = make_company(CompanyKind.PAYOR)
    admin, phone = make_user(payor, (Role.PAYMENTS_ADMIN,))
    sign_in(client, admin, phone)
    step_up(client, phone)
    response = client.submit(
        "/settings/sso",
        {
            "issuer": issuer,
            "client_id": "x",
            "client_secret": "y",
            "allowed_domains": "p.example.com",
            "mode": "optional",
        },
        token_from="/settings/sso",
    )
    assert message in response.get_data(as_text=True)
    assert sso.connection_of(payor.id) is None


def test_operators_use_the_same_screen_and_others_cannot(app, client, provider) -> None:
    payor = make_company(CompanyKind.PAYOR)
    operator, phone = make_user(make_company(CompanyKind.OPERATOR), (Role.OPERATOR,))
    sign_in(client, operator, phone)
    step_up(client, phone)
    assert "Single sign-on: " in client.get(f"/operator/payors/{payor.id}/sso").get_data(
        as_text=True
    )
    disburser, d_phone = make_user(payor, (Role.DISBURSER,))
    other = type(client)(app, app.response_class, use_cookies=True)
    sign_in(other, disburser, d_phone)
    assert other.get("/settings/sso").status_code == 403


@pytest.mark.parametrize(
    "issuer",
    [
        "https://127.1",
        "https://2130706433",
        "https://0x7f000001",
        "https://localhost",
        "https://user:pw@idp.example.com",
    ],
)
def test_issuers_that_resolve_to_private_addresses_are_refused(app, issuer) -> None:
    with pytest.raises(InvalidInput):
        sso.validate_issuer(issuer)


def test_discovery_does_not_follow_redirects(provider) -> None:
    from http.server import BaseHTTPRequestHandler, HTTPServer
    from threading import Thread

    class Redirect(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", provider.metadata_url)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Redirect)
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(sso.SsoError, match="answered 302"):
            sso.check_discovery(f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("domain", "message"),
    [("nobody-here.example.com", "Nobody in"), ("shared.example.com", "People outside")],
)
def test_admins_cannot_claim_email_domains_that_are_not_theirs(
    client, provider, domain, message
) -> None:
    payor = make_company(CompanyKind.PAYOR, name="Claimant")
    admin, phone = make_user(payor, (Role.PAYMENTS_ADMIN,), email="boss@shared.example.com")
    make_user(make_company(CompanyKind.PAYEE), email="someone@shared.example.com")
    sign_in(client, admin, phone)
    step_up(client, phone)
    response = client.submit(
        "/settings/sso",
        {
            "issuer": provider.issuer,
            "client_id": "trestle",
            "client_secret": "s",
            "allowed_domains": domain,
            "mode": "optional",
        },
        token_from="/settings/sso",
    )
    assert message in response.get_data(as_text=True)
    assert sso.connection_of(payor.id) is None
