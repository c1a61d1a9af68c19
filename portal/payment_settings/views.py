"""Payment settings pages for Payments Admins (shown only while Pay is on)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, render_template, request, url_for
from flask_login import current_user

from portal.accounts.forms import ConfirmForm
from portal.accounts.guards import login_required, requires_feature, requires_role, step_up
from portal.companies.models import Feature, Role
from portal.core import htmx
from portal.core.db import db
from portal.core.errors import DomainError
from portal.core.forms import show_error
from portal.payment_settings import queries, services
from portal.payment_settings.forms import ControlsForm, EntityForm, FundingAccountForm, PersonForm
from portal.payment_settings.models import (
    AccountType,
    FundingAccountMode,
    FundingAccountStatus,
    PersonRole,
)

blueprint = Blueprint("payment_settings", __name__, url_prefix="/settings/payments")


def admin_only(view):
    return login_required(requires_role(Role.PAYMENTS_ADMIN)(requires_feature(Feature.PAY)(view)))


def person_form_for(entity_id: int, **kwargs) -> PersonForm:
    """The owner-or-controller form of one entity: its fields are named after the entity."""
    return PersonForm(prefix=f"entity-{entity_id}", **kwargs)


def _entities_page(entity_form: EntityForm | None = None):
    company = g.company
    return {
        "company": company,
        "table": queries.entity_table(company.id, queries.entity_list_state(request.args)),
        "entity_status": services.entity_status,
        "entity_form": entity_form or EntityForm(),
    }


def _entity_page(entity, *, person_form=None, account_form=None):
    if account_form is None:
        account_form = FundingAccountForm(formdata=None, entity_id=entity.id)
    active_accounts, all_accounts = queries.entity_account_counts(entity.id)
    return {
        "company": g.company,
        "entity": entity,
        "gaps": services.entity_gaps(entity),
        "status": services.entity_status(entity),
        "person_form": person_form or person_form_for(entity.id, formdata=None),
        "account_form": account_form,
        "active_accounts": active_accounts,
        "all_accounts": all_accounts,
        "confirm": ConfirmForm(),
    }


def _accounts_page():
    company = g.company
    return {
        "company": company,
        "table": queries.funding_account_table(
            company.id, queries.funding_account_list_state(request.args)
        ),
        "statuses": FundingAccountStatus,
        "confirm": ConfirmForm(),
    }


def _controls_page(controls_form: ControlsForm | None = None):
    company = g.company
    controls = services.controls_of(company)
    return {
        "company": company,
        "controls_form": controls_form or ControlsForm(obj=controls, formdata=None),
    }


@blueprint.get("")
@admin_only
def show():
    """The payor's business entities (one page of the table) and a form to add one."""
    return htmx.add_vary(
        htmx.render(
            "payment_settings/show.html",
            "payment_settings/_entity_results.html",
            **_entities_page(),
        )
    )


@blueprint.get("/entities/<int:entity_id>")
@admin_only
def show_entity(entity_id: int):
    """One business entity: its details, owners and controllers, and its funding accounts."""
    entity = queries.entity(entity_id)
    return render_template("payment_settings/entity.html", **_entity_page(entity))


@blueprint.get("/funding-accounts")
@admin_only
def list_funding_accounts():
    """The payor's funding accounts: one page of the table, each with its actions."""
    return htmx.add_vary(
        htmx.render(
            "payment_settings/funding_accounts.html",
            "payment_settings/_account_results.html",
            **_accounts_page(),
        )
    )


@blueprint.get("/controls")
@admin_only
def show_controls():
    """The payment controls and the payee invitation message."""
    return render_template("payment_settings/controls.html", **_controls_page())


@blueprint.post("/entities")
@admin_only
@step_up(action="Save a business entity (with its EIN)")
def add_entity():
    """Add a business entity."""
    form = EntityForm()
    if form.validate_on_submit():
        try:
            entity = services.save_entity(
                g.company, _entity_input(form), actor_user_id=current_user.id
            )
        except DomainError as error:
            show_error(form, error)
        else:
            db.session.commit()
            flash("Business entity saved. Add its owners and controllers next.", "success")
            return htmx.redirect_to(url_for("payment_settings.show_entity", entity_id=entity.id))
    return render_template("payment_settings/show.html", **_entities_page(entity_form=form))


@blueprint.post("/entities/<int:entity_id>/people")
@admin_only
@step_up(action="Add an owner or controller")
def add_person(entity_id: int):
    """Add a beneficial owner or controller to an entity."""
    entity = queries.entity(entity_id)
    form = person_form_for(entity.id)
    if form.validate_on_submit():
        try:
            services.add_person(
                entity,
                role=PersonRole(form.role.data),
                full_name=form.full_name.data,
                title=form.title.data,
                ownership_percent=form.ownership_percent.data,
                date_of_birth=form.date_of_birth.data,
                ssn=form.ssn.data,
                actor_user_id=current_user.id,
            )
        except DomainError as error:
            show_error(form, error)
        else:
            db.session.commit()
            flash(f"{form.full_name.data} added to {entity.legal_name.rstrip('.')}.", "success")
            return htmx.redirect_to(url_for("payment_settings.show_entity", entity_id=entity.id))
    return render_template("payment_settings/entity.html", **_entity_page(entity, person_form=form))


@blueprint.post("/entities/<int:entity_id>/people/<int:person_id>/remove")
@admin_only
@step_up(action="Remove an owner or controller")
def remove_person(entity_id: int, person_id: int):
    """Remove an owner or controller."""
    person = queries.person(entity_id, person_id)
    removed = f"{person.full_name} removed from {person.entity.legal_name.rstrip('.')}."
    services.remove_person(person, actor_user_id=current_user.id)
    db.session.commit()
    flash(removed, "success")
    return htmx.redirect_to(url_for("payment_settings.show_entity", entity_id=entity_id))


@blueprint.post("/funding-accounts")
@admin_only
@step_up(action="Add a funding account")
def add_funding_account():
    """Add a funding account to one of the payor's entities (numbers entered twice; never
    edited afterwards). The form is on the entity's page."""
    form = FundingAccountForm()
    entity = _posted_entity(form)
    form.entity_id.choices = [(entity.id, entity.legal_name)]
    if form.validate_on_submit():
        try:
            services.add_funding_account(
                g.company,
                services.FundingAccountInput(
                    entity_id=entity.id,
                    nickname=form.nickname.data,
                    routing_number=form.routing_number.data,
                    account_number=form.account_number.data,
                    account_number_confirm=form.account_number_confirm.data,
                    account_type=AccountType(form.account_type.data),
                    bank_id=form.bank_id.data,
                    next_check_number=form.next_check_number.data,
                    make_default=form.make_default.data,
                ),
                actor_user_id=current_user.id,
            )
        except DomainError as error:
            show_error(form, error)
        else:
            db.session.commit()
            flash(f"Funding account {form.nickname.data.strip()} added.", "success")
            return htmx.redirect_to(url_for("payment_settings.list_funding_accounts"))
    return render_template(
        "payment_settings/entity.html", **_entity_page(entity, account_form=form)
    )


def _posted_entity(form: FundingAccountForm):
    """The entity a funding account form names: one of the payor's own, or 404."""
    raw = form.entity_id.raw_data[0] if form.entity_id.raw_data else ""
    if not (raw.isascii() and raw.isdecimal() and len(raw) <= 9):
        abort(404)
    return queries.entity(int(raw))


@blueprint.post("/funding-accounts/<int:account_id>/<action>")
@admin_only
@step_up(action="Make default or deactivate a funding account")
def change_funding_account(account_id: int, action: str):
    """Make an account the default, or deactivate it."""
    account = queries.funding_account(account_id)
    try:
        if action == "default":
            services.make_default(account, actor_user_id=current_user.id)
        elif action == "deactivate":
            services.deactivate(account, actor_user_id=current_user.id)
        else:
            abort(404)
    except DomainError as error:
        flash(error.message, "error")
    else:
        db.session.commit()
        flash(
            f"{account.nickname} is now the default funding account."
            if action == "default"
            else f"{account.nickname} is deactivated: it can no longer fund payments.",
            "success",
        )
    return htmx.redirect_to(url_for("payment_settings.list_funding_accounts"))


@blueprint.post("/controls")
@admin_only
@step_up(action="Save the payment controls")
def update_controls():
    """Save project controls, disbursement switch and the payee invitation message."""
    form = ControlsForm()
    if form.validate_on_submit():
        try:
            services.update_controls(
                g.company,
                disbursements_enabled=form.disbursements_enabled.data,
                pay_on_new_projects=form.pay_on_new_projects.data,
                funding_account_mode=FundingAccountMode(form.funding_account_mode.data),
                invitation_message=form.invitation_message.data,
                cooling_off_days=form.cooling_off_days.data,
                actor_user_id=current_user.id,
            )
        except DomainError as error:
            db.session.rollback()
            show_error(form, error)
        else:
            db.session.commit()
            flash("Payment controls saved.", "success")
            return htmx.redirect_to(url_for("payment_settings.show_controls"))
    return render_template("payment_settings/controls.html", **_controls_page(controls_form=form))


@blueprint.post("/invitation-preview")
@admin_only
def preview_invitation():
    """Show the payee invitation email as it would read with the message being typed."""
    form = ControlsForm()
    return render_template(
        "payment_settings/_invitation_preview.html",
        company=g.company,
        message=(form.invitation_message.data or "").strip(),
    )


def _entity_input(form: EntityForm) -> services.EntityInput:
    return services.EntityInput(
        legal_name=form.legal_name.data,
        dba=form.dba.data,
        address_line1=form.address_line1.data,
        address_line2=form.address_line2.data,
        city=form.city.data,
        region=form.region.data,
        postal_code=form.postal_code.data,
        incorporation_state=form.incorporation_state.data,
        ein=form.ein.data,
    )
