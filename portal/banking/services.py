"""Open a payor's deposit account at the banking partner; the rules every bank account
number entered in the portal meets."""

from __future__ import annotations

import sqlalchemy as sa
from stdnum.exceptions import ValidationError
from stdnum.us import rtn

from portal.banking.gateway import gateway
from portal.banking.models import DepositAccount
from portal.companies.models import Company, CompanyKind
from portal.core import audit
from portal.core.db import db
from portal.core.errors import DomainError, InvalidInput
from portal.core.text import is_ascii_digits


def open_deposit_account(company: Company, *, actor_user_id: int) -> DepositAccount:
    """Open the payor's one deposit account; refuse a second."""
    if company.kind is not CompanyKind.PAYOR:
        raise InvalidInput("Only payors have deposit accounts.")
    if db.session.scalar(
        sa.select(DepositAccount.id).where(DepositAccount.company_id == company.id)
    ):
        raise DomainError(f"{company.name} already has a deposit account.")
    reference = f"deposit-{company.id}"
    opened = gateway().open_deposit_account(reference, company.name)
    account = DepositAccount(
        company_id=company.id,
        bank_name=opened.bank_name,
        routing_number=opened.routing_number,
        account_number=opened.account_number,
        account_last4=opened.account_number[-4:],
        bank_reference=reference,
        opened_by_user_id=actor_user_id,
    )
    db.session.add(account)
    db.session.flush()
    audit.record(
        "banking:deposit_account:opened",
        actor_user_id=actor_user_id,
        company_id=company.id,
        object_type="deposit_account",
        object_id=account.id,
        after={
            "bank": opened.bank_name,
            "routing_number": opened.routing_number,
            "account_last4": account.account_last4,
        },
    )
    return account


def validate_routing_number(value: str) -> str:
    """An ABA routing number: nine digits with a correct check digit (python-stdnum)."""
    try:
        return rtn.validate(value)
    except ValidationError as exc:
        raise InvalidInput(
            "That routing number is not valid (9 digits with a correct check digit).",
            field="routing_number",
        ) from exc


def validate_account_number(number: str | None, again: str | None) -> str:
    """An account number typed twice the same: 4 to 17 ASCII digits (spaces dropped)."""
    digits = (number or "").strip().replace(" ", "")
    if not is_ascii_digits(digits) or not 4 <= len(digits) <= 17:
        raise InvalidInput(
            "Account numbers are 4 to 17 digits (0 to 9 only).", field="account_number"
        )
    if digits != (again or "").strip().replace(" ", ""):
        raise InvalidInput("The two account numbers do not match.", field="account_number_confirm")
    return digits
