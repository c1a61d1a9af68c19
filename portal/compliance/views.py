"""Compliance templates in payment settings, and the documents panel of commitments and
invoices (an htmx fragment of their pages): what is required, what is on file, adding a
document and reviewing one."""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, render_template, request, url_for
from flask_login import current_user

from portal.accounts.forms import ConfirmForm
from portal.accounts.guards import login_required, requires_feature, requires_role
from portal.companies.models import Feature, Role
from portal.compliance import policies, queries, services
from portal.compliance.forms import DocumentForm, ReviewForm, TemplateForm
from portal.compliance.models import DocumentType, RequiredAt
from portal.core import htmx, storage
from portal.core.db import db
from portal.core.errors import DomainError, InvalidInput
from portal.core.forms import show_error
from portal.invoicing import queries as invoicing_queries
from portal.invoicing.models import CommitmentKind
from portal.invoicing.policies import billing_date, invoice_access

blueprint = Blueprint("compliance", __name__)
payments_admin = requires_role(Role.PAYMENTS_ADMIN)
invoice_management = requires_feature(Feature.INVOICE_MANAGEMENT)


# --------------------------------------------------------------------------- templates


def _templates_page(form: TemplateForm | None = None):
    return render_template(
        "compliance/templates.html",
        templates=queries.templates_of(g.company.id),
        form=form or TemplateForm(formdata=None),
        confirm=ConfirmForm(),
    )


@blueprint.get("/settings/compliance")
@login_required
@payments_admin
@invoice_management
def show_templates():
    """Which documents the payor requires of its payees, for which commitments, and when."""
    return _templates_page()


@blueprint.post("/settings/compliance")
@login_required
@payments_admin
@invoice_management
def add_template():
    form = TemplateForm()
    if form.validate_on_submit():
        try:
            template = services.add_template(
                g.company,
                document_type=DocumentType(form.document_type.data),
                applies_to=CommitmentKind(form.applies_to.data) if form.applies_to.data else None,
                required_at=RequiredAt(form.required_at.data),
                actor_user_id=current_user.id,
            )
        except InvalidInput as error:
            db.session.rollback()
            show_error(form, error)
        else:
            db.session.commit()
            flash(
                f"{template.document_type.label} is now required "
                f"{template.required_at.label.lower()}.",
                "success",
            )
            return htmx.redirect_to(url_for("compliance.show_templates"))
    return _templates_page(form)


@blueprint.post("/settings/compliance/<int:template_id>/remove")
@login_required
@payments_admin
@invoice_management
def remove_template(template_id: int):
    template = queries.template(template_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    services.remove_template(template, actor_user_id=current_user.id)
    db.session.commit()
    flash(f"{template.document_type.label} is no longer required there.", "success")
    return htmx.redirect_to(url_for("compliance.show_templates"))


# --------------------------------------------------------------------------- documents


def _commitment_place(commitment_id: int):
    """The commitment and what the member may do with its documents (403 when nothing)."""
    commitment = invoicing_queries.commitment(commitment_id)
    access = policies.commitment_document_access(g.membership, current_user.id, commitment)
    if not access.read:
        abort(403)
    return commitment, None, access


def _invoice_place(invoice_id: int):
    """The invoice, its commitment, and what the member may do with the invoice's documents,
    by the invoice page's own rule: its reviewers and its payee's invoice contacts add them."""
    invoice = invoicing_queries.invoice(invoice_id)
    commitment = invoice.commitment
    seen = invoice_access(
        g.membership, current_user.id, invoice, {c.user_id for c in commitment.contacts}
    )
    if not seen.read:
        abort(403)
    adds = seen.review or (seen.bill and not seen.payor_side)
    return commitment, invoice, policies.DocumentAccess(True, adds, seen.review, seen.payor_side)


def _document_place(document):
    if document.invoice_id is not None:
        return _invoice_place(document.invoice_id)
    return _commitment_place(document.commitment_id)


def _panel(commitment, invoice, access, form: DocumentForm | None = None, review_errors=None):
    today = billing_date()
    documents = queries.documents_of(commitment, invoice)
    return {
        "commitment": commitment,
        "invoice": invoice,
        "access": access,
        "today": today,
        "documents": documents,
        "needed": queries.needed_for(commitment, documents, today, invoice),
        "form": form or DocumentForm(formdata=None, prefix="doc"),
        "review_form": ReviewForm(formdata=None),
        # A review refused for its note: the error beside that document's note.
        "review_errors": review_errors or {},
        "upload_url": (
            url_for("compliance.add_invoice_document", invoice_id=invoice.id)
            if invoice is not None
            else url_for("compliance.add_commitment_document", commitment_id=commitment.id)
        ),
    }


def _back(commitment, invoice, access) -> str:
    """The page the panel is part of, scrolled to the panel."""
    if invoice is not None:
        page = url_for("invoicing.show_invoice", invoice_id=invoice.id)
    elif access.payor_side:
        page = url_for("invoicing.show_commitment", commitment_id=commitment.id)
    else:
        page = url_for("invoicing.show_billed_commitment", commitment_id=commitment.id)
    return page + "#documents-panel"


def _show(commitment, invoice, access):
    return htmx.add_vary(
        htmx.render(
            "compliance/documents.html",
            "compliance/_documents.html",
            back=_back(commitment, invoice, access),
            **_panel(commitment, invoice, access),
        )
    )


@blueprint.get("/commitments/<int:commitment_id>/documents")
@login_required
def show_commitment_documents(commitment_id: int):
    """The commitment's compliance documents: what is required, what is on file."""
    return _show(*_commitment_place(commitment_id))


@blueprint.get("/invoices/<int:invoice_id>/documents")
@login_required
def show_invoice_documents(invoice_id: int):
    """The documents required with one invoice and those attached to it."""
    return _show(*_invoice_place(invoice_id))


def _add(commitment, invoice, access):
    if not access.add:
        abort(403)
    form = DocumentForm(prefix="doc")
    if form.validate_on_submit():
        upload = form.file.data
        try:
            document = services.add_document(
                commitment,
                invoice=invoice,
                document_type=DocumentType(form.document_type.data),
                effective_on=form.effective_on.data,
                expires_on=form.expires_on.data,
                upload=(upload.stream, upload.filename) if upload and upload.filename else None,
                payor_side=access.payor_side,
                actor_user_id=current_user.id,
            )
        except DomainError as error:
            db.session.rollback()
            show_error(form, error)
        else:
            db.session.commit()
            flash(
                f"{document.document_type.label} kept"
                + (
                    " and accepted."
                    if access.payor_side
                    else ": the general contractor reviews it."
                ),
                "success",
            )
            return htmx.redirect_to(_back(commitment, invoice, access))
    return render_template(
        "compliance/documents.html",
        back=_back(commitment, invoice, access),
        **_panel(commitment, invoice, access, form),
    )


@blueprint.post("/commitments/<int:commitment_id>/documents")
@login_required
def add_commitment_document(commitment_id: int):
    """Keep a document for the commitment (an insurance certificate, a license, a bond)."""
    return _add(*_commitment_place(commitment_id))


@blueprint.post("/invoices/<int:invoice_id>/documents")
@login_required
def add_invoice_document(invoice_id: int):
    """Attach a required document to one invoice."""
    return _add(*_invoice_place(invoice_id))


@blueprint.post("/compliance-documents/<int:compliance_document_id>/review")
@login_required
def review_document(compliance_document_id: int):
    """Accept a document awaiting review, or reject it with a note to the payee."""
    document = queries.document(compliance_document_id)
    commitment, invoice, access = _document_place(document)
    if not access.review:
        abort(403)
    form = ReviewForm()
    if not form.validate_on_submit():
        abort(400)
    accept = request.form.get("decision") == "accept"
    try:
        services.review_document(
            document, accept=accept, note=form.note.data, actor_user_id=current_user.id
        )
    except InvalidInput as error:
        db.session.rollback()
        return render_template(
            "compliance/documents.html",
            back=_back(commitment, invoice, access),
            **_panel(commitment, invoice, access, review_errors={document.id: error.message}),
        )
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
    else:
        db.session.commit()
        flash(f"{document.document_type.label} {'accepted' if accept else 'rejected'}.", "success")
    return htmx.redirect_to(_back(commitment, invoice, access))


@blueprint.get("/compliance-documents/<int:compliance_document_id>/file")
@login_required
def download_document(compliance_document_id: int):
    """Download a compliance document's file."""
    document = queries.document(compliance_document_id)
    _document_place(document)
    return storage.download(document.file)
