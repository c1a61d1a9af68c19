"""Lien waivers of invoices: made when an invoice is submitted (on the form of the project's
state, every fact in its blank), made again when the amount changes, signed once by the
payee's invoice contact with consent, and verified by anyone holding the signed PDF (one
changed byte and it is not intact); readiness follows the signature."""

import hashlib
import io

import pytest
import sqlalchemy as sa

from portal.companies import services as company_services
from portal.companies.models import Feature, Role
from portal.core import storage, tenancy
from portal.core.audit import AuditEvent
from portal.core.db import db
from portal.invoicing import services as invoicing
from portal.invoicing.models import Invoice, InvoiceStatus, Project
from portal.notifications.models import EmailMessage
from portal.readiness import queries as readiness
from portal.readiness import services as readiness_services
from portal.readiness.models import EnforcementMode, RequirementKind
from portal.waivers import forms, services
from portal.waivers.forms import WaiverKind
from portal.waivers.models import CONSENT_VERSION, LienWaiver, WaiverStatus
from tests.factories import make_user, sign_in
from tests.waivers.test_forms import normalized, pattern_of, pdftotext, statute_forms

pytestmark = pytest.mark.usefixtures("database")


@pytest.fixture
def waivers_on(billing):
    with tenancy.unscoped():
        company_services.set_feature(billing.payor, Feature.LIEN_WAIVERS, True, actor_user_id=None)
        project = db.session.get(Project, billing.commitment.project_id)
        project.owner_name = "Harbor Tower Owner LLC"
    db.session.commit()
    return billing


def submit(billing, amount="1,000") -> Invoice:
    with tenancy.unscoped():
        invoice = invoicing.start_invoice(
            billing.commitment,
            billing.earlier,
            billing_type=invoicing.BillingType.PROGRESS,
            actor_user_id=billing.contact.id,
            on_behalf=False,
        )
        invoicing.save_invoice(
            invoice,
            [invoicing.LineBill(invoice.lines[0].sov_line_id, amount, "")],
            "",
            actor_user_id=billing.contact.id,
        )
        invoicing.submit_invoice(invoice, actor_user_id=billing.contact.id, on_behalf=False)
    db.session.commit()
    return invoice


def waivers() -> list[LienWaiver]:
    db.session.expire_all()
    with tenancy.unscoped():
        return list(db.session.scalars(sa.select(LienWaiver).order_by(LienWaiver.id)))


def emails(template: str) -> list[EmailMessage]:
    with tenancy.unscoped():
        return list(
            db.session.scalars(sa.select(EmailMessage).where(EmailMessage.template == template))
        )


def stored_bytes(record) -> bytes:
    with storage.open_file(record) as stream:
        return stream.read()


def test_submitting_makes_the_conditional_waiver_of_the_projects_state(
    waivers_on, tmp_path
) -> None:
    invoice = submit(waivers_on)
    (waiver,) = waivers()
    assert waiver.kind is WaiverKind.CONDITIONAL_PROGRESS
    assert waiver.status is WaiverStatus.AWAITING_SIGNATURE
    assert waiver.form_key == "TX-53.284(b)" and waiver.state == "TX"  # the project is in Texas
    assert waiver.amount_cents == invoice.current_due_cents > 0
    assert waiver.file.storage_key.startswith("waivers/")
    (email,) = emails("waiver_to_sign")
    assert email.to_address == waivers_on.contact.email
    # The PDF is the Texas form word for word, every fact in its blank.
    form = forms.form_for("TX", WaiverKind.CONDITIONAL_PROGRESS)
    statute = statute_forms(forms.STATUTES / "tx.txt")[0]
    text = normalized(pdftotext(stored_bytes(waiver.file), tmp_path))
    found = pattern_of(statute).fullmatch(text)
    assert found, text
    filled = " ".join(g or "" for g in found.groups())
    for fact in (
        "Ironline Steel",  # claimant, company name
        waivers_on.payor.name,  # maker, and the person the signer contracted with
        "Harbor Tower Owner LLC",  # owner
        "1 Main St, Austin, TX 78701",  # location
        f"{invoice.current_due_cents // 100:,}.{invoice.current_due_cents % 100:02d}",
        "SC-7 Structural steel",  # job description
    ):
        assert fact in filled, fact
    assert form.key == waiver.form_key


def test_no_waiver_without_the_feature(billing) -> None:
    submit(billing)
    assert waivers() == [] and emails("waiver_to_sign") == []


def test_a_new_amount_makes_a_new_waiver_and_the_old_one_is_superseded(waivers_on) -> None:
    invoice = submit(waivers_on, "1,000")
    with tenancy.unscoped():
        invoice = db.session.get(Invoice, invoice.id)
        invoicing.decide_invoice(
            invoice,
            InvoiceStatus.REVISE_AND_RESUBMIT,
            comment="Less, please",
            line_comments={},
            actor_user_id=waivers_on.admin.id,
        )
        invoicing.save_invoice(
            invoice,
            [invoicing.LineBill(invoice.lines[0].sov_line_id, "800", "")],
            "",
            actor_user_id=waivers_on.contact.id,
        )
        invoicing.submit_invoice(invoice, actor_user_id=waivers_on.contact.id, on_behalf=False)
    db.session.commit()
    old, new = waivers()
    assert old.status is WaiverStatus.SUPERSEDED and old.superseded_at is not None
    assert new.status is WaiverStatus.AWAITING_SIGNATURE
    assert new.amount_cents == invoice.current_due_cents != old.amount_cents
    assert len(emails("waiver_to_sign")) == 2
    # The same amount again keeps the waiver.
    with tenancy.unscoped():
        assert services.generate_for(
            db.session.get(Invoice, invoice.id), actor_user_id=None
        ).id == (new.id)


@pytest.mark.parametrize(
    ("region", "key"), [("CA", "CA-8132"), ("TX", "TX-53.284(b)"), ("WA", "GENERIC-GP-1")]
)
def test_the_projects_state_chooses_the_form(waivers_on, region, key) -> None:
    with tenancy.unscoped():
        db.session.get(Project, waivers_on.commitment.project_id).region = region
    db.session.commit()
    submit(waivers_on)
    (waiver,) = waivers()
    assert waiver.form_key == key


def sign_form(**changes) -> dict[str, str]:
    return {
        "consent": "y",
        "consent_version": CONSENT_VERSION,
        "name": "Bailey Billing",
        "title": "Project accountant",
        "signature": "Bailey Billing",
        **changes,
    }


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"consent": ""}, "Agree to sign electronically first"),
        ({"consent_version": "2020-01-01"}, "Agree to sign electronically first"),
        ({"name": "  "}, "Enter your full name"),
        ({"title": ""}, "Enter your title"),
        ({"signature": ""}, "Type your signature"),
        ({"name": "x" * 201}, "At most 200 characters"),
    ],
)
def test_a_bad_signature_signs_nothing(waivers_on, payee_client, changes, message) -> None:
    submit(waivers_on)
    (waiver,) = waivers()
    path = f"/waivers/{waiver.id}"
    response = payee_client.submit(f"{path}/sign", sign_form(**changes), token_from=path)
    assert message in response.get_data(as_text=True)
    (waiver,) = waivers()
    assert waiver.status is WaiverStatus.AWAITING_SIGNATURE and waiver.signed_file_id is None


def test_the_invoice_contact_signs_once_and_readiness_follows(
    waivers_on, payee_client, payor_client, app, client, tmp_path
) -> None:
    invoice = submit(waivers_on)
    (waiver,) = waivers()
    with tenancy.unscoped():
        readiness_services.set_modes(
            waivers_on.payor,
            {RequirementKind.LIEN_WAIVER_SIGNED: EnforcementMode.PREVENTS_PAYMENT},
            actor_user_id=None,
        )
    db.session.commit()

    def waiver_met() -> bool:
        db.session.expire_all()
        with tenancy.unscoped():
            ready = readiness.readiness(db.session.get(Invoice, invoice.id))
        return next(i.met for i in ready.items if i.requirement.kind.value == "lien_waiver_signed")

    assert waiver_met() is False
    path = f"/waivers/{waiver.id}"
    # The payor's staff read it but do not sign it; nor does a payee member who is not its
    # invoice contact.
    assert "Awaiting the signature" in payor_client.get(path).get_data(as_text=True)
    assert payor_client.submit(f"{path}/sign", sign_form(), token_from=path).status_code == 403
    other, phone = make_user(waivers_on.payee, (Role.PAYEE_ADMIN,))
    outsider = type(client)(app, app.response_class, use_cookies=True)
    sign_in(outsider, other, phone)
    assert outsider.submit(f"{path}/sign", sign_form(), token_from=path).status_code == 403

    home = payee_client.get("/dashboard").get_data(as_text=True)
    assert "Lien waivers to sign" in home and f'href="{path}"' in home
    page = payee_client.get(path).get_data(as_text=True)
    assert "I agree to sign electronically" in page and "Sign the waiver" in page
    response = payee_client.submit(
        f"{path}/sign", sign_form(), token_from=path, headers={"User-Agent": "Trestle-test/1.0"}
    )
    assert response.status_code == 303
    (waiver,) = waivers()
    assert waiver.status is WaiverStatus.SIGNED
    assert (waiver.signer_name, waiver.signer_title) == ("Bailey Billing", "Project accountant")
    assert waiver.signer_user_id == waivers_on.contact.id and waiver.consent_version == (
        CONSENT_VERSION
    )
    assert waiver.signer_user_agent == "Trestle-test/1.0" and waiver.signer_ip
    signed = stored_bytes(waiver.signed_file)
    assert hashlib.sha256(signed).hexdigest() == waiver.signed_sha256
    assert waiver.signed_file.storage_key.startswith("waivers/")
    text = pdftotext(signed, tmp_path)
    assert "Signature certificate" in text and "Bailey Billing" in text and waiver.public_id in text
    assert "/s/ Bailey Billing" in text and "Project accountant" in text
    assert waiver_met() is True
    # One signature per waiver.
    again = payee_client.submit(f"{path}/sign", sign_form(), token_from=path)
    assert "cannot be signed" in again.get_data(as_text=True)
    with tenancy.unscoped():
        actions = set(db.session.scalars(sa.select(AuditEvent.action)))
    assert {"waivers:waiver:generated", "waivers:waiver:signed"} <= actions


def test_a_waiver_for_an_old_amount_cannot_be_signed(waivers_on) -> None:
    submit(waivers_on)
    (waiver,) = waivers()
    with tenancy.unscoped():
        db.session.get(LienWaiver, waiver.id).amount_cents -= 100  # a waiver of an old amount
        contact = waivers_on.contact
        with pytest.raises(services.DomainError, match="amount changed"):
            services.sign(
                db.session.get(LienWaiver, waiver.id),
                contact,
                services.Signature("B", "T", "B", True, CONSENT_VERSION, "", ""),
                company_id=waivers_on.payee.id,
            )


def signed_waiver(billing) -> LienWaiver:
    submit(billing)
    (waiver,) = waivers()
    with tenancy.unscoped():
        services.sign(
            waiver,
            billing.contact,
            services.Signature(
                "Bailey Billing", "AR", "Bailey Billing", True, CONSENT_VERSION, "", ""
            ),
            company_id=billing.payee.id,
        )
    db.session.commit()
    return waivers()[0]


def test_the_verification_page_says_intact_and_one_changed_byte_says_not(waivers_on, app) -> None:
    waiver = signed_waiver(waivers_on)
    public = app.test_client()  # nobody signed in
    path = f"/verify/waivers/{waiver.public_id}"
    page = public.get(f"{path}?sha256={waiver.signed_sha256}")
    assert page.status_code == 200 and "Intact" in page.get_data(as_text=True)
    wrong = public.get(f"{path}?sha256={'0' * 64}").get_data(as_text=True)
    assert "not the signed document" in wrong
    document = stored_bytes(waiver.signed_file)
    token = app.test_client()
    form_page = token.get(path).get_data(as_text=True)
    csrf = form_page.split('name="csrf_token" value="')[1].split('"')[0]
    copy = token.post(
        path,
        data={"csrf_token": csrf, "file": (io.BytesIO(document), "copy.pdf")},
        content_type="multipart/form-data",
    )
    assert "Intact" in copy.get_data(as_text=True)
    tampered = bytearray(document)
    tampered[len(tampered) // 2] ^= 0x01
    changed = token.post(
        path,
        data={"csrf_token": csrf, "file": (io.BytesIO(bytes(tampered)), "copy.pdf")},
        content_type="multipart/form-data",
    )
    assert "not the document that was signed" in changed.get_data(as_text=True)
    # A byte changed in the kept file itself is caught too.
    kept = storage.storage_root() / waiver.signed_file.storage_key
    kept.write_bytes(bytes(tampered))
    broken = public.get(f"{path}?sha256={waiver.signed_sha256}").get_data(as_text=True)
    assert "no longer matches" in broken
    assert public.get("/verify/waivers/nosuchdocument").status_code == 404


@pytest.mark.real
@pytest.mark.committed
def test_two_signatures_at_once_sign_once(app, waivers_on) -> None:
    """Two tabs signing the same waiver together: one signs it, the other is refused."""
    import threading

    submit(waivers_on)
    waiver_id = waivers()[0].id
    contact_id, payee_id = waivers_on.contact.id, waivers_on.payee.id
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def sign() -> None:
        from portal.accounts.models import User

        with app.app_context(), tenancy.unscoped():
            waiver = db.session.get(LienWaiver, waiver_id)
            signer = db.session.get(User, contact_id)
            _ = waiver.file, waiver.facts
            barrier.wait()
            try:
                services.sign(
                    waiver,
                    signer,
                    services.Signature("Bailey", "AR", "Bailey", True, CONSENT_VERSION, "", ""),
                    company_id=payee_id,
                )
                db.session.commit()
                outcomes.append("signed")
            except services.DomainError:
                db.session.rollback()
                outcomes.append("refused")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=sign) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["refused", "signed"]
    (waiver,) = waivers()
    assert waiver.status is WaiverStatus.SIGNED
    with tenancy.unscoped():
        signed_files = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(LienWaiver)
            .where(LienWaiver.signed_sha256.is_not(None))
        )
    assert signed_files == 1


def test_the_waiver_requirement_needs_the_lien_waivers_feature(billing) -> None:
    with tenancy.unscoped(), pytest.raises(services.InvalidInput, match="Lien Waivers feature"):
        readiness_services.set_modes(
            billing.payor,
            {RequirementKind.LIEN_WAIVER_SIGNED: EnforcementMode.PREVENTS_PAYMENT},
            actor_user_id=None,
        )


def test_the_payor_downloads_a_projects_signed_waivers_with_a_manifest(
    waivers_on, payor_client, payee_client
) -> None:
    import csv
    import zipfile

    waiver = signed_waiver(waivers_on)
    path = f"/projects/{waivers_on.commitment.project_id}/waivers.zip"
    response = payor_client.get(path)
    assert response.status_code == 200 and response.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    (row,) = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode())))
    assert row["sha256"] == waiver.signed_sha256 and row["signer"] == "Bailey Billing, AR"
    assert hashlib.sha256(archive.read(row["file"])).hexdigest() == waiver.signed_sha256
    assert row["amount"] == f"${waiver.amount_cents / 100:,.2f}"
    today = waiver.signed_at.date()
    dated = payor_client.get(f"{path}?from={today}&to={today}")
    assert dated.status_code == 200 and zipfile.ZipFile(io.BytesIO(dated.data)).namelist()
    later = payor_client.get(f"{path}?from=2099-01-01")
    assert later.status_code == 302
    assert "No signed lien waiver" in payor_client.get(later.headers["Location"]).get_data(
        as_text=True
    )
    bad = payor_client.get(f"{path}?to=yesterday")
    assert "not a date" in payor_client.get(bad.headers["Location"]).get_data(as_text=True)
    assert payee_client.get(path).status_code in (403, 404)


def test_a_waiver_is_made_again_at_most_every_five_minutes(waivers_on, payor_client) -> None:
    from datetime import timedelta

    invoice = submit(waivers_on)
    path = f"/invoices/{invoice.id}/waivers/regenerate"
    page = f"/invoices/{invoice.id}"
    soon = payor_client.submit(path, {}, token_from=page)
    assert "make it again after" in payor_client.get(soon.headers["Location"]).get_data(
        as_text=True
    )
    assert len(waivers()) == 1

    def age_waivers() -> None:
        with tenancy.unscoped():
            for waiver in db.session.scalars(sa.select(LienWaiver)):
                waiver.created_at -= timedelta(minutes=6)
        db.session.commit()

    age_waivers()
    same = payor_client.submit(path, {}, token_from=page)
    assert "nothing changed" in payor_client.get(same.headers["Location"]).get_data(as_text=True)
    with tenancy.unscoped():
        db.session.get(Project, waivers_on.commitment.project_id).owner_name = "New Owner LLC"
    db.session.commit()
    changed = payor_client.submit(path, {}, token_from=page)
    assert "needs a new signature" in payor_client.get(changed.headers["Location"]).get_data(
        as_text=True
    )
    old, new = waivers()
    assert old.status is WaiverStatus.SUPERSEDED and new.facts["owner"] == "New Owner LLC"


def delegated_link(email: str) -> str:
    """The path of the signing link last emailed to ``email``."""
    (message,) = [m for m in emails("waiver_delegated") if m.to_address == email][-1:]
    token = message.text_body.split("/waivers/delegated/", 1)[1].split()[0]
    return f"/waivers/delegated/{token}"


def test_signing_is_delegated_for_one_waiver_by_a_single_use_link(
    waivers_on, payee_client, payor_client, app, tmp_path
) -> None:
    submit(waivers_on)
    (waiver,) = waivers()
    path = f"/waivers/{waiver.id}"
    # Only the invoice contact delegates, to a real address other than their own.
    refused = payor_client.submit(
        f"{path}/delegate", {"email": "cfo@ironline.example"}, token_from=path
    )
    assert refused.status_code == 403
    bad = payee_client.submit(f"{path}/delegate", {"email": "not an email"}, token_from=path)
    assert "is not a valid email address" in bad.get_data(as_text=True)
    own = payee_client.submit(
        f"{path}/delegate", {"email": waivers_on.contact.email}, token_from=path
    )
    assert "sign it yourself" in own.get_data(as_text=True)
    for address in ("old@ironline.example", "cfo@ironline.example"):
        sent = payee_client.submit(f"{path}/delegate", {"email": address}, token_from=path)
        assert sent.status_code == 303
    first, link = delegated_link("old@ironline.example"), delegated_link("cfo@ironline.example")
    public = app.test_client()  # the delegate needs no account
    assert "replaced by a newer one" in public.get(first).get_data(as_text=True)
    page = public.get(link)
    assert page.status_code == 200 and "gave you the authority to sign this one waiver" in (
        page.get_data(as_text=True)
    )
    pdf_copy = public.get(f"{link}/pdf")
    assert pdf_copy.data.startswith(b"%PDF") and pdf_copy.status_code == 200
    pdf_copy.close()  # a served download holds its file open until closed
    csrf = page.get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]
    form = {
        "csrf_token": csrf,
        "consent": "y",
        "consent_version": CONSENT_VERSION,
        "name": "Casey Officer",
        "title": "CFO",
        "signature": "Casey Officer",
    }
    wrong = public.post(f"{link}/sign", data={**form, "email": "someone@else.example"})
    assert "Enter the email address this link was sent to" in wrong.get_data(as_text=True)
    assert waivers()[0].status is WaiverStatus.AWAITING_SIGNATURE
    signed = public.post(f"{link}/sign", data={**form, "email": "CFO@ironline.example "})
    assert "Lien waiver signed" in signed.get_data(as_text=True)
    (waiver,) = waivers()
    assert waiver.status is WaiverStatus.SIGNED and waiver.signer_user_id is None
    assert waiver.signer_email == "cfo@ironline.example"
    assert waiver.delegated_by_user_id == waivers_on.contact.id
    text = pdftotext(stored_bytes(waiver.signed_file), tmp_path)
    assert "delegated for this waiver by" in text and waivers_on.contact.email in text
    again = public.get(link)
    assert again.status_code == 410 and "was used to sign" in again.get_data(as_text=True)
    assert public.get("/waivers/delegated/not-a-real-token").status_code == 404
    with tenancy.unscoped():
        actions = list(db.session.scalars(sa.select(AuditEvent.action)))
    assert actions.count("waivers:waiver:delegated") == 2


def test_an_expired_delegation_signs_nothing(waivers_on, payee_client, app) -> None:
    from datetime import timedelta

    from portal.waivers.models import WaiverDelegation

    submit(waivers_on)
    (waiver,) = waivers()
    path = f"/waivers/{waiver.id}"
    payee_client.submit(f"{path}/delegate", {"email": "cfo@ironline.example"}, token_from=path)
    with tenancy.unscoped():
        for delegation in db.session.scalars(sa.select(WaiverDelegation)):
            delegation.expires_at -= timedelta(days=8)
    db.session.commit()
    page = app.test_client().get(delegated_link("cfo@ironline.example"))
    assert page.status_code == 410 and "expired" in page.get_data(as_text=True)


def settle(billing, invoice_id: int, cents: int, reference: str = "TRACE-0001"):
    from datetime import date

    with tenancy.unscoped():
        waiver = services.settled(
            db.session.get(Invoice, invoice_id),
            amount_cents=cents,
            paid_on=date(2026, 12, 4),
            reference=reference,
        )
    db.session.commit()
    return waiver


def test_a_settled_payment_makes_the_unconditional_waiver_to_sign(
    waivers_on, payee_client, payor_client, tmp_path
) -> None:
    conditional = signed_waiver(waivers_on)
    due = conditional.amount_cents
    unconditional = settle(waivers_on, conditional.invoice_id, due)
    assert unconditional.kind is WaiverKind.UNCONDITIONAL_PROGRESS
    assert unconditional.form_key == "TX-53.284(c)" and unconditional.amount_cents == due
    assert unconditional.payment_reference == "TRACE-0001"
    assert unconditional.status is WaiverStatus.AWAITING_SIGNATURE
    (email,) = emails("waiver_unconditional")
    assert "TRACE-0001" in email.text_body and email.to_address == waivers_on.contact.email
    # The payments side may report one settlement twice: one waiver.
    assert settle(waivers_on, conditional.invoice_id, due).id == unconditional.id
    # The Texas unconditional form, word for word, with the amount received.
    statute = statute_forms(forms.STATUTES / "tx.txt")[1]
    text = normalized(pdftotext(stored_bytes(unconditional.file), tmp_path))
    assert pattern_of(statute).fullmatch(text), text
    path = f"/waivers/{unconditional.id}"
    # Released to the payor once signed, not before.
    assert payor_client.get(f"{path}/pdf").status_code == 403
    assert "Released to you once the payee signs it" in payor_client.get(path).get_data(
        as_text=True
    )
    page = payee_client.get(path).get_data(as_text=True)
    assert "It is unconditional" in page and "bank reference TRACE-0001" in page
    assert payee_client.submit(f"{path}/sign", sign_form(), token_from=path).status_code == 303
    download = payor_client.get(f"{path}/pdf")
    assert download.status_code == 200 and download.data.startswith(b"%PDF")
    download.close()


def test_a_partial_payment_gets_its_own_unconditional_waiver(waivers_on, payee_client) -> None:
    conditional = signed_waiver(waivers_on)
    part = settle(waivers_on, conditional.invoice_id, 10_000, "TRACE-A")
    rest = settle(waivers_on, conditional.invoice_id, conditional.amount_cents - 10_000, "TRACE-B")
    assert part.id != rest.id and part.amount_cents == 10_000
    with tenancy.unscoped():
        services.sign(
            db.session.get(LienWaiver, part.id),
            waivers_on.contact,
            services.Signature("B", "AR", "B", True, CONSENT_VERSION, "", ""),
            company_id=waivers_on.payee.id,
        )
    db.session.commit()
    assert waivers()[1].status is WaiverStatus.SIGNED  # a part of the due amount signs


@pytest.mark.parametrize(
    ("cents", "reference", "message"),
    [(0, "T-1", "does not fit"), (10**9, "T-1", "does not fit"), (100, " ", "bank reference")],
)
def test_a_settlement_that_does_not_fit_makes_nothing(waivers_on, cents, reference, message):
    conditional = signed_waiver(waivers_on)
    with pytest.raises(services.InvalidInput, match=message):
        settle(waivers_on, conditional.invoice_id, cents, reference)
    assert len(waivers()) == 1


def test_the_next_invoice_waits_for_the_previous_unconditional_waiver(waivers_on) -> None:
    conditional = signed_waiver(waivers_on)
    unconditional = settle(waivers_on, conditional.invoice_id, conditional.amount_cents)
    with tenancy.unscoped():
        readiness_services.set_modes(
            waivers_on.payor,
            {RequirementKind.PREVIOUS_UNCONDITIONAL_RECEIVED: EnforcementMode.PREVENTS_PAYMENT},
            actor_user_id=None,
        )
        first = db.session.get(Invoice, conditional.invoice_id)
        invoicing.decide_invoice(
            first, InvoiceStatus.APPROVED, comment="", line_comments={}, actor_user_id=None
        )
        second = invoicing.start_invoice(
            waivers_on.commitment,
            waivers_on.later,
            billing_type=invoicing.BillingType.PROGRESS,
            actor_user_id=waivers_on.contact.id,
            on_behalf=False,
        )
        second_id = second.id
    db.session.commit()

    def previous_met() -> bool:
        db.session.expire_all()
        with tenancy.unscoped():
            ready = readiness.readiness(db.session.get(Invoice, second_id))
        return next(
            i.met
            for i in ready.items
            if i.requirement.kind.value == "previous_unconditional_received"
        )

    assert previous_met() is False
    with tenancy.unscoped():
        services.sign(
            db.session.get(LienWaiver, unconditional.id),
            waivers_on.contact,
            services.Signature("B", "AR", "B", True, CONSENT_VERSION, "", ""),
            company_id=waivers_on.payee.id,
        )
    db.session.commit()
    assert previous_met() is True


def test_an_unsigned_unconditional_waiver_is_reminded_of_daily(waivers_on) -> None:
    from datetime import timedelta

    conditional = signed_waiver(waivers_on)
    unconditional = settle(waivers_on, conditional.invoice_id, conditional.amount_cents)
    assert services.remind_unsigned() == 0, "not before 20 hours"
    with tenancy.unscoped():
        db.session.get(LienWaiver, unconditional.id).created_at -= timedelta(hours=21)
    db.session.commit()
    assert services.remind_unsigned() == 1
    assert services.remind_unsigned() == 0, "once a day"
    reminders = [m for m in emails("waiver_unconditional") if m.subject.startswith("Reminder")]
    assert len(reminders) == 1


@pytest.fixture
def escrow(waivers_on, app, client):
    """Escrow chosen by a Payments Admin on the settings page; the project in California."""
    from tests.factories import sign_in_fresh_admin

    admin = type(client)(app, app.response_class, use_cookies=True)
    sign_in_fresh_admin(admin, waivers_on.payor)
    path = "/settings/lien-waivers"
    assert "Conditional first" in admin.get(path).get_data(as_text=True)
    odd = admin.submit(path, {"flow": "sometimes"}, token_from=path)
    assert "Choose one of the two flows" in admin.get(odd.headers["Location"]).get_data(
        as_text=True
    )
    assert admin.submit(path, {"flow": "escrow"}, token_from=path).status_code == 303
    with tenancy.unscoped():
        db.session.get(Project, waivers_on.commitment.project_id).region = "CA"
    db.session.commit()
    return waivers_on


def test_the_escrow_flow_locks_the_signed_unconditional_waiver_until_paid_in_full(
    escrow, payee_client, payor_client
) -> None:
    invoice = submit(escrow)
    (waiver,) = waivers()
    assert waiver.kind is WaiverKind.UNCONDITIONAL_PROGRESS and waiver.escrowed
    assert waiver.form_key == "CA-8134"
    path = f"/waivers/{waiver.id}"
    payee_client.submit(f"{path}/sign", sign_form(), token_from=path)
    assert waivers()[0].status is WaiverStatus.SIGNED
    assert payor_client.get(f"{path}/pdf").status_code == 403
    page = payor_client.get(path).get_data(as_text=True)
    assert "Locked until the invoice is paid in full" in page
    asked = payor_client.submit(f"{path}/request-unlock", {}, token_from=path)
    assert asked.status_code == 303 and len(emails("waiver_unlock_requested")) == 1
    # Paid in full: released, and no second waiver.
    settle(escrow, invoice.id, invoice.current_due_cents)
    (waiver,) = waivers()
    assert waiver.released_at is not None
    download = payor_client.get(f"{path}/pdf")
    assert download.status_code == 200
    download.close()


def test_the_payee_may_release_an_escrowed_waiver_early(escrow, payee_client, payor_client):
    submit(escrow)
    (waiver,) = waivers()
    path = f"/waivers/{waiver.id}"
    payee_client.submit(f"{path}/sign", sign_form(), token_from=path)
    assert payor_client.submit(f"{path}/unlock", {}, token_from=path).status_code == 403
    released = payee_client.submit(f"{path}/unlock", {}, token_from=path)
    assert released.status_code == 303 and waivers()[0].released_at is not None
    download = payor_client.get(f"{path}/pdf")
    assert download.status_code == 200
    download.close()


def test_texas_projects_keep_the_conditional_flow_under_escrow(escrow) -> None:
    with tenancy.unscoped():
        db.session.get(Project, escrow.commitment.project_id).region = "TX"
    db.session.commit()
    submit(escrow)
    (waiver,) = waivers()
    assert waiver.kind is WaiverKind.CONDITIONAL_PROGRESS and not waiver.escrowed


def test_a_payee_may_let_trestle_sign_its_unconditional_waivers_and_revoke_that(
    waivers_on, app, client, tmp_path
) -> None:
    admin, phone = make_user(waivers_on.payee, (Role.PAYEE_ADMIN,))
    payee_admin = type(client)(app, app.response_class, use_cookies=True)
    sign_in(payee_admin, admin, phone)
    path = "/payee/lien-waivers"
    assert "Not given" in payee_admin.get(path).get_data(as_text=True)
    unticked = payee_admin.submit(path, {"name": "Ira Ironline", "title": "CFO"}, token_from=path)
    assert "Tick the authorization" in unticked.get_data(as_text=True)
    given = payee_admin.submit(
        path, {"agree": "y", "name": "Ira Ironline", "title": "CFO"}, token_from=path
    )
    assert given.status_code == 303
    assert "Ira Ironline, CFO" in payee_admin.get(path).get_data(as_text=True)

    conditional = signed_waiver(waivers_on)
    signed = settle(waivers_on, conditional.invoice_id, conditional.amount_cents)
    assert signed.status is WaiverStatus.SIGNED and signed.signer_user_id is None
    assert emails("waiver_unconditional") == [], "nobody is asked to sign it"
    text = pdftotext(stored_bytes(signed.signed_file), tmp_path)
    assert "standing authorization" in text and "Ira Ironline, CFO" in text

    revoked = payee_admin.submit(path, {"revoke": "1"}, token_from=path)
    assert revoked.status_code == 303
    with tenancy.unscoped():
        assert services.authorization_of(waivers_on.payee.id) is None
    # Revoked: the next payment's waiver waits for the payee's own signature.
    later = settle(waivers_on, conditional.invoice_id, 100, "TRACE-LATER")
    assert later.status is WaiverStatus.AWAITING_SIGNATURE
    assert len(emails("waiver_unconditional")) == 1


def test_a_signature_is_the_signers_name_and_a_delegation_link_stops_after_wrong_tries(
    waivers_on, payee_client, app
) -> None:
    submit(waivers_on)
    (waiver,) = waivers()
    path = f"/waivers/{waiver.id}"
    other = payee_client.submit(
        f"{path}/sign", sign_form(signature="Someone Else"), token_from=path
    )
    assert "Type your signature as your full name" in other.get_data(as_text=True)
    payee_client.submit(f"{path}/delegate", {"email": "cfo@ironline.example"}, token_from=path)
    link = delegated_link("cfo@ironline.example")
    public = app.test_client()
    page = public.get(link).get_data(as_text=True)
    csrf = page.split('name="csrf_token" value="')[1].split('"')[0]
    for _ in range(5):
        wrong = public.post(f"{link}/sign", data={"csrf_token": csrf, "email": "x@y.example"})
        assert "Enter the email address this link was sent to" in wrong.get_data(as_text=True)
    stopped = public.post(
        f"{link}/sign", data={"csrf_token": csrf, "email": "cfo@ironline.example"}
    )
    assert stopped.status_code == 410 and "Too many wrong addresses" in stopped.get_data(
        as_text=True
    )


def test_the_zip_refuses_dates_the_wrong_way_round_or_out_of_range(waivers_on, payor_client):
    signed_waiver(waivers_on)
    path = f"/projects/{waivers_on.commitment.project_id}/waivers.zip"
    for query, message in (
        ("from=2026-12-31&to=2026-01-01", "after the through date"),
        ("to=9999-12-31", "out of range"),
    ):
        response = payor_client.get(f"{path}?{query}")
        assert response.status_code == 302, query
        assert message in payor_client.get(response.headers["Location"]).get_data(as_text=True)
