"""The operators' review of payee bank accounts (operators only, across payees): documents
sent instead of micro-deposits, no-match and shared accounts, and accounts frozen from a
notice email. Every decision needs step-up and is audited on the payee's history."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import Blueprint, flash, render_template, request, url_for
from flask_login import current_user

from portal.accounts.forms import ConfirmForm
from portal.accounts.guards import login_required, requires_role, step_up
from portal.companies import history as company_history
from portal.companies.models import Company, Role
from portal.core import audit, htmx, storage, tenancy
from portal.core.db import db
from portal.core.errors import DomainError, InvalidInput
from portal.payees import queries, services
from portal.payees.forms import (
    ClearFlagForm,
    DeactivateFrozenForm,
    RejectDocumentForm,
    UnfreezeForm,
)
from portal.payees.models import PayeeBankAccount

blueprint = Blueprint("bank_reviews", __name__, url_prefix="/operator/bank-reviews")

# The note forms of a review page, by the action that posts them (also their prefix).
NOTE_FORMS = {"clear": ClearFlagForm, "unfreeze": UnfreezeForm, "deactivate": DeactivateFrozenForm}


def operators_only(view):
    """Trestle operators only; they review every payee's accounts, so queries are unscoped."""

    @requires_role(Role.OPERATOR)
    @wraps(view)
    def wrapper(*args, **kwargs):
        with tenancy.unscoped():
            return view(*args, **kwargs)

    return login_required(wrapper)


@blueprint.get("")
@operators_only
def list_reviews():
    """Every payee bank account waiting for an operator, the longest waiting first."""
    return htmx.add_vary(
        htmx.render(
            "payees/bank_reviews.html",
            "payees/_bank_review_results.html",
            table=queries.review_table(queries.review_list_state(request.args)),
            reasons=queries.REVIEW_FILTERS,
        )
    )


def _review_page(account: PayeeBankAccount, status: int = 200, **forms):
    documents = queries.documents_of(account.id)
    events = queries.account_events(account.company_id, account.id)
    return render_template(
        "payees/bank_review.html",
        account=account,
        payee=db.session.get(Company, account.company_id),
        reasons=queries.review_reasons(account, documents.open),
        sharing=queries.other_payees_sharing(account),
        documents=documents,
        people=queries.user_names(documents.people() | {account.operator_cleared_by_user_id}),
        history=company_history.entries(events),
        reject_form=forms.get("reject_form") or RejectDocumentForm(formdata=None),
        **{
            f"{action}_form": forms.get(f"{action}_form") or form(formdata=None, prefix=action)
            for action, form in NOTE_FORMS.items()
        },
    ), status


@blueprint.get("/<int:account_id>")
@operators_only
def show_review(account_id: int):
    """One payee bank account: who it belongs to, why it is here, its documents and history."""
    return _review_page(queries.review_account(account_id))


@blueprint.get("/<int:account_id>/documents/<int:document_id>")
@operators_only
@step_up(action="Download a payee's bank document")
def download_document(account_id: int, document_id: int):
    """Download a document the payee sent (audited)."""
    account = queries.review_account(account_id)
    document = queries.account_document(account.id, document_id)
    record = queries.document_file(document)
    audit.record(
        "payees:bank_document:downloaded",
        actor_user_id=current_user.id,
        company_id=account.company_id,
        object_type="payee_bank_account",
        object_id=account.id,
        after={"document_id": document.id, "kind": document.kind.value},
    )
    db.session.commit()
    extension = storage.SIGNATURES[record.content_type][1]
    return storage.attachment_response(
        storage.open_file(record),
        content_type=record.content_type,
        filename=f"{document.kind.value}-{account.account_last4}-{document.id}{extension}",
    )


def _take_decision(
    account_id: int, form, form_name: str, decide: Callable[[PayeeBankAccount, object], str]
):
    """Validate ``form``, run ``decide(account, form)`` and go back to the account saying
    what it did; bad input re-renders the page with the message by its field."""
    account = queries.review_account(account_id)
    if not form.validate_on_submit():
        return _review_page(account, 400, **{form_name: form})
    try:
        done = decide(account, form)
    except InvalidInput as error:
        db.session.rollback()
        field = getattr(form, error.field or "", None)
        (field.errors if field is not None else form.form_errors).append(error.message)
        return _review_page(queries.review_account(account_id), 400, **{form_name: form})
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
    else:
        db.session.commit()
        flash(done, "success")
    return htmx.redirect_to(url_for("bank_reviews.show_review", account_id=account_id))


@blueprint.post("/<int:account_id>/documents/<int:document_id>/approve")
@operators_only
@step_up(action="Approve a payee's bank account document")
def approve_document(account_id: int, document_id: int):
    """Accept the document: the account is verified."""

    def decide(account, form):
        document = queries.account_document(account.id, document_id)
        services.approve_document(account, document, actor_user_id=current_user.id)
        return (
            f"Account ••••{account.account_last4} is verified by its "
            f"{document.kind_label.lower()}."
            + (" Payments go to it." if account.receives_payments else "")
        )

    return _take_decision(account_id, ConfirmForm(), "approve_form", decide)


@blueprint.post("/<int:account_id>/documents/<int:document_id>/reject")
@operators_only
@step_up(action="Reject a payee's bank account document")
def reject_document(account_id: int, document_id: int):
    """Refuse the document with a reason the payee's admins are emailed."""

    def decide(account, form):
        document = queries.account_document(account.id, document_id)
        services.reject_document(account, document, form.reason.data, actor_user_id=current_user.id)
        return f"Document rejected. {_payee_name(account)}'s admins are emailed the reason."

    return _take_decision(account_id, RejectDocumentForm(), "reject_form", decide)


@blueprint.post("/<int:account_id>/clear")
@operators_only
@step_up(action="Clear a flagged payee bank account")
def clear_flag(account_id: int):
    """Clear a no-match or shared flag after looking into it: payors may approve the account."""

    def decide(account, form):
        services.clear_review_flag(account, form.note.data, actor_user_id=current_user.id)
        return f"Account ••••{account.account_last4} cleared: payors may approve it."

    return _take_decision(account_id, NOTE_FORMS["clear"](prefix="clear"), "clear_form", decide)


@blueprint.post("/<int:account_id>/unfreeze")
@operators_only
@step_up(action="Unfreeze a payee bank account")
def unfreeze(account_id: int):
    """Unfreeze a reported account the payee confirmed is theirs."""

    def decide(account, form):
        services.unfreeze(account, form.note.data, actor_user_id=current_user.id)
        return f"Account ••••{account.account_last4} is no longer frozen."

    return _take_decision(
        account_id, NOTE_FORMS["unfreeze"](prefix="unfreeze"), "unfreeze_form", decide
    )


@blueprint.post("/<int:account_id>/deactivate")
@operators_only
@step_up(action="Deactivate a frozen payee bank account")
def deactivate(account_id: int):
    """Keep a reported account frozen and deactivate it for good."""

    def decide(account, form):
        services.deactivate_frozen(account, form.note.data, actor_user_id=current_user.id)
        return (
            f"Account ••••{account.account_last4} is deactivated. {_payee_name(account)}'s "
            "admins are emailed to add their own account."
        )

    return _take_decision(
        account_id, NOTE_FORMS["deactivate"](prefix="deactivate"), "deactivate_form", decide
    )


def _payee_name(account: PayeeBankAccount) -> str:
    return db.session.get(Company, account.company_id).name
