"""Forms for switching company and changing members' roles."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired

from portal.companies.models import Role


class SwitchCompanyForm(FlaskForm):
    company_id = IntegerField("Company", validators=[DataRequired()])


class RoleForm(FlaskForm):
    role = SelectField(
        "Role",
        choices=[SelectChoice(r.value, r.label) for r in Role],
        validators=[DataRequired("Choose a role.")],
    )
