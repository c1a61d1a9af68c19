"""Business entities with their owners and controllers, funding accounts, payment controls."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.banking.models import AccountType, fingerprint_rebuilder
from portal.core import crypto
from portal.core.crypto import encrypted_column
from portal.core.db import db, str_enum, utcnow
from portal.core.status import Status, Tone
from portal.core.tenancy import TenantOwned


class BusinessEntity(TenantOwned, db.Model):
    """A legal entity of the payor: what a bank's know-your-business check needs."""

    __tablename__ = "business_entity"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("company.id"), index=True)
    legal_name: Mapped[str] = mapped_column(sa.String(200))
    dba: Mapped[str | None] = mapped_column(sa.String(200))
    address_line1: Mapped[str] = mapped_column(sa.String(200))
    address_line2: Mapped[str | None] = mapped_column(sa.String(200))
    city: Mapped[str] = mapped_column(sa.String(100))
    region: Mapped[str] = mapped_column(sa.String(2))  # US state code
    postal_code: Mapped[str] = mapped_column(sa.String(10))
    country: Mapped[str] = mapped_column(sa.String(2), default="US")
    incorporation_state: Mapped[str] = mapped_column(sa.String(2))
    incorporation_country: Mapped[str] = mapped_column(sa.String(2), default="US")
    ein: Mapped[str] = encrypted_column()
    ein_last4: Mapped[str] = mapped_column(sa.String(4))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    people: Mapped[list[EntityPerson]] = relationship(
        back_populates="entity",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="EntityPerson.id",
    )
    funding_accounts: Mapped[list[FundingAccount]] = relationship(
        back_populates="entity", lazy="selectin", order_by="FundingAccount.id"
    )


class PersonRole(enum.StrEnum):
    BENEFICIAL_OWNER = "beneficial_owner"  # owns 25% or more
    CONTROLLER = "controller"  # significant management responsibility


class EntityPerson(TenantOwned, db.Model):
    __tablename__ = "entity_person"

    id: Mapped[int] = mapped_column(primary_key=True)
    entity_id: Mapped[int] = mapped_column(sa.ForeignKey("business_entity.id"), index=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("company.id"), index=True)
    role: Mapped[PersonRole] = mapped_column(str_enum(PersonRole, 30))
    full_name: Mapped[str] = mapped_column(sa.String(200))
    title: Mapped[str | None] = mapped_column(sa.String(100))
    ownership_percent: Mapped[int | None]
    date_of_birth: Mapped[str] = encrypted_column()  # ISO date, encrypted
    ssn: Mapped[str] = encrypted_column()
    ssn_last4: Mapped[str] = mapped_column(sa.String(4))

    entity: Mapped[BusinessEntity] = relationship(back_populates="people")

    __table_args__ = (
        sa.CheckConstraint(
            "ownership_percent IS NULL OR (ownership_percent >= 25 AND ownership_percent <= 100)",
            name="ownership_percent_range",
        ),
    )


class EntityStatus(Status):
    """Whether a business entity has what the bank's business verification asks for."""

    COMPLETE = "complete", "Complete", Tone.SUCCESS
    INCOMPLETE = "incomplete", "Incomplete", Tone.WARNING


class FundingAccountStatus(Status):
    ACTIVE = "active", "Active", Tone.SUCCESS
    DEACTIVATED = "deactivated", "Deactivated", Tone.NEUTRAL


class FundingAccount(TenantOwned, db.Model):
    """The payor's own bank account that funds disbursements. Its numbers are never edited:
    to change them, add a new account and deactivate this one."""

    __tablename__ = "funding_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("company.id"), index=True)
    entity_id: Mapped[int] = mapped_column(sa.ForeignKey("business_entity.id"), index=True)
    nickname: Mapped[str] = mapped_column(sa.String(60))
    routing_number: Mapped[str] = mapped_column(sa.String(9))
    account_number: Mapped[str] = encrypted_column()
    account_last4: Mapped[str] = mapped_column(sa.String(4))
    # Keyed hash of routing and account number: finds the same account without decrypting.
    account_fingerprint: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    account_type: Mapped[AccountType] = mapped_column(str_enum(AccountType, 20))
    bank_id: Mapped[str | None] = mapped_column(sa.String(40))
    next_check_number: Mapped[int | None]
    is_default: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    deactivated_at: Mapped[datetime | None]

    entity: Mapped[BusinessEntity] = relationship(back_populates="funding_accounts")

    @property
    def status(self) -> FundingAccountStatus:
        return FundingAccountStatus.ACTIVE if self.active else FundingAccountStatus.DEACTIVATED

    __table_args__ = (
        sa.UniqueConstraint("company_id", "nickname"),
        sa.CheckConstraint(
            "next_check_number IS NULL OR next_check_number > 0", name="check_number_positive"
        ),
        sa.CheckConstraint("NOT (is_default AND NOT active)", name="default_is_active"),
        # One active account per routing and account number per payor (nicknames that differ
        # only in case are refused by the service: an expression index does not reflect).
        sa.Index(
            "uq_funding_account_active_fingerprint",
            "company_id",
            "account_fingerprint",
            unique=True,
            postgresql_where=sa.text("active"),
            sqlite_where=sa.text("active"),
        ),
        # At most one default per payor, even when two admins change it at the same moment.
        sa.Index(
            "uq_funding_account_one_default",
            "company_id",
            unique=True,
            postgresql_where=sa.text("is_default"),
            sqlite_where=sa.text("is_default"),
        ),
    )


class FundingAccountMode(enum.StrEnum):
    FIXED_PER_PROJECT = "fixed_per_project"
    CHOSEN_AT_DISBURSEMENT = "chosen_at_disbursement"


class PaymentControls(TenantOwned, db.Model):
    __tablename__ = "payment_controls"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("company.id"), unique=True)
    disbursements_enabled: Mapped[bool] = mapped_column(default=True)
    pay_on_new_projects: Mapped[bool] = mapped_column(default=True)
    funding_account_mode: Mapped[FundingAccountMode] = mapped_column(
        str_enum(FundingAccountMode, 30), default=FundingAccountMode.CHOSEN_AT_DISBURSEMENT
    )
    invitation_message: Mapped[str | None] = mapped_column(sa.Text)
    # Days payouts to a payee's new or changed bank account wait after it is chosen.
    cooling_off_days: Mapped[int] = mapped_column(default=3, server_default="3")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        sa.CheckConstraint(
            "cooling_off_days >= 0 AND cooling_off_days <= 30", name="cooling_off_range"
        ),
    )


rebuild_fingerprints = fingerprint_rebuilder(FundingAccount.__table__)  # type: ignore[arg-type]
crypto.BLIND_INDEX_REBUILDERS.append(rebuild_fingerprints)
