"""Project and commitment forms."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    FieldList,
    Form,
    FormField,
    MonthField,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from portal.core.forms import STATE_CHOICES, WholeNumberField
from portal.invoicing.models import CommitmentKind


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
    owner_name = StringField("Property owner (optional)", validators=[Length(max=200)])


class ProjectFundingForm(FlaskForm):
    funding_account_id = SelectField("Funding account", coerce=lambda v: int(v) if v else None)


class CommitmentDetailsForm(FlaskForm):
    """What a commitment is: its number, title, contract sum and default retainage."""

    number = StringField(
        "Commitment number",
        validators=[DataRequired("Enter the commitment's number."), Length(max=40)],
    )
    title = StringField(
        "Title", validators=[DataRequired("Enter the commitment's title."), Length(max=200)]
    )
    contract_sum = StringField("Contract sum", validators=[DataRequired("Enter the contract sum.")])
    default_retainage = StringField(
        "Retainage %", default="10", validators=[DataRequired("Enter the retainage %.")]
    )


class CommitmentForm(CommitmentDetailsForm):
    """A new commitment: to whom, which kind, and its details."""

    payee = SelectField("Payee", validators=[DataRequired("Choose the payee.")])
    payee_name = StringField("Company name", validators=[Length(max=200)])
    payee_email = StringField("Email of whom to invite later", validators=[Length(max=254)])
    kind = SelectField(
        "Kind",
        choices=[SelectChoice(kind.value, kind.label) for kind in CommitmentKind],
        default=CommitmentKind.SUBCONTRACT.value,
    )

    NEW_PAYEE = "new"


class LineForm(Form):
    """One schedule-of-values line (a row of the schedule editor)."""

    code = StringField("Cost code", validators=[Length(max=40)])
    description = StringField("Description", validators=[Length(max=200)])
    value = StringField("Scheduled value")
    retainage = StringField("Retainage %")


class ScheduleForm(FlaskForm):
    lines = FieldList(FormField(LineForm), max_entries=500)


class RetainageForm(FlaskForm):
    line_id = SelectField("Line", coerce=int, validators=[DataRequired("Choose the line.")])
    retainage = StringField("New retainage %", validators=[DataRequired("Enter the new %.")])


class ExecutedForm(FlaskForm):
    executed_on = DateField(
        "Signed by both parties on", validators=[InputRequired("Enter the date it was signed.")]
    )


class ContactsForm(FlaskForm):
    contacts = SelectMultipleField(
        "Invoice contacts",
        coerce=int,
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )


class InviteForm(FlaskForm):
    email = StringField(
        "Email", validators=[DataRequired("Enter the email of whom to invite."), Length(max=254)]
    )


class ChangeLineForm(Form):
    """One change: an existing line's amount, or a new line (a row of the change editor)."""

    # Which lines a commitment has is the service's to check (with a message that says so).
    line_id = SelectField("Changes", coerce=lambda v: int(v) if v else None, validate_choice=False)
    code = StringField("Cost code", validators=[Length(max=40)])
    description = StringField("New line's description", validators=[Length(max=200)])
    amount = StringField("Amount")
    retainage = StringField("Retainage %")


class ChangeOrderForm(FlaskForm):
    number = StringField(
        "Change order number",
        validators=[DataRequired("Enter the change order's number."), Length(max=40)],
    )
    title = StringField(
        "What it changes",
        validators=[DataRequired("Enter what the change order is for."), Length(max=200)],
    )
    lines = FieldList(FormField(ChangeLineForm), max_entries=200)


class BillingPeriodForm(FlaskForm):
    starts_on = DateField("Starts on", validators=[InputRequired("Enter the first day.")])
    ends_on = DateField("Ends on", validators=[InputRequired("Enter the last day.")])
    due_on = DateField("Invoices due on", validators=[InputRequired("Enter the due date.")])


class MonthlyPeriodsForm(FlaskForm):
    first_month = MonthField("First month", validators=[DataRequired("Enter the first month.")])
    # InputRequired, not DataRequired: it keeps the field's own "whole number" message.
    months = WholeNumberField(
        "How many months", default=6, validators=[InputRequired("Enter how many months.")]
    )
    due_day = WholeNumberField(
        "Invoices due on day", default=25, validators=[InputRequired("Enter the due day.")]
    )
