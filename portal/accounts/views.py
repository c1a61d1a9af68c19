"""Sign-in pages."""

from __future__ import annotations

from flask import Blueprint

from portal.accounts.forms import LoginForm
from portal.core import htmx

blueprint = Blueprint("accounts", __name__)


@blueprint.route("/login", methods=["GET", "POST"])
def login():
    """Show the sign-in form; check the credentials it posts."""
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        # User accounts arrive with the identity capability; until then no
        # credentials can match, and the answer is the same one a wrong password gets.
        error = "That email and password do not match an account."
    return htmx.render("accounts/login.html", "accounts/_login_form.html", form=form, error=error)
