"""usage links wait in pendinglinks until folded into entitylink; usage drops its account index

Ingestion writes usage in time order, so the time index grows at its end; the account index
took a random page per record and served only the Dask partitions' reads, which the time
index answers too.

Revision ID: e1f2a3b4c5d6
Revises: c4e8a1d2b7f3
"""
import sqlalchemy as sa
from alembic import op

revision = 'e1f2a3b4c5d6'
down_revision = 'c4e8a1d2b7f3'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('pendinglinks',
                    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True,
                              nullable=False),
                    sa.Column('created_ts', sa.Float(), nullable=False),
                    sa.Column('uses', sa.LargeBinary(), nullable=False),
                    sa.PrimaryKeyConstraint('id'))
    op.drop_index('ix_usage_account_ts', table_name='usagerecord')


def downgrade() -> None:
    op.create_index('ix_usage_account_ts', 'usagerecord', ['account_id', 'occurred_ts'])
    op.drop_table('pendinglinks')
