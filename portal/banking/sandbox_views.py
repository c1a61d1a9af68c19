"""The sandbox bank's own pages: a simulated bank, outside the portal's screens.

A payee reads the micro-deposits where a real payee would, on its bank's statement. The
blueprint exists only while the sandbox bank is the gateway and never in production.
"""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from portal.banking.gateway import SANDBOX_BANK_NAME, SandboxBank
from portal.banking.services import validate_account_number, validate_routing_number
from portal.core.errors import DomainError
from portal.core.forms import show_error

blueprint = Blueprint("sandbox_bank", __name__, url_prefix="/sandbox-bank")


class StatementForm(FlaskForm):
    routing_number = StringField(
        "Routing number", validators=[DataRequired("Enter the routing number."), Length(max=11)]
    )
    account_number = PasswordField(
        "Account number", validators=[DataRequired("Enter the account number."), Length(max=20)]
    )


@blueprint.get("/statement")
def show_statement():
    """Ask which account to show (a bank's sign-in, simplified)."""
    return render_template(
        "sandbox_bank/statement.html", form=StatementForm(formdata=None), bank=SANDBOX_BANK_NAME
    )


@blueprint.post("/statement")
def open_statement():
    """The statement of one account: its holder, balance and latest lines."""
    form = StatementForm()
    statement = None
    if form.validate_on_submit():
        try:
            routing = validate_routing_number(form.routing_number.data)
            number = validate_account_number(form.account_number.data, form.account_number.data)
        except DomainError as error:
            show_error(form, error)
        else:
            statement = SandboxBank().statement(routing, number)
            if statement is None:
                form.form_errors.append(
                    "The sandbox bank has no such account. It opens one when something is "
                    "first sent to it, such as micro-deposits."
                )
    return render_template(
        "sandbox_bank/statement.html",
        form=form,
        bank=SANDBOX_BANK_NAME,
        statement=statement,
    ), (200 if statement else 400)
