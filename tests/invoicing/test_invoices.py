"""Pay applications: started in an open period, filled in line by line, submitted, reviewed
in rounds, approved; the G702 figures computed (never typed) and printed in the PDF."""

import io
import subprocess
from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.core import tenancy
from portal.core.audit import AuditEvent
from portal.core.db import db
from portal.invoicing import policies, services
from portal.invoicing.models import (
    BillingType,
    Invoice,
    InvoiceAttachment,
    InvoiceStatus,
    ReviewDecision,
)
from portal.notifications.models import EmailMessage
from tests.factories import make_user, sign_in

pytestmark = pytest.mark.usefixtures("database")


def fresh(invoice_id: int) -> Invoice:
    db.session.expire_all()
    with tenancy.unscoped():
        return db.session.get(Invoice, invoice_id)


def invoices() -> list[Invoice]:
    db.session.expire_all()
    with tenancy.unscoped():
        return list(db.session.scalars(sa.select(Invoice).order_by(Invoice.id)))


def start(client, billing, period, billing_type="progress", **kwargs):
    path = f"/billing/commitments/{billing.commitment.id}"
    return client.submit(
        f"{path}/invoices",
        {"period_id": str(period.id), "billing_type": billing_type},
        token_from=path,
        **kwargs,
    )


def bill(client, invoice, amounts: dict[int, tuple[str, str]], *, submit=False, note="", **kw):
    """Fill in the lines by item: {item: (work this period, stored)}."""
    lines = {line.item: line.sov_line_id for line in fresh(invoice.id).lines}
    form = {"note": note}
    for item, (work, stored) in amounts.items():
        form[f"work-{lines[item]}"] = work
        form[f"stored-{lines[item]}"] = stored
    if submit:
        form["submit"] = "1"
    path = f"/invoices/{invoice.id}"
    return client.submit(path, form, token_from=path, **kw)


def decide(client, invoice, decision, comment="", **line_comments):
    path = f"/invoices/{invoice.id}"
    form = {"decision": decision, "comment": comment}
    form |= {f"comment-{item.removeprefix('line')}": text for item, text in line_comments.items()}
    return client.submit(f"{path}/decision", form, token_from=path)


def first_invoice(payee_client, payor_client, billing) -> Invoice:
    """Application 1 of the worked example, submitted and approved."""
    assert start(payee_client, billing, billing.earlier).status_code == 303
    (invoice,) = invoices()
    response = bill(
        payee_client,
        invoice,
        {1: ("30,000", "5,000"), 2: ("10000", ""), 3: ("", "")},
        submit=True,
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    assert decide(payor_client, invoice, "approved").status_code == 303
    return fresh(invoice.id)


def test_the_worked_example_billed_through_the_portal(payee_client, payor_client, billing):
    first = first_invoice(payee_client, payor_client, billing)
    assert (first.completed_stored_cents, first.retainage_cents) == (4_500_000, 400_000)
    assert first.current_due_cents == 4_100_000
    assert first.status is InvoiceStatus.APPROVED
    assert first.approved_by_user_id == billing.admin.id

    assert start(payee_client, billing, billing.later).status_code == 303
    second = invoices()[-1]
    assert second.number == 2
    response = bill(
        payee_client,
        second,
        {1: ("20,000", ""), 2: ("12,500", "2,000"), 3: ("3,333.33", "")},
        submit=True,
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    second = fresh(second.id)
    assert second.contract_sum_to_date_cents == 10_750_050
    assert second.completed_stored_cents == 7_783_333
    assert (second.retainage_completed_cents, second.retainage_stored_cents) == (637_500, 10_000)
    assert second.previous_certificates_cents == 4_100_000
    assert second.current_due_cents == 3_035_833
    page = payor_client.get(f"/invoices/{second.id}").get_data(as_text=True)
    for figure in ("$30,358.33", "$71,358.33", "$36,142.17", "$6,475.00", "$41,000.00"):
        assert figure in page

    pdf = payor_client.get(f"/invoices/{second.id}/pdf")
    data = pdf.data
    pdf.close()
    assert pdf.headers["Content-Type"] == "application/pdf"
    assert "attachment" in pdf.headers["Content-Disposition"]
    text = subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=data, capture_output=True, check=True
    ).stdout.decode()
    for figure in ("$107,500.50", "$77,833.33", "$6,375.00", "$100.00", "$6,475.00"):
        assert figure in text
    assert "Current payment due" in text and "$30,358.33" in text
    assert "Continuation Sheet" in text and "Canopy (7.5% retained)" in text
    assert "$36,142.17" in text and "Not an AIA document" in text


def test_a_percentage_bills_that_share_of_the_line(payee_client, billing) -> None:
    start(payee_client, billing, billing.earlier)
    (invoice,) = invoices()
    bill(payee_client, invoice, {1: ("25%", ""), 3: ("33.33%", "")})
    invoice = fresh(invoice.id)
    assert [x.this_period_cents for x in invoice.lines] == [1_500_000, 0, 333_317]


@pytest.mark.parametrize(
    ("amounts", "message"),
    [
        ({1: ("60,000", "0.01")}, "beyond 100%"),
        ({1: ("101%", "")}, "cannot be more than 100"),
        ({1: ("-5", "")}, "Line 1, work this period: The amount cannot be negative"),
        ({2: ("1e3", "")}, "Line 2, work this period: Write the amount out in full"),
        ({2: ("", "abc")}, "Line 2, stored materials: Enter an amount"),
        ({3: ("12.345", "")}, "at most two decimal places"),
    ],
)
def test_a_bad_amount_saves_nothing(payee_client, billing, amounts, message) -> None:
    start(payee_client, billing, billing.earlier)
    (invoice,) = invoices()
    bill(payee_client, invoice, {1: ("1,000", "")})
    response = bill(payee_client, invoice, {**{2: ("500", "")}, **amounts})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert message in page and "Nothing was saved" in page
    invoice = fresh(invoice.id)
    assert [x.this_period_cents for x in invoice.lines] == [100_000, 0, 0]
    assert invoice.current_due_cents == 90_000


def test_nothing_billed_is_not_submitted(payee_client, billing) -> None:
    start(payee_client, billing, billing.earlier)
    (invoice,) = invoices()
    response = bill(payee_client, invoice, {}, submit=True)
    assert "Nothing is billed this period" in response.get_data(as_text=True)
    assert fresh(invoice.id).status is InvoiceStatus.DRAFT


def test_after_the_due_date_only_the_payor_enters_the_invoice(
    payee_client, payor_client, billing
) -> None:
    response = start(payee_client, billing, billing.closed, follow_redirects=True)
    assert "invoices for it were due then" in response.get_data(as_text=True)
    assert invoices() == []
    path = f"/commitments/{billing.commitment.id}"
    response = payor_client.submit(
        f"{path}/invoices",
        {"period_id": str(billing.closed.id), "billing_type": "progress"},
        token_from=path,
    )
    assert response.status_code == 303
    (invoice,) = invoices()
    assert invoice.on_behalf
    response = bill(payor_client, invoice, {1: ("1,000", "")}, submit=True)
    assert response.status_code == 303
    assert fresh(invoice.id).status is InvoiceStatus.UNDER_REVIEW


def test_the_next_invoice_waits_for_the_approval_of_the_last(payee_client, billing) -> None:
    start(payee_client, billing, billing.earlier)
    (invoice,) = invoices()
    bill(payee_client, invoice, {1: ("1,000", "")}, submit=True)
    response = start(payee_client, billing, billing.later, follow_redirects=True)
    assert "the next one starts once it is approved" in response.get_data(as_text=True)
    response = start(payee_client, billing, billing.earlier, follow_redirects=True)
    assert "already has an invoice for" in response.get_data(as_text=True)
    assert len(invoices()) == 1


def test_revise_and_resubmit_keeps_every_round(payee_client, payor_client, billing) -> None:
    start(payee_client, billing, billing.earlier)
    (invoice,) = invoices()
    bill(payee_client, invoice, {1: ("30,000", ""), 2: ("10,000", "")}, submit=True)
    response = decide(payor_client, invoice, "revise_and_resubmit")
    assert "Say what to revise" in response.get_data(as_text=True)
    assert fresh(invoice.id).status is InvoiceStatus.UNDER_REVIEW

    decide(payor_client, invoice, "revise_and_resubmit", line2="Erection is at 20%, not 27%.")
    invoice = fresh(invoice.id)
    assert invoice.status is InvoiceStatus.REVISE_AND_RESUBMIT
    page = payee_client.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    assert "Erection is at 20%, not 27%." in page and "Returned to revise and resubmit" in page
    with tenancy.unscoped():
        (email,) = db.session.scalars(
            sa.select(EmailMessage).where(EmailMessage.template == "invoice_decided")
        )
    assert email.to_address == "bailey@ironline.example"
    assert "Line 2: Erection is at 20%" in email.text_body

    bill(payee_client, invoice, {1: ("30,000", ""), 2: ("7,500", "")}, submit=True)
    invoice = fresh(invoice.id)
    assert (invoice.status, invoice.round) == (InvoiceStatus.UNDER_REVIEW, 2)
    response = decide(payor_client, invoice, "approved_as_noted")
    assert "Write the note it is approved with" in response.get_data(as_text=True)
    decide(payor_client, invoice, "approved_as_noted", "Approved; stored steel next month.")
    invoice = fresh(invoice.id)
    assert invoice.status is InvoiceStatus.APPROVED_AS_NOTED
    assert [(e.round, e.decision) for e in invoice.events] == [
        (1, ReviewDecision.SUBMITTED),
        (1, ReviewDecision.REVISE_AND_RESUBMIT),
        (2, ReviewDecision.SUBMITTED),
        (2, ReviewDecision.APPROVED_AS_NOTED),
    ]
    # Each round keeps what it asked for.
    assert invoice.events[0].lines[1]["this_period_cents"] == 1_000_000
    assert invoice.events[2].lines[1]["this_period_cents"] == 750_000
    assert invoice.events[1].lines == [{"item": 2, "comment": "Erection is at 20%, not 27%."}]
    # Decided once: a second decision is refused and changes nothing.
    decide(payor_client, invoice, "revise_and_resubmit", "again")
    assert fresh(invoice.id).status is InvoiceStatus.APPROVED_AS_NOTED
    with tenancy.unscoped():
        actions = list(
            db.session.scalars(
                sa.select(AuditEvent.action)
                .where(AuditEvent.object_type == "invoice")
                .order_by(AuditEvent.id)
            )
        )
    assert actions.count("invoicing:invoice:submitted") == 2
    assert "invoicing:invoice:revise_and_resubmit" in actions
    assert actions[-1] == "invoicing:invoice:approved_as_noted"


def test_an_approved_invoice_no_longer_changes(payee_client, payor_client, billing) -> None:
    invoice = first_invoice(payee_client, payor_client, billing)
    response = bill(payee_client, invoice, {1: ("1", "")}, follow_redirects=True)
    assert "can no longer be changed" in response.get_data(as_text=True)
    assert fresh(invoice.id).current_due_cents == 4_100_000


def test_a_final_invoice_then_the_retainage_release(payee_client, payor_client, billing):
    start(payee_client, billing, billing.earlier, billing_type="retainage_release")
    assert invoices() == []  # nothing is finished yet
    start(payee_client, billing, billing.earlier, billing_type="final")
    (final,) = invoices()
    response = bill(payee_client, final, {1: ("60,000", ""), 2: ("37,500", "")}, submit=True)
    assert "line 3 has $10,000.50 left" in response.get_data(as_text=True)
    bill(
        payee_client,
        final,
        {1: ("60,000", ""), 2: ("37,500", ""), 3: ("10,000.50", "")},
        submit=True,
    )
    decide(payor_client, final, "approved")
    final = fresh(final.id)
    held = final.retainage_cents
    assert held == 600_000 + 187_500 + 75_004  # 10%, 5% and 7.5% of each whole line
    assert final.current_due_cents == 10_750_050 - held

    response = start(payee_client, billing, billing.later, follow_redirects=True)
    assert "only a retainage release is left" in response.get_data(as_text=True)
    start(payee_client, billing, billing.later, billing_type="retainage_release")
    release = invoices()[-1]
    assert release.billing_type is BillingType.RETAINAGE_RELEASE
    response = bill(payee_client, release, {1: ("1", "")})
    assert "bills no work" in response.get_data(as_text=True)
    bill(payee_client, release, {}, submit=True)
    release = fresh(release.id)
    assert release.status is InvoiceStatus.UNDER_REVIEW
    assert release.retainage_cents == 0
    assert release.current_due_cents == held


def test_who_may_read_bill_and_review(app, client, payee_client, payor_client, billing):
    start(payee_client, billing, billing.earlier)
    (invoice,) = invoices()
    path = f"/invoices/{invoice.id}"
    # The payor's reviewer reads it but does not bill a payee's own invoice.
    assert payor_client.get(path).status_code == 200
    response = bill(payor_client, invoice, {1: ("1", "")})
    assert response.status_code == 403
    # The payee's Payments Admin reads it; a payee user who is no contact does not.
    from portal.companies.models import Role

    admin, phone = make_user(billing.payee, (Role.PAYEE_ADMIN,))
    reader = type(client)(app, app.response_class, use_cookies=True)
    sign_in(reader, admin, phone)
    assert reader.get(path).status_code == 200
    assert bill(reader, invoice, {1: ("1", "")}).status_code == 403
    assert decide(reader, invoice, "approved").status_code == 403
    stranger, phone = make_user(billing.payee)
    outsider = type(client)(app, app.response_class, use_cookies=True)
    sign_in(outsider, stranger, phone)
    assert outsider.get(path).status_code == 403
    assert fresh(invoice.id).current_due_cents == 0


LETTER_PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (b"MZ\x90\x00 not a document", "backup.pdf", "must be one of"),
        (b"", "empty.pdf", "The file is empty"),
        (b"%PDF-1.4\n" + b"0" * (10 * 1024 * 1024), "huge.pdf", "larger than 10 MB"),
    ],
)
def test_a_bad_attachment_is_refused_and_kept_nowhere(
    payee_client, billing, content, name, message
) -> None:
    start(payee_client, billing, billing.earlier)
    (invoice,) = invoices()
    path = f"/invoices/{invoice.id}"
    response = payee_client.submit(
        f"{path}/attachments",
        {"attachment": (io.BytesIO(content), name)},
        token_from=path,
        content_type="multipart/form-data",
    )
    # Werkzeug's test client spools a large body to a temporary file; the test closes it.
    response.request.environ["wsgi.input"].close()
    assert message in response.get_data(as_text=True)
    with tenancy.unscoped():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(InvoiceAttachment)) == 0


def test_an_attachment_is_kept_and_downloaded(payee_client, payor_client, billing) -> None:
    start(payee_client, billing, billing.earlier)
    (invoice,) = invoices()
    path = f"/invoices/{invoice.id}"
    response = payee_client.submit(
        f"{path}/attachments",
        {"attachment": (io.BytesIO(LETTER_PDF), "delivery-ticket.pdf")},
        token_from=path,
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    (attached,) = fresh(invoice.id).attachments
    download = payor_client.get(f"{path}/attachments/{attached.id}")
    assert download.data == LETTER_PDF
    assert "delivery-ticket.pdf" in download.headers["Content-Disposition"]
    download.close()


def test_the_sheet_follows_a_change_order_approved_while_it_is_a_draft(
    payee_client, billing
) -> None:
    start(payee_client, billing, billing.earlier)
    (invoice,) = invoices()
    with tenancy.unscoped():
        order = services.create_change_order(
            billing.commitment,
            number="CO-2",
            title="Handrails",
            rows=[services.ChangeInput(None, "", "Handrails", "4,000", "")],
            actor_user_id=billing.admin.id,
        )
        services.approve_change_order(order, actor_user_id=billing.admin.id)
    db.session.commit()
    bill(payee_client, invoice, {1: ("1,000", "")})
    invoice = fresh(invoice.id)
    assert [x.description for x in invoice.lines][-1] == "Handrails"
    assert invoice.contract_sum_to_date_cents == 11_150_050


def test_a_returned_invoice_is_resubmitted_after_its_due_date(
    payee_client, payor_client, billing
) -> None:
    start(payee_client, billing, billing.earlier)
    (invoice,) = invoices()
    bill(payee_client, invoice, {1: ("30,000", "")}, submit=True)
    decide(payor_client, invoice, "revise_and_resubmit", line1="20,000 is what is in place.")
    with tenancy.unscoped():
        period = db.session.get(type(billing.earlier), billing.earlier.id)
        period.due_on = policies.billing_date() - timedelta(days=1)  # passed while revised
    db.session.commit()
    response = bill(payee_client, invoice, {1: ("20,000", "")}, submit=True)
    assert response.status_code == 303
    assert fresh(invoice.id).status is InvoiceStatus.UNDER_REVIEW
