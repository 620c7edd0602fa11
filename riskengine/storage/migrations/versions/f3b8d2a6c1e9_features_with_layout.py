"""assessment.features: positional JSON lists gain the id of the feature list they follow

A list was checked only by its length: one added feature made re-scoring skip every stored
account, and a reordered feature list would have fed wrong values silently. Now a stored
vector is {"layout": id, "values": [...]}, and the layout's feature names
(riskengine.scoring.stored_layouts, append-only) let a reader align it by name to any
model's feature order. (An object {name: value} would say the same, but costs four times
the bytes and twice the JSON parsing on the re-scoring path.)

Rows converted: signup/login assessments hold the assess model's 72 features, rescore
assessments the active model's 26, in the orders of the two layouts below (the code's
lists as of revision e1f2a3b4c5d6). A list of any other length was already unreadable and
is left as it is (the re-scoring job keeps reporting it).

How it scales: one pass over the primary key in ranges of BATCH rows (keyset, never
OFFSET); each range is read as text, each list wrapped verbatim (its values are not parsed
or re-printed, so none can change; a list of an unusual spelling is counted through json)
and the range written back in one statement (an executemany on SQLite, one UPDATE ... FROM
json_to_recordset() on PostgreSQL: one round trip per range, not per row). Memory is bounded
by BATCH; time grows linearly with the table. It runs in the migration's one transaction,
all or nothing: PostgreSQL keeps the old row versions until the transaction ends (the
table may need up to twice its space until autovacuum), SQLite's WAL grows by about the
table's size until the commit checkpoints it. Measured on the shared 2-core development
machine, under load, 100,000 rows of 72 values: 2.1 s on SQLite, 9.9 s on
PostgreSQL (most of it the server's own UPDATE): minutes, not hours, for 10 million rows.
Downgrade unwraps the lists of these two layouts.

Revision ID: f3b8d2a6c1e9
Revises: e1f2a3b4c5d6
"""
import json

import sqlalchemy as sa
from alembic import op

revision = 'f3b8d2a6c1e9'
down_revision = 'e1f2a3b4c5d6'
branch_labels = None
depends_on = None

BATCH = 5000

# riskengine.scoring.features.FEATURES and rescore.partition.ACTIVE_FEATURES as of
# revision e1f2a3b4c5d6, as layouts of riskengine.scoring.stored_layouts (id: length).
ASSESS_LAYOUT, ACTIVE_LAYOUT = "assess-72-9a1ec4405796", "active-26-0b4944729f63"
LENGTHS = {ASSESS_LAYOUT: 72, ACTIVE_LAYOUT: 26}

_READ = sa.text("SELECT id, event, CAST(features AS TEXT) FROM assessment WHERE id > :last "
                "AND features IS NOT NULL ORDER BY id LIMIT :n")
_WRITE = {
    "sqlite": sa.text("UPDATE assessment SET features = :features WHERE id = :id"),
    # The range as one JSON parameter: a text[] parameter would escape every quote client-side.
    "postgresql": sa.text("UPDATE assessment AS a SET features = v.features "
                          "FROM json_to_recordset(CAST(:rows AS JSON)) AS v(id TEXT, features JSON) "
                          "WHERE a.id = v.id"),
}


def _length(text: str) -> int | None:
    """How many values a JSON list holds; None if it is no list."""
    inner = text[1:-1] if text.startswith("[") and text.endswith("]") else None
    if inner is not None and not any(c in inner for c in '[]{}"'):      # flat scalars: count them
        return inner.count(",") + 1 if inner.strip() else 0
    values = json.loads(text)
    return len(values) if isinstance(values, list) else None


def _wrapped(event: str, text: str) -> str | None:
    """The list with its layout id; None: leave the row as it is."""
    layout = ACTIVE_LAYOUT if event == "rescore" else ASSESS_LAYOUT
    if _length(text) != LENGTHS[layout]:
        return None
    return f'{{"layout": "{layout}", "values": {text}}}'


def _unwrapped(event: str, text: str) -> str | None:
    stored = json.loads(text)
    if not isinstance(stored, dict) or stored.get("layout") not in LENGTHS:
        return None
    return json.dumps(stored["values"])


def _write(conn, changed: list[tuple[str, str]]) -> None:
    if conn.dialect.name == "postgresql":
        rows = ",".join(f'{{"id": {json.dumps(i)}, "features": {f}}}' for i, f in changed)
        conn.execute(_WRITE["postgresql"], {"rows": f"[{rows}]"})
    else:
        conn.execute(_WRITE["sqlite"], [{"id": i, "features": f} for i, f in changed])


def _convert(convert) -> None:
    conn = op.get_bind()
    last = ""
    while True:
        rows = conn.execute(_READ, {"last": last, "n": BATCH}).all()
        if not rows:
            return
        changed = [(row_id, new) for row_id, event, text in rows if (new := convert(event, text)) is not None]
        if changed:
            _write(conn, changed)
        last = rows[-1][0]


def upgrade() -> None:
    _convert(_wrapped)


def downgrade() -> None:
    _convert(_unwrapped)
