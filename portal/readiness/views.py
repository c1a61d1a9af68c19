"""Payment requirement settings, holds, each invoice's readiness panel, and the payor's
Subcontractor Invoices list across projects."""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, render_template, request, url_for
from flask_login import current_user

from portal.accounts.forms import ConfirmForm
from portal.accounts.guards import login_required, requires_feature, requires_role
from portal.companies.models import CompanyKind, Feature, Role
from portal.core import htmx, storage
from portal.core.db import db
from portal.core.errors import DomainError, InvalidInput
from portal.core.forms import show_error
from portal.invoicing import queries as invoicing_queries
from portal.invoicing.models import InvoiceStatus
from portal.invoicing.policies import PROJECT_STAFF, invoice_access
from portal.readiness import policies, queries, services
from portal.readiness.forms import HoldForm, ReleaseForm
from portal.readiness.models import EnforcementMode, HoldKind, HoldReason, RequirementKind

blueprint = Blueprint("readiness", __name__)
payments_admin = requires_role(Role.PAYMENTS_ADMIN)
requirements_on = requires_feature(Feature.PAYMENT_REQUIREMENTS)


# --------------------------------------------------------------------------- settings


def _settings_page(errors: list[str] | None = None, typed: dict | None = None, status=200):
    return render_template(
        "readiness/requirements.html",
        requirements=policies.REQUIREMENTS,
        modes=queries.modes_of(g.company.id),
        available=queries.available_kinds(g.company.id),
        choices=list(EnforcementMode),
        errors=errors or [],
        typed=typed or {},
    ), status


@blueprint.get("/settings/payment-requirements")
@login_required
@payments_admin
@requirements_on
def show_requirements():
    """Which requirements an invoice must meet before it is paid, and how strictly."""
    return _settings_page()


@blueprint.post("/settings/payment-requirements")
@login_required
@payments_admin
@requirements_on
def save_requirements():
    """Save the mode of each requirement (each change audited)."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    typed = {kind.value: request.form.get(kind.value, "") for kind in RequirementKind}
    try:
        modes = {RequirementKind(k): EnforcementMode(v) for k, v in typed.items() if v}
    except ValueError:
        return _settings_page(["Choose one of the three modes for each requirement."], typed)
    try:
        changed = services.set_modes(g.company, modes, actor_user_id=current_user.id)
    except InvalidInput as error:
        db.session.rollback()
        return _settings_page([error.message], typed)
    db.session.commit()
    flash(
        f"Payment requirements saved ({len(changed)} changed)."
        if changed
        else "Nothing was changed.",
        "success",
    )
    return htmx.redirect_to(url_for("readiness.show_requirements"))


# --------------------------------------------------------------------------- readiness


def _visible_invoice(invoice_id: int):
    """The invoice, and whether the member reads it from the payor's side, by the invoice
    page's own access rule (404 when not their company's, 403 when they hold no part)."""
    invoice = invoicing_queries.invoice(invoice_id)
    contacts = {c.user_id for c in invoice.commitment.contacts}
    access = invoice_access(g.membership, current_user.id, invoice, contacts)
    if not access.read:
        abort(403)
    return invoice, access.payor_side


def _panel_context(invoice, payor_side: bool, hold_form=None):
    roles = g.membership.role_set
    return {
        "invoice": invoice,
        "payor_side": payor_side,
        "may_review": payor_side and bool(roles & PROJECT_STAFF),
        "readiness": queries.readiness(invoice),
        "holds": queries.holds_on(invoice),
        "hidden_hold": (not payor_side) and queries.hidden_holds_exist(invoice),
        "may_hold_invoice": payor_side and policies.may_hold(roles, HoldKind.INVOICE),
        "may_hold_vendor": payor_side and policies.may_hold(roles, HoldKind.VENDOR),
        "hold_form": hold_form or HoldForm(formdata=None),
        "release_form": ReleaseForm(formdata=None),
    }


@blueprint.get("/invoices/<int:invoice_id>/readiness")
@login_required
def show_readiness(invoice_id: int):
    """Whether the invoice may be paid now: each requirement met or not, with where to fix
    it, and its holds (a fragment of the invoice page)."""
    invoice, payor_side = _visible_invoice(invoice_id)
    return htmx.add_vary(
        htmx.render(
            "readiness/readiness.html",
            "readiness/_readiness.html",
            **_panel_context(invoice, payor_side),
        )
    )


@blueprint.post("/invoices/<int:invoice_id>/holds")
@login_required
def apply_hold(invoice_id: int):
    """Hold the invoice (``vendor``: every invoice of its payee)."""
    invoice, payor_side = _visible_invoice(invoice_id)
    kind = HoldKind.VENDOR if request.form.get("vendor") == "1" else HoldKind.INVOICE
    if not payor_side or not policies.may_hold(g.membership.role_set, kind):
        abort(403)
    form = HoldForm()
    if form.validate_on_submit():
        upload = form.attachment.data
        try:
            services.apply_hold(
                g.company.id,
                kind=kind,
                payee_company_id=invoice.payee_company_id,
                invoice=invoice if kind is HoldKind.INVOICE else None,
                reason=HoldReason(form.reason.data),
                description=form.description.data,
                visible_to_payee=form.visible_to_payee.data,
                attachment=(upload.stream, upload.filename) if upload and upload.filename else None,
                actor_user_id=current_user.id,
            )
        except DomainError as error:
            db.session.rollback()
            show_error(form, error)
        else:
            db.session.commit()
            flash(
                "Invoice held: it cannot be paid until the hold is released."
                if kind is HoldKind.INVOICE
                else "Payee held: none of its invoices can be paid until the hold is released.",
                "success",
            )
            return htmx.redirect_to(url_for("invoicing.show_invoice", invoice_id=invoice.id))
    return render_template(
        "readiness/readiness.html", **_panel_context(invoice, payor_side, hold_form=form)
    )


@blueprint.post("/holds/<int:hold_id>/release")
@login_required
def release_hold(hold_id: int):
    """Release a hold (from the invoice page it stops)."""
    hold = queries.hold(hold_id)
    # A payee may see a hold (when shown to it); only its payor's holders release it.
    if g.company.id != hold.company_id or not policies.may_hold(g.membership.role_set, hold.kind):
        abort(403)
    form = ReleaseForm()
    back = request.form.get("invoice_id", "")
    target = (
        url_for("invoicing.show_invoice", invoice_id=int(back))
        if back.isdigit()
        else url_for("readiness.list_invoices")
    )
    if form.validate_on_submit():
        try:
            services.release_hold(hold, form.release_note.data, actor_user_id=current_user.id)
        except DomainError as error:
            db.session.rollback()
            flash(error.message, "error")
        else:
            db.session.commit()
            flash(f"{hold.kind.label} released.", "success")
    return htmx.redirect_to(target)


@blueprint.get("/holds/<int:hold_id>/attachments/<int:attachment_id>")
@login_required
def download_hold_attachment(hold_id: int, attachment_id: int):
    """Download a file kept with a hold."""
    hold = queries.hold(hold_id)
    if g.company.kind is CompanyKind.PAYOR and not g.membership.role_set:
        abort(403)
    for attached in hold.attachments:
        if attached.id == attachment_id:
            record = attached.file
            return storage.attachment_response(
                storage.open_file(record),
                content_type=record.content_type,
                filename=record.original_name,
            )
    abort(404)


# --------------------------------------------------------------------------- invoices list

invoice_readers = requires_role(Role.PAYMENTS_ADMIN, Role.INVOICE_ADMINISTRATOR, Role.DISBURSER)
invoice_management = requires_feature(Feature.INVOICE_MANAGEMENT)


def _list_context():
    return {
        "table": queries.invoice_table(g.company.id, queries.invoice_list_state(request.args)),
        "choices": queries.invoice_filter_choices(g.company.id),
        "statuses": [s for s in InvoiceStatus if s is not InvoiceStatus.DRAFT],
        "may_decide": bool(g.membership.role_set & PROJECT_STAFF),
    }


@blueprint.get("/invoices")
@login_required
@invoice_readers
@invoice_management
def list_invoices():
    """Every submitted subcontractor invoice across projects, with its readiness."""
    return htmx.add_vary(
        htmx.render("readiness/invoices.html", "readiness/_invoice_results.html", **_list_context())
    )
