"""Funding accounts get a blind index of their routing and account number: one active
account per number per payor, found without decrypting any.

Revision ID: 0010_funding_fingerprint
Revises: 0009_throttle_gate
Create Date: 2026-12-02

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0010_funding_fingerprint"
down_revision: Union[str, Sequence[str], None] = "0009_throttle_gate"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("funding_account") as batch:
        batch.add_column(sa.Column("account_fingerprint", sa.String(length=64), nullable=True))
    op.create_index(
        op.f("ix_funding_account_account_fingerprint"), "funding_account",
        ["account_fingerprint"], unique=False,
    )
    # Fill it in for the accounts already there (numbers decrypted with the app's keys).
    from portal.payment_settings.models import rebuild_fingerprints

    rebuild_fingerprints(op.get_bind())
    op.create_index(
        "uq_funding_account_active_fingerprint", "funding_account",
        ["company_id", "account_fingerprint"], unique=True,
        postgresql_where=sa.text("active"), sqlite_where=sa.text("active"),
    )


def downgrade() -> None:
    op.drop_index("uq_funding_account_active_fingerprint", table_name="funding_account")
    op.drop_index(op.f("ix_funding_account_account_fingerprint"), table_name="funding_account")
    with op.batch_alter_table("funding_account") as batch:
        batch.drop_column("account_fingerprint")
