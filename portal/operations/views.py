"""Operator console (operators only): payors, features, admins, deposit accounts,
implementation projects, and payor users' MFA."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps

from flask import Blueprint, Response, abort, flash, g, render_template, request, url_for
from flask_login import current_user

from portal.accounts import services as account_services
from portal.accounts.forms import ConfirmForm
from portal.accounts.guards import login_required, requires_role, step_up
from portal.accounts.models import MfaStatus
from portal.banking import services as banking
from portal.banking.queries import deposit_account_of
from portal.companies import history as company_history
from portal.companies import queries as company_queries
from portal.companies import services as company_services
from portal.companies.models import (
    ROLES_BY_KIND,
    CompanyKind,
    Feature,
    MembershipInvitation,
    Role,
)
from portal.core import htmx, storage, tenancy
from portal.core.db import db, utcnow
from portal.core.errors import DomainError, InvalidInput
from portal.core.forms import show_error
from portal.core.tables import TableState
from portal.core.text import possessive
from portal.operations import queries, services
from portal.operations.forms import (
    AddMemberForm,
    ContactForm,
    CreatePayorForm,
    DesignationForm,
    LessonsForm,
    ProfileForm,
    TrainingForm,
)
from portal.operations.models import ContactKind, TrainingTopic
from portal.payees import queries as payee_queries
from portal.payees import services as payee_services
from portal.payees.forms import (
    ClearFlagForm,
    DeactivateFrozenForm,
    RejectDocumentForm,
    UnfreezeForm,
)
from portal.payees.models import PayeeBankAccount
from portal.sso import views as sso_views
from portal.sso.forms import SsoForm

blueprint = Blueprint("operations", __name__)


def operator_only(view):
    """Operators only; the console works across companies, so its queries are unscoped."""

    @requires_role(Role.OPERATOR)
    @wraps(view)
    def wrapper(*args, **kwargs):
        with tenancy.unscoped():
            return view(*args, **kwargs)

    return wrapper


@blueprint.get("/operator")
@login_required
@operator_only
def list_payors():
    """All payors, searchable, with how far each is through implementation."""
    return htmx.add_vary(
        htmx.render(
            "operations/payors.html",
            "operations/_payor_results.html",
            table=queries.payor_table(_payor_list_state(request.args)),
            form=CreatePayorForm(),
        )
    )


def _payor_list_state(args) -> TableState:
    return TableState.from_args(
        args, columns=queries.PAYOR_COLUMNS, default_sort="name", filters=("q",)
    )


@blueprint.post("/operator/payors")
@login_required
@operator_only
def create_payor():
    """Create a payor (and its implementation project)."""
    form = CreatePayorForm()
    if form.validate_on_submit():
        try:
            company = services.create_payor(
                form.name.data, form.slug.data, actor_user_id=current_user.id
            )
        except DomainError as error:
            show_error(form, error)
        else:
            db.session.commit()
            flash(f"{company.name} created. Next: activate its features.", "success")
            return htmx.redirect_to(url_for("operations.show_payor", company_id=company.id))
    return htmx.render(
        "operations/payors.html",
        "operations/_create_payor_form.html",
        table=queries.payor_table(_payor_list_state({})),
        form=form,
    )


def _payor_page(company, **forms):
    return {
        "company": company,
        "progress": queries.implementation_progress(company),
        "features": company_queries.features_of(company.id),
        "admins": queries.payor_admins(company.id),
        "people": company_queries.member_table(
            company.id, company_queries.member_list_state(request.args)
        ),
        "deposit": deposit_account_of(company.id),
        "invitations": queries.pending_invitations(company.id),
        "member_form": forms.pop("member_form", None) or AddMemberForm(),
        "designation_form": forms.pop("designation_form", None) or DesignationForm(),
        "confirm": ConfirmForm(),
    }


@blueprint.get("/operator/payors/<int:company_id>")
@login_required
@operator_only
def show_payor(company_id: int):
    """One payor: features, people (a page at a time) and admins, deposit account."""
    company = queries.payor(company_id)
    return htmx.add_vary(
        htmx.render(
            "operations/payor.html", "operations/_people_results.html", **_payor_page(company)
        )
    )


@blueprint.post("/operator/payors/<int:company_id>/features/<feature>")
@login_required
@operator_only
@step_up(action="Turn a feature on or off")
def toggle_feature(company_id: int, feature: str):
    """Switch one feature on or off; answers with the features panel."""
    company = queries.payor(company_id)
    try:
        parsed = Feature(feature)
    except ValueError:
        abort(404)
    enabled = request.form.get("enabled") == "on"
    company_services.set_feature(company, parsed, enabled, actor_user_id=current_user.id)
    db.session.commit()
    flash(f"{parsed.label} is {'on' if enabled else 'off'} for {company.name}.", "success")
    return htmx.render("operations/payor.html", "operations/_features.html", **_payor_page(company))


@blueprint.post("/operator/payors/<int:company_id>/members")
@login_required
@operator_only
def add_member(company_id: int):
    """Add a person to the payor: new accounts are emailed a link to set a password, other
    companies' people are invited to join."""
    company = queries.payor(company_id)
    form = AddMemberForm()
    if form.validate_on_submit():
        try:
            added = services.add_payor_user(
                company, form.email.data, form.name.data or "", actor_user_id=current_user.id
            )
        except DomainError as error:
            db.session.rollback()
            show_error(form, error)
        else:
            db.session.commit()
            if isinstance(added, MembershipInvitation):
                flash(
                    f"Invitation sent to {added.user.email}. They join {company.name} once "
                    "they accept it.",
                    "success",
                )
            else:
                flash(f"{added.user.email} added to {company.name}.", "success")
            return htmx.redirect_to(url_for("operations.show_payor", company_id=company.id))
    return render_template("operations/payor.html", **_payor_page(company, member_form=form))


@blueprint.post("/operator/payors/<int:company_id>/designations")
@login_required
@operator_only
@step_up(action="Designate Payments Admins")
def designate_admins(company_id: int):
    """Upload the signed designation form and make the people it names Payments Admins."""
    company = queries.payor(company_id)
    form = DesignationForm()
    if form.validate_on_submit():
        upload = form.form_file.data
        emails = form.email_list()
        members = queries.payor_members_by_email(company.id, emails)
        try:
            if unknown := [email for email in emails if email not in members]:
                raise InvalidInput(
                    f"Not among {company.name}'s people: {', '.join(unknown)}. "
                    "Add them under People first.",
                    field="emails",
                )
            services.designate_admins(
                company,
                form_file=upload.stream,
                filename=upload.filename or "designation.pdf",
                user_ids=[members[email].user_id for email in emails],
                actor_user_id=current_user.id,
            )
        except DomainError as error:
            db.session.rollback()
            field = {None: "form_file", "user_ids": "emails"}.get(error.field, error.field)
            getattr(form, field).errors = [*getattr(form, field).errors, error.message]
        else:
            db.session.commit()
            flash("Payments Admins designated.", "success")
            return htmx.redirect_to(url_for("operations.show_payor", company_id=company.id))
    return render_template(
        "operations/payor.html", **_payor_page(company, designation_form=form)
    ), 200


@blueprint.post("/operator/payors/<int:company_id>/admins/<int:membership_id>/remove")
@login_required
@operator_only
@step_up(action="Remove a Payments Admin")
def remove_admin(company_id: int, membership_id: int):
    """Remove a Payments Admin."""
    company = queries.payor(company_id)
    membership = queries.payor_membership(company.id, membership_id)
    try:
        services.remove_admin(membership, actor_user_id=current_user.id)
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
    else:
        db.session.commit()
        flash(f"{membership.user.email} is no longer a Payments Admin.", "success")
    return htmx.redirect_to(url_for("operations.show_payor", company_id=company.id))


@blueprint.post("/operator/payors/<int:company_id>/deposit-account")
@login_required
@operator_only
@step_up(action="Open deposit account")
def open_deposit_account(company_id: int):
    """Open the payor's deposit account at the banking partner."""
    company = queries.payor(company_id)
    try:
        account = banking.open_deposit_account(company, actor_user_id=current_user.id)
    except DomainError as error:
        flash(error.message, "error")
    else:
        db.session.commit()
        flash(
            f"Deposit account ••••{account.account_last4} opened at {account.bank_name}.", "success"
        )
    return htmx.redirect_to(url_for("operations.show_payor", company_id=company.id))


# --------------------------------------------------------------------------- profile


def _profile_page(company, form=None):
    return {
        "company": company,
        "form": form or ProfileForm(obj=company),
        "designations": queries.designation_forms(company.id),
    }


@blueprint.route("/operator/payors/<int:company_id>/profile", methods=["GET", "POST"])
@login_required
@operator_only
def edit_profile(company_id: int):
    """The payor's profile (legal name, address, contacts) and its signed designation forms."""
    company = queries.payor(company_id)
    if request.method == "GET":
        return render_template("operations/profile.html", **_profile_page(company))
    form = ProfileForm()
    if form.validate_on_submit():
        try:
            services.update_profile(
                company,
                services.ProfileInput(
                    **{name: form[name].data or "" for name in services.PROFILE_FIELDS}
                ),
                actor_user_id=current_user.id,
            )
        except DomainError as error:
            db.session.rollback()
            show_error(form, error)
        else:
            db.session.commit()
            flash(f"{company.name}'s profile is saved.", "success")
            return htmx.redirect_to(url_for("operations.edit_profile", company_id=company.id))
    return render_template("operations/profile.html", **_profile_page(company, form))


@blueprint.get("/operator/payors/<int:company_id>/designations/<int:doc_id>/download")
@login_required
@operator_only
def download_designation(company_id: int, doc_id: int):
    """Download a signed designation form (audited)."""
    company = queries.payor(company_id)
    download = services.open_designation_form(
        company, queries.designation_form(company.id, doc_id), actor_user_id=current_user.id
    )
    db.session.commit()
    return storage.attachment_response(
        download.stream, content_type="application/pdf", filename=download.filename
    )


# --------------------------------------------------------------------------- implementation


def _implementation_page(company, **forms):
    project = services.project_of(company)
    steps = queries.implementation_checklist(company, project)
    return {
        "company": company,
        "project": project,
        "steps": steps,
        "left_before_close": queries.left_before_close(steps),
        "links": queries.checklist_links(company, queries.OPERATOR_SCREENS),
        "contacts": queries.recent_contacts(company.id),
        "trainings": queries.recent_trainings(company.id),
        "contacts_url": url_for("operations.list_contacts", company_id=company.id),
        "trainings_url": url_for("operations.list_trainings", company_id=company.id),
        "contact_form": forms.get("contact_form") or ContactForm(),
        "training_form": forms.get("training_form") or TrainingForm(),
        "lessons_form": forms.get("lessons_form")
        or LessonsForm(lessons_learned=project.lessons_learned),
        "confirm": ConfirmForm(),
        "read_only": False,
    }


@blueprint.get("/operator/payors/<int:company_id>/implementation")
@login_required
@operator_only
def show_implementation(company_id: int):
    """The implementation project: three steps, each a checklist derived from real state."""
    company = queries.payor(company_id)
    page = _implementation_page(company)
    return render_template("operations/implementation.html", **page)


def _record(company_id: int, form_name: str, form, command, done: str):
    """Validate ``form``, run ``command(project, form)``; re-render with errors or go back
    saying ``done``."""
    company = queries.payor(company_id)
    project = services.project_of(company)
    if form.validate_on_submit():
        try:
            command(project, form)
        except DomainError as error:
            db.session.rollback()
            show_error(form, error)
        else:
            db.session.commit()
            flash(done, "success")
            return htmx.redirect_to(
                url_for("operations.show_implementation", company_id=company.id)
            )
    return render_template(
        "operations/implementation.html", **_implementation_page(company, **{form_name: form})
    )


@dataclass(frozen=True)
class _ImplementationList:
    """One of the implementation project's long lists: its table and its page's wording."""

    table: Callable
    state: Callable
    results: str
    anchor: str
    heading: str
    subtitle: str  # the operator's; the payor's own view names the company instead
    own_subtitle: str
    searchable: bool = False


_IMPLEMENTATION_LISTS = {
    "contacts": _ImplementationList(
        queries.contact_table,
        queries.contact_list_state,
        "operations/_contact_results.html",
        "contacts-heading",
        "Key contacts and technical leads",
        "Key contacts and technical leads of the implementation project.",
        "The people at {company} your Trestle operator works with on the implementation.",
        searchable=True,
    ),
    "trainings": _ImplementationList(
        queries.training_table,
        queries.training_list_state,
        "operations/_training_results.html",
        "training-heading",
        "Training sessions",
        "Training sessions of the implementation project, newest first.",
        "The training sessions your Trestle operator held with {company}, newest first.",
    ),
}


def _implementation_list(company, kind: str, *, own: bool):
    """One page of the payor's contacts or trainings: the page, or its table for an htmx swap.

    ``own`` is the payor's read-only view of its project; otherwise the operator's console."""
    listing = _IMPLEMENTATION_LISTS[kind]
    if own:
        base_url = url_for(f"operations.list_own_{kind}")
        back_url = url_for("operations.show_own_implementation")
    else:
        base_url = url_for(f"operations.list_{kind}", company_id=company.id)
        back_url = url_for("operations.show_implementation", company_id=company.id)
    return htmx.add_vary(
        htmx.render(
            "operations/implementation_list.html",
            listing.results,
            company=company,
            listing=listing,
            subtitle=listing.own_subtitle.format(company=company.name) if own else listing.subtitle,
            table=listing.table(company.id, listing.state(request.args)),
            base_url=base_url,
            back_url=f"{back_url}#{listing.anchor}",
            read_only=own,
        )
    )


@blueprint.get("/operator/payors/<int:company_id>/implementation/contacts")
@login_required
@operator_only
def list_contacts(company_id: int):
    """Every key contact and technical lead of the payor, a page at a time."""
    return _implementation_list(queries.payor(company_id), "contacts", own=False)


@blueprint.get("/operator/payors/<int:company_id>/implementation/trainings")
@login_required
@operator_only
def list_trainings(company_id: int):
    """Every training session held with the payor, a page at a time, newest first."""
    return _implementation_list(queries.payor(company_id), "trainings", own=False)


@blueprint.post("/operator/payors/<int:company_id>/implementation/contacts")
@login_required
@operator_only
def add_contact(company_id: int):
    """Record a key contact or technical lead."""
    return _record(
        company_id,
        "contact_form",
        ContactForm(),
        lambda project, form: services.add_contact(
            project,
            ContactKind(form.kind.data),
            form.name.data,
            form.email.data,
            form.phone.data,
            actor_user_id=current_user.id,
        ),
        "Contact added.",
    )


@blueprint.post("/operator/payors/<int:company_id>/implementation/trainings")
@login_required
@operator_only
def record_training(company_id: int):
    """Record a training session that was held."""
    return _record(
        company_id,
        "training_form",
        TrainingForm(),
        lambda project, form: services.record_training(
            project,
            TrainingTopic(form.topic.data),
            form.held_on.data,
            form.attendees.data,
            form.notes.data,
            actor_user_id=current_user.id,
        ),
        "Training session recorded.",
    )


@blueprint.post("/operator/payors/<int:company_id>/implementation/lessons")
@login_required
@operator_only
def record_lessons(company_id: int):
    """Record the lessons learned."""
    return _record(
        company_id,
        "lessons_form",
        LessonsForm(),
        lambda project, form: services.record_lessons_learned(
            project, form.lessons_learned.data, actor_user_id=current_user.id
        ),
        "Lessons learned saved.",
    )


@blueprint.post("/operator/payors/<int:company_id>/implementation/sso-not-used")
@login_required
@operator_only
def mark_sso_not_used(company_id: int):
    """Mark single sign-on as not used by the payor (or, with used=1, as used after all)."""
    company = queries.payor(company_id)
    services.set_sso_not_used(
        services.project_of(company), request.form.get("used") != "1", actor_user_id=current_user.id
    )
    db.session.commit()
    flash(
        "Single sign-on marked as not used."
        if request.form.get("used") != "1"
        else "Single sign-on is expected after all: configure it to complete the item.",
        "success",
    )
    return htmx.redirect_to(url_for("operations.show_implementation", company_id=company.id))


@blueprint.post("/operator/payors/<int:company_id>/implementation/close")
@login_required
@operator_only
def close_project(company_id: int):
    """Close the implementation project (refused until every item is met)."""
    company = queries.payor(company_id)
    try:
        services.close_project(company, services.project_of(company), actor_user_id=current_user.id)
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
    else:
        db.session.commit()
        flash(f"{company.name}'s implementation project is closed.", "success")
    return htmx.redirect_to(url_for("operations.show_implementation", company_id=company.id))


@blueprint.route("/operator/payors/<int:company_id>/sso", methods=["GET", "POST"])
@login_required
@operator_only
@step_up(action="Set up the payor's single sign-on")
def setup_sso(company_id: int):
    """Set up a payor's single sign-on (the same screen its Payments Admins have)."""
    company = queries.payor(company_id)
    form = SsoForm()
    if request.method == "POST" and sso_views.save_setup(company, form, by_operator=True):
        db.session.commit()
        flash("Single sign-on saved.", "success")
        return htmx.redirect_to(url_for("operations.setup_sso", company_id=company.id))
    return sso_views.setup_page(
        company,
        form if request.method == "POST" else None,
        action=url_for("operations.setup_sso", company_id=company.id),
        test_action=url_for("operations.test_sso", company_id=company.id),
        back=url_for("operations.show_payor", company_id=company.id),
    )


@blueprint.post("/operator/payors/<int:company_id>/sso/test")
@login_required
@operator_only
@step_up(action="Test the payor's identity provider")
def test_sso(company_id: int):
    """Test a payor's identity provider (htmx fragment)."""
    queries.payor(company_id)
    return sso_views.test_result()


@blueprint.get("/operator/payors/<int:company_id>/history")
@login_required
@operator_only
def show_history(company_id: int):
    """The payor's Change History, newest first, filtered by the URL."""
    company = queries.payor(company_id)
    state, filters = company_history.table_state(request.args)
    return htmx.render(
        "companies/history.html",
        "companies/_history_rows.html",
        company=company,
        table=company_history.change_history(company.id, state, filters),
        areas=company_history.HISTORY_AREAS,
        people=company_history.people_in_history(company.id),
        base_url=url_for("operations.show_history", company_id=company.id),
        csv_url=url_for("operations.download_history", company_id=company.id, **filters.as_args()),
    )


@blueprint.get("/operator/payors/<int:company_id>/history.csv")
@login_required
@operator_only
def download_history(company_id: int):
    """Every row of the payor's Change History the URL's filters match, as a CSV file."""
    company = queries.payor(company_id)
    _, filters = company_history.table_state(request.args)
    filename = company_history.csv_filename(company.slug, utcnow().date())
    return Response(
        company_history.history_csv(company.id, filters),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# --------------------------------------------------------------------------- users' MFA


@blueprint.get("/operator/users")
@login_required
@operator_only
def list_users():
    """Every payor user, a page at a time: find one to reset their two-step verification, or
    see who has not set it up yet."""
    return htmx.add_vary(
        htmx.render(
            "operations/users.html",
            "operations/_user_results.html",
            table=queries.payor_user_table(queries.user_list_state(request.args)),
            mfa_statuses=MfaStatus,
            form=ConfirmForm(),
        )
    )


@blueprint.post("/operator/users/<int:user_id>/reset-mfa")
@login_required
@operator_only
@step_up(action="Reset a user's two-step verification")
def reset_user_mfa(user_id: int):
    """Remove a payor user's authenticator; they enroll again at next sign-in."""
    user = queries.payor_user(user_id)
    account_services.reset_mfa(user, actor_user_id=current_user.id, company_id=None)
    db.session.commit()
    flash(f"Two-step verification reset for {user.email}. They have been emailed.", "success")
    return htmx.redirect_to(url_for("operations.list_users", q=user.email))


payor_people = requires_role(*ROLES_BY_KIND[CompanyKind.PAYOR])


def _own_payor():
    """The signed-in person's current company, which must be a payor."""
    company = g.get("company")
    if company is None or company.kind is not CompanyKind.PAYOR:
        abort(404)
    return company


@blueprint.get("/company/implementation")
@login_required
@payor_people
def show_own_implementation():
    """The payor's own implementation project, read-only."""
    company = _own_payor()
    project = queries.project_for(company.id)
    steps = queries.implementation_checklist(company, project)
    return render_template(
        "operations/implementation.html",
        company=company,
        project=project,
        steps=steps,
        left_before_close=queries.left_before_close(steps),
        # Only a Payments Admin can act on the items; others see the list without links.
        links=queries.checklist_links(company, queries.PAYOR_SCREENS)
        if Role.PAYMENTS_ADMIN in g.membership.role_set
        else {},
        contacts=queries.recent_contacts(company.id),
        trainings=queries.recent_trainings(company.id),
        contacts_url=url_for("operations.list_own_contacts"),
        trainings_url=url_for("operations.list_own_trainings"),
        read_only=True,
    )


@blueprint.get("/company/implementation/contacts")
@login_required
@payor_people
def list_own_contacts():
    """The payor's own key contacts and technical leads, read-only, a page at a time."""
    return _implementation_list(_own_payor(), "contacts", own=True)


@blueprint.get("/company/implementation/trainings")
@login_required
@payor_people
def list_own_trainings():
    """The payor's own training sessions, read-only, a page at a time, newest first."""
    return _implementation_list(_own_payor(), "trainings", own=True)


# --------------------------------------------------------------------------- bank reviews
# Payee bank accounts that need an operator: a document to review, a no-match or shared
# flag, a freeze. Operators review every payee's accounts, so these queries are unscoped.

# The note forms of a review page, by the action that posts them (also their prefix).
BANK_NOTE_FORMS = {
    "clear": ClearFlagForm,
    "unfreeze": UnfreezeForm,
    "deactivate": DeactivateFrozenForm,
}


@blueprint.get("/operator/bank-reviews")
@login_required
@operator_only
def list_bank_reviews():
    """Every payee bank account waiting for an operator, the longest waiting first."""
    return htmx.add_vary(
        htmx.render(
            "operations/bank_reviews.html",
            "operations/_bank_review_results.html",
            table=payee_queries.review_table(payee_queries.review_list_state(request.args)),
            reasons=payee_queries.REVIEW_FILTERS,
        )
    )


def _bank_review_page(account: PayeeBankAccount, status: int = 200, **forms):
    documents = payee_queries.documents_of(account.id)
    events = payee_queries.account_events(account.company_id, account.id)
    return render_template(
        "operations/bank_review.html",
        account=account,
        payee=payee_queries.payee_of(account),
        reasons=payee_queries.review_reasons(account, documents.open),
        sharing=payee_queries.other_payees_sharing(account),
        documents=documents,
        people=payee_queries.user_names(documents.people() | {account.operator_cleared_by_user_id}),
        history=company_history.entries(events),
        reject_form=forms.get("reject_form") or RejectDocumentForm(formdata=None),
        **{
            f"{action}_form": forms.get(f"{action}_form") or form(formdata=None, prefix=action)
            for action, form in BANK_NOTE_FORMS.items()
        },
    ), status


@blueprint.get("/operator/bank-reviews/<int:account_id>")
@login_required
@operator_only
def show_bank_review(account_id: int):
    """One payee bank account: who it belongs to, why it is here, its documents and history."""
    return _bank_review_page(payee_queries.review_account(account_id))


@blueprint.get("/operator/bank-reviews/<int:account_id>/documents/<int:document_id>")
@login_required
@operator_only
@step_up(action="Download a payee's bank document")
def download_bank_document(account_id: int, document_id: int):
    """Download a document the payee sent (audited)."""
    account = payee_queries.review_account(account_id)
    document = payee_queries.account_document(account.id, document_id)
    record, stream = payee_services.read_document(account, document, actor_user_id=current_user.id)
    db.session.commit()
    extension = storage.SIGNATURES[record.content_type][1]
    return storage.attachment_response(
        stream,
        content_type=record.content_type,
        filename=f"{document.kind.value}-{account.account_last4}-{document.id}{extension}",
    )


def _take_bank_decision(
    account_id: int, form, form_name: str, decide: Callable[[PayeeBankAccount, object], str]
):
    """Validate ``form``, run ``decide(account, form)`` and go back to the account saying
    what it did; bad input re-renders the page with the message by its field."""
    account = payee_queries.review_account(account_id)
    if not form.validate_on_submit():
        return _bank_review_page(account, 400, **{form_name: form})
    try:
        done = decide(account, form)
    except InvalidInput as error:
        db.session.rollback()
        field = getattr(form, error.field or "", None)
        (field.errors if field is not None else form.form_errors).append(error.message)
        return _bank_review_page(payee_queries.review_account(account_id), 400, **{form_name: form})
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
    else:
        db.session.commit()
        flash(done, "success")
    return htmx.redirect_to(url_for("operations.show_bank_review", account_id=account_id))


@blueprint.post("/operator/bank-reviews/<int:account_id>/documents/<int:document_id>/approve")
@login_required
@operator_only
@step_up(action="Approve a payee's bank account document")
def approve_bank_document(account_id: int, document_id: int):
    """Accept the document: the account is verified."""

    def decide(account, form):
        document = payee_queries.account_document(account.id, document_id)
        payee_services.approve_document(account, document, actor_user_id=current_user.id)
        return (
            f"Account ••••{account.account_last4} is verified by its "
            f"{document.kind_label.lower()}."
            + (" Payments go to it." if account.receives_payments else "")
        )

    return _take_bank_decision(account_id, ConfirmForm(), "approve_form", decide)


@blueprint.post("/operator/bank-reviews/<int:account_id>/documents/<int:document_id>/reject")
@login_required
@operator_only
@step_up(action="Reject a payee's bank account document")
def reject_bank_document(account_id: int, document_id: int):
    """Refuse the document with a reason the payee's admins are emailed."""

    def decide(account, form):
        document = payee_queries.account_document(account.id, document_id)
        payee_services.reject_document(
            account, document, form.reason.data, actor_user_id=current_user.id
        )
        return f"Document rejected. {_bank_payee_name(account)} admins are emailed the reason."

    return _take_bank_decision(account_id, RejectDocumentForm(), "reject_form", decide)


@blueprint.post("/operator/bank-reviews/<int:account_id>/clear")
@login_required
@operator_only
@step_up(action="Clear a flagged payee bank account")
def clear_bank_flag(account_id: int):
    """Clear a no-match or shared flag after looking into it: payors may approve the account."""

    def decide(account, form):
        payee_services.clear_review_flag(account, form.note.data, actor_user_id=current_user.id)
        return f"Account ••••{account.account_last4} cleared: payors may approve it."

    return _take_bank_decision(
        account_id, BANK_NOTE_FORMS["clear"](prefix="clear"), "clear_form", decide
    )


@blueprint.post("/operator/bank-reviews/<int:account_id>/unfreeze")
@login_required
@operator_only
@step_up(action="Unfreeze a payee bank account")
def unfreeze_bank_account(account_id: int):
    """Unfreeze a reported account the payee confirmed is theirs."""

    def decide(account, form):
        payee_services.unfreeze(account, form.note.data, actor_user_id=current_user.id)
        return f"Account ••••{account.account_last4} is no longer frozen."

    return _take_bank_decision(
        account_id, BANK_NOTE_FORMS["unfreeze"](prefix="unfreeze"), "unfreeze_form", decide
    )


@blueprint.post("/operator/bank-reviews/<int:account_id>/deactivate")
@login_required
@operator_only
@step_up(action="Deactivate a frozen payee bank account")
def deactivate_bank_account(account_id: int):
    """Keep a reported account frozen and deactivate it for good."""

    def decide(account, form):
        payee_services.deactivate_frozen(account, form.note.data, actor_user_id=current_user.id)
        return (
            f"Account ••••{account.account_last4} is deactivated. {_bank_payee_name(account)} "
            "admins are emailed to add their own account."
        )

    return _take_bank_decision(
        account_id, BANK_NOTE_FORMS["deactivate"](prefix="deactivate"), "deactivate_form", decide
    )


def _bank_payee_name(account: PayeeBankAccount) -> str:
    return possessive(payee_queries.payee_of(account).name)
