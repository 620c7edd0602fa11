"""assessment.email_domain and an index of signups by email domain and time

The per-domain signup counts (last hour, last day) and the time of a domain's first
signup are read with one index range each: the index holds signups only (a partial index,
like the failed-login ones), so logins, the bulk of assessments, never enter it.

An email domain is no personal identifier: it is stored as given (lowercased ASCII), like
account.email_domain. Existing signups take their account's email domain (the latest the
account gave, which is the signup's for nearly every account), so a domain seen before the
upgrade is not new after it. One UPDATE, in the migration's transaction.

Revision ID: b9d4e7a2c3f1
Revises: b9c1d7e3a5f2
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = 'b9d4e7a2c3f1'
down_revision = 'b9c1d7e3a5f2'
branch_labels = None
depends_on = None
SIGNUP = sa.text("event = 'signup'")


def upgrade() -> None:
    with op.batch_alter_table('assessment') as batch:
        batch.add_column(sa.Column('email_domain', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True))
    op.execute("UPDATE assessment SET email_domain = (SELECT account.email_domain FROM account "
               "WHERE account.id = assessment.account_id) WHERE event = 'signup'")
    op.create_index('ix_assessment_signup_email_domain', 'assessment', ['email_domain', 'occurred_ts'],
                    sqlite_where=SIGNUP, postgresql_where=SIGNUP)


def downgrade() -> None:
    op.drop_index('ix_assessment_signup_email_domain', table_name='assessment')
    with op.batch_alter_table('assessment') as batch:
        batch.drop_column('email_domain')
