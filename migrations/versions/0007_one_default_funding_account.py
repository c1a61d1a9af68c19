"""At most one default funding account per payor.

Revision ID: 0007_one_default_funding_account
Revises: 0006_encrypt_email_bodies
Create Date: 2026-11-26

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0007_one_default_funding_account"
down_revision: Union[str, Sequence[str], None] = "0006_encrypt_email_bodies"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_index(
        "uq_funding_account_one_default", "funding_account", ["company_id"], unique=True,
        postgresql_where=sa.text("is_default"), sqlite_where=sa.text("is_default"),
    )


def downgrade() -> None:
    op.drop_index("uq_funding_account_one_default", table_name="funding_account")
