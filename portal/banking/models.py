"""Accounts at the banking partner: the payor's deposit account, and the sandbox bank's books."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal.core.crypto import encrypted_column
from portal.core.db import db, utcnow
from portal.core.tenancy import TenantOwned


class DepositAccount(TenantOwned, db.Model):
    """The payor's account at the banking partner: drawdowns land here, payouts leave from it."""

    __tablename__ = "deposit_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("company.id"), unique=True)
    bank_name: Mapped[str] = mapped_column(sa.String(120))
    routing_number: Mapped[str] = mapped_column(sa.String(9))
    account_number: Mapped[str] = encrypted_column()
    account_last4: Mapped[str] = mapped_column(sa.String(4))
    bank_reference: Mapped[str] = mapped_column(sa.String(60), unique=True)
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    opened_by_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))


class SandboxBankAccount(db.Model):
    """An account in the sandbox bank's own books (the simulated banking partner)."""

    __tablename__ = "sandbox_bank_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(sa.String(60), unique=True)
    holder_name: Mapped[str] = mapped_column(sa.String(200))
    routing_number: Mapped[str] = mapped_column(sa.String(9))
    account_number: Mapped[str] = encrypted_column()
    balance_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (sa.CheckConstraint("balance_cents >= 0", name="balance_not_negative"),)
