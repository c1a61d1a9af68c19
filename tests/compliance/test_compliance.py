"""Compliance documents: templates decide what is required where; documents are added,
reviewed and expire; the three compliance requirements follow them in every state; bad
input saves nothing; reminders go out once; files left by failed transactions are swept."""

import io
import os
import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.companies.models import Role
from portal.compliance import services
from portal.compliance.models import (
    ComplianceDocument,
    ComplianceTemplate,
    DocumentStanding,
    DocumentStatus,
    DocumentType,
    RequiredAt,
)
from portal.core import storage, tenancy
from portal.core.audit import AuditEvent
from portal.core.db import db
from portal.core.models import StoredFile
from portal.invoicing import services as invoicing
from portal.invoicing.models import BillingType, CommitmentKind, Invoice
from portal.invoicing.policies import billing_date
from portal.notifications.models import EmailMessage
from portal.readiness import queries as readiness
from portal.readiness import services as readiness_services
from portal.readiness.models import EnforcementMode, RequirementKind
from tests.factories import make_user, sign_in, sign_in_fresh_admin

pytestmark = pytest.mark.usefixtures("database")

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
COMPLIANCE = [
    RequirementKind.CONTRACT_COMPLIANT,
    RequirementKind.INSURANCE_COMPLIANT,
    RequirementKind.INVOICE_COMPLIANT,
]


def an_invoice(billing, billing_type=BillingType.PROGRESS) -> Invoice:
    with tenancy.unscoped():
        invoice = invoicing.start_invoice(
            billing.commitment,
            billing.earlier,
            billing_type=billing_type,
            actor_user_id=billing.contact.id,
            on_behalf=False,
        )
        line = invoice.lines[0]
        invoicing.save_invoice(
            invoice,
            [invoicing.LineBill(line.sov_line_id, "1,000", "")],
            "",
            actor_user_id=billing.contact.id,
        )
        invoicing.submit_invoice(invoice, actor_user_id=billing.contact.id, on_behalf=False)
    db.session.commit()
    return invoice


def require(billing, document_type, required_at, applies_to=None) -> ComplianceTemplate:
    with tenancy.unscoped():
        template = services.add_template(
            billing.payor,
            document_type=document_type,
            applies_to=applies_to,
            required_at=required_at,
            actor_user_id=None,
        )
    db.session.commit()
    return template


def keep(billing, document_type, *, invoice=None, effective=-30, expires=300, accepted=True):
    """A document of ``document_type`` added by the payee, then accepted (or left waiting);
    the dates count days from today."""
    today = billing_date()
    with tenancy.unscoped():
        document = services.add_document(
            billing.commitment,
            invoice=invoice,
            document_type=document_type,
            effective_on=today + timedelta(days=effective),
            expires_on=None if expires is None else today + timedelta(days=expires),
            upload=(io.BytesIO(PDF), "document.pdf"),
            payor_side=False,
            actor_user_id=billing.contact.id,
        )
        if accepted:
            services.review_document(document, accept=True, note="", actor_user_id=None)
    db.session.commit()
    return document


OTHERS = [
    RequirementKind.HOLDS_RELEASED,
    RequirementKind.INVOICE_APPROVED,
    RequirementKind.COMMITMENT_EXECUTED,
    RequirementKind.CHANGE_ORDERS_EXECUTED,
]


def enforce(payor, mode=EnforcementMode.PREVENTS_PAYMENT) -> None:
    """Enforce the three compliance requirements in ``mode``, and nothing else."""
    modes = {
        **dict.fromkeys(OTHERS, EnforcementMode.NOT_REQUIRED),
        **dict.fromkeys(COMPLIANCE, mode),
    }
    with tenancy.unscoped():
        readiness_services.set_modes(payor, modes, actor_user_id=None)
    db.session.commit()


def met(invoice) -> dict[RequirementKind, bool]:
    db.session.expire_all()
    with tenancy.unscoped():
        ready = readiness.readiness(db.session.get(Invoice, invoice.id))
    return {item.requirement.kind: item.met for item in ready.items}


def listed_as_ready(billing, invoice) -> bool:
    with tenancy.scoped(billing.payor.id):
        state = readiness.invoice_list_state({"readiness": "ready"})
        rows = readiness.invoice_table(billing.payor.id, state).rows
    return invoice.id in [row.invoice.id for row in rows]


ALL_MET = dict.fromkeys(COMPLIANCE, True)


def test_with_no_template_every_compliance_requirement_is_met(billing) -> None:
    invoice = an_invoice(billing)
    enforce(billing.payor)
    assert met(invoice) == ALL_MET


# Each template, with the document that satisfies it (where it is kept), and the one
# requirement it bears on.
RULES = {
    "license from the first invoice": (
        DocumentType.LICENSE,
        RequiredAt.FIRST_INVOICE,
        False,
        RequirementKind.CONTRACT_COMPLIANT,
    ),
    "insurance from the first invoice": (
        DocumentType.INSURANCE_CERTIFICATE,
        RequiredAt.FIRST_INVOICE,
        False,
        RequirementKind.INSURANCE_COMPLIANT,
    ),
    "insurance with every invoice": (
        DocumentType.INSURANCE_CERTIFICATE,
        RequiredAt.EVERY_INVOICE,
        True,
        RequirementKind.INSURANCE_COMPLIANT,
    ),
    "bond with every invoice": (
        DocumentType.BOND,
        RequiredAt.EVERY_INVOICE,
        True,
        RequirementKind.INVOICE_COMPLIANT,
    ),
}
# Each state of the document on file, and whether it satisfies the template.
STATES = {
    "missing": None,
    "awaiting review": dict(accepted=False),
    "accepted and current": dict(),
    "accepted, expiring in 3 days": dict(expires=3),
    "accepted, expires today": dict(expires=0),
    "expired yesterday": dict(expires=-1, effective=-400),
    "not yet in effect": dict(effective=5),
}
SATISFIES = {"accepted and current", "accepted, expiring in 3 days", "accepted, expires today"}


@pytest.mark.parametrize("rule", list(RULES))
@pytest.mark.parametrize("state", list(STATES))
def test_each_template_in_each_document_state(billing, rule, state) -> None:
    document_type, required_at, per_invoice, bears_on = RULES[rule]
    invoice = an_invoice(billing)
    require(billing, document_type, required_at)
    if STATES[state] is not None:
        keep(billing, document_type, invoice=invoice if per_invoice else None, **STATES[state])
    enforce(billing.payor)
    expected = {**ALL_MET, bears_on: state in SATISFIES}
    assert met(invoice) == expected
    assert listed_as_ready(billing, invoice) is (state in SATISFIES)


def test_a_document_kept_in_the_wrong_place_does_not_count(billing) -> None:
    """A commitment's certificate does not meet a per-invoice rule, nor one invoice's
    document another invoice's rule, nor a document of another type the rule's."""
    first = an_invoice(billing)
    require(billing, DocumentType.BOND, RequiredAt.EVERY_INVOICE)
    require(billing, DocumentType.LICENSE, RequiredAt.FIRST_INVOICE)
    keep(billing, DocumentType.BOND)  # kept for the commitment, not with the invoice
    keep(billing, DocumentType.INSURANCE_CERTIFICATE)  # the wrong type for the license rule
    enforce(billing.payor)
    assert met(first)[RequirementKind.INVOICE_COMPLIANT] is False
    assert met(first)[RequirementKind.CONTRACT_COMPLIANT] is False
    keep(billing, DocumentType.BOND, invoice=first)
    keep(billing, DocumentType.LICENSE, invoice=first)  # with an invoice, not the commitment
    assert met(first)[RequirementKind.INVOICE_COMPLIANT] is True
    assert met(first)[RequirementKind.CONTRACT_COMPLIANT] is False


def test_a_rule_for_purchase_orders_or_final_invoices_only_does_not_bind_a_progress_bill(
    billing,
) -> None:
    invoice = an_invoice(billing)
    require(billing, DocumentType.LICENSE, RequiredAt.FIRST_INVOICE, CommitmentKind.PURCHASE_ORDER)
    require(billing, DocumentType.BOND, RequiredAt.FINAL_INVOICE)
    enforce(billing.payor)
    assert met(invoice) == ALL_MET
    # The same final-invoice rule binds a final invoice.
    with tenancy.unscoped():
        db.session.get(Invoice, invoice.id).billing_type = BillingType.FINAL
    db.session.commit()
    assert met(invoice)[RequirementKind.INVOICE_COMPLIANT] is False


def test_a_rejected_document_does_not_count_and_says_why(billing) -> None:
    invoice = an_invoice(billing)
    require(billing, DocumentType.LICENSE, RequiredAt.FIRST_INVOICE)
    document = keep(billing, DocumentType.LICENSE, accepted=False)
    with tenancy.unscoped(), pytest.raises(services.InvalidInput, match="Say why"):
        services.review_document(document, accept=False, note=" ", actor_user_id=None)
    with tenancy.unscoped():
        services.review_document(
            document, accept=False, note="License number unreadable", actor_user_id=None
        )
        with pytest.raises(services.DomainError, match="already rejected"):
            services.review_document(document, accept=True, note="", actor_user_id=None)
    db.session.commit()
    enforce(billing.payor)
    assert met(invoice)[RequirementKind.CONTRACT_COMPLIANT] is False
    assert document.standing(billing_date()) is DocumentStanding.REJECTED


def test_a_warning_mode_lets_a_missing_document_pay(billing) -> None:
    invoice = an_invoice(billing)
    require(billing, DocumentType.INSURANCE_CERTIFICATE, RequiredAt.FIRST_INVOICE)
    enforce(billing.payor, EnforcementMode.ALLOWS_PAYMENT)
    with tenancy.unscoped():
        ready = readiness.readiness(db.session.get(Invoice, invoice.id))
    assert ready.ready and [i.requirement.kind for i in ready.unmet] == [
        RequirementKind.INSURANCE_COMPLIANT
    ]


# --------------------------------------------------------------------------- pages


def upload(client, path, back, **fields):
    data = {
        "doc-document_type": "insurance_certificate",
        "doc-effective_on": (billing_date() - timedelta(days=10)).isoformat(),
        "doc-expires_on": (billing_date() + timedelta(days=200)).isoformat(),
        "doc-file": (io.BytesIO(PDF), "coi.pdf"),
    }
    data.update(fields)
    response = client.submit(path, data, token_from=back, content_type="multipart/form-data")
    if hasattr(response.request.environ.get("wsgi.input"), "close"):
        response.request.environ["wsgi.input"].close()
    return response


def documents() -> list[ComplianceDocument]:
    db.session.expire_all()
    with tenancy.unscoped():
        return list(
            db.session.scalars(sa.select(ComplianceDocument).order_by(ComplianceDocument.id))
        )


def test_the_payee_adds_a_certificate_and_the_payor_accepts_it(
    billing, payee_client, payor_client
) -> None:
    invoice = an_invoice(billing)
    require(billing, DocumentType.INSURANCE_CERTIFICATE, RequiredAt.FIRST_INVOICE)
    enforce(billing.payor)
    back = f"/billing/commitments/{billing.commitment.id}"
    panel = payee_client.get(f"/commitments/{billing.commitment.id}/documents").get_data(
        as_text=True
    )
    assert "0 of 1 required documents" in panel and "Missing" in panel
    # The invoice's readiness names the missing certificate and links to where it is added.
    seen = payee_client.get(f"/invoices/{invoice.id}/readiness").get_data(as_text=True)
    assert "Insurance compliant" in seen and f'{back}#documents-panel"' in seen
    response = upload(payee_client, f"/commitments/{billing.commitment.id}/documents", back)
    assert response.status_code == 303
    (document,) = documents()
    assert document.status is DocumentStatus.SUBMITTED
    assert document.payee_company_id == billing.payee.id
    # The payee cannot review its own document; the payor's reviewer can.
    review = f"/compliance-documents/{document.id}/review"
    # Rejecting says why, beside the note, and changes nothing until it does.
    page = f"/commitments/{billing.commitment.id}"
    # It waits on the reviewer's home page, with the invoice itself.
    home = payor_client.get("/dashboard").get_data(as_text=True)
    assert "Compliance documents to review" in home
    assert "Ironline Steel: Certificate of insurance, SC-7" in home
    assert "Invoices to review" in home and "SC-7 · no. 1" in home
    refused = payor_client.submit(review, {"decision": "reject", "note": ""}, token_from=page)
    text = refused.get_data(as_text=True)
    assert refused.status_code == 200 and f'id="note-{document.id}-error"' in text
    assert "Say why it is rejected" in text and documents()[0].status is DocumentStatus.SUBMITTED
    assert payee_client.submit(review, {"decision": "accept"}, token_from=back).status_code == 403
    assert met(invoice)[RequirementKind.INSURANCE_COMPLIANT] is False
    panel = payor_client.get(f"{page}/documents").get_data(as_text=True)
    assert "Awaiting review" in panel and "Accept" in panel
    assert payor_client.submit(review, {"decision": "accept"}, token_from=page).status_code == 303
    assert documents()[0].status is DocumentStatus.ACCEPTED
    assert met(invoice)[RequirementKind.INSURANCE_COMPLIANT] is True
    download = payee_client.get(f"/compliance-documents/{document.id}/file")
    assert download.data == PDF and "coi.pdf" in download.headers["Content-Disposition"]
    download.close()
    with tenancy.unscoped():
        actions = set(db.session.scalars(sa.select(AuditEvent.action)))
    assert {"compliance:template:added", "compliance:document:added"} <= actions
    assert "compliance:document:accepted" in actions


def test_a_document_with_the_invoice_goes_on_the_invoice_page(billing, payee_client) -> None:
    invoice = an_invoice(billing)
    require(billing, DocumentType.BOND, RequiredAt.EVERY_INVOICE)
    path = f"/invoices/{invoice.id}"
    panel = payee_client.get(f"{path}/documents").get_data(as_text=True)
    assert "Documents with this invoice" in panel and "Payment and performance bond" in panel
    response = upload(payee_client, f"{path}/documents", path, **{"doc-document_type": "bond"})
    assert response.status_code == 303 and response.headers["Location"].endswith("#documents-panel")
    (document,) = documents()
    assert document.invoice_id == invoice.id and document.document_type is DocumentType.BOND


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"doc-file": (io.BytesIO(b"\x89PNG\r\n\x1a\n" + b"0" * 64), "coi.png")},
            "must be one of: PDF",
        ),
        ({"doc-file": (io.BytesIO(b"MZ\x90\x00 a program"), "coi.pdf")}, "must be one of: PDF"),
        ({"doc-file": (io.BytesIO(b""), "coi.pdf")}, "The file is empty"),
        (
            {"doc-file": (io.BytesIO(b"%PDF-1.4\n" + b"0" * (10 * 1024 * 1024)), "big.pdf")},
            "larger than 10 MB",
        ),
        ({"doc-file": (io.BytesIO(b""), "")}, "Choose the file"),
        ({"doc-expires_on": ""}, "Enter the date the certificate of insurance expires"),
        ({"doc-expires_on": "2020-01-01"}, "It must expire after it takes effect"),
        ({"doc-expires_on": "2099-01-01"}, "over ten years out"),
        ({"doc-effective_on": "2026-02-30"}, "Not a valid date value"),
        ({"doc-effective_on": ""}, "Enter the date it takes effect"),
        ({"doc-document_type": "passport"}, "Not a valid choice"),
        ({"doc-document_type": "w9"}, "A Form W-9 does not expire"),
        ({"doc-effective_on": "0001-01-01"}, "Check the effective date"),
    ],
)
def test_a_bad_document_is_refused_and_saves_nothing(
    billing, payee_client, fields, message
) -> None:
    back = f"/billing/commitments/{billing.commitment.id}"
    response = upload(
        payee_client, f"/commitments/{billing.commitment.id}/documents", back, **fields
    )
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert documents() == []
    with tenancy.unscoped():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(StoredFile)) == 0


def test_who_may_add_and_review(app, client, billing, payor_client) -> None:
    """A payee member who is not an invoice contact reads nothing (not its Payments Admin,
    who reads); a Disburser reads but neither adds nor reviews."""
    path = f"/commitments/{billing.commitment.id}/documents"
    stranger, phone = make_user(billing.payee)
    other = type(client)(app, app.response_class, use_cookies=True)
    sign_in(other, stranger, phone)
    assert other.get(path).status_code == 403
    admin, phone = make_user(billing.payee, (Role.PAYEE_ADMIN,))
    reader = type(client)(app, app.response_class, use_cookies=True)
    sign_in(reader, admin, phone)
    panel = reader.get(path).get_data(as_text=True)
    assert "Compliance documents" in panel and "Add a document" not in panel
    assert upload(reader, path, "/billing").status_code == 403
    disburser, phone = make_user(billing.payor, (Role.DISBURSER,))
    watcher = type(client)(app, app.response_class, use_cookies=True)
    sign_in(watcher, disburser, phone)
    assert "Add a document" not in watcher.get(path).get_data(as_text=True)
    assert upload(watcher, path, "/dashboard").status_code == 403
    # The payor's own staff add one, accepted as they add it.
    response = upload(payor_client, path, f"/commitments/{billing.commitment.id}")
    assert response.status_code == 303
    assert documents()[0].status is DocumentStatus.ACCEPTED


def test_payments_admins_set_the_templates(app, client, billing, payor_client) -> None:
    admin_client = type(client)(app, app.response_class, use_cookies=True)
    sign_in_fresh_admin(admin_client, billing.payor)
    path = "/settings/compliance"
    assert "No document is required yet" in admin_client.get(path).get_data(as_text=True)
    rule = {"document_type": "license", "applies_to": "subcontract", "required_at": "first_invoice"}
    assert admin_client.submit(path, rule, token_from=path).status_code == 303
    again = admin_client.submit(path, rule, token_from=path)
    assert "already required" in again.get_data(as_text=True)
    # Nor may a rule for every commitment overlap one for subcontracts only.
    wider = admin_client.submit(path, {**rule, "applies_to": ""}, token_from=path)
    assert "already required" in wider.get_data(as_text=True)
    other = admin_client.submit(path, {**rule, "applies_to": "purchase_order"}, token_from=path)
    assert other.status_code == 303  # purchase orders are not subcontracts
    bad = admin_client.submit(path, {**rule, "required_at": "someday"}, token_from=path)
    assert "Not a valid choice" in bad.get_data(as_text=True)
    with tenancy.unscoped():
        template, _ = db.session.scalars(
            sa.select(ComplianceTemplate).order_by(ComplianceTemplate.id)
        )
    assert template.applies_to is CommitmentKind.SUBCONTRACT
    page = admin_client.get(path).get_data(as_text=True)
    assert "Contractor&#39;s license" in page and "Subcontracts only" in page
    # An Invoice Administrator reviews documents but does not set the templates.
    assert payor_client.get(path).status_code == 403
    response = admin_client.submit(f"{path}/{template.id}/remove", {}, token_from=path)
    assert response.status_code == 303
    with tenancy.unscoped():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ComplianceTemplate)) == 1


# --------------------------------------------------------------------------- reminders


def reminders() -> list[EmailMessage]:
    db.session.expire_all()
    with tenancy.unscoped():
        return list(
            db.session.scalars(
                sa.select(EmailMessage).where(EmailMessage.template == "document_expiring")
            )
        )


def test_a_reminder_goes_out_once_fourteen_days_before_expiry(billing) -> None:
    keep(billing, DocumentType.INSURANCE_CERTIFICATE, expires=14)
    keep(billing, DocumentType.LICENSE, expires=15)  # not yet
    keep(billing, DocumentType.BOND, expires=10, accepted=False)  # not on file
    assert services.remind_all() == 1
    (email,) = reminders()
    assert email.to_address == billing.contact.email
    assert (
        "Certificate of insurance" in email.subject or "certificate of insurance" in email.subject
    )
    assert "in 14 days" in email.text_body
    assert services.remind_all() == 0 and len(reminders()) == 1, "once per document"


def test_a_renewed_document_is_not_reminded_of(billing) -> None:
    keep(billing, DocumentType.INSURANCE_CERTIFICATE, expires=7)
    keep(billing, DocumentType.INSURANCE_CERTIFICATE, effective=-1, expires=372)
    assert services.remind_all() == 0 and reminders() == []


@pytest.mark.real
@pytest.mark.committed
def test_two_runs_at_once_send_one_reminder(app, billing) -> None:
    """Two reminder jobs started together (a retried job, two cron schedulers) send one
    email: the document is marked reminded by a compare-and-set in the emails' transaction."""
    document_id = keep(billing, DocumentType.INSURANCE_CERTIFICATE, expires=3).id
    today = billing_date()
    barrier = threading.Barrier(2)
    sent: list[int] = []

    def run() -> None:
        with app.app_context():
            barrier.wait()
            sent.append(services.remind_of_expiry(document_id, today))
            time.sleep(0.2)  # hold the row lock while the other waits on it
            db.session.commit()
            db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(sent) == [0, 1]
    assert len(reminders()) == 1


# --------------------------------------------------------------------------- orphans


def test_files_no_record_names_are_swept_after_the_grace_period(app, billing) -> None:
    with tenancy.unscoped():
        kept = keep(billing, DocumentType.LICENSE)
        kept_path = storage.storage_root() / kept.file.storage_key
        # A transaction that fails after its file was written leaves the file behind.
        orphan = storage.keep_bytes(
            PDF,
            original_name="lost.pdf",
            kind="compliance_document",
            content_type="application/pdf",
            extension=".pdf",
        )
        orphan_path = storage.storage_root() / orphan.storage_key
        db.session.rollback()
        fresh = storage.keep_bytes(
            PDF,
            original_name="fresh.pdf",
            kind="compliance_document",
            content_type="application/pdf",
            extension=".pdf",
        )
        fresh_path = storage.storage_root() / fresh.storage_key
        db.session.rollback()
    held = storage.storage_root() / "step-up" / "session.bin"  # not a file keep_bytes names
    held.parent.mkdir(parents=True, exist_ok=True)
    held.write_bytes(b"held")
    old = time.time() - 2 * 86400
    for path in (kept_path, orphan_path, held):
        os.utime(path, (old, old))
    assert storage.sweep_orphans(timedelta(hours=24)) == 1
    assert not orphan_path.exists()
    assert kept_path.exists(), "a file its record names stays"
    assert fresh_path.exists(), "a file younger than the grace period stays"
    assert held.exists(), "a file keep_bytes did not write stays"
