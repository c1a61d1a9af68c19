"""Payee profile and bank account forms: input shape only (the rules live in services)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import PasswordField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from portal.core.forms import AddressForm
from portal.payees.models import (
    DOCUMENT_KIND_LABELS,
    ENTITY_TYPE_LABELS,
    TAX_CLASSIFICATION_LABELS,
    TIN_TYPE_LABELS,
    AccountType,
)


def _choices(labels: dict, prompt: str) -> list[SelectChoice]:
    return [SelectChoice("", prompt)] + [SelectChoice(k.value, v) for k, v in labels.items()]


class ProfileForm(AddressForm):
    legal_name = StringField(
        "Legal name (as on your tax return)",
        validators=[DataRequired("Enter the legal name."), Length(max=200)],
    )
    dba = StringField("Doing business as (optional)", validators=[Optional(), Length(max=200)])
    entity_type = SelectField(
        "Entity type",
        choices=_choices(ENTITY_TYPE_LABELS, "Choose the entity type"),
        validators=[DataRequired("Choose the entity type.")],
    )
    remit_to_email = StringField(
        "Remit-to email (payment notices go here)",
        validators=[DataRequired("Enter the email payment notices go to."), Length(max=254)],
    )
    tax_classification = SelectField(
        "Federal tax classification (W-9 line 3a)",
        choices=_choices(TAX_CLASSIFICATION_LABELS, "Choose the classification"),
        validators=[DataRequired("Choose the federal tax classification.")],
    )
    tin_type = SelectField(
        "Tax id type",
        choices=_choices(TIN_TYPE_LABELS, "Choose the kind of tax id"),
        validators=[DataRequired("Choose the kind of tax id.")],
    )
    tin = PasswordField("Tax id", validators=[Optional(), Length(max=20)])
    exempt_payee_code = StringField(
        "Exempt payee code (optional, 1 to 13)", validators=[Optional(), Length(max=2)]
    )
    fatca_code = StringField(
        "FATCA exemption code (optional, A to M)", validators=[Optional(), Length(max=1)]
    )


class CertifyForm(FlaskForm):
    name = StringField(
        "Your full name (your signature)",
        validators=[DataRequired("Type your full name to sign."), Length(max=200)],
    )
    title = StringField(
        "Your title", validators=[DataRequired("Enter your title."), Length(max=100)]
    )


class W9Form(FlaskForm):
    w9_file = FileField("Signed Form W-9 (PDF)", validators=[FileRequired("Attach the PDF.")])


class BankAccountForm(FlaskForm):
    holder_name = StringField(
        "Name on the account",
        validators=[DataRequired("Enter the name on the account."), Length(max=200)],
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


class MicroDepositForm(FlaskForm):
    first = StringField(
        "First deposit", validators=[DataRequired("Enter the first amount."), Length(max=10)]
    )
    second = StringField(
        "Second deposit", validators=[DataRequired("Enter the second amount."), Length(max=10)]
    )


class BankDocumentForm(FlaskForm):
    kind = SelectField(
        "Kind of document",
        choices=_choices(DOCUMENT_KIND_LABELS, "Choose the kind of document"),
        validators=[DataRequired("Choose the kind of document.")],
    )
    document = FileField(
        "The document (PDF, PNG or JPEG)", validators=[FileRequired("Attach the document.")]
    )


def _note(label: str) -> TextAreaField:
    return TextAreaField(
        label, validators=[DataRequired("Write a note for the record."), Length(max=2000)]
    )


# An operator's note on each decision about an account. One review page may show all three,
# so each is made with its own prefix (its field's id and name are unique on the page).
class ClearFlagForm(FlaskForm):
    note = _note("What you checked, and with whom")


class UnfreezeForm(FlaskForm):
    note = _note("Who at the payee confirmed the account is theirs, and how")


class DeactivateFrozenForm(FlaskForm):
    note = _note("What you found")


class RejectDocumentForm(FlaskForm):
    reason = TextAreaField(
        "Why it does not prove the account (the payee's admins read this)",
        validators=[
            DataRequired("Say why the document does not prove the account."),
            Length(max=2000),
        ],
    )
