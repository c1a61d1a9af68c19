"""Payment settings forms: input shape only (the rules live in services)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from portal.core.forms import STATE_CHOICES, AddressForm, WholeNumberField
from portal.core.urls import MAX_ID
from portal.payment_settings.models import AccountType, FundingAccountMode, PersonRole


class EntityForm(AddressForm):
    legal_name = StringField(
        "Legal name", validators=[DataRequired("Enter the legal name."), Length(max=200)]
    )
    dba = StringField("Doing business as (optional)", validators=[Optional(), Length(max=200)])
    incorporation_state = SelectField(
        "State of incorporation",
        choices=STATE_CHOICES,
        validators=[DataRequired("Choose a state.")],
    )
    ein = StringField("EIN", validators=[DataRequired("Enter the EIN."), Length(max=20)])


class PersonForm(FlaskForm):
    role = SelectField(
        "Role",
        choices=[
            SelectChoice(PersonRole.BENEFICIAL_OWNER.value, "Beneficial owner (25% or more)"),
            SelectChoice(PersonRole.CONTROLLER.value, "Controller (significant management)"),
        ],
    )
    full_name = StringField(
        "Full legal name", validators=[DataRequired("Enter their name."), Length(max=200)]
    )
    title = StringField("Title (optional)", validators=[Optional(), Length(max=100)])
    ownership_percent = WholeNumberField(
        "Ownership %",
        validators=[Optional(), NumberRange(0, 100, message="Enter a percentage from 0 to 100.")],
    )
    date_of_birth = DateField(
        "Date of birth", validators=[InputRequired("Enter their date of birth.")]
    )
    ssn = PasswordField(
        "Social Security number", validators=[DataRequired("Enter their SSN."), Length(max=11)]
    )


class FundingAccountForm(FlaskForm):
    entity_id = SelectField(
        "Business entity", coerce=int, validators=[DataRequired("Choose a business entity.")]
    )
    nickname = StringField(
        "Nickname", validators=[DataRequired("Give the account a nickname."), Length(max=60)]
    )
    routing_number = StringField(
        "Routing number", validators=[DataRequired("Enter the routing number."), Length(max=11)]
    )
    account_number = PasswordField(
        "Account number", validators=[DataRequired("Enter the account number."), Length(max=20)]
    )
    account_number_confirm = PasswordField(
        "Account number again",
        validators=[DataRequired("Enter the account number again."), Length(max=20)],
    )
    account_type = SelectField(
        "Account type",
        choices=[
            SelectChoice(AccountType.CHECKING.value, "Checking"),
            SelectChoice(AccountType.SAVINGS.value, "Savings"),
        ],
    )
    bank_id = StringField("Bank id (optional)", validators=[Optional(), Length(max=40)])
    next_check_number = WholeNumberField(
        "Next check number (optional)",
        validators=[
            Optional(),
            NumberRange(min=1, max=MAX_ID, message="Enter a check number from 1 to 2,147,483,647."),
        ],
    )
    make_default = BooleanField("Make this the default funding account")


class ControlsForm(FlaskForm):
    disbursements_enabled = BooleanField("Disbursements enabled")
    pay_on_new_projects = BooleanField("Enable Pay on all new projects")
    funding_account_mode = SelectField(
        "Funding account",
        choices=[
            SelectChoice(
                FundingAccountMode.CHOSEN_AT_DISBURSEMENT.value, "Chosen for each disbursement"
            ),
            SelectChoice(FundingAccountMode.FIXED_PER_PROJECT.value, "Fixed per project"),
        ],
    )
    cooling_off_days = WholeNumberField(
        "Cooling-off days for a payee's new bank account",
        validators=[
            Optional(),
            NumberRange(0, 30, message="Enter a number of days from 0 to 30."),
        ],
    )
    invitation_message = TextAreaField(
        "Message in payee invitations (optional)", validators=[Optional(), Length(max=2000)]
    )
