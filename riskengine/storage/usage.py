"""Usage records and the batches of links that wait to be folded."""
from __future__ import annotations

from sqlalchemy import select, text
from sqlalchemy.engine import Connection

from riskengine.storage.sqlite import insert_many
from riskengine.storage.tables import PendingLinks, UsageBatch, UsageRecord, table_of

PENDING = table_of(PendingLinks)
BATCHES = table_of(UsageBatch)


USAGE_COLUMNS = ("account_id", "occurred_ts", "ip", "device", "api_key_id", "model", "requests", "input_tokens",
                 "output_tokens", "prompt_fp", "reasoning")


_USAGE_INSERT = f"INSERT INTO usagerecord ({', '.join(USAGE_COLUMNS)})"


def insert_usage(conn: Connection, rows: list[tuple], uses: bytes, t: float) -> int:
    """One batch of usage records (tuples in USAGE_COLUMNS order) and its packed links, in the
    caller's transaction (all or nothing). Returns how many batches' links wait to be folded."""
    if conn.dialect.name == "sqlite":
        insert_many(conn, _USAGE_INSERT, rows)
    else:   # batched multi-row VALUES on PostgreSQL
        conn.execute(table_of(UsageRecord).insert(), [dict(zip(USAGE_COLUMNS, r, strict=True)) for r in rows])
    conn.execute(PENDING.insert(), {"created_ts": t, "uses": uses})
    return conn.execute(text("SELECT COUNT(*) FROM pendinglinks")).scalar_one()


def stored_batch(conn: Connection, batch_id: str) -> tuple[str, int] | None:
    """(body hash, records accepted) of a batch already stored under `batch_id`."""
    row = conn.execute(select(BATCHES.c.body_hash, BATCHES.c.accepted).where(BATCHES.c.batch_id == batch_id)).first()
    return None if row is None else (row.body_hash, row.accepted)


def claim_batch(conn: Connection, batch_id: str, body_hash: str, accepted: int, t: float) -> bool:
    """Record the batch in the caller's (the records') transaction. False when a batch with this id
    is already stored: on PostgreSQL a concurrent twin's insert waits here until the first commits."""
    return conn.execute(text(
        "INSERT INTO usagebatch (batch_id, body_hash, accepted, created_ts) VALUES (:b, :h, :n, :t) "
        "ON CONFLICT (batch_id) DO NOTHING"), {"b": batch_id, "h": body_hash, "n": accepted, "t": t}).rowcount == 1


def pending_links(conn: Connection, limit: int) -> list[tuple[int, bytes]]:
    """The oldest batches whose links wait to be folded: (id, packed uses)."""
    return [(i, bytes(u)) for i, u in conn.execute(
        text("SELECT id, uses FROM pendinglinks ORDER BY id LIMIT :n"), {"n": limit})]


def delete_pending_links(conn: Connection, ids: list[int]) -> int:
    """Rows deleted: fewer than asked when another folder took some first."""
    return conn.execute(PENDING.delete().where(PENDING.c.id.in_(ids))).rowcount


def usage_window(conn: Connection, since: float, until: float, lo: str | None = None, hi: str | None = None):
    """Usage rows in the window (optionally for account ids in [lo, hi]), in no order."""
    where = "occurred_ts > :s AND occurred_ts <= :u"
    if lo is not None:
        where += " AND account_id >= :lo AND account_id <= :hi"
    # No ORDER BY: the caller sorts in numpy; reading in table order is sequential I/O.
    return conn.execute(text(
        "SELECT account_id, occurred_ts, ip, device, requests, input_tokens, output_tokens, prompt_fp, reasoning "
        f"FROM usagerecord WHERE {where}"),
        {"s": since, "u": until, "lo": lo, "hi": hi})


def usage_fingerprints(conn: Connection, since: float, until: float):
    """(account_id, prompt_fp) in the window, repeats included (the caller dedupes in numpy;
    SQL's DISTINCT over millions of rows cost a minute)."""
    return conn.execute(text(
        "SELECT account_id, prompt_fp FROM usagerecord WHERE occurred_ts > :s AND occurred_ts <= :u "
        "AND prompt_fp IS NOT NULL"), {"s": since, "u": until})
