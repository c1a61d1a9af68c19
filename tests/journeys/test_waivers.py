"""Lien waivers in Chromium: the payee's invoice contact finds the conditional waiver on their
home page, reads it and signs it with consent; the invoice's readiness item turns met; a
simulated settlement makes the unconditional waiver, the payee signs it, and the payor
downloads it and its verification page says it is intact."""

import hashlib
from pathlib import Path

import pytest

from portal.companies import services as company_services
from portal.companies.models import Feature
from portal.core import tenancy
from portal.core.db import db
from portal.invoicing import services as invoicing
from portal.invoicing.models import Invoice, InvoiceStatus
from portal.invoicing.policies import billing_date
from portal.readiness import services as readiness
from portal.readiness.models import EnforcementMode, RequirementKind
from portal.waivers import services as waivers
from tests.billing_world import billing  # noqa: F401
from tests.journeys.dialogs import confirm
from tests.journeys.people import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.committed, pytest.mark.real]


def test_the_payee_signs_its_waiver_and_the_payor_relies_on_it(
    page,
    another_person,
    billing,  # noqa: F811
) -> None:
    with tenancy.unscoped():
        company_services.set_feature(billing.payor, Feature.LIEN_WAIVERS, True, actor_user_id=None)
        readiness.set_modes(
            billing.payor,
            {RequirementKind.LIEN_WAIVER_SIGNED: EnforcementMode.PREVENTS_PAYMENT},
            actor_user_id=None,
        )
        invoice = invoicing.start_invoice(
            billing.commitment,
            billing.earlier,
            billing_type=invoicing.BillingType.PROGRESS,
            actor_user_id=billing.contact.id,
            on_behalf=False,
        )
        invoicing.save_invoice(
            invoice,
            [invoicing.LineBill(invoice.lines[0].sov_line_id, "6,000", "")],
            "",
            actor_user_id=billing.contact.id,
        )
        invoicing.submit_invoice(invoice, actor_user_id=billing.contact.id, on_behalf=False)
        invoicing.decide_invoice(
            invoice,
            InvoiceStatus.APPROVED,
            comment="",
            line_comments={},
            actor_user_id=billing.admin.id,
        )
        invoice_id = invoice.id
    db.session.commit()

    # 1. The payor's reviewer sees the invoice is not ready: its waiver is not signed.
    admin = another_person()
    sign_in(admin, billing.admin.email, billing.admin_phone)
    admin.goto(f"/invoices/{invoice_id}")
    panel = admin.locator("#readiness-panel")
    panel.get_by_text("Lien waiver signed").wait_for()
    assert "Not ready to pay" in panel.text_content()

    # 2. The invoice contact finds the waiver on their home page, reads it and signs it.
    sign_in(page, billing.contact.email, billing.contact_phone)
    queue = page.get_by_role("region", name="Lien waivers to sign")
    queue.get_by_role("link").first.click()
    page.get_by_role("heading", name="Conditional progress lien waiver").wait_for()
    with page.expect_download() as unsigned:
        page.get_by_role("link", name="download the PDF").click()
    assert unsigned.value.suggested_filename.endswith(".pdf")
    page.get_by_role("button", name="Sign the waiver").click()
    confirm(page, "Your signature cannot be taken back")
    page.get_by_text("Agree to sign electronically first").wait_for()  # consent comes first
    page.get_by_label("I agree to sign electronically").check()
    page.get_by_label("Your full name").fill("Bailey Billing")
    page.get_by_label("Your title").fill("Project accountant")
    page.get_by_label("Signature (type your name)").fill("Bailey Billing")
    page.get_by_role("button", name="Sign the waiver").click()
    confirm(page)
    page.get_by_text("Waiver signed.").wait_for()
    assert "Bailey Billing, Project accountant" in page.locator("main").text_content()

    # 3. The reviewer sees the requirement met.
    admin.goto(f"/invoices/{invoice_id}")
    admin.locator("#readiness-panel").get_by_text("Ready to pay").wait_for()

    # 4. The payment settles (simulated, as the payments side will report it): Trestle makes
    # the unconditional waiver from the signed conditional one; the payee signs it.
    with tenancy.unscoped():
        invoice = db.session.get(Invoice, invoice_id)
        unconditional_id = waivers.settled(
            invoice,
            amount_cents=invoice.current_due_cents,
            paid_on=billing_date(),
            reference="ACH TRACE 021000029999001",
        ).id
    db.session.commit()
    page.goto("/dashboard")
    page.get_by_role("region", name="Lien waivers to sign").get_by_role(
        "link", name="Unconditional progress"
    ).click()
    assert "bank reference ACH TRACE 021000029999001" in page.locator("main").text_content()
    page.get_by_label("I agree to sign electronically").check()
    page.get_by_label("Your full name").fill("Bailey Billing")
    page.get_by_label("Your title").fill("Project accountant")
    page.get_by_label("Signature (type your name)").fill("Bailey Billing")
    page.get_by_role("button", name="Sign the waiver").click()
    confirm(page, "Your signature cannot be taken back")
    page.get_by_text("Waiver signed.").wait_for()

    # 5. The reviewer downloads the signed unconditional waiver and verifies it intact.
    admin.goto(f"/waivers/{unconditional_id}")
    with admin.expect_download() as signed:
        admin.get_by_role("link", name="The signed waiver (PDF)").click()
    data = Path(signed.value.path()).read_bytes()
    recorded = admin.locator("code.hash").text_content().strip()
    assert hashlib.sha256(data).hexdigest() == recorded
    admin.get_by_role("link", name="Check that the document is intact").click()
    admin.get_by_text("Intact: that SHA-256 is the one of the document that was signed.").wait_for()
