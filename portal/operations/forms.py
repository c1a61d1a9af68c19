"""Operator console forms: input shape only."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    DateField,
    EmailField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, Length, Optional, Regexp
from wtforms.widgets import CheckboxInput, ListWidget

from portal.operations.models import ContactKind, TrainingTopic
from portal.payment_settings.forms import AddressForm


class CreatePayorForm(FlaskForm):
    name = StringField(
        "Company name", validators=[DataRequired("Enter the company's name."), Length(max=200)]
    )
    slug = StringField(
        "Short name",
        validators=[
            DataRequired("Choose a short name."),
            Length(min=2, max=60),
            Regexp(
                r"^[a-z0-9][a-z0-9-]*[a-z0-9]$",
                message="Use lowercase letters, digits and hyphens.",
            ),
        ],
    )


class AddMemberForm(FlaskForm):
    email = EmailField(
        "Email",
        validators=[
            DataRequired("Enter their email address."),
            Email("Enter a valid email address."),
            Length(max=254),
        ],
    )
    name = StringField("Full name", validators=[Optional(), Length(max=200)])


class DesignationForm(FlaskForm):
    form_file = FileField(
        "Signed designation form (PDF)", validators=[FileRequired("Attach the signed form.")]
    )
    user_ids = SelectMultipleField(
        "People the form designates",
        coerce=int,
        option_widget=CheckboxInput(),
        widget=ListWidget(prefix_label=False),
        validators=[DataRequired("Choose the people the form designates.")],
    )


class ContactForm(FlaskForm):
    kind = SelectField(
        "Kind",
        choices=[
            SelectChoice(ContactKind.KEY_CONTACT.value, "Key contact"),
            SelectChoice(ContactKind.TECHNICAL_LEAD.value, "Technical lead"),
        ],
    )
    name = StringField("Name", validators=[DataRequired("Enter a name."), Length(max=200)])
    email = EmailField(
        "Email",
        validators=[DataRequired("Enter an email address."), Email("Enter a valid email address.")],
    )
    phone = StringField("Phone", validators=[Optional(), Length(max=40)])


class TrainingForm(FlaskForm):
    topic = SelectField("Session", choices=[SelectChoice(t.value, t.label) for t in TrainingTopic])
    held_on = DateField("Held on", validators=[DataRequired("Enter the date it was held.")])
    attendees = TextAreaField(
        "Attendees", validators=[DataRequired("List who attended."), Length(max=2000)]
    )
    notes = TextAreaField("Notes", validators=[Optional(), Length(max=5000)])


class LessonsForm(FlaskForm):
    lessons_learned = TextAreaField(
        "Lessons learned",
        validators=[DataRequired("Write down what was learned."), Length(max=10000)],
    )


class ProfileForm(AddressForm):
    legal_name = StringField(
        "Legal name", validators=[DataRequired("Enter the company's legal name."), Length(max=200)]
    )
    main_phone = StringField("Main phone (optional)", validators=[Optional(), Length(max=40)])
    primary_contact_name = StringField(
        "Primary contact's name (optional)", validators=[Optional(), Length(max=200)]
    )
    primary_contact_email = EmailField(
        "Primary contact's email (optional)",
        validators=[Optional(), Email("Enter a valid email address."), Length(max=254)],
    )
