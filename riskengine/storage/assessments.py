"""Assessments, accounts, labels and challenge outcomes."""
from __future__ import annotations

import functools
import json

from sqlalchemy import JSON, bindparam, insert, select, text
from sqlalchemy.engine import Connection

from riskengine.storage.engine import driver, least_greatest
from riskengine.storage.links import linked_accounts, upsert_links
from riskengine.storage.tables import Account, Assessment, ChallengeOutcome, Label, table_of

A = table_of(Assessment)


ACC = table_of(Account)


LBL = table_of(Label)


EVENT_ID_SQL = select(A.c.request_hash, A.c.response).where(A.c.event_id == bindparam("event_id"))


def find_by_event_id(conn: Connection, event_id: str):
    return conn.execute(EVENT_ID_SQL, {"event_id": event_id}).first()


ACCOUNT_FIELDS = ("email", "email_domain", "name", "country", "org_type")


_UPSERT_ACCOUNT = """INSERT INTO account (id, created_ts, updated_ts, {fields}, last_assessment_id,
  last_decision, last_score, last_ip_country)
VALUES (:id, :t, :t, {values}, :asm, :decision, :score, :ip_country)
ON CONFLICT (id) DO UPDATE SET
  created_ts = {least}(account.created_ts, excluded.created_ts),
  updated_ts = {greatest}(account.updated_ts, excluded.updated_ts),
  {coalesce},
  last_assessment_id = CASE WHEN excluded.updated_ts >= account.updated_ts
    THEN excluded.last_assessment_id ELSE account.last_assessment_id END,
  last_decision = CASE WHEN excluded.updated_ts >= account.updated_ts
    THEN excluded.last_decision ELSE account.last_decision END,
  last_score = CASE WHEN excluded.updated_ts >= account.updated_ts
    THEN excluded.last_score ELSE account.last_score END,
  last_ip_country = CASE WHEN excluded.updated_ts >= account.updated_ts
    THEN excluded.last_ip_country ELSE account.last_ip_country END"""


@functools.lru_cache(maxsize=4)
def _account_upsert(dialect: str):
    """The account upsert for this dialect: SQLite's two-argument MIN/MAX are PostgreSQL's
    LEAST/GREATEST; everything else is the same SQL."""
    return text(_UPSERT_ACCOUNT.format(
        fields=", ".join(ACCOUNT_FIELDS), values=", ".join(f":{f}" for f in ACCOUNT_FIELDS),
        coalesce=",\n  ".join(f"{f} = COALESCE(excluded.{f}, account.{f})" for f in ACCOUNT_FIELDS),
        **least_greatest(dialect)))


_JSON_COLUMNS = frozenset(c.name for c in A.columns if c.type._type_affinity is JSON)


# Through the driver, JSON serialised here as SQLAlchemy's JSON type would (json.dumps, None
# as JSON null):
# a Core insert's compile-cache lookup and per-column processing cost as much as SQLite's
# work on this row (docs/performance.md).
ASSESSMENT_INSERT_SQL = text(f"INSERT INTO assessment ({', '.join(c.name for c in A.columns)}) "
                             f"VALUES ({', '.join(':' + c.name for c in A.columns)})")


# What a Core insert would put in a column the row leaves out: its scalar default, else NULL.
_DEFAULTS = {c.name: (getattr(c.default, "arg", None) if c.default is not None and c.default.is_scalar else None)
             for c in A.columns}


def _assessment_params(row: dict) -> dict:
    out = {c: row.get(c, d) for c, d in _DEFAULTS.items()}
    for c in _JSON_COLUMNS:
        if c in row:                 # a column left out is SQL NULL, as in a Core insert
            out[c] = json.dumps(row[c])
    return out


def record(conn: Connection, row: dict, account: dict, links: dict[str, str]) -> None:
    """Store one assessment, its account and its links in the caller's transaction.

    A repeated event_id raises IntegrityError from the first insert: the caller rolls back
    and answers from the stored assessment. Links are written in a fixed order so that
    concurrent writers on PostgreSQL take row locks in the same order (no deadlocks)."""
    account_sql = _account_upsert(conn.dialect.name)
    driver(conn, ASSESSMENT_INSERT_SQL, _assessment_params(row))
    t = row["occurred_ts"]
    driver(conn, account_sql, {"id": row["account_id"], "t": t, "asm": row["id"], "decision": row["decision"],
                               "score": row.get("score"), "ip_country": row.get("ip_country"),
                               **{f: account.get(f) for f in ACCOUNT_FIELDS}})
    upsert_links(conn, [(k, v, row["account_id"], t, t, 1) for k, v in links.items()])


def add_label(conn: Connection, account_id: str, label: str, source: str, note: str | None, t: float) -> dict:
    res = conn.execute(insert(LBL).values(
        account_id=account_id, label=label, source=source, note=note, created_ts=t))
    key = res.inserted_primary_key
    assert key is not None  # a single-row INSERT always reports its primary key
    return {"id": key[0], "account_id": account_id, "label": label,
            "source": source, "note": note, "created_ts": t}


def account_exists(conn: Connection, account_id: str) -> bool:
    return conn.execute(select(ACC.c.id).where(ACC.c.id == account_id)).first() is not None


def assessment_exists(conn: Connection, assessment_id: str) -> bool:
    return conn.execute(select(A.c.id).where(A.c.id == assessment_id)).first() is not None


def add_challenge_outcome(conn: Connection, assessment_id: str, outcome: str, t: float) -> None:
    conn.execute(insert(table_of(ChallengeOutcome)).values(assessment_id=assessment_id, outcome=outcome,
                                                           created_ts=t))


SUBJECT_SQL = select(A.c.account_id, A.c.inputs, A.c.occurred_ts).where(A.c.id == bindparam("id"))


def challenge_subject(conn: Connection, assessment_id: str) -> tuple[str, str | None, str | None, float] | None:
    """(account, device keyed hash, subnet keyed hash, the event's time) of an assessment:
    what a challenge on it was about. None when the assessment is gone."""
    row = conn.execute(SUBJECT_SQL, {"id": assessment_id}).first()
    if row is None:
        return None
    links = (row.inputs or {}).get("links") or {}
    return row.account_id, links.get("device"), links.get("subnet"), float(row.occurred_ts)


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
        select(LBL).where(LBL.c.account_id == account_id)
        .order_by(LBL.c.created_ts)
    ).mappings().all()
    return {"account": dict(acc), "latest": latest, "assessments": [tuple(r) for r in assessments],
            "labels": [dict(r) for r in labels], "links": linked_accounts(conn, account_id)}
