"""Accounts at the banking partner: the payor's deposit account, and the sandbox bank's books."""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal.core import crypto
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
    # Accounts the sandbox plays "another bank" for (a payee's own account) are found by
    # their blind index; the partner's own deposit accounts have none.
    fingerprint: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (sa.CheckConstraint("balance_cents >= 0", name="balance_not_negative"),)


class SandboxBankEntry(db.Model):
    """One line of a sandbox bank account's statement (a credit is positive)."""

    __tablename__ = "sandbox_bank_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("sandbox_bank_account.id"), index=True)
    # What the sender called it: asking twice for the same thing finds it, not a second one.
    reference: Mapped[str] = mapped_column(sa.String(80))
    description: Mapped[str] = mapped_column(sa.String(120))
    amount_cents: Mapped[int] = mapped_column(sa.BigInteger)
    posted_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        sa.UniqueConstraint("account_id", "reference"),
        sa.CheckConstraint("amount_cents <> 0", name="amount_not_zero"),
    )


class AccountType(enum.StrEnum):
    CHECKING = "checking"
    SAVINGS = "savings"


def account_fingerprint(routing_number: str, account_number: str) -> str:
    """The blind index of a bank account: routing and account number, digits only. The same
    normalisation everywhere, so the same account is found across features and companies."""
    return crypto.blind_index(f"{routing_number}:{account_number}")


def fingerprint_rebuilder(table: sa.Table) -> Callable[[sa.Connection], int]:
    """A rebuilder (for key rotation) of ``table.account_fingerprint`` from its numbers."""

    def rebuild(connection: sa.Connection) -> int:
        rows = connection.execute(
            sa.select(table.c.id, table.c.routing_number, table.c.account_number)
        ).all()
        for row_id, routing, number in rows:  # the column type decrypts the number
            connection.execute(
                sa.update(table)
                .where(table.c.id == row_id)
                .values(account_fingerprint=account_fingerprint(routing, number))
            )
        return len(rows)

    return rebuild
