"""accountcontext, networkcontext: per-account login baseline and per-subnet recent failures

Revision ID: d5e7f9a1b3c4
Revises: d7a3c9e1f5b2
"""
import sqlalchemy as sa
from alembic import op

revision = 'd5e7f9a1b3c4'
down_revision = 'd7a3c9e1f5b2'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('accountcontext',
                    sa.Column('account_id', sa.String(length=128), nullable=False),
                    sa.Column('updated_ts', sa.Float(), nullable=False),
                    sa.Column('data', sa.Text(), nullable=False),
                    sa.PrimaryKeyConstraint('account_id'))
    op.create_table('networkcontext',
                    sa.Column('subnet_key', sa.String(length=64), nullable=False),
                    sa.Column('updated_ts', sa.Float(), nullable=False),
                    sa.Column('data', sa.Text(), nullable=False),
                    sa.PrimaryKeyConstraint('subnet_key'))


def downgrade() -> None:
    op.drop_table('networkcontext')
    op.drop_table('accountcontext')
