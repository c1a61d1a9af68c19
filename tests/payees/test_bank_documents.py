"""The document fallback: a payee admin proves a bank account with a bank letter or a voided
check (PDF, PNG or JPEG), checked by content, structure and size, with step-up; one waits for
review at a time, and a refused upload changes nothing."""

from __future__ import annotations

import base64
import io
import struct
import zlib
from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.core import storage, tenancy
from portal.core.db import db, utcnow
from portal.core.models import AuditEvent
from portal.payees import services
from portal.payees.models import (
    BankAccountStatus,
    DocumentState,
    MicroDepositCheck,
    PayeeBankAccount,
)
from tests.payees.document_helpers import PDF, documents, fresh, jpeg, png, stored_files, upload
from tests.payees.helpers import (
    add_account,
    confirm,
    deposits_of,
    dollars,
    last_account,
    payee_admin,
)

pytestmark = pytest.mark.usefixtures("database")


def says(client, response, message: str) -> bool:
    """A refusal of the account's state: back to its page, which says why."""
    assert response.status_code == 303, response.get_data(as_text=True)[-2000:]
    return message in client.get(response.headers["Location"]).get_data(as_text=True)


def audited(action: str) -> int:
    with tenancy.unscoped():
        return db.session.scalar(
            sa.select(sa.func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
        )


@pytest.mark.parametrize(
    ("content", "filename", "kind", "content_type"),
    [
        (PDF, "letter.pdf", "bank_letter", "application/pdf"),
        (png(), "check.png", "voided_check", "image/png"),
        (jpeg(), "check.jpg", "voided_check", "image/jpeg"),
        # The content decides, never the name: a PNG called .pdf is a PNG.
        (png(), "scan.pdf", "bank_letter", "image/png"),
    ],
)
def test_a_document_waits_for_review_and_the_account_is_unchanged(
    client, content, filename, kind, content_type
):
    payee, user, _ = payee_admin(client)
    add_account(client)
    account = last_account(payee)
    response = upload(client, account.id, content, filename, kind)
    assert response.status_code == 303, response.get_data(as_text=True)
    (document,) = documents(account)
    assert document.state is DocumentState.SUBMITTED and document.kind.value == kind
    assert document.uploaded_by_user_id == user.id and document.reviewed_at is None
    assert document.file.content_type == content_type and document.file.size_bytes == len(content)
    assert document.company_id == payee.id
    assert fresh(account).status is BankAccountStatus.PENDING_VERIFICATION
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Document sent." in page and "Awaiting document review" in page
    # Shown under the extension of what it is (a PNG sent as scan.pdf is scan.png).
    shown = storage.shown_name(filename, storage.SIGNATURES[content_type][1])
    assert document.file.original_name == shown
    assert shown in page and "Send the document" not in page, "one waits at a time"
    listing = client.get("/payee/bank-accounts").get_data(as_text=True)
    assert "Awaiting document review" in listing
    assert audited("payees:bank_document:submitted") == 1
    history = client.get("/company/history").get_data(as_text=True)
    assert "to verify the account ending 6789" in history


def _truncated_jpeg() -> bytes:
    return jpeg()[:-6]


def _huge_png(width: int = 7000, height: int = 6000) -> bytes:
    """A small file whose header claims a 42-million-pixel image (a decompression bomb)."""
    whole = png()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    ihdr = b"IHDR" + header
    return (
        whole[:8]
        + struct.pack(">I", 13)
        + ihdr
        + struct.pack(">I", zlib.crc32(ihdr))
        + (whole[33:])
    )


@pytest.mark.parametrize(
    ("content", "filename", "message"),
    [
        (b"MZ\x90\x00" + b"\x00" * 200, "letter.pdf", "must be one of: JPG, PDF, PNG"),
        (b"<html><body>letter</body></html>", "check.png", "must be one of: JPG, PDF, PNG"),
        (b"GIF89a" + b"\x00" * 40, "check.jpg", "must be one of: JPG, PDF, PNG"),
        (b"%PDF-1.4\nno end of file marker", "letter.pdf", "PDF is incomplete or damaged"),
        (png()[:-12], "check.png", "image is incomplete or damaged"),
        (png()[:20] + b"\x00" * 40 + png()[60:], "check.png", "image is incomplete or damaged"),
        (b"\x89PNG\r\n\x1a\n" + b"not a png at all", "check.png", "image is incomplete"),
        (_truncated_jpeg(), "check.jpg", "image is incomplete or damaged"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 30, "check.jpg", "image is incomplete or damaged"),
        (_huge_png(), "check.png", "The image is too large"),
        (b"", "letter.pdf", "The file is empty"),
        (b"%PDF-1.4\n" + b" " * (10 * 1024 * 1024) + b"%%EOF\n", "big.pdf", "larger than 10 MB"),
    ],
    ids=[
        "exe-as-pdf",
        "html-as-png",
        "gif",
        "pdf-without-end",
        "png-cut-short",
        "png-bad-checksum",
        "png-magic-only",
        "jpeg-cut-short",
        "jpeg-magic-only",
        "png-bomb",
        "empty",
        "oversized",
    ],
)
def test_a_refused_upload_changes_nothing(client, content, filename, message):
    payee, _, _ = payee_admin(client)
    add_account(client)
    account = last_account(payee)
    files_before = stored_files()
    response = upload(client, account.id, content, filename)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert documents(account) == []
    assert stored_files() == files_before
    assert audited("payees:bank_document:submitted") == 0
    assert fresh(account).status is BankAccountStatus.PENDING_VERIFICATION


def test_a_verified_account_takes_no_document(client):
    payee, _, _ = payee_admin(client)
    add_account(client)
    account = last_account(payee)
    confirm(client, account.id, *map(dollars, deposits_of(account)))
    assert fresh(account).status is BankAccountStatus.VERIFIED
    page = client.get(f"/payee/bank-accounts/{account.id}").get_data(as_text=True)
    assert "Send the document" not in page
    files_before = stored_files()
    response = upload(client, account.id, PDF, "letter.pdf")
    assert response.status_code == 303
    assert "already verified" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert documents(account) == [] and stored_files() == files_before


def test_without_a_fresh_code_the_upload_is_held_and_nothing_is_saved(client):
    payee, _, _ = payee_admin(client)
    add_account(client)
    account = last_account(payee)
    with client.session_transaction() as session:
        session["mfa_at"] = 0
    response = upload(client, account.id, PDF, "letter.pdf")
    assert response.status_code == 303 and "/verify" in response.headers["Location"]
    assert documents(account) == []
    page = client.get(f"/payee/bank-accounts/{account.id}").get_data(as_text=True)
    assert 'name="step_up_code"' in page, "the form carries its own code field"
    wrong = client.submit(
        f"/payee/bank-accounts/{account.id}/document",
        {
            "kind": "bank_letter",
            "document": (io.BytesIO(PDF), "letter.pdf"),
            "step_up_code": "000000",
        },
        token_from=f"/payee/bank-accounts/{account.id}",
        content_type="multipart/form-data",
    )
    assert wrong.status_code == 303 and documents(account) == []


def test_one_document_waits_at_a_time_and_earlier_ones_are_kept(client):
    payee, user, _ = payee_admin(client)
    add_account(client)
    account = last_account(payee)
    upload(client, account.id, PDF, "letter.pdf")
    again = upload(client, account.id, png(), "check.png", "voided_check")
    assert says(client, again, "already waiting for review")
    (first,) = documents(account)
    with tenancy.unscoped():
        services.reject_document(
            fresh(account), first, "The account number is cut off.", actor_user_id=user.id
        )
        db.session.commit()
    page = client.get(f"/payee/bank-accounts/{account.id}").get_data(as_text=True)
    assert "was not accepted: The account number is cut off." in page
    assert "To try again, send another document below." in page and "Send the document" in page
    retried = upload(client, account.id, png(), "check.png", "voided_check")
    assert retried.status_code == 303
    states = [d.state for d in documents(account)]
    assert states == [DocumentState.REJECTED, DocumentState.SUBMITTED]


def test_the_database_keeps_one_open_document_per_account(client):
    """Two admins uploading at the same instant: the partial unique index refuses one."""
    payee, user, _ = payee_admin(client)
    add_account(client)
    account = last_account(payee)
    upload(client, account.id, PDF, "letter.pdf")
    (first,) = documents(account)
    with tenancy.unscoped():
        db.session.add(
            type(first)(
                company_id=payee.id,
                account_id=account.id,
                kind=first.kind,
                file_id=first.file_id,
                uploaded_by_user_id=user.id,
            )
        )
        with pytest.raises(sa.exc.IntegrityError):
            db.session.flush()
        db.session.rollback()


def test_a_locked_or_expired_verification_can_be_proven_by_a_document(client):
    payee, _, _ = payee_admin(client)
    add_account(client)
    account = last_account(payee)
    first, second = deposits_of(account)
    wrong = dollars(first % 99 + 1)
    for _ in range(3):
        confirm(client, account.id, wrong, dollars(second))
    assert fresh(account).status is BankAccountStatus.VERIFICATION_FAILED
    page = client.get(f"/payee/bank-accounts/{account.id}").get_data(as_text=True)
    assert "verify it with a bank letter or voided check instead" in page
    assert upload(client, account.id, PDF, "letter.pdf").status_code == 303
    add_account(client, account_number="000987654321", account_number_confirm="000987654321")
    expired = last_account(payee)
    with tenancy.unscoped():
        db.session.execute(
            sa.update(MicroDepositCheck)
            .where(MicroDepositCheck.bank_account_id == expired.id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()
    assert upload(client, expired.id, jpeg(), "check.jpg", "voided_check").status_code == 303


def test_micro_deposits_confirmed_meanwhile_close_the_document_unreviewed(client):
    payee, _, _ = payee_admin(client)
    add_account(client)
    account = last_account(payee)
    upload(client, account.id, PDF, "letter.pdf")
    confirm(client, account.id, *map(dollars, deposits_of(account)))
    account = fresh(account)
    assert account.status is BankAccountStatus.VERIFIED
    assert account.verification_method.value == "micro_deposits"
    (document,) = documents(account)
    assert document.state is DocumentState.WITHDRAWN and document.reviewed_at is not None
    page = client.get(f"/payee/bank-accounts/{account.id}").get_data(as_text=True)
    assert "Not needed" in page and "Awaiting document review" not in page


def test_a_frozen_or_deactivated_account_takes_no_document(client):
    payee, _, _ = payee_admin(client)
    add_account(client)
    frozen = last_account(payee)
    with tenancy.unscoped():
        db.session.execute(
            sa.update(PayeeBankAccount)
            .where(PayeeBankAccount.id == frozen.id)
            .values(frozen_at=utcnow())
        )
        db.session.commit()
    response = upload(client, frozen.id, PDF, "letter.pdf")
    assert says(client, response, "This account is frozen")
    add_account(client, account_number="000987654321", account_number_confirm="000987654321")
    gone = last_account(payee)
    client.submit(
        f"/payee/bank-accounts/{gone.id}/deactivate", {}, token_from="/payee/bank-accounts"
    )
    assert fresh(gone).status is BankAccountStatus.DEACTIVATED
    response = upload(client, gone.id, PDF, "letter.pdf")
    assert says(client, response, "This account is deactivated")
    assert documents(frozen) == [] and documents(gone) == []


def test_another_payee_can_neither_see_nor_upload_to_an_account(client, app):
    payee_admin(client)
    add_account(client)
    other = app.test_client()
    second, _, _ = payee_admin(other, "Other Co")
    add_account(other, account_number="000555555555", account_number_confirm="000555555555")
    foreign = last_account(second)
    upload(other, foreign.id, PDF, "letter.pdf")
    files_before = stored_files()
    assert client.get(f"/payee/bank-accounts/{foreign.id}").status_code == 404
    response = upload(client, foreign.id, png(), "check.png")
    assert response.status_code == 404
    assert len(documents(foreign)) == 1 and stored_files() == files_before
    assert "letter.pdf" not in client.get("/payee/bank-accounts").get_data(as_text=True)


@pytest.mark.browser
def test_the_images_made_here_are_whole_for_an_independent_decoder(browser):
    """Chromium's own decoders read the test images the portal's checks accept."""
    tab = browser.new_page()
    try:
        for mime, data, size in (("image/png", png(), [3, 2]), ("image/jpeg", jpeg(), [1, 1])):
            source = f"data:{mime};base64,{base64.b64encode(data).decode()}"
            tab.set_content(f'<img id="probe" src="{source}" alt="">')
            tab.wait_for_function("document.getElementById('probe').complete")
            natural = tab.evaluate(
                "[document.getElementById('probe').naturalWidth,"
                " document.getElementById('probe').naturalHeight]"
            )
            assert natural == size, (mime, natural)
    finally:
        tab.close()


def test_a_file_name_is_refused_with_control_characters_and_kept_out_of_the_audit(client):
    payee, _, _ = payee_admin(client)
    add_account(client)
    account = last_account(payee)
    refused = upload(client, account.id, PDF, "acct\x00.pdf")
    assert refused.status_code == 400 and "control or invisible" in refused.get_data(as_text=True)
    assert documents(account) == []
    response = upload(client, account.id, PDF, "../scans/acct 000123456789.pdf")
    assert response.status_code == 303, response.get_data(as_text=True)
    (document,) = documents(account)
    assert document.file.original_name == "acct 000123456789.pdf", "no folders"
    with tenancy.unscoped():
        (event,) = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "payees:bank_document:submitted")
        )
    assert "000123456789" not in repr(event.after), "the name may carry the account number"
