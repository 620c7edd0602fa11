"""ix_assessment_event_ts covers the overview's counts: (event, occurred_ts, decision, degraded)

The console's overview counts a period's decisions per event, outcome, time bucket and
degraded flag. With the index on (event, occurred_ts) alone each counted row was a read of the
table row (some 4 KB: the stored answer, inputs and features): 10 s for a million rows from
the page cache on SQLite, 111 s from disk, 84 s on PostgreSQL. With decision and degraded in
the index the count reads the index alone. The index is widened, not joined by a second one:
an assessment's write updates as many indexes as before, and every query that used the old
key (event, occurred_ts) uses its prefix.

Plain create/drop on both databases: a batch (copy) migration on SQLite would drop the
expression and partial indexes it cannot reflect.

Revision ID: b2e4f6a8c0d1
Revises: c6d1e9f3a7b5
"""
from alembic import op

revision = 'b2e4f6a8c0d1'
down_revision = 'c6d1e9f3a7b5'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index('ix_assessment_event_ts', table_name='assessment')
    op.create_index('ix_assessment_event_ts', 'assessment', ['event', 'occurred_ts', 'decision', 'degraded'])


def downgrade() -> None:
    op.drop_index('ix_assessment_event_ts', table_name='assessment')
    op.create_index('ix_assessment_event_ts', 'assessment', ['event', 'occurred_ts'])
