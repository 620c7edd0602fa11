"""indexes for the failed-login counts and covering link counts

Revision ID: c4e8a1d2b7f3
Revises: a7d40cc71ecd
"""
import sqlalchemy as sa
from alembic import op

revision = 'c4e8a1d2b7f3'
down_revision = 'a7d40cc71ecd'
branch_labels = None
depends_on = None
FAILED_LOGIN = sa.text("event = 'login' AND login_outcome = 'failure'")


def upgrade() -> None:
    op.create_index('ix_assessment_failed_login_account', 'assessment', ['account_id', 'occurred_ts'],
                    sqlite_where=FAILED_LOGIN, postgresql_where=FAILED_LOGIN)
    op.create_index('ix_assessment_failed_login_ip', 'assessment', ['ip', 'occurred_ts', 'account_id'],
                    sqlite_where=FAILED_LOGIN, postgresql_where=FAILED_LOGIN)
    op.create_index('ix_entity_link_value_seen_cover', 'entitylink',
                    ['kind', 'value', 'last_seen', 'first_seen', 'account_id'])
    op.drop_index('ix_entity_link_value_seen', table_name='entitylink')


def downgrade() -> None:
    op.create_index('ix_entity_link_value_seen', 'entitylink', ['kind', 'value', 'last_seen'])
    op.drop_index('ix_entity_link_value_seen_cover', table_name='entitylink')
    op.drop_index('ix_assessment_failed_login_ip', table_name='assessment')
    op.drop_index('ix_assessment_failed_login_account', table_name='assessment')
