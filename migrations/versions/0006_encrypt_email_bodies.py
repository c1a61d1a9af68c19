"""Encrypt email bodies at rest (they can carry single-use links).

Revision ID: 0006_encrypt_email_bodies
Revises: 0005_projects
Create Date: 2026-11-26

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0006_encrypt_email_bodies"
down_revision: Union[str, Sequence[str], None] = "0005_projects"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

FERNET_PREFIX = "gAAAAA"  # every Fernet token starts with its version byte, base64-encoded


def upgrade() -> None:
    """Encrypt the bodies already stored in plain text (the column type stays text)."""
    from portal.core.crypto import encrypt

    connection = op.get_bind()
    email = sa.table("email_message", sa.column("id"), sa.column("text_body"),
                     sa.column("html_body"))
    for row_id, text_body, html_body in connection.execute(
        sa.select(email.c.id, email.c.text_body, email.c.html_body)
    ):
        values = {}
        if text_body is not None and not text_body.startswith(FERNET_PREFIX):
            values["text_body"] = encrypt(text_body)
        if html_body is not None and not html_body.startswith(FERNET_PREFIX):
            values["html_body"] = encrypt(html_body)
        if values:
            connection.execute(sa.update(email).where(email.c.id == row_id).values(values))


def downgrade() -> None:
    from portal.core.crypto import decrypt

    connection = op.get_bind()
    email = sa.table("email_message", sa.column("id"), sa.column("text_body"),
                     sa.column("html_body"))
    for row_id, text_body, html_body in connection.execute(
        sa.select(email.c.id, email.c.text_body, email.c.html_body)
    ):
        connection.execute(sa.update(email).where(email.c.id == row_id).values(
            text_body=decrypt(text_body) if text_body else text_body,
            html_body=decrypt(html_body) if html_body else html_body,
        ))
