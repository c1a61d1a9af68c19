"""Company switcher, the team page, role changes and MFA resets of teammates."""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, render_template, request, session, url_for
from flask_login import current_user

from portal.accounts import services as account_services
from portal.accounts.guards import login_required, requires_role, step_up
from portal.companies import policies, queries, services
from portal.companies.forms import RoleForm, SwitchCompanyForm
from portal.companies.models import Role
from portal.core import htmx
from portal.core.db import db
from portal.core.errors import DomainError

blueprint = Blueprint("companies", __name__)
ADMIN_ROLES = (Role.PAYMENTS_ADMIN, Role.PAYEE_ADMIN)


@blueprint.post("/companies/switch")
@login_required
def switch_company():
    """Work in another of the user's companies."""
    form = SwitchCompanyForm()
    if form.validate_on_submit():
        if not any(m.company_id == form.company_id.data for m in g.memberships):
            abort(404)
        session["company_id"] = form.company_id.data
    return htmx.redirect_to(url_for("accounts.dashboard"))


@blueprint.get("/company/members")
@login_required
def list_members():
    """Everyone in the current company, with their roles."""
    if g.membership is None:
        abort(404)
    return render_template(
        "companies/members.html",
        members=queries.members(g.membership.company_id),
        grantable=sorted(policies.grantable_roles(g.membership), key=lambda r: r.label),
        may_reset_mfa=_may_reset_mfa,
        form=RoleForm(),
    )


def _may_reset_mfa(target) -> bool:
    companies = {m.company_id for m in queries.memberships_of(target.user_id)}
    return policies.may_reset_member_mfa(g.membership, target, companies)


def _member_row(membership, form, status: int = 200):
    return htmx.render(
        "companies/members.html",
        "companies/_member.html",
        status=status,
        member=membership,
        members=queries.members(membership.company_id),
        grantable=sorted(policies.grantable_roles(g.membership), key=lambda r: r.label),
        may_reset_mfa=_may_reset_mfa,
        form=form,
    )


@blueprint.post("/company/members/<int:membership_id>/roles")
@login_required
@requires_role(*ADMIN_ROLES)
@step_up()
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
    return _member_row(membership, form)


@blueprint.post("/company/members/<int:membership_id>/roles/<role>/remove")
@login_required
@requires_role(*ADMIN_ROLES)
@step_up()
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
        form.role.errors = [error.message]
    else:
        db.session.commit()
    return _member_row(membership, form)


@blueprint.post("/company/members/<int:membership_id>/reset-mfa")
@login_required
@requires_role(Role.PAYEE_ADMIN)
@step_up()
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
    return htmx.redirect_to(url_for("companies.list_members"))


@blueprint.get("/company/history")
@login_required
def show_history():
    """The current company's Change History, from the audit log."""
    if g.membership is None:
        abort(404)
    filters = queries.HistoryFilters.from_args(request.args)
    return htmx.render(
        "companies/history.html",
        "companies/_history_rows.html",
        company=g.company,
        rows=queries.change_history(g.company.id, filters),
        filters=filters,
        actions=queries.HISTORY_AREAS,
        base_url=url_for("companies.show_history"),
    )
