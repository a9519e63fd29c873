"""proxy namespaces (pull-through cache): proxy_caches, accounts.is_proxy,
tags.upstream_checked_at

Revision ID: a7c3e9d14b20
Revises: f26d7e8f90a1
Create Date: 2026-12-06 18:00:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'a7c3e9d14b20'
down_revision = 'f26d7e8f90a1'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'proxy_caches',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('namespace_id', sa.Integer(), nullable=False),
        sa.Column('upstream_url', sa.String(length=2048), nullable=False),
        sa.Column('username', sa.String(length=255), nullable=True),
        sa.Column('password', sa.String(length=1024), nullable=True),
        sa.Column('verify_tls', sa.Boolean(), nullable=False),
        sa.Column('visibility', sa.String(length=16), nullable=False),
        sa.Column('hosts', sa.String(length=1024), nullable=False),
        sa.Column('default_mirror', sa.Boolean(), nullable=False),
        sa.Column('tag_check_seconds', sa.Integer(), nullable=False),
        sa.Column('evict_after_days', sa.Integer(), nullable=False),
        sa.Column('created_by', sa.String(length=255), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('last_success_at', sa.DateTime(), nullable=True),
        sa.Column('last_failure_at', sa.DateTime(), nullable=True),
        sa.Column('last_failure', sa.String(length=1024), nullable=True),
        sa.ForeignKeyConstraint(['namespace_id'], ['accounts.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('namespace_id'),
    )
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('is_proxy', sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    with op.batch_alter_table('tags', schema=None) as batch_op:
        batch_op.add_column(sa.Column('upstream_checked_at', sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('tags', schema=None) as batch_op:
        batch_op.drop_column('upstream_checked_at')
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_column('is_proxy')
    op.drop_table('proxy_caches')
