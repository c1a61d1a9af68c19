"""Read helpers for a payee's profile and bank accounts."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from flask import abort

from portal.core.db import db
from portal.core.tables import Column, TablePage, TableState, paginate
from portal.payees.models import (
    BankAccountStatus,
    MicroDepositCheck,
    PayeeBankAccount,
    PayeeProfile,
)


@dataclass(frozen=True)
class PayeeReadiness:
    """What a payor's reviewer needs from the payee before it can approve it."""

    profile: PayeeProfile | None
    receiving: PayeeBankAccount | None

    @property
    def profile_complete(self) -> bool:
        return self.profile is not None and self.profile.certified_at is not None

    @property
    def ready_for_review(self) -> bool:
        return self.profile_complete and self.receiving is not None


def profile_of(company_id: int) -> PayeeProfile | None:
    return db.session.scalar(sa.select(PayeeProfile).where(PayeeProfile.company_id == company_id))


def receiving_account(company_id: int) -> PayeeBankAccount | None:
    """The one account payments go to, if any."""
    return db.session.scalar(
        sa.select(PayeeBankAccount).where(
            PayeeBankAccount.company_id == company_id, PayeeBankAccount.receives_payments
        )
    )


def readiness(company_id: int) -> PayeeReadiness:
    return PayeeReadiness(profile_of(company_id), receiving_account(company_id))


def bank_account(company_id: int, account_id: int) -> PayeeBankAccount:
    """One of the company's bank accounts, or 404."""
    account = db.session.scalar(
        sa.select(PayeeBankAccount).where(
            PayeeBankAccount.id == account_id, PayeeBankAccount.company_id == company_id
        )
    )
    if account is None:
        abort(404)
    return account


def micro_deposit_check(account_id: int) -> MicroDepositCheck | None:
    return db.session.scalar(
        sa.select(MicroDepositCheck).where(MicroDepositCheck.bank_account_id == account_id)
    )


BANK_ACCOUNT_COLUMNS = (
    Column("account", "Account"),
    Column("holder", "Name on the account", sortable=True),
    Column("status", "Status", sortable=True),
    Column("ownership", "Ownership check"),
    Column("added", "Added", sortable=True),
)
BANK_ACCOUNT_STATUSES = frozenset(s.value for s in BankAccountStatus)


def bank_account_list_state(args) -> TableState:
    return TableState.from_args(
        args,
        columns=BANK_ACCOUNT_COLUMNS,
        default_sort="status",
        filters=("status",),
    )


def bank_account_table(company_id: int, state: TableState) -> TablePage:
    """One page of the payee's accounts; by status, the receiving account first."""
    stmt = sa.select(PayeeBankAccount).where(PayeeBankAccount.company_id == company_id)
    if state.filter("status") in BANK_ACCOUNT_STATUSES:
        stmt = stmt.where(PayeeBankAccount.status == state.filter("status"))
    order = sa.case(
        (PayeeBankAccount.receives_payments, 0),
        (PayeeBankAccount.status == BankAccountStatus.PENDING_VERIFICATION, 1),
        (PayeeBankAccount.status == BankAccountStatus.VERIFIED, 2),
        (PayeeBankAccount.status == BankAccountStatus.VERIFICATION_FAILED, 3),
        else_=4,
    )
    return paginate(
        stmt,
        state,
        {
            "holder": sa.func.lower(PayeeBankAccount.holder_name),
            "status": order,
            "added": PayeeBankAccount.created_at,
        },
        tiebreak=PayeeBankAccount.id,
    )
