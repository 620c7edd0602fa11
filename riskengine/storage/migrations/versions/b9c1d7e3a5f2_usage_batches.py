"""usagebatch: one row per usage batch sent with a batch_id, for idempotent retries

Revision ID: b9c1d7e3a5f2
Revises: f3b8d2a6c1e9
"""
import sqlalchemy as sa
from alembic import op

revision = 'b9c1d7e3a5f2'
down_revision = 'f3b8d2a6c1e9'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('usagebatch',
                    sa.Column('batch_id', sa.String(length=128), nullable=False),
                    sa.Column('body_hash', sa.String(length=64), nullable=False),
                    sa.Column('accepted', sa.Integer(), nullable=False),
                    sa.Column('created_ts', sa.Float(), nullable=False),
                    sa.PrimaryKeyConstraint('batch_id'))


def downgrade() -> None:
    op.drop_table('usagebatch')
