"""Commands of payment readiness: set the requirement modes, apply and release holds.
They take explicit arguments and never commit."""

from __future__ import annotations

from typing import IO

import sqlalchemy as sa

from portal.companies.models import Company
from portal.core import audit, storage
from portal.core.db import db, update_if, utcnow
from portal.core.errors import DomainError, InvalidInput
from portal.core.text import clean_text
from portal.invoicing.models import Invoice
from portal.readiness.models import (
    EnforcementMode,
    Hold,
    HoldAttachment,
    HoldKind,
    HoldReason,
    HoldStatus,
    PaymentRequirement,
    RequirementKind,
)
from portal.readiness.policies import BY_KIND
from portal.readiness.queries import available_kinds, modes_of


def set_modes(
    payor: Company, modes: dict[RequirementKind, EnforcementMode], *, actor_user_id: int
) -> list[RequirementKind]:
    """Set how each requirement bites; return the kinds that changed (each audited)."""
    current = modes_of(payor.id)
    available = available_kinds(payor.id)
    changed = []
    rows = {
        row.kind: row
        for row in db.session.scalars(
            sa.select(PaymentRequirement).where(PaymentRequirement.company_id == payor.id)
        )
    }
    for kind, mode in modes.items():
        requirement = BY_KIND[kind]
        if kind not in available:
            if mode is not EnforcementMode.NOT_REQUIRED:
                raise InvalidInput(f"{requirement.label}: {requirement.not_available}")
            continue
        if current[kind] is mode:
            continue
        row = rows.get(kind)
        if row is None:
            row = PaymentRequirement(company_id=payor.id, kind=kind)
            db.session.add(row)
        row.mode, row.updated_at, row.updated_by_user_id = mode, utcnow(), actor_user_id
        audit.record(
            "readiness:requirement:changed",
            actor_user_id=actor_user_id,
            company_id=payor.id,
            object_type="payment_requirement",
            object_id=kind.value,
            before={"requirement": requirement.label, "mode": current[kind].label},
            after={"requirement": requirement.label, "mode": mode.label},
        )
        changed.append(kind)
    return changed


def apply_hold(
    payor_id: int,
    *,
    kind: HoldKind,
    payee_company_id: int,
    invoice: Invoice | None,
    reason: HoldReason,
    description: str,
    visible_to_payee: bool,
    attachment: tuple[IO[bytes], str] | None,
    actor_user_id: int,
) -> Hold:
    """Stop paying one invoice (an invoice hold) or every invoice of a payee (a vendor hold)."""
    description = clean_text(description or "").strip()
    if not description:
        raise InvalidInput(
            "Say why it is held: the reviewer and the Disburser read it.", field="description"
        )
    if len(description) > 2000:
        raise InvalidInput("The description is at most 2,000 characters.", field="description")
    if (kind is HoldKind.INVOICE) != (invoice is not None):
        raise InvalidInput("An invoice hold holds one invoice; a vendor hold, a payee.")
    hold = Hold(
        company_id=payor_id,
        payee_company_id=payee_company_id,
        kind=kind,
        invoice_id=invoice.id if invoice else None,
        reason=reason,
        description=description,
        visible_to_payee=visible_to_payee,
        applied_by_user_id=actor_user_id,
    )
    if attachment is not None:
        stream, filename = attachment
        try:
            record = storage.save_file(
                stream,
                original_name=filename,
                kind="hold_attachment",
                rules=storage.DOCUMENTS,
                company_id=payor_id,
                uploaded_by_user_id=actor_user_id,
            )
        except InvalidInput as error:
            raise InvalidInput(error.message, field="attachment") from None
        hold.attachments.append(HoldAttachment(file=record))
    db.session.add(hold)
    db.session.flush()
    audit.record(
        "readiness:hold:applied",
        actor_user_id=actor_user_id,
        company_id=payor_id,
        object_type="hold",
        object_id=hold.id,
        after={
            "kind": kind.label,
            "invoice_id": hold.invoice_id,
            "payee_company_id": payee_company_id,
            "reason": reason.label,
            "description": description,
            "visible_to_payee": visible_to_payee,
        },
    )
    return hold


def release_hold(hold: Hold, note: str, *, actor_user_id: int) -> None:
    """Release a hold: the invoice (or the payee's invoices) may be paid again, as far as
    the other requirements allow."""
    hold.check_move(HoldStatus.RELEASED)
    note = clean_text(note or "").strip()
    if len(note) > 2000:
        raise InvalidInput("The note is at most 2,000 characters.", field="release_note")
    if not update_if(
        hold,
        Hold.status == HoldStatus.APPLIED,
        status=HoldStatus.RELEASED,
        released_at=utcnow(),
        released_by_user_id=actor_user_id,
        release_note=note or None,
    ):
        raise DomainError("This hold was released meanwhile.")
    audit.record(
        "readiness:hold:released",
        actor_user_id=actor_user_id,
        company_id=hold.company_id,
        object_type="hold",
        object_id=hold.id,
        before={"status": HoldStatus.APPLIED.label},
        after={"kind": hold.kind.label, "status": HoldStatus.RELEASED.label, "note": note},
    )
