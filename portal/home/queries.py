"""Home pages as work queues: for each role the member holds, what needs them now."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from flask import url_for

from portal.companies.models import CompanyKind, Membership, Role
from portal.compliance import queries as compliance_queries
from portal.core.db import utcnow
from portal.core.money import format_cents
from portal.core.text import possessive
from portal.invoicing import queries as invoicing_queries
from portal.onboarding import queries as onboarding_queries
from portal.onboarding.models import OnboardingStatus
from portal.onboarding.policies import may_pay_payee
from portal.operations import queries as operations
from portal.operations.queries import ChecklistItem, ChecklistStep, PayorQueue
from portal.payees import queries as payee_queries
from portal.waivers import queries as waiver_queries


@dataclass(frozen=True)
class Queue:
    """One list on a home page: its items, or an empty state that says what will appear."""

    key: str
    title: str
    empty: str
    items: list = field(default_factory=list)
    total: int | None = None  # when more wait than the items listed
    all_url: str = ""


@dataclass(frozen=True)
class QueueEntry:
    text: str
    url: str = ""


@dataclass(frozen=True)
class Home:
    operator_payors: PayorQueue | None = None
    # For each payor, where the operator completes each of its checklist items.
    operator_links: dict[int, dict[str, str]] = field(default_factory=dict)
    setup_left: list[ChecklistItem] | None = None
    # Where the Payments Admin completes each item (the others are the operator's).
    setup_links: dict[str, str] = field(default_factory=dict)
    queues: list[Queue] = field(default_factory=list)
    # For a payee's admin: what is left before each general contractor can pay it.
    payee_onboarding: list[ChecklistStep] | None = None
    payee_links: dict[str, str] = field(default_factory=dict)


# Queues of capabilities still to come: shown now, empty, so each person knows what will
# land on their home page and why.
ROLE_QUEUES: dict[Role, list[Queue]] = {
    Role.OPERATOR: [
        Queue(
            "bank_reviews",
            "Bank accounts to review",
            "Payee bank accounts that need an operator appear here: a bank letter or voided "
            "check to review, a name the bank does not match, an account on two payees, or "
            "one a payee reported and froze.",
        ),
    ],
    Role.PAYMENTS_ADMIN: [
        Queue(
            "invoices_to_review",
            "Invoices to review",
            "Pay applications your subcontractors submit appear here for review, once Invoice "
            "Management is in use.",
        ),
        Queue(
            "documents_to_review",
            "Compliance documents to review",
            "Certificates, licenses, bonds and W-9s your subcontractors send appear here for "
            "you to accept or reject.",
        ),
    ],
    Role.DISBURSER: [
        Queue(
            "disbursements_to_authorize",
            "Disbursements to authorize",
            "Disbursements waiting for your authorization appear here. They arrive once "
            "invoices are approved and ready to pay; nothing needs you now.",
        ),
        Queue(
            "holds",
            "Invoices on hold",
            "Invoices you or your team put on hold appear here, so none is forgotten.",
        ),
    ],
    Role.CONTRIBUTOR: [
        Queue(
            "draft_disbursements",
            "Draft disbursements",
            "Draft disbursements you can add ready invoices to appear here.",
        ),
    ],
    Role.BENEFICIARY_APPROVER: [
        Queue(
            "bank_accounts_to_approve",
            "Payee bank accounts to approve",
            "When a subcontractor adds or changes the bank account it is paid to, the change "
            "waits here for your approval before any money goes there.",
        ),
        Queue(
            "invitations",
            "Invitations not accepted",
            "Subcontractors you invite to Trestle Pay appear here until they accept.",
        ),
    ],
    Role.INVOICE_ADMINISTRATOR: [
        Queue(
            "invoices_to_review",
            "Invoices to review",
            "Pay applications submitted on your projects appear here for review.",
        ),
        Queue(
            "documents_to_review",
            "Compliance documents to review",
            "Certificates, licenses, bonds and W-9s your subcontractors send appear here for "
            "you to accept or reject.",
        ),
    ],
    Role.VIEWER: [
        Queue(
            "recent_payments",
            "Recent payments",
            "Payments your company makes appear here as they move.",
        ),
    ],
    Role.PAYEE_ADMIN: [
        Queue(
            "join_requests",
            "Requests to join your company",
            "People a general contractor invited who ask to join your company on Trestle "
            "appear here for you to let in or decline.",
        ),
        Queue(
            "payments_received",
            "Payments on the way",
            "Payments general contractors send you appear here with their status, from "
            "authorized to deposited.",
        ),
    ],
}

# A payee user with no role yet is usually an invoice contact (a per-commitment duty).
INVOICE_CONTACT_QUEUES = [
    Queue(
        "invoices_to_submit",
        "Invoices to submit",
        "Billing periods open for your subcontracts appear here once a general contractor "
        "names you as the invoice contact on a commitment.",
    ),
    Queue(
        "waivers_to_sign",
        "Lien waivers to sign",
        "Conditional lien waivers for your invoices appear here for your signature.",
    ),
]


def home_for(membership: Membership | None) -> Home:
    """Everything the member's home page shows, for each role they hold."""
    if membership is None:
        return Home()
    roles = membership.role_set
    company = membership.company
    operator_payors = None
    operator_links = {}
    setup_left = None
    setup_links = {}
    if Role.OPERATOR in roles:
        operator_payors = operations.payors_by_progress()
        operator_links = {
            row.company.id: operations.checklist_links(row.company, operations.OPERATOR_SCREENS)
            for row in operator_payors.rows
        }
    if company.kind is CompanyKind.PAYOR and Role.PAYMENTS_ADMIN in roles:
        setup_left = operations.implementation_progress(company).blockers
        setup_links = operations.checklist_links(company, operations.PAYOR_SCREENS)
    queues: list[Queue] = []
    seen: set[str] = set()
    for role in sorted(roles):
        for queue in ROLE_QUEUES.get(role, []):
            if queue.key not in seen:
                seen.add(queue.key)
                queues.append(queue)
    if company.kind is CompanyKind.PAYEE and not roles:
        queues += INVOICE_CONTACT_QUEUES
    queues = [_filled(queue, company, membership.user_id) for queue in queues]
    payee_onboarding = None
    if company.kind is CompanyKind.PAYEE and Role.PAYEE_ADMIN in roles:
        payee_onboarding = payee_steps(company.id)
    return Home(
        operator_payors,
        operator_links,
        setup_left,
        setup_links,
        queues,
        payee_onboarding,
        {"profile": url_for("payees.show_profile"), "bank": url_for("payees.list_bank_accounts")},
    )


def payee_steps(payee_id: int) -> list[ChecklistStep]:
    """For each general contractor the payee onboards with, the steps done and left."""
    ready = payee_queries.readiness(payee_id)
    profile, account = ready.profile, ready.receiving
    if profile is None:
        profile_detail = "Fill in your legal name, address and tax id."
    elif profile.certified_at is None:
        profile_detail = "Sign the W-9 certification."
    else:
        profile_detail = f"Certified {profile.certified_at:%B %-d, %Y}."
    bank_detail = (
        f"Payments go to ••••{account.account_last4}."
        if account is not None
        else "Add an account and confirm its two micro-deposits."
    )
    agreements = onboarding_queries.agreements_of_payee(payee_id)
    steps = []
    for number, (relationship, payor_name) in enumerate(
        onboarding_queries.relationships_of_payee(payee_id), start=1
    ):
        approved = relationship.status is OnboardingStatus.APPROVED
        until = (
            may_pay_payee(relationship.payor_id, payee_id).cooling_off_until if approved else None
        )
        if approved and until is not None and until > utcnow():
            review = (
                f"Approved. Payments to a new bank account wait a few days for safety: "
                f"{possessive(payor_name)} first payment to it can go on "
                f"{until:%B %-d, %Y at %H:%M} UTC."
            )
        elif approved:
            review = "Ready for payment."
        elif relationship.status is OnboardingStatus.NEEDS_REVIEW:
            review = f"Waiting for {possessive(payor_name)} review." + (
                f" Their note: {relationship.review_note}" if relationship.review_note else ""
            )
        else:
            review = "Once your profile, bank account and Pay agreement are done."
        agreement = agreements.get(relationship.id)
        steps.append(
            ChecklistStep(
                number,
                payor_name,
                [
                    ChecklistItem(
                        "profile", "Company profile and W-9", ready.profile_complete, profile_detail
                    ),
                    ChecklistItem(
                        "bank", "Verified bank account", account is not None, bank_detail
                    ),
                    ChecklistItem(
                        "agreement",
                        "Pay agreement",
                        agreement is not None,
                        f"Accepted {agreement.accepted_at:%B %-d, %Y}."
                        if agreement
                        else f"Read how {payor_name} pays you (no fees), then accept it.",
                        url=url_for("onboarding.show_agreement", relationship_id=relationship.id),
                    ),
                    ChecklistItem("approval", f"Approval by {payor_name}", approved, review),
                ],
            )
        )
    return steps


QUEUE_LENGTH = 20  # a home page lists the first ones; its link opens them all


def _filled(queue: Queue, company, user_id: int) -> Queue:
    """The queue with its first items and its total, for the queues whose work has landed."""
    if queue.key == "invoices_to_review" and company.kind is CompanyKind.PAYOR:
        all_url = url_for("readiness.list_invoices", status="under_review")
        rows, total = invoicing_queries.invoices_under_review(company.id, QUEUE_LENGTH)
        items = [
            QueueEntry(
                f"{invoice.commitment.number} · no. {invoice.number} · "
                f"{invoice.billing_period.name} · {format_cents(invoice.current_due_cents)}",
                url_for("invoicing.show_invoice", invoice_id=invoice.id),
            )
            for invoice in rows
        ]
        return dataclasses.replace(queue, items=items, total=total, all_url=all_url)
    if queue.key == "documents_to_review" and company.kind is CompanyKind.PAYOR:
        rows, total = compliance_queries.documents_awaiting_review(company.id, QUEUE_LENGTH)
        items = [
            QueueEntry(
                f"{payee}: {document.document_type.label}, {number}, "
                f"sent {document.uploaded_at:%B %-d}",
                url_for("invoicing.show_invoice", invoice_id=document.invoice_id)
                + "#documents-panel"
                if document.invoice_id
                else url_for("invoicing.show_commitment", commitment_id=document.commitment_id)
                + "#documents-panel",
            )
            for document, number, payee in rows
        ]
        return dataclasses.replace(queue, items=items, total=total)
    if queue.key == "waivers_to_sign" and company.kind is CompanyKind.PAYEE:
        rows, total = waiver_queries.waivers_to_sign(company.id, user_id, QUEUE_LENGTH)
        items = [
            QueueEntry(
                f"{waiver.kind.label} waiver for {format_cents(waiver.amount_cents)}",
                url_for("waivers.show_waiver", waiver_id=waiver.id),
            )
            for waiver in rows
        ]
        return dataclasses.replace(queue, items=items, total=total)
    if queue.key == "join_requests" and company.kind is CompanyKind.PAYEE:
        all_url = url_for("onboarding.list_join_requests", status="requested")
        state = onboarding_queries.join_request_list_state({"status": "requested"})
        page = onboarding_queries.join_request_table(company.id, _first(state))
        items = [
            QueueEntry(f"{row.user.name} ({row.user.email}), invited by {row.payor_name}", all_url)
            for row in page.rows
        ]
    elif queue.key == "bank_reviews":
        all_url = url_for("operations.list_bank_reviews")
        page = payee_queries.review_table(_first(payee_queries.review_list_state({})))
        items = [
            QueueEntry(
                f"{row.payee_name} ••••{row.account.account_last4}: "
                + ", ".join(reason.label.lower() for reason in row.reasons),
                url_for("operations.show_bank_review", account_id=row.account.id),
            )
            for row in page.rows
        ]
    elif queue.key == "bank_accounts_to_approve" and company.kind is CompanyKind.PAYOR:
        status = OnboardingStatus.NEEDS_REVIEW.value
        all_url = url_for("onboarding.list_payees", status=status)
        state = onboarding_queries.payee_list_state({"status": status})
        page = onboarding_queries.payee_table(company.id, _first(state))
        items = [
            QueueEntry(
                row.relationship.directory_name,
                url_for("onboarding.show_payee", relationship_id=row.relationship.id),
            )
            for row in page.rows
        ]
    else:
        return queue
    return dataclasses.replace(queue, items=items, total=page.total, all_url=all_url)


def _first(state):
    return dataclasses.replace(state, page=1, per_page=QUEUE_LENGTH)
