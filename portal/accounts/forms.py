"""Forms for signing in, second factors and passwords: input shape only."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, InputRequired, Length


class EmailForm(FlaskForm):
    email = EmailField(
        "Email",
        validators=[
            DataRequired("Enter your email address."),
            Email("Enter a valid email address."),
            Length(max=254),
        ],
    )


class LoginForm(EmailForm):
    password = PasswordField(
        "Password", validators=[DataRequired("Enter your password."), Length(max=1024)]
    )
    remember = BooleanField("Keep me signed in on this device")


class CodeForm(FlaskForm):
    code = StringField(
        "6-digit code from your authenticator app",
        validators=[DataRequired("Enter the code from your authenticator app."), Length(max=20)],
    )


class RecoveryCodeForm(FlaskForm):
    code = StringField(
        "Recovery code",
        validators=[DataRequired("Enter one of your recovery codes."), Length(max=40)],
    )


class SavedCodesForm(FlaskForm):
    saved = BooleanField(
        "I have saved these recovery codes somewhere safe",
        validators=[InputRequired("Confirm that you have saved your recovery codes.")],
    )


class NewPasswordForm(FlaskForm):
    password = PasswordField(
        "New password", validators=[DataRequired("Enter a new password."), Length(max=1024)]
    )
    confirm = PasswordField(
        "New password again",
        validators=[
            DataRequired("Enter the new password again."),
            EqualTo("password", "The two passwords do not match."),
        ],
    )


class ChangePasswordForm(NewPasswordForm):
    current_password = PasswordField(
        "Current password", validators=[DataRequired("Enter your current password.")]
    )


class ConfirmForm(FlaskForm):
    """A button that changes something: CSRF only."""
