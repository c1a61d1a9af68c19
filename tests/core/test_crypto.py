import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet, MultiFernet
from flask import Flask

from portal.core import crypto
from portal.core.db import db

pytestmark = pytest.mark.usefixtures("database")

metadata = sa.MetaData()
secrets_table = sa.Table(
    "test_secret",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("value", crypto.EncryptedString()),
)


@pytest.fixture
def secret_rows() -> sa.Connection:
    connection = db.session.connection()
    metadata.create_all(connection)
    return connection


def raw_values(connection: sa.Connection) -> list[str]:
    return list(connection.execute(sa.text("SELECT value FROM test_secret ORDER BY id")).scalars())


def test_values_are_encrypted_at_rest_and_read_back(secret_rows: sa.Connection) -> None:
    secret_rows.execute(secrets_table.insert(), [{"value": "021000021"}, {"value": None}])
    assert secret_rows.execute(
        sa.select(secrets_table.c.value).order_by(secrets_table.c.id)
    ).scalars().all() == ["021000021", None]
    stored = raw_values(secret_rows)
    assert stored[0] != "021000021" and "021000021" not in stored[0]
    assert stored[1] is None


def test_rotation_re_encrypts_under_the_new_key(app: Flask, secret_rows: sa.Connection) -> None:
    old_ring = app.extensions["trestle.keyring"]
    secret_rows.execute(secrets_table.insert(), [{"value": "123456789"}, {"value": "987654321"}])
    before = raw_values(secret_rows)
    new_key = Fernet(Fernet.generate_key())
    app.extensions["trestle.keyring"] = MultiFernet([new_key, *old_ring._fernets])
    try:
        assert crypto.rotate_all(secret_rows, metadata) == 2
        after = raw_values(secret_rows)
        assert after != before
        # The new key alone now reads every value: the old key can be retired.
        assert [new_key.decrypt(t.encode()).decode() for t in after] == ["123456789", "987654321"]
    finally:
        app.extensions["trestle.keyring"] = old_ring


def test_a_value_no_key_can_read_is_a_clear_error(app: Flask, secret_rows: sa.Connection) -> None:
    secret_rows.execute(secrets_table.insert(), [{"value": "123456789"}])
    saved = app.extensions["trestle.keyring"]
    app.extensions["trestle.keyring"] = MultiFernet([Fernet(Fernet.generate_key())])
    try:
        with pytest.raises(crypto.EncryptionKeyError, match="cannot be decrypted"):
            secret_rows.execute(sa.select(secrets_table.c.value)).scalars().all()
    finally:
        app.extensions["trestle.keyring"] = saved


def test_bad_keys_are_refused() -> None:
    with pytest.raises(crypto.EncryptionKeyError, match="Fernet keys"):
        crypto.build_keyring(["not-a-key"], "secret")


@pytest.mark.parametrize(
    ("value", "masked"), [("123456789", "•••••6789"), ("12", "12"), (None, "")]
)
def test_mask_shows_the_last_four(value, masked) -> None:
    assert crypto.mask(value) == masked
