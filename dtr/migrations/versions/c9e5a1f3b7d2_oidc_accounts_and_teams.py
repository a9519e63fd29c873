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


# Plain ADD COLUMN and CREATE INDEX, never a batch table rebuild: on SQLite a rebuild drops
# the old `accounts` table, and with foreign keys on (DTR turns them on for every connection)
# that deletes every row that references an account through ON DELETE CASCADE.
def upgrade():
    op.add_column('accounts', sa.Column('oidc_subject', sa.String(length=1300), nullable=True))
    op.create_index('uq_accounts_oidc_subject', 'accounts', ['oidc_subject'], unique=True)
    op.add_column('teams', sa.Column('oidc_group', sa.String(length=255), nullable=True))


def downgrade():
    op.drop_column('teams', 'oidc_group')
    op.drop_index('uq_accounts_oidc_subject', table_name='accounts')
    op.drop_column('accounts', 'oidc_subject')
