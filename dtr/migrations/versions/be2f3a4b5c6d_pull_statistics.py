"""pull statistics: how often and when last each tag and manifest was pulled

Revision ID: be2f3a4b5c6d
Revises: ad1e2f3a4b5c
Create Date: 2026-12-06 01:50:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'be2f3a4b5c6d'
down_revision = 'ad1e2f3a4b5c'
branch_labels = None
depends_on = None

TABLES = ('tags', 'manifests')


def upgrade():
    for table in TABLES:
        op.add_column(
            table, sa.Column('pull_count', sa.Integer(), nullable=False, server_default='0')
        )
        op.add_column(table, sa.Column('last_pulled_at', sa.DateTime(), nullable=True))


def downgrade():
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column('last_pulled_at')
            batch.drop_column('pull_count')
