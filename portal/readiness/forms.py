"""Hold forms (the requirement modes are a table of selects, read by the view)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, SelectField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from portal.readiness.models import HoldReason


class HoldForm(FlaskForm):
    reason = SelectField(
        "Reason",
        choices=[SelectChoice(reason.value, reason.label) for reason in HoldReason],
        validators=[DataRequired("Choose the reason.")],
    )
    description = TextAreaField(
        "What it waits for",
        validators=[DataRequired("Say why it is held."), Length(max=2000)],
    )
    visible_to_payee = BooleanField("Show this hold to the payee")
    attachment = FileField("Attach a file (optional: a PDF, PNG or JPEG, at most 10 MB)")


class ReleaseForm(FlaskForm):
    release_note = TextAreaField("Note (optional)", validators=[Length(max=2000)])
