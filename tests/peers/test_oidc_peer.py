"""Self-check of the OIDC provider test peer: a hand-built code flow plus every tamper mode."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from joserfc import jws, jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet

from tests.conftest import require_peer
from tests.peers.oidc_provider import OidcPeerUnavailable, OidcProvider, ensure_installed

CLIENT_ID = "trestle-test"
CLIENT_SECRET = "peer-secret-0123456789"
REDIRECT_URI = "http://127.0.0.1:5999/auth/oidc/callback"
ACCOUNT = {
    "sub": "acct-ann",
    "email": "ann@example.com",
    "email_verified": True,
    "name": "Ann Example",
}


@pytest.fixture(scope="module")
def oidc() -> Iterator[OidcProvider]:
    try:
        ensure_installed()
    except OidcPeerUnavailable as exc:
        require_peer(False, str(exc))
    provider = OidcProvider().start(
        clients=[
            {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "redirect_uris": [REDIRECT_URI],
            }
        ],
        accounts=[ACCOUNT, {"sub": "acct-bob", "email": "bob@example.com", "name": "Bob"}],
    )
    yield provider
    provider.stop()


@pytest.fixture
def provider(oidc: OidcProvider) -> Iterator[OidcProvider]:
    yield oidc
    oidc.set_mode("normal")


def authorization_url(oidc: OidcProvider, **overrides: str) -> tuple[str, dict[str, str]]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    params = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid email profile",
        "state": secrets.token_urlsafe(16),
        "nonce": secrets.token_urlsafe(16),
        "code_challenge": challenge.rstrip(b"=").decode(),
        "code_challenge_method": "S256",
        **overrides,
    }
    params = {k: v for k, v in params.items() if v}  # an empty override drops the parameter
    url = f"{oidc.metadata()['authorization_endpoint']}?{urlencode(params)}"
    return url, {**params, "code_verifier": verifier}


def login_and_exchange(
    oidc: OidcProvider, auth: str = "basic", login_hint: str = ACCOUNT["email"]
) -> tuple[dict[str, Any], dict[str, str]]:
    url, sent = authorization_url(oidc)
    callback = oidc.follow_login(url, login_hint=login_hint)
    assert callback.startswith(REDIRECT_URI + "?")
    query = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
    assert query["state"] == sent["state"]
    assert query["iss"] == oidc.issuer
    form = {
        "grant_type": "authorization_code",
        "code": query["code"],
        "redirect_uri": REDIRECT_URI,
        "code_verifier": sent["code_verifier"],
    }
    if auth == "basic":
        kwargs: dict[str, Any] = {"auth": (CLIENT_ID, CLIENT_SECRET)}
    else:
        form |= {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
        kwargs = {}
    response = requests.post(oidc.metadata()["token_endpoint"], data=form, timeout=10, **kwargs)
    assert response.status_code == 200, response.text
    return response.json(), sent


def verified_claims(oidc: OidcProvider, id_token: str) -> dict[str, Any]:
    keys = KeySet.import_key_set(oidc.jwks())
    return jwt.decode(id_token, keys, algorithms=["RS256"]).claims


@pytest.mark.parametrize("auth", ["basic", "post"])
def test_code_flow_issues_a_valid_id_token(provider: OidcProvider, auth: str) -> None:
    tokens, sent = login_and_exchange(provider, auth)
    claims = verified_claims(provider, tokens["id_token"])
    assert claims["iss"] == provider.issuer
    assert claims["aud"] == CLIENT_ID
    assert claims["nonce"] == sent["nonce"]
    assert claims["exp"] > time.time()
    assert claims["sub"] == ACCOUNT["sub"]
    assert claims["email"] == ACCOUNT["email"]
    assert claims["email_verified"] is True
    assert claims["name"] == ACCOUNT["name"]


def test_login_hint_may_be_a_sub(provider: OidcProvider) -> None:
    tokens, _ = login_and_exchange(provider, login_hint="acct-bob")
    assert verified_claims(provider, tokens["id_token"])["email"] == "bob@example.com"


def test_unknown_login_hint_fails_clearly(provider: OidcProvider) -> None:
    url, _ = authorization_url(provider)
    with pytest.raises(RuntimeError, match="no account has email or sub"):
        provider.follow_login(url, login_hint="nobody@example.com")


def test_pkce_is_required(provider: OidcProvider) -> None:
    url, _ = authorization_url(provider, code_challenge="", code_challenge_method="")
    callback = provider.follow_login(url, login_hint=ACCOUNT["email"])
    query = parse_qs(urlsplit(callback).query)
    assert query["error"] == ["invalid_request"]
    assert "PKCE" in query["error_description"][0]


def test_wrong_code_verifier_is_rejected(provider: OidcProvider) -> None:
    url, _ = authorization_url(provider)
    callback = provider.follow_login(url, login_hint=ACCOUNT["email"])
    code = parse_qs(urlsplit(callback).query)["code"][0]
    response = requests.post(
        provider.metadata()["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": secrets.token_urlsafe(48),
        },
        auth=(CLIENT_ID, CLIENT_SECRET),
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_other_key_fails_signature_but_keeps_kid(provider: OidcProvider) -> None:
    provider.set_mode("other_key")
    tokens, _ = login_and_exchange(provider)
    with pytest.raises(BadSignatureError):
        verified_claims(provider, tokens["id_token"])
    header = jws.extract_compact(tokens["id_token"].encode()).headers()
    assert header["kid"] == provider.jwks()["keys"][0]["kid"]


@pytest.mark.parametrize(
    ("mode", "defect"),
    [
        ("wrong_issuer", lambda c, p, s: c["iss"] != p.issuer),
        ("wrong_nonce", lambda c, p, s: c["nonce"] != s["nonce"]),
        ("wrong_audience", lambda c, p, s: c["aud"] != CLIENT_ID),
        ("expired", lambda c, p, s: c["exp"] < time.time()),
    ],
)
def test_tamper_modes_resign_with_the_real_key(
    provider: OidcProvider, mode: str, defect: Any
) -> None:
    with provider.mode(mode):
        tokens, sent = login_and_exchange(provider)
        claims = verified_claims(provider, tokens["id_token"])  # signature still valid
        assert defect(claims, provider, sent)
        assert claims["email"] == ACCOUNT["email"]
    tokens, sent = login_and_exchange(provider)  # back to normal
    claims = verified_claims(provider, tokens["id_token"])
    assert claims["iss"] == provider.issuer
    assert claims["nonce"] == sent["nonce"]
    assert claims["aud"] == CLIENT_ID
    assert claims["exp"] > time.time()


def test_health_and_unknown_mode(provider: OidcProvider) -> None:
    assert requests.get(f"{provider.issuer}/__test/health", timeout=10).status_code == 200
    response = requests.post(f"{provider.issuer}/__test/mode", json={"mode": "nope"}, timeout=10)
    assert response.status_code == 400
    with pytest.raises(ValueError, match="unknown mode"):
        provider.set_mode("nope")


def test_stop_terminates_the_process() -> None:
    peer = OidcProvider().start(
        clients=[{"client_id": "c", "client_secret": "s", "redirect_uris": [REDIRECT_URI]}],
        accounts=[ACCOUNT],
    )
    issuer = peer.issuer
    process = peer._process
    peer.stop()
    assert process is not None
    assert process.poll() is not None
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{issuer}/__test/health", timeout=2)
