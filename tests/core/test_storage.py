import io

import pytest
from flask import Flask

from portal.core import storage
from portal.core.db import db

pytestmark = pytest.mark.usefixtures("database")

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def save(data: bytes, name: str = "form.pdf", rules=storage.PDF_ONLY):
    return storage.save_file(io.BytesIO(data), original_name=name, kind="test", rules=rules)


def test_a_pdf_is_stored_under_a_server_generated_name(app: Flask) -> None:
    record = save(PDF, name="../../etc/passwd.pdf")
    db.session.flush()
    assert record.content_type == "application/pdf"
    assert record.original_name == "passwd.pdf"
    assert "passwd" not in record.storage_key and record.storage_key.endswith(".pdf")
    with storage.open_file(record) as stored:
        assert stored.read() == PDF


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"MZ\x90\x00 this is an executable", "must be one of: PDF"),
        (b"\x89PNG\r\n\x1a\n....", "must be one of: PDF"),
        (b"%PDF-1.4 truncated with no end", "incomplete or damaged"),
        (PDF + b"x" * (10 * 1024 * 1024), "larger than 10 MB"),
    ],
)
def test_bad_uploads_are_refused_and_nothing_is_kept(app: Flask, data: bytes, message: str) -> None:
    root = storage.storage_root()
    before = sorted(root.rglob("*")) if root.exists() else []
    with pytest.raises(storage.InvalidUpload, match=message):
        save(data)
    after = sorted(root.rglob("*")) if root.exists() else []
    assert after == before


def test_images_are_accepted_where_allowed(app: Flask) -> None:
    record = save(b"\x89PNG\r\n\x1a\n" + b"\x00" * 32, name="photo.png", rules=storage.DOCUMENTS)
    assert record.content_type == "image/png" and record.storage_key.endswith(".png")


def test_oversized_request_bodies_get_413(client) -> None:
    big = b"x" * (client.application.config["MAX_CONTENT_LENGTH"] + 1)
    response = client.post("/login", data=big, content_type="application/octet-stream")
    assert response.status_code == 413
    assert "That file is too large" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("given", "extension", "shown"),
    [
        ("coi.exe", ".pdf", "coi.pdf"),  # a PDF sent under another name downloads as a PDF
        ("coi.PDF", ".pdf", "coi.PDF"),
        ("scan", ".pdf", "scan.pdf"),
        ("photo.jpeg", ".jpg", "photo.jpeg"),
        ("../../etc/passwd", ".pdf", "passwd.pdf"),
        ("", ".pdf", "upload.pdf"),
        ("x" * 400 + ".pdf", ".pdf", "x" * 251 + ".pdf"),
    ],
)
def test_a_kept_file_is_shown_under_a_safe_name_of_its_own_type(given, extension, shown) -> None:
    assert storage.shown_name(given, extension) == shown
