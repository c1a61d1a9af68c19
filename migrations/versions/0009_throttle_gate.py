"""Throttle gates: one row per scope and key, locked while an attempt is decided and counted.

Revision ID: 0009_throttle_gate
Revises: 0008_profile_and_invitations
Create Date: 2026-12-02

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0009_throttle_gate"
down_revision: Union[str, Sequence[str], None] = "0008_profile_and_invitations"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "throttle_gate",
        sa.Column("scope", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("scope", "key", name=op.f("pk_throttle_gate")),
    )


def downgrade() -> None:
    op.drop_table("throttle_gate")
