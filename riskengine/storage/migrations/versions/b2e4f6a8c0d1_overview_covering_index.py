"""ix_assessment_event_ts covers the overview's counts: (event, occurred_ts, decision, degraded)

The console's overview counts a period's decisions per event, outcome, time bucket and
degraded flag. With the index on (event, occurred_ts) alone each counted row was a read of the
table row (some 4 KB: the stored answer, inputs and features): 10 s for a million rows from
the page cache on SQLite, 111 s from disk, 84 s on PostgreSQL. With decision and degraded in
the index the count reads the index alone. The index is widened, not joined by a second one:
an assessment's write updates as many indexes as before, and every query that used the old
key (event, occurred_ts) uses its prefix.

Plain create/drop on both databases: a batch (copy) migration on SQLite would drop the
expression and partial indexes it cannot reflect. On SQLite the assessment indexes created
after the old one are then created again, from their own stored SQL, in their order: SQLite's
planner breaks a tie between two indexes' estimates (its sampled statistics often give 1,001
rows for the first column of each) in favour of the newest, and a widened event index created
last would take a signup's email-domain reads (storage/history.py) from their partial index to
a walk of every signup in time order.

Revision ID: b2e4f6a8c0d1
Revises: c6d1e9f3a7b5
"""
import sqlalchemy as sa
from alembic import op

revision = 'b2e4f6a8c0d1'
down_revision = 'c6d1e9f3a7b5'
branch_labels = None
depends_on = None


def upgrade() -> None:
    _replace(['event', 'occurred_ts', 'decision', 'degraded'])


def downgrade() -> None:
    _replace(['event', 'occurred_ts'])


def _replace(columns: list[str]) -> None:
    bind = op.get_bind()
    later = []
    if bind.dialect.name == "sqlite":
        later = bind.execute(sa.text(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'assessment' AND sql IS NOT NULL "
            "AND rowid > (SELECT rowid FROM sqlite_master WHERE name = 'ix_assessment_event_ts') ORDER BY rowid")).all()
    op.drop_index('ix_assessment_event_ts', table_name='assessment')
    op.create_index('ix_assessment_event_ts', 'assessment', columns)
    for name, sql in later:
        op.execute(f'DROP INDEX "{name}"')
        op.execute(sql)
