"""assessment.phone_last4, card_last4, card_brand: what the console shows of phones and cards

Phones and card fingerprints are stored only as keyed hashes, which an analyst cannot read;
these are their last digits (scoring/shown.py), raw personal data removed by the retention job
with the assessment's other raw fields. Existing rows take their card's last 4 from the stored
request where it is still there (one UPDATE, in the migration's transaction); their phones'
digits were never kept and stay unknown (the console then shows no digits).

Revision ID: a3f6c8e2d4b1
Revises: d5e7f9a1b3c4
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = 'a3f6c8e2d4b1'
down_revision = 'd5e7f9a1b3c4'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE on both databases: a batch (copy) migration on SQLite would drop the
    # expression indexes it cannot reflect (ix_account_review_score).
    op.add_column('assessment', sa.Column('phone_last4', sqlmodel.sql.sqltypes.AutoString(length=4), nullable=True))
    op.add_column('assessment', sa.Column('card_last4', sqlmodel.sql.sqltypes.AutoString(length=4), nullable=True))
    op.add_column('assessment', sa.Column('card_brand', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("UPDATE assessment SET card_last4 = inputs -> 'payment' ->> 'last4' "
                   "WHERE inputs -> 'payment' ->> 'last4' ~ '^[0-9]{4}$'")
    else:
        op.execute("UPDATE assessment SET card_last4 = json_extract(inputs, '$.payment.last4') "
                   "WHERE json_valid(inputs) AND json_extract(inputs, '$.payment.last4') GLOB '[0-9][0-9][0-9][0-9]'")


def downgrade() -> None:
    op.drop_column('assessment', 'card_brand')
    op.drop_column('assessment', 'card_last4')
    op.drop_column('assessment', 'phone_last4')
