"""Route guards and the per-request identity: who is signed in, in which company, how fresh.

Declare security on the route in one order: route, login, role, step-up.

    @blueprint.post("/company/members/<int:membership_id>/roles")
    @login_required
    @requires_role(Role.PAYMENTS_ADMIN, Role.PAYEE_ADMIN)
    @step_up(action="Give a member a role")
    def grant_role(membership_id): ...

A stale POST is either confirmed by a ``step_up_code`` field sent with it, or held (see
``held_actions``) and resumed with every input, files included, once the user verifies.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import (
    Flask,
    Response,
    abort,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    request,
    session,
    url_for,
)
from flask_login import LoginManager, current_user, login_user, logout_user
from flask_login import login_required as _login_required

from portal.accounts import held_actions, services
from portal.accounts.models import User
from portal.companies import queries as company_queries
from portal.companies.models import CompanyKind, Feature, Membership, Role
from portal.core import htmx, tenancy
from portal.core.audit import RequestContext, current_request_context
from portal.core.db import commit_keeping_loaded, db, expecting_writes
from portal.core.errors import DomainError

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
        found = services.load_session_user(
            cookie_id, *company_queries.memberships_loaded_with_user()
        )
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
    app.jinja_env.globals["step_up_needed"] = step_up_needed


def _identify_request() -> Any:
    """Scope the request to the user's current company and fill in the audit context."""
    g.tenant_token = tenancy.scope_to(None)
    if request.endpoint == "static":
        return None  # static files never touch the session or the database
    if not current_user.is_authenticated:
        return None
    session_row = g.get("user_session")
    memberships = company_queries.loaded_memberships(current_user)
    idle_limit = timedelta(minutes=current_app.config["SESSION_IDLE_MINUTES"])
    if session_row is not None and services.idle_too_long(
        session_row, holds_a_role=any(m.role_set for m in memberships), limit=idle_limit
    ):
        db.session.commit()  # end the read that loaded the session, then write on its own
        with expecting_writes():
            services.end_idle_session(session_row)
            db.session.commit()
        sign_out()
        flash(
            f"You were signed out after {current_app.config['SESSION_IDLE_MINUTES']} minutes "
            "without activity. Sign in again to continue.",
            "info",
        )
        return htmx.redirect_to(url_for("accounts.login", next=return_path()))
    if session_row is not None:
        if services.activity_due(session_row):
            # Its own short write, committed now: the request may only read, and a read
            # transaction must not become a write on SQLite.
            commit_keeping_loaded()
            with expecting_writes():
                services.note_activity(session_row.id)
                commit_keeping_loaded()
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
    g.memberships = memberships
    chosen = next((m for m in memberships if m.company_id == session.get("company_id")), None)
    chosen = chosen or (memberships[0] if memberships else None)
    g.membership = chosen
    g.company = chosen.company if chosen else None
    tenancy.reset(g.tenant_token)
    g.tenant_token = tenancy.scope_to(chosen.company_id if chosen else None)
    if current_user.recovery_codes_waiting and request.endpoint not in RECOVERY_CODE_ENDPOINTS:
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


def _in_a_payee(view: F, *, elsewhere: int = 404) -> F:
    @wraps(view)
    def only_payees(*args: Any, **kwargs: Any) -> Any:
        if g.company.kind is not CompanyKind.PAYEE:
            abort(elsewhere)
        return view(*args, **kwargs)

    return only_payees  # type: ignore[return-value]


def payee_admin(view: F) -> F:
    """Signed in as a Payee Payments Admin, working in a payee company (elsewhere: 404)."""
    return login_required(requires_role(Role.PAYEE_ADMIN)(_in_a_payee(view)))  # type: ignore[return-value]


def payee_member(view: F) -> F:
    """Signed in as anyone of a payee company, working in it: an invoice contact holds no
    role of the company, only its commitments. Elsewhere 403, as a role guard answers: the
    page is a payee's."""
    return login_required(_in_a_payee(view, elsewhere=403))  # type: ignore[return-value]


def requires_feature(feature: Feature) -> Callable[[F], F]:
    """Hide the route (404) unless the feature is on for the current company."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            company = g.get("company")
            if company is None or not company_queries.features_in(company)[feature]:
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


def step_up(max_age: timedelta | None = None, *, action: str | None = None) -> Callable[[F], F]:
    """Require a TOTP code fresher than ``max_age`` (default: STEP_UP_MAX_AGE_SECONDS).

    ``action`` names what the code confirms on the prompt (default: the view's docstring).
    A stale POST either carries its own ``step_up_code`` field, or is held and resumed,
    files included, after the user verifies.
    """

    def decorate(view: F) -> F:
        label = action or _first_line(view.__doc__) or "this action"

        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            window = max_age or timedelta(seconds=current_app.config["STEP_UP_MAX_AGE_SECONDS"])
            fresh = is_fresh(window)
            if request.method != "POST":
                if fresh:
                    return view(*args, **kwargs)
                return htmx.redirect_to(url_for("accounts.verify", next=return_path()))
            resume_token = request.form.get(RESUME_FIELD)
            if resume_token:
                return _resume(view, label, resume_token, fresh, args, kwargs)
            if fresh:
                return view(*args, **kwargs)
            code = request.form.get(CODE_FIELD)
            if code:
                signed_out = _check_inline_code(code)
                if signed_out is not None:
                    return signed_out
                if is_fresh(window):
                    return view(*args, **kwargs)
            return _hold_and_ask(label)

        return wrapper  # type: ignore[return-value]

    return decorate


CODE_FIELD = "step_up_code"
RESUME_FIELD = "step_up_resume"
RETURN_FIELD = "step_up_return"
EXPIRED_MESSAGE = (
    "That action was already finished, or it expired before it was confirmed. Nothing more "
    "was changed: check the page, and do it again if it is not done."
)


def _first_line(text: str | None) -> str:
    return (text or "").strip().split("\n", 1)[0].rstrip(".")


def step_up_needed() -> bool:
    """For templates: should a form of a sensitive action carry its own code field?"""
    return current_user.is_authenticated and not is_fresh()


def _check_inline_code(code: str) -> Any:
    """Verify a code sent with the action itself; a response only when the user is signed out.

    Commits at once: the accepted time step (replay refusal) and the failure count must
    stay recorded even when the view then rolls its own work back.
    """
    try:
        services.verify_second_factor(current_user, code, request.remote_addr, "step_up")
    except DomainError as error:
        signed_out = services.record_step_up_failure(current_user)
        db.session.commit()
        if signed_out:
            sign_out()
            flash("Too many incorrect codes: you have been signed out.", "error")
            return htmx.redirect_to(url_for("accounts.login"))
        flash(error.message, "error")
        return None
    current_user.step_up_failures = 0
    mark_verified()
    db.session.commit()
    return None


def _hold_and_ask(label: str) -> Any:
    """Keep what was submitted and send the user to the prompt, which names the action."""
    back = return_path()
    session_row = g.get("user_session")
    if session_row is None:  # no session row to bind a held action to: just ask
        return htmx.redirect_to(url_for("accounts.verify", next=back))
    token = held_actions.hold(
        user_id=current_user.id,
        session_id=session_row.id,
        company_id=g.company.id if g.get("company") else None,
        action=label,
        return_to=back,
        from_htmx=bool(request.htmx),
    )
    return htmx.redirect_to(url_for("accounts.verify", next=back, resume=token))


def held_action(token: str | None) -> held_actions.HeldAction | None:
    """The action ``token`` holds for the signed-in user's current session, if still alive."""
    session_row = g.get("user_session")
    if not token or session_row is None or not current_user.is_authenticated:
        return None
    company = g.get("company")
    return held_actions.peek(
        token,
        user_id=current_user.id,
        session_id=session_row.id,
        company_id=company.id if company else None,
    )


def _resume(
    view: Callable[..., Any],
    label: str,
    token: str,
    fresh: bool,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    """Run the view once with the held form and files, if the token is this session's."""
    held = held_action(token)
    if held is None or held.path != request.path or held.endpoint != request.endpoint:
        flash(EXPIRED_MESSAGE, "error")
        return htmx.redirect_to(
            safe_next(request.form.get(RETURN_FIELD), url_for("home.show_dashboard"))
        )
    if not fresh:
        return htmx.redirect_to(url_for("accounts.verify", next=held.return_to, resume=token))
    if not held_actions.claim(token, held.session_id):
        flash(EXPIRED_MESSAGE, "error")
        return htmx.redirect_to(held.return_to)
    held_actions.restore_into_request(held)
    # No "code accepted" notice: the view's own message says what happened, and a form
    # error must not sit under a green banner.
    response = make_response(view(*args, **kwargs))
    if held.from_htmx and _is_bare_fragment(response):
        # The view answered for an htmx swap whose target is not on this page: go back
        # to the page the action came from, where its result shows.
        return redirect(held.return_to, code=303)
    return response


def _is_bare_fragment(response: Response) -> bool:
    if response.status_code >= 300 or response.mimetype != "text/html":
        return False
    return b"<html" not in response.get_data()[:500].lower()


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
    return pending.get("next") or url_for("home.show_dashboard")


def mark_verified() -> None:
    """The user just proved the second factor in this session: step-up actions may follow."""
    session["mfa_at"] = time.time()
    session["_fresh"] = True


def sign_out() -> None:
    logout_user()
    session.clear()
