"""Projects: create them, and (Payments Admins) switch Pay and the funding account per project."""

from __future__ import annotations

from flask import Blueprint, flash, g, render_template, request, url_for
from flask_login import current_user

from portal.accounts.forms import ConfirmForm
from portal.accounts.guards import login_required, requires_role, step_up
from portal.companies.models import Role
from portal.core import htmx
from portal.core.db import db
from portal.core.errors import DomainError
from portal.core.forms import show_error
from portal.invoicing import policies, queries, services
from portal.invoicing.forms import ProjectForm, ProjectFundingForm
from portal.payment_settings import queries as settings_queries
from portal.payment_settings import services as settings_services

blueprint = Blueprint("invoicing", __name__)
project_staff = requires_role(Role.PAYMENTS_ADMIN, Role.INVOICE_ADMINISTRATOR)


def _account_choices(company_id: int) -> list[tuple[str, str]]:
    accounts = [a for a in settings_queries.funding_accounts(company_id) if a.active]
    return [("", "None yet")] + [
        (str(a.id), f"{a.nickname} ••••{a.account_last4}") for a in accounts
    ]


def _list_page(form: ProjectForm | None = None):
    company = g.company
    return {
        "company": company,
        "table": queries.project_table(company.id, queries.project_list_state(request.args)),
        "form": form or ProjectForm(),
        "controls": settings_services.controls_of(company),
        "funding_gap": policies.funding_gap,
    }


@blueprint.get("/projects")
@login_required
@project_staff
def list_projects():
    """The payor's projects in use (or the archived ones), and a form to add one."""
    return htmx.add_vary(
        htmx.render("invoicing/projects.html", "invoicing/_project_results.html", **_list_page())
    )


def _project_page(
    project,
    funding_form: ProjectFundingForm | None = None,
    edit_form: ProjectForm | None = None,
):
    company = g.company
    may_control_pay = Role.PAYMENTS_ADMIN in g.membership.role_set
    controls = settings_services.controls_of(company)
    if funding_form is None:
        funding_form = ProjectFundingForm(
            formdata=None, funding_account_id=project.funding_account_id
        )
    funding_form.funding_account_id.choices = _account_choices(company.id)
    return {
        "project": project,
        "controls": controls,
        "may_control_pay": may_control_pay,
        "funding_form": funding_form,
        "edit_form": edit_form or ProjectForm(formdata=None, obj=project, prefix="edit"),
        "funding_gap": policies.funding_gap(project, controls),
        "confirm": ConfirmForm(),
    }


@blueprint.get("/projects/<int:project_id>")
@login_required
@project_staff
def show_project(project_id: int):
    """One project: where it is, whether Pay is on, and the account that funds it."""
    project = queries.project(project_id)
    return render_template("invoicing/project.html", **_project_page(project))


@blueprint.post("/projects")
@login_required
@project_staff
def create_project():
    """Add a project."""
    form = ProjectForm()
    if form.validate_on_submit():
        try:
            project = services.create_project(
                g.company,
                name=form.name.data,
                number=form.number.data,
                address_line1=form.address_line1.data,
                city=form.city.data,
                region=form.region.data,
                postal_code=form.postal_code.data,
                actor_user_id=current_user.id,
            )
        except DomainError as error:
            show_error(form, error)
        else:
            db.session.commit()
            flash(
                f"Project {project.number} added; Pay is "
                f"{'on' if project.pay_enabled else 'off'} for it.",
                "success",
            )
            return htmx.redirect_to(url_for("invoicing.list_projects"))
    return render_template("invoicing/projects.html", **_list_page(form))


@blueprint.post("/projects/<int:project_id>")
@login_required
@project_staff
def update_project(project_id: int):
    """Correct the project's name, number or job site."""
    project = queries.project(project_id)
    form = ProjectForm(prefix="edit")
    if form.validate_on_submit():
        try:
            changed = services.update_project(
                project,
                name=form.name.data,
                number=form.number.data,
                address_line1=form.address_line1.data,
                city=form.city.data,
                region=form.region.data,
                postal_code=form.postal_code.data,
                actor_user_id=current_user.id,
            )
        except DomainError as error:
            db.session.rollback()
            show_error(form, error)
        else:
            db.session.commit()
            flash("Project saved." if changed else "Nothing was changed.", "success")
            return htmx.redirect_to(url_for("invoicing.show_project", project_id=project.id))
    return render_template("invoicing/project.html", **_project_page(project, edit_form=form))


@blueprint.post("/projects/<int:project_id>/archive")
@login_required
@project_staff
def archive_project(project_id: int):
    """Archive a finished project: it leaves the list and takes no new work."""
    return _archive_or_restore(project_id, archive=True)


@blueprint.post("/projects/<int:project_id>/restore")
@login_required
@project_staff
def restore_project(project_id: int):
    """Bring an archived project back into use."""
    return _archive_or_restore(project_id, archive=False)


def _archive_or_restore(project_id: int, *, archive: bool):
    project = queries.project(project_id)
    if ConfirmForm().validate_on_submit():
        try:
            if archive:
                services.archive_project(project, actor_user_id=current_user.id)
            else:
                services.restore_project(project, actor_user_id=current_user.id)
        except DomainError as error:
            db.session.rollback()
            flash(error.message, "error")
        else:
            db.session.commit()
            flash(
                f"{project.name} is archived; find it under “Archived projects”."
                if archive
                else f"{project.name} is back in use.",
                "success",
            )
    return htmx.redirect_to(url_for("invoicing.show_project", project_id=project.id))


@blueprint.post("/projects/<int:project_id>/pay")
@login_required
@requires_role(Role.PAYMENTS_ADMIN)
@step_up(action="Turn Pay on or off for a project")
def set_pay(project_id: int):
    """Switch Pay on or off for one project (answers with the project's row)."""
    project = queries.project(project_id)
    services.set_project_pay(
        project, request.form.get("enabled") == "on", actor_user_id=current_user.id
    )
    db.session.commit()
    flash(f"Pay is {'on' if project.pay_enabled else 'off'} for {project.name}.", "success")
    return htmx.render(
        "invoicing/project.html", "invoicing/_project.html", **_project_page(project)
    )


@blueprint.post("/projects/<int:project_id>/funding-account")
@login_required
@requires_role(Role.PAYMENTS_ADMIN)
@step_up(action="Set the project's funding account")
def set_funding_account(project_id: int):
    """Fix the project's funding account (when the payor funds per project)."""
    project = queries.project(project_id)
    form = ProjectFundingForm()
    form.funding_account_id.choices = _account_choices(g.company.id)
    if form.validate_on_submit():
        try:
            services.set_project_funding_account(
                g.company, project, form.funding_account_id.data, actor_user_id=current_user.id
            )
        except DomainError as error:
            db.session.rollback()
            flash(error.message, "error")  # the form may not be on the page in this mode
        else:
            db.session.commit()
            flash(f"Funding account saved for {project.name}.", "success")
            return htmx.redirect_to(url_for("invoicing.show_project", project_id=project.id))
    elif form.funding_account_id.errors:
        form.funding_account_id.errors = ["Choose one of your active funding accounts."]
    return htmx.render(
        "invoicing/project.html", "invoicing/_project.html", **_project_page(project, form)
    )
