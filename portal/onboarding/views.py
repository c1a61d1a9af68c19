"""Payee onboarding pages. The invitation link works signed out: the link is the authority."""

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
from sqlalchemy.exc import IntegrityError

from portal.accounts import guards
from portal.accounts import services as accounts
from portal.accounts.forms import ConfirmForm
from portal.accounts.guards import (
    login_required,
    payee_admin,
    requires_feature,
    requires_role,
    step_up,
)
from portal.companies.models import Feature, Role
from portal.core import htmx
from portal.core.db import db
from portal.core.errors import DomainError
from portal.core.forms import show_error
from portal.onboarding import queries, services
from portal.onboarding.forms import (
    DeclineJoinForm,
    InviteForm,
    JoinPayeeForm,
    MemberPayeeForm,
    NewPayeeForm,
    NoteForm,
    PayAgreementForm,
    ReassignForm,
)
from portal.onboarding.models import OnboardingStatus
from portal.onboarding.policies import may_pay_payee
from portal.onboarding.terms import PAY_AGREEMENT_VERSION, digest, sections
from portal.payees.models import PROFILE_LABELS

blueprint = Blueprint("onboarding", __name__)


def _refused(error: DomainError):
    return render_template("onboarding/invitation.html", problem=error.message), error.status_code


def _invitation_page(token: str, invitation, *, status: int = 200, **forms):
    """The valid link's page: accept (how depends on who opens it) or pass it on."""
    payor = queries.payor_of(invitation)
    context = {
        "invitation": invitation,
        "payor": payor,
        "token": token,
        "form": forms.get("form") or ReassignForm(),
        "has_account": False,
    }
    if current_user.is_authenticated:
        member_form = forms.get("member_form") or MemberPayeeForm()
        payees = services.payees_administered(current_user)
        member_form.payee.choices = [(str(c.id), c.name) for c in payees] + [
            ("new", "A new company")
        ]
        if member_form.payee.data is None:
            member_form.payee.data = str(payees[0].id) if payees else "new"
        context["member_form"] = member_form
    elif accounts.find_user_by_email(invitation.email) is not None:
        context["has_account"] = True
        context["sign_in_url"] = url_for(
            "accounts.login", next=url_for("onboarding.show_invitation", token=token)
        )
    else:
        context["min_password"] = accounts.MIN_PASSWORD_LENGTH
        context["new_form"] = forms.get("new_form") or NewPayeeForm(
            company_name=queries.relationship_of(invitation).directory_name
        )
        context["join_form"] = forms.get("join_form") or JoinPayeeForm(prefix="join")
    return render_template("onboarding/invitation.html", **context), status


def _open(token: str):
    """The invitation behind the link, for whoever opened it (signed in: bound to their
    email)."""
    email = current_user.email if current_user.is_authenticated else None
    return services.find_invitation(token, email=email)


@blueprint.get("/payee-invitations/<token>")
def show_invitation(token: str):
    """A payor's invitation to get paid on Trestle, as its recipient opens it."""
    try:
        invitation = _open(token)
    except DomainError as error:
        return _refused(error)
    return _invitation_page(token, invitation)


@blueprint.post("/payee-invitations/<token>/accept")
def accept_invitation(token: str):
    """Accept: a new person makes their account and company and goes on to set up two-step
    verification; a signed-in payee admin onboards one of their companies or a new one."""
    try:
        invitation = _open(token)
    except DomainError as error:
        return _refused(error)
    if current_user.is_authenticated:
        form = MemberPayeeForm()
        if form.validate_on_submit():
            try:
                payee = services.accept_for_member(
                    token,
                    current_user,
                    payee=_chosen_payee(form.payee.data),
                    company_name=form.company_name.data or "",
                )
            except DomainError as error:
                db.session.rollback()
                show_error(form, error)
            except IntegrityError:
                return _lost_race()
            else:
                db.session.commit()
                session["company_id"] = payee.id
                flash(
                    f"{payee.name} is now a payee of {queries.payor_of(invitation).name}.",
                    "success",
                )
                return htmx.redirect_to(url_for("home.show_dashboard"))
        return _invitation_page(token, invitation, member_form=form)
    form = NewPayeeForm()
    if form.validate_on_submit():
        try:
            membership = services.accept_as_new_payee(
                token,
                company_name=form.company_name.data,
                person_name=form.person_name.data,
                password=form.password.data,
            )
        except DomainError as error:
            db.session.rollback()
            show_error(form, error)
        except IntegrityError:
            return _lost_race()
        else:
            user = membership.user
            guards.begin_pending_auth(
                user, remember=False, next_path=url_for("home.show_dashboard")
            )
            db.session.commit()
            flash(
                "Your account is ready. Set up two-step verification to finish signing in.",
                "success",
            )
            return htmx.redirect_to(url_for("accounts.enroll"))
    return _invitation_page(token, invitation, new_form=form)


def _lost_race():
    """Another request used the link (or took the same account or short name) at the same
    moment: this one changed nothing."""
    db.session.rollback()
    return _refused(
        services.InvitationClosed(
            "This invitation was used at the same moment from another window. Sign in to "
            "continue, or open the link again."
        )
    )


def _chosen_payee(value: str | None):
    if not value or value == "new":
        return None
    if not (value.isascii() and value.isdecimal() and len(value) <= 9):
        abort(404)
    payee = next(
        (c for c in services.payees_administered(current_user) if c.id == int(value)), None
    )
    if payee is None:
        abort(404)
    return payee


@blueprint.post("/payee-invitations/<token>/join")
def join_payee(token: str):
    """Ask to join the company's existing Trestle account; its admin decides."""
    try:
        invitation = _open(token)
    except DomainError as error:
        return _refused(error)
    if current_user.is_authenticated:
        abort(404)  # signed in, the member form accepts for a company they run
    form = JoinPayeeForm(prefix="join")
    if form.validate_on_submit():
        try:
            services.request_to_join(
                token,
                person_name=form.person_name.data,
                password=form.password.data,
                admin_email=form.admin_email.data,
            )
        except DomainError as error:
            db.session.rollback()
            show_error(form, error)
        except IntegrityError:
            return _lost_race()
        else:
            db.session.commit()  # the try is counted, whoever the address belongs to
            return render_template(
                "onboarding/invitation.html",
                join_asked=form.admin_email.data.strip(),
                payor=queries.payor_of(invitation),
            )
    return _invitation_page(token, invitation, join_form=form, status=400)


@blueprint.post("/payee-invitations/<token>/reassign")
def reassign_invitation(token: str):
    """The recipient passes the invitation to a colleague; this link stops working."""
    try:
        invitation = services.find_invitation(token)
    except DomainError as error:
        return _refused(error)
    payor = queries.payor_of(invitation)
    form = ReassignForm()
    if form.validate_on_submit():
        try:
            sent = services.reassign_by_recipient(token, form.email.data)
        except DomainError as error:
            db.session.rollback()
            show_error(form, error)
        else:
            db.session.commit()
            return render_template(
                "onboarding/invitation.html", passed_to=sent.invitation.email, payor=payor
            )
    if htmx.is_fragment_request():
        return render_template(
            "onboarding/_reassign_form.html", invitation=invitation, token=token, form=form
        )
    return _invitation_page(token, invitation, form=form)


# --------------------------------------------------------------------------- the payor's side


def payor_payees(view):
    """Payments Admins and Beneficiary Approvers of a payor with Pay on."""
    return login_required(
        requires_role(Role.PAYMENTS_ADMIN, Role.BENEFICIARY_APPROVER)(
            requires_feature(Feature.PAY)(view)
        )
    )


def _payees_page(invite_form: InviteForm | None = None, status: int = 200):
    company = g.company
    return htmx.add_vary(
        htmx.render(
            "onboarding/payees.html",
            "onboarding/_payee_results.html",
            status=status,
            company=company,
            counts=queries.status_counts(company.id),
            statuses=OnboardingStatus,
            table=queries.payee_table(company.id, queries.payee_list_state(request.args)),
            invite_form=invite_form or InviteForm(),
            confirm=ConfirmForm(),
            max_at_once=services.MAX_INVITES_AT_ONCE,
        )
    )


@blueprint.get("/payees")
@payor_payees
def list_payees():
    """The payor's payees by onboarding status, with their invitations."""
    return _payees_page()


@blueprint.post("/payees/invitations")
@payor_payees
def invite_payees():
    """Invite up to 20 companies at once: all are invited, or none."""
    form = InviteForm()
    if form.validate_on_submit():
        rows = form.invitee_rows()
        if rows or not form.invitees.errors:
            try:
                sent = services.invite_payees(
                    g.company,
                    [services.Invitee(name, email) for name, email in rows],
                    actor_user_id=current_user.id,
                )
            except DomainError as error:
                db.session.rollback()
                show_error(form, error)
            else:
                db.session.commit()
                flash(
                    f"Invited {len(sent)} {'company' if len(sent) == 1 else 'companies'}.",
                    "success",
                )
                return htmx.redirect_to(url_for("onboarding.list_payees"))
    return _payees_page(invite_form=form)


def _change_invitation(invitation_id: int, change) -> Response:
    """Apply ``change`` to one of the payor's invitations; say what happened."""
    invitation = queries.invitation_of(g.company.id, invitation_id)
    try:
        message = change(invitation)
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
    else:
        db.session.commit()
        flash(message, "success")
    # Back where the button was: the list with its tab, search and page, or the record.
    back = guards.return_path()
    return htmx.redirect_to(
        back if back.startswith("/payees") else url_for("onboarding.list_payees")
    )


@blueprint.post("/payees/invitations/<int:invitation_id>/resend")
@payor_payees
def resend_invitation(invitation_id: int):
    """Send the invitation again with a new link, open for another 14 days."""

    def change(invitation):
        services.resend(invitation, actor_user_id=current_user.id)
        return f"Invitation sent again to {invitation.email}, open for 14 more days."

    return _change_invitation(invitation_id, change)


@blueprint.post("/payees/invitations/<int:invitation_id>/remind")
@payor_payees
def remind_invitation(invitation_id: int):
    """Remind the invitee (a new link; the invitation keeps its date)."""

    def change(invitation):
        services.resend(invitation, actor_user_id=current_user.id, remind=True)
        return f"Reminder sent to {invitation.email}."

    return _change_invitation(invitation_id, change)


@blueprint.post("/payees/invitations/<int:invitation_id>/revoke")
@payor_payees
def revoke_invitation(invitation_id: int):
    """Withdraw the invitation: its link stops working at once."""

    def change(invitation):
        services.revoke(invitation, actor_user_id=current_user.id)
        return f"Invitation to {invitation.email} withdrawn; its link no longer works."

    return _change_invitation(invitation_id, change)


@blueprint.get("/payees/invitations/<int:invitation_id>")
@payor_payees
def show_invitation_record(invitation_id: int):
    """One invitation: to whom, when, how often sent, and sending it to someone else."""
    return _invitation_record(queries.invitation_of(g.company.id, invitation_id))


def _invitation_record(invitation, form: ReassignForm | None = None, status: int = 200):
    return render_template(
        "onboarding/invitation_record.html",
        invitation=invitation,
        relationship=queries.relationship_of(invitation),
        form=form or ReassignForm(),
        confirm=ConfirmForm(),
    ), status


@blueprint.post("/payees/invitations/<int:invitation_id>/reassign")
@payor_payees
def reassign_invitation_record(invitation_id: int):
    """Send the invitation to another address instead: this one is revoked."""
    invitation = queries.invitation_of(g.company.id, invitation_id)
    form = ReassignForm()
    if form.validate_on_submit():
        try:
            sent = services.reassign(invitation, form.email.data, actor_user_id=current_user.id)
        except DomainError as error:
            db.session.rollback()
            show_error(form, error)
        else:
            db.session.commit()
            flash(f"Invitation sent to {sent.invitation.email} instead.", "success")
            return htmx.redirect_to(
                url_for("onboarding.show_invitation_record", invitation_id=sent.invitation.id)
            )
    return _invitation_record(invitation, form)


# --------------------------------------------------------------------------- review and approval


def _payee_page(relationship, note_form: NoteForm | None = None, status: int = 200):
    view = queries.manage_view(relationship)
    return render_template(
        "onboarding/payee.html",
        view=view,
        relationship=relationship,
        decision=may_pay_payee(relationship.payor_id, relationship.payee_id)
        if relationship.payee_id
        else None,
        may_approve=Role.BENEFICIARY_APPROVER in g.membership.role_set,
        note_form=note_form or NoteForm(formdata=None),
        agreement=queries.agreement_of(relationship),
        labels=PROFILE_LABELS,
    ), status


@blueprint.get("/payees/<int:relationship_id>")
@payor_payees
def show_payee(relationship_id: int):
    """One payee side by side: your record, its profile, its bank account; and approval."""
    return _payee_page(queries.relationship_for_payor(g.company.id, relationship_id))


@blueprint.post("/payees/<int:relationship_id>/approve")
@login_required
@requires_role(Role.BENEFICIARY_APPROVER)
@requires_feature(Feature.PAY)
@step_up(action="Approve a payee's bank account and tax identity")
def approve_payee(relationship_id: int):
    """Approve the payee as it is now: its receiving bank account and its tax identity."""
    relationship = queries.relationship_for_payor(g.company.id, relationship_id)
    try:
        services.approve(relationship, actor_user_id=current_user.id)
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
    else:
        db.session.commit()
        flash(f"{relationship.directory_name} approved.", "success")
    return htmx.redirect_to(url_for("onboarding.show_payee", relationship_id=relationship_id))


@blueprint.post("/payees/<int:relationship_id>/note")
@login_required
@requires_role(Role.BENEFICIARY_APPROVER)
@requires_feature(Feature.PAY)
def note_payee(relationship_id: int):
    """Tell the payee what to fix; it stays in needs review (there is no reject)."""
    relationship = queries.relationship_for_payor(g.company.id, relationship_id)
    form = NoteForm()
    if form.validate_on_submit():
        try:
            services.note_for_payee(relationship, form.note.data, actor_user_id=current_user.id)
        except DomainError as error:
            db.session.rollback()
            show_error(form, error)
        else:
            db.session.commit()
            flash("Note sent to the payee's admins.", "success")
            return htmx.redirect_to(
                url_for("onboarding.show_payee", relationship_id=relationship_id)
            )
    return _payee_page(relationship, form, 400)


# --------------------------------------------------------------------------- Pay agreement


def _agreement_page(relationship, *, side: str, form: PayAgreementForm | None = None, status=200):
    agreement = queries.agreement_of(relationship)
    text = agreement.text if agreement else services.pay_agreement_terms(relationship)
    title, body = sections(text)
    if agreement is None and side == "payee" and form is None:
        form = PayAgreementForm(
            formdata=None,
            version=PAY_AGREEMENT_VERSION,
            digest=digest(text),
            name=current_user.name,
        )
    return render_template(
        "onboarding/agreement.html",
        relationship=relationship,
        payor=queries.payor_name(relationship),
        agreement=agreement,
        title=title,
        sections=body,
        side=side,
        form=form,
    ), status


@blueprint.get("/payee/agreements/<int:relationship_id>")
@payee_admin
def show_agreement(relationship_id: int):
    """The Pay agreement with one general contractor: to read and accept, or as accepted."""
    relationship = queries.relationship_for_payee(g.company.id, relationship_id)
    return _agreement_page(relationship, side="payee")


@blueprint.post("/payee/agreements/<int:relationship_id>")
@payee_admin
def accept_agreement(relationship_id: int):
    """Accept the Pay agreement as shown; it is read-only from then on."""
    relationship = queries.relationship_for_payee(g.company.id, relationship_id)
    form = PayAgreementForm()
    if form.validate_on_submit():
        try:
            services.accept_pay_agreement(
                relationship,
                actor_user_id=current_user.id,
                version=form.version.data or "",
                shown_digest=form.digest.data or "",
                signer_name=form.name.data,
                signer_title=form.title.data,
            )
        except DomainError as error:
            db.session.rollback()
            show_error(form, error)
        except IntegrityError:
            db.session.rollback()
            flash("Someone at your company accepted this agreement meanwhile.", "error")
            return htmx.redirect_to(
                url_for("onboarding.show_agreement", relationship_id=relationship_id)
            )
        else:
            db.session.commit()
            flash(f"Pay agreement with {queries.payor_name(relationship)} accepted.", "success")
            return htmx.redirect_to(url_for("home.show_dashboard"))
    return _agreement_page(relationship, side="payee", form=form, status=400)


@blueprint.get("/payees/<int:relationship_id>/agreement")
@payor_payees
def show_payee_agreement(relationship_id: int):
    """The Pay agreement as the payee accepted it (or the terms it will be asked to accept)."""
    relationship = queries.relationship_for_payor(g.company.id, relationship_id)
    if relationship.payee_id is None:
        abort(404)
    return _agreement_page(relationship, side="payor")


# --------------------------------------------------------------------------- joining a payee


@blueprint.get("/payee/join-requests")
@payee_admin
def list_join_requests():
    """People invited by a payor who ask to join this company on Trestle."""
    return htmx.add_vary(
        htmx.render(
            "onboarding/join_requests.html",
            "onboarding/_join_request_results.html",
            table=queries.join_request_table(
                g.company.id, queries.join_request_list_state(request.args)
            ),
        )
    )


@blueprint.post("/payee/join-requests/<int:request_id>/approve")
@payee_admin
def approve_join_request(request_id: int):
    """Let them in, as a member without roles; grant roles on the Team page."""
    join_request = queries.join_request_of(g.company.id, request_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            membership = services.approve_join(join_request, actor_user_id=current_user.id)
        except DomainError as error:
            db.session.rollback()
            flash(error.message, "error")
        else:
            db.session.commit()
            flash(
                f"{membership.user.name} joined {g.company.name}. Give them roles on the Team "
                "page if they need any.",
                "success",
            )
    return htmx.redirect_to(url_for("onboarding.list_join_requests"))


@blueprint.post("/payee/join-requests/<int:request_id>/accept-invitation")
@payee_admin
def accept_joined_invitation(request_id: int):
    """Accept, for this company, the payor's invitation that brought someone you let in."""
    join_request = queries.join_request_of(g.company.id, request_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            services.accept_joined_invitation(join_request, current_user)
        except DomainError as error:
            db.session.rollback()
            flash(error.message, "error")
        except IntegrityError:
            db.session.rollback()
            flash("Your company was connected to that general contractor meanwhile.", "error")
        else:
            db.session.commit()
            flash(
                "Invitation accepted: your company's steps for it are on your home page.", "success"
            )
    return htmx.redirect_to(url_for("onboarding.list_join_requests"))


@blueprint.post("/payee/join-requests/<int:request_id>/decline")
@payee_admin
def decline_join_request(request_id: int):
    """Refuse, with a reason the requester is emailed."""
    join_request = queries.join_request_of(g.company.id, request_id)
    form = DeclineJoinForm()
    if form.validate_on_submit():
        try:
            services.decline_join(join_request, form.reason.data, actor_user_id=current_user.id)
        except DomainError as error:
            db.session.rollback()
            flash(error.message, "error")
        else:
            db.session.commit()
            flash("Request declined; they were told why.", "success")
    else:
        flash(form.reason.errors[0] if form.reason.errors else "Say why.", "error")
    return htmx.redirect_to(url_for("onboarding.list_join_requests"))
