"""Company profile fields, and invitations for existing accounts to join a company.

Revision ID: 0008_profile_and_invitations
Revises: 0007_one_default_funding_account
Create Date: 2026-11-27

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0008_profile_and_invitations"
down_revision: Union[str, Sequence[str], None] = "0007_one_default_funding_account"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

PROFILE_COLUMNS = (
    ("legal_name", 200),
    ("address_line1", 200),
    ("address_line2", 200),
    ("city", 100),
    ("region", 2),
    ("postal_code", 10),
    ("main_phone", 40),
    ("primary_contact_name", 200),
    ("primary_contact_email", 254),
)


def upgrade() -> None:
    # Plain ALTER TABLE, not batch mode: a batch rebuild of `company` on SQLite would have to
    # copy the table every other table points at. Nullable columns add in place everywhere.
    for name, length in PROFILE_COLUMNS:
        op.add_column("company", sa.Column(name, sa.String(length=length), nullable=True))

    op.create_table(
        "membership_invitation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("invited_by_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["company_id"], ["company.id"],
            name=op.f("fk_membership_invitation_company_id_company"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"],
            name=op.f("fk_membership_invitation_user_id_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["invited_by_user_id"], ["user_account.id"],
            name=op.f("fk_membership_invitation_invited_by_user_id_user_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_membership_invitation")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_membership_invitation_token_hash")),
    )
    with op.batch_alter_table("membership_invitation", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_membership_invitation_company_id"), ["company_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_membership_invitation_user_id"), ["user_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("membership_invitation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_membership_invitation_user_id"))
        batch_op.drop_index(batch_op.f("ix_membership_invitation_company_id"))
    op.drop_table("membership_invitation")

    # SQLite drops an unindexed, unconstrained column in place since 3.35.
    for name, _ in reversed(PROFILE_COLUMNS):
        op.drop_column("company", name)
