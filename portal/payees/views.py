"""The payee's own pages: its profile and W-9 facts, and the bank accounts it is paid to.
Only the payee's Payments Admins open them; every change to where money goes needs step-up."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from portal.accounts.forms import ConfirmForm
from portal.accounts.guards import payee_admin, step_up
from portal.banking.models import AccountType
from portal.core import audit, htmx, storage
from portal.core.db import db
from portal.core.errors import DomainError, InvalidInput
from portal.core.forms import show_error
from portal.core.models import StoredFile
from portal.payees import queries, services
from portal.payees.forms import (
    BankAccountForm,
    BankDocumentForm,
    CertifyForm,
    MicroDepositForm,
    ProfileForm,
    W9Form,
)
from portal.payees.models import (
    PROFILE_LABELS,
    BankAccountStatus,
    DocumentKind,
    DocumentState,
    EntityType,
    TaxClassification,
    TinType,
)

blueprint = Blueprint("payees", __name__, url_prefix="/payee")


PROFILE_FIELDS = (
    "legal_name",
    "dba",
    "entity_type",
    "address_line1",
    "address_line2",
    "city",
    "region",
    "postal_code",
    "remit_to_email",
    "tax_classification",
    "tin_type",
    "exempt_payee_code",
    "fatca_code",
)


def _profile_page(form=None, certify_form=None, w9_form=None, status: int = 200):
    profile = queries.profile_of(g.company.id)
    if form is None:
        # Filled from the stored fields but never from the tax id (never shown, never
        # decrypted for a page).
        filled = {f: getattr(profile, f) for f in PROFILE_FIELDS} if profile else {}
        form = ProfileForm(formdata=None, data=filled or {"legal_name": g.company.name})
    return render_template(
        "payees/profile.html",
        company=g.company,
        profile=profile,
        form=form,
        certify_form=certify_form or CertifyForm(formdata=None, name=current_user.name),
        w9_form=w9_form or W9Form(formdata=None),
        labels=PROFILE_LABELS,
    ), status


@blueprint.get("/profile")
@payee_admin
def show_profile():
    """The payee's profile and W-9 facts, the same for every payor."""
    return _profile_page()


@blueprint.post("/profile")
@payee_admin
@step_up(action="Save your company profile and tax id")
def save_profile():
    """Save the profile; a new tax id or legal name is reviewed again by every payor."""
    form = ProfileForm()
    if form.validate_on_submit():
        try:
            profile = services.save_profile(
                g.company,
                services.ProfileInput(
                    legal_name=form.legal_name.data,
                    dba=form.dba.data,
                    entity_type=EntityType(form.entity_type.data),
                    address_line1=form.address_line1.data,
                    address_line2=form.address_line2.data,
                    city=form.city.data,
                    region=form.region.data,
                    postal_code=form.postal_code.data,
                    remit_to_email=form.remit_to_email.data,
                    tin_type=TinType(form.tin_type.data),
                    tin=form.tin.data,
                    tax_classification=TaxClassification(form.tax_classification.data),
                    exempt_payee_code=form.exempt_payee_code.data,
                    fatca_code=form.fatca_code.data,
                ),
                actor_user_id=current_user.id,
            )
        except DomainError as error:
            db.session.rollback()
            show_error(form, error)
        else:
            db.session.commit()
            flash(
                "Profile saved. Sign the W-9 certification next."
                if profile.certified_at is None
                else "Profile saved.",
                "success",
            )
            return htmx.redirect_to(url_for("payees.show_profile"))
    return _profile_page(form=form, status=400 if request.method == "POST" else 200)


@blueprint.post("/profile/certification")
@payee_admin
def certify_profile():
    """Sign the W-9 certification for the facts on file."""
    form = CertifyForm()
    profile = queries.profile_of(g.company.id)
    if profile is None:
        flash("Save your profile before you sign its certification.", "error")
        return htmx.redirect_to(url_for("payees.show_profile"))
    if form.validate_on_submit():
        try:
            services.certify(
                profile, name=form.name.data, title=form.title.data, actor_user_id=current_user.id
            )
        except DomainError as error:
            db.session.rollback()
            show_error(form, error)
        else:
            db.session.commit()
            flash("W-9 certification signed.", "success")
            return htmx.redirect_to(url_for("payees.show_profile"))
    return _profile_page(certify_form=form, status=400)


@blueprint.post("/profile/w9")
@payee_admin
def upload_w9():
    """Keep a signed W-9 PDF with the profile."""
    form = W9Form()
    profile = queries.profile_of(g.company.id)
    if profile is None:
        flash("Save your profile before you upload a W-9.", "error")
        return htmx.redirect_to(url_for("payees.show_profile"))
    if form.validate_on_submit():
        upload = form.w9_file.data
        try:
            services.attach_w9(
                profile, upload.stream, upload.filename or "w9.pdf", actor_user_id=current_user.id
            )
        except DomainError as error:
            db.session.rollback()
            form.w9_file.errors = [error.message]
        else:
            db.session.commit()
            flash("W-9 uploaded.", "success")
            return htmx.redirect_to(url_for("payees.show_profile"))
    return _profile_page(w9_form=form, status=400)


@blueprint.get("/profile/w9")
@payee_admin
def download_w9():
    """Download the W-9 on file (audited)."""
    profile = queries.profile_of(g.company.id)
    record = (
        db.session.get(StoredFile, profile.w9_file_id) if profile and profile.w9_file_id else None
    )
    if record is None:
        abort(404)
    audit.record(
        "payees:profile:w9_downloaded",
        actor_user_id=current_user.id,
        company_id=g.company.id,
        object_type="payee_profile",
        object_id=profile.id,
    )
    db.session.commit()
    return storage.attachment_response(
        storage.open_file(record), content_type=record.content_type, filename="W-9.pdf"
    )


# --------------------------------------------------------------------------- bank accounts


def _accounts_page(form=None, status: int = 200):
    return htmx.add_vary(
        htmx.render(
            "payees/bank_accounts.html",
            "payees/_bank_account_results.html",
            status=status,
            company=g.company,
            table=queries.bank_account_table(
                g.company.id, queries.bank_account_list_state(request.args)
            ),
            statuses=BankAccountStatus,
            awaiting_review=queries.awaiting_review(g.company.id),
            awaiting_badge=DocumentState.SUBMITTED,
            form=form or BankAccountForm(formdata=None),
        )
    )


@blueprint.get("/bank-accounts")
@payee_admin
def list_bank_accounts():
    """The payee's bank accounts and which one receives payments."""
    return _accounts_page()


@blueprint.post("/bank-accounts")
@payee_admin
@step_up(action="Add a bank account to be paid to")
def add_bank_account():
    """Add an account (numbers entered twice, never edited): micro-deposits go out at once."""
    form = BankAccountForm()
    if form.validate_on_submit():
        try:
            account = services.add_bank_account(
                g.company,
                services.BankAccountInput(
                    holder_name=form.holder_name.data,
                    account_type=AccountType(form.account_type.data),
                    routing_number=form.routing_number.data,
                    account_number=form.account_number.data,
                    account_number_confirm=form.account_number_confirm.data,
                ),
                actor_user_id=current_user.id,
            )
        except DomainError as error:
            db.session.rollback()
            show_error(form, error)
        else:
            db.session.commit()
            flash(
                f"Account ••••{account.account_last4} added. Two small deposits are on their "
                "way to it: confirm their amounts here to verify it.",
                "success",
            )
            return htmx.redirect_to(url_for("payees.show_bank_account", account_id=account.id))
    return _accounts_page(form=form, status=400)


def _account_page(account, form=None, status: int = 200, document_form=None):
    documents = queries.documents_of(account.id)
    return render_template(
        "payees/bank_account.html",
        company=g.company,
        account=account,
        check=queries.micro_deposit_check(account.id),
        form=form or MicroDepositForm(formdata=None),
        confirm=ConfirmForm(),
        attempts=services.MICRO_DEPOSIT_ATTEMPTS,
        sandbox_statement=_sandbox_statement_url(),
        documents=documents,
        document_allowed=services.accepts_document(account),
        document_form=document_form or BankDocumentForm(formdata=None),
        people=queries.user_names(documents.people()),
    ), status


def _sandbox_statement_url() -> str | None:
    """Where, in the sandbox, a payee reads its deposits (a page of the simulated bank)."""
    if "sandbox_bank.show_statement" in current_app.view_functions:
        return url_for("sandbox_bank.show_statement")
    return None


@blueprint.get("/bank-accounts/<int:account_id>")
@payee_admin
def show_bank_account(account_id: int):
    """One bank account: its verification and ownership check."""
    return _account_page(queries.bank_account(g.company.id, account_id))


@blueprint.post("/bank-accounts/<int:account_id>/micro-deposits")
@payee_admin
def confirm_micro_deposits(account_id: int):
    """Confirm the two deposit amounts (three tries)."""
    account = queries.bank_account(g.company.id, account_id)
    form = MicroDepositForm()
    if form.validate_on_submit():
        try:
            answer = services.confirm_micro_deposits(
                account, form.first.data, form.second.data, actor_user_id=current_user.id
            )
        except DomainError as error:
            db.session.rollback()
            show_error(form, error)
        else:
            db.session.commit()  # a wrong answer spends its try for good
            if answer.confirmed:
                flash(
                    f"Account ••••{account.account_last4} verified."
                    + (" Payments go to it." if account.receives_payments else ""),
                    "success",
                )
                return htmx.redirect_to(url_for("payees.show_bank_account", account_id=account.id))
            form = MicroDepositForm(formdata=None)
            form.form_errors.append(answer.message)
            return _account_page(queries.bank_account(g.company.id, account_id), form, 400)
    return _account_page(account, form, 400)


@blueprint.post("/bank-accounts/<int:account_id>/document")
@payee_admin
@step_up(action="Verify a bank account with a document")
def upload_bank_document(account_id: int):
    """Send a bank letter or voided check to verify the account instead of micro-deposits."""
    account = queries.bank_account(g.company.id, account_id)
    form = BankDocumentForm()
    if form.validate_on_submit():
        upload = form.document.data
        try:
            services.submit_document(
                account,
                DocumentKind(form.kind.data),
                upload.stream,
                upload.filename or "document",
                actor_user_id=current_user.id,
            )
        except InvalidInput as error:  # the file itself: said next to the field
            db.session.rollback()
            form.document.errors = [*form.document.errors, error.message]
        except DomainError as error:  # the account's state: said on its page
            db.session.rollback()
            flash(error.message, "error")
            return htmx.redirect_to(url_for("payees.show_bank_account", account_id=account_id))
        except IntegrityError:  # a colleague's upload won the one open place
            db.session.rollback()
            flash("A colleague sent a document for this account meanwhile.", "error")
            return htmx.redirect_to(url_for("payees.show_bank_account", account_id=account_id))
        else:
            db.session.commit()
            flash(
                "Document sent. A Trestle operator reviews it; if it cannot be accepted, "
                "your admins are emailed why.",
                "success",
            )
            return htmx.redirect_to(url_for("payees.show_bank_account", account_id=account_id))
    return _account_page(
        queries.bank_account(g.company.id, account_id), document_form=form, status=400
    )


def _change_account(account_id: int, change) -> Response:
    """Apply ``change`` to one of the payee's accounts; say what happened on its page."""
    account = queries.bank_account(g.company.id, account_id)
    try:
        message = change(account)
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
    else:
        db.session.commit()
        flash(message, "success")
    return htmx.redirect_to(url_for("payees.show_bank_account", account_id=account_id))


@blueprint.post("/bank-accounts/<int:account_id>/receive")
@payee_admin
@step_up(action="Change the bank account payments go to")
def choose_receiving(account_id: int):
    """Make a verified account the one payments go to; payors approve it again."""

    def change(account):
        services.choose_receiving(account, actor_user_id=current_user.id)
        return f"Payments now go to ••••{account.account_last4}, once each payor approves it."

    return _change_account(account_id, change)


@blueprint.post("/bank-accounts/<int:account_id>/deactivate")
@payee_admin
@step_up(action="Deactivate a bank account")
def deactivate_bank_account(account_id: int):
    """Stop using an account for good."""

    def change(account):
        services.deactivate(account, actor_user_id=current_user.id)
        return f"Account ••••{account.account_last4} deactivated."

    return _change_account(account_id, change)


# --------------------------------------------------------------------------- "not me" reports


def _report_page(token: str, find):
    try:
        account = find(token)
    except DomainError as error:
        return render_template("payees/report.html", problem=error.message), error.status_code
    if request.method == "POST":
        db.session.commit()
    return render_template("payees/report.html", account=account, token=token)


@blueprint.get("/bank-account-reports/<token>")
def show_report(token: str):
    """The report link of a notice email: it works signed out, the link is the authority."""
    return _report_page(token, services.find_reported)


@blueprint.post("/bank-account-reports/<token>")
def freeze_report(token: str):
    """Freeze the reported account at once."""
    return _report_page(token, services.freeze_reported)
