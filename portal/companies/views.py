"""Company switcher, the team page, role changes, MFA resets of teammates, invitations to
join, and the payor's own profile."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    g,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user

from portal.accounts import services as account_services
from portal.accounts.forms import ConfirmForm
from portal.accounts.guards import login_required, requires_role, step_up
from portal.companies import history, policies, queries, services
from portal.companies.forms import RoleForm, SwitchCompanyForm
from portal.companies.models import CompanyKind, Role
from portal.core import htmx, storage
from portal.core.db import db, utcnow
from portal.core.errors import DomainError

# Designation forms belong to the operator console; a payor's admins read their own here,
# beside the rest of their company's pages.
from portal.operations import queries as operations_queries
from portal.operations import services as operations_services

blueprint = Blueprint("companies", __name__)
ADMIN_ROLES = (Role.PAYMENTS_ADMIN, Role.PAYEE_ADMIN)


@blueprint.post("/companies/switch")
@login_required
def switch_company():
    """Work in another of the user's companies."""
    form = SwitchCompanyForm()
    if form.validate_on_submit():
        chosen = next((m for m in g.memberships if m.company_id == form.company_id.data), None)
        if chosen is None:
            abort(404)
        session["company_id"] = chosen.company_id
        flash(f"You are now working in {chosen.company.name}.", "success")
    return htmx.redirect_to(url_for("home.show_dashboard"))


@blueprint.get("/company/members")
@login_required
def list_members():
    """Everyone in the current company, with their roles: one page of the data table."""
    if g.membership is None:
        abort(404)
    return htmx.add_vary(
        htmx.render(
            "companies/members.html",
            "companies/_member_results.html",
            table=queries.member_table(
                g.membership.company_id, queries.member_list_state(request.args)
            ),
            # A payee's admins decide who joins: their requests are a page of their own.
            shows_join_requests=g.company.kind is CompanyKind.PAYEE
            and Role.PAYEE_ADMIN in g.membership.role_set,
        )
    )


@blueprint.get("/company/members/<int:membership_id>")
@login_required
def show_member(membership_id: int):
    """One member: their roles and two-step verification, and what an admin may change."""
    if g.membership is None:
        abort(404)
    return _member_page(queries.get_membership(membership_id), RoleForm())


def _may_reset_mfa(target) -> bool:
    elsewhere = target.user_id in queries.belong_elsewhere(target.company_id, [target.user_id])
    return policies.may_reset_member_mfa(g.membership, target, elsewhere=elsewhere)


def _member_page(membership, form, status: int = 200):
    return htmx.render(
        "companies/member.html",
        "companies/_member.html",
        status=status,
        member=membership,
        grantable=sorted(policies.grantable_roles(g.membership), key=lambda r: r.label),
        may_reset_mfa=membership.user.mfa_enrolled and _may_reset_mfa(membership),
        form=form,
    )


@blueprint.post("/company/members/<int:membership_id>/roles")
@login_required
@requires_role(*ADMIN_ROLES)
@step_up(action="Give a member a role")
def grant_role(membership_id: int):
    """Give a member a role."""
    membership = queries.get_membership(membership_id)
    form = RoleForm()
    if form.validate_on_submit():
        role = Role(form.role.data)
        if not policies.may_change_role(g.membership, membership, role):
            abort(403)
        try:
            services.grant_role(membership, role, actor_user_id=current_user.id)
        except DomainError as error:
            form.role.errors = [error.message]
        else:
            db.session.commit()
            flash(f"{membership.user.name} is now {role.label}.", "success")
    return _member_page(membership, form)


@blueprint.post("/company/members/<int:membership_id>/roles/<role>/remove")
@login_required
@requires_role(*ADMIN_ROLES)
@step_up(action="Remove a member's role")
def remove_role(membership_id: int, role: str):
    """Take a role away from a member."""
    membership = queries.get_membership(membership_id)
    try:
        parsed = Role(role)
    except ValueError:
        abort(404)
    if not policies.may_change_role(g.membership, membership, parsed):
        abort(403)
    form = RoleForm()
    try:
        services.revoke_role(membership, parsed, actor_user_id=current_user.id)
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
    else:
        db.session.commit()
        flash(f"{membership.user.name} is no longer {parsed.label}.", "success")
    return _member_page(membership, form)


@blueprint.post("/company/members/<int:membership_id>/reset-mfa")
@login_required
@requires_role(Role.PAYEE_ADMIN)
@step_up(action="Reset a teammate's two-step verification")
def reset_member_mfa(membership_id: int):
    """Remove a teammate's authenticator so they can enroll a new one (payee admins)."""
    membership = queries.get_membership(membership_id)
    if not _may_reset_mfa(membership):
        abort(403)
    account_services.reset_mfa(
        membership.user, actor_user_id=current_user.id, company_id=membership.company_id
    )
    db.session.commit()
    flash(
        f"{membership.user.name} will set up two-step verification at their next sign-in.",
        "success",
    )
    return htmx.redirect_to(url_for("companies.show_member", membership_id=membership.id))


@blueprint.get("/company/history")
@login_required
@requires_role(*policies.HISTORY_ROLES)
def show_history():
    """The current company's Change History, newest first, filtered by the URL."""
    state, filters = history.table_state(request.args)
    return htmx.render(
        "companies/history.html",
        "companies/_history_rows.html",
        company=g.company,
        table=history.change_history(g.company.id, state, filters),
        areas=history.HISTORY_AREAS,
        people=history.people_in_history(g.company.id),
        base_url=url_for("companies.show_history"),
        csv_url=url_for("companies.download_history", **filters.as_args()),
    )


@blueprint.get("/company/history.csv")
@login_required
@requires_role(*policies.HISTORY_ROLES)
def download_history():
    """Every Change History row the URL's filters match, as a CSV file."""
    _, filters = history.table_state(request.args)
    filename = history.csv_filename(g.company.slug, utcnow().date())
    return Response(
        history.history_csv(g.company.id, filters),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# --------------------------------------------------------------------------- profile


@blueprint.get("/company/profile")
@login_required
@requires_role(Role.PAYMENTS_ADMIN)
def show_profile():
    """The payor's profile as operations keeps it, and its signed designation forms."""
    return render_template(
        "companies/profile.html",
        company=g.company,
        designations=operations_queries.designation_forms(g.company.id),
    )


@blueprint.get("/company/designations/<int:doc_id>/download")
@login_required
@requires_role(Role.PAYMENTS_ADMIN)
def download_designation(doc_id: int):
    """Download one of the payor's signed designation forms (audited)."""
    download = operations_services.open_designation_form(
        g.company,
        operations_queries.designation_form(g.company.id, doc_id),
        actor_user_id=current_user.id,
    )
    db.session.commit()
    return storage.attachment_response(
        download.stream, content_type="application/pdf", filename=download.filename
    )


# --------------------------------------------------------------------------- invitations


def _invitation_refused(error: DomainError):
    return render_template("companies/invitation.html", problem=error.message), error.status_code


@blueprint.get("/invitations/<token>")
@login_required
def show_invitation(token: str):
    """An invitation to join a company, for the signed-in invitee to accept."""
    try:
        invitation = services.find_invitation(token, current_user)
    except DomainError as error:
        return _invitation_refused(error)
    return render_template(
        "companies/invitation.html", invitation=invitation, token=token, form=ConfirmForm()
    )


@blueprint.post("/invitations/<token>")
@login_required
def accept_invitation(token: str):
    """Accept an invitation: join the company and start working in it."""
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        membership = services.accept_invitation(token, current_user)
    except DomainError as error:
        db.session.rollback()
        return _invitation_refused(error)
    db.session.commit()
    session["company_id"] = membership.company_id
    flash(f"You are now a member of {membership.company.name}.", "success")
    return htmx.redirect_to(url_for("home.show_dashboard"))
