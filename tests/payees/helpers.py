"""Shared setup of the payee tests: a payee admin signed in, a profile, a bank account."""

from __future__ import annotations

import sqlalchemy as sa

from portal.banking.models import SandboxBankEntry
from portal.companies.models import Company, CompanyKind, Role
from portal.core import tenancy
from portal.core.db import db
from portal.payees.models import PayeeBankAccount
from tests.factories import make_company, sign_in_fresh

PROFILE = {
    "legal_name": "Ironline Steel LLC",
    "dba": "Ironline",
    "entity_type": "llc",
    "address_line1": "400 Forge Way",
    "address_line2": "",
    "city": "Oakland",
    "region": "CA",
    "postal_code": "94607",
    "remit_to_email": "ar@ironline.example.com",
    "tax_classification": "llc_p",
    "tin_type": "ein",
    "tin": "12-3456789",
    "exempt_payee_code": "",
    "fatca_code": "",
}
ACCOUNT = {
    "holder_name": "Ironline Steel LLC",
    "routing_number": "021000021",
    "account_number": "000123456789",
    "account_number_confirm": "000123456789",
    "account_type": "checking",
}


def payee_admin(client, name: str = "Ironline Steel") -> tuple[Company, object, object]:
    """A payee company with a Payee Payments Admin signed in and just verified."""
    payee = make_company(CompanyKind.PAYEE, name)
    user, phone = sign_in_fresh(client, payee, (Role.PAYEE_ADMIN,))
    return payee, user, phone


def save_profile(client, **changes: str):
    return client.submit("/payee/profile", {**PROFILE, **changes}, token_from="/payee/profile")


def certify(client):
    return client.submit(
        "/payee/profile/certification",
        {"name": "Ines Ironline", "title": "Controller"},
        token_from="/payee/profile",
    )


def add_account(client, **changes: str):
    return client.submit(
        "/payee/bank-accounts", {**ACCOUNT, **changes}, token_from="/payee/bank-accounts"
    )


def last_account(company: Company) -> PayeeBankAccount:
    with tenancy.unscoped():
        return db.session.scalars(
            sa.select(PayeeBankAccount)
            .where(PayeeBankAccount.company_id == company.id)
            .order_by(PayeeBankAccount.id.desc())
        ).first()


def deposits_of(account: PayeeBankAccount) -> list[int]:
    """The two amounts, from the sandbox bank's own books (as its statement shows them)."""
    with tenancy.unscoped():
        return list(
            db.session.scalars(
                sa.select(SandboxBankEntry.amount_cents)
                .where(SandboxBankEntry.reference.like(f"{account.bank_reference}:%"))
                .order_by(SandboxBankEntry.reference)
            )
        )


def dollars(cents: int) -> str:
    return f"{cents / 100:.2f}"


def confirm(client, account_id: int, first: str, second: str):
    return client.submit(
        f"/payee/bank-accounts/{account_id}/micro-deposits",
        {"first": first, "second": second},
        token_from=f"/payee/bank-accounts/{account_id}",
    )
