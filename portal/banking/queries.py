"""Read helpers for bank accounts."""

from __future__ import annotations

import sqlalchemy as sa

from portal.banking.models import DepositAccount
from portal.core import tenancy
from portal.core.db import db


def deposit_account_of(company_id: int) -> DepositAccount | None:
    with tenancy.unscoped():
        return db.session.scalar(
            sa.select(DepositAccount).where(DepositAccount.company_id == company_id)
        )
