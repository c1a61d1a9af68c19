"""Calls to an identity provider: only to endpoints the portal checked, bounded in time,
never following a redirect; identities Trestle can record."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
import sqlalchemy as sa

from portal.companies.models import CompanyKind
from portal.core import tenancy
from portal.sso import services as sso
from portal.sso.models import SsoConnection
from tests.factories import make_company

pytestmark = pytest.mark.usefixtures("database")


class Misbehaving(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.end_headers()
            return
        time.sleep(2)  # /slow
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def misbehaving():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Misbehaving)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_the_provider_session_never_follows_a_redirect(misbehaving) -> None:
    with sso.ProviderSession() as session, pytest.raises(requests.TooManyRedirects):
        session.request("GET", f"{misbehaving}/redirect", withhold_token=True)


def test_the_provider_session_gives_up_after_its_timeout(misbehaving) -> None:
    with sso.ProviderSession(default_timeout=0.3) as session, pytest.raises(requests.Timeout):
        session.request("GET", f"{misbehaving}/slow", withhold_token=True)
    assert sso.ProviderSession().default_timeout == sso.PROVIDER_TIMEOUT_SECONDS


def test_the_client_uses_the_document_the_portal_checked(monkeypatch) -> None:
    company = make_company(CompanyKind.PAYOR)
    checked = {
        "issuer": "https://login.example.com",
        "authorization_endpoint": "https://login.example.com/auth",
        "token_endpoint": "https://login.example.com/token",
        "jwks_uri": "https://login.example.com/jwks",
        "userinfo_endpoint": "https://elsewhere.example.net/userinfo",
    }
    fetched = []
    monkeypatch.setattr(sso, "check_discovery", lambda issuer: fetched.append(issuer) or checked)
    with tenancy.unscoped():
        connection = SsoConnection(
            company_id=company.id,
            issuer="https://login.example.com",
            client_id="first-id",
            client_secret="s1",
            allowed_domains="example.com",
        )
    client = sso.client_for(connection)
    assert client._server_metadata_url is None, "Authlib never fetches the document again"
    assert client.load_server_metadata()["token_endpoint"] == "https://login.example.com/token"
    assert "userinfo_endpoint" not in client.server_metadata, "unchecked endpoints are dropped"
    assert client.client_cls is sso.ProviderSession
    # A changed client id counts at the next sign-in: the client is built afresh.
    connection.client_id = "second-id"
    assert sso.client_for(connection).client_id == "second-id"
    assert fetched == ["https://login.example.com"] * 2


def test_a_subject_longer_than_trestle_records_is_refused() -> None:
    connection = SsoConnection(issuer="https://login.example.com")
    token = {"userinfo": {"iss": "https://login.example.com", "sub": "x" * 301}}
    with pytest.raises(sso.SsoError, match="longer than Trestle can record"):
        sso.verify_callback(connection, token)
    token["userinfo"]["sub"] = "x" * 300
    assert sso.verify_callback(connection, token).subject == "x" * 300


def test_the_portal_checks_issuer_and_subject_itself() -> None:
    connection = SsoConnection(issuer="https://login.example.com")
    with pytest.raises(sso.SsoError, match="issued by another provider"):
        sso.verify_callback(connection, {"userinfo": {"iss": "https://evil.example", "sub": "1"}})
    with pytest.raises(sso.SsoError, match="names no subject"):
        sso.verify_callback(connection, {"userinfo": {"iss": "https://login.example.com"}})
    with pytest.raises(sso.SsoError, match="did not return a verified ID token"):
        sso.verify_callback(connection, {"access_token": "x"})


def test_an_identity_linked_to_another_user_is_not_moved() -> None:
    from portal.accounts.models import FederatedIdentity
    from portal.core.db import db
    from tests.factories import make_user

    company = make_company(CompanyKind.PAYOR)
    owner, _ = make_user(company)
    other, _ = make_user(company)
    connection = SsoConnection(company_id=company.id, issuer="https://login.example.com")
    identity = sso.VerifiedIdentity("https://login.example.com", "sub-1", None)
    with tenancy.unscoped():
        sso.link_identity(owner, connection, identity)
        with pytest.raises(sso.SsoError, match="already linked to another user"):
            sso.link_identity(other, connection, identity)
        linked = db.session.scalars(sa.select(FederatedIdentity.user_id)).all()
    assert linked == [owner.id]
