"""Policy versions published from the console. The newest row is the policy in force."""
from __future__ import annotations

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection

from riskengine.storage.tables import PolicyVersion, table_of

P = table_of(PolicyVersion)


def newest_policy_id(conn: Connection) -> int | None:
    """The id of the policy in force: one read of the primary key's last entry."""
    return conn.execute(select(func.max(P.c.id))).scalar_one_or_none()


def policy_version(conn: Connection, version_id: int | None = None):
    """One version (id, created_ts, author, note, body); the newest without an id; None if none."""
    q = select(P)
    q = q.where(P.c.id == version_id) if version_id is not None else q.order_by(P.c.id.desc()).limit(1)
    return conn.execute(q).mappings().first()


def add_policy_version(conn: Connection, body: dict, author: str, note: str, t: float) -> int:
    res = conn.execute(insert(P).values(created_ts=t, author=author, note=note, body=body))
    key = res.inserted_primary_key
    assert key is not None  # a single-row INSERT always reports its primary key
    return int(key[0])


def policy_history(conn: Connection, limit: int = 100) -> list[dict]:
    return [dict(r) for r in conn.execute(
        select(P.c.id, P.c.created_ts, P.c.author, P.c.note).order_by(P.c.id.desc()).limit(limit)).mappings()]
