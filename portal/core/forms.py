"""Form pieces every feature shares: domain errors on their field, whole-number fields."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import FieldList, IntegerField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from portal.core.addresses import US_STATES
from portal.core.errors import DomainError
from portal.core.text import is_ascii_digits
from portal.core.urls import MAX_ID


def show_error(form: FlaskForm, error: DomainError) -> None:
    """Attach ``error`` to its field when it names one the form has, else to the form."""
    field = form._fields.get(error.field) if error.field else None
    if field is not None:
        field.errors = [*field.errors, error.message]
    else:
        form.form_errors.append(error.message)


def row_errors(rows: FieldList, noun: str = "Line") -> list[str]:
    """The errors of a table of rows (a FieldList of FormFields), each naming its row and
    column, to show above the table."""
    messages = []
    for number, entry in enumerate(rows.entries, start=1):
        for field in entry.form:
            messages += [f"{noun} {number}, {field.label.text}: {error}" for error in field.errors]
    return messages


class WholeNumberField(IntegerField):
    """A whole number typed with the digits 0-9 (Python's int() also takes Arabic-Indic and
    other digits) and no larger than the database holds."""

    def __init__(self, label: str | None = None, validators: list | None = None, **kwargs):
        super().__init__(label, [*(validators or []), NumberRange(max=MAX_ID)], **kwargs)

    def process_formdata(self, valuelist: list[str]) -> None:
        text = valuelist[0].strip() if valuelist else ""
        if text and not is_ascii_digits(text.removeprefix("-")):
            self.data = None
            raise ValueError("Enter a whole number using the digits 0 to 9.")
        super().process_formdata(valuelist)


STATE_CHOICES = [SelectChoice("", "Choose a state")] + [
    SelectChoice(s, s) for s in sorted(US_STATES)
]


class AddressForm(FlaskForm):
    """A US street address, as every form that asks for one asks for it."""

    address_line1 = StringField(
        "Street address", validators=[DataRequired("Enter the street address."), Length(max=200)]
    )
    address_line2 = StringField("Suite, unit (optional)", validators=[Optional(), Length(max=200)])
    city = StringField("City", validators=[DataRequired("Enter the city."), Length(max=100)])
    region = SelectField(
        "State", choices=STATE_CHOICES, validators=[DataRequired("Choose a state.")]
    )
    postal_code = StringField(
        "ZIP code", validators=[DataRequired("Enter the ZIP code."), Length(max=10)]
    )
