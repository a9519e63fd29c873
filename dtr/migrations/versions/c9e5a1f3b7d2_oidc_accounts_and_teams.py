"""OpenID Connect: accounts.oidc_subject, teams.oidc_group

Revision ID: c9e5a1f3b7d2
Revises: b8d4f0a2c6e1
Create Date: 2026-12-07 00:10:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'c9e5a1f3b7d2'
down_revision = 'b8d4f0a2c6e1'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('oidc_subject', sa.String(length=1300), nullable=True))
        batch_op.create_unique_constraint('uq_accounts_oidc_subject', ['oidc_subject'])
    with op.batch_alter_table('teams', schema=None) as batch_op:
        batch_op.add_column(sa.Column('oidc_group', sa.String(length=255), nullable=True))


def downgrade():
    with op.batch_alter_table('teams', schema=None) as batch_op:
        batch_op.drop_column('oidc_group')
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_constraint('uq_accounts_oidc_subject', type_='unique')
        batch_op.drop_column('oidc_subject')
