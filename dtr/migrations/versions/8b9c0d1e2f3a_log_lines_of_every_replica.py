"""log lines of every replica: the lines each process logs, shipped to the database so that
Settings > Logs and GET /api/v0/admin/logs show every replica's lines in one order

Revision ID: 8b9c0d1e2f3a
Revises: 7a8b9c0d1e2f
Create Date: 2026-12-05 10:00:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '8b9c0d1e2f3a'
down_revision = '7a8b9c0d1e2f'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'log_lines',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('time', sa.DateTime(), nullable=False),
        sa.Column('replica', sa.String(length=255), nullable=False),
        sa.Column('component', sa.String(length=16), nullable=False),
        sa.Column('level', sa.String(length=8), nullable=False),
        sa.Column('logger', sa.String(length=255), nullable=False),
        sa.Column('message', sa.Text(), nullable=False),
        sa.Column('details', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sqlite_autoincrement=True,
    )
    op.create_index('ix_log_lines_component_id', 'log_lines', ['component', 'id'], unique=False)
    op.create_index('ix_log_lines_replica_id', 'log_lines', ['replica', 'id'], unique=False)


def downgrade():
    op.drop_index('ix_log_lines_replica_id', table_name='log_lines')
    op.drop_index('ix_log_lines_component_id', table_name='log_lines')
    op.drop_table('log_lines')
