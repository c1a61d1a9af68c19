"""A lien waiver in Chromium: the payee's invoice contact finds it on their home page, reads
it and signs it with consent; the invoice's readiness item turns met; the payor downloads
the signed waiver and its verification page says it is intact."""

import hashlib
from pathlib import Path

import pytest

from portal.companies import services as company_services
from portal.companies.models import Feature
from portal.core import tenancy
from portal.core.db import db
from portal.invoicing import services as invoicing
from portal.invoicing.models import InvoiceStatus
from portal.readiness import services as readiness
from portal.readiness.models import EnforcementMode, RequirementKind
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

    # 3. The reviewer sees the requirement met, downloads the signed waiver and verifies it.
    admin.goto(f"/invoices/{invoice_id}")
    admin.locator("#readiness-panel").get_by_text("Ready to pay").wait_for()
    admin.locator("#waivers-panel").get_by_role("link", name="Conditional progress").click()
    with admin.expect_download() as signed:
        admin.get_by_role("link", name="The signed waiver (PDF)").click()
    data = Path(signed.value.path()).read_bytes()
    recorded = admin.locator("code.hash").text_content().strip()
    assert hashlib.sha256(data).hexdigest() == recorded
    admin.get_by_role("link", name="Check that the document is intact").click()
    admin.get_by_text("Intact: this is the document that was signed.").wait_for()
