"""cache generations: process caches made stale by a write in another process

Revision ID: 6f7a8b9c0d1e
Revises: 3c1d2e4f5a6b
Create Date: 2026-12-05 03:10:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '6f7a8b9c0d1e'
down_revision = '3c1d2e4f5a6b'
branch_labels = None
depends_on = None


def upgrade():
    table = op.create_table(
        'cache_generations',
        sa.Column('name', sa.String(length=32), nullable=False),
        sa.Column('generation', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )
    op.bulk_insert(table, [{'name': 'content', 'generation': 0}, {'name': 'people', 'generation': 0}])


def downgrade():
    op.drop_table('cache_generations')
