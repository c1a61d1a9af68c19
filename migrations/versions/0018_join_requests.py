"""Requests to join a payee company that is already on Trestle, made from a payor's
invitation and decided by one of its Payee Payments Admins.

Revision ID: 0018_join_requests
Revises: 0017_bank_documents
Create Date: 2026-12-04

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0018_join_requests'
down_revision: Union[str, Sequence[str], None] = '0017_bank_documents'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('payee_join_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('company_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('invitation_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.Enum('requested', 'approved', 'declined', name='joinrequeststate', native_enum=False, length=40), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_by_user_id', sa.Integer(), nullable=True),
    sa.Column('decline_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("(state = 'requested') = (decided_at IS NULL)", name=op.f('ck_payee_join_request_decided_with_time')),
    sa.ForeignKeyConstraint(['company_id'], ['company.id'], name=op.f('fk_payee_join_request_company_id_company')),
    sa.ForeignKeyConstraint(['decided_by_user_id'], ['user_account.id'], name=op.f('fk_payee_join_request_decided_by_user_id_user_account')),
    sa.ForeignKeyConstraint(['invitation_id'], ['payee_invitation.id'], name=op.f('fk_payee_join_request_invitation_id_payee_invitation')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_payee_join_request_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payee_join_request'))
    )
    with op.batch_alter_table('payee_join_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payee_join_request_company_id'), ['company_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_payee_join_request_invitation_id'), ['invitation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_payee_join_request_user_id'), ['user_id'], unique=False)
        batch_op.create_index('uq_payee_join_request_open', ['invitation_id'], unique=True, postgresql_where=sa.text("state = 'requested'"), sqlite_where=sa.text("state = 'requested'"))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('payee_join_request', schema=None) as batch_op:
        batch_op.drop_index('uq_payee_join_request_open', postgresql_where=sa.text("state = 'requested'"), sqlite_where=sa.text("state = 'requested'"))
        batch_op.drop_index(batch_op.f('ix_payee_join_request_user_id'))
        batch_op.drop_index(batch_op.f('ix_payee_join_request_invitation_id'))
        batch_op.drop_index(batch_op.f('ix_payee_join_request_company_id'))

    op.drop_table('payee_join_request')
