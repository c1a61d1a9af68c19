"""Lien waivers: generated when an invoice is submitted, regenerated when its amount changes,
signed once by the payee's invoice contact, and verifiable by anyone holding the document.
Callers commit."""

from __future__ import annotations

import csv
import hashlib
import io
import secrets
import zipfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from pypdf import PdfReader, PdfWriter
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.units import inch
from reportlab.pdfgen import canvas

from portal.accounts.models import User
from portal.accounts.services import hash_token
from portal.companies import queries as companies
from portal.companies.models import Company, Feature, Role
from portal.core import audit, ratelimit, storage, tenancy
from portal.core.db import db, update_if, utcnow
from portal.core.errors import DomainError, InvalidInput, NotAllowed, NotFound
from portal.core.money import format_cents
from portal.core.text import clean_text, one_line, safe_cell
from portal.core.urls import external_url
from portal.invoicing import queries as invoicing_queries
from portal.invoicing import services as invoicing
from portal.invoicing.models import BillingType, CommitmentContact, Invoice, InvoiceStatus
from portal.notifications.services import queue_emails
from portal.waivers import forms, pdf
from portal.waivers.forms import WaiverKind
from portal.waivers.models import (
    CONSENT_TEXT,
    CONSENT_VERSION,
    DELEGATION_LIFETIME_DAYS,
    ESCROW_REFUSED_STATES,
    LienWaiver,
    WaiverAuthorization,
    WaiverDelegation,
    WaiverFlow,
    WaiverSettings,
    WaiverStatus,
)


def kind_for(invoice: Invoice) -> WaiverKind:
    """The conditional waiver an invoice's payment asks for: final for the payment that
    ends the commitment (a retainage release, or a final bill that holds nothing back),
    progress otherwise (a final bill with retainage still held is not the last payment)."""
    last = invoice.billing_type is BillingType.RETAINAGE_RELEASE or (
        invoice.billing_type is BillingType.FINAL
        and invoice.retainage_completed_cents + invoice.retainage_stored_cents == 0
    )
    return WaiverKind.CONDITIONAL_FINAL if last else WaiverKind.CONDITIONAL_PROGRESS


def flow_of(company_id: int) -> WaiverFlow:
    with tenancy.unscoped():  # a payee's view reads its payor's flow
        return (
            db.session.scalar(
                sa.select(WaiverSettings.flow).where(WaiverSettings.company_id == company_id)
            )
            or WaiverFlow.SETTLEMENT
        )


def set_flow(payor: Company, flow: WaiverFlow, *, actor_user_id: int) -> bool:
    """Choose how the payor collects waivers (for invoices submitted from now on); return
    whether it changed."""
    row = db.session.scalar(sa.select(WaiverSettings).where(WaiverSettings.company_id == payor.id))
    before = row.flow if row is not None else WaiverFlow.SETTLEMENT
    if before is flow:
        return False
    if row is None:
        row = WaiverSettings(company_id=payor.id)
        db.session.add(row)
    row.flow, row.updated_at, row.updated_by_user_id = flow, utcnow(), actor_user_id
    db.session.flush()
    audit.record(
        "waivers:settings:flow_changed",
        actor_user_id=actor_user_id,
        company_id=payor.id,
        object_type="waiver_settings",
        object_id=row.id,
        before={"flow": before.label},
        after={"flow": flow.label},
    )
    return True


def escrows(invoice: Invoice) -> bool:
    """Whether the invoice's waiver follows the escrow flow: the payor chose it, and the
    project is not in a state that forbids it (Texas, Prop. Code § 53.283)."""
    return (
        flow_of(invoice.company_id) is WaiverFlow.ESCROW
        and invoice.commitment.project.region not in ESCROW_REFUSED_STATES
    )


def facts_for(invoice: Invoice) -> dict[str, str]:
    """What the waiver's blanks say, from the invoice, its commitment and its project."""
    commitment = invoice.commitment
    project = commitment.project
    with tenancy.unscoped():  # both companies' names print on the form, whoever asks
        payor = db.session.get(Company, invoice.company_id)
        payee = db.session.get(Company, invoice.payee_company_id)
    return {
        "claimant": payee.name,
        "customer": payor.name,
        "owner": project.owner_name,
        "project": project.name,
        "job_number": project.number,
        "job_location": (
            f"{project.address_line1}, {project.city}, {project.region} {project.postal_code}"
        ),
        "job_description": f"{commitment.number} {commitment.title}",
        "city": project.city,
        "through_date": f"{invoice.billing_period.ends_on:%B %-d, %Y}",
        "maker": payor.name,
        "amount": format_cents(invoice.current_due_cents).removeprefix("$"),
        "payable_to": payee.name,
    }


def _current(invoice_id: int, kind: WaiverKind) -> LienWaiver | None:
    return db.session.scalar(
        sa.select(LienWaiver).where(
            LienWaiver.invoice_id == invoice_id,
            LienWaiver.kind == kind,
            LienWaiver.status != WaiverStatus.SUPERSEDED,
        )
    )


def generate_for(invoice: Invoice, *, actor_user_id: int | None) -> LienWaiver | None:
    """The invoice's conditional waiver for its current payment due: kept when it already
    says that, else a new one (the old superseded: a new amount needs a new signature), and
    its invoice contacts emailed. None when the payor does not use lien waivers."""
    if not companies.feature_enabled(invoice.company_id, Feature.LIEN_WAIVERS):
        return None
    escrowed = escrows(invoice)
    kind = UNCONDITIONAL[kind_for(invoice)] if escrowed else kind_for(invoice)
    project = invoice.commitment.project
    form = forms.form_for(project.region, kind)
    facts = facts_for(invoice)
    current = _current(invoice.id, kind)
    if (
        current is not None
        and current.amount_cents == invoice.current_due_cents
        and current.form_key == form.key
        and current.facts == facts
    ):
        return current
    now = utcnow()
    if current is not None:
        if not update_if(
            current,
            LienWaiver.status == current.status,
            status=WaiverStatus.SUPERSEDED,
            superseded_at=now,
        ):
            raise DomainError("This invoice's waiver changed meanwhile; try again.")
        db.session.flush()
    waiver = _new_waiver(
        invoice,
        form,
        facts,
        kind=kind,
        amount_cents=invoice.current_due_cents,
        name=f"waiver-{commitment_number(invoice)}-{invoice.number}.pdf",
        through_date=invoice.billing_period.ends_on if not kind.final else None,
        created_at=now,
        escrowed=escrowed,
    )
    audit.record(
        "waivers:waiver:generated",
        actor_user_id=actor_user_id,
        company_id=invoice.company_id,
        object_type="lien_waiver",
        object_id=waiver.id,
        after={
            "kind": kind.label,
            "form": form.key,
            "amount": format_cents(waiver.amount_cents),
            "commitment": invoice.commitment.number,
            "number": invoice.number,
            "supersedes": current.id if current is not None else None,
        },
    )
    contacts = invoicing_queries.contact_emails(invoice.commitment_id)
    with tenancy.unscoped():
        payor = db.session.get(Company, invoice.company_id)
    queue_emails(
        contacts,
        "waiver_to_sign",
        company_id=invoice.payee_company_id,
        payor=payor.name,
        kind=kind.label.lower(),
        amount=format_cents(waiver.amount_cents),
        commitment=f"{invoice.commitment.number} · {invoice.commitment.title}",
        number=invoice.number,
        again=current is not None,
        url=external_url("waivers.show_waiver", waiver_id=waiver.id),
    )
    return waiver


REGENERATE_INTERVAL = timedelta(minutes=5)


def regenerate(invoice: Invoice, *, actor_user_id: int) -> tuple[LienWaiver, bool]:
    """Make the invoice's waiver again from today's facts (a corrected owner or address);
    return it and whether it changed. At most once per five minutes per invoice."""
    if invoice.status is InvoiceStatus.DRAFT:
        raise DomainError("A draft invoice has no waiver yet: it is made when it is submitted.")
    if not companies.feature_enabled(invoice.company_id, Feature.LIEN_WAIVERS):
        raise DomainError("The general contractor does not collect lien waivers.")
    latest = db.session.scalar(
        sa.select(sa.func.max(LienWaiver.created_at)).where(LienWaiver.invoice_id == invoice.id)
    )
    now = utcnow()
    if latest is not None:
        latest = latest if latest.tzinfo else latest.replace(tzinfo=UTC)
        if now - latest < REGENERATE_INTERVAL:
            raise DomainError(
                f"This invoice's waiver was made at {latest:%H:%M} UTC; make it again after "
                f"{latest + REGENERATE_INTERVAL:%H:%M} UTC."
            )
    before = _current(invoice.id, kind_for(invoice))
    waiver = generate_for(invoice, actor_user_id=actor_user_id)
    return waiver, before is None or waiver.id != before.id


def _new_waiver(
    invoice: Invoice,
    form: forms.StatutoryForm,
    facts: dict[str, str],
    *,
    kind: WaiverKind,
    amount_cents: int,
    name: str,
    **columns,
) -> LienWaiver:
    """A new waiver of the invoice on ``form``: its PDF rendered and kept under waivers/."""
    public_id = secrets.token_hex(10)
    record = storage.keep_bytes(
        pdf.render(form, facts, reference=public_id),
        original_name=name,
        kind="waivers",
        content_type="application/pdf",
        extension=".pdf",
        company_id=invoice.payee_company_id,
    )
    project = invoice.commitment.project
    waiver = LienWaiver(
        public_id=public_id,
        company_id=invoice.company_id,
        payee_company_id=invoice.payee_company_id,
        project_id=project.id,
        commitment_id=invoice.commitment_id,
        invoice_id=invoice.id,
        kind=kind,
        form_key=form.key,
        state=project.region,
        amount_cents=amount_cents,
        facts=facts,
        file=record,
        **columns,
    )
    db.session.add(waiver)
    db.session.flush()
    return waiver


def commitment_number(invoice: Invoice) -> str:
    return "".join(c if c.isalnum() or c == "-" else "-" for c in invoice.commitment.number)


@invoicing.invoice_submitted.connect
def _on_submitted(invoice: Invoice, *, actor_user_id: int | None) -> None:
    generate_for(invoice, actor_user_id=actor_user_id)


# --------------------------------------------------------------------------- settlement

UNCONDITIONAL = {
    WaiverKind.CONDITIONAL_PROGRESS: WaiverKind.UNCONDITIONAL_PROGRESS,
    WaiverKind.CONDITIONAL_FINAL: WaiverKind.UNCONDITIONAL_FINAL,
}


def settled(
    invoice: Invoice,
    *,
    amount_cents: int,
    paid_on: date,
    reference: str,
    actor_user_id: int | None = None,
) -> LienWaiver | None:
    """A payment of the invoice settled (the payments side calls this when the bank confirms
    it): make the unconditional waiver for the amount received, from the invoice's
    conditional one, with the evidence of payment, and ask the invoice contacts to sign it.
    Safe to call twice for one payment (its reference names it). None without waivers."""
    if not companies.feature_enabled(invoice.company_id, Feature.LIEN_WAIVERS):
        return None
    held = db.session.scalar(
        sa.select(LienWaiver).where(
            LienWaiver.invoice_id == invoice.id,
            LienWaiver.escrowed.is_(True),
            LienWaiver.status == WaiverStatus.SIGNED,
        )
    )
    if held is not None:
        # The escrow flow: the waiver was signed up front; paid in full, it is released.
        if amount_cents >= held.amount_cents and held.released_at is None:
            _release(held, why="paid in full", actor_user_id=actor_user_id)
        return held
    reference = one_line(clean_text(reference or ""))
    if not reference or len(reference) > 100:
        raise InvalidInput("A settled payment has a bank reference (at most 100 characters).")
    if not 0 < amount_cents <= invoice.current_due_cents:
        raise InvalidInput(
            f"A payment of {format_cents(amount_cents)} does not fit this invoice "
            f"({format_cents(invoice.current_due_cents)} due)."
        )
    conditional_kind = kind_for(invoice)
    kind = UNCONDITIONAL[conditional_kind]
    existing = db.session.scalar(
        sa.select(LienWaiver).where(
            LienWaiver.invoice_id == invoice.id,
            LienWaiver.kind == kind,
            LienWaiver.payment_reference == reference,
            LienWaiver.status != WaiverStatus.SUPERSEDED,
        )
    )
    if existing is not None:
        return existing
    conditional = _current(invoice.id, conditional_kind)
    project = invoice.commitment.project
    form = forms.form_for(project.region, kind)
    facts = {**facts_for(invoice), "amount": format_cents(amount_cents).removeprefix("$")}
    waiver = _new_waiver(
        invoice,
        form,
        facts,
        kind=kind,
        amount_cents=amount_cents,
        name=f"unconditional-waiver-{commitment_number(invoice)}-{invoice.number}.pdf",
        through_date=conditional.through_date if conditional is not None else None,
        payment_reference=reference,
        paid_on=paid_on,
    )
    audit.record(
        "waivers:waiver:settled",
        actor_user_id=actor_user_id,
        company_id=invoice.company_id,
        object_type="lien_waiver",
        object_id=waiver.id,
        after={
            "kind": kind.label,
            "form": form.key,
            "amount": format_cents(amount_cents),
            "paid_on": paid_on.isoformat(),
            "reference": reference,
            "commitment": invoice.commitment.number,
            "number": invoice.number,
            "conditional": conditional.id if conditional is not None else None,
        },
    )
    standing = authorization_of(invoice.payee_company_id)
    if standing is not None:
        _sign_on_authorization(waiver, standing)
    else:
        _ask_to_sign_unconditional(waiver, invoice)
    return waiver


# --------------------------------------------------------------------------- authorization


def authorization_of(payee_id: int) -> WaiverAuthorization | None:
    """The payee's authorization in force for Trestle to sign its unconditional waivers."""
    with tenancy.unscoped():
        return db.session.scalar(
            sa.select(WaiverAuthorization)
            .where(
                WaiverAuthorization.company_id == payee_id,
                WaiverAuthorization.revoked_at.is_(None),
            )
            .order_by(WaiverAuthorization.id.desc())
            .limit(1)
        )


def authorize(payee: Company, user: User, *, name: str, title: str, agreed: bool) -> None:
    """The payee's Payments Admin lets Trestle sign its unconditional waivers on settlement."""
    if not agreed:
        raise InvalidInput("Tick the authorization to give it.", field="agree")
    name, title = _name_and_title(name, title)
    if authorization_of(payee.id) is not None:
        raise DomainError("The authorization is already in force.")
    record = WaiverAuthorization(
        company_id=payee.id,
        authorized_by_user_id=user.id,
        signer_name=name,
        signer_title=title,
        text_version=CONSENT_VERSION,
    )
    db.session.add(record)
    db.session.flush()
    audit.record(
        "waivers:authorization:given",
        actor_user_id=user.id,
        company_id=payee.id,
        object_type="waiver_authorization",
        object_id=record.id,
        after={"by": f"{name}, {title}", "text_version": CONSENT_VERSION},
    )


def revoke_authorization(payee: Company, user: User) -> None:
    """Stop Trestle signing: from now on the payee signs each unconditional waiver itself."""
    standing = authorization_of(payee.id)
    if standing is None:
        raise DomainError("No authorization is in force.")
    if not update_if(
        standing,
        WaiverAuthorization.revoked_at.is_(None),
        revoked_at=utcnow(),
        revoked_by_user_id=user.id,
    ):
        raise DomainError("It was revoked meanwhile.")
    audit.record(
        "waivers:authorization:revoked",
        actor_user_id=user.id,
        company_id=payee.id,
        object_type="waiver_authorization",
        object_id=standing.id,
        before={"by": f"{standing.signer_name}, {standing.signer_title}"},
    )


def _sign_on_authorization(waiver: LienWaiver, standing: WaiverAuthorization) -> None:
    with tenancy.unscoped():
        payee = db.session.get(Company, waiver.payee_company_id)
        authorizer = db.session.get(User, standing.authorized_by_user_id)
    _sign(
        waiver,
        Signature(
            name=f"Trestle, for {payee.name}",
            title=f"on the authorization of {standing.signer_name}, {standing.signer_title}",
            signature=f"Trestle, for {payee.name}",
            consented=True,
            consent_version=CONSENT_VERSION,
            ip="",
            user_agent="Trestle (the bank confirmed the payment settled)",
        ),
        email=authorizer.email,
        signer_user_id=None,
        delegated_by=None,
        authority=(
            f"signed by Trestle on {payee.name}'s standing authorization, given by "
            f"{standing.signer_name}, {standing.signer_title} ({authorizer.email}) on "
            f"{standing.authorized_at:%B %-d, %Y}, after the bank confirmed the payment"
        ),
    )


def _ask_to_sign_unconditional(waiver: LienWaiver, invoice: Invoice, *, reminder: bool = False):
    with tenancy.unscoped():
        payor = db.session.get(Company, invoice.company_id)
    queue_emails(
        invoicing_queries.contact_emails(invoice.commitment_id),
        "waiver_unconditional",
        company_id=invoice.payee_company_id,
        payor=payor.name,
        amount=format_cents(waiver.amount_cents),
        paid_on=f"{waiver.paid_on:%B %-d, %Y}",
        reference=waiver.payment_reference,
        commitment=f"{invoice.commitment.number} · {invoice.commitment.title}",
        number=invoice.number,
        reminder=reminder,
        url=external_url("waivers.show_waiver", waiver_id=waiver.id),
    )


REMIND_AFTER = timedelta(hours=20)


def remind_unsigned(now: datetime | None = None) -> int:
    """Remind the invoice contacts of each unconditional waiver waiting for their signature
    for 20 hours or more, at most once a day each; return how many waivers."""
    now = now or utcnow()
    with tenancy.unscoped():
        due = list(
            db.session.scalars(
                sa.select(LienWaiver.id).where(
                    LienWaiver.kind.in_(list(UNCONDITIONAL.values())),
                    LienWaiver.status == WaiverStatus.AWAITING_SIGNATURE,
                    LienWaiver.created_at <= now - REMIND_AFTER,
                    sa.or_(
                        LienWaiver.reminded_at.is_(None),
                        LienWaiver.reminded_at <= now - timedelta(hours=24),
                    ),
                )
            )
        )
        reminded = 0
        for waiver_id in due:
            waiver = db.session.get(LienWaiver, waiver_id)
            if update_if(
                waiver,
                sa.or_(
                    LienWaiver.reminded_at.is_(None),
                    LienWaiver.reminded_at <= now - timedelta(hours=24),
                ),
                reminded_at=now,
            ):
                _ask_to_sign_unconditional(
                    waiver, db.session.get(Invoice, waiver.invoice_id), reminder=True
                )
                reminded += 1
            db.session.commit()
        return reminded


# --------------------------------------------------------------------------- escrow


def _release(waiver: LienWaiver, *, why: str, actor_user_id: int | None) -> None:
    if not update_if(waiver, LienWaiver.released_at.is_(None), released_at=utcnow()):
        return  # released meanwhile
    audit.record(
        "waivers:waiver:released",
        actor_user_id=actor_user_id,
        company_id=waiver.company_id,
        object_type="lien_waiver",
        object_id=waiver.id,
        after={"kind": waiver.kind.label, "amount": format_cents(waiver.amount_cents), "why": why},
    )


def unlock(waiver: LienWaiver, user: User, *, company_id: int, roles: frozenset[Role]) -> None:
    """The payee releases its escrowed waiver to the payor before payment."""
    if company_id != waiver.payee_company_id or not (
        may_sign(waiver, user.id, company_id) or Role.PAYEE_ADMIN in roles
    ):
        raise NotAllowed("Only the payee's invoice contacts and Payments Admins unlock it.")
    if not waiver.escrowed or waiver.status is not WaiverStatus.SIGNED:
        raise DomainError("Only a signed waiver held in escrow can be unlocked.")
    if waiver.released_at is not None:
        raise DomainError("This waiver was already released to the general contractor.")
    _release(waiver, why="unlocked by the payee", actor_user_id=user.id)


def request_unlock(waiver: LienWaiver, user: User) -> None:
    """The payor asks the payee to release its escrowed waiver early (emailed to its
    invoice contacts); the payee decides."""
    if not waiver.escrowed or waiver.status is not WaiverStatus.SIGNED or waiver.released_at:
        raise DomainError("Only a signed waiver still held in escrow can be asked for.")
    waiver.unlock_requested_at = utcnow()
    with tenancy.unscoped():
        payor = db.session.get(Company, waiver.company_id)
        invoice = db.session.get(Invoice, waiver.invoice_id)
    queue_emails(
        invoicing_queries.contact_emails(waiver.commitment_id),
        "waiver_unlock_requested",
        company_id=waiver.payee_company_id,
        payor=payor.name,
        requester=user.name,
        amount=format_cents(waiver.amount_cents),
        number=invoice.number,
        commitment=invoice.commitment.number,
        url=external_url("waivers.show_waiver", waiver_id=waiver.id),
    )
    audit.record(
        "waivers:waiver:unlock_requested",
        actor_user_id=user.id,
        company_id=waiver.company_id,
        object_type="lien_waiver",
        object_id=waiver.id,
        after={"kind": waiver.kind.label, "amount": format_cents(waiver.amount_cents)},
    )


# --------------------------------------------------------------------------- signing


@dataclass(frozen=True)
class Signature:
    name: str
    title: str
    signature: str
    consented: bool
    consent_version: str
    ip: str
    user_agent: str


def may_sign(waiver: LienWaiver, user_id: int, company_id: int) -> bool:
    """The payee's invoice contacts of the commitment sign its waivers."""
    if company_id != waiver.payee_company_id:
        return False
    return bool(
        db.session.scalar(
            sa.select(CommitmentContact.user_id).where(
                CommitmentContact.commitment_id == waiver.commitment_id,
                CommitmentContact.user_id == user_id,
            )
        )
    )


def sign(waiver: LienWaiver, signer: User, given: Signature, *, company_id: int) -> LienWaiver:
    """Sign the waiver once, as its invoice contact: the form with the signature filled in,
    a certificate page appended, the SHA-256 of the exact PDF kept. Refused when it no
    longer says what the invoice asks (a new amount regenerates it) or was signed already."""
    if not may_sign(waiver, signer.id, company_id):
        raise NotAllowed("Only the payee's invoice contacts of this commitment sign its waivers.")
    return _sign(waiver, given, email=signer.email, signer_user_id=signer.id, delegated_by=None)


def _name_and_title(name: str | None, title: str | None) -> tuple[str, str]:
    """A signer's name and title, on one line each, both given, at most 200 characters."""
    name, title = one_line(clean_text(name or "")), one_line(clean_text(title or ""))
    for value, field, what in ((name, "name", "your full name"), (title, "title", "your title")):
        if not value:
            raise InvalidInput(f"Enter {what}.", field=field)
        if len(value) > 200:
            raise InvalidInput("At most 200 characters.", field=field)
    return name, title


def _sign(
    waiver: LienWaiver,
    given: Signature,
    *,
    email: str,
    signer_user_id: int | None,
    delegated_by: User | None,
    authority: str | None = None,
) -> LienWaiver:
    if waiver.status is not WaiverStatus.AWAITING_SIGNATURE:
        raise DomainError(f"This waiver is {waiver.status.label.lower()}: it cannot be signed.")
    if not given.consented or given.consent_version != CONSENT_VERSION:
        raise InvalidInput("Agree to sign electronically first (the terms above).", field="consent")
    name, title = _name_and_title(given.name, given.title)
    signature = one_line(clean_text(given.signature or ""))
    if not signature:
        raise InvalidInput("Type your signature.", field="signature")
    if " ".join(signature.casefold().split()) != " ".join(name.casefold().split()):
        raise InvalidInput("Type your signature as your full name above.", field="signature")
    invoice = db.session.get(Invoice, waiver.invoice_id)
    # A conditional waiver is for the payment due; an unconditional one, for the payment
    # received (which may be part of it).
    if waiver.kind.conditional and invoice.current_due_cents != waiver.amount_cents:
        raise DomainError(
            "The invoice's amount changed since this waiver was made; sign the new one."
        )
    now = utcnow()
    facts = dict(waiver.facts)
    facts.update(
        signature=f"/s/ {signature}",
        title=title,
        signed_on=f"{now:%B %-d, %Y}",
        signed_day=f"{now.day}",
        signed_month=f"{now:%B}",
        signed_year=f"{now.year}",
    )
    form = forms.by_key(waiver.form_key)
    signed_form = pdf.render(form, facts, reference=waiver.public_id)
    document = _with_certificate(
        signed_form,
        waiver,
        form_sha256=hashlib.sha256(signed_form).hexdigest(),
        name=name,
        title=title,
        signed_at=now,
        ip=given.ip,
        user_agent=given.user_agent,
        email=email,
        authority=authority
        or (
            f"delegated for this waiver by {delegated_by.name} ({delegated_by.email})"
            if delegated_by is not None
            else None
        ),
    )
    record = storage.keep_bytes(
        document,
        original_name=waiver.file.original_name.replace(".pdf", "-signed.pdf"),
        kind="waivers",
        content_type="application/pdf",
        extension=".pdf",
        company_id=waiver.payee_company_id,
        uploaded_by_user_id=signer_user_id,
    )
    db.session.flush()
    if not update_if(
        waiver,
        LienWaiver.status == WaiverStatus.AWAITING_SIGNATURE,
        status=WaiverStatus.SIGNED,
        signed_file_id=record.id,
        signed_sha256=record.sha256,
        signed_at=now,
        signer_user_id=signer_user_id,
        signer_email=email,
        delegated_by_user_id=delegated_by.id if delegated_by is not None else None,
        signer_name=name,
        signer_title=title,
        signature=signature,
        signer_ip=(given.ip or "")[:64],
        signer_user_agent=(given.user_agent or "")[:400],
        consent_version=CONSENT_VERSION,
    ):
        raise DomainError("This waiver was signed or replaced meanwhile.")
    audit.record(
        "waivers:waiver:signed",
        actor_user_id=signer_user_id,
        company_id=waiver.company_id,
        object_type="lien_waiver",
        object_id=waiver.id,
        after={
            "kind": waiver.kind.label,
            "amount": format_cents(waiver.amount_cents),
            "signer": name,
            "email": email,
            "delegated_by": delegated_by.email if delegated_by is not None else None,
            "sha256": record.sha256,
            "consent_version": CONSENT_VERSION,
        },
    )
    return waiver


# --------------------------------------------------------------------------- delegation


# Wrong addresses tried with one delegation link before it stops.
DELEGATION_SCOPE = "waivers:delegation"
DELEGATION_LIMITS = (ratelimit.Limit(5, timedelta(hours=24)),)


class DelegationClosed(DomainError):
    """A delegation link that can no longer sign: used, replaced, expired, or its waiver
    signed or superseded."""

    status_code = 410


def delegate(waiver: LienWaiver, delegator: User, email: str, *, company_id: int) -> str:
    """Give authority to sign this one waiver to ``email``: a single-use link, valid for a
    week, emailed there (any earlier link of the waiver stops working). Returns the link's
    token (only its hash is kept)."""
    if not may_sign(waiver, delegator.id, company_id):
        raise NotAllowed(
            "Only the payee's invoice contacts of this commitment delegate its waivers."
        )
    if waiver.status is not WaiverStatus.AWAITING_SIGNATURE:
        raise DomainError(f"This waiver is {waiver.status.label.lower()}: nobody can sign it.")
    address = (email or "").strip()
    try:
        address = validate_email(address, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise InvalidInput(
            f"{address[:80] or 'That'} is not a valid email address.", field="email"
        ) from None
    if address == delegator.email.lower():
        raise InvalidInput("That is your own address: sign it yourself.", field="email")
    now = utcnow()
    db.session.execute(
        sa.update(WaiverDelegation)
        .where(
            WaiverDelegation.waiver_id == waiver.id,
            WaiverDelegation.used_at.is_(None),
            WaiverDelegation.revoked_at.is_(None),
        )
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    token = secrets.token_urlsafe(32)
    delegation = WaiverDelegation(
        company_id=waiver.company_id,
        payee_company_id=waiver.payee_company_id,
        waiver_id=waiver.id,
        email=address,
        token_hash=hash_token(token),
        created_at=now,
        created_by_user_id=delegator.id,
        expires_at=now + timedelta(days=DELEGATION_LIFETIME_DAYS),
    )
    db.session.add(delegation)
    db.session.flush()
    with tenancy.unscoped():
        payee = db.session.get(Company, waiver.payee_company_id)
        payor = db.session.get(Company, waiver.company_id)
    queue_emails(
        [address],
        "waiver_delegated",
        company_id=waiver.payee_company_id,
        delegator=delegator.name,
        payee=payee.name,
        payor=payor.name,
        kind=waiver.kind.label.lower(),
        amount=format_cents(waiver.amount_cents),
        expires_on=f"{delegation.expires_at:%B %-d, %Y}",
        url=external_url("waivers.show_delegated", token=token),
    )
    audit.record(
        "waivers:waiver:delegated",
        actor_user_id=delegator.id,
        company_id=waiver.company_id,
        object_type="lien_waiver",
        object_id=waiver.id,
        after={"email": address, "expires_at": delegation.expires_at.isoformat()},
    )
    return token


def delegation_of(token: str) -> WaiverDelegation:
    """The open delegation behind a link; raise a domain error that says why not."""
    with tenancy.unscoped():  # the link is the authority: its holder may have no account
        delegation = db.session.scalar(
            sa.select(WaiverDelegation).where(WaiverDelegation.token_hash == hash_token(token))
        )
        if delegation is None:
            raise NotFound(
                "This signing link is not valid. Open the whole link from the most recent "
                "email: a new link replaces the one before."
            )
        waiver = db.session.get(LienWaiver, delegation.waiver_id)
    if delegation.used_at is not None:
        raise DelegationClosed(f"This link was used to sign on {delegation.used_at:%B %-d, %Y}.")
    if delegation.revoked_at is not None:
        raise DelegationClosed("This link was replaced by a newer one: open the latest email.")
    expires = delegation.expires_at
    expires = expires if expires.tzinfo else expires.replace(tzinfo=UTC)
    if utcnow() >= expires:
        raise DelegationClosed(f"This link expired on {expires:%B %-d, %Y}. Ask for a new one.")
    if waiver.status is not WaiverStatus.AWAITING_SIGNATURE:
        raise DelegationClosed(
            f"This waiver is {waiver.status.label.lower()}: it cannot be signed."
        )
    return delegation


def sign_delegated(token: str, given: Signature, email: str) -> LienWaiver:
    """Sign through a delegation link, once; the signer confirms the address it went to."""
    delegation = delegation_of(token)
    key = str(delegation.id)
    if ratelimit.is_limited(DELEGATION_SCOPE, key, DELEGATION_LIMITS):
        raise DelegationClosed(
            "Too many wrong addresses were tried with this link: ask for a new one."
        )
    if (email or "").strip().lower() != delegation.email:
        ratelimit.record(DELEGATION_SCOPE, key)
        raise InvalidInput("Enter the email address this link was sent to.", field="email")
    with tenancy.unscoped():
        waiver = db.session.get(LienWaiver, delegation.waiver_id)
        delegator = db.session.get(User, delegation.created_by_user_id)
        if not update_if(
            delegation,
            WaiverDelegation.used_at.is_(None),
            WaiverDelegation.revoked_at.is_(None),
            used_at=utcnow(),
        ):
            raise DelegationClosed("This link was used or replaced just now.")
        return _sign(
            waiver, given, email=delegation.email, signer_user_id=None, delegated_by=delegator
        )


def _with_certificate(
    signed_form: bytes,
    waiver: LienWaiver,
    *,
    form_sha256: str,
    name: str,
    title: str,
    signed_at: datetime,
    ip: str,
    user_agent: str,
    email: str,
    authority: str | None = None,
) -> bytes:
    """The signed form followed by a page recording the signature."""
    page = io.BytesIO()
    sheet = canvas.Canvas(page, pagesize=LETTER)
    sheet.setFont("Helvetica-Bold", 14)
    y = 10 * inch
    sheet.drawString(inch, y, "Signature certificate")
    sheet.setFont("Helvetica", 10)
    rows = [
        ("Document", f"{waiver.kind.label} lien waiver, form {waiver.form_key}"),
        ("Document id", waiver.public_id),
        ("Amount", format_cents(waiver.amount_cents)),
        ("Signed by", f"{name}, {title} ({email})"),
        *([("Authority", authority)] if authority else []),
        ("Signed at", f"{signed_at:%Y-%m-%d %H:%M:%S} UTC"),
        ("From", f"IP {ip or 'unknown'}"),
        ("Browser", (user_agent or "unknown")[:110]),
        ("Consent", f"electronic signature consent version {CONSENT_VERSION}"),
        ("SHA-256 of the signed form (the pages before this one)", form_sha256),
        ("Verify", external_url("waivers.verify", public_id=waiver.public_id)),
    ]
    y -= 0.4 * inch
    for label, value in rows:
        sheet.setFont("Helvetica-Bold", 9)
        sheet.drawString(inch, y, label)
        sheet.setFont("Helvetica", 9)
        for line in _wrap(value, 105) or [""]:
            y -= 12
            sheet.drawString(inch, y, line)
        y -= 0.42 * inch - 12
    text = sheet.beginText(inch, y - 6)
    text.setFont("Helvetica", 8)
    for line in _wrap(f"Consent to sign electronically: {CONSENT_TEXT}", 110):
        text.textLine(line)
    sheet.drawText(text)
    sheet.showPage()
    sheet.save()
    writer = PdfWriter()
    for source in (signed_form, page.getvalue()):
        for each in PdfReader(io.BytesIO(source)).pages:
            writer.add_page(each)
    writer.add_metadata({"/Title": "Signed lien waiver", "/Subject": waiver.public_id})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _wrap(text: str, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if len(line) + len(word) + 1 > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return [*lines, line] if line else lines


# --------------------------------------------------------------------------- verifying


@dataclass(frozen=True)
class Verification:
    waiver: LienWaiver | None
    intact: bool
    reason: str


def verify(public_id: str, sha256: str | None = None, data: bytes | None = None) -> Verification:
    """Whether the signed document is intact: the file Trestle keeps hashes to the SHA-256
    recorded at signing, and the hash or the copy given matches it too."""
    with tenancy.unscoped():
        waiver = db.session.scalar(sa.select(LienWaiver).where(LienWaiver.public_id == public_id))
        if waiver is None or waiver.signed_file is None:
            return Verification(None, False, "No signed lien waiver has this document id.")
        with storage.open_file(waiver.signed_file) as stream:
            kept = hashlib.sha256(stream.read()).hexdigest()
    if kept != waiver.signed_sha256:
        return Verification(
            waiver, False, "The document Trestle keeps no longer matches its signature record."
        )
    if data is not None:
        if not data:
            return Verification(waiver, False, "Choose the PDF you hold to check it.")
        if hashlib.sha256(data).hexdigest() != waiver.signed_sha256:
            return Verification(
                waiver, False, "The copy given is not the document that was signed."
            )
        return Verification(waiver, True, "Intact: the copy given is the document that was signed.")
    if sha256 is not None:
        if sha256.strip().lower() != waiver.signed_sha256:
            return Verification(waiver, False, "That SHA-256 is not the signed document's.")
        return Verification(
            waiver, True, "Intact: that SHA-256 is the one of the document that was signed."
        )
    return Verification(
        waiver,
        True,
        "The document Trestle keeps is intact (it matches its signature record). Check the "
        "copy you hold below.",
    )


# --------------------------------------------------------------------------- downloads

MANIFEST_HEADER = (
    "waiver",
    "status",
    "invoice",
    "amount",
    "signer",
    "signed_at",
    "sha256",
    "file",
)


def zip_of(waivers: list[LienWaiver]) -> bytes:
    """The signed waivers as one zip, with a manifest (CSV) naming each: its kind and form,
    invoice, amount, signer, when, the SHA-256 of its PDF, and its file in the zip."""
    out = io.BytesIO()
    manifest = io.StringIO()
    writer = csv.writer(manifest)
    writer.writerow(MANIFEST_HEADER)
    with tenancy.unscoped():
        invoices = {
            invoice.id: invoice
            for invoice in db.session.scalars(
                sa.select(Invoice).where(Invoice.id.in_({w.invoice_id for w in waivers}))
            )
        }
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for waiver in waivers:
            invoice = invoices[waiver.invoice_id]
            name = (
                f"{commitment_number(invoice)}-{invoice.number}-{waiver.kind.value}-"
                f"{waiver.public_id}.pdf"
            )
            with storage.open_file(waiver.signed_file) as stream:
                archive.writestr(name, stream.read())
            writer.writerow(
                [
                    safe_cell(value)
                    for value in (
                        f"{waiver.kind.label} ({waiver.form_key})",
                        waiver.status.label,
                        f"{invoice.commitment.number} no. {invoice.number}",
                        format_cents(waiver.amount_cents),
                        f"{waiver.signer_name}, {waiver.signer_title}",
                        f"{waiver.signed_at:%Y-%m-%d %H:%M:%S} UTC",
                        waiver.signed_sha256 or "",
                        name,
                    )
                ]
            )
        archive.writestr("manifest.csv", manifest.getvalue())
    return out.getvalue()
