"""Payee onboarding pages. The invitation link works signed out: the link is the authority."""

from __future__ import annotations

from flask import Blueprint, render_template

from portal.core import htmx
from portal.core.db import db
from portal.core.errors import DomainError
from portal.core.forms import show_error
from portal.onboarding import queries, services
from portal.onboarding.forms import ReassignForm

blueprint = Blueprint("onboarding", __name__)


def _refused(error: DomainError):
    return render_template("onboarding/invitation.html", problem=error.message), error.status_code


@blueprint.get("/payee-invitations/<token>")
def show_invitation(token: str):
    """A payor's invitation to get paid on Trestle, as its recipient opens it."""
    try:
        invitation = services.find_invitation(token)
    except DomainError as error:
        return _refused(error)
    return render_template(
        "onboarding/invitation.html",
        invitation=invitation,
        payor=queries.payor_of(invitation),
        token=token,
        form=ReassignForm(),
    )


@blueprint.post("/payee-invitations/<token>/reassign")
def reassign_invitation(token: str):
    """The recipient passes the invitation to a colleague; this link stops working."""
    try:
        invitation = services.find_invitation(token)
    except DomainError as error:
        return _refused(error)
    payor = queries.payor_of(invitation)
    form = ReassignForm()
    if form.validate_on_submit():
        try:
            sent = services.reassign_by_recipient(token, form.email.data)
        except DomainError as error:
            db.session.rollback()
            show_error(form, error)
        else:
            db.session.commit()
            return render_template(
                "onboarding/invitation.html", passed_to=sent.invitation.email, payor=payor
            )
    return htmx.render(
        "onboarding/invitation.html",
        "onboarding/_reassign_form.html",
        invitation=invitation,
        payor=payor,
        token=token,
        form=form,
    )
