"""The SSO setup form."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from portal.sso.models import SsoMode


class SsoForm(FlaskForm):
    issuer = StringField(
        "Issuer URL", validators=[DataRequired("Enter the issuer URL."), Length(max=300)]
    )
    client_id = StringField(
        "Client id", validators=[DataRequired("Enter the client id."), Length(max=300)]
    )
    client_secret = PasswordField("Client secret", validators=[Optional(), Length(max=500)])
    allowed_domains = StringField(
        "Email domains",
        validators=[DataRequired("Name at least one email domain."), Length(max=1000)],
    )
    mode = SelectField(
        "Sign-in",
        choices=[
            SelectChoice(SsoMode.OPTIONAL.value, "SSO or password"),
            SelectChoice(SsoMode.REQUIRED.value, "SSO required (passwords refused)"),
        ],
    )
