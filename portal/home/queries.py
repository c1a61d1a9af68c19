"""Home pages as work queues: for each role the member holds, what needs them now."""

from __future__ import annotations

from dataclasses import dataclass, field

from portal.companies.models import CompanyKind, Membership, Role
from portal.operations import queries as operations
from portal.operations.queries import ChecklistItem, PayorQueue


@dataclass(frozen=True)
class Queue:
    """One list on a home page: its items, or an empty state that says what will appear."""

    key: str
    title: str
    empty: str
    items: list = field(default_factory=list)


@dataclass(frozen=True)
class Home:
    operator_payors: PayorQueue | None = None
    # For each payor, where the operator completes each of its checklist items.
    operator_links: dict[int, dict[str, str]] = field(default_factory=dict)
    setup_left: list[ChecklistItem] | None = None
    # Where the Payments Admin completes each item (the others are the operator's).
    setup_links: dict[str, str] = field(default_factory=dict)
    queues: list[Queue] = field(default_factory=list)


# Queues of capabilities still to come: shown now, empty, so each person knows what will
# land on their home page and why.
ROLE_QUEUES: dict[Role, list[Queue]] = {
    Role.PAYMENTS_ADMIN: [
        Queue(
            "invoices_to_review",
            "Invoices to review",
            "Pay applications your subcontractors submit appear here for review, once Invoice "
            "Management is in use.",
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
            "payee_setup",
            "Invitations and bank accounts",
            "Invitations from general contractors, and your bank accounts while they are "
            "verified, appear here.",
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
    return Home(operator_payors, operator_links, setup_left, setup_links, queues)
