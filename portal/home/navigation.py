"""The primary navigation: only what the user's roles and the company's features allow."""

from __future__ import annotations

from dataclasses import dataclass

from portal.companies.models import CompanyKind, Feature, Membership, Role
from portal.companies.policies import may_view_history


@dataclass(frozen=True)
class NavItem:
    label: str
    endpoint: str
    # Endpoints (or "blueprint." prefixes) that belong to this section, for aria-current.
    covers: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()

    def is_current(self, endpoint: str | None) -> bool:
        if not endpoint or endpoint in self.excludes:
            return False
        return endpoint == self.endpoint or any(
            endpoint.startswith(prefix) if prefix.endswith(".") else endpoint == prefix
            for prefix in self.covers
        )


# A payee's Pay agreements are steps of its home page's onboarding checklist.
HOME = NavItem(
    "Home",
    "home.show_dashboard",
    ("home.", "onboarding.show_agreement", "onboarding.accept_agreement"),
)
# The operator console's bank account reviews (payee accounts, not payors).
BANK_REVIEW_ENDPOINTS = tuple(
    f"operations.{name}"
    for name in (
        "list_bank_reviews",
        "show_bank_review",
        "download_bank_document",
        "approve_bank_document",
        "reject_bank_document",
        "clear_bank_flag",
        "unfreeze_bank_account",
        "deactivate_bank_account",
    )
)
PAYORS = NavItem(
    "Payors",
    "operations.list_payors",
    ("operations.",),
    excludes=(
        "operations.list_users",
        "operations.show_own_implementation",
        *BANK_REVIEW_ENDPOINTS,
    ),
)
PAYOR_USERS = NavItem("Payor users", "operations.list_users")
BANK_REVIEWS = NavItem("Bank reviews", "operations.list_bank_reviews", BANK_REVIEW_ENDPOINTS)
IMPLEMENTATION = NavItem("Implementation", "operations.show_own_implementation")
PAYEE_BILLING_ENDPOINTS = ("invoicing.list_billing", "invoicing.show_billed_commitment")
INVOICE_ENDPOINTS = (
    "readiness.list_invoices",
    "invoicing.show_invoice",
    "readiness.show_readiness",
    "readiness.apply_hold",
    "compliance.show_invoice_documents",
    "compliance.add_invoice_document",
    "waivers.show_waiver",
    "waivers.sign_waiver",
    "waivers.invoice_waivers",
    "waivers.request_unlock",
)
COMMITMENT_DOCUMENT_ENDPOINTS = (
    "compliance.show_commitment_documents",
    "compliance.add_commitment_document",
)
INVOICES = NavItem("Invoices", "readiness.list_invoices", INVOICE_ENDPOINTS)
PROJECTS = NavItem(
    "Projects",
    "invoicing.list_projects",
    ("invoicing.", *COMMITMENT_DOCUMENT_ENDPOINTS),
    excludes=(*PAYEE_BILLING_ENDPOINTS, *INVOICE_ENDPOINTS),
)
# A payee reaches its invoices from Billing (the payor, from Invoices).
BILLING = NavItem(
    "Billing",
    "invoicing.list_billing",
    (
        *PAYEE_BILLING_ENDPOINTS,
        *COMMITMENT_DOCUMENT_ENDPOINTS,
        "invoicing.show_invoice",
        "readiness.show_readiness",
        "compliance.show_invoice_documents",
        "compliance.add_invoice_document",
        "waivers.show_waiver",
        "waivers.sign_waiver",
        "waivers.invoice_waivers",
        "waivers.unlock_waiver",
    ),
)
PAYEES = NavItem(
    "Payees",
    "onboarding.list_payees",
    (
        "onboarding.invite_payees",
        "onboarding.resend_invitation",
        "onboarding.remind_invitation",
        "onboarding.revoke_invitation",
        "onboarding.show_invitation_record",
        "onboarding.reassign_invitation_record",
        "onboarding.show_payee",
        "onboarding.approve_payee",
        "onboarding.note_payee",
        "onboarding.show_payee_agreement",
    ),
)
PAYEE_PROFILE = NavItem(
    "Company profile",
    "payees.show_profile",
    ("payees.show_profile", "waivers.show_authorization", "waivers.save_authorization"),
)
BANK_ACCOUNTS = NavItem(
    "Bank accounts", "payees.list_bank_accounts", ("payees.",), excludes=("payees.show_profile",)
)
PAYMENT_SETTINGS = NavItem(
    "Payment settings",
    "payment_settings.show",
    (
        "payment_settings.",
        "sso.setup",
        "readiness.show_requirements",
        "readiness.save_requirements",
        "compliance.show_templates",
        "compliance.add_template",
        "compliance.remove_template",
        "waivers.show_settings",
        "waivers.save_settings",
    ),
)
TEAM = NavItem(
    "Team",
    "companies.list_members",
    (
        "companies.list_members",
        "companies.show_member",
        "onboarding.list_join_requests",
        "onboarding.approve_join_request",
        "onboarding.decline_join_request",
        "onboarding.accept_joined_invitation",
    ),
)
HISTORY = NavItem("Change History", "companies.show_history", ("companies.show_history",))


def primary_navigation(
    membership: Membership | None, features: dict[Feature, bool]
) -> list[NavItem]:
    """The sections this member may open, in a fixed order."""
    if membership is None:
        return [HOME]
    roles = membership.role_set
    kind = membership.company.kind
    items = [HOME]
    if Role.OPERATOR in roles:
        items += [PAYORS, PAYOR_USERS, BANK_REVIEWS]
    if kind is CompanyKind.PAYOR:
        if roles:  # every payor role is a payments role
            items.append(IMPLEMENTATION)
        if roles & {Role.PAYMENTS_ADMIN, Role.INVOICE_ADMINISTRATOR}:
            items.append(PROJECTS)
        if roles & {Role.PAYMENTS_ADMIN, Role.INVOICE_ADMINISTRATOR, Role.DISBURSER} and (
            features.get(Feature.INVOICE_MANAGEMENT)
        ):
            items.append(INVOICES)
        if roles & {Role.PAYMENTS_ADMIN, Role.BENEFICIARY_APPROVER} and features.get(Feature.PAY):
            items.append(PAYEES)
        if Role.PAYMENTS_ADMIN in roles and features.get(Feature.PAY):
            items.append(PAYMENT_SETTINGS)
    elif kind is CompanyKind.PAYEE:
        items.append(BILLING)
        if Role.PAYEE_ADMIN in roles:
            items += [PAYEE_PROFILE, BANK_ACCOUNTS]
    items.append(TEAM)
    if may_view_history(membership):
        items.append(HISTORY)
    return items


COMPANY_PROFILE = NavItem("Company profile and documents", "companies.show_profile")


def company_menu(membership: Membership | None) -> list[NavItem]:
    """Company pages that live in the user menu rather than the main navigation."""
    if (
        membership is not None
        and membership.company.kind is CompanyKind.PAYOR
        and Role.PAYMENTS_ADMIN in membership.role_set
    ):
        return [COMPANY_PROFILE]
    return []
