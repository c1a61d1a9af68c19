"""What each payment requirement means, as SQL over invoices, and who may hold what.

Readiness is never stored: each requirement is a condition evaluated when it is asked for,
for one invoice or a page of them, and the invoices list filters by the same conditions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from portal.companies.models import Feature, Role
from portal.compliance import policies as compliance
from portal.invoicing.models import (
    APPROVED_STATES,
    ChangeOrder,
    ChangeOrderStatus,
    Commitment,
    Invoice,
)
from portal.readiness.models import EnforcementMode, Hold, HoldKind, HoldStatus, RequirementKind
from portal.waivers import policies as waivers


@dataclass(frozen=True)
class Requirement:
    kind: RequirementKind
    label: str
    explains: str  # what meeting it means, for the settings page
    default: EnforcementMode
    # The condition an invoice meets it by; None while the capability it needs is not built.
    condition: Callable[[], sa.ColumnElement[bool]] | None
    not_available: str = ""
    # The feature the payor needs for it to mean anything (without it: not required).
    feature: Feature | None = None


def holds_released() -> sa.ColumnElement[bool]:
    """No applied hold on the invoice, nor on its payee (a vendor hold by its payor).

    Two conditions, not one with an OR inside: each can then be matched by its own key (the
    invoice; the payor and payee), and the planner judges how many invoices pass."""
    invoice_hold, vendor_hold = aliased(Hold), aliased(Hold)
    return sa.and_(
        ~sa.exists()
        .where(
            invoice_hold.status == HoldStatus.APPLIED,
            invoice_hold.kind == HoldKind.INVOICE,
            invoice_hold.invoice_id == Invoice.id,
            invoice_hold.company_id == Invoice.company_id,
        )
        .correlate(Invoice),
        ~sa.exists()
        .where(
            vendor_hold.status == HoldStatus.APPLIED,
            vendor_hold.kind == HoldKind.VENDOR,
            vendor_hold.company_id == Invoice.company_id,
            vendor_hold.payee_company_id == Invoice.payee_company_id,
        )
        .correlate(Invoice),
    )


def invoice_approved() -> sa.ColumnElement[bool]:
    return Invoice.status.in_(APPROVED_STATES)


def commitment_executed() -> sa.ColumnElement[bool]:
    # Its own alias: a list that joins the commitment must not correlate this one away.
    commitment = aliased(Commitment)
    return (
        sa.exists()
        .where(commitment.id == Invoice.commitment_id, commitment.executed_on.is_not(None))
        .correlate(Invoice)
    )


def change_orders_executed() -> sa.ColumnElement[bool]:
    """No change order of the invoice's commitment is still a draft."""
    return ~(
        sa.exists()
        .where(
            ChangeOrder.commitment_id == Invoice.commitment_id,
            ChangeOrder.status == ChangeOrderStatus.DRAFT,
        )
        .correlate(Invoice)
    )


WAIVERS = "Comes with the rest of lien waivers (not available yet)."

REQUIREMENTS: tuple[Requirement, ...] = (
    Requirement(
        RequirementKind.HOLDS_RELEASED,
        "Holds released",
        "No invoice hold on the invoice and no vendor hold on its payee.",
        EnforcementMode.PREVENTS_PAYMENT,
        holds_released,
    ),
    Requirement(
        RequirementKind.INVOICE_APPROVED,
        "Invoice approved",
        "The invoice is approved, or approved as noted.",
        EnforcementMode.PREVENTS_PAYMENT,
        invoice_approved,
    ),
    Requirement(
        RequirementKind.COMMITMENT_EXECUTED,
        "Commitment executed",
        "Both parties signed the commitment the invoice bills.",
        EnforcementMode.NOT_REQUIRED,
        commitment_executed,
    ),
    Requirement(
        RequirementKind.CHANGE_ORDERS_EXECUTED,
        "Change orders executed",
        "No change order of the commitment is still a draft.",
        EnforcementMode.NOT_REQUIRED,
        change_orders_executed,
    ),
    Requirement(
        RequirementKind.CONTRACT_COMPLIANT,
        "Contract compliant",
        "Every document the compliance templates require for the commitment (other than "
        "insurance) is on file, accepted and current.",
        EnforcementMode.NOT_REQUIRED,
        compliance.contract_compliant,
    ),
    Requirement(
        RequirementKind.INSURANCE_COMPLIANT,
        "Insurance compliant",
        "Every certificate of insurance the compliance templates require is on file, "
        "accepted and unexpired.",
        EnforcementMode.NOT_REQUIRED,
        compliance.insurance_compliant,
    ),
    Requirement(
        RequirementKind.INVOICE_COMPLIANT,
        "Invoice compliant",
        "Every document the compliance templates require with this invoice (other than "
        "insurance) is attached, accepted and current.",
        EnforcementMode.NOT_REQUIRED,
        compliance.invoice_compliant,
    ),
    Requirement(
        RequirementKind.LIEN_WAIVER_SIGNED,
        "Lien waiver signed",
        "The payee signed this invoice's lien waiver for the payment now due.",
        EnforcementMode.NOT_REQUIRED,
        waivers.waiver_signed,
        "Needs the Lien Waivers feature, which an operator switches on.",
        Feature.LIEN_WAIVERS,
    ),
    Requirement(
        RequirementKind.PREVIOUS_UNCONDITIONAL_RECEIVED,
        "Unconditional waiver for the previous payment",
        "Every earlier payment of the commitment that settled has its unconditional waiver signed.",
        EnforcementMode.NOT_REQUIRED,
        waivers.previous_unconditional_received,
        "Needs the Lien Waivers feature, which an operator switches on.",
        Feature.LIEN_WAIVERS,
    ),
    Requirement(
        RequirementKind.SUB_TIER_WAIVERS_RECEIVED,
        "Sub-tier waivers received",
        "The payee's own subcontractors' and suppliers' waivers are in.",
        EnforcementMode.NOT_REQUIRED,
        None,
        WAIVERS,
    ),
)
BY_KIND = {requirement.kind: requirement for requirement in REQUIREMENTS}

# DESIGN §2: invoice holds by Invoice Administrators, Disbursers and Payments Admins;
# vendor holds (every invoice of a payee) by Disbursers and Payments Admins.
HOLD_ROLES = {
    HoldKind.INVOICE: frozenset({Role.PAYMENTS_ADMIN, Role.DISBURSER, Role.INVOICE_ADMINISTRATOR}),
    HoldKind.VENDOR: frozenset({Role.PAYMENTS_ADMIN, Role.DISBURSER}),
}


def may_hold(roles: frozenset[Role] | set[Role], kind: HoldKind) -> bool:
    return bool(set(roles) & HOLD_ROLES[kind])
