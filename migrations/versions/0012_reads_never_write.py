"""Reading a page writes nothing: every payor has its payment controls and implementation
project from the start (made for the payors that lack them), and an enrollment secret is
derived from the setup page's nonce instead of stored before it is confirmed. "Enrolled" is
known from the enrollment time, which a constraint keeps with the secret.

Revision ID: 0012_reads_never_write
Revises: 0011_sso_state
Create Date: 2026-12-02

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0012_reads_never_write"
down_revision: Union[str, Sequence[str], None] = "0011_sso_state"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    now = sa.func.current_timestamp()
    op.execute(
        sa.text(
            "INSERT INTO payment_controls (company_id, disbursements_enabled, "
            "pay_on_new_projects, funding_account_mode, updated_at) "
            "SELECT id, :yes, :yes, 'chosen_at_disbursement', CURRENT_TIMESTAMP FROM company "
            "WHERE kind = 'payor' AND id NOT IN (SELECT company_id FROM payment_controls)"
        ).bindparams(yes=True)
    )
    op.execute(
        sa.text(
            "INSERT INTO implementation_project (company_id, created_at, sso_not_used) "
            "SELECT id, CURRENT_TIMESTAMP, :no FROM company WHERE kind = 'payor' "
            "AND id NOT IN (SELECT company_id FROM implementation_project)"
        ).bindparams(no=False)
    )
    user = sa.table(
        "user_account",
        sa.column("totp_secret"),
        sa.column("totp_enrolled_at"),
        sa.column("created_at"),
    )
    op.execute(
        user.update()
        .where(user.c.totp_secret.is_not(None), user.c.totp_enrolled_at.is_(None))
        .values(totp_enrolled_at=sa.func.coalesce(user.c.created_at, now))
    )
    op.execute(
        user.update()
        .where(user.c.totp_secret.is_(None), user.c.totp_enrolled_at.is_not(None))
        .values(totp_enrolled_at=None)
    )
    with op.batch_alter_table("user_account") as batch:
        batch.drop_column("totp_pending_secret")
        batch.create_check_constraint(
            op.f("ck_user_account_totp_enrolled_with_secret"),
            "(totp_secret IS NULL) = (totp_enrolled_at IS NULL)",
        )


def downgrade() -> None:
    with op.batch_alter_table("user_account") as batch:
        batch.drop_constraint(op.f("ck_user_account_totp_enrolled_with_secret"), type_="check")
        batch.add_column(sa.Column("totp_pending_secret", sa.Text(), nullable=True))
