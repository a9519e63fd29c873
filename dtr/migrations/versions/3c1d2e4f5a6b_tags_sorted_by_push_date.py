"""tags sorted by push date: an index for the repository page

Revision ID: 3c1d2e4f5a6b
Revises: 717c2fb15e55
Create Date: 2026-12-04 21:40:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '3c1d2e4f5a6b'
down_revision = '717c2fb15e55'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('tags', schema=None) as batch_op:
        batch_op.create_index(
            'ix_tags_repository_pushed', ['repository_id', 'updated_at', 'name'], unique=False
        )


def downgrade():
    with op.batch_alter_table('tags', schema=None) as batch_op:
        batch_op.drop_index('ix_tags_repository_pushed')
