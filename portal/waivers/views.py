"""A lien waiver's page (review, consent and sign), its PDFs, the waivers panel of an invoice
(an htmx fragment of its page), and the public verification page."""

from __future__ import annotations

import io
from datetime import date

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_login import current_user

from portal.accounts.guards import login_required, payee_admin, requires_feature, requires_role
from portal.companies.models import Feature, Role
from portal.core import htmx, ratelimit, storage, tenancy
from portal.core.db import db, utcnow
from portal.core.errors import DomainError, InvalidInput, NotFound
from portal.invoicing import queries as invoicing_queries
from portal.invoicing.policies import PROJECT_STAFF, invoice_access
from portal.waivers import forms, queries, services
from portal.waivers.forms import FIELDS
from portal.waivers.models import (
    AUTHORIZATION_TEXT,
    CONSENT_TEXT,
    CONSENT_VERSION,
    DELEGATION_LIFETIME_DAYS,
    LienWaiver,
    WaiverFlow,
)

blueprint = Blueprint("waivers", __name__)
project_staff = requires_role(*PROJECT_STAFF)
lien_waivers = requires_feature(Feature.LIEN_WAIVERS)
payments_admin = requires_role(Role.PAYMENTS_ADMIN)


def _seen(waiver_id: int):
    """The waiver and its invoice's access rule: who reads the invoice reads its waivers."""
    waiver = queries.waiver(waiver_id)
    invoice = invoicing_queries.invoice(waiver.invoice_id)
    contacts = {c.user_id for c in invoice.commitment.contacts}
    access = invoice_access(g.membership, current_user.id, invoice, contacts)
    if not access.read:
        abort(403)
    return waiver, invoice, access


def _signature_given(typed: dict[str, str]) -> services.Signature:
    """The signature the signing form gave, with where it came from."""
    return services.Signature(
        name=typed["name"],
        title=typed["title"],
        signature=typed["signature"],
        consented=request.form.get("consent") == "y",
        consent_version=request.form.get("consent_version", ""),
        ip=request.remote_addr or "",
        user_agent=request.user_agent.string,
    )


def _facts_shown(waiver) -> list[tuple[str, str]]:
    """The facts filled into the waiver, labelled for a reader."""
    return [(FIELDS[k], v) for k, v in waiver.facts.items() if v and k in FIELDS]


def released_to_payor(waiver) -> bool:
    """An unconditional waiver reaches the payor once its payee signed it, and one held in
    escrow once it is released (paid in full, or unlocked by the payee)."""
    if waiver.escrowed:
        return waiver.released_at is not None
    return waiver.kind.conditional or waiver.signed_file is not None


def _page(waiver, invoice, access, errors: dict[str, str] | None = None, typed=None):
    form = forms.by_key(waiver.form_key)
    signer = services.may_sign(waiver, current_user.id, g.company.id)
    return render_template(
        "waivers/waiver.html",
        waiver=waiver,
        invoice=invoice,
        access=access,
        form=form,
        facts=_facts_shown(waiver),
        may_sign=signer,
        released=released_to_payor(waiver),
        may_unlock=not access.payor_side and (signer or Role.PAYEE_ADMIN in g.membership.role_set),
        consent_text=CONSENT_TEXT,
        consent_version=CONSENT_VERSION,
        errors=errors or {},
        typed=typed or {},
    )


@blueprint.get("/waivers/<int:waiver_id>")
@login_required
def show_waiver(waiver_id: int):
    """The waiver: its form, the facts filled in, the PDF, and (to its signer) signing."""
    return _page(*_seen(waiver_id))


@blueprint.get("/waivers/<int:waiver_id>/pdf")
@login_required
def download_waiver(waiver_id: int):
    """The waiver's PDF: the signed document once signed, else the one to sign."""
    waiver, _, access = _seen(waiver_id)
    if access.payor_side and not released_to_payor(waiver):
        abort(403)
    record = waiver.signed_file or waiver.file
    return storage.download(record)


@blueprint.post("/waivers/<int:waiver_id>/sign")
@login_required
def sign_waiver(waiver_id: int):
    """Sign the waiver electronically (once)."""
    waiver, invoice, access = _seen(waiver_id)
    if not services.may_sign(waiver, current_user.id, g.company.id):
        abort(403)
    typed = {k: request.form.get(k, "") for k in ("name", "title", "signature")}
    try:
        services.sign(
            waiver,
            current_user,
            _signature_given(typed),
            company_id=g.company.id,
        )
    except DomainError as error:
        db.session.rollback()
        return _page(waiver, invoice, access, {error.field or "form": error.message}, typed)
    db.session.commit()
    flash("Waiver signed. The general contractor can now rely on it once it pays.", "success")
    return htmx.redirect_to(url_for("waivers.show_waiver", waiver_id=waiver.id))


@blueprint.post("/waivers/<int:waiver_id>/unlock")
@login_required
def unlock_waiver(waiver_id: int):
    """The payee releases its escrowed waiver to the general contractor before payment."""
    waiver, _, _ = _seen(waiver_id)
    try:
        services.unlock(waiver, current_user, company_id=g.company.id, roles=g.membership.role_set)
    except DomainError as error:
        db.session.rollback()
        if error.status_code == 403:
            abort(403)
        flash(error.message, "error")
    else:
        db.session.commit()
        flash("Released: the general contractor can now open the signed waiver.", "success")
    return htmx.redirect_to(url_for("waivers.show_waiver", waiver_id=waiver.id))


@blueprint.post("/waivers/<int:waiver_id>/request-unlock")
@login_required
@project_staff
def request_unlock(waiver_id: int):
    """The general contractor asks the payee to release its escrowed waiver early."""
    waiver, _, access = _seen(waiver_id)
    if not access.payor_side:
        abort(403)
    try:
        services.request_unlock(waiver, current_user)
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
    else:
        db.session.commit()
        flash("Asked: the payee's invoice contacts were emailed; they decide.", "success")
    return htmx.redirect_to(url_for("waivers.show_waiver", waiver_id=waiver.id))


@blueprint.get("/settings/lien-waivers")
@login_required
@payments_admin
@lien_waivers
def show_settings():
    """How the payor collects lien waivers."""
    return render_template(
        "waivers/settings.html", flow=services.flow_of(g.company.id), flows=list(WaiverFlow)
    )


@blueprint.post("/settings/lien-waivers")
@login_required
@payments_admin
@lien_waivers
def save_settings():
    try:
        flow = WaiverFlow(request.form.get("flow", ""))
    except ValueError:
        flash("Choose one of the two flows.", "error")
        return htmx.redirect_to(url_for("waivers.show_settings"))
    changed = services.set_flow(g.company, flow, actor_user_id=current_user.id)
    db.session.commit()
    flash(
        "Saved: invoices submitted from now on follow it." if changed else "Nothing was changed.",
        "success",
    )
    return htmx.redirect_to(url_for("waivers.show_settings"))


@blueprint.get("/payee/lien-waivers")
@payee_admin
def show_authorization():
    """The payee's standing authorization for Trestle to sign its unconditional waivers."""
    return _authorization_page()


def _authorization_page(errors=None, typed=None):
    return render_template(
        "waivers/authorization.html",
        standing=services.authorization_of(g.company.id),
        text=AUTHORIZATION_TEXT,
        errors=errors or {},
        typed=typed or {},
    )


@blueprint.post("/payee/lien-waivers")
@payee_admin
def save_authorization():
    """Give the authorization, or revoke it."""
    typed = {k: request.form.get(k, "") for k in ("name", "title")}
    try:
        if request.form.get("revoke") == "1":
            services.revoke_authorization(g.company, current_user)
            message = "Revoked: from now on you sign each unconditional waiver yourself."
        else:
            services.authorize(
                g.company,
                current_user,
                name=typed["name"],
                title=typed["title"],
                agreed=request.form.get("agree") == "y",
            )
            message = (
                "Authorized: Trestle signs your unconditional waivers once your bank confirms "
                "each payment."
            )
    except DomainError as error:
        db.session.rollback()
        if request.form.get("revoke") == "1" or not error.field:
            flash(error.message, "error")  # from a button: the page reloads with it
            return htmx.redirect_to(url_for("waivers.show_authorization"))
        return _authorization_page({error.field: error.message}, typed)
    db.session.commit()
    flash(message, "success")
    return htmx.redirect_to(url_for("waivers.show_authorization"))


@blueprint.post("/waivers/<int:waiver_id>/delegate")
@login_required
def delegate_waiver(waiver_id: int):
    """Give authority to sign this waiver to an email address (a single-use link)."""
    waiver, invoice, access = _seen(waiver_id)
    if not services.may_sign(waiver, current_user.id, g.company.id):
        abort(403)
    email = request.form.get("email", "")
    try:
        services.delegate(waiver, current_user, email, company_id=g.company.id)
    except DomainError as error:
        db.session.rollback()
        return _page(
            waiver, invoice, access, {error.field or "form": error.message}, {"email": email}
        )
    db.session.commit()
    flash(
        f"A signing link went to {email.strip()}; it works once, for "
        f"{DELEGATION_LIFETIME_DAYS} days. Sending another replaces it.",
        "success",
    )
    return htmx.redirect_to(url_for("waivers.show_waiver", waiver_id=waiver.id))


def _delegated_page(token: str, *, errors=None, typed=None):
    try:
        delegation = services.delegation_of(token)
    except DomainError as error:
        return render_template("waivers/delegated.html", closed=error.message), error.status_code
    with tenancy.unscoped():
        waiver = db.session.get(LienWaiver, delegation.waiver_id)
        form = forms.by_key(waiver.form_key)
        return render_template(
            "waivers/delegated.html",
            closed=None,
            token=token,
            waiver=waiver,
            form=form,
            facts=_facts_shown(waiver),
            consent_text=CONSENT_TEXT,
            consent_version=CONSENT_VERSION,
            errors=errors or {},
            typed=typed or {},
        )


@blueprint.get("/waivers/delegated/<token>")
def show_delegated(token: str):
    """Public, by its link: the waiver whose signing was delegated, and signing it."""
    return _delegated_page(token)


@blueprint.get("/waivers/delegated/<token>/pdf")
def download_delegated(token: str):
    try:
        delegation = services.delegation_of(token)
    except DomainError as error:
        return render_template("waivers/delegated.html", closed=error.message), error.status_code
    with tenancy.unscoped():
        record = db.session.get(LienWaiver, delegation.waiver_id).file
        return storage.download(record)


@blueprint.post("/waivers/delegated/<token>/sign")
def sign_delegated(token: str):
    typed = {k: request.form.get(k, "") for k in ("email", "name", "title", "signature")}
    try:
        services.sign_delegated(
            token,
            _signature_given(typed),
            typed["email"],
        )
    except InvalidInput as error:
        ratelimit.keep_recorded()  # a wrong address counts, though nothing else is kept
        return _delegated_page(token, errors={error.field or "form": error.message}, typed=typed)
    except DomainError as error:
        db.session.rollback()
        return render_template("waivers/delegated.html", closed=error.message), error.status_code
    db.session.commit()
    return render_template(
        "waivers/delegated.html",
        closed=None,
        done="Signed. The general contractor can rely on this waiver once it pays; the payee "
        "who asked you sees it signed.",
    )


@blueprint.get("/invoices/<int:invoice_id>/waivers")
@login_required
def invoice_waivers(invoice_id: int):
    """The invoice's lien waivers (a fragment of the invoice page)."""
    invoice = invoicing_queries.invoice(invoice_id)
    contacts = {c.user_id for c in invoice.commitment.contacts}
    access = invoice_access(g.membership, current_user.id, invoice, contacts)
    if not access.read:
        abort(403)
    return htmx.add_vary(
        htmx.render(
            "waivers/invoice_waivers.html",
            "waivers/_invoice_waivers.html",
            invoice=invoice,
            waivers=queries.waivers_of(invoice.id),
            signer=current_user.id in contacts and not access.payor_side,
            may_regenerate=access.review or (access.bill and not access.payor_side),
        )
    )


@blueprint.post("/invoices/<int:invoice_id>/waivers/regenerate")
@login_required
def regenerate_waiver(invoice_id: int):
    """Make the invoice's waiver again from today's facts (at most once per five minutes)."""
    invoice = invoicing_queries.invoice(invoice_id)
    contacts = {c.user_id for c in invoice.commitment.contacts}
    access = invoice_access(g.membership, current_user.id, invoice, contacts)
    if not (access.review or (access.bill and not access.payor_side)):
        abort(403)
    try:
        _, changed = services.regenerate(invoice, actor_user_id=current_user.id)
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
    else:
        db.session.commit()
        flash(
            "Waiver made again: it needs a new signature."
            if changed
            else "The waiver already says what the invoice asks: nothing changed.",
            "success",
        )
    # No "#waivers-panel": from the invoice page itself, a link that differs only by its
    # fragment would not reload it, and the notice would never show.
    return htmx.redirect_to(url_for("invoicing.show_invoice", invoice_id=invoice.id))


@blueprint.get("/projects/<int:project_id>/waivers.zip")
@login_required
@project_staff
@lien_waivers
def download_project_waivers(project_id: int):
    """Every signed waiver of the project (or those signed between two dates) in one zip,
    with a manifest."""
    project = invoicing_queries.project(project_id)
    if project.company_id != g.company.id:
        abort(404)
    try:
        signed_from = _day(request.args.get("from", ""), "from")
        signed_to = _day(request.args.get("to", ""), "to")
        if signed_from and signed_to and signed_from > signed_to:
            raise InvalidInput("The from date is after the through date.")
    except InvalidInput as error:
        flash(error.message, "error")
        return redirect(url_for("invoicing.show_project", project_id=project.id))
    chosen = queries.signed_waivers_of_project(project.id, signed_from, signed_to)
    if not chosen:
        flash("No signed lien waiver of this project in those dates.", "error")
        return redirect(url_for("invoicing.show_project", project_id=project.id))
    days = (
        f"-{signed_from or 'start'}-to-{signed_to or utcnow().date()}"
        if (signed_from or signed_to)
        else ""
    )
    return storage.attachment_response(
        io.BytesIO(services.zip_of(chosen)),
        content_type="application/zip",
        filename=f"lien-waivers-{project.number}{days}.zip",
    )


def _day(text: str, field: str) -> date | None:
    if not text.strip():
        return None
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"The {field} date is not a date (YYYY-MM-DD).", field=field) from None
    if not date(2000, 1, 1) <= day <= date(2100, 12, 31):
        raise InvalidInput(f"The {field} date is out of range.", field=field)
    return day


@blueprint.route("/verify/waivers/<public_id>", methods=["GET", "POST"])
def verify(public_id: str):
    """Public: whether a signed lien waiver is intact, by its document id and SHA-256, or
    by the copy someone holds."""
    if len(public_id) > 32:
        raise NotFound("No such document.")
    data = None
    if request.method == "POST":
        upload = request.files.get("file")
        data = upload.read(storage.PDF_ONLY.max_bytes + 1) if upload else b""
    given = request.args.get("sha256") or None
    result = services.verify(public_id, sha256=given, data=data)
    return render_template(
        "waivers/verify.html",
        result=result,
        public_id=public_id,
        given=given,
        checked_copy=data is not None,
    ), (200 if result.waiver is not None else 404)
