"""Sign-in, second factors, step-up, sessions and password pages."""

from __future__ import annotations

import secrets

import segno
from flask import Blueprint, flash, g, render_template, request, session, url_for
from flask_login import current_user

from portal.accounts import guards, services
from portal.accounts.forms import (
    ChangePasswordForm,
    CodeForm,
    ConfirmForm,
    EmailForm,
    LoginForm,
    NewPasswordForm,
    RecoveryCodeForm,
    SavedCodesForm,
)
from portal.accounts.guards import login_required, step_up
from portal.accounts.queries import account_overview
from portal.core import htmx
from portal.core.db import db
from portal.core.errors import DomainError
from portal.core.forms import show_error
from portal.core.urls import external_url
from portal.core.views import render_error
from portal.notifications.services import queue_email
from portal.sso import services as sso_services

blueprint = Blueprint("accounts", __name__)


def _fail(form, error: DomainError) -> None:
    """Keep what the failure recorded (throttle counts, audit), show the message."""
    db.session.commit()
    show_error(form, error)


@blueprint.route("/login", methods=["GET", "POST"])
def login():
    """Show the sign-in form; check the password, then ask for the second factor."""
    if current_user.is_authenticated:
        return htmx.redirect_to(url_for("home.show_dashboard"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        try:
            # Before the password is looked at: a right and a wrong password get the same
            # answer when the account's company requires single sign-on.
            sso_services.refuse_password_when_sso_required(form.email.data)
            user = services.authenticate_password(
                form.email.data, form.password.data, request.remote_addr
            )
        except services.TooManyAttempts as error:
            _fail(form, error)
            status = 429 if not request.htmx else 200
        except DomainError as error:
            _fail(form, error)
        else:
            guards.begin_pending_auth(
                user,
                remember=form.remember.data,
                next_path=guards.safe_next(
                    request.args.get("next"), url_for("home.show_dashboard")
                ),
            )
            db.session.commit()
            target = "accounts.login_code" if user.mfa_enrolled else "accounts.enroll"
            return htmx.redirect_to(url_for(target))
    return htmx.render("accounts/login.html", "accounts/_login_form.html", status=status, form=form)


def _pending_or_restart():
    pending = guards.pending_user()
    if pending is None:
        flash("Your sign-in timed out. Sign in again.", "error")
    return pending


@blueprint.route("/login/code", methods=["GET", "POST"])
def login_code():
    """Ask for the TOTP code that completes sign-in."""
    pending = _pending_or_restart()
    if pending is None:
        return htmx.redirect_to(url_for("accounts.login"))
    user, state = pending
    if not user.mfa_enrolled:
        return htmx.redirect_to(url_for("accounts.enroll"))
    form = CodeForm()
    if form.validate_on_submit():
        try:
            services.verify_second_factor(user, form.code.data, request.remote_addr, "login")
        except DomainError as error:
            _fail(form, error)
        else:
            target = guards.complete_login(user, state)
            db.session.commit()
            return htmx.redirect_to(target)
    return htmx.render(
        "accounts/login_code.html",
        "accounts/_code_form.html",
        form=form,
        action=url_for("accounts.login_code"),
        button="Verify",
    )


@blueprint.route("/login/recovery", methods=["GET", "POST"])
def login_recovery():
    """Complete sign-in with a single-use recovery code instead of the app."""
    pending = _pending_or_restart()
    if pending is None:
        return htmx.redirect_to(url_for("accounts.login"))
    user, state = pending
    form = RecoveryCodeForm()
    if form.validate_on_submit():
        try:
            remaining = services.use_recovery_code(user, form.code.data, request.remote_addr)
        except DomainError as error:
            _fail(form, error)
        else:
            target = guards.complete_login(user, state, verified=False)
            session["recovered"] = True
            db.session.commit()
            flash(
                f"Signed in with a recovery code. {remaining} unused code(s) left; "
                "generate new ones from your account page if you are running low.",
                "info",
            )
            return htmx.redirect_to(target)
    return htmx.render(
        "accounts/login_recovery.html",
        "accounts/_code_form.html",
        form=form,
        action=url_for("accounts.login_recovery"),
        button="Use recovery code",
    )


@blueprint.route("/mfa/enroll", methods=["GET", "POST"])
def enroll():
    """Set up the authenticator app: a QR code, the key as text, then a code to confirm."""
    if current_user.is_authenticated:
        # Replacing the authenticator of a signed-in user is an MFA change: step-up first
        # (or a sign-in with a recovery code, for someone who lost their phone).
        if not (guards.is_fresh() or session.get("recovered")):
            return htmx.redirect_to(url_for("accounts.verify", next=url_for("accounts.enroll")))
        user, state = current_user, None
    else:
        pending = _pending_or_restart()
        if pending is None:
            return htmx.redirect_to(url_for("accounts.login"))
        user, state = pending
        if user.mfa_enrolled:
            return htmx.redirect_to(url_for("accounts.login_code"))
    form = CodeForm()
    if form.validate_on_submit():
        try:
            services.confirm_enrollment(
                user, form.code.data, request.remote_addr, session.get("enroll_nonce")
            )
        except DomainError as error:
            _fail(form, error)
        else:
            if state is not None:
                guards.complete_login(user, state)
            else:
                # A new authenticator: every other browser signs in again, and we say so.
                services.revoke_sessions(user, reason="mfa_changed", keep_current=True)
                queue_email(user.email, "mfa_changed", name=user.name)
                session.pop("recovered", None)
                guards.mark_verified()
            session.pop("enroll_nonce", None)
            db.session.commit()
            return htmx.redirect_to(url_for("accounts.show_recovery_codes"))
    if "enroll_nonce" not in session:  # this browser's setup page: one secret until used
        session["enroll_nonce"] = secrets.token_urlsafe(16)
    secret = services.enrollment_secret(user, session["enroll_nonce"])
    qr = segno.make(services.provisioning_uri(user, secret), error="m")
    return htmx.render(
        "accounts/enroll.html",
        "accounts/_code_form.html",
        form=form,
        secret=secret,
        qr_svg=qr.svg_inline(scale=5, title="QR code for your authenticator app"),
        action=url_for("accounts.enroll"),
        button="Turn on two-step verification",
    )


@blueprint.route("/mfa/recovery-codes", methods=["GET", "POST"])
@login_required
def show_recovery_codes():
    """Show new recovery codes once, to a freshly verified session; continue only after the
    user confirms saving them."""
    if not guards.is_fresh():
        return htmx.redirect_to(
            url_for("accounts.verify", next=url_for("accounts.show_recovery_codes"))
        )
    codes = (current_user.recovery_codes_to_show or "").split()
    if not codes:
        return htmx.redirect_to(url_for("accounts.show_account"))
    form = SavedCodesForm()
    if form.validate_on_submit():
        services.confirm_recovery_codes_saved(current_user)
        db.session.commit()
        flash("Two-step verification is on.", "success")
        return htmx.redirect_to(url_for("home.show_dashboard"))
    return render_template(
        "accounts/recovery_codes.html", form=form, codes=codes, download="\n".join(codes) + "\n"
    )


@blueprint.post("/mfa/recovery-codes/regenerate")
@login_required
@step_up(action="Replace your recovery codes")
def regenerate_recovery_codes():
    """Replace all recovery codes (the old ones stop working)."""
    services.regenerate_recovery_codes(current_user, reason="regenerated")
    db.session.commit()
    return htmx.redirect_to(url_for("accounts.show_recovery_codes"))


@blueprint.route("/verify", methods=["GET", "POST"])
@login_required
def verify():
    """Step-up: prove the second factor again before a sensitive action."""
    form = CodeForm()
    next_path = guards.safe_next(request.args.get("next"), url_for("home.show_dashboard"))
    token = request.args.get("resume")
    held = guards.held_action(token)
    if token and held is None:
        flash(guards.EXPIRED_MESSAGE, "error")
        token = None
    if held is not None and request.method == "GET" and guards.is_fresh():
        # Verified: post the held action back to where it was sent (the page submits it
        # itself with JS; the button does it without).
        return render_template("accounts/resume.html", held=held, token=token, back=next_path)
    if form.validate_on_submit():
        try:
            services.verify_second_factor(
                current_user, form.code.data, request.remote_addr, "step_up"
            )
        except DomainError as error:
            signed_out = services.record_step_up_failure(current_user)
            _fail(form, error)
            if signed_out:
                guards.sign_out()
                flash("Too many incorrect codes: you have been signed out.", "error")
                return htmx.redirect_to(url_for("accounts.login"))
        else:
            current_user.step_up_failures = 0
            guards.mark_verified()
            db.session.commit()
            if held is not None:
                return htmx.redirect_to(url_for("accounts.verify", next=next_path, resume=token))
            return htmx.redirect_to(next_path)
    return htmx.render(
        "accounts/verify.html",
        "accounts/_code_form.html",
        form=form,
        held=held,
        action=url_for("accounts.verify", next=next_path, resume=token),
        button="Verify",
        cancel_url=next_path,
    )


@blueprint.post("/logout")
@login_required
def logout():
    """Sign out of this browser."""
    services.end_session(current_user)
    db.session.commit()
    guards.sign_out()
    flash("You are signed out.", "info")
    return htmx.redirect_to(url_for("accounts.login"))


@blueprint.post("/account/sessions/revoke")
@login_required
def revoke_all_sessions():
    """Sign out everywhere, this browser included."""
    services.revoke_sessions(current_user, reason="user_request")
    db.session.commit()
    guards.sign_out()
    flash("You are signed out on every device.", "info")
    return htmx.redirect_to(url_for("accounts.login"))


@blueprint.get("/account")
@login_required
def show_account():
    """The user's security settings: MFA, recovery codes, sessions, SSO, password."""
    company = g.get("company")
    connection = sso_services.connection_of(company.id) if company is not None else None
    return render_template(
        "accounts/account.html",
        overview=account_overview(current_user),
        sso_link_available=connection is not None and connection.enabled,
        password_form=ChangePasswordForm(),
        confirm=ConfirmForm(),
    )


@blueprint.post("/account/password")
@login_required
def change_password():
    """Change the password (current one required); every session signs in again."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            services.authenticate_password(
                current_user.email, form.current_password.data, request.remote_addr
            )
            services.change_password(current_user, form.password.data)
        except DomainError as error:
            _fail(form, error)
        else:
            queue_email(current_user.email, "password_changed", name=current_user.name)
            db.session.commit()
            guards.sign_out()
            flash("Password changed. Sign in with the new one.", "success")
            return htmx.redirect_to(url_for("accounts.login"))
    return htmx.render(
        "accounts/account.html",
        "accounts/_password_form.html",
        overview=account_overview(current_user),
        password_form=form,
        confirm=ConfirmForm(),
    )


@blueprint.route("/password/forgot", methods=["GET", "POST"])
def forgot_password():
    """Email a reset link; say the same thing whether or not the account exists."""
    form = EmailForm()
    sent = False
    if form.validate_on_submit():
        try:
            link = services.request_password_reset(form.email.data, request.remote_addr)
        except DomainError as error:
            _fail(form, error)
        else:
            if link is not None:
                queue_email(
                    link.user.email,
                    "password_reset",
                    name=link.user.name,
                    url=external_url("accounts.reset_password", token=link.token),
                )
            db.session.commit()
            sent = True
    return htmx.render("accounts/forgot.html", "accounts/_forgot_form.html", form=form, sent=sent)


@blueprint.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    """Choose a new password from an emailed link (single use, one hour)."""
    try:
        services.find_reset_token(token)
    except DomainError as error:
        if htmx.is_fragment_request():
            return render_error(404, error.message)
        return render_template("accounts/reset_expired.html", message=error.message), 404
    form = NewPasswordForm()
    if form.validate_on_submit():
        try:
            services.reset_password(token, form.password.data)
        except DomainError as error:
            _fail(form, error)
        else:
            db.session.commit()
            guards.sign_out()
            flash(
                "Password changed. Sign in with it; you will still need your authenticator.",
                "success",
            )
            return htmx.redirect_to(url_for("accounts.login"))
    return htmx.render("accounts/reset.html", "accounts/_reset_form.html", form=form, token=token)
