"""Payee onboarding forms: input shape only."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField
from wtforms.validators import DataRequired, Email, Length


class ReassignForm(FlaskForm):
    email = EmailField(
        "Your colleague's email",
        validators=[
            DataRequired("Enter your colleague's email address."),
            Email("Enter a valid email address."),
            Length(max=254),
        ],
    )
