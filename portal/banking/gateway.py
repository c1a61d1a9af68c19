"""The bank gateway protocol and the sandbox bank that implements it by default.

References are deterministic from our ids, so asking twice for the same thing returns the
same answer instead of doing it twice.

The sandbox bank also plays every *other* bank: the payee's own bank, which receives the
micro-deposits (shown on its statement page, never in the portal) and answers the
account-ownership check. Documented test account numbers make it answer as a real
validation service would on a bad day, like card networks' test numbers:

| account number ends in | ownership check answers |
|---|---|
| ``9990`` | no match |
| ``9991`` | close match |
| anything else | match, unless the account is already known under a different name |
"""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass
from typing import Protocol

import sqlalchemy as sa
from flask import current_app

from portal.banking.models import SandboxBankAccount, SandboxBankEntry, account_fingerprint
from portal.core.db import db
from portal.core.text import name_core, plain_name

# A routing number with a valid ABA check digit, used only by the sandbox bank.
SANDBOX_ROUTING_NUMBER = "123456780"
SANDBOX_BANK_NAME = "Trestle Sandbox Bank"


@dataclass(frozen=True)
class OpenedAccount:
    bank_name: str
    routing_number: str
    account_number: str


class OwnershipAnswer(enum.StrEnum):
    """An account-validation service's answer on the holder name of an account."""

    MATCH = "match"
    CLOSE_MATCH = "close_match"
    NO_MATCH = "no_match"


@dataclass(frozen=True)
class ExternalAccount:
    """An account at any bank, as the portal names it to its banking partner."""

    routing_number: str
    account_number: str
    holder_name: str


MICRO_DEPOSIT_DESCRIPTION = "TRESTLE ACCTVERIFY"


class BankGateway(Protocol):
    """What the portal asks of its banking partner."""

    def open_deposit_account(self, reference: str, holder_name: str) -> OpenedAccount:
        """Open (or find, for a reference already used) a deposit account."""

    def check_ownership(self, account: ExternalAccount) -> OwnershipAnswer:
        """Whether the holder name matches the account at its bank."""

    def send_micro_deposits(self, reference: str, account: ExternalAccount) -> None:
        """Send two deposits under $1.00 to the account (once per reference)."""

    def confirm_micro_deposits(self, reference: str, amounts_cents: tuple[int, int]) -> bool:
        """Whether ``amounts_cents`` are the two deposits sent under ``reference``, in any
        order. The portal never learns the amounts, only this answer."""


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

    # The sandbox as every other bank -------------------------------------------------------

    def _external(self, account: ExternalAccount, *, open_it: bool) -> SandboxBankAccount | None:
        fingerprint = account_fingerprint(account.routing_number, account.account_number)
        found = db.session.scalar(
            sa.select(SandboxBankAccount).where(SandboxBankAccount.fingerprint == fingerprint)
        )
        if found is None and open_it:
            found = SandboxBankAccount(
                reference=f"ext-{fingerprint[:40]}",
                holder_name=account.holder_name,
                routing_number=account.routing_number,
                account_number=account.account_number,
                fingerprint=fingerprint,
            )
            db.session.add(found)
            db.session.flush()
        return found

    def check_ownership(self, account: ExternalAccount) -> OwnershipAnswer:
        if account.account_number.endswith("9990"):
            return OwnershipAnswer.NO_MATCH
        if account.account_number.endswith("9991"):
            return OwnershipAnswer.CLOSE_MATCH
        known = self._external(account, open_it=False)
        if known is None:
            return OwnershipAnswer.MATCH  # the bank's records are opened with this name
        return compare_names(known.holder_name, account.holder_name)

    def send_micro_deposits(self, reference: str, account: ExternalAccount) -> None:
        target = self._external(account, open_it=True)
        assert target is not None
        sent = db.session.scalars(
            sa.select(SandboxBankEntry.id).where(
                SandboxBankEntry.account_id == target.id,
                SandboxBankEntry.reference.startswith(f"{reference}:"),
            )
        ).all()
        if sent:
            return
        first = secrets.randbelow(99) + 1
        second = secrets.randbelow(98) + 1
        second += second >= first  # two different amounts, 1 to 99 cents
        for number, cents in ((1, first), (2, second)):
            db.session.add(
                SandboxBankEntry(
                    account_id=target.id,
                    reference=f"{reference}:{number}",
                    description=MICRO_DEPOSIT_DESCRIPTION,
                    amount_cents=cents,
                )
            )
            target.balance_cents += cents
        db.session.flush()

    def confirm_micro_deposits(self, reference: str, amounts_cents: tuple[int, int]) -> bool:
        sent = db.session.scalars(
            sa.select(SandboxBankEntry.amount_cents).where(
                SandboxBankEntry.reference.in_([f"{reference}:1", f"{reference}:2"])
            )
        ).all()
        return len(sent) == 2 and sorted(sent) == sorted(amounts_cents)

    def statement(self, routing_number: str, account_number: str) -> Statement | None:
        """The sandbox bank's statement of one account (its own page shows it)."""
        account = self._external(ExternalAccount(routing_number, account_number, ""), open_it=False)
        if account is None:
            return None
        entries = db.session.scalars(
            sa.select(SandboxBankEntry)
            .where(SandboxBankEntry.account_id == account.id)
            .order_by(SandboxBankEntry.posted_at.desc(), SandboxBankEntry.id.desc())
            .limit(100)
        ).all()
        return Statement(account.holder_name, account_number[-4:], account.balance_cents, entries)


@dataclass(frozen=True)
class Statement:
    holder_name: str
    account_last4: str
    balance_cents: int
    entries: list[SandboxBankEntry]


def compare_names(on_record: str, given: str) -> OwnershipAnswer:
    """Match when equal but for case and punctuation; close when equal but for legal
    suffixes (Inc, LLC…) or when one name contains the other; otherwise no match."""
    a, b = plain_name(on_record), plain_name(given)
    if a and a == b:
        return OwnershipAnswer.MATCH
    a, b = name_core(on_record), name_core(given)
    if a and b and (a == b or a in b or b in a):
        return OwnershipAnswer.CLOSE_MATCH
    return OwnershipAnswer.NO_MATCH


def gateway() -> BankGateway:
    """The configured bank gateway (BANK_GATEWAY; only the sandbox exists so far)."""
    name = current_app.config["BANK_GATEWAY"]
    if name != "sandbox":
        raise RuntimeError(f"unknown BANK_GATEWAY {name!r}")
    return SandboxBank()
