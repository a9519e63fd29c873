"""replication: replication_rules, replication_runs, replication_items,
repositories.mirror_rule_id

Revision ID: b8d4f0a2c6e1
Revises: a7c3e9d14b20
Create Date: 2026-12-06 21:00:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'b8d4f0a2c6e1'
down_revision = 'a7c3e9d14b20'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'replication_rules',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('direction', sa.String(length=8), nullable=False),
        sa.Column('remote_url', sa.String(length=2048), nullable=False),
        sa.Column('username', sa.String(length=255), nullable=True),
        sa.Column('password', sa.String(length=1024), nullable=True),
        sa.Column('verify_tls', sa.Boolean(), nullable=False),
        sa.Column('repositories', sa.String(length=4096), nullable=False),
        sa.Column('remote_prefix', sa.String(length=255), nullable=False),
        sa.Column('remote_repository', sa.String(length=255), nullable=False),
        sa.Column('local_repository', sa.String(length=255), nullable=False),
        sa.Column('tags', sa.String(length=4096), nullable=False),
        sa.Column('on_push', sa.Boolean(), nullable=False),
        sa.Column('schedule', sa.String(length=255), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('created_by', sa.String(length=255), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('name'),
    )
    op.create_table(
        'replication_runs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('rule_id', sa.Integer(), nullable=False),
        sa.Column('trigger', sa.String(length=64), nullable=False),
        sa.Column('triggered_by', sa.String(length=255), nullable=True),
        sa.Column('repository', sa.String(length=255), nullable=True),
        sa.Column('tag', sa.String(length=128), nullable=True),
        sa.Column('digest', sa.String(length=100), nullable=True),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('queued_at', sa.DateTime(), nullable=False),
        sa.Column('started_at', sa.DateTime(), nullable=True),
        sa.Column('finished_at', sa.DateTime(), nullable=True),
        sa.Column('lease_until', sa.DateTime(), nullable=True),
        sa.Column('copied', sa.Integer(), nullable=False),
        sa.Column('skipped', sa.Integer(), nullable=False),
        sa.Column('failed', sa.Integer(), nullable=False),
        sa.Column('bytes', sa.BigInteger(), nullable=False),
        sa.Column('error', sa.String(length=1024), nullable=True),
        sa.ForeignKeyConstraint(['rule_id'], ['replication_rules.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_replication_runs_rule_id', 'replication_runs', ['rule_id'])
    op.create_index('ix_replication_runs_state', 'replication_runs', ['state'])
    op.create_table(
        'replication_items',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('run_id', sa.Integer(), nullable=False),
        sa.Column('repository', sa.String(length=255), nullable=False),
        sa.Column('reference', sa.String(length=255), nullable=False),
        sa.Column('digest', sa.String(length=100), nullable=True),
        sa.Column('outcome', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('bytes', sa.BigInteger(), nullable=False),
        sa.Column('error', sa.String(length=1024), nullable=True),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['run_id'], ['replication_runs.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_replication_items_run_id', 'replication_items', ['run_id'])
    with op.batch_alter_table('repositories', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mirror_rule_id', sa.Integer(), nullable=True))
        batch_op.create_index('ix_repositories_mirror_rule_id', ['mirror_rule_id'])
        batch_op.create_foreign_key(
            'fk_repositories_mirror_rule_id',
            'replication_rules',
            ['mirror_rule_id'],
            ['id'],
            ondelete='SET NULL',
        )


def downgrade():
    with op.batch_alter_table('repositories', schema=None) as batch_op:
        batch_op.drop_constraint('fk_repositories_mirror_rule_id', type_='foreignkey')
        batch_op.drop_index('ix_repositories_mirror_rule_id')
        batch_op.drop_column('mirror_rule_id')
    op.drop_index('ix_replication_items_run_id', table_name='replication_items')
    op.drop_table('replication_items')
    op.drop_index('ix_replication_runs_state', table_name='replication_runs')
    op.drop_index('ix_replication_runs_rule_id', table_name='replication_runs')
    op.drop_table('replication_runs')
    op.drop_table('replication_rules')
