"""Operator console forms: input shape only."""

from __future__ import annotations

import re

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    DateField,
    EmailField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, InputRequired, Length, Optional, Regexp

from portal.core.forms import AddressForm
from portal.operations.models import ContactKind, TrainingTopic


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
    # Emails, not a checkbox per person: a payor may have hundreds of people.
    emails = TextAreaField(
        "Emails of the people the form designates",
        validators=[
            DataRequired("Enter the emails of the people the form designates."),
            Length(max=5000),
        ],
        render_kw={"rows": 3, "autocomplete": "off", "spellcheck": "false"},
    )

    def email_list(self) -> list[str]:
        """The entered emails, lower-cased, in order, each once (commas, spaces or lines)."""
        found = (part.strip().lower() for part in re.split(r"[\s,;]+", self.emails.data or ""))
        return list(dict.fromkeys(email for email in found if email))


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
    held_on = DateField("Held on", validators=[InputRequired("Enter the date it was held.")])
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
