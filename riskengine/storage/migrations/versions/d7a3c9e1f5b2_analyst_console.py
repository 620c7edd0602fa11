"""analyst console: users, sessions, audit log, policy versions, review-queue indexes

Revision ID: d7a3c9e1f5b2
Revises: b9d4e7a2c3f1
"""
import sqlalchemy as sa
from alembic import op

revision = 'd7a3c9e1f5b2'
down_revision = 'b9d4e7a2c3f1'
branch_labels = None
depends_on = None

IN_REVIEW = sa.text("last_decision IN ('challenge', 'block') OR rescore_decision IN ('challenge', 'block')")


def _id():
    return sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), primary_key=True, autoincrement=True)


def upgrade() -> None:
    op.create_table('consoleuser',
                    sa.Column('name', sa.String(length=64), primary_key=True),
                    sa.Column('role', sa.String(length=16), nullable=False),
                    sa.Column('password_hash', sa.String(length=256), nullable=False),
                    sa.Column('created_ts', sa.Float(), nullable=False),
                    sa.Column('disabled_ts', sa.Float(), nullable=True))
    op.create_table('consolesession',
                    sa.Column('token_hash', sa.String(length=64), primary_key=True),
                    sa.Column('user_name', sa.String(length=64), nullable=False),
                    sa.Column('created_ts', sa.Float(), nullable=False),
                    sa.Column('expires_ts', sa.Float(), nullable=False))
    op.create_index('ix_consolesession_user_name', 'consolesession', ['user_name'])
    op.create_table('auditentry', _id(),
                    sa.Column('ts', sa.Float(), nullable=False),
                    sa.Column('user_name', sa.String(length=64), nullable=False),
                    sa.Column('action', sa.String(length=32), nullable=False),
                    sa.Column('target', sa.String(length=256), nullable=False),
                    sa.Column('before', sa.JSON(), nullable=True),
                    sa.Column('after', sa.JSON(), nullable=True))
    op.create_index('ix_auditentry_ts', 'auditentry', ['ts'])
    op.create_table('policyversion', _id(),
                    sa.Column('created_ts', sa.Float(), nullable=False),
                    sa.Column('author', sa.String(length=64), nullable=False),
                    sa.Column('note', sa.String(length=2000), nullable=False),
                    sa.Column('body', sa.JSON(), nullable=False))
    op.create_index('ix_account_review_score', 'account',
                    [sa.text('COALESCE(last_score, -1.0)'), sa.text('updated_ts'), sa.text('id')],
                    sqlite_where=IN_REVIEW, postgresql_where=IN_REVIEW)
    op.create_index('ix_account_review_recent', 'account', ['updated_ts', 'id'],
                    sqlite_where=IN_REVIEW, postgresql_where=IN_REVIEW)


def downgrade() -> None:
    op.drop_index('ix_account_review_recent', table_name='account')
    op.drop_index('ix_account_review_score', table_name='account')
    op.drop_table('policyversion')
    op.drop_index('ix_auditentry_ts', table_name='auditentry')
    op.drop_table('auditentry')
    op.drop_index('ix_consolesession_user_name', table_name='consolesession')
    op.drop_table('consolesession')
    op.drop_table('consoleuser')
