"""Projects can be archived (finished: out of the lists, no new work), by whom and when.

Revision ID: 0019_project_archive
Revises: 0018_join_requests
Create Date: 2026-12-04

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0019_project_archive'
down_revision: Union[str, Sequence[str], None] = '0018_join_requests'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('project', schema=None) as batch_op:
        batch_op.add_column(sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('archived_by_user_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_project_archived_by_user_id_user_account'), 'user_account', ['archived_by_user_id'], ['id'])



def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('project', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_project_archived_by_user_id_user_account'), type_='foreignkey')
        batch_op.drop_column('archived_by_user_id')
        batch_op.drop_column('archived_at')

