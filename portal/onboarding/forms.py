"""Payee onboarding forms: input shape only."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Email, EqualTo, Length

from portal.accounts.forms import NewPasswordForm


class ReassignForm(FlaskForm):
    email = EmailField(
        "Email to send it to",
        validators=[
            DataRequired("Enter your colleague's email address."),
            Email("Enter a valid email address."),
            Length(max=254),
        ],
    )


class FirstPasswordForm(NewPasswordForm):
    """The password of an account being made (not a "new" one: there is no old one)."""

    password = PasswordField(
        "Choose a password",
        validators=[DataRequired("Choose a password."), Length(max=1024)],
    )
    confirm = PasswordField(
        "The same password again",
        validators=[
            DataRequired("Enter the password again."),
            EqualTo("password", "The two passwords do not match."),
        ],
    )


class NewPayeeForm(FirstPasswordForm):
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


class InviteForm(FlaskForm):
    invitees = TextAreaField(
        "Companies to invite",
        validators=[DataRequired("Enter at least one company and email."), Length(max=20_000)],
        render_kw={
            "rows": 5,
            "autocomplete": "off",
            "spellcheck": "false",
            "placeholder": "Ironline Steel, billing@ironline.example.com",
        },
    )

    def invitee_rows(self) -> list[tuple[str, str]]:
        """Each non-empty line as (name, email): the name, a comma, then the email."""
        rows = []
        for number, line in enumerate((self.invitees.data or "").splitlines(), start=1):
            if not line.strip():
                continue
            name, comma, email = line.rpartition(",")
            if not comma:
                self.invitees.errors = [
                    *self.invitees.errors,
                    f"Line {number}: put a comma between the company's name and its email.",
                ]
                return []
            rows.append((name.strip(), email.strip()))
        return rows


class NoteForm(FlaskForm):
    note = TextAreaField(
        "Note to the payee",
        validators=[DataRequired("Write what the payee should fix or explain."), Length(max=2000)],
    )


class PayAgreementForm(FlaskForm):
    """The payee admin's acceptance: who signs, as what, and that they agree."""

    version = HiddenField()
    # The SHA-256 of the text as shown: accepted only if it is still the text.
    digest = HiddenField()
    name = StringField(
        "Your full name", validators=[DataRequired("Enter your name."), Length(max=200)]
    )
    title = StringField(
        "Your title", validators=[DataRequired("Enter your title."), Length(max=200)]
    )
    agree = BooleanField(
        "I have read this agreement and accept it for my company, which I am authorized to do",
        validators=[DataRequired("Tick the box to accept the agreement.")],
    )


class JoinPayeeForm(FirstPasswordForm):
    """Someone new whose company already is on Trestle: their name, a password, and whom to
    ask."""

    person_name = StringField(
        "Your full name", validators=[DataRequired("Enter your name."), Length(max=200)]
    )
    admin_email = EmailField(
        "Email of your company's Trestle admin",
        validators=[
            DataRequired("Enter the email of your company's Trestle admin."),
            Email("Enter a valid email address."),
            Length(max=254),
        ],
    )


class DeclineJoinForm(FlaskForm):
    reason = TextAreaField(
        "Why not",
        validators=[
            DataRequired("Say why, so that they know what to do instead."),
            Length(max=1000),
        ],
    )
