"""Route guards and the per-request identity: who is signed in, in which company, how fresh.

Declare security on the route in one order: route, login, role, step-up.

    @blueprint.post("/company/members/<int:membership_id>/roles")
    @login_required
    @requires_role(Role.PAYMENTS_ADMIN, Role.PAYEE_ADMIN)
    @step_up()
    def grant_role(membership_id): ...
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Flask, abort, current_app, flash, g, request, session, url_for
from flask_login import LoginManager, current_user, login_user, logout_user
from flask_login import login_required as _login_required

from portal.accounts import services
from portal.accounts.models import User
from portal.companies import queries as company_queries
from portal.companies.models import Feature, Membership, Role
from portal.core import htmx, tenancy
from portal.core.audit import RequestContext, current_request_context
from portal.core.db import db

F = TypeVar("F", bound=Callable[..., Any])

login_manager = LoginManager()
login_manager.login_view = "accounts.login"
login_manager.login_message = "Sign in to continue."
login_manager.login_message_category = "info"
# Sessions are checked against the database on every request; "strong" protection would
# also drop them whenever a mobile IP changes.
login_manager.session_protection = "basic"

PENDING_AUTH_MAX_AGE = timedelta(minutes=10)
# Pages a signed-in user may reach while recovery codes wait to be confirmed as saved.
RECOVERY_CODE_ENDPOINTS = {
    "accounts.show_recovery_codes",
    "accounts.verify",
    "accounts.logout",
    "static",
}

login_required = _login_required


@login_manager.user_loader
def load_user(cookie_id: str) -> User | None:
    with tenancy.unscoped():
        found = services.load_session_user(cookie_id)
    if found is None:
        return None
    user, session_row = found
    g.user_session = session_row
    return user


@login_manager.unauthorized_handler
def unauthorized() -> Any:
    flash(login_manager.login_message, login_manager.login_message_category)
    return htmx.redirect_to(url_for("accounts.login", next=return_path()))


def init_app(app: Flask) -> None:
    services.init_app(app)
    login_manager.init_app(app)
    app.before_request(_identify_request)
    app.teardown_request(_forget_request)


def _identify_request() -> Any:
    """Scope the request to the user's current company and fill in the audit context."""
    g.tenant_token = tenancy.scope_to(None)
    if not current_user.is_authenticated:
        return None
    session_row = g.get("user_session")
    if session_row is not None:
        services.touch_session(session_row)
        context = current_request_context.get()
        current_request_context.set(
            RequestContext(
                request_id=context.request_id,
                ip_address=context.ip_address,
                user_agent=context.user_agent,
                sso_issuer=session_row.sso_issuer,
                sso_subject=session_row.sso_subject,
            )
        )
    memberships = company_queries.memberships_of(current_user.id)
    g.memberships = memberships
    chosen = next((m for m in memberships if m.company_id == session.get("company_id")), None)
    chosen = chosen or (memberships[0] if memberships else None)
    g.membership = chosen
    g.company = chosen.company if chosen else None
    tenancy.reset(g.tenant_token)
    g.tenant_token = tenancy.scope_to(chosen.company_id if chosen else None)
    if current_user.recovery_codes_to_show and request.endpoint not in RECOVERY_CODE_ENDPOINTS:
        return htmx.redirect_to(url_for("accounts.show_recovery_codes"))
    return None


def _forget_request(exc: BaseException | None) -> None:
    token = g.pop("tenant_token", None)
    if token is not None:
        tenancy.reset(token)


def current_membership() -> Membership | None:
    return g.get("membership")


def requires_role(*roles: Role) -> Callable[[F], F]:
    """Allow the route only to members holding one of ``roles`` in the current company."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            membership = current_membership()
            if membership is None or not (membership.role_set & set(roles)):
                abort(403)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def requires_feature(feature: Feature) -> Callable[[F], F]:
    """Hide the route (404) unless the feature is on for the current company."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            company = g.get("company")
            if company is None or not company_queries.feature_enabled(company.id, feature):
                abort(404)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def is_fresh(max_age: timedelta | None = None) -> bool:
    """True when this session proved a second factor within ``max_age``.

    A session restored from a remember-me cookie never is.
    """
    max_age = max_age or timedelta(seconds=current_app.config["STEP_UP_MAX_AGE_SECONDS"])
    verified_at = session.get("mfa_at")
    if not session.get("_fresh") or verified_at is None:
        return False
    return time.time() - float(verified_at) <= max_age.total_seconds()


def step_up(max_age: timedelta | None = None) -> Callable[[F], F]:
    """Require a TOTP code fresher than ``max_age`` (default: STEP_UP_MAX_AGE_SECONDS)."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            window = max_age or timedelta(seconds=current_app.config["STEP_UP_MAX_AGE_SECONDS"])
            if not is_fresh(window):
                return htmx.redirect_to(url_for("accounts.verify", next=return_path()))
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def return_path() -> str:
    """Where to come back to after verifying: the page for GETs, the page that posted otherwise."""
    if request.method == "GET" and not request.htmx:
        return safe_next(request.full_path)
    source = request.headers.get("HX-Current-URL") or request.referrer or ""
    return safe_next(source)


def safe_next(target: str | None, default: str = "/") -> str:
    """Only same-site relative paths: never send a user to another origin after sign-in."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.netloc and parts.netloc != request.host:
        return default
    path = parts.path or "/"
    if not path.startswith("/") or path.startswith("//") or "\\" in path:
        return default
    return path + (f"?{parts.query}" if parts.query else "")


# --------------------------------------------------------------------------- sign-in state


def begin_pending_auth(
    user: User,
    *,
    remember: bool,
    next_path: str,
    sso_issuer: str | None = None,
    sso_subject: str | None = None,
) -> None:
    """First factor done: forget the old session and wait for the second factor."""
    session.clear()
    session["pending_auth"] = {
        "user_id": user.id,
        "remember": remember,
        "at": time.time(),
        "next": next_path,
        "sso_issuer": sso_issuer,
        "sso_subject": sso_subject,
    }


def pending_user() -> tuple[User, dict[str, Any]] | None:
    """The user who passed the first factor in this browser, if recently."""
    pending = session.get("pending_auth")
    if not pending or time.time() - pending["at"] > PENDING_AUTH_MAX_AGE.total_seconds():
        return None
    user = db.session.get(User, pending["user_id"])
    if user is None or not user.is_active:
        return None
    return user, pending


def complete_login(user: User, pending: dict[str, Any], *, verified: bool = True) -> str:
    """Second factor done: rotate the session, record it, and say where to go next.

    ``verified`` is False after a recovery code: step-up actions still need a TOTP code.
    """
    remember = bool(pending.get("remember"))
    session.clear()
    services.start_session(
        user,
        remember=remember,
        ip_address=request.remote_addr,
        user_agent=request.user_agent.string,
        sso_issuer=pending.get("sso_issuer"),
        sso_subject=pending.get("sso_subject"),
    )
    login_user(user, remember=remember, fresh=True)
    if verified:
        mark_verified()
    return pending.get("next") or url_for("accounts.dashboard")


def mark_verified() -> None:
    """The user just proved the second factor in this session: step-up actions may follow."""
    session["mfa_at"] = time.time()
    session["_fresh"] = True


def sign_out() -> None:
    logout_user()
    session.clear()
