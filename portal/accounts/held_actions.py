"""Hold a sensitive submission while its user proves the second factor, then replay it once.

A held action is one encrypted file under ``STORAGE_DIR/step-up/``, named by its session and
the hash of a random token, bound to the user's signed-in session, to the company the user
was working in and to the path it was posted to. A session holds at most one action: holding
another replaces it, so held files cannot pile up.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from io import BytesIO
from pathlib import Path

from cryptography.fernet import InvalidToken
from flask import current_app, request
from werkzeug.datastructures import FileStorage, ImmutableMultiDict

from portal.core import crypto
from portal.core.storage import storage_root

HOLD_LIFETIME = timedelta(minutes=10)
FOLDER = "step-up"
# Fields that belong to the step-up mechanism, never to the view; the CSRF token is not
# kept either (the resuming request carries its own, already checked by CSRFProtect).
MECHANISM_FIELDS = frozenset({"step_up_code", "step_up_resume", "step_up_return"})


@dataclass(frozen=True)
class HeldFile:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass(frozen=True)
class HeldAction:
    """What the user submitted, and where, before being asked for a code."""

    user_id: int
    session_id: int
    company_id: int | None
    action: str
    endpoint: str
    path: str
    full_path: str
    return_to: str
    from_htmx: bool
    form: list[tuple[str, str]]
    files: list[HeldFile]


def _folder() -> Path:
    return storage_root() / FOLDER


def _path_for(token: str, session_id: int) -> Path:
    # The name on disk is a hash: someone who can list the folder learns no token.
    return _folder() / f"s{session_id}-{hashlib.sha256(token.encode()).hexdigest()}.held"


def hold(
    *,
    user_id: int,
    session_id: int,
    company_id: int | None,
    action: str,
    return_to: str,
    from_htmx: bool,
) -> str:
    """Keep the current request's form and files; return the token that resumes them.

    It replaces whatever the session held before, and clears out expired ones.
    """
    prune_expired()
    for earlier in _folder().glob(f"s{session_id}-*.held") if _folder().is_dir() else ():
        earlier.unlink(missing_ok=True)
    csrf_field = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    skipped = MECHANISM_FIELDS | {csrf_field}
    record = {
        "user_id": user_id,
        "session_id": session_id,
        "company_id": company_id,
        "action": action,
        "endpoint": request.endpoint,
        "path": request.path,
        "full_path": request.full_path if request.query_string else request.path,
        "return_to": return_to,
        "from_htmx": from_htmx,
        "form": [[k, v] for k, v in request.form.items(multi=True) if k not in skipped],
        "files": [
            {
                "name": name,
                "filename": upload.filename,
                "content_type": upload.content_type,
                # Already bounded by MAX_CONTENT_LENGTH when the request was parsed.
                "data": base64.b64encode(upload.stream.read()).decode(),
            }
            for name, upload in request.files.items(multi=True)
        ],
    }
    token = secrets.token_urlsafe(32)
    path = _path_for(token, session_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    sealed = crypto.keyring().encrypt(json.dumps(record).encode())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(sealed)
    return token


def peek(token: str, *, user_id: int, session_id: int, company_id: int | None) -> HeldAction | None:
    """The action ``token`` holds for this user's session in this company, or None when
    expired or not theirs (an action held in one company never runs in another)."""
    if not token or len(token) > 100:
        return None
    try:
        sealed = _path_for(token, session_id).read_bytes()
        record = json.loads(
            crypto.keyring().decrypt(sealed, ttl=int(HOLD_LIFETIME.total_seconds()))
        )
    except (FileNotFoundError, InvalidToken, ValueError):
        return None
    if (
        record["user_id"] != user_id
        or record["session_id"] != session_id
        or record["company_id"] != company_id
    ):
        return None
    return HeldAction(
        user_id=record["user_id"],
        session_id=record["session_id"],
        company_id=record["company_id"],
        action=record["action"],
        endpoint=record["endpoint"],
        path=record["path"],
        full_path=record["full_path"],
        return_to=record["return_to"],
        from_htmx=record["from_htmx"],
        form=[(k, v) for k, v in record["form"]],
        files=[
            HeldFile(f["name"], f["filename"], f["content_type"], base64.b64decode(f["data"]))
            for f in record["files"]
        ],
    )


def claim(token: str, session_id: int) -> bool:
    """Use the token up: True for exactly one caller, even when two resume at once."""
    path = _path_for(token, session_id)
    claimed = path.with_suffix(f".claimed-{secrets.token_hex(8)}")
    try:
        os.rename(path, claimed)  # atomic: only one rename of the same file succeeds
    except FileNotFoundError:
        return False
    claimed.unlink(missing_ok=True)
    return True


def restore_into_request(held: HeldAction) -> None:
    """Make the current request carry the held form and files, as the view first saw them.

    ``request.form`` and ``request.files`` are cached properties, so setting them in the
    instance dict replaces what parsing produced; FlaskForm reads both when built.
    """
    csrf_field = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    form = list(held.form)
    if csrf_field in request.form:
        form.append((csrf_field, request.form[csrf_field]))
    request.__dict__["form"] = ImmutableMultiDict(form)
    request.__dict__["files"] = ImmutableMultiDict(
        [
            (
                f.name,
                FileStorage(
                    stream=BytesIO(f.data),
                    filename=f.filename,
                    name=f.name,
                    content_type=f.content_type,
                ),
            )
            for f in held.files
        ]
    )
    request.__dict__.pop("values", None)


def prune_expired(now: float | None = None) -> int:
    """Delete held actions past their lifetime (and leftovers of claims); return how many."""
    folder = _folder()
    if not folder.is_dir():
        return 0
    cutoff = (now if now is not None else time.time()) - HOLD_LIFETIME.total_seconds()
    pruned = 0
    for entry in folder.iterdir():
        try:
            if entry.stat().st_mtime < cutoff:
                entry.unlink()
                pruned += 1
        except FileNotFoundError:
            continue  # claimed or pruned by someone else meanwhile
    return pruned
