"""Payee onboarding forms: input shape only."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, SelectField, StringField
from wtforms.validators import DataRequired, Email, Length

from portal.accounts.forms import NewPasswordForm


class ReassignForm(FlaskForm):
    email = EmailField(
        "Your colleague's email",
        validators=[
            DataRequired("Enter your colleague's email address."),
            Email("Enter a valid email address."),
            Length(max=254),
        ],
    )


class NewPayeeForm(NewPasswordForm):
    """Someone new to Trestle: their company, their name and a password."""

    company_name = StringField(
        "Your company's legal name",
        validators=[DataRequired("Enter your company's name."), Length(max=200)],
    )
    person_name = StringField(
        "Your full name", validators=[DataRequired("Enter your name."), Length(max=200)]
    )


class MemberPayeeForm(FlaskForm):
    """A signed-in person: onboard one of their payee companies, or a new one ("new")."""

    payee = SelectField("Onboard as", validate_choice=False)
    company_name = StringField("New company's legal name", validators=[Length(max=200)])
