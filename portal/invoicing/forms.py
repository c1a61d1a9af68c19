"""Project forms."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length

from portal.core.forms import STATE_CHOICES


class ProjectForm(FlaskForm):
    name = StringField(
        "Project name", validators=[DataRequired("Enter the project's name."), Length(max=200)]
    )
    number = StringField(
        "Project number", validators=[DataRequired("Enter the project number."), Length(max=40)]
    )
    address_line1 = StringField(
        "Job site address",
        validators=[DataRequired("Enter the job site address."), Length(max=200)],
    )
    city = StringField("City", validators=[DataRequired("Enter the city."), Length(max=100)])
    region = SelectField(
        "State",
        choices=STATE_CHOICES,
        validators=[DataRequired("Choose the state (it picks the lien waiver forms).")],
    )
    postal_code = StringField(
        "ZIP code", validators=[DataRequired("Enter the ZIP code."), Length(max=10)]
    )


class ProjectFundingForm(FlaskForm):
    funding_account_id = SelectField("Funding account", coerce=lambda v: int(v) if v else None)
