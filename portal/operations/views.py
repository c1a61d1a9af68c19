"""Operator console (operators only)."""

from __future__ import annotations

from flask import Blueprint, flash, request, url_for
from flask_login import current_user

from portal.accounts import services as account_services
from portal.accounts.forms import ConfirmForm
from portal.accounts.guards import login_required, requires_role, step_up
from portal.companies.models import Role
from portal.core import htmx
from portal.core.db import db
from portal.operations import queries

blueprint = Blueprint("operations", __name__, url_prefix="/operator")


@blueprint.get("/users")
@login_required
@requires_role(Role.OPERATOR)
def list_users():
    """Find payor users (to reset their MFA)."""
    text = request.args.get("q", "").strip()
    results = queries.search_payor_users(text) if text else []
    return htmx.render(
        "operations/users.html",
        "operations/_user_results.html",
        q=text,
        results=results,
        form=ConfirmForm(),
    )


@blueprint.post("/users/<int:user_id>/reset-mfa")
@login_required
@requires_role(Role.OPERATOR)
@step_up()
def reset_user_mfa(user_id: int):
    """Remove a payor user's authenticator; they enroll again at next sign-in."""
    user = queries.payor_user(user_id)
    account_services.reset_mfa(user, actor_user_id=current_user.id, company_id=None)
    db.session.commit()
    flash(f"Two-step verification reset for {user.email}. They have been emailed.", "success")
    return htmx.redirect_to(url_for("operations.list_users", q=user.email))
