"""API keys, stored as hashes."""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from riskengine.storage.tables import ApiKey, table_of

K = table_of(ApiKey)


def insert_key(conn: Connection, name: str, key_hash: str, scopes: Iterable[str], t: float) -> None:
    conn.execute(insert(K).values(name=name, key_hash=key_hash, scopes=" ".join(sorted(scopes)), created_ts=t))


def key_by_hash(conn: Connection, key_hash: str):
    return conn.execute(select(K.c.name, K.c.scopes, K.c.revoked_ts).where(K.c.key_hash == key_hash)).first()


def list_keys(conn: Connection):
    return conn.execute(select(K.c.name, K.c.scopes, K.c.created_ts, K.c.revoked_ts).order_by(K.c.name)).all()


def revoke_key(conn: Connection, name: str, t: float) -> bool:
    res = conn.execute(update(K).where(K.c.name == name, K.c.revoked_ts.is_(None)).values(revoked_ts=t))
    return res.rowcount > 0
