"""A pay application's whole round in Chromium: the payor's admin sets up a project, a
commitment and a billing period; the payee's invoice contact submits; the admin asks for a
revision of one line; the payee resubmits; the admin approves; a hold makes the invoice not
ready to pay and releasing it makes it ready again."""

from datetime import timedelta

import pytest

from portal.companies import services as company_services
from portal.companies.models import CompanyKind, Feature, Role
from portal.core import tenancy
from portal.core.db import db
from portal.invoicing.policies import billing_date
from portal.onboarding import services as onboarding
from portal.onboarding.models import OnboardingStatus
from tests.factories import make_company, make_user
from tests.journeys.dialogs import confirm
from tests.journeys.people import go_to, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.committed, pytest.mark.real]


def test_an_invoice_is_set_up_billed_revised_approved_held_and_released(
    page, another_person
) -> None:
    payor = make_company(CompanyKind.PAYOR, "Granite Builders")
    payee = make_company(CompanyKind.PAYEE, "Copperline Electric")
    with tenancy.unscoped():
        for feature in (Feature.PAY, Feature.INVOICE_MANAGEMENT):
            company_services.set_feature(payor, feature, True, actor_user_id=None)
        relationship = onboarding.add_to_directory(
            payor,
            onboarding.Invitee("Copperline Electric", "ap@copperline.example"),
            actor_user_id=None,
        )
        relationship.payee_id = payee.id  # onboarded and approved (its own journey)
        relationship.status = OnboardingStatus.APPROVED
    db.session.commit()
    admin, admin_phone = make_user(payor, (Role.PAYMENTS_ADMIN,))
    contact, contact_phone = make_user(payee, email="cy@copperline.example")

    # 1. The admin sets up the project, the commitment and a billing period.
    sign_in(page, admin.email, admin_phone)
    go_to(page, "Projects")
    page.get_by_label("Project name").fill("Canal Street Lofts")
    page.get_by_label("Project number").fill("GB-7")
    page.get_by_label("Job site address").fill("12 Canal St")
    page.get_by_label("City").fill("Sacramento")
    page.get_by_label("State").select_option("CA")
    page.get_by_label("ZIP code").fill("95814")
    page.get_by_role("button", name="Add project").click()
    page.get_by_role("link", name="Canal Street Lofts").click()
    page.get_by_label("Payee", exact=True).select_option(label="Copperline Electric")
    page.get_by_label("Commitment number").fill("SC-21")
    page.get_by_label("Title").fill("Electrical")
    page.get_by_label("Contract sum").fill("50,000.00")
    page.get_by_role("button", name="Draft the commitment").click()
    page.get_by_label("Line 1 description").fill("Rough-in")
    page.get_by_label("Line 1 scheduled value").fill("30,000")
    page.get_by_label("Line 2 description").fill("Fixtures")
    page.get_by_label("Line 2 scheduled value").fill("20,000")
    page.get_by_label("Line 2 retainage %").fill("5")
    page.get_by_role("button", name="Save the schedule of values").click()
    page.get_by_text("Schedule of values saved: 2 lines totalling $50,000.00").wait_for()
    page.get_by_role("button", name="Approve the commitment").click()
    confirm(page, "Its schedule of values is fixed")
    page.get_by_text("its payee can bill against it").wait_for()
    page.get_by_label(contact.name, exact=False).check()
    page.get_by_role("button", name="Save the invoice contacts").click()
    page.get_by_text("Invoice contacts saved.").wait_for()
    page.get_by_role("link", name="Canal Street Lofts").first.click()
    page.get_by_role("link", name="Billing periods").click()
    page.get_by_text("Add one period by its dates").click()
    today = billing_date()
    page.get_by_label("Starts on").fill((today - timedelta(days=5)).isoformat())
    page.get_by_label("Ends on").fill((today + timedelta(days=20)).isoformat())
    page.get_by_label("Invoices due on", exact=True).fill((today + timedelta(days=10)).isoformat())
    page.get_by_role("button", name="Add the period").click()
    page.get_by_text("Billing period").first.wait_for()
    page.get_by_role("button", name="Invite to bill").click()
    confirm(page, "is open for their invoices")
    page.get_by_text("1 invoice contact invited").wait_for()

    # 2. The payee's invoice contact bills the commitment and submits.
    payee_page = another_person()
    sign_in(payee_page, contact.email, contact_phone)
    go_to(payee_page, "Billing")
    payee_page.get_by_role("link", name="SC-21 · Electrical").click()
    payee_page.get_by_role("button", name="Start the invoice").click()
    payee_page.get_by_label("Line 1 work this period").fill("25%")
    payee_page.get_by_label("Line 2 work this period").fill("8,000")
    payee_page.get_by_label("Line 2 materials presently stored").fill("1,500")
    payee_page.get_by_role("button", name="Save and submit for review").click()
    confirm(payee_page, "Submit invoice 1 for review?")
    payee_page.get_by_text("Invoice 1 submitted for review").wait_for()
    # $7,500 at 10% and $9,500 at 5%: $17,000 less $1,225.00 retained.
    assert "$15,775.00" in payee_page.locator("#summary-heading + dl").text_content()

    # 3. The admin asks for a revision of line 2.
    go_to(page, "Invoices")
    page.get_by_role("link", name="SC-21 · no. 1").click()
    page.locator("#readiness-panel h2").wait_for()  # the panel came in by htmx
    assert "Not ready to pay" in page.locator("#readiness-panel").text_content()
    page.get_by_label("Return to revise and resubmit").check()
    page.get_by_text("Comments on lines (what to revise)").click()
    page.get_by_label("Line 2: Fixtures").fill("Fixtures are 30% in place, not 40%.")
    page.get_by_role("button", name="Record the decision").click()
    page.get_by_text("revise and resubmit.").first.wait_for()

    # 4. The payee reads the comment, corrects the line and resubmits.
    payee_page.reload()
    assert "Fixtures are 30% in place, not 40%." in payee_page.content()
    payee_page.get_by_label("Line 2 work this period").fill("6,000")
    payee_page.get_by_role("button", name="Save and submit for review").click()
    confirm(payee_page)
    payee_page.get_by_text("Invoice 1 submitted for review").wait_for()

    # 5. The admin approves: it is ready to pay.
    page.reload()
    page.get_by_label("Approve", exact=True).check()
    page.get_by_role("button", name="Record the decision").click()
    page.get_by_text("approved.").first.wait_for()
    panel = page.locator("#readiness-panel")
    panel.locator("h2").wait_for()
    assert "Ready to pay" in panel.text_content()
    assert "2 of 2" in panel.text_content()

    # 6. A hold stops it; releasing the hold makes it ready again.
    page.get_by_text("Hold payment").click()
    page.get_by_label("Reason").select_option(label="Missing documents")
    page.get_by_label("What it waits for").fill("Certified payroll for November")
    page.get_by_role("button", name="Hold this invoice").click()
    page.get_by_text("Invoice held").wait_for()
    panel.locator("h2").wait_for()
    assert "Not ready to pay" in panel.text_content()
    assert "Certified payroll for November" in panel.text_content()
    panel.get_by_role("button", name="Release the hold").click()
    confirm(page, "Release this invoice hold?")
    page.get_by_text("Invoice hold released.").wait_for()
    page.locator("#readiness-panel h2").wait_for()
    assert "Ready to pay" in page.locator("#readiness-panel").text_content()
