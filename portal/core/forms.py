"""Show a domain error on the form that caused it."""

from __future__ import annotations

from flask_wtf import FlaskForm

from portal.core.errors import DomainError


def show_error(form: FlaskForm, error: DomainError) -> None:
    """Attach ``error`` to its field when it names one the form has, else to the form."""
    field = form._fields.get(error.field) if error.field else None
    if field is not None:
        field.errors = [*field.errors, error.message]
    else:
        form.form_errors.append(error.message)
