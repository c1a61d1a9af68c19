"""OpenID Connect: per-company configuration, discovery checks, sign-in and linking.

A federated identity is the pair (issuer, subject). It is linked to a user only by that
user, signed in and freshly verified; an email address in an id token never links or signs
in anyone by itself.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import socket
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
import sqlalchemy as sa
from authlib.integrations.flask_client import OAuth
from authlib.integrations.requests_client import OAuth2Session
from flask import current_app

from portal.accounts.models import FederatedIdentity, User, UserSession
from portal.companies.models import Company, Membership
from portal.core import audit, ratelimit, tenancy
from portal.core.db import db, utcnow
from portal.core.errors import DomainError, InvalidInput, NotAllowed
from portal.sso.models import SsoConnection, SsoMode, SsoState


class StateStore:
    """Authlib's cache for sign-in state: rows in ``sso_state``, in the request's transaction
    (the views commit). Reading a state consumes it, so a callback replayed with the same
    cookie, or two callbacks racing with one state, find it at most once."""

    @staticmethod
    def _hash(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    def get(self, key: str) -> str | None:
        value = db.session.scalar(
            sa.delete(SsoState)
            .where(SsoState.key_hash == self._hash(key), SsoState.expires_at > utcnow())
            .returning(SsoState.value)
        )
        return value

    def set(self, key: str, value: str, expires_in: int | None = None) -> None:
        now = utcnow()
        db.session.execute(sa.delete(SsoState).where(SsoState.expires_at <= now))
        db.session.add(
            SsoState(
                key_hash=self._hash(key),
                value=value,
                expires_at=now + timedelta(seconds=expires_in or 3600),
            )
        )
        db.session.flush()

    def delete(self, key: str) -> None:
        db.session.execute(sa.delete(SsoState).where(SsoState.key_hash == self._hash(key)))


oauth = OAuth()
DOMAIN = re.compile(r"(?=.{3,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
SCOPES = "openid email profile"


class SsoError(DomainError):
    """Single sign-on could not complete; the message says why, for the user."""

    status_code = 400


def parse_domains(text: str) -> list[str]:
    domains = sorted({d.strip().lower() for d in re.split(r"[,\s]+", text) if d.strip()})
    for domain in domains:
        if not DOMAIN.fullmatch(domain):
            raise InvalidInput(
                f"{domain!r} is not a domain name like example.com.", field="allowed_domains"
            )
    if not domains:
        raise InvalidInput("Name at least one email domain.", field="allowed_domains")
    return domains


def configure(
    company: Company,
    *,
    issuer: str,
    client_id: str,
    client_secret: str | None,
    allowed_domains: str,
    mode: SsoMode,
    actor_user_id: int | None,
    by_operator: bool = False,
) -> SsoConnection:
    """Create or update a company's SSO connection.

    A company's own admins may claim only email domains that are plainly theirs (someone
    in the company uses it and nobody in another company does); operators vouch for others.
    """
    issuer = validate_issuer(issuer)
    domains = parse_domains(allowed_domains)
    if not by_operator:
        for domain in domains:
            ensure_domain_is_theirs(company, domain)
    with tenancy.unscoped():
        claimed = db.session.scalars(
            sa.select(SsoConnection).where(SsoConnection.company_id != company.id)
        ).all()
    for other in claimed:
        taken = set(other.domains) & set(domains)
        if taken:
            raise InvalidInput(
                f"{', '.join(sorted(taken))} is already used by another company.",
                field="allowed_domains",
            )
    connection = db.session.scalar(
        sa.select(SsoConnection).where(SsoConnection.company_id == company.id)
    )
    before = None
    if connection is None:
        if not client_secret:
            raise InvalidInput("Enter the client secret.", field="client_secret")
        connection = SsoConnection(company_id=company.id, client_secret=client_secret)
        db.session.add(connection)
    else:
        before = {
            "issuer": connection.issuer,
            "client_id": connection.client_id,
            "allowed_domains": connection.allowed_domains,
            "mode": connection.mode.value,
        }
        if client_secret:
            connection.client_secret = client_secret
    became_required = mode is SsoMode.REQUIRED and (
        before is None or before["mode"] != SsoMode.REQUIRED.value or not connection.enabled
    )
    connection.issuer = issuer
    connection.client_id = client_id.strip()
    connection.allowed_domains = ",".join(domains)
    connection.mode = mode
    connection.enabled = True
    db.session.flush()
    if became_required:
        end_password_sessions(company, actor_user_id=actor_user_id)
    audit.record(
        "sso:connection:configured",
        actor_user_id=actor_user_id,
        company_id=company.id,
        object_type="sso_connection",
        object_id=connection.id,
        before=before,
        after={
            "issuer": issuer,
            "client_id": connection.client_id,
            "allowed_domains": connection.allowed_domains,
            "mode": mode.value,
        },
    )
    return connection


def validate_public_url(url: str, *, field: str = "issuer") -> str:
    """An https:// URL whose host resolves only to public addresses (plain http on loopback
    is allowed outside production, for a provider running beside a developer's portal), so
    the portal never fetches from its own private network on a user's say-so."""
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    production = current_app.config["PORTAL_ENV"] == "production"
    if parts.scheme == "http" and host in {"127.0.0.1", "localhost", "::1"} and not production:
        return url
    if parts.scheme != "https" or not host or parts.username or parts.password:
        raise InvalidInput("The issuer must be an https:// URL.", field=field)
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, parts.port or 443)}
    except (OSError, UnicodeError) as exc:
        raise InvalidInput(f"{host} does not resolve to an address.", field=field) from exc
    if not addresses or not all(ipaddress.ip_address(a.split("%")[0]).is_global for a in addresses):
        raise InvalidInput("The issuer must be on a public host.", field=field)
    return url


def validate_issuer(issuer: str) -> str:
    return validate_public_url(issuer, field="issuer")


def ensure_domain_is_theirs(company: Company, domain: str) -> None:
    with tenancy.unscoped():
        users = (
            db.session.execute(
                sa.select(Membership.company_id)
                .join(User, User.id == Membership.user_id)
                .where(User.email.endswith("@" + domain))
            )
            .scalars()
            .all()
        )
    if company.id not in users:
        raise InvalidInput(
            f"Nobody in {company.name} uses an @{domain} email address yet; "
            "ask Trestle support to add this domain.",
            field="allowed_domains",
        )
    if set(users) - {company.id}:
        raise InvalidInput(
            f"People outside {company.name} use @{domain} addresses; ask "
            "Trestle support to add this domain.",
            field="allowed_domains",
        )


def check_discovery(issuer: str, timeout: float = 5.0) -> dict[str, Any]:
    """Fetch and check the provider's discovery document; raise SsoError saying what is wrong."""
    issuer = validate_issuer(issuer)
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        # No redirects: a public issuer must not bounce the portal to a private address.
        response = requests.get(url, timeout=timeout, allow_redirects=False)
    except requests.RequestException as exc:
        raise SsoError(
            f"Could not reach the identity provider at {url} ({exc.__class__.__name__})."
        ) from exc
    if response.status_code != 200:
        raise SsoError(f"The identity provider answered {response.status_code} for {url}.")
    try:
        metadata = response.json()
    except ValueError as exc:
        raise SsoError(f"{url} did not return a JSON discovery document.") from exc
    problems = []
    if metadata.get("issuer") != issuer.rstrip("/"):
        problems.append(f"it names its issuer {metadata.get('issuer')!r}, not {issuer!r}")
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not metadata.get(key):
            problems.append(f"it has no {key}")
            continue
        try:
            validate_public_url(str(metadata[key]), field=key)
        except InvalidInput:
            problems.append(f"its {key} is not a public https:// address")
    if "code" not in metadata.get("response_types_supported", ["code"]):
        problems.append("it does not support the authorization code flow")
    methods = metadata.get("code_challenge_methods_supported")
    if methods is not None and "S256" not in methods:
        problems.append("it does not support PKCE with S256")
    if problems:
        raise SsoError("The identity provider is misconfigured: " + "; ".join(problems) + ".")
    return metadata


SSO_LOOKUP_LIMIT = (ratelimit.Limit(30, timedelta(minutes=5)),)


def throttle_sso_lookups(ip_address: str | None) -> None:
    """Each SSO start fetches the provider's discovery document: limit them per IP."""
    key = ip_address or "unknown"
    if ratelimit.is_limited("sso:ip", key, SSO_LOOKUP_LIMIT):
        raise SsoError("Too many single sign-on attempts. Wait a few minutes and try again.")
    ratelimit.record("sso:ip", key)


def connection_for_email(email: str) -> SsoConnection:
    domain = email.rsplit("@", 1)[-1].strip().lower()
    with tenancy.unscoped():
        connections = db.session.scalars(
            sa.select(SsoConnection).where(SsoConnection.enabled.is_(True))
        ).all()
    for connection in connections:
        if domain in connection.domains:
            return connection
    raise SsoError(
        "Single sign-on is not set up for that email address. Sign in with your "
        "password, or ask your company's Payments Admin."
    )


def connection_of(company_id: int) -> SsoConnection | None:
    """The company's connection, enabled or not (for the setup screen)."""
    with tenancy.unscoped():
        return db.session.scalar(
            sa.select(SsoConnection).where(SsoConnection.company_id == company_id)
        )


def connection_for_company(company_id: int) -> SsoConnection:
    with tenancy.unscoped():
        connection = db.session.scalar(
            sa.select(SsoConnection).where(
                SsoConnection.company_id == company_id, SsoConnection.enabled.is_(True)
            )
        )
    if connection is None:
        raise SsoError("Single sign-on is not set up for this company.")
    return connection


# Every call to a provider: a bounded wait, and never a redirect (a public endpoint must not
# bounce the portal to an address it did not check).
PROVIDER_TIMEOUT_SECONDS = 10
# What Authlib may read of the discovery document the portal checked (never refetched).
METADATA_KEYS = (
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "jwks_uri",
    "id_token_signing_alg_values_supported",
    "token_endpoint_auth_methods_supported",
    "code_challenge_methods_supported",
)


class ProviderSession(OAuth2Session):
    """Authlib's HTTP session, with a timeout on every request and no redirects followed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("default_timeout", PROVIDER_TIMEOUT_SECONDS)
        super().__init__(*args, **kwargs)
        self.max_redirects = 0  # requests raises TooManyRedirects on the first redirect


def client_for(connection: SsoConnection) -> Any:
    """An Authlib client for this connection, built afresh from its current configuration
    (a changed client id or secret counts at the next sign-in) and from the discovery
    document the portal itself fetched and checked: Authlib calls only endpoints that were
    validated, and fetches the keys (once per sign-in, so a new key id is found) from the
    checked ``jwks_uri``."""
    metadata = check_discovery(connection.issuer)
    name = f"company-{connection.company_id}"
    # Authlib's registry hands back the first client it built under a name for the life of
    # the process, ``overwrite`` or not: forget it, so this configuration is the one used.
    oauth._clients.pop(name, None)
    client = oauth.register(
        name=name,
        overwrite=True,
        client_id=connection.client_id,
        client_secret=connection.client_secret,
        client_kwargs={"scope": SCOPES, "code_challenge_method": "S256"},
        **{key: metadata[key] for key in METADATA_KEYS if key in metadata},
    )
    client.client_cls = ProviderSession
    return client


SUBJECT_MAX_LENGTH = FederatedIdentity.__table__.c.subject.type.length


@dataclass(frozen=True)
class VerifiedIdentity:
    issuer: str
    subject: str
    email: str | None


def verify_callback(connection: SsoConnection, token: dict[str, Any]) -> VerifiedIdentity:
    """Check what Authlib validated (signature, audience, expiry, nonce) is really there."""
    claims = token.get("userinfo")
    if not claims:
        raise SsoError("The identity provider did not return a verified ID token.")
    if claims.get("iss") != connection.issuer:
        raise SsoError("The ID token was issued by another provider.")
    if not claims.get("sub"):
        raise SsoError("The ID token names no subject.")
    if len(str(claims["sub"])) > SUBJECT_MAX_LENGTH:
        raise SsoError("The ID token's subject is longer than Trestle can record.")
    return VerifiedIdentity(connection.issuer, str(claims["sub"]), claims.get("email"))


def user_for_identity(connection: SsoConnection, identity: VerifiedIdentity) -> User:
    """The user linked to this identity, if they belong to the connection's company."""
    linked = db.session.scalar(
        sa.select(FederatedIdentity).where(
            FederatedIdentity.issuer == identity.issuer,
            FederatedIdentity.subject == identity.subject,
        )
    )
    if linked is None:
        audit.record(
            "sso:login:unlinked",
            company_id=connection.company_id,
            after={"issuer": identity.issuer, "subject": identity.subject, "email": identity.email},
        )
        raise SsoError(
            "Your identity provider account is not linked to a Trestle account yet. Sign in "
            "with your password once and link it from your account page, or accept your "
            "invitation."
        )
    user = db.session.get(User, linked.user_id)
    with tenancy.unscoped():
        member = db.session.scalar(
            sa.select(Membership.id).where(
                Membership.user_id == user.id, Membership.company_id == connection.company_id
            )
        )
    if member is None or not user.is_active:
        raise SsoError("That account is not a member of the company this sign-on belongs to.")
    return user


def link_identity(
    user: User, connection: SsoConnection, identity: VerifiedIdentity
) -> FederatedIdentity:
    """Link an identity to the signed-in (and freshly verified) user."""
    existing = db.session.scalar(
        sa.select(FederatedIdentity).where(
            FederatedIdentity.issuer == identity.issuer,
            FederatedIdentity.subject == identity.subject,
        )
    )
    if existing is not None and existing.user_id != user.id:
        raise SsoError("That identity provider account is already linked to another user.")
    if existing is not None:
        return existing
    linked = FederatedIdentity(
        user_id=user.id,
        issuer=identity.issuer,
        subject=identity.subject,
        email_at_link=identity.email,
    )
    db.session.add(linked)
    db.session.flush()
    audit.record(
        "sso:identity:linked",
        actor_user_id=user.id,
        company_id=connection.company_id,
        object_type="user",
        object_id=user.id,
        after={"issuer": identity.issuer, "subject": identity.subject},
    )
    return linked


def refuse_password_when_sso_required(email: str) -> None:
    """Refuse a password sign-in for an account whose company requires SSO, whatever the
    password (so a password is never confirmed by a different refusal)."""
    with tenancy.unscoped():
        user = db.session.scalar(sa.select(User).where(User.email == email.strip().lower()))
    if user is not None:
        ensure_password_login_allowed(user)


def end_password_sessions(company: Company, *, actor_user_id: int | None) -> int:
    """SSO became required: sign out every member whose session began with a password."""
    member_ids = sa.select(Membership.user_id).where(Membership.company_id == company.id)
    result = db.session.execute(
        sa.update(UserSession)
        .where(
            UserSession.user_id.in_(member_ids),
            UserSession.sso_issuer.is_(None),
            UserSession.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow())
    )
    if result.rowcount:
        audit.record(
            "sso:sessions:password_ended",
            actor_user_id=actor_user_id,
            company_id=company.id,
            after={"count": result.rowcount},
        )
    return result.rowcount


def ensure_password_login_allowed(user: User) -> None:
    """Refuse a password sign-in when one of the user's companies requires SSO."""
    with tenancy.unscoped():
        required = db.session.scalar(
            sa.select(Company.name)
            .join(Membership, Membership.company_id == Company.id)
            .join(SsoConnection, SsoConnection.company_id == Company.id)
            .where(
                Membership.user_id == user.id,
                SsoConnection.enabled.is_(True),
                SsoConnection.mode == SsoMode.REQUIRED,
            )
            .limit(1)
        )
    if required:
        audit.record(
            "accounts:login:failed", actor_user_id=user.id, after={"reason": "sso_required"}
        )
        raise NotAllowed(f"{required} requires single sign-on. Use “Sign in with SSO”.")
