"""webhooks of the whole registry: namespace_id may be NULL (with repository_id NULL)

Revision ID: f26d7e8f90a1
Revises: e15c6d7e8f90
Create Date: 2026-12-06 05:20:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'f26d7e8f90a1'
down_revision = 'e15c6d7e8f90'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('webhooks', schema=None) as batch_op:
        batch_op.alter_column('namespace_id', existing_type=sa.Integer(), nullable=True)


def downgrade():
    op.execute('DELETE FROM webhooks WHERE namespace_id IS NULL')
    with op.batch_alter_table('webhooks', schema=None) as batch_op:
        batch_op.alter_column('namespace_id', existing_type=sa.Integer(), nullable=False)
