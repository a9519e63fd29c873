"""retention policies of repositories and namespaces, and their runs

Revision ID: e15c6d7e8f90
Revises: d04b5c6d7e8f
Create Date: 2026-12-06 02:20:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'e15c6d7e8f90'
down_revision = 'd04b5c6d7e8f'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'retention_policies',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('namespace_id', sa.Integer(), nullable=False),
        sa.Column('repository_id', sa.Integer(), nullable=True),
        sa.Column('rules', sa.Text(), nullable=False),
        sa.Column('schedule', sa.String(length=255), nullable=False),
        sa.Column('updated_by', sa.String(length=255), nullable=True),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['namespace_id'], ['accounts.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['repository_id'], ['repositories.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('namespace_id', 'repository_id'),
    )
    op.create_index(
        'ix_retention_policies_repository_id', 'retention_policies', ['repository_id']
    )
    op.create_index(
        'ix_retention_policies_namespace',
        'retention_policies',
        ['namespace_id'],
        unique=True,
        sqlite_where=sa.text('repository_id IS NULL'),
        postgresql_where=sa.text('repository_id IS NULL'),
    )
    op.create_table(
        'retention_runs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('policy_id', sa.Integer(), nullable=False),
        sa.Column('triggered_by', sa.String(length=255), nullable=False),
        sa.Column('dry_run', sa.Boolean(), nullable=False),
        sa.Column('started_at', sa.DateTime(), nullable=False),
        sa.Column('finished_at', sa.DateTime(), nullable=True),
        sa.Column('tags_kept', sa.Integer(), nullable=False),
        sa.Column('tags_deleted', sa.Integer(), nullable=False),
        sa.Column('report', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['policy_id'], ['retention_policies.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_retention_runs_policy_id', 'retention_runs', ['policy_id'])


def downgrade():
    op.drop_index('ix_retention_runs_policy_id', table_name='retention_runs')
    op.drop_table('retention_runs')
    op.drop_index('ix_retention_policies_namespace', table_name='retention_policies')
    op.drop_index('ix_retention_policies_repository_id', table_name='retention_policies')
    op.drop_table('retention_policies')
