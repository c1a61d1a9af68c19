"""Commands of a payee company on what it keeps once for every payor: its profile and W-9
facts, and its bank accounts (never edited; verified by micro-deposits or a document).

Every change that can alter whether a payor may pay this payee tells the listeners in
``PAYEE_CHANGE_LISTENERS`` (onboarding recomputes each payor's onboarding status), inside
the same transaction.
"""

from __future__ import annotations

import io
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import IO

import sqlalchemy as sa
from stdnum.exceptions import ValidationError
from stdnum.us import ein as ein_number
from stdnum.us import itin as itin_number
from stdnum.us import ssn as ssn_number

from portal.accounts.services import hash_token
from portal.banking.gateway import ExternalAccount, gateway
from portal.banking.models import AccountType, account_fingerprint
from portal.banking.services import validate_account_number, validate_routing_number
from portal.companies.models import Company, CompanyKind, Role
from portal.companies.queries import operator_emails, role_holder_emails
from portal.core import audit, storage, tenancy
from portal.core.addresses import validate_postal_code, validate_state
from portal.core.db import db, update_if, utcnow
from portal.core.errors import DomainError, IllegalTransition, InvalidInput, NotFound
from portal.core.models import StoredFile
from portal.core.money import InvalidAmount, parse_amount
from portal.core.text import clean_text, one_line
from portal.core.urls import external_url
from portal.notifications.services import queue_emails
from portal.payees import uploads
from portal.payees.models import (
    BANK_ACCOUNT_TRANSITIONS,
    DOCUMENT_TRANSITIONS,
    BankAccountDocument,
    BankAccountStatus,
    DocumentKind,
    DocumentState,
    EntityType,
    MicroDepositCheck,
    MicroDepositState,
    OwnershipResult,
    PayeeBankAccount,
    PayeeProfile,
    TaxClassification,
    TinType,
    VerificationMethod,
)
from portal.payees.queries import (
    document_file,
    open_document,
    other_payees_sharing,
    profile_of,
    receiving_account,
)

MICRO_DEPOSIT_LIFETIME = timedelta(days=10)
MICRO_DEPOSIT_ATTEMPTS = 3
EXEMPT_PAYEE_CODES = frozenset(str(n) for n in range(1, 14))  # W-9 instructions: 1 to 13
FATCA_CODES = frozenset("ABCDEFGHIJKLM")

# Called with the payee company's id after any change to its profile or bank accounts.
PAYEE_CHANGE_LISTENERS: list[Callable[[int], None]] = []
# Called with the account (and the one it replaced) when payments start going elsewhere.
RECEIVING_CHANGE_LISTENERS: list[Callable[[PayeeBankAccount, PayeeBankAccount | None], None]] = []


def _changed(company_id: int) -> None:
    for listener in PAYEE_CHANGE_LISTENERS:
        listener(company_id)


def _require_payee(company: Company) -> None:
    if company.kind is not CompanyKind.PAYEE:
        raise InvalidInput("Only payee companies keep a payee profile and bank accounts.")


def _required(value: str | None, field: str, message: str, max_length: int) -> str:
    text = one_line(value)
    if not text:
        raise InvalidInput(message, field=field)
    if len(text) > max_length:
        raise InvalidInput(f"Use at most {max_length} characters.", field=field)
    return text


def _optional(value: str | None, max_length: int, field: str) -> str | None:
    text = one_line(value)
    if len(text) > max_length:
        raise InvalidInput(f"Use at most {max_length} characters.", field=field)
    return text or None


# --------------------------------------------------------------------------- profile


def validate_tin(tin_type: TinType, value: str) -> str:
    """The tax id as nine digits, checked by python-stdnum for its kind."""
    checkers = {
        TinType.EIN: (ein_number, "Enter a valid EIN, like 12-3456789."),
        TinType.SSN: (ssn_number, "Enter a valid Social Security number, like 123-45-6789."),
        TinType.ITIN: (itin_number, "Enter a valid ITIN: nine digits starting with 9."),
    }
    module, message = checkers[tin_type]
    try:
        return module.validate(value)
    except ValidationError as exc:
        raise InvalidInput(message, field="tin") from exc


@dataclass(frozen=True)
class ProfileInput:
    legal_name: str
    dba: str | None
    entity_type: EntityType
    address_line1: str
    address_line2: str | None
    city: str
    region: str
    postal_code: str
    remit_to_email: str
    tin_type: TinType
    # Blank on an existing profile keeps the tax id on file (it is never shown back).
    tin: str | None
    tax_classification: TaxClassification
    exempt_payee_code: str | None
    fatca_code: str | None


def save_profile(company: Company, data: ProfileInput, *, actor_user_id: int) -> PayeeProfile:
    """Create or update the payee's profile. A change of any W-9 fact voids the
    certification; a change of tax id or legal name is a new identity every payor that
    approved the old one reviews again."""
    _require_payee(company)
    profile = profile_of(company.id)
    email = (data.remit_to_email or "").strip().lower()
    if not email or "@" not in email or len(email) > 254 or " " in email:
        raise InvalidInput("Enter the email address payment notices go to.", field="remit_to_email")
    if data.tin_type is not TinType.EIN and data.tax_classification is not (
        TaxClassification.INDIVIDUAL
    ):
        raise InvalidInput(
            "Only an individual or sole proprietor gives an SSN or ITIN; a business gives its EIN.",
            field="tin_type",
        )
    if data.tin and data.tin.strip():
        tin = validate_tin(data.tin_type, data.tin)
    elif profile is not None and profile.tin_type is data.tin_type:
        tin = profile.tin
    else:
        raise InvalidInput("Enter the tax id.", field="tin")
    exempt = (data.exempt_payee_code or "").strip() or None
    if exempt is not None and exempt not in EXEMPT_PAYEE_CODES:
        raise InvalidInput("Exempt payee codes are 1 to 13.", field="exempt_payee_code")
    fatca = (data.fatca_code or "").strip().upper() or None
    if fatca is not None and fatca not in FATCA_CODES:
        raise InvalidInput("FATCA exemption codes are one letter, A to M.", field="fatca_code")
    values = {
        "legal_name": _required(data.legal_name, "legal_name", "Enter the legal name.", 200),
        "dba": _optional(data.dba, 200, "dba"),
        "entity_type": data.entity_type,
        "address_line1": _required(
            data.address_line1, "address_line1", "Enter the street address.", 200
        ),
        "address_line2": _optional(data.address_line2, 200, "address_line2"),
        "city": _required(data.city, "city", "Enter the city.", 100),
        "region": validate_state(data.region, "region"),
        "postal_code": validate_postal_code(data.postal_code),
        "country": "US",
        "remit_to_email": email,
        "tin_type": data.tin_type,
        "tin": tin,
        "tin_last4": tin[-4:],
        "tax_classification": data.tax_classification,
        "exempt_payee_code": exempt,
        "fatca_code": fatca,
    }
    if profile is None:
        profile = PayeeProfile(company_id=company.id, **values)
        db.session.add(profile)
        db.session.flush()
        audit.record(
            "payees:profile:created",
            actor_user_id=actor_user_id,
            company_id=company.id,
            object_type="payee_profile",
            object_id=profile.id,
            after=_profile_facts(profile),
        )
        _changed(company.id)
        return profile
    before = _profile_facts(profile)
    identity_changed = values["legal_name"] != profile.legal_name or tin != profile.tin
    w9_changed = identity_changed or any(
        values[key] != getattr(profile, key)
        for key in ("tin_type", "tax_classification", "exempt_payee_code", "fatca_code")
    )
    for key, value in values.items():
        if getattr(profile, key) != value:
            setattr(profile, key, value)
    if w9_changed and profile.certified_at is not None:
        profile.certified_at = profile.certified_name = profile.certified_title = None
        profile.certified_by_user_id = None
    if identity_changed:
        profile.identity_version += 1
        profile.identity_changed_at = utcnow()
    db.session.flush()
    after = _profile_facts(profile)
    if after != before:
        record = dict(
            actor_user_id=actor_user_id,
            company_id=company.id,
            object_type="payee_profile",
            object_id=profile.id,
            before=before,
            after=after,
        )
        if identity_changed:
            audit.record("payees:profile:identity_changed", **record)
        else:
            audit.record("payees:profile:updated", **record)
        _changed(company.id)
    return profile


def _profile_facts(profile: PayeeProfile) -> dict[str, object]:
    """What the audit log keeps of a profile: never the tax id, only its last four."""
    return {
        "legal_name": profile.legal_name,
        "dba": profile.dba,
        "entity_type": profile.entity_type.value,
        "address": f"{profile.address_line1}, {profile.city}, {profile.region} "
        f"{profile.postal_code}",
        "remit_to_email": profile.remit_to_email,
        "tin_type": profile.tin_type.value,
        "tin_last4": profile.tin_last4,
        "tax_classification": profile.tax_classification.value,
        "exempt_payee_code": profile.exempt_payee_code,
        "fatca_code": profile.fatca_code,
        "identity_version": profile.identity_version,
        "certified": profile.certified_at is not None,
    }


def certify(profile: PayeeProfile, *, name: str, title: str, actor_user_id: int) -> None:
    """Sign the W-9 certification in the portal (name, title, time), under penalties of
    perjury, for the facts now on file."""
    if profile.certified_at is not None:
        raise DomainError("The W-9 facts on file are already certified.")
    profile.certified_name = _required(name, "name", "Type your full name to sign.", 200)
    profile.certified_title = _required(title, "title", "Enter your title.", 100)
    profile.certified_at = utcnow()
    profile.certified_by_user_id = actor_user_id
    db.session.flush()
    audit.record(
        "payees:profile:certified",
        actor_user_id=actor_user_id,
        company_id=profile.company_id,
        object_type="payee_profile",
        object_id=profile.id,
        after={
            "name": profile.certified_name,
            "title": profile.certified_title,
            "tin_last4": profile.tin_last4,
            "identity_version": profile.identity_version,
        },
    )
    _changed(profile.company_id)


def attach_w9(
    profile: PayeeProfile, stream: IO[bytes], filename: str, *, actor_user_id: int
) -> None:
    """Keep a signed W-9 PDF with the profile (checked by content and size)."""
    record = storage.save_file(
        stream,
        original_name=filename,
        kind="w9-forms",
        rules=storage.PDF_ONLY,
        company_id=profile.company_id,
        uploaded_by_user_id=actor_user_id,
    )
    db.session.flush()
    profile.w9_file_id = record.id
    audit.record(
        "payees:profile:w9_uploaded",
        actor_user_id=actor_user_id,
        company_id=profile.company_id,
        object_type="payee_profile",
        object_id=profile.id,
        after={"sha256": record.sha256},
    )


# --------------------------------------------------------------------------- bank accounts


@dataclass(frozen=True)
class BankAccountInput:
    holder_name: str
    account_type: AccountType
    routing_number: str
    account_number: str
    account_number_confirm: str


def _external(account: PayeeBankAccount) -> ExternalAccount:
    return ExternalAccount(account.routing_number, account.account_number, account.holder_name)


def add_bank_account(
    company: Company, data: BankAccountInput, *, actor_user_id: int
) -> PayeeBankAccount:
    """Add an account to be paid to: ownership is checked and two micro-deposits are sent
    at once. It receives nothing until it is verified and chosen."""
    _require_payee(company)
    holder = _required(data.holder_name, "holder_name", "Enter the name on the account.", 200)
    routing = validate_routing_number(data.routing_number)
    number = validate_account_number(data.account_number, data.account_number_confirm)
    fingerprint = account_fingerprint(routing, number)
    same = db.session.scalar(
        sa.select(PayeeBankAccount).where(
            PayeeBankAccount.company_id == company.id,
            PayeeBankAccount.account_fingerprint == fingerprint,
            PayeeBankAccount.status != BankAccountStatus.DEACTIVATED,
        )
    )
    if same is not None:
        raise InvalidInput(
            f"That account is already on file (••••{same.account_last4}).",
            field="account_number",
        )
    with tenancy.unscoped():  # the blind index finds it on another payee, decrypting nothing
        elsewhere = db.session.scalars(
            sa.select(PayeeBankAccount).where(
                PayeeBankAccount.account_fingerprint == fingerprint,
                PayeeBankAccount.company_id != company.id,
                PayeeBankAccount.status != BankAccountStatus.DEACTIVATED,
            )
        ).all()
    report_token = secrets.token_urlsafe(32)
    account = PayeeBankAccount(
        company_id=company.id,
        holder_name=holder,
        account_type=data.account_type,
        routing_number=routing,
        account_number=number,
        account_last4=number[-4:],
        account_fingerprint=fingerprint,
        created_by_user_id=actor_user_id,
        shared_with_other_payee=bool(elsewhere),
        freeze_token_hash=hash_token(report_token),
    )
    db.session.add(account)
    db.session.flush()
    for other in elsewhere:
        _flag_shared(other, account)
    bank = gateway()
    answer = bank.check_ownership(_external(account))
    account.ownership_result = OwnershipResult(answer.value)
    account.ownership_checked_at = utcnow()
    # The sandbox bank books the deposits in this transaction; a real partner's request
    # goes through the outbox, after commit (the reference makes a retry harmless).
    bank.send_micro_deposits(account.bank_reference, _external(account))
    account.verification_method = VerificationMethod.MICRO_DEPOSITS
    db.session.add(
        MicroDepositCheck(
            company_id=company.id,
            bank_account_id=account.id,
            expires_at=utcnow() + MICRO_DEPOSIT_LIFETIME,
        )
    )
    db.session.flush()
    audit.record(
        "payees:bank_account:added",
        actor_user_id=actor_user_id,
        company_id=company.id,
        object_type="payee_bank_account",
        object_id=account.id,
        after={
            "holder_name": holder,
            "routing_number": routing,
            "account_last4": account.account_last4,
            "account_type": data.account_type.value,
            "ownership_check": account.ownership_result.value,
            "micro_deposits": "sent",
            "shared_with_other_payee": account.shared_with_other_payee,
        },
    )
    if elsewhere:
        audit.record(
            "payees:bank_account:flagged_shared",
            company_id=company.id,
            object_type="payee_bank_account",
            object_id=account.id,
            after={"account_last4": account.account_last4, "other_payees": len(elsewhere)},
        )
    _notify_admins(company, account, report_token)
    _changed(company.id)
    return account


def _flag_shared(other: PayeeBankAccount, new: PayeeBankAccount) -> None:
    """The account already on another payee is flagged too: either may be the impostor."""
    if not other.shared_with_other_payee or other.operator_cleared_at is not None:
        with tenancy.unscoped():
            db.session.execute(
                sa.update(PayeeBankAccount)
                .where(PayeeBankAccount.id == other.id)
                .values(shared_with_other_payee=True, operator_cleared_at=None)
                .execution_options(synchronize_session=False)
            )
        audit.record(
            "payees:bank_account:flagged_shared",
            company_id=other.company_id,
            object_type="payee_bank_account",
            object_id=other.id,
            after={"account_last4": other.account_last4, "other_payees": 1},
        )
        _changed(other.company_id)


def _notify_admins(company: Company, account: PayeeBankAccount, report_token: str) -> None:
    """Every payee admin hears of a new account, with a one-click report if it was not them."""
    queue_emails(
        role_holder_emails(company.id, Role.PAYEE_ADMIN),
        "payee_bank_account_added",
        company_id=company.id,
        company=company.name,
        account_last4=account.account_last4,
        holder_name=account.holder_name,
        added_at=account.created_at,
        report_url=external_url("payees.show_report", token=report_token),
    )


def _move(
    account: PayeeBankAccount,
    to: BankAccountStatus,
    *,
    unless_changed: tuple[sa.ColumnElement[bool], ...] = (),
    **values: object,
) -> None:
    """Make an allowed move with a compare-and-set: a concurrent move loses, and says so.

    ``unless_changed`` adds conditions the row must still meet (a freeze still in place)."""
    if to not in BANK_ACCOUNT_TRANSITIONS[account.status]:
        raise IllegalTransition(
            f"An account that is {account.status.label.lower()} cannot become {to.label.lower()}."
        )
    _update_unless_changed(
        account, PayeeBankAccount.status == account.status, *unless_changed, status=to, **values
    )


def _update_unless_changed(
    account: PayeeBankAccount, *still: sa.ColumnElement[bool], **values: object
) -> None:
    """Update the account only while it still meets ``still`` (a compare-and-set): of two
    concurrent decisions one wins, and the other is told to look again."""
    if not update_if(account, *still, **values):
        raise IllegalTransition("The account changed meanwhile. Reload the page and look again.")


@dataclass(frozen=True)
class MicroDepositAnswer:
    confirmed: bool
    attempts_left: int
    message: str


def parse_micro_deposit(text: str, field: str) -> int:
    """A micro-deposit amount as cents: ``0.07``, ``.07`` or ``$0.07``; under $1.00."""
    try:
        cents = parse_amount(text, max_cents=99)
    except InvalidAmount as error:
        message = error.message
        if "more than" in message:
            message = "Each micro-deposit is under $1.00: enter it in dollars and cents."
        raise InvalidInput(message, field=field) from error
    return cents


def confirm_micro_deposits(
    account: PayeeBankAccount, first: str, second: str, *, actor_user_id: int
) -> MicroDepositAnswer:
    """Check the two amounts the payee read on its statement.

    The attempt is counted *before* the bank is asked, in one conditional update, so
    concurrent guesses cannot get more than three answers between them. A wrong answer is
    a result, not an error: the caller commits it, so the count stays spent.
    """
    amounts = (parse_micro_deposit(first, "first"), parse_micro_deposit(second, "second"))
    if account.status is BankAccountStatus.VERIFIED:
        raise DomainError("This account is already verified.")
    if account.status is BankAccountStatus.DEACTIVATED:
        raise DomainError("This account is deactivated: add it again to verify it.")
    check = db.session.scalar(
        sa.select(MicroDepositCheck).where(MicroDepositCheck.bank_account_id == account.id)
    )
    if check is None:
        raise DomainError("No micro-deposits were sent to this account.")
    state = check.current_state
    if state is MicroDepositState.CONFIRMED:
        raise DomainError("This account is already verified.")
    if state is MicroDepositState.LOCKED:
        raise DomainError(
            "Verification is locked after three wrong tries. Deactivate this account and add "
            "it again to get new deposits."
        )
    if state is MicroDepositState.EXPIRED:
        raise DomainError(
            "The micro-deposits expired after 10 days. Deactivate this account and add it "
            "again to get new ones."
        )
    counted = db.session.execute(
        sa.update(MicroDepositCheck)
        .where(
            MicroDepositCheck.id == check.id,
            MicroDepositCheck.state == MicroDepositState.AWAITING_AMOUNTS,
            MicroDepositCheck.attempts < MICRO_DEPOSIT_ATTEMPTS,
            MicroDepositCheck.expires_at > utcnow(),
        )
        .values(attempts=MicroDepositCheck.attempts + 1)
        .returning(MicroDepositCheck.attempts)
        .execution_options(synchronize_session=False)
    ).scalar()
    if counted is None:
        raise DomainError("Verification is no longer open for this account. Reload the page.")
    left = MICRO_DEPOSIT_ATTEMPTS - counted
    if gateway().confirm_micro_deposits(account.bank_reference, amounts):
        now = utcnow()
        db.session.execute(
            sa.update(MicroDepositCheck)
            .where(MicroDepositCheck.id == check.id)
            .values(state=MicroDepositState.CONFIRMED, confirmed_at=now)
            .execution_options(synchronize_session=False)
        )
        _move(account, BankAccountStatus.VERIFIED, verified_at=now)
        audit.record(
            "payees:bank_account:verified",
            actor_user_id=actor_user_id,
            company_id=account.company_id,
            object_type="payee_bank_account",
            object_id=account.id,
            after={"method": "micro_deposits", "attempt": counted},
        )
        _withdraw_open_document(
            account, "the account was verified by its micro-deposits", actor_user_id
        )
        _start_receiving_if_first(account, actor_user_id=actor_user_id)
        _changed(account.company_id)
        return MicroDepositAnswer(True, left, "Bank account verified.")
    audit.record(
        "payees:bank_account:verification_attempt_failed",
        actor_user_id=actor_user_id,
        company_id=account.company_id,
        object_type="payee_bank_account",
        object_id=account.id,
        after={"attempt": counted, "attempts_left": left},
    )
    if left == 0:
        db.session.execute(
            sa.update(MicroDepositCheck)
            .where(MicroDepositCheck.id == check.id)
            .values(state=MicroDepositState.LOCKED)
            .execution_options(synchronize_session=False)
        )
        _move(account, BankAccountStatus.VERIFICATION_FAILED)
        audit.record(
            "payees:bank_account:verification_locked",
            actor_user_id=actor_user_id,
            company_id=account.company_id,
            object_type="payee_bank_account",
            object_id=account.id,
        )
        _changed(account.company_id)
        return MicroDepositAnswer(
            False,
            0,
            "Those amounts are not right, and that was the third try: verification is "
            "locked. Deactivate this account and add it again to get new deposits.",
        )
    return MicroDepositAnswer(
        False,
        left,
        f"Those amounts are not right. {left} {'try' if left == 1 else 'tries'} left before "
        "verification locks.",
    )


def _start_receiving_if_first(account: PayeeBankAccount, *, actor_user_id: int) -> None:
    """A payee's first verified account receives its payments at once (later ones are
    chosen by an admin, and each payor approves the change)."""
    if receiving_account(account.company_id) is None:
        _make_receiving(account, actor_user_id=actor_user_id, first=True)


def _make_receiving(account: PayeeBankAccount, *, actor_user_id: int, first: bool) -> None:
    current = receiving_account(account.company_id)
    if current is not None:
        current.receives_payments = False
        db.session.flush()  # one receiving account at any instant (a partial unique index)
    # Only while it is still verified and not reported: a freeze that lands meanwhile wins.
    _update_unless_changed(
        account,
        PayeeBankAccount.status == BankAccountStatus.VERIFIED,
        PayeeBankAccount.frozen_at.is_(None),
        receives_payments=True,
        receiving_since=utcnow(),  # the cooling-off counts from here
    )
    for listener in RECEIVING_CHANGE_LISTENERS:
        listener(account, current)
    audit.record(
        "payees:bank_account:receiving_chosen",
        actor_user_id=actor_user_id,
        company_id=account.company_id,
        object_type="payee_bank_account",
        object_id=account.id,
        before={"account_last4": current.account_last4} if current is not None else None,
        after={"account_last4": account.account_last4, "automatic": first},
    )


def choose_receiving(account: PayeeBankAccount, *, actor_user_id: int) -> None:
    """Make a verified account the one payments go to (payors approve it before paying)."""
    if account.status is not BankAccountStatus.VERIFIED:
        raise DomainError("Only a verified account can receive payments.")
    if account.receives_payments:
        raise DomainError("Payments already go to this account.")
    if account.frozen_at is not None:
        raise DomainError(
            "This account was reported as not yours and is frozen: it cannot receive payments "
            "until a Trestle operator has reviewed it."
        )
    _make_receiving(account, actor_user_id=actor_user_id, first=False)
    _changed(account.company_id)


def find_reported(token: str) -> PayeeBankAccount:
    """The account a notice email's report link names (the link is the authority)."""
    with tenancy.unscoped():
        account = db.session.scalar(
            sa.select(PayeeBankAccount).where(
                PayeeBankAccount.freeze_token_hash == hash_token(token)
            )
        )
    if account is None:
        raise NotFound("This report link is not valid. Sign in and look at your bank accounts.")
    return account


def freeze_reported(token: str) -> PayeeBankAccount:
    """ "This was not me": freeze the account at once. No payment goes to it until a
    Trestle operator has reviewed it; the payee's admins and the operator are told."""
    account = find_reported(token)
    if account.frozen_at is not None:
        return account
    with tenancy.unscoped():
        db.session.execute(
            sa.update(PayeeBankAccount)
            .where(PayeeBankAccount.id == account.id, PayeeBankAccount.frozen_at.is_(None))
            .values(frozen_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        db.session.refresh(account)
    audit.record(
        "payees:bank_account:frozen",
        company_id=account.company_id,
        object_type="payee_bank_account",
        object_id=account.id,
        after={"account_last4": account.account_last4, "reported_from": "notice email"},
    )
    _tell_operators_of_freeze(account)
    _tell_admins_of_freeze(account)
    _changed(account.company_id)
    return account


def _tell_admins_of_freeze(account: PayeeBankAccount) -> None:
    """Every admin of the payee hears that the account was reported and frozen: one of them
    reported it, and another may be the one who added it."""
    with tenancy.unscoped():
        queue_emails(
            role_holder_emails(account.company_id, Role.PAYEE_ADMIN),
            "payee_bank_account_frozen",
            company_id=account.company_id,
            account_last4=account.account_last4,
            receives_payments=account.receives_payments,
            url=external_url("payees.show_bank_account", account_id=account.id),
        )


def _tell_operators_of_freeze(account: PayeeBankAccount) -> None:
    """Every Trestle operator hears of a freeze at once, with the account's review page."""
    with tenancy.unscoped():
        payee = db.session.get(Company, account.company_id)
        queue_emails(
            operator_emails(),
            "operator_bank_account_frozen",
            payee=payee.name,
            account_last4=account.account_last4,
            holder_name=account.holder_name,
            added_at=account.created_at,
            frozen_at=account.frozen_at,
            receives_payments=account.receives_payments,
            review_url=external_url("operations.show_bank_review", account_id=account.id),
        )


def deactivate(account: PayeeBankAccount, *, actor_user_id: int) -> None:
    """Stop using an account for good (its numbers stay on file for the record)."""
    if account.receives_payments:
        raise DomainError(
            "Payments go to this account. Verify another account and choose it to receive "
            "payments first."
        )
    _move(account, BankAccountStatus.DEACTIVATED, deactivated_at=utcnow())
    audit.record(
        "payees:bank_account:deactivated",
        actor_user_id=actor_user_id,
        company_id=account.company_id,
        object_type="payee_bank_account",
        object_id=account.id,
        before={"account_last4": account.account_last4},
    )
    _withdraw_open_document(account, "the account was deactivated", actor_user_id)
    _changed(account.company_id)


# --------------------------------------------------------------------------- document fallback

# Accounts a document may prove: not yet verified, or whose micro-deposits failed.
DOCUMENT_ALLOWED_FROM = frozenset(
    {BankAccountStatus.PENDING_VERIFICATION, BankAccountStatus.VERIFICATION_FAILED}
)
MAX_NOTE_LENGTH = 2000


def accepts_document(account: PayeeBankAccount) -> bool:
    """Whether the account's state lets the payee prove it by a document (not verified,
    not deactivated, not frozen); one waits for review at a time, see ``open_document``."""
    return account.status in DOCUMENT_ALLOWED_FROM and account.frozen_at is None


def submit_document(
    account: PayeeBankAccount,
    kind: DocumentKind,
    stream: IO[bytes],
    filename: str,
    *,
    actor_user_id: int,
) -> BankAccountDocument:
    """Prove an account with a bank letter or a voided check (PDF, PNG or JPEG, checked by
    content and size) instead of micro-deposits; a Trestle operator reviews it."""
    if account.status is BankAccountStatus.VERIFIED:
        raise DomainError("This account is already verified: it needs no document.")
    if account.status not in DOCUMENT_ALLOWED_FROM:
        raise DomainError("This account is deactivated. Add it again to verify it.")
    if account.frozen_at is not None:
        raise DomainError(
            "This account is frozen: someone at your company reported it. A Trestle operator "
            "reviews it before anything else can happen to it."
        )
    if open_document(account.id) is not None:
        raise DomainError(
            "A document for this account is already waiting for review. You can send another "
            "if a Trestle operator rejects it."
        )
    # Read once, within the size limit (and one byte over, so storage can say it is too
    # big); images must parse as well as start right, PDFs are checked as W-9s are.
    data = stream.read(storage.DOCUMENTS.max_bytes + 1)
    if 0 < len(data) <= storage.DOCUMENTS.max_bytes:
        uploads.check_image(storage.sniff_content_type(data[:16]) or "", data)
    record = storage.save_file(
        io.BytesIO(data),
        original_name=filename,
        kind="bank-documents",
        rules=storage.DOCUMENTS,
        company_id=account.company_id,
        uploaded_by_user_id=actor_user_id,
    )
    db.session.flush()
    document = BankAccountDocument(
        company_id=account.company_id,
        account_id=account.id,
        kind=kind,
        file_id=record.id,
        uploaded_by_user_id=actor_user_id,
    )
    db.session.add(document)
    db.session.flush()  # a second open document fails here (a partial unique index)
    audit.record(
        "payees:bank_document:submitted",
        actor_user_id=actor_user_id,
        company_id=account.company_id,
        object_type="payee_bank_account",
        object_id=account.id,
        after={
            "document_id": document.id,
            "kind": kind.value,
            "account_last4": account.account_last4,
            # Not the file's name: scans are often named after the account number.
            "sha256": record.sha256,
        },
    )
    return document


def _close_document(
    document: BankAccountDocument,
    to: DocumentState,
    *,
    actor_user_id: int | None,
    **values: object,
) -> None:
    """Close an open document with a compare-and-set: of two decisions, one wins."""
    if to not in DOCUMENT_TRANSITIONS[document.state]:
        raise IllegalTransition(
            f"This document is already {document.state.label.lower()}: nothing was changed."
        )
    if not update_if(
        document,
        BankAccountDocument.state == document.state,
        state=to,
        reviewed_at=utcnow(),
        reviewed_by_user_id=actor_user_id,
        **values,
    ):
        raise IllegalTransition(
            "Someone decided on this document meanwhile. Reload the page to see what they did."
        )


def _withdraw_open_document(
    account: PayeeBankAccount, because: str, actor_user_id: int | None
) -> None:
    """The document waiting for review is no longer needed: close it unreviewed."""
    document = open_document(account.id)
    if document is None:
        return
    try:
        _close_document(document, DocumentState.WITHDRAWN, actor_user_id=actor_user_id)
    except IllegalTransition:
        return  # an operator decided on it meanwhile: there is nothing left to withdraw
    audit.record(
        "payees:bank_document:withdrawn",
        actor_user_id=actor_user_id,
        company_id=account.company_id,
        object_type="payee_bank_account",
        object_id=account.id,
        after={
            "document_id": document.id,
            "kind": document.kind.value,
            "account_last4": account.account_last4,
            "because": because,
        },
    )


def _note(text: str | None, message: str, field: str = "note") -> str:
    note = clean_text(text or "").strip()
    if not note:
        raise InvalidInput(message, field=field)
    if len(note) > MAX_NOTE_LENGTH:
        raise InvalidInput(f"Keep it under {MAX_NOTE_LENGTH:,} characters.", field=field)
    return note


def _open_document_of(account: PayeeBankAccount, document: BankAccountDocument) -> None:
    """Refuse a decision on another account's document, or on one already decided."""
    if document.account_id != account.id:
        raise NotFound("No such document for this account.")
    if document.state is not DocumentState.SUBMITTED:
        raise IllegalTransition(
            f"This document is already {document.state.label.lower()}: nothing was changed."
        )


# --------------------------------------------------------------------------- operator review
#
# A Trestle operator's decisions on a payee's bank account. The operator console calls them
# across companies (unscoped); each is a compare-and-set, audited on the payee's history,
# and tells the payee listeners so every payor's onboarding status follows.


def approve_document(
    account: PayeeBankAccount, document: BankAccountDocument, *, actor_user_id: int
) -> None:
    """The document proves the account: it is verified, and receives payments if the payee
    had no receiving account yet (as after micro-deposits)."""
    _open_document_of(account, document)
    if account.frozen_at is not None:
        raise DomainError(
            "The account is frozen: unfreeze it once the payee confirms it is theirs, then "
            "approve its document."
        )
    if account.status not in DOCUMENT_ALLOWED_FROM:
        raise DomainError(
            f"The account is {account.status.label.lower()}: a document cannot verify it."
        )
    _close_document(document, DocumentState.APPROVED, actor_user_id=actor_user_id)
    _move(
        account,
        BankAccountStatus.VERIFIED,
        # A freeze reported while the operator looked keeps it from being verified.
        unless_changed=(PayeeBankAccount.frozen_at.is_(None),),
        verified_at=utcnow(),
        verification_method=VerificationMethod.DOCUMENT,
    )
    audit.record(
        "payees:bank_document:approved",
        actor_user_id=actor_user_id,
        company_id=account.company_id,
        object_type="payee_bank_account",
        object_id=account.id,
        after={
            "document_id": document.id,
            "kind": document.kind.value,
            "account_last4": account.account_last4,
            "method": VerificationMethod.DOCUMENT.value,
        },
    )
    _start_receiving_if_first(account, actor_user_id=actor_user_id)
    _changed(account.company_id)


def reject_document(
    account: PayeeBankAccount,
    document: BankAccountDocument,
    reason: str | None,
    *,
    actor_user_id: int,
) -> None:
    """The document does not prove the account: the payee's admins are told why and may
    send another. The account itself is unchanged."""
    _open_document_of(account, document)
    text = _note(reason, "Say why the document does not prove the account.", "reason")
    _close_document(
        document, DocumentState.REJECTED, actor_user_id=actor_user_id, rejection_reason=text
    )
    audit.record(
        "payees:bank_document:rejected",
        actor_user_id=actor_user_id,
        company_id=account.company_id,
        object_type="payee_bank_account",
        object_id=account.id,
        after={
            "document_id": document.id,
            "kind": document.kind.value,
            "account_last4": account.account_last4,
            "reason": text[:500],
        },
    )
    payee = db.session.get(Company, account.company_id)
    queue_emails(
        role_holder_emails(account.company_id, Role.PAYEE_ADMIN),
        "payee_bank_document_rejected",
        company_id=account.company_id,
        company=payee.name,
        kind=document.kind_label.lower(),
        account_last4=account.account_last4,
        reason=text,
        url=external_url("payees.show_bank_account", account_id=account.id),
    )
    _changed(account.company_id)


def read_document(
    account: PayeeBankAccount, document: BankAccountDocument, *, actor_user_id: int
) -> tuple[StoredFile, IO[bytes]]:
    """An operator opens a document the payee sent (it shows bank details): audited."""
    record = document_file(document)
    audit.record(
        "payees:bank_document:downloaded",
        actor_user_id=actor_user_id,
        company_id=account.company_id,
        object_type="payee_bank_account",
        object_id=account.id,
        after={"document_id": document.id, "kind": document.kind.value},
    )
    return record, storage.open_file(record)


def clear_review_flag(account: PayeeBankAccount, note: str | None, *, actor_user_id: int) -> None:
    """An operator looked into a no-match or shared account and found it in order: payors
    may approve it. A later match on another payee flags it again."""
    text = _note(note, "Write what you checked, and with whom.")
    if not account.needs_operator_review:
        raise DomainError("This account has nothing for an operator to clear.")
    if account.status is BankAccountStatus.DEACTIVATED:
        raise DomainError("The account is deactivated: it needs no review.")
    flagged = sa.or_(
        PayeeBankAccount.ownership_result == OwnershipResult.NO_MATCH,
        PayeeBankAccount.shared_with_other_payee,
    )
    _update_unless_changed(
        account,
        PayeeBankAccount.operator_cleared_at.is_(None),
        PayeeBankAccount.status != BankAccountStatus.DEACTIVATED,
        flagged,
        operator_cleared_at=utcnow(),
        operator_cleared_by_user_id=actor_user_id,
        operator_cleared_note=text,
    )
    audit.record(
        "payees:bank_account:review_cleared",
        actor_user_id=actor_user_id,
        company_id=account.company_id,
        object_type="payee_bank_account",
        object_id=account.id,
        after={
            "account_last4": account.account_last4,
            "ownership_check": account.ownership_result.value if account.ownership_result else None,
            "shared_with_other_payee": account.shared_with_other_payee,
            "other_payees": len(other_payees_sharing(account)),
            "note": text[:500],
        },
    )
    _changed(account.company_id)


def unfreeze(account: PayeeBankAccount, note: str | None, *, actor_user_id: int) -> None:
    """The operator confirmed with the payee that the reported account is theirs after all."""
    text = _note(note, "Write how the payee confirmed the account is theirs.")
    if account.frozen_at is None:
        raise DomainError("This account is not frozen.")
    if account.status is BankAccountStatus.DEACTIVATED:
        raise DomainError("The account is deactivated: it stays frozen for the record.")
    frozen_at = account.frozen_at
    _update_unless_changed(
        account,
        PayeeBankAccount.frozen_at.is_not(None),
        PayeeBankAccount.status != BankAccountStatus.DEACTIVATED,
        frozen_at=None,
    )
    audit.record(
        "payees:bank_account:unfrozen",
        actor_user_id=actor_user_id,
        company_id=account.company_id,
        object_type="payee_bank_account",
        object_id=account.id,
        before={"frozen_at": frozen_at.isoformat()},
        after={"account_last4": account.account_last4, "note": text[:500]},
    )
    _changed(account.company_id)


def deactivate_frozen(account: PayeeBankAccount, note: str | None, *, actor_user_id: int) -> None:
    """The reported account was not the payee's: it stays frozen and is deactivated for good.
    If payments went to it they stop; the payee's admins are told to add their real one."""
    text = _note(note, "Write what you found, for the record.")
    if account.frozen_at is None:
        raise DomainError("Only a frozen account is deactivated here.")
    was_receiving = account.receives_payments
    _move(
        account,
        BankAccountStatus.DEACTIVATED,
        unless_changed=(PayeeBankAccount.frozen_at.is_not(None),),
        deactivated_at=utcnow(),
        receives_payments=False,
    )
    audit.record(
        "payees:bank_account:deactivated_frozen",
        actor_user_id=actor_user_id,
        company_id=account.company_id,
        object_type="payee_bank_account",
        object_id=account.id,
        before={"account_last4": account.account_last4, "receives_payments": was_receiving},
        after={"note": text[:500]},
    )
    _withdraw_open_document(account, "the account was deactivated", actor_user_id)
    payee = db.session.get(Company, account.company_id)
    queue_emails(
        role_holder_emails(account.company_id, Role.PAYEE_ADMIN),
        "payee_bank_account_deactivated",
        company_id=account.company_id,
        company=payee.name,
        account_last4=account.account_last4,
        was_receiving=was_receiving,
        url=external_url("payees.list_bank_accounts"),
    )
    _changed(account.company_id)
