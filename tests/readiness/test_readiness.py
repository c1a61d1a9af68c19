"""Payment readiness: every requirement in every mode, holds that block or only warn, the
settings page, and what the payee is shown."""

from datetime import date

import pytest
import sqlalchemy as sa

from portal.companies import services as company_services
from portal.companies.models import Feature, Role
from portal.core import tenancy
from portal.core.audit import AuditEvent
from portal.core.db import db
from portal.invoicing import services as invoicing
from portal.invoicing.models import Invoice, InvoiceStatus
from portal.readiness import queries, services
from portal.readiness.models import (
    EnforcementMode,
    Hold,
    HoldKind,
    HoldReason,
    HoldStatus,
    PaymentRequirement,
    RequirementKind,
)
from tests.factories import make_user, sign_in

pytestmark = pytest.mark.usefixtures("database")

AVAILABLE = [
    RequirementKind.HOLDS_RELEASED,
    RequirementKind.INVOICE_APPROVED,
    RequirementKind.COMMITMENT_EXECUTED,
    RequirementKind.CHANGE_ORDERS_EXECUTED,
]


def submitted_invoice(billing) -> Invoice:
    """Invoice 1 of SC-7, submitted (under review)."""
    with tenancy.unscoped():
        invoice = invoicing.start_invoice(
            billing.commitment,
            billing.earlier,
            billing_type=invoicing.BillingType.PROGRESS,
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


def only(payor, kind: RequirementKind, mode: EnforcementMode) -> None:
    """Enforce ``kind`` in ``mode`` and nothing else."""
    modes = {k: EnforcementMode.NOT_REQUIRED for k in AVAILABLE}
    modes[kind] = mode
    with tenancy.unscoped():
        services.set_modes(payor, modes, actor_user_id=None)
    db.session.commit()


def make_unmet(kind: RequirementKind, billing, invoice) -> None:
    """Leave exactly ``kind`` unmet (the fixture meets the others once approved)."""
    with tenancy.unscoped():
        if kind is RequirementKind.HOLDS_RELEASED:
            services.apply_hold(
                billing.payor.id,
                kind=HoldKind.INVOICE,
                payee_company_id=billing.payee.id,
                invoice=invoice,
                reason=HoldReason.MISSING_DOCUMENTS,
                description="Certified payroll missing",
                visible_to_payee=True,
                attachment=None,
                actor_user_id=None,
            )
        elif kind is RequirementKind.INVOICE_APPROVED:
            pass  # it stays under review
        elif kind is RequirementKind.COMMITMENT_EXECUTED:
            billing.commitment.executed_on = None
            billing.commitment.executed_by_user_id = None
        elif kind is RequirementKind.CHANGE_ORDERS_EXECUTED:
            invoicing.create_change_order(
                billing.commitment,
                number="CO-9",
                title="Pending",
                rows=[invoicing.ChangeInput(None, "", "Extra", "100", "")],
                actor_user_id=None,
            )
    db.session.commit()


def meet_all(billing, invoice, *, approve: bool) -> None:
    with tenancy.unscoped():
        invoicing.set_executed(billing.commitment, date(2026, 1, 5), actor_user_id=billing.admin.id)
        if approve:
            invoicing.decide_invoice(
                invoice,
                InvoiceStatus.APPROVED,
                comment="",
                line_comments={},
                actor_user_id=billing.admin.id,
            )
    db.session.commit()


def readiness_now(invoice):
    db.session.expire_all()
    with tenancy.unscoped():
        return queries.readiness(db.session.get(Invoice, invoice.id))


@pytest.mark.parametrize("kind", AVAILABLE)
@pytest.mark.parametrize("mode", list(EnforcementMode))
@pytest.mark.parametrize("met", [True, False])
def test_each_requirement_in_each_mode(billing, kind, mode, met) -> None:
    invoice = submitted_invoice(billing)
    unmet_by_review = kind is RequirementKind.INVOICE_APPROVED and not met
    meet_all(billing, invoice, approve=not unmet_by_review)
    if not met:
        make_unmet(kind, billing, invoice)
    only(billing.payor, kind, mode)
    ready = readiness_now(invoice)
    if mode is EnforcementMode.NOT_REQUIRED:
        assert ready.items == () and ready.ready
        return
    (item,) = ready.items
    assert (item.requirement.kind, item.mode, item.met) == (kind, mode, met)
    assert (ready.met, ready.total) == (int(met), 1)
    expected_ready = met or mode is EnforcementMode.ALLOWS_PAYMENT
    assert ready.ready is expected_ready
    # The invoices list filters by the same conditions.
    with tenancy.scoped(billing.payor.id):
        state = queries.invoice_list_state({"readiness": "ready"})
        listed = [row.invoice.id for row in queries.invoice_table(billing.payor.id, state).rows]
    assert (invoice.id in listed) is expected_ready


def test_a_hold_blocks_and_its_release_clears_it(billing, payor_client, payee_client) -> None:
    invoice = submitted_invoice(billing)
    meet_all(billing, invoice, approve=True)
    path = f"/invoices/{invoice.id}"
    assert "Ready to pay" in payor_client.get(f"{path}/readiness").get_data(as_text=True)
    response = payor_client.submit(
        f"{path}/holds",
        {"reason": "work_disputed", "description": "Punch list open on level 3"},
        token_from=path,
    )
    assert response.status_code == 303
    panel = payor_client.get(f"{path}/readiness").get_data(as_text=True)
    assert "Not ready to pay" in panel and "Punch list open on level 3" in panel
    assert "not shown to the payee" in panel
    # The payee is told it waits, not why (the hold is not shown to it).
    seen = payee_client.get(f"{path}/readiness").get_data(as_text=True)
    assert "Waiting on the general contractor" in seen and "Punch list" not in seen
    with tenancy.unscoped():
        hold = db.session.scalar(sa.select(Hold))
    response = payor_client.submit(
        f"/holds/{hold.id}/release",
        {"release_note": "Punch list closed", "invoice_id": str(invoice.id)},
        token_from=path,
    )
    assert response.status_code == 303
    assert readiness_now(invoice).ready
    db.session.expire_all()
    assert hold.status is HoldStatus.RELEASED and hold.release_note == "Punch list closed"
    with tenancy.unscoped():
        actions = set(db.session.scalars(sa.select(AuditEvent.action)))
    assert {"readiness:hold:applied", "readiness:hold:released"} <= actions


def test_a_hold_only_warns_when_its_requirement_allows_payment(billing) -> None:
    invoice = submitted_invoice(billing)
    meet_all(billing, invoice, approve=True)
    make_unmet(RequirementKind.HOLDS_RELEASED, billing, invoice)
    only(billing.payor, RequirementKind.HOLDS_RELEASED, EnforcementMode.ALLOWS_PAYMENT)
    ready = readiness_now(invoice)
    assert ready.ready and ready.unmet and ready.status.value == "ready_with_warnings"


def test_a_vendor_hold_stops_every_invoice_of_the_payee(app, client, billing) -> None:
    invoice = submitted_invoice(billing)
    meet_all(billing, invoice, approve=True)
    admin, phone = make_user(billing.payor, (Role.INVOICE_ADMINISTRATOR,))
    reviewer = type(client)(app, app.response_class, use_cookies=True)
    sign_in(reviewer, admin, phone)
    path = f"/invoices/{invoice.id}"
    form = {"reason": "legal", "description": "Lien filed", "vendor": "1"}
    # An Invoice Administrator holds invoices, not payees.
    assert reviewer.submit(f"{path}/holds", form, token_from=path).status_code == 403
    disburser, phone = make_user(billing.payor, (Role.DISBURSER,))
    holder = type(client)(app, app.response_class, use_cookies=True)
    sign_in(holder, disburser, phone)
    assert holder.submit(f"{path}/holds", form, token_from=path).status_code == 303
    with tenancy.unscoped():
        (hold,) = db.session.scalars(sa.select(Hold))
    assert (hold.kind, hold.invoice_id, hold.payee_company_id) == (
        HoldKind.VENDOR,
        None,
        billing.payee.id,
    )
    assert not readiness_now(invoice).ready


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"reason": "other", "description": ""}, "Say why it is held"),
        ({"reason": "bogus", "description": "x"}, "Not a valid choice"),
    ],
)
def test_a_bad_hold_saves_nothing(billing, payor_client, form, message) -> None:
    invoice = submitted_invoice(billing)
    path = f"/invoices/{invoice.id}"
    response = payor_client.submit(f"{path}/holds", form, token_from=path)
    assert message in response.get_data(as_text=True)
    with tenancy.unscoped():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Hold)) == 0


@pytest.fixture
def settings_client(app, client, billing):
    with tenancy.unscoped():
        company_services.set_feature(
            billing.payor, Feature.PAYMENT_REQUIREMENTS, True, actor_user_id=None
        )
    db.session.commit()
    admin, phone = make_user(billing.payor, (Role.PAYMENTS_ADMIN,))
    signed_in = type(client)(app, app.response_class, use_cookies=True)
    sign_in(signed_in, admin, phone)
    return signed_in


PATH = "/settings/payment-requirements"


def test_the_settings_page_saves_each_mode_and_audits_each_change(settings_client, billing) -> None:
    page = settings_client.get(PATH).get_data(as_text=True)
    assert "Comes with the rest of lien waivers" in page and "Not configured" in page
    response = settings_client.submit(
        PATH,
        {"holds_released": "allows_payment", "commitment_executed": "prevents_payment"},
        token_from=PATH,
    )
    assert response.status_code == 303
    modes = queries.modes_of(billing.payor.id)
    assert modes[RequirementKind.HOLDS_RELEASED] is EnforcementMode.ALLOWS_PAYMENT
    assert modes[RequirementKind.COMMITMENT_EXECUTED] is EnforcementMode.PREVENTS_PAYMENT
    assert modes[RequirementKind.INVOICE_APPROVED] is EnforcementMode.PREVENTS_PAYMENT
    with tenancy.unscoped():
        changed = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "readiness:requirement:changed")
        ).all()
    assert sorted(e.object_id for e in changed) == ["commitment_executed", "holds_released"]


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"sub_tier_waivers_received": "prevents_payment"}, "Comes with the rest of lien waivers"),
        ({"holds_released": "sometimes"}, "Choose one of the three modes"),
    ],
)
def test_a_bad_setting_saves_nothing(settings_client, billing, form, message) -> None:
    response = settings_client.submit(
        PATH, {"holds_released": "allows_payment", **form}, token_from=PATH
    )
    assert message in response.get_data(as_text=True)
    with tenancy.unscoped():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PaymentRequirement)) == 0


def test_the_settings_need_the_feature_and_a_payments_admin(payor_client) -> None:
    assert payor_client.get(PATH).status_code in (403, 404)


def test_the_invoices_list_shows_readiness_and_filters_by_it(billing, payor_client) -> None:
    invoice = submitted_invoice(billing)
    page = payor_client.get("/invoices").get_data(as_text=True)
    assert "SC-7 · no. 1" in page and "Not ready to pay" in page and "1 of 2 met" in page
    meet_all(billing, invoice, approve=True)
    page = payor_client.get("/invoices?readiness=ready").get_data(as_text=True)
    assert "SC-7 · no. 1" in page and "2 of 2 met" in page
    page = payor_client.get("/invoices?readiness=not_ready").get_data(as_text=True)
    assert "SC-7 · no. 1" not in page and "No invoice matches these filters" in page
    fragment = payor_client.get("/invoices?readiness=ready", headers={"HX-Request": "true"})
    assert "<html" not in fragment.get_data(as_text=True)
    assert "SC-7 · no. 1" in fragment.get_data(as_text=True)


@pytest.mark.parametrize("kind", [HoldKind.INVOICE, HoldKind.VENDOR])
def test_the_held_filter_and_a_sorted_ready_filter_agree_with_the_panel(
    billing, payor_client, kind
) -> None:
    """The readiness filters run on the invoices the other filters found (the list's
    two-step query): held ones are listed as held, in any order, and never as ready."""
    invoice = submitted_invoice(billing)
    meet_all(billing, invoice, approve=True)
    listed = "SC-7 · no. 1"
    for sort in ("", "&sort=payee&dir=desc", "&sort=due", "&sort=period&dir=asc"):
        assert listed in payor_client.get(f"/invoices?readiness=ready{sort}").get_data(as_text=True)
        assert listed not in payor_client.get(f"/invoices?readiness=held{sort}").get_data(
            as_text=True
        )
    with tenancy.unscoped():
        services.apply_hold(
            billing.payor.id,
            kind=kind,
            payee_company_id=billing.payee.id,
            invoice=invoice if kind is HoldKind.INVOICE else None,
            reason=HoldReason.OTHER,
            description="Held",
            visible_to_payee=False,
            attachment=None,
            actor_user_id=None,
        )
    db.session.commit()
    for sort in ("", "&sort=payee&dir=desc", "&sort=due"):
        held = payor_client.get(f"/invoices?readiness=held{sort}").get_data(as_text=True)
        assert listed in held
        assert listed not in payor_client.get(f"/invoices?readiness=ready{sort}").get_data(
            as_text=True
        )
        assert listed in payor_client.get(f"/invoices?readiness=not_ready{sort}").get_data(
            as_text=True
        )
