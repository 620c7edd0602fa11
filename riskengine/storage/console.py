"""The analyst console's reads: the review queue, an account, a cluster, the overview, and the
stored assessments a what-if replays. Writes go through the stores they belong to (labels in
assessments.add_label, the same store as POST /v1/labels; policy versions in policies)."""
from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from riskengine.storage.links import STRONG_KINDS, linked_accounts

# Exactly the partial indexes' predicate and key (tables.IN_REVIEW, QUEUE_SCORE): SQLite uses a
# partial index only for a query that repeats its WHERE.
_IN_REVIEW = "(last_decision IN ('challenge', 'block') OR rescore_decision IN ('challenge', 'block'))"
_SCORE = "COALESCE(last_score, -1.0)"
QUEUE_SORTS = ("score", "recent")
REPLAY_TIMEOUT_S = 600.0         # a what-if's reads on PostgreSQL: ten times a million rows' time
PAGE_TIMEOUT_S = 5.0             # a console page's reads on PostgreSQL: some 100x a page's time at 1M rows
_QUERY_CANCELED = "57014"        # PostgreSQL's SQLSTATE for a statement stopped by statement_timeout


class ReadsTooSlow(Exception):
    """A console page's reads ran out of their budget (the database cancelled a statement)."""

    def __init__(self, seconds: float):
        super().__init__(f"the database did not answer within {seconds:g} s")
        self.seconds = seconds


def _statement_timeout(conn: Connection, seconds: float) -> None:
    """PostgreSQL's statement timeout for the rest of this transaction only (SQLite has none)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(seconds * 1000)}")


@contextmanager
def page_budget(conn: Connection, seconds: float | None = None) -> Iterator[Connection]:
    """The console's reads under a statement timeout of their own on PostgreSQL, for this
    transaction only: the service's (RISKENGINE_DB_TIMEOUT_MS, 500 ms by default) is a scoring
    call's budget, and a page may read more; but a page that reads for minutes holds a worker
    and a connection, so it is bounded too, and its cancel is a ReadsTooSlow, not a 500.
    SQLite has no statement timeout: there a page's reads are bounded by its indexes."""
    seconds = PAGE_TIMEOUT_S if seconds is None else seconds
    _statement_timeout(conn, seconds)
    try:
        yield conn
    except OperationalError as e:
        if getattr(e.orig, "sqlstate", None) == _QUERY_CANCELED:
            raise ReadsTooSlow(seconds) from e
        raise


@dataclass(frozen=True)
class QueueFilter:
    reason: str | None = None
    event: str | None = None
    country: str | None = None
    cluster: str | None = None


def _reason_match(dialect: str) -> str:
    if dialect == "postgresql":
        return ("CAST(a.response AS jsonb) -> 'reasons' @> "
                "jsonb_build_array(jsonb_build_object('code', CAST(:reason AS text)))")
    return "EXISTS (SELECT 1 FROM json_each(a.response, '$.reasons') r WHERE json_extract(r.value, '$.code') = :reason)"


def review_queue(conn: Connection, flt: QueueFilter, sort: str = "score", after: tuple | None = None,
                 limit: int = 50) -> list[dict]:
    """Unlabelled accounts the engine challenged, blocked or flagged in a rescore, best first;
    `after` is the last row's key from the page before (keyset paging: a page costs the same at
    the millionth row as at the first). A country filter is two walks, one per country column
    (declared, last IP's), each down its own index in queue order and stopping at `limit` rows:
    the page is the best `limit` of both, so a country nobody in the queue has costs two empty
    index probes, not a walk of the whole queue."""
    where = [_IN_REVIEW, "NOT EXISTS (SELECT 1 FROM label l WHERE l.account_id = account.id)"]
    params: dict = {"n": limit}
    if flt.event:
        where.append("a.event = :event")
        params["event"] = flt.event
    if flt.cluster:
        where.append("account.cluster_id = :cluster")
        params["cluster"] = flt.cluster
    if flt.reason:
        where.append(_reason_match(conn.dialect.name))
        params["reason"] = flt.reason
    if sort == "recent":
        order = "updated_ts DESC, account.id DESC"
        if after:
            where.append("(updated_ts, account.id) < (:t, :id)")
            params.update(t=float(after[0]), id=str(after[1]))
    else:
        order = f"{_SCORE} DESC, updated_ts DESC, account.id DESC"
        if after:
            where.append(f"({_SCORE}, updated_ts, account.id) < (:s, :t, :id)")
            params.update(s=float(after[0]), t=float(after[1]), id=str(after[2]))
    if not flt.country:
        return _queue_rows(conn, where, order, params, sort)
    params["country"] = flt.country.upper()
    found: dict[str, dict] = {}
    for column in ("country", "last_ip_country"):
        for row in _queue_rows(conn, [*where, f"account.{column} = :country"], order, params, sort):
            found[row["id"]] = row
    return sorted(found.values(), key=lambda r: r["key"], reverse=True)[:limit]


def _queue_rows(conn: Connection, where: list[str], order: str, params: dict, sort: str) -> list[dict]:
    sql = (f"SELECT account.id, account.email, account.country, last_decision, rescore_decision, last_score, "
           f"updated_ts, cluster_id, cluster_size, a.event, a.ip_country, a.response "
           f"FROM account LEFT JOIN assessment a ON a.id = account.last_assessment_id "
           f"WHERE {' AND '.join(where)} ORDER BY {order} LIMIT :n")
    out = []
    for r in conn.execute(text(sql), params).mappings():
        row = dict(r)
        response = _json(row.pop("response")) or {}
        row["reasons"] = [x.get("code") for x in response.get("reasons", [])]
        row["key"] = ((row["updated_ts"], row["id"]) if sort == "recent"
                      else (row["last_score"] if row["last_score"] is not None else -1.0, row["updated_ts"], row["id"]))
        out.append(row)
    return out


def _json(value):
    return json.loads(value) if isinstance(value, str | bytes) else value


def account_detail(conn: Connection, account_id: str, limit: int = 100) -> dict | None:
    acc = conn.execute(text("SELECT * FROM account WHERE id = :a"), {"a": account_id}).mappings().first()
    if acc is None:
        return None
    rows = conn.execute(text(
        "SELECT id, event, occurred_ts, decision, monitored_decision, score, decided_by, degraded, "
        "model_version, policy_version, ip, ip_country, phone_last4, card_last4, card_brand, response "
        "FROM assessment WHERE account_id = :a "
        "ORDER BY occurred_ts DESC LIMIT :n"), {"a": account_id, "n": limit}).mappings().all()
    assessments = []
    for r in rows:
        row = dict(r)
        response = _json(row.pop("response")) or {}
        row["reasons"] = response.get("reasons", [])
        row["signals"] = response.get("signals") or {}
        assessments.append(row)
    ids = [a["id"] for a in assessments]
    outcomes = []
    if ids:
        outcomes = [dict(r) for r in conn.execute(text(
            "SELECT assessment_id, outcome, created_ts FROM challengeoutcome WHERE assessment_id IN :ids "
            "ORDER BY created_ts").bindparams(bindparam("ids", expanding=True)), {"ids": ids}).mappings()]
    labels = [dict(r) for r in conn.execute(text(
        "SELECT id, label, source, note, created_ts FROM label WHERE account_id = :a ORDER BY created_ts, id"),
        {"a": account_id}).mappings()]
    return {"account": dict(acc), "assessments": assessments, "outcomes": outcomes, "labels": labels,
            "links": linked_accounts(conn, account_id), "usage": usage_summary(conn, account_id)}


def usage_summary(conn: Connection, account_id: str, days: float = 30.0, cap: int = 100_000) -> dict:
    """Volume, reasoning share and hours of the day of the account's usage in its last `days`
    days of records (at most `cap` rows read)."""
    newest = conn.execute(text("SELECT MAX(occurred_ts) FROM usagerecord WHERE account_id = :a"),
                          {"a": account_id}).scalar()
    hours = [0] * 24
    out: dict = {"records": 0, "requests": 0, "tokens": 0, "reasoning_share": None, "hours": hours, "days": days}
    if newest is None:
        return out
    rows = conn.execute(text(
        "SELECT occurred_ts, requests, input_tokens, output_tokens, reasoning FROM usagerecord "
        "WHERE account_id = :a AND occurred_ts > :s LIMIT :n"),
        {"a": account_id, "s": newest - days * 86400, "n": cap}).all()
    said = yes = total = tokens = 0
    for ts, requests, tin, tout, reasoning in rows:
        total += requests or 0
        tokens += (tin or 0) + (tout or 0)
        hours[int(ts // 3600) % 24] += requests or 0
        if reasoning is not None:
            said += 1
            yes += bool(reasoning)
    out.update(records=len(rows), requests=total, tokens=tokens)
    out["reasoning_share"] = round(yes / said, 3) if said else None
    return out


def cluster_detail(conn: Connection, cluster_id: str, limit: int = 500) -> dict:
    """Members with their decisions and latest labels, and what they share (strong link kinds
    plus subnets; prompt templates from usage)."""
    members = [dict(r) for r in conn.execute(text(
        "SELECT id, email, country, last_decision, last_score, rescore_decision, updated_ts, "
        "(SELECT label FROM label l WHERE l.account_id = account.id ORDER BY created_ts DESC, l.id DESC LIMIT 1) "
        "AS label FROM account WHERE cluster_id = :c ORDER BY id LIMIT :n"),
        {"c": cluster_id, "n": limit}).mappings()]
    ids = [m["id"] for m in members]
    shared: list[dict] = []
    if ids:
        kinds = (*STRONG_KINDS, "subnet")
        rows = conn.execute(text(
            "SELECT kind, value, account_id FROM entitylink WHERE account_id IN :ids AND kind IN :kinds")
            .bindparams(bindparam("ids", expanding=True), bindparam("kinds", expanding=True)),
            {"ids": ids, "kinds": list(kinds)}).all()
        by_value: dict[tuple, list] = {}
        for kind, value, acct in rows:
            by_value.setdefault((kind, value), []).append(acct)
        templates = conn.execute(text(
            "SELECT DISTINCT prompt_fp, account_id FROM usagerecord WHERE account_id IN :ids AND prompt_fp IS NOT NULL "
            "LIMIT 20000").bindparams(bindparam("ids", expanding=True)), {"ids": ids}).all()
        for fp, acct in templates:
            by_value.setdefault(("template", f"{fp & 0xFFFFFFFFFFFFFFFF:016x}"), []).append(acct)
        shared = [{"kind": k, "value": v, "accounts": sorted(set(a))}
                  for (k, v), a in sorted(by_value.items()) if len(set(a)) > 1]
        digits = shown_digits(conn, ids, {(s["kind"], s["value"]) for s in shared})
        for s in shared:
            s["shown"] = digits.get((s["kind"], s["value"]))
    return {"cluster_id": cluster_id, "members": members, "shared": shared}


def _link_sql(dialect: str, kind: str) -> str:
    if dialect == "postgresql":
        return f"json_extract_path_text(inputs, 'links', '{kind}')"
    return f"json_extract(inputs, '$.links.{kind}')"


def shown_digits(conn: Connection, account_ids: list[str], values: set[tuple[str, str]],
                 cap: int = 20_000) -> dict[tuple[str, str], dict]:
    """What an analyst may read of shared phones and cards: (kind, keyed hash) -> {"last4",
    "brand"} from the assessments of `account_ids` that stored them (the hash is the request's
    own, in its stored links, so the digits are the same number's). Values whose assessments
    kept no digits (older than the retention, or stored before the digits were) are left out."""
    wanted = {kind for kind, _ in values} & {"phone", "payment"}
    if not account_ids or not wanted:
        return {}
    d = conn.dialect.name
    out: dict[tuple[str, str], dict] = {}
    for kind in sorted(wanted):
        last4 = "phone_last4" if kind == "phone" else "card_last4"
        rows = conn.execute(text(
            f"SELECT {_link_sql(d, kind)} AS value, {last4}, card_brand FROM assessment "
            f"WHERE account_id IN :ids AND {last4} IS NOT NULL ORDER BY occurred_ts DESC LIMIT :n")
            .bindparams(bindparam("ids", expanding=True)), {"ids": account_ids, "n": cap}).all()
        for value, digits, brand in rows:
            if (kind, value) in values and (kind, value) not in out:
                out[(kind, value)] = {"last4": digits, "brand": brand if kind == "payment" else None}
    return out


def overview(conn: Connection, since: float, bucket: float, sample: int = 5000) -> dict:
    """Decisions per event and outcome in time buckets since `since`, the share degraded, and,
    from the newest `sample` assessments, the versions that decided them and their top reasons;
    the last rescore runs.

    Each count reads ix_assessment_event_ts alone (event, time, decision, degraded: an
    index-only scan), one event at a time so that the event is the index's equality prefix;
    a million rows' counts never touch the table's 4 KB rows. The newest `sample` are found in
    the same index (their times, a few bytes each), and only those rows are read."""
    events = _events(conn)
    slot = ("CAST(FLOOR(occurred_ts / :b) AS BIGINT)" if conn.dialect.name == "postgresql"
            else "CAST(occurred_ts / :b AS INTEGER)")
    rows = []
    for event in events:
        rows += [(event, *r) for r in conn.execute(text(
            f"SELECT decision, {slot} AS slot, degraded, COUNT(*) FROM assessment "
            f"WHERE event = :e AND occurred_ts > :s GROUP BY decision, slot, degraded"),
            {"e": event, "s": since, "b": bucket})]
    newest = _newest(conn, events, since, sample)
    versions: dict[tuple, dict] = {}
    reasons: dict[str, int] = {}
    for model_version, policy_version, ts, response in newest:
        v = versions.setdefault((model_version, policy_version), {
            "model_version": model_version, "policy_version": policy_version, "n": 0, "last_ts": ts})
        v["n"] += 1
        v["last_ts"] = max(v["last_ts"], ts)
        for r in (_json(response) or {}).get("reasons", []):
            reasons[r.get("code")] = reasons.get(r.get("code"), 0) + 1
    runs = [dict(r) for r in conn.execute(text(
        "SELECT id, started_ts, finished_ts, status, accounts, since_seconds, "
        "(SELECT COUNT(*) FROM assessment WHERE event = 'rescore' AND event_id >= 'rescore:' || rescorerun.id || ':' "
        " AND event_id < 'rescore:' || rescorerun.id || ';') AS written "
        "FROM rescorerun ORDER BY started_ts DESC LIMIT 5")).mappings()]
    return {"rows": rows, "sample": len(newest),
            "versions": sorted(versions.values(), key=lambda v: -v["last_ts"])[:20],
            "top_reasons": sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))[:10], "runs": runs}


def _events(conn: Connection) -> list[str]:
    """The stored events, by a loose walk of ix_assessment_event_ts: one index probe per
    distinct event (a handful), where SELECT DISTINCT would read the whole index."""
    return [r[0] for r in conn.execute(text(
        "WITH RECURSIVE e(event) AS ("
        " SELECT MIN(event) FROM assessment"
        " UNION ALL SELECT (SELECT MIN(event) FROM assessment WHERE event > e.event) FROM e WHERE e.event IS NOT NULL)"
        " SELECT event FROM e WHERE event IS NOT NULL"))]


def _newest(conn: Connection, events: list[str], since: float, n: int) -> list[tuple]:
    """(model_version, policy_version, occurred_ts, response) of the newest `n` assessments
    since `since`: each event's newest `n` times from the index, the n-th newest of all of
    them as the cut, then only the rows at or after the cut."""
    times: list[float] = []
    for event in events:
        times += [r[0] for r in conn.execute(text(
            "SELECT occurred_ts FROM assessment WHERE event = :e AND occurred_ts > :s "
            "ORDER BY occurred_ts DESC LIMIT :n"), {"e": event, "s": since, "n": n})]
    if not times:
        return []
    cut = sorted(times, reverse=True)[:n][-1]
    out: list[tuple] = []
    for event in events:
        out += [tuple(r) for r in conn.execute(text(
            "SELECT model_version, policy_version, occurred_ts, response FROM assessment "
            "WHERE event = :e AND occurred_ts >= :c AND occurred_ts > :s ORDER BY occurred_ts DESC LIMIT :n"),
            {"e": event, "c": cut, "s": since, "n": n})]
    return sorted(out, key=lambda r: r[2], reverse=True)[:n]


def _paths_sql(column: str, paths: list[str]) -> str:
    """SQLite: a JSON array (as text) of the values at `paths` of a JSON column, SQLite's JSON
    functions parsing each stored document once, in C, and handing over a few bytes."""
    if not paths:
        return "NULL"
    if len(paths) == 1:           # json_extract with one path answers the value itself, not an array
        paths = paths * 2
    return "json_extract({}, {})".format(column, ", ".join(f"'$.{p}'" for p in paths))


def replay_rows(conn: Connection, since: float, until: float, response_paths: list[str], input_paths: list[str]):
    """The stored signup and login assessments of a period, in no order, streamed: (event,
    decision, score, ip, ip_country, account_id, degraded, response values, inputs values), the
    values as JSON arrays (text or bytes) of what is at `response_paths` of the stored answer
    and at `input_paths` of its stored inputs (None for no paths)."""
    d = conn.dialect.name
    for p in (*response_paths, *input_paths):
        if not all(part.replace("_", "").isalnum() for part in p.split(".")):
            raise ValueError(f"not a signal path: {p!r}")
    where = "WHERE occurred_ts > :s AND occurred_ts <= :u AND event <> 'rescore'"
    if d == "postgresql":
        # The service's statement timeout (RISKENGINE_DB_TIMEOUT_MS, 500 ms by default) is a
        # scoring call's budget; each fetch of this stream may take longer. For this
        # transaction only.
        _statement_timeout(conn, REPLAY_TIMEOUT_S)
        # The stored documents as text (the json type's own form: no work for the server), their
        # few values picked here (_Picker): PostgreSQL parsing a 2 KB answer, into jsonb or by
        # its json functions, costs some 50 us a row (a million rows: 50-80 s); msgspec
        # skipping what it is not asked for, 5 us.
        sql = (f"SELECT event, decision, score, ip, ip_country, account_id, degraded, "
               f"{'CAST(response AS text)' if response_paths else 'NULL'}, "
               f"{'CAST(inputs AS text)' if input_paths else 'NULL'} FROM assessment {where}")
        # Per statement: Connection.execution_options() would stream every later statement too.
        rows = conn.exec_driver_sql(sql.replace(":s", "%(s)s").replace(":u", "%(u)s"), {"s": since, "u": until},
                                    execution_options={"stream_results": True, "max_row_buffer": 20_000})
        return _picked(rows, _Picker(response_paths), _Picker(input_paths))
    source = "assessment NOT INDEXED" if _most_of_the_table(conn, since, until) else "assessment"
    columns = f"{_paths_sql('response', response_paths)}, {_paths_sql('inputs', input_paths)}"
    sql = f"SELECT event, decision, score, ip, ip_country, account_id, degraded, {columns} FROM {source} {where}"
    return conn.exec_driver_sql(sql.replace(":s", "?").replace(":u", "?"), (since, until))


def _picked(rows, response: _Picker, inputs: _Picker):
    pick_response, pick_inputs = response.pick, inputs.pick
    for event, decision, score, ip, ip_country, account, degraded, doc, doc_inputs in rows:
        yield (event, decision, score, ip, ip_country, account, degraded, pick_response(doc), pick_inputs(doc_inputs))


class _Picker:
    """The values at `paths` of a JSON document (text), as a JSON array (bytes), what SQLite's
    json_extract gives: null for a missing path. The document is decoded into msgspec structs
    of only the paths' keys, so the rest of it is skipped, not built; a document whose shape
    the structs do not fit (a scalar where a path goes on) is decoded whole and walked."""

    def __init__(self, paths: list[str]):
        self.paths = [p.split(".") for p in paths]
        self.none = msgspec.json.encode([None] * len(paths))
        tree: dict = {}
        for parts in self.paths:
            node = tree
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            node.setdefault(parts[-1], None)
        self.decoder: msgspec.json.Decoder | None = msgspec.json.Decoder(_struct(tree)) if paths else None
        self.fields = [[_field(part) for part in parts] for parts in self.paths]

    def pick(self, doc):
        if self.decoder is None:
            return None
        if doc is None:
            return self.none
        try:
            top = self.decoder.decode(doc)
        except msgspec.ValidationError:
            return msgspec.json.encode([_walk(msgspec.json.decode(doc), parts) for parts in self.paths])
        out = []
        for fields in self.fields:
            node = top
            for f in fields:
                if node is None:
                    break
                node = getattr(node, f)
            out.append(node)
        return msgspec.json.encode(out)


def _field(key: str) -> str:
    return f"k_{key}"              # a valid attribute for any key the path check lets through ("7d")


def _struct(tree: dict) -> type:
    fields = [(_field(k), (Any if sub is None else _struct(sub) | None), None) for k, sub in tree.items()]
    return msgspec.defstruct("Picked", fields, rename={_field(k): k for k in tree})


def _walk(node, parts: list[str]):
    for part in parts:
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def _most_of_the_table(conn: Connection, since: float, until: float) -> bool:
    """Whether the period holds more than half of the stored assessments. SQLite then reads the
    table front to back instead of through the (event, time) index: an assessment is a page of
    its own (its answer, request and features are some 3 KB), and the index visits them in time
    order, which is the table's order only for traffic stored as it happened; for history
    imported out of order it is a random read per row, 1.5-2 minutes for a million rows out of
    the page cache where the scan streams the file. The count reads the index alone (tens of MB
    for a million rows). PostgreSQL's planner makes this choice itself."""
    inside = conn.exec_driver_sql(
        "SELECT COUNT(*) FROM assessment WHERE occurred_ts > ? AND occurred_ts <= ? AND event <> 'rescore'",
        (since, until)).scalar() or 0
    rows = conn.exec_driver_sql("SELECT MAX(rowid) FROM assessment").scalar() or 0   # an upper bound, at once
    return inside * 2 > rows


def latest_label(conn: Connection, account_id: str) -> str | None:
    return conn.execute(text("SELECT label FROM label WHERE account_id = :a ORDER BY created_ts DESC, id DESC LIMIT 1"),
                        {"a": account_id}).scalar()


def all_latest_labels(conn: Connection) -> dict[str, str]:
    return {a: lb for a, lb in conn.execute(text("SELECT account_id, label FROM label ORDER BY created_ts, id"))}
