"""All database access. Routes and the pipeline call these functions; nothing else holds SQL.

Core SQL (not ORM sessions) on the request path: it is what runs a few hundred times a
second, and every statement here is one indexed range read or one upsert.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable

from sqlalchemy import Integer, and_, case, create_engine, event, func, insert, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from .tables import Account, ApiKey, Assessment, ChallengeOutcome, EntityLink, Label

HOUR = 3600.0
DAY = 86400.0
WINDOWS = {"1h": HOUR, "24h": DAY, "7d": 7 * DAY, "30d": 30 * DAY}
# Kinds that identify a person or a payment instrument; IPs and subnets are shared by design.
STRONG_KINDS = ("device", "components", "payment", "mailbox", "phone")
LINK_KINDS = STRONG_KINDS + ("ip", "subnet")
HISTORY_KINDS = ("device", "country")

A = Assessment.__table__
L = EntityLink.__table__
ACC = Account.__table__
K = ApiKey.__table__


class StorageError(RuntimeError):
    """The database failed or did not answer in time."""


def make_engine(url: str, timeout_ms: int = 500) -> Engine:
    if url.startswith("sqlite"):
        eng = create_engine(url, connect_args={"timeout": timeout_ms / 1000, "check_same_thread": False})

        @event.listens_for(eng, "connect")
        def _pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute(f"PRAGMA busy_timeout={int(timeout_ms)}")
            cur.close()

        return eng
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    opts = f"-c statement_timeout={int(timeout_ms)} -c lock_timeout={int(timeout_ms)}"
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_timeout=max(timeout_ms / 1000, 0.5),
        connect_args={"connect_timeout": max(1, math.ceil(timeout_ms / 1000)), "options": opts},
    )


def _upsert(conn: Connection, table, rows: list[dict], keys: list[str], set_: dict):
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table).values(rows)
    stmt = stmt.on_conflict_do_update(index_elements=keys, set_={k: v(stmt.excluded) for k, v in set_.items()})
    conn.execute(stmt)


def _least(conn, a, b):
    return func.least(a, b) if conn.dialect.name == "postgresql" else func.min(a, b)


def _greatest(conn, a, b):
    return func.greatest(a, b) if conn.dialect.name == "postgresql" else func.max(a, b)


# ---------------------------------------------------------------- history / velocity

@dataclass
class History:
    """What storage knows about an account and its identifiers as of one moment."""
    shared: dict[str, dict[str, int]] = field(default_factory=dict)   # kind -> window -> other accounts
    linked_accounts: int = 0
    signups_per_asn_1h: int | None = None
    failed_logins_account_1h: int = 0
    failed_logins_account_24h: int = 0
    failed_logins_ip_1h: int = 0
    accounts_failed_ip_1h: int = 0
    account_known: bool = False
    account_age_days: float | None = None
    device_seen_before: bool | None = None
    country_seen_before: bool | None = None
    devices_30d: int = 0
    countries_30d: int = 0
    previous_location: tuple[float, float, float] | None = None       # (ts, lat, lon)
    cluster_size: int | None = None      # from the last clustering run; None before one


def history(conn: Connection, account_id: str, links: dict[str, str], t: float,
            ip: str | None, asn: int | None, device: str | None, country: str | None) -> History:
    h = History()
    h.shared, h.linked_accounts = _shared_counts(conn, account_id, links, t)
    if asn is not None:
        h.signups_per_asn_1h = conn.execute(
            select(func.count()).select_from(A).where(
                A.c.ip_asn == asn, A.c.event == "signup", A.c.occurred_ts > t - HOUR, A.c.occurred_ts <= t)
        ).scalar_one()
    row = conn.execute(
        select(func.coalesce(func.sum((A.c.occurred_ts > t - HOUR).cast(Integer)), 0), func.count())
        .where(A.c.account_id == account_id, A.c.event == "login", A.c.login_outcome == "failure",
               A.c.occurred_ts > t - DAY, A.c.occurred_ts <= t)
    ).one()
    h.failed_logins_account_1h, h.failed_logins_account_24h = int(row[0]), int(row[1])
    if ip is not None:
        row = conn.execute(
            select(func.count(), func.count(A.c.account_id.distinct()))
            .where(A.c.ip == ip, A.c.occurred_ts > t - HOUR, A.c.occurred_ts <= t,
                   A.c.event == "login", A.c.login_outcome == "failure")
        ).one()
        h.failed_logins_ip_1h, h.accounts_failed_ip_1h = int(row[0]), int(row[1])
    acc = conn.execute(select(ACC.c.created_ts, ACC.c.cluster_size).where(ACC.c.id == account_id)).first()
    if acc is not None and acc.created_ts <= t:
        h.account_known = True
        h.account_age_days = (t - acc.created_ts) / DAY
        h.cluster_size = acc.cluster_size
    _account_history(conn, h, account_id, t, device, country)
    prev = conn.execute(
        select(A.c.occurred_ts, A.c.latitude, A.c.longitude)
        .where(A.c.account_id == account_id, A.c.occurred_ts <= t, A.c.latitude.is_not(None))
        .order_by(A.c.occurred_ts.desc()).limit(1)
    ).first()
    h.previous_location = tuple(prev) if prev else None
    return h


def _shared_counts(conn, account_id, links, t):
    shared = {kind: dict.fromkeys(WINDOWS, 0) for kind in links}
    if not links:
        return shared, 0
    win = {name: t - seconds for name, seconds in WINDOWS.items()}
    parts = []
    for kind, value in sorted(links.items()):
        parts.append(
            select(
                L.c.kind,
                func.sum((L.c.last_seen > win["1h"]).cast(Integer)),
                func.sum((L.c.last_seen > win["24h"]).cast(Integer)),
                func.sum((L.c.last_seen > win["7d"]).cast(Integer)),
                func.count(),
            ).where(L.c.kind == kind, L.c.value == value, L.c.account_id != account_id,
                    L.c.last_seen > win["30d"], L.c.first_seen <= t)
            .group_by(L.c.kind)
        )
    stmt = parts[0] if len(parts) == 1 else parts[0].union_all(*parts[1:])
    for kind, h1, h24, d7, d30 in conn.execute(stmt):
        shared[kind] = {"1h": int(h1 or 0), "24h": int(h24 or 0), "7d": int(d7 or 0), "30d": int(d30 or 0)}
    strong = [(k, v) for k, v in links.items() if k in STRONG_KINDS]
    linked = 0
    if strong:
        cond = [and_(L.c.kind == k, L.c.value == v) for k, v in sorted(strong)]
        linked = conn.execute(
            select(func.count(L.c.account_id.distinct()))
            .where(or_(*cond), L.c.account_id != account_id, L.c.last_seen > win["30d"], L.c.first_seen <= t)
        ).scalar_one()
    return shared, int(linked)


def _account_history(conn, h: History, account_id, t, device, country):
    rows = conn.execute(
        select(L.c.kind, L.c.value, L.c.first_seen, L.c.last_seen)
        .where(L.c.account_id == account_id, L.c.kind.in_(HISTORY_KINDS))
    ).all()
    since = t - WINDOWS["30d"]
    seen = {("device", v) for k, v, first, _ in rows if k == "device" and first < t}
    seen |= {("country", v) for k, v, first, _ in rows if k == "country" and first < t}
    h.devices_30d = sum(1 for k, _, first, last in rows if k == "device" and last > since and first <= t)
    h.countries_30d = sum(1 for k, _, first, last in rows if k == "country" and last > since and first <= t)
    if h.account_known:
        h.device_seen_before = None if device is None else ("device", device) in seen
        h.country_seen_before = None if country is None else ("country", country) in seen


# ---------------------------------------------------------------- recording

def find_by_event_id(conn: Connection, event_id: str):
    return conn.execute(select(A.c.request_hash, A.c.response).where(A.c.event_id == event_id)).first()


def record(conn: Connection, row: dict, account: dict, links: dict[str, str]) -> None:
    """Store one assessment, its account and its links in the caller's transaction.

    A repeated event_id raises IntegrityError from the first insert: the caller rolls back
    and answers from the stored assessment."""
    conn.execute(insert(A).values(**row))
    t = row["occurred_ts"]
    _upsert_account(conn, account, row, t)
    if links:
        rows = [{"kind": k, "value": v, "account_id": row["account_id"], "first_seen": t, "last_seen": t,
                 "events": 1} for k, v in sorted(links.items())]
        _upsert(conn, L, rows, ["kind", "value", "account_id"], {
            "first_seen": lambda ex: _least(conn, L.c.first_seen, ex.first_seen),
            "last_seen": lambda ex: _greatest(conn, L.c.last_seen, ex.last_seen),
            "events": lambda ex: L.c.events + 1,
        })


def _upsert_account(conn, account: dict, row: dict, t: float):
    values = {"id": row["account_id"], "created_ts": t, "updated_ts": t,
              "last_assessment_id": row["id"], "last_decision": row["decision"], "last_score": row.get("score"),
              **{k: v for k, v in account.items() if v is not None}}
    newer = ACC.c.updated_ts <= t
    set_ = {
        "created_ts": lambda ex: _least(conn, ACC.c.created_ts, ex.created_ts),
        "updated_ts": lambda ex: _greatest(conn, ACC.c.updated_ts, ex.updated_ts),
    }
    for col in ("last_assessment_id", "last_decision", "last_score"):
        set_[col] = lambda ex, col=col: case((newer, getattr(ex, col)), else_=ACC.c[col])
    for col in account:
        if account[col] is not None:
            set_[col] = lambda ex, col=col: getattr(ex, col)
    _upsert(conn, ACC, [values], ["id"], set_)


# ---------------------------------------------------------------- labels, challenges, reads

def add_label(conn: Connection, account_id: str, label: str, source: str, note: str | None, t: float) -> dict:
    res = conn.execute(insert(Label.__table__).values(
        account_id=account_id, label=label, source=source, note=note, created_ts=t))
    return {"id": res.inserted_primary_key[0], "account_id": account_id, "label": label,
            "source": source, "note": note, "created_ts": t}


def account_exists(conn: Connection, account_id: str) -> bool:
    return conn.execute(select(ACC.c.id).where(ACC.c.id == account_id)).first() is not None


def assessment_exists(conn: Connection, assessment_id: str) -> bool:
    return conn.execute(select(A.c.id).where(A.c.id == assessment_id)).first() is not None


def add_challenge_outcome(conn: Connection, assessment_id: str, outcome: str, t: float) -> None:
    conn.execute(insert(ChallengeOutcome.__table__).values(assessment_id=assessment_id, outcome=outcome, created_ts=t))


def account_view(conn: Connection, account_id: str, limit: int = 50):
    acc = conn.execute(select(ACC).where(ACC.c.id == account_id)).mappings().first()
    if acc is None:
        return None
    latest = None
    if acc["last_assessment_id"]:
        latest = conn.execute(select(A.c.response).where(A.c.id == acc["last_assessment_id"])).scalar_one_or_none()
    assessments = conn.execute(
        select(A.c.id, A.c.event, A.c.decision, A.c.score, A.c.occurred_ts, A.c.degraded)
        .where(A.c.account_id == account_id).order_by(A.c.occurred_ts.desc()).limit(limit)
    ).all()
    labels = conn.execute(
        select(Label.__table__).where(Label.__table__.c.account_id == account_id)
        .order_by(Label.__table__.c.created_ts)
    ).mappings().all()
    return {"account": dict(acc), "latest": latest, "assessments": [tuple(r) for r in assessments],
            "labels": [dict(r) for r in labels], "links": linked_accounts(conn, account_id)}


def linked_accounts(conn: Connection, account_id: str, limit: int = 100) -> list[dict]:
    """Accounts sharing a strong identifier with this one, with what they share."""
    me = L.alias("me")
    other = L.alias("other")
    rows = conn.execute(
        select(other.c.account_id, other.c.kind)
        .select_from(me.join(other, and_(other.c.kind == me.c.kind, other.c.value == me.c.value)))
        .where(me.c.account_id == account_id, me.c.kind.in_(STRONG_KINDS), other.c.account_id != account_id)
        .limit(limit * len(STRONG_KINDS))
    ).all()
    via: dict[str, set] = {}
    for acct, kind in rows:
        via.setdefault(acct, set()).add(kind)
    return [{"account_id": a, "via": sorted(v)} for a, v in sorted(via.items())[:limit]]


# ---------------------------------------------------------------- API keys

def insert_key(conn: Connection, name: str, key_hash: str, scopes: Iterable[str], t: float) -> None:
    conn.execute(insert(K).values(name=name, key_hash=key_hash, scopes=" ".join(sorted(scopes)), created_ts=t))


def key_by_hash(conn: Connection, key_hash: str):
    return conn.execute(select(K.c.name, K.c.scopes, K.c.revoked_ts).where(K.c.key_hash == key_hash)).first()


def list_keys(conn: Connection):
    return conn.execute(select(K.c.name, K.c.scopes, K.c.created_ts, K.c.revoked_ts).order_by(K.c.name)).all()


def revoke_key(conn: Connection, name: str, t: float) -> bool:
    res = conn.execute(update(K).where(K.c.name == name, K.c.revoked_ts.is_(None)).values(revoked_ts=t))
    return res.rowcount > 0


def ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
