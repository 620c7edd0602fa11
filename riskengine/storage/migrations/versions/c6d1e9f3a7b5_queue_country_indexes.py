"""account.last_ip_country and the review queue's country indexes

The queue's country filter (declared country, or the country of the account's last IP) read
the last assessment of every account in the queue to find that none matched: 0.5-2 s on a
million assessments. The last IP's country is now on the account row (written with
last_decision), and four partial indexes (the queue's few percent of accounts) order each
country's part of the queue by score and by recency, so a filtered page stops at its 50th
row, or at once when nothing matches. Existing accounts take the country of their last signup
or login (one UPDATE, in the migration's transaction).

Revision ID: c6d1e9f3a7b5
Revises: a3f6c8e2d4b1
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = 'c6d1e9f3a7b5'
down_revision = 'a3f6c8e2d4b1'
branch_labels = None
depends_on = None
IN_REVIEW = sa.text("last_decision IN ('challenge', 'block') OR rescore_decision IN ('challenge', 'block')")
KEYS = {"score": [sa.text("COALESCE(last_score, -1.0)"), sa.text("updated_ts"), sa.text("id")],
        "recent": [sa.text("updated_ts"), sa.text("id")]}


def upgrade() -> None:
    # Plain ALTER TABLE on both databases: a batch (copy) migration on SQLite would drop the
    # expression indexes it cannot reflect (ix_account_review_score).
    op.add_column('account', sa.Column('last_ip_country', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=True))
    op.execute("UPDATE account SET last_ip_country = (SELECT a.ip_country FROM assessment a "
               "WHERE a.account_id = account.id AND a.event <> 'rescore' ORDER BY a.occurred_ts DESC LIMIT 1)")
    for column in ("country", "last_ip_country"):
        for sort, key in KEYS.items():
            op.create_index(f"ix_account_review_{column}_{sort}", 'account', [sa.text(column), *key],
                            sqlite_where=IN_REVIEW, postgresql_where=IN_REVIEW)


def downgrade() -> None:
    for column in ("country", "last_ip_country"):
        for sort in KEYS:
            op.drop_index(f"ix_account_review_{column}_{sort}", table_name='account')
    op.drop_column('account', 'last_ip_country')
