"""Keep uploaded and generated files under server-chosen names, after checking size and type."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import IO

import sqlalchemy as sa
from flask import Response, current_app, send_file

from portal.core.db import db, utcnow
from portal.core.errors import InvalidInput
from portal.core.models import StoredFile
from portal.core.text import clean_text

log = logging.getLogger(__name__)

# Content types we accept, recognised by their leading bytes, never by the name or the
# browser's claim.
SIGNATURES: dict[str, tuple[bytes, str]] = {
    "application/pdf": (b"%PDF-", ".pdf"),
    "image/png": (b"\x89PNG\r\n\x1a\n", ".png"),
    "image/jpeg": (b"\xff\xd8\xff", ".jpg"),
}


class InvalidUpload(InvalidInput):
    """An upload that is empty, too big, or not one of the accepted types."""


@dataclass(frozen=True)
class UploadRules:
    """What one kind of upload may be."""

    allowed_types: frozenset[str]
    max_bytes: int


PDF_ONLY = UploadRules(frozenset({"application/pdf"}), 10 * 1024 * 1024)
DOCUMENTS = UploadRules(frozenset(SIGNATURES), 10 * 1024 * 1024)


def sniff_content_type(head: bytes) -> str | None:
    """Name the content type by magic bytes, or None when it is none we accept."""
    for content_type, (magic, _) in SIGNATURES.items():
        if head.startswith(magic):
            return content_type
    return None


def storage_root() -> Path:
    return Path(current_app.config["STORAGE_DIR"])


def save_file(
    stream: IO[bytes],
    *,
    original_name: str,
    kind: str,
    rules: UploadRules,
    company_id: int | None = None,
    uploaded_by_user_id: int | None = None,
) -> StoredFile:
    """Check and store a file; return its (unflushed) record. Raise InvalidUpload on bad input."""
    data = stream.read(rules.max_bytes + 1)
    if not data:
        raise InvalidUpload("The file is empty.")
    if len(data) > rules.max_bytes:
        raise InvalidUpload(f"The file is larger than {rules.max_bytes // (1024 * 1024)} MB.")
    content_type = sniff_content_type(data[:16])
    if content_type not in rules.allowed_types:
        names = ", ".join(sorted(SIGNATURES[t][1].lstrip(".").upper() for t in rules.allowed_types))
        raise InvalidUpload(f"The file must be one of: {names}.")
    if content_type == "application/pdf" and b"%%EOF" not in data[-2048:]:
        raise InvalidUpload("The PDF is incomplete or damaged.")
    return keep_bytes(
        data,
        original_name=original_name,
        kind=kind,
        content_type=content_type,
        extension=SIGNATURES[content_type][1],
        company_id=company_id,
        uploaded_by_user_id=uploaded_by_user_id,
    )


def keep_bytes(
    data: bytes,
    *,
    original_name: str,
    kind: str,
    content_type: str,
    extension: str,
    company_id: int | None = None,
    uploaded_by_user_id: int | None = None,
) -> StoredFile:
    """Store bytes already checked by the caller under a generated name; return the
    (unflushed) record."""
    today = utcnow()
    key = f"{kind}/{today:%Y/%m}/{secrets.token_hex(16)}{extension}"
    path = storage_root() / key
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL: a generated name never overwrites an existing file.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    record = StoredFile(
        kind=kind,
        storage_key=key,
        original_name=shown_name(original_name, extension),
        content_type=content_type,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        company_id=company_id,
        uploaded_by_user_id=uploaded_by_user_id,
    )
    db.session.add(record)
    return record


# The names keep_bytes gives: <kind>/<year>/<month>/<32 hex digits><extension>.
KEPT_NAME = re.compile(r"[a-z0-9_-]+/\d{4}/\d{2}/[0-9a-f]{32}\.[a-z]{3,4}")


def sweep_orphans(older_than: timedelta) -> int:
    """Delete the files keep_bytes wrote whose record never committed (its transaction
    failed after the file was written), once older than ``older_than``; return how many.
    Files it did not write (held actions) are left alone, and so is any file younger than
    the grace period, whose transaction may still be open."""
    root = storage_root()
    if not root.is_dir():
        return 0
    cutoff = time.time() - older_than.total_seconds()
    candidates = {}
    for path in root.rglob("*"):
        key = path.relative_to(root).as_posix()
        if KEPT_NAME.fullmatch(key) and path.is_file() and path.stat().st_mtime < cutoff:
            candidates[key] = path
    swept = 0
    keys = sorted(candidates)
    for start in range(0, len(keys), 500):
        batch = keys[start : start + 500]
        known = set(
            db.session.scalars(
                sa.select(StoredFile.storage_key).where(StoredFile.storage_key.in_(batch))
            )
        )
        for key in batch:
            if key not in known:
                candidates[key].unlink(missing_ok=True)
                swept += 1
    db.session.rollback()  # only read
    if swept:
        log.info("swept %d orphaned stored file(s)", swept)
    return swept


# Other spellings of a kept file's extension, accepted as they are.
SAME_EXTENSION = {".jpg": {".jpeg"}}


def shown_name(name: str | None, extension: str) -> str:
    """The name a file is shown and downloaded under: no control characters (PostgreSQL
    refuses a NUL), no folders, at most 255 characters, and ending in the extension of
    what it is (a PDF sent as ``coi.exe`` downloads as ``coi.pdf``)."""
    shown = Path(clean_text(name or "") or "upload").name or "upload"
    suffix = Path(shown).suffix.lower()
    if suffix != extension and suffix not in SAME_EXTENSION.get(extension, set()):
        shown = (Path(shown).stem if suffix else shown) + extension
    stem, suffix = Path(shown).stem, Path(shown).suffix
    return stem[: 255 - len(suffix)] + suffix


def open_file(record: StoredFile) -> IO[bytes]:
    """Open a stored file for reading."""
    return (storage_root() / record.storage_key).open("rb")


def download(record: StoredFile) -> Response:
    """A stored file as a download under its shown name."""
    return attachment_response(
        open_file(record), content_type=record.content_type, filename=record.original_name
    )


def attachment_response(stream: IO[bytes], *, content_type: str, filename: str) -> Response:
    """Serve a stored file as a download that browsers save, never render or cache."""
    response = send_file(
        stream,
        mimetype=content_type,
        as_attachment=True,
        download_name=filename,
        conditional=False,
        etag=False,
        max_age=0,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response
