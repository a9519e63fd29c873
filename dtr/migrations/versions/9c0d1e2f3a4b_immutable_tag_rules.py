"""immutable tag rules: tag patterns of a repository or a namespace that may never be moved
or deleted

Revision ID: 9c0d1e2f3a4b
Revises: 8b9c0d1e2f3a
Create Date: 2026-12-05 16:30:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '9c0d1e2f3a4b'
down_revision = '8b9c0d1e2f3a'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'immutable_tag_rules',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('namespace_id', sa.Integer(), nullable=False),
        sa.Column('repository_id', sa.Integer(), nullable=True),
        sa.Column('pattern', sa.String(length=128), nullable=False),
        sa.Column('created_by', sa.String(length=255), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['namespace_id'], ['accounts.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['repository_id'], ['repositories.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('namespace_id', 'repository_id', 'pattern'),
    )
    op.create_index(
        'ix_immutable_tag_rules_repository_id', 'immutable_tag_rules', ['repository_id']
    )
    op.create_index(
        'ix_immutable_tag_rules_namespace_pattern',
        'immutable_tag_rules',
        ['namespace_id', 'pattern'],
        unique=True,
        sqlite_where=sa.text('repository_id IS NULL'),
        postgresql_where=sa.text('repository_id IS NULL'),
    )


def downgrade():
    op.drop_index('ix_immutable_tag_rules_namespace_pattern', table_name='immutable_tag_rules')
    op.drop_index('ix_immutable_tag_rules_repository_id', table_name='immutable_tag_rules')
    op.drop_table('immutable_tag_rules')
