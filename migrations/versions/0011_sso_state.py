"""Single sign-on state, nonce and PKCE verifier kept server-side, each used once.

Revision ID: 0011_sso_state
Revises: 0010_funding_fingerprint
Create Date: 2026-12-02

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0011_sso_state"
down_revision: Union[str, Sequence[str], None] = "0010_funding_fingerprint"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "sso_state",
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_hash", name=op.f("pk_sso_state")),
    )
    op.create_index(op.f("ix_sso_state_expires_at"), "sso_state", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_sso_state_expires_at"), table_name="sso_state")
    op.drop_table("sso_state")
