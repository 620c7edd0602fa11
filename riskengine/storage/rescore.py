"""Bulk reads and writes of the re-scoring job: plain SQL over indexed columns, streamed, one pass each."""
from __future__ import annotations

import json

from sqlalchemy import text
from sqlalchemy.engine import Connection

from riskengine.storage.engine import driver


def active_accounts(conn: Connection, since: float, until: float) -> list[str]:
    """Accounts assessed (signup/login) or with usage in (since, until], sorted."""
    rows = conn.execute(text(
        "SELECT account_id FROM assessment WHERE occurred_ts > :s AND occurred_ts <= :u AND event <> 'rescore' "
        "UNION SELECT account_id FROM usagerecord WHERE occurred_ts > :s AND occurred_ts <= :u"),
        {"s": since, "u": until})
    return sorted(r[0] for r in rows)


def latest_event_features(conn: Connection, until: float, lo: str | None = None, hi: str | None = None):
    """(account_id, features, occurred_ts) of each account's signup/login assessments up to `until`,
    by account then time: the caller keeps the last per account."""
    where = "event <> 'rescore' AND occurred_ts <= :u AND features IS NOT NULL"
    if lo is not None:
        where += " AND account_id >= :lo AND account_id <= :hi"
    return conn.execute(text(
        f"SELECT account_id, features, occurred_ts FROM assessment WHERE {where} ORDER BY account_id, occurred_ts"),
        {"u": until, "lo": lo, "hi": hi})


def account_states(conn: Connection):
    """(id, created_ts, last_decision, rescore_decision) of every account."""
    return conn.execute(text("SELECT id, created_ts, last_decision, rescore_decision FROM account"))


def account_profiles(conn: Connection):
    """(id, email, email_domain, country) of every account: what lists and regions read of its row."""
    return conn.execute(text("SELECT id, email, email_domain, country FROM account"))


def usage_ips(conn: Connection, since: float, until: float):
    """(account_id, ip) of the window's usage, repeats included (the caller dedupes in numpy)."""
    return conn.execute(text(
        "SELECT account_id, ip FROM usagerecord WHERE occurred_ts > :s AND occurred_ts <= :u AND ip IS NOT NULL"),
        {"s": since, "u": until})


def latest_labels(conn: Connection, until: float) -> dict[str, str]:
    rows = conn.execute(text(
        "SELECT account_id, label FROM label WHERE created_ts <= :u ORDER BY created_ts, id"), {"u": until})
    return {a: lb for a, lb in rows}      # later labels win


def start_run(conn: Connection, run_id: str, started: float, as_of: float, since_seconds: float) -> None:
    conn.execute(text("INSERT INTO rescorerun (id, started_ts, as_of_ts, since_seconds, status) "
                      "VALUES (:id, :st, :a, :s, 'running')"),
                 {"id": run_id, "st": started, "a": as_of, "s": since_seconds})


def unfinished_run(conn: Connection, since_seconds: float):
    return conn.execute(text(
        "SELECT id, as_of_ts FROM rescorerun WHERE status = 'running' AND since_seconds = :s "
        "ORDER BY started_ts DESC LIMIT 1"), {"s": since_seconds}).first()


def finish_run(conn: Connection, run_id: str, accounts: int, t: float) -> None:
    conn.execute(text("UPDATE rescorerun SET status = 'done', accounts = :n, finished_ts = :t WHERE id = :id"),
                 {"n": accounts, "t": t, "id": run_id})


def done_in_run(conn: Connection, run_id: str) -> set[str]:
    prefix = f"rescore:{run_id}:"
    rows = conn.execute(text("SELECT event_id FROM assessment WHERE event = 'rescore' AND event_id >= :p "
                             "AND event_id < :q"), {"p": prefix, "q": prefix + "\U0010ffff"})
    return {r[0][len(prefix):] for r in rows}


# rescore_decision is what enforcing decides (in monitor mode the answer is allow): the verdict
# that a later login of the account is held to, and answers with as its monitored_decision.
RESCORE_ACCOUNT_SQL = text(
    "UPDATE account SET rescore_decision = :verdict, rescore_score = :score, rescore_ts = :t, "
    "cluster_id = :cluster_id, cluster_size = :cluster_size, "
    "last_assessment_id = CASE WHEN updated_ts <= :t THEN :asm ELSE last_assessment_id END, "
    "last_decision = CASE WHEN updated_ts <= :t THEN :decision ELSE last_decision END, "
    "last_score = CASE WHEN updated_ts <= :t THEN :score ELSE last_score END, "
    "updated_ts = CASE WHEN updated_ts <= :t THEN :t ELSE updated_ts END "
    "WHERE id = :account_id")


NEW_ACCOUNT_SQL = text("INSERT INTO account (id, created_ts, updated_ts) VALUES (:account_id, :t, :t) "
                       "ON CONFLICT (id) DO NOTHING")


RESCORE_COLUMNS = ("id", "event_id", "account_id", "event", "occurred_ts", "created_ts", "decision",
                   "monitored_decision", "score", "decided_by", "degraded", "model_version", "policy_version",
                   "features", "response")


_JSON_COLUMNS = {"features", "response"}


RESCORE_INSERT_SQL = text(f"INSERT INTO assessment ({', '.join(RESCORE_COLUMNS)}) "
                          f"VALUES ({', '.join(':' + c for c in RESCORE_COLUMNS)})")


def write_rescores(conn: Connection, rows: list[dict], accounts: list[dict]) -> None:
    """Rescore assessments and their accounts' new state, in the caller's transaction.
    Accounts known only from usage get their account row here. Driver-level executemany
    with JSON serialised once: a million rows through the ORM layer cost minutes."""
    if rows:
        driver(conn, RESCORE_INSERT_SQL, [
            {c: (json.dumps(r.get(c)) if c in _JSON_COLUMNS else r.get(c)) for c in RESCORE_COLUMNS} for r in rows])
    if accounts:
        driver(conn, NEW_ACCOUNT_SQL, accounts)
        driver(conn, RESCORE_ACCOUNT_SQL, accounts)
