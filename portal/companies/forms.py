"""Forms for switching company and changing members' roles."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired

from portal.companies.models import Role
from portal.core.forms import WholeNumberField


class SwitchCompanyForm(FlaskForm):
    company_id = WholeNumberField("Company", validators=[DataRequired()])


class RoleForm(FlaskForm):
    role = SelectField(
        "Role",
        choices=[SelectChoice(r.value, r.label) for r in Role],
        validators=[DataRequired("Choose a role.")],
    )
