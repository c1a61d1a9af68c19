"""Projects: create them, and (Payments Admins) switch Pay and the funding account per project;
commitments on them, with their schedules of values, retainage, contacts and change orders."""

from __future__ import annotations

import io

from flask import Blueprint, Response, abort, flash, g, render_template, request, url_for
from flask_login import current_user

from portal.accounts.forms import ConfirmForm
from portal.accounts.guards import (
    login_required,
    payee_member,
    requires_feature,
    requires_role,
    step_up,
)
from portal.companies.models import Feature, Role
from portal.companies.queries import active_members, feature_enabled, features_in
from portal.core import htmx, money, progress, storage
from portal.core.db import db
from portal.core.errors import DomainError, InvalidInput, NotFound
from portal.core.forms import row_errors, show_error
from portal.invoicing import imports, policies, queries, services
from portal.invoicing.forms import (
    BillingPeriodForm,
    ChangeOrderForm,
    CommitmentDetailsForm,
    CommitmentForm,
    ContactsForm,
    ExecutedForm,
    InviteForm,
    MonthlyPeriodsForm,
    ProjectForm,
    ProjectFundingForm,
    RetainageForm,
    ScheduleForm,
)
from portal.invoicing.models import BillingType, CommitmentKind, CommitmentStatus, InvoiceStatus
from portal.onboarding import services as onboarding
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
    commitment_form: CommitmentForm | None = None,
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
        "waivers_on": features_in(company)[Feature.LIEN_WAIVERS],
        "confirm": ConfirmForm(),
        **_commitments_of(project, commitment_form),
    }


def _commitments_of(project, form: CommitmentForm | None) -> dict:
    if not features_in(g.company)[Feature.INVOICE_MANAGEMENT]:
        return {"invoice_management": False}
    if form is None:
        form = CommitmentForm(formdata=None)
    form.payee.choices = [
        ("", "Choose a payee"),
        (CommitmentForm.NEW_PAYEE, "A company not listed yet"),
    ] + [(str(r.id), r.directory_name) for r in queries.payee_choices(g.company.id)]
    today = policies.billing_date()
    return {
        "invoice_management": True,
        "today": today,
        "open_periods": queries.periods_around([project.id], today).get(project.id, []),
        "commitments": queries.commitment_table(
            project.id, queries.commitment_list_state(request.args)
        ),
        "commitment_form": form,
    }


@blueprint.get("/projects/<int:project_id>")
@login_required
@project_staff
def show_project(project_id: int):
    """One project: where it is, whether Pay is on, and the account that funds it."""
    project = queries.project(project_id)
    return htmx.add_vary(
        htmx.render(
            "invoicing/project.html",
            "invoicing/_commitment_results.html",
            **_project_page(project),
        )
    )


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
                owner_name=form.owner_name.data,
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
                owner_name=form.owner_name.data,
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


# --------------------------------------------------------------------------- commitments


def _refused_on_commitment(error: DomainError, form, commitment):
    return _refused(error, form, url_for("invoicing.show_commitment", commitment_id=commitment.id))


def _refused(error: DomainError, form, page: str):
    """Undo the attempt. Bad input goes back to its form (a whole-table error above the
    table); a refused move (an approved commitment, an archived project) is said on the
    object's page, where the form may not be shown any more."""
    db.session.rollback()
    if not isinstance(error, InvalidInput):
        flash(error.message, "error")
        return htmx.redirect_to(page)
    if error.field == "lines":
        form.form_errors.append(error.message)
    else:
        show_error(form, error)
    return None


invoice_management = requires_feature(Feature.INVOICE_MANAGEMENT)


@blueprint.post("/projects/<int:project_id>/commitments")
@login_required
@project_staff
@invoice_management
def create_commitment(project_id: int):
    """Write a draft commitment to a payee on the project."""
    project = queries.project(project_id)
    form = CommitmentForm()
    form.payee.choices = [(form.payee.data or "", "")]  # checked by the service below
    if form.validate_on_submit():
        details = {
            "kind": CommitmentKind(form.kind.data),
            "number": form.number.data,
            "title": form.title.data,
            "contract_sum": form.contract_sum.data,
            "default_retainage": form.default_retainage.data,
            "actor_user_id": current_user.id,
        }
        try:
            if form.payee.data == CommitmentForm.NEW_PAYEE:
                commitment = services.add_payee_and_commit(
                    project,
                    payee_name=form.payee_name.data or "",
                    payee_email=form.payee_email.data or "",
                    **details,
                )
            else:
                relationship = queries.payee_choice(g.company.id, _as_id(form.payee.data))
                commitment = services.create_commitment(
                    project, relationship=relationship, **details
                )
        except DomainError as error:
            if refused := _refused(
                error, form, url_for("invoicing.show_project", project_id=project.id)
            ):
                return refused
        else:
            db.session.commit()
            flash(
                f"Commitment {commitment.number} drafted. Enter its schedule of values next.",
                "success",
            )
            return htmx.redirect_to(
                url_for("invoicing.show_commitment", commitment_id=commitment.id)
            )
    return render_template("invoicing/project.html", **_project_page(project, commitment_form=form))


def _as_id(text: str | None) -> int:
    try:
        return int(text or "")
    except ValueError:
        raise InvalidInput("Choose one of your payees.", field="payee") from None


def _commitment_page(commitment, **forms):
    relationship = services.relationship_of(commitment)
    members = active_members(commitment.payee_company_id) if commitment.payee_company_id else []
    draft = commitment.status is CommitmentStatus.DRAFT
    schedule = forms.get("schedule")
    if schedule is None and draft:
        schedule = ScheduleForm(
            formdata=None,
            lines=[
                {
                    "code": line.code,
                    "description": line.description,
                    "value": money.cents_to_decimal_string(line.original_value_cents),
                    "retainage": money.format_bps(line.retainage_bps).removesuffix("%"),
                }
                for line in commitment.lines
            ],
        )
    if schedule is not None:
        while len(schedule.lines) < max(len(commitment.lines) + 3, 5):
            schedule.lines.append_entry()
    retainage = forms.get("retainage") or RetainageForm(formdata=None)
    retainage.line_id.choices = [
        (line.id, f"{line.position}. {line.description} ({money.format_bps(line.retainage_bps)})")
        for line in commitment.lines
    ]
    contacts = forms.get("contacts") or ContactsForm(
        formdata=None, contacts=[c.user_id for c in commitment.contacts]
    )
    contacts.contacts.choices = [(user.id, f"{user.name} ({user.email})") for user in members]
    change_order = forms.get("change_order") or ChangeOrderForm(formdata=None)
    _change_line_choices(change_order, commitment)
    return {
        "commitment": commitment,
        "project": commitment.project,
        "relationship": relationship,
        "open_invitation": onboarding.open_invitation(relationship),
        # The invitation's record is on the Payees pages, for those who manage payees.
        "may_manage_invitations": bool(
            g.membership.role_set & {Role.PAYMENTS_ADMIN, Role.BENEFICIARY_APPROVER}
        )
        and features_in(g.company)[Feature.PAY],
        "details": forms.get("details")
        or CommitmentDetailsForm(
            formdata=None,
            number=commitment.number,
            title=commitment.title,
            contract_sum=money.cents_to_decimal_string(commitment.original_sum_cents),
            default_retainage=money.format_bps(commitment.default_retainage_bps).removesuffix("%"),
        ),
        "schedule": schedule,
        "retainage": retainage,
        "executed": forms.get("executed") or ExecutedForm(formdata=None),
        "contacts": contacts,
        "invite": forms.get("invite")
        or InviteForm(formdata=None, email=relationship.contact_email),
        "change_order": change_order,
        "order": None,
        "invoices": queries.invoices_of(commitment.id),
        "all_periods": queries.all_periods(commitment.project_id),
        "billing_types": list(BillingType),
        "history": queries.retainage_history(commitment),
        "confirm": ConfirmForm(),
    }


def _change_line_choices(form: ChangeOrderForm, commitment) -> None:
    while len(form.lines) < 3:
        form.lines.append_entry()
    choices = [("", "A new line")] + [
        (str(line.id), f"{line.position}. {line.description}") for line in commitment.lines
    ]
    for entry in form.lines:
        entry.form.line_id.choices = choices


def _render_commitment(commitment, **forms):
    return render_template("invoicing/commitment.html", **_commitment_page(commitment, **forms))


def _saved(commitment, message: str):
    db.session.commit()
    flash(message, "success")
    return htmx.redirect_to(url_for("invoicing.show_commitment", commitment_id=commitment.id))


@blueprint.get("/commitments/<int:commitment_id>")
@login_required
@project_staff
@invoice_management
def show_commitment(commitment_id: int):
    """One commitment: its payee, sums, schedule of values, contacts and change orders."""
    return _render_commitment(queries.commitment(commitment_id))


@blueprint.post("/commitments/<int:commitment_id>")
@login_required
@project_staff
@invoice_management
def update_commitment(commitment_id: int):
    """Correct a draft commitment's number, title, contract sum or default retainage."""
    commitment = queries.commitment(commitment_id)
    form = CommitmentDetailsForm()
    if form.validate_on_submit():
        try:
            changed = services.update_commitment(
                commitment,
                number=form.number.data,
                title=form.title.data,
                contract_sum=form.contract_sum.data,
                default_retainage=form.default_retainage.data,
                actor_user_id=current_user.id,
            )
        except DomainError as error:
            if refused := _refused_on_commitment(error, form, commitment):
                return refused
        else:
            return _saved(commitment, "Commitment saved." if changed else "Nothing was changed.")
    return _render_commitment(commitment, details=form)


@blueprint.post("/commitments/<int:commitment_id>/schedule")
@login_required
@project_staff
@invoice_management
def save_schedule(commitment_id: int):
    """Save a draft commitment's schedule of values (all lines at once), or add empty rows."""
    commitment = queries.commitment(commitment_id)
    form = ScheduleForm()
    if request.form.get("more") and form.validate_on_submit():
        for _ in range(5):
            form.lines.append_entry()
        return _render_commitment(commitment, schedule=form)
    if form.validate_on_submit():
        rows = [
            services.LineInput(
                entry.form.code.data or "",
                entry.form.description.data or "",
                entry.form.value.data or "",
                entry.form.retainage.data or "",
            )
            for entry in form.lines
        ]
        try:
            lines = services.save_schedule(commitment, rows, actor_user_id=current_user.id)
        except DomainError as error:
            if refused := _refused_on_commitment(error, form, commitment):
                return refused
            commitment = queries.commitment(commitment_id)
        else:
            return _saved(
                commitment,
                f"Schedule of values saved: {len(lines)} line{'s' if len(lines) != 1 else ''}"
                f" totalling {money.format_cents(commitment.original_sum_cents)}.",
            )
    form.form_errors.extend(row_errors(form.lines, "Line"))
    return _render_commitment(commitment, schedule=form)


@blueprint.post("/commitments/<int:commitment_id>/approve")
@login_required
@project_staff
@invoice_management
def approve_commitment(commitment_id: int):
    """Approve a draft commitment: its schedule of values is fixed from now on."""
    commitment = queries.commitment(commitment_id)
    if ConfirmForm().validate_on_submit():
        try:
            services.approve_commitment(commitment, actor_user_id=current_user.id)
        except DomainError as error:
            db.session.rollback()
            flash(error.message, "error")
        else:
            return _saved(
                commitment,
                f"Commitment {commitment.number} approved: its payee can bill against it.",
            )
    return htmx.redirect_to(url_for("invoicing.show_commitment", commitment_id=commitment.id))


@blueprint.post("/commitments/<int:commitment_id>/executed")
@login_required
@project_staff
@invoice_management
def set_executed(commitment_id: int):
    """Record the date both parties signed the contract, or (``withdraw``) take it back."""
    commitment = queries.commitment(commitment_id)
    withdraw = request.form.get("withdraw") == "1"
    form = ExecutedForm()
    if withdraw and ConfirmForm().validate_on_submit():
        services.set_executed(commitment, None, actor_user_id=current_user.id)
        return _saved(commitment, "The commitment is marked not executed.")
    if not withdraw and form.validate_on_submit():
        try:
            services.set_executed(commitment, form.executed_on.data, actor_user_id=current_user.id)
        except DomainError as error:
            if refused := _refused_on_commitment(error, form, commitment):
                return refused
        else:
            return _saved(commitment, "The commitment is marked executed.")
    elif form.executed_on.errors:
        form.executed_on.errors = ["Enter the date it was signed, for example 2026-11-30."]
    return _render_commitment(commitment, executed=form)


@blueprint.post("/commitments/<int:commitment_id>/retainage")
@login_required
@project_staff
@invoice_management
def change_retainage(commitment_id: int):
    """Change one line's retainage % (from the next invoice on)."""
    commitment = queries.commitment(commitment_id)
    form = RetainageForm()
    form.line_id.choices = [(line.id, "") for line in commitment.lines]
    if form.validate_on_submit():
        try:
            line = services.change_retainage(
                commitment, form.line_id.data, form.retainage.data, actor_user_id=current_user.id
            )
        except DomainError as error:
            if refused := _refused_on_commitment(error, form, commitment):
                return refused
        else:
            return _saved(
                commitment,
                f"Line {line.position} now retains {money.format_bps(line.retainage_bps)}.",
            )
    elif form.line_id.errors:
        form.line_id.errors = ["Choose one of this commitment's lines."]
    return _render_commitment(commitment, retainage=form)


@blueprint.post("/commitments/<int:commitment_id>/contacts")
@login_required
@project_staff
@invoice_management
def set_contacts(commitment_id: int):
    """Name the payee users who bill this commitment."""
    commitment = queries.commitment(commitment_id)
    form = ContactsForm()
    form.contacts.choices = [
        (user.id, "") for user in active_members(commitment.payee_company_id or 0)
    ]
    if form.validate_on_submit():
        try:
            services.set_contacts(commitment, form.contacts.data, actor_user_id=current_user.id)
        except DomainError as error:
            if refused := _refused_on_commitment(error, form, commitment):
                return refused
        else:
            return _saved(commitment, "Invoice contacts saved.")
    elif form.contacts.errors:
        form.contacts.errors = ["Choose invoice contacts among the payee's active users."]
    return _render_commitment(commitment, contacts=form)


@blueprint.post("/commitments/<int:commitment_id>/invite")
@login_required
@project_staff
@invoice_management
def invite_payee(commitment_id: int):
    """Invite the commitment's payee to Trestle Pay."""
    commitment = queries.commitment(commitment_id)
    form = InviteForm()
    if form.validate_on_submit():
        try:
            sent = services.invite_payee(commitment, form.email.data, actor_user_id=current_user.id)
        except DomainError as error:
            if refused := _refused_on_commitment(error, form, commitment):
                return refused
        else:
            return _saved(
                commitment,
                f"Invitation sent to {sent.invitation.email}; its link works for 14 days.",
            )
    return _render_commitment(commitment, invite=form)


# --------------------------------------------------------------------------- change orders


def _change_rows(form: ChangeOrderForm) -> list:
    return [
        services.ChangeInput(
            entry.form.line_id.data,
            entry.form.code.data or "",
            entry.form.description.data or "",
            entry.form.amount.data or "",
            entry.form.retainage.data or "",
        )
        for entry in form.lines
    ]


def _posted_change_order(commitment) -> ChangeOrderForm:
    form = ChangeOrderForm()
    choices = [("", "")] + [(str(line.id), "") for line in commitment.lines]
    for entry in form.lines:
        entry.form.line_id.choices = choices
    return form


@blueprint.post("/commitments/<int:commitment_id>/change-orders")
@login_required
@project_staff
@invoice_management
def create_change_order(commitment_id: int):
    """Draft a change order to an approved commitment."""
    commitment = queries.commitment(commitment_id)
    form = _posted_change_order(commitment)
    if form.validate_on_submit():
        try:
            order = services.create_change_order(
                commitment,
                number=form.number.data,
                title=form.title.data,
                rows=_change_rows(form),
                actor_user_id=current_user.id,
            )
        except DomainError as error:
            if refused := _refused_on_commitment(error, form, commitment):
                return refused
            commitment = queries.commitment(commitment_id)
        else:
            db.session.commit()
            flash(f"Change order {order.number} drafted; approve it to apply it.", "success")
            return htmx.redirect_to(
                url_for(
                    "invoicing.show_change_order",
                    commitment_id=commitment.id,
                    change_order_id=order.id,
                )
            )
    form.form_errors.extend(row_errors(form.lines, "Row"))
    return _render_commitment(commitment, change_order=form)


def _change_order_page(commitment, order, form: ChangeOrderForm | None = None):
    if form is None:
        form = ChangeOrderForm(
            formdata=None,
            number=order.number,
            title=order.title,
            lines=[
                {
                    "line_id": change.sov_line_id,
                    "code": change.code,
                    "description": change.description or "",
                    "amount": money.cents_to_decimal_string(change.amount_cents),
                    "retainage": money.format_bps(change.retainage_bps).removesuffix("%")
                    if change.retainage_bps is not None
                    else "",
                }
                for change in order.lines
            ],
        )
        for _ in range(2):
            form.lines.append_entry()
    _change_line_choices(form, commitment)
    return render_template(
        "invoicing/change_order.html",
        commitment=commitment,
        project=commitment.project,
        order=order,
        form=form,
        confirm=ConfirmForm(),
    )


@blueprint.get("/commitments/<int:commitment_id>/change-orders/<int:change_order_id>")
@login_required
@project_staff
@invoice_management
def show_change_order(commitment_id: int, change_order_id: int):
    """One change order: what it changes, and (while a draft) its editor."""
    commitment = queries.commitment(commitment_id)
    return _change_order_page(commitment, queries.change_order(commitment, change_order_id))


@blueprint.post("/commitments/<int:commitment_id>/change-orders/<int:change_order_id>")
@login_required
@project_staff
@invoice_management
def update_change_order(commitment_id: int, change_order_id: int):
    """Rewrite a draft change order."""
    commitment = queries.commitment(commitment_id)
    order = queries.change_order(commitment, change_order_id)
    form = _posted_change_order(commitment)
    if form.validate_on_submit():
        try:
            services.update_change_order(
                order,
                number=form.number.data,
                title=form.title.data,
                rows=_change_rows(form),
                actor_user_id=current_user.id,
            )
        except DomainError as error:
            if refused := _refused(error, form, request.path):
                return refused
            commitment = queries.commitment(commitment_id)
            order = queries.change_order(commitment, change_order_id)
        else:
            db.session.commit()
            flash(f"Change order {order.number} saved.", "success")
            return htmx.redirect_to(request.path)
    form.form_errors.extend(row_errors(form.lines, "Row"))
    return _change_order_page(commitment, order, form)


@blueprint.post("/commitments/<int:commitment_id>/change-orders/<int:change_order_id>/approve")
@login_required
@project_staff
@invoice_management
def approve_change_order(commitment_id: int, change_order_id: int):
    """Approve a change order: it joins the schedule of values and the contract sum."""
    commitment = queries.commitment(commitment_id)
    order = queries.change_order(commitment, change_order_id)
    if ConfirmForm().validate_on_submit():
        try:
            services.approve_change_order(order, actor_user_id=current_user.id)
        except DomainError as error:
            db.session.rollback()
            flash(error.message, "error")
        else:
            db.session.commit()
            flash(
                f"Change order {order.number} approved: the contract sum to date is now "
                f"{money.format_cents(commitment.contract_sum_cents)}.",
                "success",
            )
    return htmx.redirect_to(
        url_for(
            "invoicing.show_change_order",
            commitment_id=commitment_id,
            change_order_id=change_order_id,
        )
    )


# --------------------------------------------------------------------------- billing periods


def _billing_periods_page(project, one=None, monthly=None):
    return {
        "project": project,
        "table": queries.billing_period_table(
            project.id, queries.billing_period_state(request.args)
        ),
        "today": policies.billing_date(),
        "one": one or BillingPeriodForm(formdata=None),
        "monthly": monthly or MonthlyPeriodsForm(formdata=None),
    }


@blueprint.get("/projects/<int:project_id>/billing-periods")
@login_required
@project_staff
@invoice_management
def list_billing_periods(project_id: int):
    """A project's billing periods, and the forms to add them."""
    project = queries.project(project_id)
    return htmx.add_vary(
        htmx.render(
            "invoicing/billing_periods.html",
            "invoicing/_billing_period_results.html",
            **_billing_periods_page(project),
        )
    )


@blueprint.post("/projects/<int:project_id>/billing-periods")
@login_required
@project_staff
@invoice_management
def create_billing_period(project_id: int):
    """Add one billing period by its dates."""
    project = queries.project(project_id)
    form = BillingPeriodForm()
    if form.validate_on_submit():
        try:
            period = services.create_billing_period(
                project,
                starts_on=form.starts_on.data,
                ends_on=form.ends_on.data,
                due_on=form.due_on.data,
                actor_user_id=current_user.id,
            )
        except DomainError as error:
            if refused := _refused(error, form, request.path):
                return refused
        else:
            db.session.commit()
            flash(f"Billing period {period.name} added.", "success")
            return htmx.redirect_to(request.path)
    _date_hints(form)
    return render_template(
        "invoicing/billing_periods.html", **_billing_periods_page(project, one=form)
    )


@blueprint.post("/projects/<int:project_id>/billing-periods/monthly")
@login_required
@project_staff
@invoice_management
def create_monthly_periods(project_id: int):
    """Add a billing period for each of the coming months."""
    project = queries.project(project_id)
    form = MonthlyPeriodsForm()
    page = url_for("invoicing.list_billing_periods", project_id=project.id)
    if form.validate_on_submit():
        try:
            periods = services.create_monthly_periods(
                project,
                first_month=form.first_month.data,
                months=form.months.data,
                due_day=form.due_day.data,
                actor_user_id=current_user.id,
            )
        except DomainError as error:
            if refused := _refused(error, form, page):
                return refused
        else:
            db.session.commit()
            flash(
                f"{len(periods)} monthly billing period{'s' if len(periods) != 1 else ''} "
                f"added, {periods[0].name} to {periods[-1].name}.",
                "success",
            )
            return htmx.redirect_to(page)
    elif form.first_month.errors:
        form.first_month.errors = ["Enter the first month, for example 2027-01."]
    return render_template(
        "invoicing/billing_periods.html", **_billing_periods_page(project, monthly=form)
    )


def _date_hints(form) -> None:
    for field in (form.starts_on, form.ends_on, form.due_on):
        if field.errors and field.data is None and field.raw_data and field.raw_data[0]:
            field.errors = ["Enter a date, for example 2026-11-30."]


@blueprint.post("/projects/<int:project_id>/billing-periods/<int:period_id>/invite")
@login_required
@project_staff
@invoice_management
def invite_to_bill(project_id: int, period_id: int):
    """Email the project's invoice contacts that the period is open for their invoices."""
    project = queries.project(project_id)
    period = queries.billing_period(project, period_id)
    if ConfirmForm().validate_on_submit():
        try:
            count = services.invite_to_bill(period, actor_user_id=current_user.id)
        except DomainError as error:
            db.session.rollback()
            flash(error.message, "error")
        else:
            db.session.commit()
            flash(
                f"{count} invoice contact{'s' if count != 1 else ''} invited to bill "
                f"{period.name}.",
                "success",
            )
    return htmx.redirect_to(url_for("invoicing.list_billing_periods", project_id=project.id))


# --------------------------------------------------------------------------- payee side


@blueprint.get("/billing")
@payee_member
def list_billing():
    """The payee's commitments with every payor that approved it, and what each can bill."""
    today = policies.billing_date()
    return render_template(
        "invoicing/billing.html",
        rows=queries.payee_commitments(g.company.id, current_user.id, today),
        today=today,
    )


# --------------------------------------------------------------------------- invoices


def _invoice_access(invoice_id: int):
    """The invoice and what the signed-in member may do with it: 404 when it is not their
    company's, 403 when it is and they hold no part in it (as a role guard answers)."""
    invoice = queries.invoice(invoice_id)
    contacts = {contact.user_id for contact in invoice.commitment.contacts}
    access = policies.invoice_access(g.membership, current_user.id, invoice, contacts)
    if not access.read:
        abort(403)
    if access.payor_side and not features_in(g.company)[Feature.INVOICE_MANAGEMENT]:
        abort(404)
    return invoice, access


def _invoice_page(
    invoice,
    access,
    *,
    status: int = 200,
    errors: list[str] | None = None,
    decision_errors=None,
    typed=None,
):
    sheet = services.sheet_of(invoice)
    latest = services.is_latest(invoice)
    archived = invoice.commitment.project.archived_at is not None
    names = queries.user_names(
        {event.by_user_id for event in invoice.events}
        | {invoice.approved_by_user_id, invoice.created_by_user_id}
    )
    return render_template(
        "invoicing/invoice.html",
        invoice=invoice,
        commitment=invoice.commitment,
        project=invoice.commitment.project,
        period=invoice.billing_period,
        period_status=invoice.billing_period.status_on(policies.billing_date()),
        sheet=sheet,
        access=access,
        editable=access.bill and invoice.editable and latest and not archived,
        reviewable=access.review and invoice.status is InvoiceStatus.UNDER_REVIEW,
        latest=latest,
        names=names,
        errors=errors or [],
        decision_errors=decision_errors or [],
        typed=typed or {},
        confirm=ConfirmForm(),
        # The payor's lien waivers, whoever reads the invoice (a payee has no features).
        waivers_on=feature_enabled(invoice.company_id, Feature.LIEN_WAIVERS),
        decisions=[
            InvoiceStatus.APPROVED,
            InvoiceStatus.APPROVED_AS_NOTED,
            InvoiceStatus.REVISE_AND_RESUBMIT,
        ],
    ), status


@blueprint.get("/invoices/<int:invoice_id>")
@login_required
def show_invoice(invoice_id: int):
    """One pay application: its G702 summary, its G703 sheet and its history of rounds."""
    invoice, access = _invoice_access(invoice_id)
    return _invoice_page(invoice, access)


def _typed_bills(invoice) -> tuple[list, dict[str, str]]:
    typed = {}
    bills = []
    for line in invoice.lines:
        work = request.form.get(f"work-{line.sov_line_id}", "")
        stored = request.form.get(f"stored-{line.sov_line_id}", "")
        typed[f"work-{line.sov_line_id}"], typed[f"stored-{line.sov_line_id}"] = work, stored
        bills.append(services.LineBill(line.sov_line_id, work, stored))
    typed["note"] = request.form.get("note", "")
    return bills, typed


@blueprint.post("/invoices/<int:invoice_id>")
@login_required
def save_invoice(invoice_id: int):
    """Save what each line bills (``submit``: and send it for review)."""
    invoice, access = _invoice_access(invoice_id)
    if not access.bill:
        abort(403)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    bills, typed = _typed_bills(invoice)
    submitting = request.form.get("submit") == "1"
    try:
        services.save_invoice(invoice, bills, typed["note"], actor_user_id=current_user.id)
        if submitting:
            services.submit_invoice(invoice, actor_user_id=current_user.id, on_behalf=access.review)
    except DomainError as error:
        db.session.rollback()
        if not isinstance(error, InvalidInput):
            flash(error.message, "error")
            return htmx.redirect_to(request.path)
        invoice = queries.invoice(invoice_id)
        return _invoice_page(invoice, access, errors=[error.message], typed=typed)
    db.session.commit()
    due = money.format_cents(invoice.current_due_cents)
    done = "submitted for review" if submitting else "saved"
    flash(f"Invoice {invoice.number} {done}: {due} due.", "success")
    return htmx.redirect_to(request.path)


@blueprint.post("/invoices/<int:invoice_id>/decision")
@login_required
def decide_invoice(invoice_id: int):
    """Approve, approve as noted, or return the invoice to revise and resubmit."""
    invoice, access = _invoice_access(invoice_id)
    if not access.review:
        abort(403)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        decision = InvoiceStatus(request.form.get("decision", ""))
    except ValueError:
        decision = None
    line_comments = {
        line.item: request.form.get(f"comment-{line.item}", "") for line in invoice.lines
    }
    typed = {
        "comment": request.form.get("comment", ""),
        "decision": request.form.get("decision", ""),
    }
    typed |= {f"comment-{item}": text for item, text in line_comments.items()}
    try:
        if decision is None:
            raise InvalidInput("Choose approve, approve as noted, or revise and resubmit.")
        services.decide_invoice(
            invoice,
            decision,
            comment=typed["comment"],
            line_comments=line_comments,
            actor_user_id=current_user.id,
        )
    except DomainError as error:
        db.session.rollback()
        if not isinstance(error, InvalidInput):
            flash(error.message, "error")
            return htmx.redirect_to(url_for("invoicing.show_invoice", invoice_id=invoice_id))
        invoice = queries.invoice(invoice_id)
        return _invoice_page(invoice, access, decision_errors=[error.message], typed=typed)
    db.session.commit()
    flash(
        f"Invoice {invoice.number} of {invoice.commitment.number}: {decision.label.lower()}.",
        "success",
    )
    return htmx.redirect_to(url_for("invoicing.show_invoice", invoice_id=invoice_id))


@blueprint.get("/invoices/<int:invoice_id>/pdf")
@login_required
def download_invoice_pdf(invoice_id: int):
    """The pay application as a PDF (G702-style summary and G703-style sheet)."""
    invoice, _ = _invoice_access(invoice_id)
    return storage.attachment_response(
        io.BytesIO(services.pdf_of(invoice)),
        content_type="application/pdf",
        filename=f"pay-application-{invoice.commitment.number}-{invoice.number}.pdf",
    )


@blueprint.post("/invoices/<int:invoice_id>/attachments")
@login_required
def attach_to_invoice(invoice_id: int):
    """Attach backup to an invoice the payee may still change."""
    invoice, access = _invoice_access(invoice_id)
    if not access.bill:
        abort(403)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    upload = request.files.get("attachment")
    try:
        if upload is None or not upload.filename:
            raise InvalidInput("Choose a file to attach.", field="attachment")
        attached = services.attach_to_invoice(
            invoice, upload.stream, upload.filename, actor_user_id=current_user.id
        )
    except DomainError as error:
        db.session.rollback()
        if not isinstance(error, InvalidInput):
            flash(error.message, "error")
            return htmx.redirect_to(url_for("invoicing.show_invoice", invoice_id=invoice_id))
        invoice = queries.invoice(invoice_id)
        return _invoice_page(invoice, access, status=200, errors=[error.message])
    db.session.commit()
    flash(f"{attached.file.original_name} attached.", "success")
    return htmx.redirect_to(url_for("invoicing.show_invoice", invoice_id=invoice_id))


@blueprint.get("/invoices/<int:invoice_id>/attachments/<int:attachment_id>")
@login_required
def download_invoice_attachment(invoice_id: int, attachment_id: int):
    """Download a file attached to the invoice."""
    invoice, _ = _invoice_access(invoice_id)
    record = queries.attachment(invoice, attachment_id).file
    return storage.attachment_response(
        storage.open_file(record), content_type=record.content_type, filename=record.original_name
    )


def _start_invoice(commitment, *, on_behalf: bool, back: str):
    try:
        period = queries.billing_period(commitment.project, _form_id("period_id"))
        billing_type = BillingType(request.form.get("billing_type", ""))
    except (NotFound, ValueError):
        flash("Choose a billing period and a billing type.", "error")
        return htmx.redirect_to(back)
    try:
        invoice = services.start_invoice(
            commitment,
            period,
            billing_type=billing_type,
            actor_user_id=current_user.id,
            on_behalf=on_behalf,
        )
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return htmx.redirect_to(back)
    db.session.commit()
    flash(f"Invoice {invoice.number} started for {period.name}: fill in each line.", "success")
    return htmx.redirect_to(url_for("invoicing.show_invoice", invoice_id=invoice.id))


def _form_id(name: str) -> int:
    try:
        return int(request.form.get(name, ""))
    except ValueError:
        raise NotFound("No such choice.") from None


@blueprint.post("/commitments/<int:commitment_id>/invoices")
@login_required
@project_staff
@invoice_management
def start_invoice_on_behalf(commitment_id: int):
    """Start an invoice on the payee's behalf (in any period, even after its due date)."""
    commitment = queries.commitment(commitment_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    return _start_invoice(
        commitment,
        on_behalf=True,
        back=url_for("invoicing.show_commitment", commitment_id=commitment.id),
    )


@blueprint.get("/billing/commitments/<int:commitment_id>")
@payee_member
def show_billed_commitment(commitment_id: int):
    """A commitment as its payee sees it: its schedule of values, its invoices, and a new
    invoice for an open billing period."""
    commitment = queries.commitment(commitment_id)
    if (
        commitment.payee_company_id != g.company.id
        or commitment.status is not CommitmentStatus.APPROVED
    ):
        abort(404)
    today = policies.billing_date()
    return render_template(
        "invoicing/billed_commitment.html",
        commitment=commitment,
        project=commitment.project,
        invoices=queries.invoices_of(commitment.id),
        periods=queries.open_periods(commitment.project_id, today),
        may_bill=policies.may_bill_commitment(g.membership, current_user.id, commitment),
        billing_types=list(BillingType),
        confirm=ConfirmForm(),
    )


@blueprint.post("/billing/commitments/<int:commitment_id>/invoices")
@payee_member
def start_invoice(commitment_id: int):
    """Start the commitment's invoice for an open billing period."""
    commitment = queries.commitment(commitment_id)
    if commitment.payee_company_id != g.company.id:
        abort(404)
    if not policies.may_bill_commitment(g.membership, current_user.id, commitment):
        abort(403)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    return _start_invoice(
        commitment,
        on_behalf=False,
        back=url_for("invoicing.show_billed_commitment", commitment_id=commitment.id),
    )


@blueprint.post("/invoices/decisions")
@login_required
@project_staff
@invoice_management
def decide_invoices():
    """Approve the chosen invoices under review at once (each audited as its own)."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    ids = [int(v) for v in request.form.getlist("invoice_ids") if v.isdigit()][:100]
    back = url_for("readiness.list_invoices", **request.args)  # the list keeps its filters
    if not ids:
        flash("Choose the invoices to approve.", "error")
        return htmx.redirect_to(back)
    try:
        chosen = [queries.invoice(invoice_id) for invoice_id in ids]
        for invoice in chosen:
            if invoice.company_id != g.company.id:
                raise DomainError("Choose your own invoices.")
            services.decide_invoice(
                invoice,
                InvoiceStatus.APPROVED,
                comment="",
                line_comments={},
                actor_user_id=current_user.id,
            )
    except DomainError as error:
        db.session.rollback()
        flash(f"Nothing was approved: {error.message}", "error")
        return htmx.redirect_to(back)
    db.session.commit()
    flash(f"{len(chosen)} invoice{'s' if len(chosen) != 1 else ''} approved.", "success")
    return htmx.redirect_to(back)


# --------------------------------------------------------------------------- CSV import


@blueprint.get("/commitments/import")
@login_required
@project_staff
@invoice_management
def show_import():
    """Import commitments and their schedule lines from a CSV file (the layout, the form,
    the latest imports)."""
    return render_template(
        "invoicing/import.html",
        columns=imports.COLUMNS,
        runs=queries.recent_imports(g.company.id),
        errors=[],
    )


@blueprint.get("/commitments/import/template.csv")
@login_required
@project_staff
@invoice_management
def download_import_template():
    """The import's column layout with an example commitment."""
    return Response(
        imports.template_csv(),
        mimetype="text/csv",
        headers={"Content-Disposition": "attachment; filename=commitments-template.csv"},
    )


@blueprint.post("/commitments/import")
@login_required
@project_staff
@invoice_management
def start_import():
    """Keep the file and start its import as a job."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    upload = request.files.get("file")
    try:
        if upload is None or not upload.filename:
            raise InvalidInput("Choose the CSV file to import.", field="file")
        run = imports.start_import(
            g.company.id, upload.stream, upload.filename, actor_user_id=current_user.id
        )
    except InvalidInput as error:
        db.session.rollback()
        return render_template(
            "invoicing/import.html",
            columns=imports.COLUMNS,
            runs=queries.recent_imports(g.company.id),
            errors=[error.message],
        )
    db.session.commit()
    return htmx.redirect_to(url_for("invoicing.show_import_run", run_id=run.id))


@blueprint.get("/commitments/import/<int:run_id>")
@login_required
@project_staff
@invoice_management
def show_import_run(run_id: int):
    """One import's progress (the fragment polls itself until the import is done), then
    its result: the commitments made, or every bad row by line and column."""
    run = queries.commitment_import(run_id)
    live = None if run.finished else progress.read(imports.progress_name(run.id))
    return htmx.add_vary(
        htmx.render("invoicing/import_run.html", "invoicing/_import_run.html", run=run, live=live)
    )
