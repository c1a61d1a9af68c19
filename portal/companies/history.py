"""Change History: a company's audit events told in business terms, filtered by area,
person and date, one page at a time or as a CSV of every matching row."""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa

from portal.accounts.models import User
from portal.companies.models import Feature, Membership, Role
from portal.core.db import db
from portal.core.models import AuditEvent
from portal.core.tables import Column, TablePage, TableState, paginate
from portal.core.text import safe_cell
from portal.invoicing.models import Project
from portal.operations.models import TrainingTopic
from portal.payment_settings.models import FundingAccount

PROJECT_FIELDS = {
    "name": "name",
    "number": "number",
    "address_line1": "address",
    "city": "city",
    "region": "state",
    "postal_code": "ZIP code",
    "owner_name": "owner",
}

HISTORY_AREAS = {
    "payment_settings": "Payment settings",
    "entities": "Business entities",
    "funding_accounts": "Funding accounts",
    "projects": "Projects",
    "commitments": "Commitments and billing",
    "readiness": "Payment requirements and holds",
    "compliance": "Compliance documents",
    "waivers": "Lien waivers",
    "roles": "People and roles",
    "bank_accounts": "Bank accounts",
    "payees": "Payees",
    "profile": "Company profile",
    "agreements": "Pay agreements",
    "features": "Features",
    "implementation": "Implementation",
    "security": "Sign-in and security",
    "system": "Trestle system checks",
}


COLUMNS = (
    Column("when", "Date (UTC)", sortable=True),
    Column("area", "Area"),
    Column("actor", "Changed by"),
    Column("what", "What changed"),
    Column("before", "From"),
    Column("after", "To"),
)
FILTERS = ("area", "person", "since", "until")
SYSTEM_ACTOR = "Trestle (system)"
CSV_BATCH = 500


# --------------------------------------------------------------------------- names


@dataclass(frozen=True)
class Names:
    """Names for the ids a batch of events mentions, looked up once per batch."""

    users: Mapping[int, str]
    memberships: Mapping[int, str]
    projects: Mapping[int, str]
    funding_accounts: Mapping[int, str]

    def user(self, user_id: Any) -> str:
        if user_id is None:
            return SYSTEM_ACTOR
        return self.users.get(_as_int(user_id), "a former user")

    def users_list(self, user_ids: Iterable[Any]) -> str:
        return ", ".join(self.user(u) for u in user_ids) or "nobody"

    def member(self, event: AuditEvent) -> str:
        payload = event.after or event.before or {}
        if "user_id" in payload:
            return self.user(payload["user_id"])
        return self.memberships.get(_as_int(event.object_id), "a former member")

    def project(self, project_id: Any) -> str:
        return self.projects.get(_as_int(project_id), "a deleted project")

    def funding_account(self, account_id: Any) -> str:
        return self.funding_accounts.get(_as_int(account_id), "a deleted funding account")


def resolve_names(events: Iterable[AuditEvent]) -> Names:
    """The names of every id the events mention, in one statement (none when they
    mention no id)."""
    wanted: dict[str, set[int]] = {
        "user": set(),
        "membership": set(),
        "project": set(),
        "funding_account": set(),
        "business_entity": set(),
    }
    for event in events:
        if event.actor_user_id is not None:
            wanted["user"].add(event.actor_user_id)
        if event.object_type in wanted and (object_id := _as_int(event.object_id)) is not None:
            wanted[event.object_type].add(object_id)
        for payload in (event.before or {}, event.after or {}):
            if (user_id := _as_int(payload.get("user_id"))) is not None:
                wanted["user"].add(user_id)
            wanted["user"].update(
                i for i in map(_as_int, payload.get("user_ids") or ()) if i is not None
            )

    branches = [
        sa.select(sa.literal(kind).label("kind"), key.label("id"), label.label("name")).where(
            key.in_(ids), *where
        )
        for kind, key, label, ids, where in (
            ("user", User.id, User.name, wanted["user"], ()),
            (
                "membership",
                Membership.id,
                User.name,
                wanted["membership"],
                (Membership.user_id == User.id,),
            ),
            ("project", Project.id, Project.name, wanted["project"], ()),
            (
                "funding_account",
                FundingAccount.id,
                FundingAccount.nickname,
                wanted["funding_account"],
                (),
            ),
        )
        if ids
    ]
    found: dict[str, dict[int, str]] = {
        "user": {},
        "membership": {},
        "project": {},
        "funding_account": {},
    }
    if branches:
        # One statement whatever kinds the page mentions (the tenancy filter applies to
        # every branch, as to any statement).
        statement = branches[0] if len(branches) == 1 else sa.union_all(*branches)
        for kind, object_id, name in db.session.execute(statement):
            found[kind][object_id] = name
    return Names(
        users=found["user"],
        memberships=found["membership"],
        projects=found["project"],
        funding_accounts=found["funding_account"],
    )


# --------------------------------------------------------------------------- actions

Describe = Callable[[AuditEvent, Names], str]


@dataclass(frozen=True)
class Action:
    """Where an audited action is filed, and how to say what it did."""

    area: str
    describe: Describe


def _after(event: AuditEvent, key: str, default: Any = None) -> Any:
    return (event.after or {}).get(key, default)


def _before(event: AuditEvent, key: str, default: Any = None) -> Any:
    return (event.before or {}).get(key, default)


def _on_off(value: Any) -> str:
    return "on" if value else "off"


def _labelled(kind: type[Role] | type[Feature] | type[TrainingTopic]):
    """Show a recorded enum value by its label (or humanised, for a value since retired)."""

    def label(value: Any) -> str:
        try:
            return kind(value).label
        except ValueError:
            return _humanize(str(value))

    return label


_role, _feature, _topic = _labelled(Role), _labelled(Feature), _labelled(TrainingTopic)


def _changed_keys(event: AuditEvent, *context: str) -> str:
    before, after = event.before or {}, event.after or {}
    keys = [k for k in after if k not in context and before.get(k) != after.get(k)]
    return ", ".join(_key_label(k).lower() for k in keys) or "nothing"


def _commitment(event: AuditEvent) -> str:
    return _after(event, "commitment") or _before(event, "commitment") or "(no number)"


def _entity_saved(event: AuditEvent, names: Names) -> str:
    verb = "Added" if event.before is None else "Updated"
    return f"{verb} business entity {_after(event, 'legal_name')}"


def _sso_configured(event: AuditEvent, names: Names) -> str:
    verb = "Set up" if not event.before else "Changed"
    mode = "required" if _after(event, "mode") == "required" else "optional"
    return f"{verb} single sign-on with {_after(event, 'issuer')} ({mode} for members)"


def _onboarding_status(value: object) -> str:
    labels = {
        "invite_not_sent": "invite not sent",
        "invite_not_accepted": "invite not accepted",
        "no_bank_information": "onboarding in progress",
        "needs_review": "needs review",
        "approved": "ready for payment",
    }
    return labels.get(str(value), "unknown")


def _document_kind(event: AuditEvent) -> str:
    """A bank account document's kind, as the payee named it."""
    kinds = {"bank_letter": "bank letter", "voided_check": "voided check"}
    return kinds.get(str(_after(event, "kind")), "document")


def _failed_login(event: AuditEvent, names: Names) -> str:
    who = names.user(event.actor_user_id) if event.actor_user_id else _after(event, "email")
    reason = _humanize(_after(event, "reason") or "unknown")
    return f"Refused a sign-in as {who or 'an unknown email'} ({reason.lower()})"


ACTIONS: dict[str, Action] = {
    # Payees
    "onboarding:payee:added": Action(
        "payees",
        lambda e, n: f"Added {_after(e, 'directory_name') or 'a company'} to the payees",
    ),
    "onboarding:invitation:sent": Action(
        "payees",
        lambda e, n: f"Invited {_after(e, 'email') or 'a payee'} to onboard as a payee",
    ),
    "onboarding:invitation:resent": Action(
        "payees", lambda e, n: "Sent a payee invitation again, open for 14 more days"
    ),
    "onboarding:invitation:reminded": Action(
        "payees", lambda e, n: "Reminded a payee of its invitation"
    ),
    "onboarding:invitation:revoked": Action(
        "payees",
        lambda e, n: f"Withdrew the payee invitation to {_after(e, 'email') or 'a payee'}",
    ),
    "onboarding:invitation:accepted": Action(
        "payees",
        lambda e, n: f"{_after(e, 'payee') or 'A payee'} accepted the invitation to onboard",
    ),
    "onboarding:invitation:reassigned": Action(
        "payees",
        lambda e, n: (
            f"Passed a payee invitation from {_before(e, 'email') or 'its recipient'} "
            f"to {_after(e, 'email') or 'a colleague'}"
        ),
    ),
    "onboarding:relationship:status_changed": Action(
        "payees",
        lambda e, n: (
            f"Onboarding status became {_onboarding_status(_after(e, 'status'))} "
            f"(was {_onboarding_status(_before(e, 'status'))})"
        ),
    ),
    "onboarding:relationship:approved": Action(
        "payees",
        lambda e, n: (
            f"Approved {_after(e, 'payee') or 'a payee'} for payment to the account ending "
            f"{_after(e, 'account_last4')}"
        ),
    ),
    "onboarding:relationship:noted": Action(
        "payees", lambda e, n: "Sent a payee a note on what to fix before approval"
    ),
    "onboarding:join:requested": Action(
        "roles",
        lambda e, n: (
            f"{_after(e, 'name')} ({_after(e, 'email')}) asked to join, invited by "
            f"{_after(e, 'payor')}"
        ),
    ),
    "onboarding:join:approved": Action("roles", lambda e, n: "Let someone in who asked to join"),
    "onboarding:join:withdrawn": Action(
        "roles",
        lambda e, n: (
            "A request to join was withdrawn: its invitation was used for "
            f"{_after(e, 'onboarded_as') or 'another company'}"
        ),
    ),
    "onboarding:join:declined": Action(
        "roles", lambda e, n: f"Declined a request to join: {_after(e, 'reason')}"
    ),
    "onboarding:agreement:accepted": Action(
        "agreements",
        lambda e, n: (
            f"Accepted the Pay agreement with {_after(e, 'payor') or 'a general contractor'} "
            f"(version {_after(e, 'version')}) as {_after(e, 'signer')}, {_after(e, 'title')}"
        ),
    ),
    # Company profile (payees)
    "payees:profile:created": Action(
        "profile", lambda e, n: f"Filled in the company profile of {_after(e, 'legal_name')}"
    ),
    "payees:profile:updated": Action("profile", lambda e, n: "Changed the company profile"),
    "payees:profile:identity_changed": Action(
        "profile",
        lambda e, n: (
            f"Changed the tax identity: {_before(e, 'legal_name')}, tax id ending "
            f"{_before(e, 'tin_last4')} → {_after(e, 'legal_name')}, tax id ending "
            f"{_after(e, 'tin_last4')}"
        ),
    ),
    "payees:profile:certified": Action(
        "profile",
        lambda e, n: f"Signed the W-9 certification as {_after(e, 'name')}, {_after(e, 'title')}",
    ),
    "payees:profile:w9_uploaded": Action("profile", lambda e, n: "Uploaded a signed W-9"),
    "payees:profile:w9_downloaded": Action("profile", lambda e, n: "Downloaded the W-9"),
    # Bank accounts (payees)
    "payees:bank_account:added": Action(
        "bank_accounts",
        lambda e, n: (
            f"Added bank account ending {_after(e, 'account_last4')} "
            f"(ownership check: {_humanize(_after(e, 'ownership_check') or 'none').lower()})"
        ),
    ),
    "payees:bank_account:verified": Action(
        "bank_accounts", lambda e, n: "Verified a bank account by its micro-deposits"
    ),
    "payees:bank_account:verification_attempt_failed": Action(
        "bank_accounts",
        lambda e, n: (
            f"Entered wrong micro-deposit amounts ({_after(e, 'attempts_left')} tries left)"
        ),
    ),
    "payees:bank_account:verification_locked": Action(
        "bank_accounts", lambda e, n: "Locked a bank account's verification after three wrong tries"
    ),
    "payees:bank_account:receiving_chosen": Action(
        "bank_accounts",
        lambda e, n: f"Chose the account ending {_after(e, 'account_last4')} to receive payments",
    ),
    "payees:bank_account:flagged_shared": Action(
        "bank_accounts",
        lambda e, n: (
            f"Flagged the account ending {_after(e, 'account_last4')} for review: the same "
            "account is on another payee"
        ),
    ),
    "payees:bank_account:frozen": Action(
        "bank_accounts",
        lambda e, n: (
            f"Froze the account ending {_after(e, 'account_last4')}: reported from the "
            "notice email as not added by the payee"
        ),
    ),
    "payees:bank_account:deactivated": Action(
        "bank_accounts",
        lambda e, n: f"Deactivated the bank account ending {_before(e, 'account_last4')}",
    ),
    "payees:bank_account:review_cleared": Action(
        "bank_accounts",
        lambda e, n: (
            f"A Trestle operator cleared the account ending {_after(e, 'account_last4')} after "
            "review: payors may approve it"
        ),
    ),
    "payees:bank_account:unfrozen": Action(
        "bank_accounts",
        lambda e, n: (
            f"A Trestle operator unfroze the account ending {_after(e, 'account_last4')}: the "
            "payee confirmed it is theirs"
        ),
    ),
    "payees:bank_account:deactivated_frozen": Action(
        "bank_accounts",
        lambda e, n: (
            f"A Trestle operator deactivated the frozen account ending "
            f"{_before(e, 'account_last4')}: it was not the payee's"
        ),
    ),
    # Documents that verify a bank account instead of micro-deposits (payees)
    "payees:bank_document:submitted": Action(
        "bank_accounts",
        lambda e, n: (
            f"Sent a {_document_kind(e)} to verify the account ending {_after(e, 'account_last4')}"
        ),
    ),
    "payees:bank_document:approved": Action(
        "bank_accounts",
        lambda e, n: (
            f"A Trestle operator accepted the {_document_kind(e)}: the account ending "
            f"{_after(e, 'account_last4')} is verified"
        ),
    ),
    "payees:bank_document:rejected": Action(
        "bank_accounts",
        lambda e, n: (
            f"A Trestle operator did not accept the {_document_kind(e)} for the account ending "
            f"{_after(e, 'account_last4')}: {_after(e, 'reason')}"
        ),
    ),
    "payees:bank_document:withdrawn": Action(
        "bank_accounts",
        lambda e, n: (
            f"Closed the {_document_kind(e)} for the account ending "
            f"{_after(e, 'account_last4')} unreviewed: {_after(e, 'because')}"
        ),
    ),
    "payees:bank_document:downloaded": Action(
        "bank_accounts",
        lambda e, n: f"A Trestle operator downloaded the {_document_kind(e)} to review it",
    ),
    # People and roles
    "companies:member:added": Action(
        "roles", lambda e, n: f"Added {n.user(e.object_id)} to the team"
    ),
    "companies:member:invited": Action(
        "roles", lambda e, n: f"Invited {n.user(_after(e, 'user_id'))} to join the team"
    ),
    "companies:member:invitation_accepted": Action(
        "roles", lambda e, n: f"{n.user(_after(e, 'user_id'))} accepted an invitation to join"
    ),
    "companies:role:granted": Action(
        "roles",
        lambda e, n: f"Granted the {_role(_after(e, 'role'))} role to {n.member(e)}",
    ),
    "companies:role:removed": Action(
        "roles",
        lambda e, n: f"Removed the {_role(_before(e, 'role'))} role from {n.member(e)}",
    ),
    "accounts:mfa:reset": Action(
        "roles",
        lambda e, n: f"Reset two-step verification for {n.user(e.object_id)}",
    ),
    # Features
    "companies:feature:activated": Action(
        "features", lambda e, n: f"Turned on {_feature(e.object_id)}"
    ),
    "companies:feature:deactivated": Action(
        "features", lambda e, n: f"Turned off {_feature(e.object_id)}"
    ),
    # Projects
    "invoicing:project:created": Action(
        "projects",
        lambda e, n: f"Created project {_after(e, 'name')} ({_after(e, 'number')})",
    ),
    "invoicing:project:pay_changed": Action(
        "projects",
        lambda e, n: (
            f"Turned Pay {_on_off(_after(e, 'pay_enabled'))} for project {n.project(e.object_id)}"
        ),
    ),
    "invoicing:project:updated": Action(
        "projects",
        lambda e, n: (
            f"Changed project {n.project(e.object_id)}: "
            + ", ".join(label for key, label in PROJECT_FIELDS.items() if key in (e.after or {}))
        ),
    ),
    "invoicing:project:archived": Action(
        "projects", lambda e, n: f"Archived project {n.project(e.object_id)}"
    ),
    "invoicing:project:restored": Action(
        "projects", lambda e, n: f"Restored project {n.project(e.object_id)}"
    ),
    "invoicing:project:funding_account_changed": Action(
        "projects",
        lambda e, n: (
            f"Set the funding account of project {n.project(e.object_id)} to "
            f"{_after(e, 'funding_account') or 'none'}"
        ),
    ),
    # Commitments
    "invoicing:commitment:created": Action(
        "commitments",
        lambda e, n: (
            f"Drafted commitment {_after(e, 'number') or ''} {_after(e, 'title') or ''}".strip()
            + f" with {_after(e, 'payee') or 'a payee'}"
        ),
    ),
    "invoicing:commitment:updated": Action(
        "commitments",
        lambda e, n: f"Corrected commitment {_commitment(e)}: {_changed_keys(e, 'commitment')}",
    ),
    "invoicing:commitment:schedule_saved": Action(
        "commitments",
        lambda e, n: (
            f"Saved the schedule of values of commitment {_commitment(e)} "
            f"({_after(e, 'lines') or 0} lines, {_after(e, 'total') or '$0.00'})"
        ),
    ),
    "invoicing:commitment:approved": Action(
        "commitments", lambda e, n: f"Approved commitment {_commitment(e)}"
    ),
    "invoicing:commitment:executed": Action(
        "commitments",
        lambda e, n: f"Marked commitment {_commitment(e)} executed on {_after(e, 'executed_on')}",
    ),
    "invoicing:commitment:execution_withdrawn": Action(
        "commitments", lambda e, n: f"Marked commitment {_commitment(e)} not executed"
    ),
    "invoicing:commitment:retainage_changed": Action(
        "commitments",
        lambda e, n: (
            f"Changed the retainage of line {_after(e, 'line') or '?'} of commitment "
            f"{_commitment(e)}"
        ),
    ),
    "invoicing:commitment:contacts_changed": Action(
        "commitments",
        lambda e, n: f"Changed the invoice contacts of commitment {_commitment(e)}",
    ),
    "invoicing:change_order:created": Action(
        "commitments",
        lambda e, n: (
            f"Drafted change order {_after(e, 'number') or ''} to commitment {_commitment(e)}"
        ),
    ),
    "invoicing:change_order:updated": Action(
        "commitments",
        lambda e, n: (
            f"Rewrote change order {_after(e, 'number') or ''} to commitment {_commitment(e)}"
        ),
    ),
    "invoicing:change_order:approved": Action(
        "commitments",
        lambda e, n: (
            f"Approved change order {_after(e, 'number') or ''} to commitment {_commitment(e)}"
            f" ({_after(e, 'amount') or 'no amount'})"
        ),
    ),
    "invoicing:billing_period:created": Action(
        "commitments",
        lambda e, n: (
            f"Added billing period {_after(e, 'period') or ''} to project "
            f"{_after(e, 'project') or n.project(None)}"
        ),
    ),
    "invoicing:billing_period:invited_to_bill": Action(
        "commitments",
        lambda e, n: (
            f"Invited {_after(e, 'contacts') or 'the'} invoice contacts to bill "
            f"{_after(e, 'period') or 'a billing period'}"
        ),
    ),
    "invoicing:invoice:created": Action(
        "commitments",
        lambda e, n: (
            f"Started invoice {_after(e, 'number') or ''} of commitment {_commitment(e)}"
            + (" on the payee's behalf" if _after(e, "on_behalf") else "")
        ),
    ),
    "invoicing:invoice:saved": Action(
        "commitments",
        lambda e, n: f"Saved invoice {_after(e, 'number') or ''} of commitment {_commitment(e)}",
    ),
    "invoicing:invoice:submitted": Action(
        "commitments",
        lambda e, n: (
            f"Submitted invoice {_after(e, 'number') or ''} of commitment {_commitment(e)} "
            f"for review ({_after(e, 'current_payment_due') or 'no amount'} due)"
        ),
    ),
    "invoicing:invoice:approved": Action(
        "commitments",
        lambda e, n: f"Approved invoice {_after(e, 'number') or ''} of commitment {_commitment(e)}",
    ),
    "invoicing:invoice:approved_as_noted": Action(
        "commitments",
        lambda e, n: (
            f"Approved invoice {_after(e, 'number') or ''} of commitment {_commitment(e)} as noted"
        ),
    ),
    "invoicing:invoice:revise_and_resubmit": Action(
        "commitments",
        lambda e, n: (
            f"Returned invoice {_after(e, 'number') or ''} of commitment {_commitment(e)} "
            "to revise and resubmit"
        ),
    ),
    "invoicing:invoice:attached": Action(
        "commitments",
        lambda e, n: (
            f"Attached {_after(e, 'file') or 'a file'} to invoice {_after(e, 'number') or ''} "
            f"of commitment {_commitment(e)}"
        ),
    ),
    "invoicing:import:started": Action(
        "commitments",
        lambda e, n: f"Started importing commitments from {_after(e, 'file') or 'a file'}",
    ),
    "invoicing:import:succeeded": Action(
        "commitments",
        lambda e, n: f"Imported {_after(e, 'commitments') or 0} commitments from a CSV file",
    ),
    "invoicing:import:failed": Action(
        "commitments",
        lambda e, n: (
            f"Imported nothing from a CSV file: {_after(e, 'errors') or 'some'} rows were bad"
        ),
    ),
    "readiness:requirement:changed": Action(
        "readiness",
        lambda e, n: (
            f"Set payment requirement {_after(e, 'requirement') or ''} to "
            f"{(_after(e, 'mode') or 'a new mode').lower()}"
        ),
    ),
    "readiness:hold:applied": Action(
        "readiness",
        lambda e, n: (
            f"Applied a {(_after(e, 'kind') or 'hold').lower()}: "
            f"{_after(e, 'reason') or 'no reason given'}"
        ),
    ),
    "readiness:hold:released": Action(
        "readiness",
        lambda e, n: f"Released a {(_after(e, 'kind') or 'hold').lower()}",
    ),
    "compliance:template:added": Action(
        "compliance",
        lambda e, n: (
            f"Required {_after(e, 'document') or 'a document'} "
            f"{(_after(e, 'required') or '').lower()} ({_after(e, 'applies_to') or 'all'})"
        ),
    ),
    "compliance:template:removed": Action(
        "compliance",
        lambda e, n: (
            f"Stopped requiring {_before(e, 'document') or 'a document'} "
            f"{(_before(e, 'required') or '').lower()}"
        ),
    ),
    "compliance:document:added": Action(
        "compliance",
        lambda e, n: (
            f"Added {_after(e, 'document') or 'a document'} to commitment {_commitment(e)}"
            + (f", invoice {_after(e, 'invoice')}" if _after(e, "invoice") else "")
        ),
    ),
    "compliance:document:accepted": Action(
        "compliance",
        lambda e, n: (
            f"Accepted {_after(e, 'document') or 'a document'} of commitment {_commitment(e)}"
        ),
    ),
    "compliance:document:rejected": Action(
        "compliance",
        lambda e, n: (
            f"Rejected {_after(e, 'document') or 'a document'} of commitment {_commitment(e)}"
        ),
    ),
    "compliance:document:reminded": Action(
        "compliance",
        lambda e, n: (
            f"Reminded the payee that {_after(e, 'document') or 'a document'} of commitment "
            f"{_commitment(e)} expires {_after(e, 'expires_on') or 'soon'}"
        ),
    ),
    "waivers:waiver:generated": Action(
        "waivers",
        lambda e, n: (
            f"Made a {(_after(e, 'kind') or 'lien').lower()} waiver for invoice "
            f"{_after(e, 'number') or ''} of commitment {_commitment(e)} "
            f"({_after(e, 'amount') or 'no amount'}, form {_after(e, 'form') or '?'})"
            + (" replacing the one for the old amount" if _after(e, "supersedes") else "")
        ),
    ),
    "waivers:waiver:settled": Action(
        "waivers",
        lambda e, n: (
            f"Made the {(_after(e, 'kind') or 'unconditional').lower()} waiver for a payment "
            f"of {_after(e, 'amount') or ''} (reference {_after(e, 'reference') or '?'}) "
            f"on invoice {_after(e, 'number') or ''} of commitment {_commitment(e)}"
        ),
    ),
    "waivers:settings:flow_changed": Action(
        "waivers",
        lambda e, n: f"Set the lien waiver flow to: {(_after(e, 'flow') or '').lower()}",
    ),
    "waivers:waiver:released": Action(
        "waivers",
        lambda e, n: (
            f"Released a {(_after(e, 'kind') or 'lien').lower()} waiver held in escrow "
            f"({_after(e, 'why') or 'released'})"
        ),
    ),
    "waivers:waiver:unlock_requested": Action(
        "waivers",
        lambda e, n: (
            f"Asked the payee to release a {(_after(e, 'kind') or 'lien').lower()} waiver "
            "held in escrow"
        ),
    ),
    "waivers:authorization:given": Action(
        "waivers",
        lambda e, n: (
            f"Authorized Trestle to sign the company's unconditional lien waivers "
            f"({_after(e, 'by') or 'by its admin'})"
        ),
    ),
    "waivers:authorization:revoked": Action(
        "waivers",
        lambda e, n: "Revoked Trestle's authorization to sign unconditional lien waivers",
    ),
    "waivers:waiver:delegated": Action(
        "waivers",
        lambda e, n: f"Sent a link to sign a lien waiver to {_after(e, 'email') or 'someone'}",
    ),
    "waivers:waiver:signed": Action(
        "waivers",
        lambda e, n: (
            f"{_after(e, 'signer') or 'The payee'} signed a "
            f"{(_after(e, 'kind') or 'lien').lower()} waiver for {_after(e, 'amount') or ''}"
        ),
    ),
    "onboarding:payee:contact_changed": Action(
        "payees",
        lambda e, n: (
            f"Changed a payee's contact to {_after(e, 'contact_email') or 'a new address'}"
        ),
    ),
    # Payment settings
    "payment_settings:controls:updated": Action(
        "payment_settings", lambda e, n: f"Changed payment controls: {_changed_keys(e)}"
    ),
    # Business entities
    "payment_settings:entity:saved": Action("entities", _entity_saved),
    "payment_settings:entity_person:added": Action(
        "entities",
        lambda e, n: (
            f"Added {_after(e, 'name')} as {_humanize(_after(e, 'role', '')).lower()} "
            "of the business entity"
        ),
    ),
    "payment_settings:entity_person:removed": Action(
        "entities",
        lambda e, n: (
            f"Removed {_before(e, 'name')} ({_humanize(_before(e, 'role', '')).lower()}) "
            "from the business entity"
        ),
    ),
    # Funding accounts
    "payment_settings:funding_account:added": Action(
        "funding_accounts",
        lambda e, n: (
            f"Added funding account {_after(e, 'nickname')} "
            f"(account ending {_after(e, 'account_last4')})"
        ),
    ),
    "payment_settings:funding_account:default_changed": Action(
        "funding_accounts",
        lambda e, n: f"Made {_after(e, 'default')} the default funding account",
    ),
    "payment_settings:funding_account:deactivated": Action(
        "funding_accounts",
        lambda e, n: f"Deactivated funding account {n.funding_account(e.object_id)}",
    ),
    # Bank accounts
    "banking:deposit_account:opened": Action(
        "bank_accounts",
        lambda e, n: (
            f"Opened a deposit account at {_after(e, 'bank')} "
            f"(account ending {_after(e, 'account_last4')})"
        ),
    ),
    # Implementation
    "operations:payor:created": Action(
        "implementation", lambda e, n: f"Set up {_after(e, 'name')} as a payor"
    ),
    "operations:admins:designated": Action(
        "implementation",
        lambda e, n: (
            f"Recorded the signed form designating {n.users_list(_after(e, 'user_ids', ()))} "
            "as Payments Admins"
        ),
    ),
    "operations:designation:downloaded": Action(
        "implementation", lambda e, n: "Downloaded a signed admin designation form"
    ),
    "operations:profile:updated": Action(
        "implementation", lambda e, n: f"Updated the company profile: {_changed_keys(e)}"
    ),
    "operations:implementation:sso_not_used": Action(
        "implementation",
        lambda e, n: (
            "Marked single sign-on as not used"
            if _after(e, "sso_not_used")
            else "Marked single sign-on as used"
        ),
    ),
    "operations:implementation:contact_added": Action(
        "implementation",
        lambda e, n: f"Added {_after(e, 'name')} as {_humanize(_after(e, 'kind', '')).lower()}",
    ),
    "operations:implementation:training_recorded": Action(
        "implementation",
        lambda e, n: (
            f"Recorded the {_topic(_after(e, 'topic'))} training held on {_after(e, 'held_on')}"
        ),
    ),
    "operations:implementation:lessons_recorded": Action(
        "implementation", lambda e, n: "Recorded lessons learned"
    ),
    "operations:implementation:closed": Action(
        "implementation", lambda e, n: "Closed the implementation project"
    ),
    # Sign-in and security
    "sso:sessions:password_ended": Action(
        "security",
        lambda e, n: f"Signed out {_after(e, 'count', 0)} password session(s): SSO is now required",
    ),
    "sso:connection:configured": Action("security", _sso_configured),
    "sso:login:unlinked": Action(
        "security",
        lambda e, n: (
            f"Refused a single sign-on as {_after(e, 'email') or 'an unknown person'}: "
            "no Trestle user is linked to that identity"
        ),
    ),
    "sso:identity:linked": Action(
        "security",
        lambda e, n: f"Linked {n.user(e.object_id)} to their single sign-on identity",
    ),
    "sso:login:failed": Action(
        "security", lambda e, n: f"A single sign-on attempt failed ({_after(e, 'reason')})"
    ),
    "accounts:login:succeeded": Action(
        "security",
        lambda e, n: "Signed in with single sign-on" if _after(e, "sso") else "Signed in",
    ),
    "accounts:login:failed": Action("security", _failed_login),
    "accounts:login:rate_limited": Action(
        "security",
        lambda e, n: f"Paused sign-in for {_after(e, 'email')} after too many attempts",
    ),
    "accounts:logout:succeeded": Action("security", lambda e, n: "Signed out"),
    "accounts:session:idle_timeout": Action(
        "security", lambda e, n: f"Signed {n.user(e.object_id)} out after a time without activity"
    ),
    "accounts:sessions:revoked": Action(
        "security",
        lambda e, n: (
            f"Signed {n.user(e.object_id)} out of {_after(e, 'count', 0)} session(s) "
            f"({_humanize(_after(e, 'reason') or '').lower()})"
        ),
    ),
    "accounts:password:changed": Action("security", lambda e, n: "Changed their password"),
    "accounts:password:reset_requested": Action(
        "security", lambda e, n: "Asked for a password reset link"
    ),
    "accounts:password:reset": Action("security", lambda e, n: "Reset their password with a link"),
    "accounts:mfa:enrolled": Action("security", lambda e, n: "Set up two-step verification"),
    "accounts:mfa:failed": Action(
        "security", lambda e, n: "Entered a wrong two-step verification code"
    ),
    "accounts:mfa:rate_limited": Action(
        "security",
        lambda e, n: "Paused two-step verification after too many wrong codes",
    ),
    "accounts:mfa:recovery_codes_regenerated": Action(
        "security", lambda e, n: "Made new recovery codes"
    ),
    "accounts:mfa:recovery_code_used": Action(
        "security",
        lambda e, n: f"Signed in with a recovery code ({_after(e, 'remaining')} left)",
    ),
    # Trestle itself
    "core:diagnostics:pinged": Action("system", lambda e, n: "Checked the job queue"),
}


def actions_in(area: str) -> list[str]:
    return sorted(tag for tag, action in ACTIONS.items() if action.area == area)


def describe(event: AuditEvent, names: Names) -> str:
    action = ACTIONS.get(event.action)
    if action is None:  # a tag added without a sentence: still shown, never an error
        return _humanize(" ".join(event.action.split(":")[1:]))
    return action.describe(event, names)


def area_of(event: AuditEvent) -> str:
    action = ACTIONS.get(event.action)
    return HISTORY_AREAS[action.area] if action else "Other"


# --------------------------------------------------------------------------- values

KEY_LABELS = {
    "user_id": "Person",
    "user_ids": "People",
    "role": "Role",
    "enabled": "Turned on",
    "pay_enabled": "Pay",
    "funding_account": "Funding account",
    "default": "Default funding account",
    "active": "Active",
    "disbursements_enabled": "Disbursements",
    "pay_on_new_projects": "Pay on new projects",
    "funding_account_mode": "Funding account choice",
    "invitation_message": "Invitation message",
    "cooling_off_days": "Cooling-off days",
    "legal_name": "Legal name",
    "ein_last4": "EIN ending",
    "ssn_last4": "SSN ending",
    "account_last4": "Account ending",
    "routing_number": "Routing number",
    "account_type": "Account type",
    "slug": "Web address name",
    "form_sha256": "Signed form (SHA-256)",
    "sso_not_used": "Single sign-on not used",
    "kind": "Contact type",
    "topic": "Training",
    "held_on": "Held on",
    "lessons_learned": "Lessons learned",
    "issuer": "Identity provider",
    "client_id": "Client ID",
    "allowed_domains": "Allowed email domains",
    "mode": "Single sign-on",
    "sso": "Single sign-on",
    "remember": "Stay signed in",
    "count": "Sessions",
    "address_line1": "Address",
    "address_line2": "Address line 2",
    "postal_code": "ZIP code",
    "region": "State",
    "main_phone": "Main phone",
    "primary_contact_name": "Primary contact",
    "original_sum_cents": "Contract sum",
    "default_retainage_bps": "Default retainage",
    "contract_sum_to_date": "Contract sum to date",
    "primary_contact_email": "Primary contact email",
    "stored_file_id": "Stored file",
    "remaining": "Recovery codes left",
}
ENUM_KEYS = {"funding_account_mode", "account_type", "kind", "mode", "reason", "purpose"}


def _key_label(key: str) -> str:
    return KEY_LABELS.get(key) or _humanize(key)


def _value_label(key: str, value: Any, names: Names) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if key == "user_id":
        return names.user(value)
    if key == "user_ids":
        return names.users_list(value)
    if key == "role":
        return _role(value)
    if key == "topic":
        return _topic(value)
    if key in ENUM_KEYS and isinstance(value, str):
        return _humanize(value)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def values(payload: Mapping[str, Any] | None, names: Names) -> list[tuple[str, str]]:
    """A before or after dict as (label, value) pairs, ids as names, enums as labels."""
    return [(_key_label(k), _value_label(k, v, names)) for k, v in (payload or {}).items()]


# --------------------------------------------------------------------------- query


@dataclass(frozen=True)
class HistoryFilters:
    area: str = ""
    person: int | None = None
    since: date | None = None
    until: date | None = None

    @classmethod
    def from_state(cls, state: TableState) -> HistoryFilters:
        """Read the filters from the URL state; unknown or malformed values are dropped."""
        area = state.filter("area")
        return cls(
            area=area if area in HISTORY_AREAS else "",
            person=_as_int(state.filter("person")),
            since=_as_date(state.filter("since")),
            until=_as_date(state.filter("until")),
        )

    def as_args(self) -> dict[str, str]:
        """The filters as query arguments, unset ones left out (for links such as the CSV)."""
        values = {
            "area": self.area,
            "person": "" if self.person is None else str(self.person),
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
        }
        return {k: v for k, v in values.items() if v}


@dataclass(frozen=True)
class HistoryEntry:
    """One row of the Change History, ready to show."""

    event_id: int
    occurred_at: datetime
    area: str
    actor: str
    description: str
    before: list[tuple[str, str]]
    after: list[tuple[str, str]]


def table_state(args: Mapping[str, str]) -> tuple[TableState, HistoryFilters]:
    """The Change History's URL state, with its filters normalized."""
    state = TableState.from_args(
        args, columns=COLUMNS, default_sort="when", default_direction="desc", filters=FILTERS
    )
    filters = HistoryFilters.from_state(state)
    return dataclasses.replace(state, filters=filters.as_args()), filters


def history_statement(company_id: int, filters: HistoryFilters) -> sa.Select[Any]:
    stmt = sa.select(AuditEvent).where(AuditEvent.company_id == company_id)
    if filters.area:
        stmt = stmt.where(AuditEvent.action.in_(actions_in(filters.area)))
    if filters.person is not None:
        stmt = stmt.where(AuditEvent.actor_user_id == filters.person)
    if filters.since:
        stmt = stmt.where(AuditEvent.occurred_at >= datetime.combine(filters.since, time(), UTC))
    if filters.until:
        stmt = stmt.where(
            AuditEvent.occurred_at
            < datetime.combine(filters.until, time(), UTC) + timedelta(days=1)
        )
    return stmt


def entries(events: list[AuditEvent]) -> list[HistoryEntry]:
    names = resolve_names(events)
    return [
        HistoryEntry(
            event_id=event.id,
            occurred_at=event.occurred_at,
            area=area_of(event),
            actor=names.user(event.actor_user_id),
            description=describe(event, names),
            before=values(event.before, names),
            after=values(event.after, names),
        )
        for event in events
    ]


def change_history(company_id: int, state: TableState, filters: HistoryFilters) -> TablePage:
    """One page of the company's Change History, newest first unless asked otherwise."""
    page = paginate(
        history_statement(company_id, filters),
        state,
        sort_columns={"when": AuditEvent.occurred_at},
    )
    return dataclasses.replace(page, rows=entries(page.rows))


def people_in_history(company_id: int) -> list[tuple[int, str]]:
    """Everyone who changed something in the company, for the "Changed by" filter."""
    rows = db.session.execute(
        sa.select(User.id, User.name)
        .where(
            User.id.in_(
                sa.select(AuditEvent.actor_user_id).where(AuditEvent.company_id == company_id)
            )
        )
        .order_by(User.name, User.id)
    )
    return [(row[0], row[1]) for row in rows]


def csv_filename(company_slug: str, today: date) -> str:
    return f"change-history-{company_slug}-{today.isoformat()}.csv"


CSV_HEADER = ("Date (UTC)", "Area", "Changed by", "What changed", "From", "To")


def history_csv(company_id: int, filters: HistoryFilters) -> str:
    """Every row the filters match (not just one page), newest first, as CSV."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    for entry in _all_entries(company_id, filters):
        writer.writerow(
            [
                safe_cell(value)
                for value in (
                    entry.occurred_at.strftime("%Y-%m-%d %H:%M:%S"),
                    entry.area,
                    entry.actor,
                    entry.description,
                    "; ".join(f"{k}: {v}" for k, v in entry.before),
                    "; ".join(f"{k}: {v}" for k, v in entry.after),
                )
            ]
        )
    return out.getvalue()


def _all_entries(company_id: int, filters: HistoryFilters) -> Iterator[HistoryEntry]:
    stmt = history_statement(company_id, filters).order_by(
        AuditEvent.occurred_at.desc(), AuditEvent.id.desc()
    )
    events = list(db.session.scalars(stmt))
    # Names are looked up per batch: a few queries per 500 rows, never one per row.
    for start in range(0, len(events), CSV_BATCH):
        yield from entries(events[start : start + CSV_BATCH])


def _humanize(value: str) -> str:
    return value.replace("_", " ").strip().capitalize()


def _as_int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isascii() and value.isdecimal() and len(value) < 12:
        return int(value)
    return None


# Dates outside these years are no filter anyone means (and 9999-12-31 + 1 day overflows).
EARLIEST, LATEST = date(2000, 1, 1), date(2999, 12, 31)


def _as_date(value: str) -> date | None:
    try:
        parsed = date.fromisoformat(value) if value else None
    except ValueError:
        return None
    return parsed if parsed is None or EARLIEST <= parsed <= LATEST else None
