"""deleted tags: tags deleted within the restore window, restorable, kept by garbage
collection

Revision ID: d04b5c6d7e8f
Revises: cf3a4b5c6d7e
Create Date: 2026-12-06 02:10:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'd04b5c6d7e8f'
down_revision = 'cf3a4b5c6d7e'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'deleted_tags',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('repository_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=128), nullable=False),
        sa.Column('manifest_id', sa.Integer(), nullable=False),
        sa.Column('deleted_by', sa.String(length=255), nullable=True),
        sa.Column('deleted_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['repository_id'], ['repositories.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['manifest_id'], ['manifests.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_deleted_tags_manifest_id', 'deleted_tags', ['manifest_id'])
    op.create_index('ix_deleted_tags_deleted_at', 'deleted_tags', ['deleted_at'])
    op.create_index(
        'ix_deleted_tags_repository_deleted', 'deleted_tags', ['repository_id', 'deleted_at']
    )


def downgrade():
    op.drop_index('ix_deleted_tags_repository_deleted', table_name='deleted_tags')
    op.drop_index('ix_deleted_tags_deleted_at', table_name='deleted_tags')
    op.drop_index('ix_deleted_tags_manifest_id', table_name='deleted_tags')
    op.drop_table('deleted_tags')
