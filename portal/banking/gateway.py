"""The bank gateway protocol and the sandbox bank that implements it by default.

References are deterministic from our ids, so asking twice for the same thing returns the
same answer instead of doing it twice.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Protocol

import sqlalchemy as sa
from flask import current_app

from portal.banking.models import SandboxBankAccount
from portal.core.db import db

# A routing number with a valid ABA check digit, used only by the sandbox bank.
SANDBOX_ROUTING_NUMBER = "123456780"
SANDBOX_BANK_NAME = "Trestle Sandbox Bank"


@dataclass(frozen=True)
class OpenedAccount:
    bank_name: str
    routing_number: str
    account_number: str


class BankGateway(Protocol):
    """What the portal asks of its banking partner."""

    def open_deposit_account(self, reference: str, holder_name: str) -> OpenedAccount:
        """Open (or find, for a reference already used) a deposit account."""


class SandboxBank:
    """A simulated banking partner with its own tables; the demo, tests and payment testing."""

    def open_deposit_account(self, reference: str, holder_name: str) -> OpenedAccount:
        account = db.session.scalar(
            sa.select(SandboxBankAccount).where(SandboxBankAccount.reference == reference)
        )
        if account is None:
            account = SandboxBankAccount(
                reference=reference,
                holder_name=holder_name,
                routing_number=SANDBOX_ROUTING_NUMBER,
                account_number="9" + "".join(secrets.choice("0123456789") for _ in range(11)),
            )
            db.session.add(account)
            db.session.flush()
        return OpenedAccount(SANDBOX_BANK_NAME, account.routing_number, account.account_number)


def gateway() -> BankGateway:
    """The configured bank gateway (BANK_GATEWAY; only the sandbox exists so far)."""
    name = current_app.config["BANK_GATEWAY"]
    if name != "sandbox":
        raise RuntimeError(f"unknown BANK_GATEWAY {name!r}")
    return SandboxBank()
