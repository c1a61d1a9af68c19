"""Sign in with SSO, and link an identity provider account to a signed-in user."""

from __future__ import annotations

from authlib.common.errors import AuthlibBaseError
from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from flask_login import current_user
from joserfc.errors import JoseError
from requests import RequestException, TooManyRedirects

from portal.accounts import guards
from portal.accounts.forms import EmailForm
from portal.accounts.guards import login_required, requires_role, step_up
from portal.companies.models import Role
from portal.core import audit, htmx
from portal.core.db import db, expecting_writes
from portal.core.errors import DomainError
from portal.core.forms import show_error
from portal.core.urls import external_url
from portal.sso import services
from portal.sso.forms import SsoForm
from portal.sso.models import SsoMode

blueprint = Blueprint("sso", __name__)


@blueprint.route("/login/sso", methods=["GET", "POST"])
def login():
    """Find the company's identity provider from the email address and go there."""
    form = EmailForm()
    if form.validate_on_submit():
        try:
            services.throttle_sso_lookups(request.remote_addr)
            connection = services.connection_for_email(form.email.data)
            services.check_discovery(connection.issuer)
        except DomainError as error:
            db.session.commit()  # keep the throttle count
            show_error(form, error)
        else:
            db.session.commit()
            session["sso_intent"] = {
                "company_id": connection.company_id,
                "purpose": "login",
                "login_hint": form.email.data.strip().lower(),
                "next": guards.safe_next(request.args.get("next"), url_for("home.show_dashboard")),
            }
            return htmx.redirect_to(url_for("sso.start"))
    return htmx.render("sso/login.html", "sso/_login_form.html", form=form)


@blueprint.get("/login/sso/start")
def start():
    """Send the browser to the identity provider (PKCE S256, state and nonce)."""
    intent = session.get("sso_intent")
    if not intent:
        return redirect(url_for("sso.login"))
    try:
        connection = services.connection_for_company(intent["company_id"])
        client = services.client_for(connection)
    except DomainError as error:
        flash(error.message, "error")
        return redirect(url_for("sso.login"))
    extra = {"login_hint": intent["login_hint"]} if intent.get("login_hint") else {}
    db.session.commit()  # end the reads: the state is written in a transaction of its own
    with expecting_writes():
        response = client.authorize_redirect(external_url("sso.callback"), **extra)
        db.session.commit()  # the state, nonce and PKCE verifier, kept server-side
    return response


@blueprint.get("/login/sso/callback")
def callback():
    """Finish at the identity provider: validate the ID token, then sign in or link."""
    intent = session.pop("sso_intent", None)
    if not intent:
        flash("That sign-in link has expired or was already used. Start again.", "error")
        return redirect(url_for("sso.login"))
    try:
        connection = services.connection_for_company(intent["company_id"])
        client = services.client_for(connection)
        token = client.authorize_access_token()
        identity = services.verify_callback(connection, token)
    except (AuthlibBaseError, JoseError, ValueError, DomainError, RequestException) as error:
        reason = error.message if isinstance(error, DomainError) else error.__class__.__name__
        audit.record(
            "sso:login:failed", company_id=intent["company_id"], after={"reason": reason[:200]}
        )
        db.session.commit()
        flash(f"Single sign-on failed: {_explain(error)}", "error")
        return redirect(url_for("sso.login"))
    try:
        if intent["purpose"] == "link":
            if not (current_user.is_authenticated and current_user.id == intent.get("user_id")):
                raise services.SsoError("Sign in again before linking an identity provider.")
            services.link_identity(current_user, connection, identity)
            db.session.commit()
            flash(
                "Your identity provider account is linked. You can now sign in with SSO.", "success"
            )
            return redirect(url_for("accounts.show_account"))
        user = services.user_for_identity(connection, identity)
    except DomainError as error:
        db.session.commit()
        flash(error.message, "error")
        return redirect(url_for("sso.login"))
    guards.begin_pending_auth(
        user,
        remember=False,
        next_path=intent.get("next") or "/",
        sso_issuer=identity.issuer,
        sso_subject=identity.subject,
    )
    db.session.commit()
    # The portal's own second factor still applies after SSO.
    target = "accounts.login_code" if user.mfa_enrolled else "accounts.enroll"
    return redirect(url_for(target))


@blueprint.post("/account/sso/link")
@login_required
@step_up(action="Link your identity provider account")
def link():
    """Link the current company's identity provider account to this user."""
    try:
        connection = services.connection_for_company(g.company.id if g.company else 0)
    except DomainError as error:
        flash(error.message, "error")
        return htmx.redirect_to(url_for("accounts.show_account"))
    session["sso_intent"] = {
        "company_id": connection.company_id,
        "purpose": "link",
        "user_id": current_user.id,
        "login_hint": current_user.email,
    }
    return htmx.redirect_to(url_for("sso.start"))


def _explain(error: Exception) -> str:
    if isinstance(error, DomainError):
        return error.message
    if isinstance(error, TooManyRedirects):
        return "the identity provider answered with a redirect, which Trestle does not follow"
    if isinstance(error, RequestException):
        return "the identity provider did not answer in time; try again in a moment"
    name = error.__class__.__name__
    explanations = {
        "MismatchingStateError": "the sign-in request did not match this browser (it was "
        "tampered with, replayed or started in another tab)",
        "InvalidClaimError": "the ID token's claims were not valid for this portal",
        "MissingClaimError": "the ID token's claims were not valid for this portal",
        "BadSignatureError": "the ID token's signature did not verify",
        "InvalidKeyIdError": "the ID token was signed with a key the identity provider does "
        "not publish",
        "ExpiredTokenError": "the ID token had expired",
        "OAuthError": "the identity provider refused the request",
    }
    return explanations.get(name, f"the identity provider's answer was not valid ({name})")


# --------------------------------------------------------------------------- setup


def setup_page(company, form=None, *, action: str, test_action: str, back: str | None = None):
    """The SSO setup screen, shared by Payments Admins and operators."""
    connection = services.connection_of(company.id)
    if form is None:
        form = SsoForm(formdata=None, obj=connection)
        if connection is not None:
            form.allowed_domains.data = ", ".join(connection.domains)
            form.mode.data = connection.mode.value
    return render_template(
        "sso/setup.html",
        company=company,
        connection=connection,
        form=form,
        action=action,
        test_action=test_action,
        back=back,
        callback_url=external_url("sso.callback"),
    )


def save_setup(company, form: SsoForm, *, by_operator: bool = False) -> bool:
    """Validate and save; True when saved (the caller commits and redirects)."""
    if not form.validate_on_submit():
        return False
    try:
        services.configure(
            company,
            issuer=form.issuer.data,
            client_id=form.client_id.data,
            client_secret=form.client_secret.data or None,
            allowed_domains=form.allowed_domains.data,
            mode=SsoMode(form.mode.data),
            actor_user_id=current_user.id,
            by_operator=by_operator,
        )
    except DomainError as error:
        show_error(form, error)
        return False
    return True


def test_result():
    """Fetch the discovery document of the issuer being typed and report what is wrong."""
    issuer = (request.form.get("issuer") or "").strip()
    try:
        metadata = services.check_discovery(issuer) if issuer else None
        problem = None if issuer else "Enter the issuer URL first."
    except DomainError as error:
        metadata, problem = None, error.message
    return render_template("sso/_test_result.html", metadata=metadata, problem=problem)


@blueprint.route("/settings/sso", methods=["GET", "POST"])
@login_required
@requires_role(Role.PAYMENTS_ADMIN)
@step_up(action="Set up single sign-on")
def setup():
    """Payments Admins set up their company's single sign-on."""
    company = g.company
    form = SsoForm()
    if request.method == "POST" and save_setup(company, form):
        db.session.commit()
        flash("Single sign-on saved.", "success")
        return htmx.redirect_to(url_for("sso.setup"))
    return setup_page(
        company,
        form if request.method == "POST" else None,
        action=url_for("sso.setup"),
        test_action=url_for("sso.test_connection"),
    )


@blueprint.post("/settings/sso/test")
@login_required
@requires_role(Role.PAYMENTS_ADMIN)
@step_up(action="Test the identity provider")
def test_connection():
    """Test the identity provider's discovery document (an htmx fragment)."""
    return test_result()
