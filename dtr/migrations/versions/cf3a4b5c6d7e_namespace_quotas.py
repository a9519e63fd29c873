"""namespace quotas: a storage limit per user or organization and its warning threshold

Revision ID: cf3a4b5c6d7e
Revises: be2f3a4b5c6d
Create Date: 2026-12-06 02:00:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'cf3a4b5c6d7e'
down_revision = 'be2f3a4b5c6d'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('accounts', sa.Column('quota_bytes', sa.BigInteger(), nullable=True))
    op.add_column(
        'accounts',
        sa.Column('quota_warning_percent', sa.Integer(), nullable=False, server_default='80'),
    )


def downgrade():
    with op.batch_alter_table('accounts') as batch:
        batch.drop_column('quota_warning_percent')
        batch.drop_column('quota_bytes')
