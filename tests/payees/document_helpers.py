"""Documents a payee sends to verify a bank account, made here byte by byte (so a test
controls every byte it damages), and the operator's side of reviewing them."""

from __future__ import annotations

import io
import struct
import zlib

import sqlalchemy as sa

from portal.core import tenancy
from portal.core.db import db
from portal.core.models import StoredFile
from portal.payees.models import BankAccountDocument, PayeeBankAccount

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def png(width: int = 3, height: int = 2) -> bytes:
    """A whole PNG of white pixels: signature, header, compressed rows, end."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    rows = b"".join(b"\x00" + b"\xff\xff\xff" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def jpeg() -> bytes:
    """A whole baseline JPEG of one grey pixel: quantization and Huffman tables, a frame,
    one scan (a zero DC difference and end-of-block, one bit each) and the end marker.
    Chromium decodes it (see test_bank_documents)."""

    def segment(marker: int, body: bytes) -> bytes:
        return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body

    quantization = segment(0xDB, b"\x00" + b"\x01" * 64)
    frame = segment(0xC0, b"\x08" + struct.pack(">HH", 1, 1) + b"\x01" + b"\x01\x11\x00")
    one_code = b"\x01" + b"\x00" * 15 + b"\x00"  # one code of length 1, for symbol 0
    dc_table = segment(0xC4, b"\x00" + one_code)
    ac_table = segment(0xC4, b"\x10" + one_code)
    scan = segment(0xDA, b"\x01" + b"\x01\x00" + b"\x00\x3f\x00")
    return b"\xff\xd8" + quantization + frame + dc_table + ac_table + scan + b"\x3f" + b"\xff\xd9"


def upload(client, account_id: int, content: bytes, filename: str, kind: str = "bank_letter"):
    """Send a document from the account's page, as its form does."""
    response = client.submit(
        f"/payee/bank-accounts/{account_id}/document",
        {"kind": kind, "document": (io.BytesIO(content), filename)},
        token_from=f"/payee/bank-accounts/{account_id}",
        content_type="multipart/form-data",
    )
    # Werkzeug's test client spools a large multipart body to a temporary file and leaves
    # closing it to whoever holds the request.
    response.request.environ["wsgi.input"].close()
    return response


def documents(account: PayeeBankAccount) -> list[BankAccountDocument]:
    db.session.expire_all()
    with tenancy.unscoped():
        return list(
            db.session.scalars(
                sa.select(BankAccountDocument)
                .where(BankAccountDocument.account_id == account.id)
                .order_by(BankAccountDocument.id)
            )
        )


def stored_files() -> int:
    with tenancy.unscoped():
        return db.session.scalar(sa.select(sa.func.count()).select_from(StoredFile))


def fresh(account: PayeeBankAccount) -> PayeeBankAccount:
    db.session.expire_all()
    with tenancy.unscoped():
        return db.session.get(PayeeBankAccount, account.id)
