"""All database access. Routes and the pipeline call these functions; nothing else holds SQL.

Core SQL (not ORM sessions) on the request path: it is what runs a few hundred times a
second, and every statement here is one indexed range read or one upsert.
"""
from __future__ import annotations

import fcntl
import functools
import itertools
import json
import math
import os
import re
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterable

from sqlalchemy import and_, bindparam, create_engine, event, insert, select, text, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from riskengine.storage.tables import (
    Account, ApiKey, Assessment, ChallengeOutcome, EntityLink, Label, PendingLinks, UsageRecord)

HOUR = 3600.0
DAY = 86400.0
WINDOWS = {"1h": HOUR, "24h": DAY, "7d": 7 * DAY, "30d": 30 * DAY}
# Kinds that identify a person or a payment instrument; IPs and subnets are shared by design.
STRONG_KINDS = ("device", "components", "payment", "mailbox", "phone")
LINK_KINDS = STRONG_KINDS + ("ip", "subnet")
HISTORY_KINDS = ("device", "country")
BULK_WAIT_MS = 10_000
BULK_POLL_S = 0.002

A = Assessment.__table__
L = EntityLink.__table__
ACC = Account.__table__
K = ApiKey.__table__
PENDING = PendingLinks.__table__


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
            cur.execute("PRAGMA cache_size=-65536")      # 64 MiB: big indexes take random inserts
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
    rescore_decision: str | None = None  # the re-scoring job's latest verdict on this account


# Statements are built once: composing SQLAlchemy expressions per request cost more than
# running them. Absent identifiers bind NULL, which matches no row.
# Counts stop at SHARE_CAP: past a thousand accounts a shared thing is a NAT or a popular
# phone model, and reading every row of it on each login would cost milliseconds. The
# newest rows come first, so every window below the cap is counted exactly.
SHARE_CAP = 1000
_SHARED_PART = """SELECT '{kind}' AS kind,
  COALESCE(SUM(CASE WHEN last_seen > :w1h THEN 1 ELSE 0 END), 0),
  COALESCE(SUM(CASE WHEN last_seen > :w24h THEN 1 ELSE 0 END), 0),
  COALESCE(SUM(CASE WHEN last_seen > :w7d THEN 1 ELSE 0 END), 0),
  COUNT(*)
FROM (SELECT last_seen FROM entitylink WHERE kind = '{kind}' AND value = :link_{kind} AND account_id <> :acct
      AND last_seen > :w30d AND first_seen <= :t ORDER BY last_seen DESC LIMIT {cap}) AS recent"""
SHARED_SQL = text("\nUNION ALL\n".join(_SHARED_PART.format(kind=k, cap=SHARE_CAP) for k in LINK_KINDS))
LINKED_SQL = text(
    "SELECT COUNT(*) FROM (SELECT DISTINCT account_id FROM entitylink WHERE ("
    + " OR ".join(f"(kind = '{k}' AND value = :link_{k})" for k in STRONG_KINDS)
    + f") AND account_id <> :acct AND last_seen > :w30d AND first_seen <= :t LIMIT {SHARE_CAP}) AS linked")
# One round trip for the per-account and per-network counts (it matters on PostgreSQL).
COUNTS_SQL = text("""SELECT
  (SELECT COUNT(*) FROM assessment WHERE ip_asn = :asn AND event = 'signup'
     AND occurred_ts > :w1h AND occurred_ts <= :t),
  (SELECT COUNT(*) FROM assessment WHERE account_id = :acct AND event = 'login'
     AND login_outcome = 'failure' AND occurred_ts > :w1h AND occurred_ts <= :t),
  (SELECT COUNT(*) FROM assessment WHERE account_id = :acct AND event = 'login'
     AND login_outcome = 'failure' AND occurred_ts > :w24h AND occurred_ts <= :t),
  (SELECT COUNT(*) FROM assessment WHERE ip = :ip AND event = 'login'
     AND login_outcome = 'failure' AND occurred_ts > :w1h AND occurred_ts <= :t),
  (SELECT COUNT(DISTINCT account_id) FROM assessment WHERE ip = :ip AND event = 'login'
     AND login_outcome = 'failure' AND occurred_ts > :w1h AND occurred_ts <= :t),
  (SELECT created_ts FROM account WHERE id = :acct),
  (SELECT cluster_size FROM account WHERE id = :acct),
  (SELECT rescore_decision FROM account WHERE id = :acct)""")
ACCOUNT_KINDS_SQL = text(
    "SELECT kind, value, first_seen, last_seen FROM entitylink WHERE account_id = :acct "
    "AND kind IN ('device', 'country')")
PREVIOUS_LOCATION_SQL = text(
    "SELECT occurred_ts, latitude, longitude FROM assessment WHERE account_id = :acct "
    "AND occurred_ts <= :t AND latitude IS NOT NULL ORDER BY occurred_ts DESC LIMIT 1")


_DRIVER_SQL: dict[tuple[int, str], str] = {}


def _driver(conn: Connection, stmt, params):
    """Run a prebuilt text statement through the driver directly: on the login path
    SQLAlchemy's per-execute bookkeeping cost as much as SQLite's work. sqlite3 takes the
    :name style as is; psycopg wants %(name)s."""
    key = (id(stmt), conn.dialect.name)
    sql = _DRIVER_SQL.get(key)
    if sql is None:
        sql = stmt.text if conn.dialect.name == "sqlite" else re.sub(r"(?<!:):(\w+)", r"%(\1)s", stmt.text)
        _DRIVER_SQL[key] = sql
    return conn.exec_driver_sql(sql, params)


def history(conn: Connection, account_id: str, links: dict[str, str], t: float,
            ip: str | None, asn: int | None, device: str | None, country: str | None) -> History:
    h = History()
    params = {"acct": account_id, "t": t, "ip": ip, "asn": asn,
              **{f"w{name}": t - seconds for name, seconds in WINDOWS.items()},
              **{f"link_{k}": links.get(k) for k in LINK_KINDS}}
    h.shared = {kind: None for kind in LINK_KINDS}
    for kind, h1, h24, d7, d30 in _driver(conn, SHARED_SQL, params):
        if links.get(kind) is not None:
            h.shared[kind] = {"1h": int(h1), "24h": int(h24), "7d": int(d7), "30d": int(d30)}
    h.shared = {k: v for k, v in h.shared.items() if v is not None}
    if any(links.get(k) for k in STRONG_KINDS):
        h.linked_accounts = int(_driver(conn, LINKED_SQL, params).scalar_one())
    asn_1h, fail_1h, fail_24h, ip_fail, ip_accts, created, cluster, rescored = \
        _driver(conn, COUNTS_SQL, params).one()
    h.signups_per_asn_1h = None if asn is None else int(asn_1h)
    h.failed_logins_account_1h, h.failed_logins_account_24h = int(fail_1h), int(fail_24h)
    h.failed_logins_ip_1h, h.accounts_failed_ip_1h = int(ip_fail), int(ip_accts)
    if created is not None and created <= t:
        h.account_known = True
        h.account_age_days = (t - created) / DAY
        h.cluster_size = cluster
        h.rescore_decision = rescored
        _account_history(conn, h, params, device, country)
        prev = _driver(conn, PREVIOUS_LOCATION_SQL, params).first()
        h.previous_location = tuple(prev) if prev else None
    return h


def _account_history(conn, h: History, params: dict, device, country):
    t = params["t"]
    rows = _driver(conn, ACCOUNT_KINDS_SQL, params).all()
    since = params["w30d"]
    seen = {(k, v) for k, v, first, _ in rows if first < t}
    h.devices_30d = sum(1 for k, _, first, last in rows if k == "device" and last > since and first <= t)
    h.countries_30d = sum(1 for k, _, first, last in rows if k == "country" and last > since and first <= t)
    h.device_seen_before = None if device is None else ("device", device) in seen
    h.country_seen_before = None if country is None else ("country", country) in seen


# ---------------------------------------------------------------- recording

EVENT_ID_SQL = select(A.c.request_hash, A.c.response).where(A.c.event_id == bindparam("event_id"))


def find_by_event_id(conn: Connection, event_id: str):
    return conn.execute(EVENT_ID_SQL, {"event_id": event_id}).first()


_LINK_INSERT = "INSERT INTO entitylink (kind, value, account_id, first_seen, last_seen, events)"
_LINK_CONFLICT = """ON CONFLICT (kind, value, account_id) DO UPDATE SET
  first_seen = {least}(entitylink.first_seen, excluded.first_seen),
  last_seen = {greatest}(entitylink.last_seen, excluded.last_seen),
  events = entitylink.events + excluded.events"""
_UPSERT_LINK = _LINK_INSERT + "\nVALUES (:kind, :value, :account_id, :first, :last, :n)\n" + _LINK_CONFLICT
LINK_PARAMS = ("kind", "value", "account_id", "first", "last", "n")
ACCOUNT_FIELDS = ("email", "email_domain", "name", "country", "org_type")
_UPSERT_ACCOUNT = """INSERT INTO account (id, created_ts, updated_ts, {fields}, last_assessment_id,
  last_decision, last_score)
VALUES (:id, :t, :t, {values}, :asm, :decision, :score)
ON CONFLICT (id) DO UPDATE SET
  created_ts = {least}(account.created_ts, excluded.created_ts),
  updated_ts = {greatest}(account.updated_ts, excluded.updated_ts),
  {coalesce},
  last_assessment_id = CASE WHEN excluded.updated_ts >= account.updated_ts
    THEN excluded.last_assessment_id ELSE account.last_assessment_id END,
  last_decision = CASE WHEN excluded.updated_ts >= account.updated_ts
    THEN excluded.last_decision ELSE account.last_decision END,
  last_score = CASE WHEN excluded.updated_ts >= account.updated_ts
    THEN excluded.last_score ELSE account.last_score END"""
_UPSERTS: dict[str, tuple] = {}


def _upserts(dialect: str):
    """(link upsert, account upsert) for this dialect: SQLite's two-argument MIN/MAX are
    PostgreSQL's LEAST/GREATEST; everything else is the same SQL."""
    if dialect not in _UPSERTS:
        fn = {"least": "LEAST", "greatest": "GREATEST"} if dialect == "postgresql" else {"least": "MIN", "greatest": "MAX"}
        account = _UPSERT_ACCOUNT.format(
            fields=", ".join(ACCOUNT_FIELDS), values=", ".join(f":{f}" for f in ACCOUNT_FIELDS),
            coalesce=",\n  ".join(f"{f} = COALESCE(excluded.{f}, account.{f})" for f in ACCOUNT_FIELDS), **fn)
        _UPSERTS[dialect] = (text(_UPSERT_LINK.format(**fn)), text(account))
    return _UPSERTS[dialect]


def record(conn: Connection, row: dict, account: dict, links: dict[str, str]) -> None:
    """Store one assessment, its account and its links in the caller's transaction.

    A repeated event_id raises IntegrityError from the first insert: the caller rolls back
    and answers from the stored assessment. Links are written in a fixed order so that
    concurrent writers on PostgreSQL take row locks in the same order (no deadlocks)."""
    account_sql = _upserts(conn.dialect.name)[1]
    conn.execute(A.insert(), row)
    t = row["occurred_ts"]
    _driver(conn, account_sql, {"id": row["account_id"], "t": t, "asm": row["id"], "decision": row["decision"],
                               "score": row.get("score"), **{f: account.get(f) for f in ACCOUNT_FIELDS}})
    upsert_links(conn, [(k, v, row["account_id"], t, t, 1) for k, v in links.items()])


USAGE_COLUMNS = ("account_id", "occurred_ts", "ip", "device", "api_key_id", "model", "requests", "input_tokens",
                 "output_tokens", "prompt_fp", "reasoning")
_USAGE_INSERT = f"INSERT INTO usagerecord ({', '.join(USAGE_COLUMNS)})"


@functools.lru_cache(maxsize=16)
def _values_sql(head: str, width: int, rows: int, tail: str = "") -> str:
    return f"{head} VALUES {','.join(['(' + ','.join('?' * width) + ')'] * rows)} {tail}"


def _insert_many(conn: Connection, head: str, rows: list[tuple], tail: str = "", params: int = 30_000) -> None:
    """Rows inserted by multi-row statements of up to `params` parameters each, on SQLite.

    Not the driver's executemany: that steps once per row, and sqlite3 lets go of the GIL
    around every step; with any other thread of the process busy, each step waits up to
    the 5 ms switch interval to get it back (measured: 34 ms for 10,000 rows alone, 28 s
    beside one busy thread), all while holding the database's write lock."""
    if not rows:
        return
    per = max(1, params // len(rows[0]))
    for start in range(0, len(rows), per):
        chunk = rows[start:start + per]
        conn.exec_driver_sql(_values_sql(head, len(chunk[0]), len(chunk), tail),
                             tuple(itertools.chain.from_iterable(chunk)))


def insert_usage(conn: Connection, rows: list[tuple], uses: bytes, t: float) -> int:
    """One batch of usage records (tuples in USAGE_COLUMNS order) and its packed links, in the
    caller's transaction (all or nothing). Returns how many batches' links wait to be folded."""
    if conn.dialect.name == "sqlite":
        _insert_many(conn, _USAGE_INSERT, rows)
    else:   # batched multi-row VALUES on PostgreSQL
        conn.execute(UsageRecord.__table__.insert(), [dict(zip(USAGE_COLUMNS, r)) for r in rows])
    conn.execute(PENDING.insert(), {"created_ts": t, "uses": uses})
    return conn.execute(text("SELECT COUNT(*) FROM pendinglinks")).scalar_one()


def pending_links(conn: Connection, limit: int) -> list[tuple[int, bytes]]:
    """The oldest batches whose links wait to be folded: (id, packed uses)."""
    return [(i, bytes(u)) for i, u in conn.execute(
        text("SELECT id, uses FROM pendinglinks ORDER BY id LIMIT :n"), {"n": limit})]


def delete_pending_links(conn: Connection, ids: list[int]) -> int:
    """Rows deleted: fewer than asked when another folder took some first."""
    return conn.execute(PENDING.delete().where(PENDING.c.id.in_(ids))).rowcount


def upsert_links(conn: Connection, links: list[tuple]) -> None:
    """Links (tuples in LINK_PARAMS order, one per key) merged into entitylink, in key order:
    concurrent writers on PostgreSQL then lock rows in the same order (no deadlocks), and
    SQLite's b-trees are walked once, left to right."""
    if not links:
        return
    links = sorted(links)
    if conn.dialect.name == "sqlite":
        _insert_many(conn, _LINK_INSERT, links, _LINK_CONFLICT.format(least="MIN", greatest="MAX"))
    else:
        _driver(conn, _upserts(conn.dialect.name)[0], [dict(zip(LINK_PARAMS, r)) for r in links])


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


class WriteBusy(SQLAlchemyError):
    """Another writer held SQLite's write lock for longer than the caller may wait."""


_GATES: dict[str, tuple[threading.Lock, int, int]] = {}
_GATES_LOCK = threading.Lock()


def _gate(path: str):
    with _GATES_LOCK:
        gate = _GATES.get(path)
        if gate is None or gate[2] != os.getpid():       # a forked child opens its own
            fd = os.open(path + ".writelock", os.O_RDWR | os.O_CREAT, 0o600)
            gate = _GATES[path] = (threading.Lock(), fd, os.getpid())
        return gate


def _sqlite_file(engine: Engine) -> str | None:
    """The absolute path of an engine's SQLite file; None for PostgreSQL or an in-memory database."""
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    return os.path.abspath(path) if path and path != ":memory:" else None


@contextmanager
def writing(engine: Engine, timeout_s: float, poll_s: float = 0.0002):
    """A write transaction. On SQLite, writers queue: threads of this process on a lock,
    other processes on a file lock polled every `poll_s` (0.2 ms for logins). SQLite's own
    busy handler would sleep 1, 2, 5, 10... ms between tries, which is what a login's p99
    pays under load. Bulk writers poll less often: their waits are long, their work big."""
    path = _sqlite_file(engine)
    if path is None:
        with engine.begin() as conn:
            yield conn
        return
    lock, fd, _ = _gate(path)
    deadline = time.monotonic() + timeout_s
    if not lock.acquire(timeout=timeout_s):
        raise WriteBusy("timed out waiting for this process's other writers")
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise WriteBusy("timed out waiting for another process's write") from None
                time.sleep(poll_s)
        try:
            with engine.begin() as conn:
                yield conn
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        lock.release()


@contextmanager
def alone(engine: Engine, name: str):
    """True when no other process on this machine holds `name` for this SQLite database (then
    this one does, until the block ends); False at once otherwise. Always True on PostgreSQL,
    whose callers must be safe when run side by side."""
    path = _sqlite_file(engine)
    if path is None:
        yield True
        return
    fd = os.open(path + f".{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)      # releases the lock


@contextmanager
def bulk_checkpoints(engine: Engine, pages: int = 50_000):
    """For a bulk writer: let SQLite's WAL grow to `pages` before checkpointing, so index and
    account pages rewritten by many transactions are copied to the database once, not each
    time (the connection keeps the default again afterwards)."""
    if engine.dialect.name != "sqlite":
        yield
        return
    with engine.connect() as conn:
        conn.exec_driver_sql(f"PRAGMA wal_autocheckpoint={int(pages)}")
    try:
        yield
    finally:
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_autocheckpoint=1000")


def optimize(engine: Engine) -> None:
    """Refresh SQLite's planner statistics (bounded work); PostgreSQL's autovacuum does this."""
    if engine.dialect.name == "sqlite":
        with engine.begin() as conn:
            conn.exec_driver_sql("PRAGMA analysis_limit=1000")   # sample, so big tables cost milliseconds
            conn.exec_driver_sql("ANALYZE")


def ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


# ---------------------------------------------------------------- re-scoring reads and writes
# Bulk reads for the job: plain SQL over indexed columns, streamed, one pass each.

def chunked(rows, size: int = 500_000):
    """Lists of up to `size` rows from a cursor result (fetchmany) or any iterable."""
    if hasattr(rows, "fetchmany"):
        while block := rows.fetchmany(size):
            yield block
        return
    it = iter(rows)
    while block := list(itertools.islice(it, size)):
        yield block


def active_accounts(conn: Connection, since: float, until: float) -> list[str]:
    """Accounts assessed (signup/login) or with usage in (since, until], sorted."""
    rows = conn.execute(text(
        "SELECT account_id FROM assessment WHERE occurred_ts > :s AND occurred_ts <= :u AND event <> 'rescore' "
        "UNION SELECT account_id FROM usagerecord WHERE occurred_ts > :s AND occurred_ts <= :u"),
        {"s": since, "u": until})
    return sorted(r[0] for r in rows)


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


def latest_event_features(conn: Connection, until: float, lo: str | None = None, hi: str | None = None):
    """(account_id, features, occurred_ts) of each account's signup/login assessments up to `until`,
    by account then time: the caller keeps the last per account."""
    where = "event <> 'rescore' AND occurred_ts <= :u AND features IS NOT NULL"
    if lo is not None:
        where += " AND account_id >= :lo AND account_id <= :hi"
    return conn.execute(text(
        f"SELECT account_id, features, occurred_ts FROM assessment WHERE {where} ORDER BY account_id, occurred_ts"),
        {"u": until, "lo": lo, "hi": hi})


def link_rows(conn: Connection, since: float, kinds: tuple[str, ...] = LINK_KINDS):
    """(kind, value, account_id) of links seen in the window: the cluster graph's raw edges."""
    kinds_sql = ", ".join(f"'{k}'" for k in kinds)
    return conn.execute(text(
        f"SELECT kind, value, account_id FROM entitylink WHERE last_seen > :s AND kind IN ({kinds_sql})"),
        {"s": since})


def account_states(conn: Connection):
    """(id, created_ts, last_decision, rescore_decision) of every account."""
    return conn.execute(text("SELECT id, created_ts, last_decision, rescore_decision FROM account"))


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


RESCORE_ACCOUNT_SQL = text(
    "UPDATE account SET rescore_decision = :decision, rescore_score = :score, rescore_ts = :t, "
    "cluster_id = :cluster_id, cluster_size = :cluster_size, "
    "last_assessment_id = CASE WHEN updated_ts <= :t THEN :asm ELSE last_assessment_id END, "
    "last_decision = CASE WHEN updated_ts <= :t THEN :decision ELSE last_decision END, "
    "last_score = CASE WHEN updated_ts <= :t THEN :score ELSE last_score END, "
    "updated_ts = CASE WHEN updated_ts <= :t THEN :t ELSE updated_ts END "
    "WHERE id = :account_id")


NEW_ACCOUNT_SQL = text("INSERT INTO account (id, created_ts, updated_ts) VALUES (:account_id, :t, :t) "
                       "ON CONFLICT (id) DO NOTHING")


RESCORE_COLUMNS = ("id", "event_id", "account_id", "event", "occurred_ts", "created_ts", "decision", "score",
                   "decided_by", "degraded", "model_version", "policy_version", "features", "response")
_JSON_COLUMNS = {"features", "response"}
RESCORE_INSERT_SQL = text(f"INSERT INTO assessment ({', '.join(RESCORE_COLUMNS)}) "
                          f"VALUES ({', '.join(':' + c for c in RESCORE_COLUMNS)})")


def write_rescores(conn: Connection, rows: list[dict], accounts: list[dict]) -> None:
    """Rescore assessments and their accounts' new state, in the caller's transaction.
    Accounts known only from usage get their account row here. Driver-level executemany
    with JSON serialised once: a million rows through the ORM layer cost minutes."""
    if rows:
        _driver(conn, RESCORE_INSERT_SQL, [
            {c: (json.dumps(r.get(c)) if c in _JSON_COLUMNS else r.get(c)) for c in RESCORE_COLUMNS} for r in rows])
    if accounts:
        _driver(conn, NEW_ACCOUNT_SQL, accounts)
        _driver(conn, RESCORE_ACCOUNT_SQL, accounts)
