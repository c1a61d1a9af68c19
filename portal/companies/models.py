"""Companies, memberships and roles."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.core.db import db, str_enum, utcnow
from portal.core.status import Status, Tone
from portal.core.tenancy import TenantOwned


class CompanyKind(enum.StrEnum):
    OPERATOR = "operator"
    PAYOR = "payor"
    PAYEE = "payee"


class Role(enum.StrEnum):
    OPERATOR = "operator"
    PAYMENTS_ADMIN = "payments_admin"
    DISBURSER = "disburser"
    CONTRIBUTOR = "contributor"
    BENEFICIARY_APPROVER = "beneficiary_approver"
    INVOICE_ADMINISTRATOR = "invoice_administrator"
    VIEWER = "viewer"
    PAYEE_ADMIN = "payee_admin"

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]


ROLE_LABELS = {
    Role.OPERATOR: "Operator",
    Role.PAYMENTS_ADMIN: "Payments Admin",
    Role.DISBURSER: "Payments Disburser",
    Role.CONTRIBUTOR: "Disbursement Contributor",
    Role.BENEFICIARY_APPROVER: "Beneficiary Approver",
    Role.INVOICE_ADMINISTRATOR: "Invoice Administrator",
    Role.VIEWER: "Viewer",
    Role.PAYEE_ADMIN: "Payee Payments Admin",
}

ROLES_BY_KIND: dict[CompanyKind, frozenset[Role]] = {
    CompanyKind.OPERATOR: frozenset({Role.OPERATOR}),
    CompanyKind.PAYOR: frozenset(
        {
            Role.PAYMENTS_ADMIN,
            Role.DISBURSER,
            Role.CONTRIBUTOR,
            Role.BENEFICIARY_APPROVER,
            Role.INVOICE_ADMINISTRATOR,
            Role.VIEWER,
        }
    ),
    CompanyKind.PAYEE: frozenset({Role.PAYEE_ADMIN}),
}

# Roles that can see or move money: holders must use MFA (everyone does, in fact) and
# count as "payments users" for a payor's implementation checklist.
PAYMENT_ROLES = frozenset(
    {Role.PAYMENTS_ADMIN, Role.DISBURSER, Role.CONTRIBUTOR, Role.BENEFICIARY_APPROVER}
)


class Company(db.Model):
    __tablename__ = "company"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(60), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[CompanyKind] = mapped_column(str_enum(CompanyKind, 20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The profile an operator keeps (who the company is, where, and whom to call).
    legal_name: Mapped[str | None] = mapped_column(sa.String(200))
    address_line1: Mapped[str | None] = mapped_column(sa.String(200))
    address_line2: Mapped[str | None] = mapped_column(sa.String(200))
    city: Mapped[str | None] = mapped_column(sa.String(100))
    region: Mapped[str | None] = mapped_column(sa.String(2))  # US state code
    postal_code: Mapped[str | None] = mapped_column(sa.String(10))
    main_phone: Mapped[str | None] = mapped_column(sa.String(40))
    primary_contact_name: Mapped[str | None] = mapped_column(sa.String(200))
    primary_contact_email: Mapped[str | None] = mapped_column(sa.String(254))

    memberships: Mapped[list[Membership]] = relationship(back_populates="company")
    # Read through ``companies.queries.features_in``; the signed-in memberships load it
    # with the companies (one statement for every page's navigation and feature checks).
    feature_activations: Mapped[list[FeatureActivation]] = relationship(
        viewonly=True, order_by="FeatureActivation.id"
    )

    __table_args__ = (
        sa.CheckConstraint("slug = lower(slug) AND length(slug) >= 2", name="slug_lowercase"),
    )


class Membership(TenantOwned, db.Model):
    """A user's place in a company, with the roles they hold there."""

    __tablename__ = "membership"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"), index=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("company.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    company: Mapped[Company] = relationship(back_populates="memberships", lazy="joined")
    user: Mapped[User] = relationship(back_populates="memberships", lazy="joined")  # noqa: F821
    roles: Mapped[list[MembershipRole]] = relationship(
        back_populates="membership", cascade="all, delete-orphan", lazy="selectin"
    )

    __table_args__ = (sa.UniqueConstraint("user_id", "company_id"),)

    @property
    def role_set(self) -> frozenset[Role]:
        return frozenset(r.role for r in self.roles)


class InvitationStatus(Status):
    SENT = "sent", "Waiting for an answer", Tone.PROGRESS
    ACCEPTED = "accepted", "Accepted", Tone.SUCCESS
    EXPIRED = "expired", "Expired", Tone.NEUTRAL


class MembershipInvitation(TenantOwned, db.Model):
    """An invitation for an existing account to join a company: a single-use, expiring link
    the invitee accepts while signed in (only the link's hash is stored)."""

    __tablename__ = "membership_invitation"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("company.id"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    invited_by_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]

    company: Mapped[Company] = relationship(lazy="joined")
    user: Mapped[User] = relationship(  # noqa: F821
        lazy="joined", foreign_keys="MembershipInvitation.user_id"
    )

    @property
    def status(self) -> InvitationStatus:
        if self.accepted_at is not None:
            return InvitationStatus.ACCEPTED
        if self.expires_at <= utcnow():
            return InvitationStatus.EXPIRED
        return InvitationStatus.SENT


class MembershipRole(TenantOwned, db.Model):
    __tablename__ = "membership_role"

    id: Mapped[int] = mapped_column(primary_key=True)
    membership_id: Mapped[int] = mapped_column(
        sa.ForeignKey("membership.id", ondelete="CASCADE"), index=True
    )
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("company.id"), index=True)
    role: Mapped[Role] = mapped_column(str_enum(Role, 40))
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)
    granted_by_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))

    membership: Mapped[Membership] = relationship(back_populates="roles")

    __table_args__ = (sa.UniqueConstraint("membership_id", "role"),)


class Feature(enum.StrEnum):
    """Products an operator switches on for a payor."""

    PAY = "pay"
    PAYMENT_REQUIREMENTS = "payment_requirements"
    LIEN_WAIVERS = "lien_waivers"
    INVOICE_MANAGEMENT = "invoice_management"

    @property
    def label(self) -> str:
        return FEATURE_LABELS[self]


FEATURE_LABELS = {
    Feature.PAY: "Pay",
    Feature.PAYMENT_REQUIREMENTS: "Payment Requirements",
    Feature.LIEN_WAIVERS: "Lien Waivers",
    Feature.INVOICE_MANAGEMENT: "Invoice Management",
}


class FeatureActivation(TenantOwned, db.Model):
    """Whether a feature is on for a payor. Turning one off hides it and keeps its data."""

    __tablename__ = "feature_activation"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("company.id"), index=True)
    feature: Mapped[Feature] = mapped_column(str_enum(Feature, 40))
    enabled: Mapped[bool] = mapped_column(default=False)
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    changed_by_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))

    __table_args__ = (sa.UniqueConstraint("company_id", "feature"),)
