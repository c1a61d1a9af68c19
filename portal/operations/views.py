"""Operator console (operators only): payors, features, admins, deposit accounts,
implementation projects, and payor users' MFA."""

from __future__ import annotations

from functools import wraps

from flask import Blueprint, abort, flash, g, render_template, request, url_for
from flask_login import current_user

from portal.accounts import services as account_services
from portal.accounts.forms import ConfirmForm
from portal.accounts.guards import login_required, requires_role, step_up
from portal.banking import services as banking
from portal.banking.queries import deposit_account_of
from portal.companies import queries as company_queries
from portal.companies import services as company_services
from portal.companies.models import CompanyKind, Feature, Role
from portal.core import htmx, tenancy
from portal.core.db import db
from portal.core.errors import DomainError
from portal.core.forms import show_error
from portal.operations import queries, services
from portal.operations.forms import (
    AddMemberForm,
    ContactForm,
    CreatePayorForm,
    DesignationForm,
    LessonsForm,
    TrainingForm,
)
from portal.operations.models import ContactKind, TrainingTopic
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
    text = request.args.get("q", "").strip()
    return htmx.render(
        "operations/payors.html",
        "operations/_payor_results.html",
        q=text,
        rows=queries.search_payors(text),
        form=CreatePayorForm(),
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
        q="",
        rows=queries.search_payors(""),
        form=form,
    )


def _payor_page(company, **forms):
    members = queries.payor_members(company.id)
    designation = forms.pop("designation_form", None) or DesignationForm()
    designation.user_ids.choices = [(m.user_id, f"{m.user.name} ({m.user.email})") for m in members]
    return {
        "company": company,
        "features": company_queries.features_of(company.id),
        "members": members,
        "admins": [m for m in members if Role.PAYMENTS_ADMIN in m.role_set],
        "deposit": deposit_account_of(company.id),
        "member_form": forms.pop("member_form", None) or AddMemberForm(),
        "designation_form": designation,
        "confirm": ConfirmForm(),
    }


@blueprint.get("/operator/payors/<int:company_id>")
@login_required
@operator_only
def show_payor(company_id: int):
    """One payor: features, people and admins, deposit account."""
    company = queries.payor(company_id)
    return render_template("operations/payor.html", **_payor_page(company))


@blueprint.post("/operator/payors/<int:company_id>/features/<feature>")
@login_required
@operator_only
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
    return htmx.render("operations/payor.html", "operations/_features.html", **_payor_page(company))


@blueprint.post("/operator/payors/<int:company_id>/members")
@login_required
@operator_only
def add_member(company_id: int):
    """Add a person to the payor (new accounts are emailed a link to set a password)."""
    company = queries.payor(company_id)
    form = AddMemberForm()
    if form.validate_on_submit():
        try:
            membership = services.add_payor_user(
                company, form.email.data, form.name.data or "", actor_user_id=current_user.id
            )
        except DomainError as error:
            show_error(form, error)
        else:
            db.session.commit()
            flash(f"{membership.user.email} added to {company.name}.", "success")
            return htmx.redirect_to(url_for("operations.show_payor", company_id=company.id))
    return render_template("operations/payor.html", **_payor_page(company, member_form=form))


@blueprint.post("/operator/payors/<int:company_id>/designations")
@login_required
@operator_only
@step_up()
def designate_admins(company_id: int):
    """Upload the signed designation form and make the people it names Payments Admins."""
    company = queries.payor(company_id)
    form = DesignationForm()
    form.user_ids.choices = [(m.user_id, m.user.email) for m in queries.payor_members(company.id)]
    if form.validate_on_submit():
        upload = form.form_file.data
        try:
            services.designate_admins(
                company,
                form_file=upload.stream,
                filename=upload.filename or "designation.pdf",
                user_ids=form.user_ids.data,
                actor_user_id=current_user.id,
            )
        except DomainError as error:
            db.session.rollback()
            field = "form_file" if error.field is None else error.field
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
@step_up()
def remove_admin(company_id: int, membership_id: int):
    """Remove a Payments Admin."""
    company = queries.payor(company_id)
    membership = queries.payor_membership(company.id, membership_id)
    services.remove_admin(membership, actor_user_id=current_user.id)
    db.session.commit()
    flash(f"{membership.user.email} is no longer a Payments Admin.", "success")
    return htmx.redirect_to(url_for("operations.show_payor", company_id=company.id))


@blueprint.post("/operator/payors/<int:company_id>/deposit-account")
@login_required
@operator_only
@step_up()
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


# --------------------------------------------------------------------------- implementation


def _implementation_page(company, **forms):
    project = services.project_of(company)
    return {
        "company": company,
        "project": project,
        "steps": queries.implementation_checklist(company, project),
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
    db.session.commit()  # a project created for an older payor
    return render_template("operations/implementation.html", **page)


def _record(company_id: int, form_name: str, form, command):
    """Validate ``form``, run ``command(project, form)``; re-render with errors or go back."""
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
            return htmx.redirect_to(
                url_for("operations.show_implementation", company_id=company.id)
            )
    return render_template(
        "operations/implementation.html", **_implementation_page(company, **{form_name: form})
    )


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
@step_up()
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
@step_up()
def test_sso(company_id: int):
    """Test a payor's identity provider (htmx fragment)."""
    queries.payor(company_id)
    return sso_views.test_result()


@blueprint.get("/operator/payors/<int:company_id>/history")
@login_required
@operator_only
def show_history(company_id: int):
    """The payor's Change History."""
    company = queries.payor(company_id)
    filters = company_queries.HistoryFilters.from_args(request.args)
    return htmx.render(
        "companies/history.html",
        "companies/_history_rows.html",
        company=company,
        rows=company_queries.change_history(company.id, filters),
        filters=filters,
        actions=company_queries.HISTORY_AREAS,
        base_url=url_for("operations.show_history", company_id=company.id),
    )


# --------------------------------------------------------------------------- users' MFA


@blueprint.get("/operator/users")
@login_required
@operator_only
def list_users():
    """Find payor users (to reset their MFA)."""
    text = request.args.get("q", "").strip()
    results = queries.search_payor_users(text) if text else []
    return htmx.render(
        "operations/users.html",
        "operations/_user_results.html",
        q=text,
        results=results,
        form=ConfirmForm(),
    )


@blueprint.post("/operator/users/<int:user_id>/reset-mfa")
@login_required
@operator_only
@step_up()
def reset_user_mfa(user_id: int):
    """Remove a payor user's authenticator; they enroll again at next sign-in."""
    user = queries.payor_user(user_id)
    account_services.reset_mfa(user, actor_user_id=current_user.id, company_id=None)
    db.session.commit()
    flash(f"Two-step verification reset for {user.email}. They have been emailed.", "success")
    return htmx.redirect_to(url_for("operations.list_users", q=user.email))


@blueprint.get("/company/implementation")
@login_required
def show_own_implementation():
    """The payor's own implementation project, read-only."""
    company = g.get("company")
    if company is None or company.kind is not CompanyKind.PAYOR:
        abort(404)
    project = queries.project_for(company.id)
    return render_template(
        "operations/implementation.html",
        company=company,
        project=project,
        steps=queries.implementation_checklist(company, project),
        read_only=True,
    )
