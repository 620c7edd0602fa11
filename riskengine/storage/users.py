"""Console users, their sessions and the audit log of what they did."""
from __future__ import annotations

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection

from riskengine.storage.tables import AuditEntry, ConsoleSession, ConsoleUser, table_of

U = table_of(ConsoleUser)
S = table_of(ConsoleSession)
AUD = table_of(AuditEntry)


def add_user(conn: Connection, name: str, role: str, password_hash: str, t: float) -> None:
    conn.execute(insert(U).values(name=name, role=role, password_hash=password_hash, created_ts=t))


def set_password(conn: Connection, name: str, password_hash: str) -> bool:
    return conn.execute(update(U).where(U.c.name == name).values(password_hash=password_hash)).rowcount > 0


def user(conn: Connection, name: str):
    """The user row (name, role, password_hash, disabled_ts), or None."""
    return conn.execute(select(U).where(U.c.name == name)).mappings().first()


def list_users(conn: Connection) -> list[dict]:
    return [dict(r) for r in conn.execute(select(U.c.name, U.c.role, U.c.created_ts, U.c.disabled_ts)
                                          .order_by(U.c.name)).mappings()]


def start_session(conn: Connection, token_hash: str, user_name: str, t: float, expires: float) -> None:
    conn.execute(delete(S).where(S.c.user_name == user_name, S.c.expires_ts < t))     # the user's stale ones
    conn.execute(insert(S).values(token_hash=token_hash, user_name=user_name, created_ts=t, expires_ts=expires))


def session_user(conn: Connection, token_hash: str, now: float):
    """The signed-in user of a live session (an enabled user), or None."""
    return conn.execute(
        select(U.c.name, U.c.role).select_from(S.join(U, U.c.name == S.c.user_name))
        .where(S.c.token_hash == token_hash, S.c.expires_ts > now, U.c.disabled_ts.is_(None))
    ).mappings().first()


def end_session(conn: Connection, token_hash: str) -> None:
    conn.execute(delete(S).where(S.c.token_hash == token_hash))


def audit(conn: Connection, t: float, user_name: str, action: str, target: str, before=None, after=None) -> None:
    """One audit entry, in the caller's transaction: the action and its record commit together."""
    conn.execute(insert(AUD).values(ts=t, user_name=user_name, action=action, target=target[:256],
                                    before=before, after=after))


def audit_page(conn: Connection, before_id: int | None = None, limit: int = 100) -> list[dict]:
    """The newest entries first; `before_id` pages back (keyset on id)."""
    q = select(AUD).order_by(AUD.c.id.desc()).limit(limit)
    if before_id is not None:
        q = q.where(AUD.c.id < before_id)
    return [dict(r) for r in conn.execute(q).mappings()]
