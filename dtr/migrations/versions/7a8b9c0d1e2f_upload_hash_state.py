"""upload hash state: a chunked upload's SHA-256 state kept with its size, so that the next
chunk may land on any process or replica

Revision ID: 7a8b9c0d1e2f
Revises: 5e6f7a8b9c0d
Create Date: 2026-12-05 07:00:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '7a8b9c0d1e2f'
down_revision = '5e6f7a8b9c0d'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('uploads') as batch:
        batch.add_column(sa.Column('hash_state', sa.LargeBinary(), nullable=True))


def downgrade():
    with op.batch_alter_table('uploads') as batch:
        batch.drop_column('hash_state')
