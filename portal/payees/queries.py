"""Read helpers for a payee's profile and bank accounts, and for the operators' review of
flagged accounts (across payees)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from portal.accounts.models import User
from portal.companies.models import Company
from portal.core import tenancy
from portal.core.db import db
from portal.core.errors import NotFound
from portal.core.models import AuditEvent, StoredFile
from portal.core.tables import Column, TablePage, TableState, matches_text, paginate
from portal.payees.models import (
    BankAccountDocument,
    BankAccountStatus,
    DocumentState,
    MicroDepositCheck,
    OwnershipResult,
    PayeeBankAccount,
    PayeeProfile,
    ReviewReason,
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
        raise NotFound("No such bank account.")
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


def open_document(account_id: int) -> BankAccountDocument | None:
    """The account's document waiting for an operator's review, if any."""
    return db.session.scalar(
        sa.select(BankAccountDocument).where(
            BankAccountDocument.account_id == account_id,
            BankAccountDocument.state == DocumentState.SUBMITTED,
        )
    )


@dataclass(frozen=True)
class DocumentHistory:
    """The documents sent for one account: the one waiting for review, and the rest."""

    documents: list[BankAccountDocument]  # newest first

    @property
    def open(self) -> BankAccountDocument | None:
        return next((d for d in self.documents if d.state is DocumentState.SUBMITTED), None)

    @property
    def closed(self) -> list[BankAccountDocument]:
        return [d for d in self.documents if d.state is not DocumentState.SUBMITTED]

    @property
    def last_rejected(self) -> BankAccountDocument | None:
        """The newest document, when it was rejected (the payee is told how to try again)."""
        latest = self.documents[0] if self.documents else None
        return latest if latest is not None and latest.state is DocumentState.REJECTED else None

    def people(self) -> set[int]:
        return {
            user_id
            for d in self.documents
            for user_id in (d.uploaded_by_user_id, d.reviewed_by_user_id)
            if user_id is not None
        }


def documents_of(account_id: int) -> DocumentHistory:
    """Every document sent for the account, newest first."""
    return DocumentHistory(
        list(
            db.session.scalars(
                sa.select(BankAccountDocument)
                .where(BankAccountDocument.account_id == account_id)
                .order_by(BankAccountDocument.uploaded_at.desc(), BankAccountDocument.id.desc())
            )
        )
    )


def awaiting_review(company_id: int) -> set[int]:
    """The company's accounts with a document waiting for review (for its list page)."""
    return set(
        db.session.scalars(
            sa.select(BankAccountDocument.account_id).where(
                BankAccountDocument.company_id == company_id,
                BankAccountDocument.state == DocumentState.SUBMITTED,
            )
        )
    )


# --------------------------------------------------------------------------- operator review
# Operators work across payees: the callers run these unscoped.


@dataclass(frozen=True)
class SharingPayee:
    """Another payee that has the same routing and account number on file."""

    company_name: str
    account: PayeeBankAccount


def other_payees_sharing(account: PayeeBankAccount) -> list[SharingPayee]:
    """Other payees' live accounts with the same blind index (nothing is decrypted)."""
    with tenancy.unscoped():
        rows = db.session.execute(
            sa.select(Company.name, PayeeBankAccount)
            .join(Company, Company.id == PayeeBankAccount.company_id)
            .where(
                PayeeBankAccount.account_fingerprint == account.account_fingerprint,
                PayeeBankAccount.company_id != account.company_id,
                PayeeBankAccount.status != BankAccountStatus.DEACTIVATED,
            )
            .order_by(sa.func.lower(Company.name), PayeeBankAccount.id)
        ).all()
    return [SharingPayee(name, other) for name, other in rows]


_FLAGGED = sa.and_(
    sa.or_(
        PayeeBankAccount.ownership_result == OwnershipResult.NO_MATCH,
        PayeeBankAccount.shared_with_other_payee,
    ),
    PayeeBankAccount.operator_cleared_at.is_(None),
)
_FROZEN = PayeeBankAccount.frozen_at.is_not(None)

REVIEW_COLUMNS = (
    Column("payee", "Payee", sortable=True),
    Column("account", "Account"),
    Column("reasons", "Needs"),
    Column("status", "Status"),
    Column("since", "Waiting since", sortable=True),
)
# The queue's filter: what brought the account here.
REVIEW_FILTERS = {
    "document": "Document to review",
    "flagged": "Name does not match, or shared",
    "frozen": "Frozen",
}


@dataclass(frozen=True)
class ReviewRow:
    account: PayeeBankAccount
    payee_name: str
    document: BankAccountDocument | None
    reasons: list[ReviewReason]

    @property
    def since(self) -> datetime:
        """Since when the most urgent reason waits (the queue's order)."""
        if self.account.frozen_at is not None:
            return self.account.frozen_at
        if self.document is not None:
            return self.document.uploaded_at
        return self.account.created_at


def review_reasons(
    account: PayeeBankAccount, document: BankAccountDocument | None
) -> list[ReviewReason]:
    """Why the account waits for an operator, the most urgent first."""
    reasons = []
    if account.frozen_at is not None and account.status is not BankAccountStatus.DEACTIVATED:
        reasons.append(ReviewReason.FROZEN)
    if document is not None and document.state is DocumentState.SUBMITTED:
        reasons.append(ReviewReason.DOCUMENT)
    if account.needs_operator_review and account.status is not BankAccountStatus.DEACTIVATED:
        if account.ownership_result is OwnershipResult.NO_MATCH:
            reasons.append(ReviewReason.NO_MATCH)
        if account.shared_with_other_payee:
            reasons.append(ReviewReason.SHARED)
    return reasons


def review_list_state(args) -> TableState:
    return TableState.from_args(
        args, columns=REVIEW_COLUMNS, default_sort="since", filters=("q", "reason")
    )


def review_table(state: TableState) -> TablePage:
    """One page of the accounts waiting for an operator: a document to review, a no-match
    or shared account, a freeze; the longest waiting first (one count, one page query)."""
    document = aliased(BankAccountDocument)
    has_document = document.id.is_not(None)
    stmt = (
        sa.select(PayeeBankAccount, Company.name, document)
        .join(Company, Company.id == PayeeBankAccount.company_id)
        .outerjoin(
            document,
            sa.and_(
                document.account_id == PayeeBankAccount.id,
                document.state == DocumentState.SUBMITTED,
            ),
        )
        .where(PayeeBankAccount.status != BankAccountStatus.DEACTIVATED)
    )
    wanted = {"document": has_document, "flagged": _FLAGGED, "frozen": _FROZEN}
    reason = state.filter("reason")
    stmt = stmt.where(wanted[reason] if reason in wanted else sa.or_(*wanted.values()))
    stmt = stmt.where(
        matches_text(
            state.filter("q"),
            Company.name,
            PayeeBankAccount.holder_name,
            PayeeBankAccount.account_last4,
        )
    )
    # A freeze is the most urgent, then a document, then a flag raised when it was added.
    since = sa.case(
        (_FROZEN, PayeeBankAccount.frozen_at),
        (has_document, document.uploaded_at),
        else_=PayeeBankAccount.created_at,
    )
    with tenancy.unscoped():
        page = paginate(
            stmt,
            state,
            {"payee": sa.func.lower(Company.name), "since": since},
            tiebreak=PayeeBankAccount.id,
        )
    return dataclasses.replace(
        page,
        rows=[
            ReviewRow(account, name, doc, review_reasons(account, doc))
            for account, name, doc in page.rows
        ],
    )


def payee_of(account: PayeeBankAccount) -> Company:
    """The payee company an account belongs to (for an operator's pages)."""
    with tenancy.unscoped():
        return db.session.get(Company, account.company_id)


def review_account(account_id: int) -> PayeeBankAccount:
    """Any payee's bank account, for an operator; 404 when there is none."""
    with tenancy.unscoped():
        account = db.session.get(PayeeBankAccount, account_id)
    if account is None:
        raise NotFound("No such bank account.")
    return account


def account_document(account_id: int, document_id: int) -> BankAccountDocument:
    """One document of the account, or 404."""
    document = db.session.scalar(
        sa.select(BankAccountDocument).where(
            BankAccountDocument.id == document_id,
            BankAccountDocument.account_id == account_id,
        )
    )
    if document is None:
        raise NotFound("No such document.")
    return document


def document_file(document: BankAccountDocument) -> StoredFile:
    record = db.session.get(StoredFile, document.file_id)
    if record is None:
        raise NotFound("The document's file is missing.")
    return record


def user_names(user_ids) -> dict[int, str]:
    """Names of the people who uploaded or decided, in one statement."""
    ids = {i for i in user_ids if i is not None}
    if not ids:
        return {}
    return dict(db.session.execute(sa.select(User.id, User.name).where(User.id.in_(ids))).all())


def account_events(company_id: int, account_id: int, limit: int = 50) -> list[AuditEvent]:
    """What happened to the account, newest first (its adding, checks and decisions); the
    company narrows the search to the payee's own events (an index)."""
    return list(
        db.session.scalars(
            sa.select(AuditEvent)
            .where(
                AuditEvent.company_id == company_id,
                AuditEvent.object_type == "payee_bank_account",
                AuditEvent.object_id == str(account_id),
            )
            .order_by(AuditEvent.id.desc())
            .limit(limit)
        )
    )
