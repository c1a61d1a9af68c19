"""Application-level encryption of sensitive columns (bank numbers, TINs, TOTP secrets)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Flask, current_app
from sqlalchemy.orm import mapped_column


class EncryptionKeyError(RuntimeError):
    """The configured keys cannot encrypt or cannot decrypt a stored value."""


def build_keyring(keys: list[str], secret_key: str) -> MultiFernet:
    """Build the keyring from ``ENCRYPTION_KEYS`` (newest first).

    Without configured keys (development and tests only; production refuses to start) a
    key is derived from the secret key so a fresh checkout works with no setup.
    """
    if not keys:
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=b"trestle-dev", info=b"field-encryption"
        ).derive(secret_key.encode())
        keys = [base64.urlsafe_b64encode(derived).decode()]
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError as exc:
        raise EncryptionKeyError(
            "ENCRYPTION_KEYS must be comma-separated Fernet keys (32 url-safe base64 bytes)."
        ) from exc


def init_app(app: Flask) -> None:
    keys, secret_key = app.config["ENCRYPTION_KEYS"], app.config["SECRET_KEY"]
    app.extensions["trestle.keyring"] = build_keyring(keys, secret_key)
    for purpose in DERIVED_KEY_PURPOSES:
        app.extensions[f"trestle.{purpose}_key"] = _derived_key(keys, secret_key, purpose)


# Keys derived from the newest encryption key, one per purpose: they rotate with it.
DERIVED_KEY_PURPOSES = ("blind_index", "totp_enrollment")


def _derived_key(keys: list[str], secret_key: str, purpose: str) -> bytes:
    newest = keys[0].encode() if keys else secret_key.encode()
    label = purpose.replace("_", "-").encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"trestle-" + label, info=label).derive(
        newest
    )


def keyed_digest(purpose: str, value: str) -> bytes:
    """HMAC-SHA256 of ``value`` under the key derived for ``purpose``."""
    key = current_app.extensions[f"trestle.{purpose}_key"]
    return hmac.new(key, value.encode(), hashlib.sha256).digest()


def blind_index(value: str) -> str:
    """A keyed hash to find equal secret values without decrypting any (HMAC-SHA256).

    Callers normalise ``value`` first (e.g. ``routing:account`` digits only).
    """
    return keyed_digest("blind_index", value).hex()


# Features whose blind indexes must be recomputed when the keys rotate register here.
BLIND_INDEX_REBUILDERS: list[Callable[[sa.Connection], int]] = []


def rebuild_blind_indexes(connection: sa.Connection) -> int:
    """Recompute every registered blind index under the current key; return rows rewritten."""
    return sum(rebuild(connection) for rebuild in BLIND_INDEX_REBUILDERS)


def keyring() -> MultiFernet:
    return current_app.extensions["trestle.keyring"]


def encrypt(plaintext: str) -> str:
    return keyring().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return keyring().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise EncryptionKeyError(
            "A stored value cannot be decrypted with the configured ENCRYPTION_KEYS."
        ) from exc


def mask(value: str | None, visible: int = 4) -> str:
    """Show only the last ``visible`` characters: ``123456789`` → ``•••••6789``."""
    if not value:
        return ""
    return "•" * max(len(value) - visible, 0) + value[-visible:]


class EncryptedString(sa.TypeDecorator[str]):
    """A string column stored as a Fernet token; plaintext never reaches the database.

    Declare it with ``encrypted_column()``, so a value is decrypted only when it is read.
    """

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: sa.Dialect) -> str | None:
        return None if value is None else encrypt(value)

    def process_result_value(self, value: str | None, dialect: sa.Dialect) -> str | None:
        return None if value is None else decrypt(value)


def encrypted_column(**kwargs: Any) -> Any:
    """A mapped, deferred ``EncryptedString`` column: loading a row decrypts nothing; the
    value is fetched and decrypted the first time code reads it (pages show stored last
    fours, never the secret)."""
    return mapped_column(EncryptedString(), deferred=True, **kwargs)


def encrypted_columns(metadata: sa.MetaData) -> Iterator[tuple[sa.Table, sa.Column[Any]]]:
    """Yield every (table, column) whose type is EncryptedString."""
    for table in metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, EncryptedString):
                yield table, column


def rotate_all(connection: sa.Connection, metadata: sa.MetaData) -> int:
    """Re-encrypt every encrypted value under the newest key; return how many were rewritten.

    Works on raw tokens (no decrypt-to-plaintext round trip through the ORM).
    """
    ring = keyring()
    rewritten = 0
    for table, column in encrypted_columns(metadata):
        pk = next(iter(table.primary_key.columns))
        raw = sa.table(table.name, sa.column(pk.name), sa.column(column.name, sa.Text))
        rows = connection.execute(
            sa.select(raw.c[pk.name], raw.c[column.name]).where(raw.c[column.name].is_not(None))
        ).all()
        for row_id, token in rows:
            try:
                rotated = ring.rotate(token.encode()).decode()
            except InvalidToken as exc:
                raise EncryptionKeyError(
                    f"{table.name}.{column.name} row {row_id} cannot be decrypted by any key."
                ) from exc
            connection.execute(
                sa.update(raw).where(raw.c[pk.name] == row_id).values({column.name: rotated})
            )
            rewritten += 1
    return rewritten
