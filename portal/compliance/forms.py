"""Compliance forms: a template rule, a document to keep, and a review."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import DateField, SelectField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from portal.compliance.models import DocumentType, RequiredAt
from portal.invoicing.models import CommitmentKind

DOCUMENT_TYPES = [SelectChoice(t.value, t.label) for t in DocumentType]


class TemplateForm(FlaskForm):
    document_type = SelectField(
        "Document", choices=DOCUMENT_TYPES, validators=[DataRequired("Choose the document.")]
    )
    applies_to = SelectField(
        "For",
        choices=[SelectChoice("", "Subcontracts and purchase orders")]
        + [SelectChoice(k.value, f"{k.label}s only") for k in CommitmentKind],
        validate_choice=True,
    )
    required_at = SelectField(
        "Required",
        choices=[SelectChoice(r.value, r.label) for r in RequiredAt],
        validators=[DataRequired("Choose when it is required.")],
    )


class DocumentForm(FlaskForm):
    document_type = SelectField(
        "Document", choices=DOCUMENT_TYPES, validators=[DataRequired("Choose the document.")]
    )
    effective_on = DateField(
        "Effective from", validators=[InputRequired("Enter the date it takes effect.")]
    )
    expires_on = DateField("Expires on (not for a W-9)", validators=[Optional()])
    file = FileField("The document")


class ReviewForm(FlaskForm):
    note = TextAreaField("Note to the payee (required to reject)", validators=[Length(max=2000)])
