#!/usr/bin/env python
"""Benchmark the analyst console on a database of N stored assessments (default 1,000,000):
the what-if replay of all of them under a candidate policy, and review-queue pages.

  1. build: a fresh SQLite (or --database-url PostgreSQL) database; a few real signups and
     logins through the real /v1/assess give the stored shapes (answer, hashed inputs,
     features); N rows are made from them with scores spread over [0, 1], decisions as the
     model's thresholds give them, times over 30 days, N/4 accounts (a row each, with its last
     decision and score), 1% of them labelled. Simulated data: what counts here is time.
  2. what-if: every stored assessment replayed (analyst.run_whatif, as the console runs it)
     under the policy in force and under a stricter candidate (thresholds, a deny list, a rule);
     baseline in the same run: reading the same rows and columns without deciding.
  3. review queue (storage.console.review_queue, 50 a page): the first page by score, page 20
     reached by keyset, by recency, filtered by reason code, by country; baseline in the same
     run: reading 50 account rows by primary key. Median of 5 each.
  4. overview (storage.console.overview): 7 and 30 days; baseline: counting the 7 days'
     signups by the (event, time) index.

    .venv/bin/python scripts/bench_console.py [--assessments 1000000] [--database-url URL] [--keep]
        [--db FILE] [--cold] [--reuse] [--only whatif,queue,overview]

--db FILE builds the SQLite database at FILE, or reuses it when it is there (the build takes
minutes); --cold drops that file from the page cache (posix_fadvise DONTNEED: no root needed;
`fincore FILE` shows what is cached) before each what-if, overview and their baselines, so they read from disk.
--reuse with --database-url measures the PostgreSQL database an earlier run built.

The machine is shared (2 cores, six sessions): the ratios to the baselines matter more than the
seconds, and a second run on a quieter machine will differ.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from riskengine import analyst, storage  # noqa: E402
from riskengine.config import Config  # noqa: E402
from riskengine.storage import console as reads  # noqa: E402
from riskengine.storage import migrate  # noqa: E402
from riskengine.web.app import create_app  # noqa: E402

DAY = 86400.0
UA = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/131.0.0.0 Safari/537.36")
COLUMNS = ("id", "event_id", "request_hash", "account_id", "event", "occurred_ts", "created_ts", "ip", "ip_country",
           "ip_asn", "latitude", "longitude", "login_outcome", "decision", "monitored_decision", "score",
           "decided_by", "model_version", "policy_version", "degraded", "features", "inputs", "response")


def bodies(now: float) -> list[dict]:
    """A few real request shapes: ordinary signups and logins, a farm-like prepaid card, others."""
    out = []
    ips = ["2.125.160.216", "216.160.83.56", "89.160.20.112", "67.43.156.1", "81.2.69.142"]
    for i in range(12):
        body = {"event": "signup" if i % 3 else "login", "occurred_at": _iso(now - 3600 * (i + 1)),
                "account": {"id": f"tpl_{i}", "email": f"user{i}@example{i % 3}.com",
                            "country": "GB" if i % 2 else "US"},
                "ip": ips[i % len(ips)],
                "device": {"id": f"dv_{i % 4}", "user_agent": UA, "timezone": "Europe/London", "languages": ["en-GB"]}}
        if body["event"] == "login":
            body["login"] = {"outcome": "success" if i % 4 else "failure"}
        if i % 4 == 1:
            body["payment"] = {"fingerprint": f"fp_{i % 2}", "funding": "prepaid", "country": "US"}
        out.append(body)
    return out


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _app(url: str, workdir: Path):
    cfg = Config(database_url=url, hash_key="bench-console-hash-key-0123456789", hash_key_file=str(workdir / "k"),
                 db_timeout_ms=10_000)
    app = create_app(cfg)
    return app, app.extensions["riskengine"]


def reuse(url: str, workdir: Path) -> tuple:
    """A database built by an earlier run (--db): its newest row stands for the build's `now`."""
    migrate.upgrade(storage.make_engine(url, 60_000))     # a migration added since the build
    app, rt = _app(url, workdir)
    with rt.db.connect() as conn:
        n, newest = conn.execute(text("SELECT COUNT(*), MAX(occurred_ts) FROM assessment")).one()
    print(f"reused {n:,} assessments", flush=True)
    return app, rt, newest + 1


def build(url: str, n: int, workdir: Path) -> tuple:
    eng = storage.make_engine(url, 60_000)
    if eng.dialect.name == "postgresql":
        with eng.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    migrate.upgrade(eng)
    app, rt = _app(url, workdir)
    from riskengine.apikeys import create_key
    key = create_key(rt.db, "bench", None)
    client = app.test_client()
    now = time.time()
    for body in bodies(now):
        r = client.post("/v1/assess", json=body, headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 200, r.get_data(as_text=True)
    with rt.db.begin() as conn:
        templates = [dict(r) for r in conn.execute(text(f"SELECT {', '.join(COLUMNS)} FROM assessment")).mappings()]
        for table in ("assessment", "account", "entitylink", "label"):
            conn.execute(text(f"DELETE FROM {table}"))
    for t in templates:
        for col in ("features", "inputs", "response"):
            if not isinstance(t[col], str) and t[col] is not None:
                t[col] = json.dumps(t[col])
    model = rt.model
    rng = random.Random(7)
    accounts = max(1, n // 4)
    last: dict[int, tuple] = {}
    started = time.perf_counter()
    chunk = []
    for i in range(n):
        tpl = templates[i % len(templates)]
        score = round(rng.betavariate(1.2, 6.0), 6)
        decision = model.decision(tpl["event"], score, rt.policy.thresholds)
        ts = now - rng.random() * 30 * DAY
        acct = rng.randrange(accounts)
        row = dict(tpl, id=f"asm_b{i:09d}", event_id=None, account_id=f"acct_{acct:07d}", occurred_ts=ts,
                   created_ts=ts, score=score, decision=decision, decided_by="model")
        chunk.append(tuple(row[c] for c in COLUMNS))
        prev = last.get(acct)
        if prev is None or prev[0] < ts:
            last[acct] = (ts, row["id"], decision, score, tpl["ip_country"])
        if len(chunk) == 20_000:
            _insert(rt.db, "assessment", COLUMNS, chunk)
            chunk = []
    _insert(rt.db, "assessment", COLUMNS, chunk)
    acc_cols = ("id", "created_ts", "updated_ts", "email", "country", "last_assessment_id", "last_decision",
                "last_score")
    rows = [(f"acct_{a:07d}", ts - DAY, ts, f"a{a}@example.com", c, asm, d, s)
            for a, (ts, asm, d, s, c) in last.items()]
    for start in range(0, len(rows), 20_000):
        _insert(rt.db, "account", acc_cols, rows[start:start + 20_000])
    labels = [(f"acct_{a:07d}", "fraud" if a % 3 == 0 else "legit", "analyst", None, now)
              for a in rng.sample(sorted(last), max(1, len(last) // 100))]
    _insert(rt.db, "label", ("account_id", "label", "source", "note", "created_ts"), labels)
    storage.optimize(rt.db)
    if rt.db.dialect.name == "postgresql":
        with rt.db.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
    print(f"built {n:,} assessments, {len(last):,} accounts, {len(labels):,} labels in "
          f"{time.perf_counter() - started:.0f} s", flush=True)
    return app, rt, now


def _insert(db, table: str, cols: tuple, rows: list) -> None:
    if not rows:
        return
    with db.begin() as conn:
        if conn.dialect.name == "sqlite":
            storage.insert_many(conn, f"INSERT INTO {table} ({', '.join(cols)})", rows)
        else:
            marks = ", ".join(f"%({c})s" for c in cols)
            conn.exec_driver_sql(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})",
                                 [dict(zip(cols, r, strict=True)) for r in rows])


def timed(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def uncache(path: Path | None) -> None:
    """Drop the SQLite file (and its WAL) from the page cache, so the next read is from disk."""
    if path is None:
        return
    for f in (path, path.with_name(path.name + "-wal")):
        if f.exists():
            fd = os.open(f, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
    print(f"  (page cache dropped for {path.name}: {_cached(path)})", flush=True)


def _cached(path: Path) -> str:
    try:
        out = subprocess.run(["fincore", "--noheadings", "-o", "RES,SIZE", str(path)], capture_output=True,
                             text=True, timeout=30).stdout.split()
        return f"{out[0]} of {out[1]} cached"
    except (OSError, IndexError, subprocess.SubprocessError):
        return "fincore not available"


def bench_whatif(rt, now: float, cold: Path | None = None) -> None:
    since, until = now - 31 * DAY, now + 1

    def fetch_only():
        with rt.db.connect() as conn:
            return sum(1 for _ in reads.replay_rows(conn, since, until, [], []))

    uncache(cold)
    t = time.perf_counter()
    rows = fetch_only()
    base = time.perf_counter() - t
    print(f"baseline: read {rows:,} rows (the replay's plain columns, no JSON, no deciding): {base:.1f} s", flush=True)
    _, body = rt.policies.body()
    uncache(cold)
    t = time.perf_counter()
    same = analyst.run_whatif(rt, "bench", body, since, until)
    in_force = time.perf_counter() - t
    print(f"what-if, the policy in force: {same.replayed:,} replayed, {same.changed:,} changed in {in_force:.1f} s "
          f"({in_force / base:.1f}x the read)", flush=True)
    stricter = json.loads(json.dumps(body))
    stricter["thresholds"] = {"signup": {"challenge": 0.2, "block": 0.6}, "login": {"challenge": 0.3, "block": 0.8}}
    stricter.setdefault("deny", {})["device_ids"] = ["dv_1"]
    stricter["deny"]["domains"] = ["example2.com"]
    stricter.setdefault("rules", []).append({"name": "prepaid_signup", "event": "signup", "action": "challenge",
                                            "when": [{"signal": "payment.prepaid", "equals": True}]})
    uncache(cold)
    t = time.perf_counter()
    cand = analyst.run_whatif(rt, "bench", stricter, since, until)
    candidate = time.perf_counter() - t
    print(f"what-if, a stricter candidate: {cand.replayed:,} replayed, {cand.changed:,} changed "
          f"(fraud passing {cand.fraud_passing}, legit stopped {cand.legit_stopped}) in {candidate:.1f} s "
          f"({candidate / base:.1f}x the read)", flush=True)


def bench_queue(rt) -> None:
    db = rt.db
    with db.connect() as conn:
        ids = [r[0] for r in conn.execute(text("SELECT id FROM account ORDER BY id LIMIT 50"))]
        stopped = conn.execute(text(
            "SELECT COUNT(*) FROM account WHERE last_decision IN ('challenge', 'block')")).scalar()
        key = None
        for _ in range(19):
            key = reads.review_queue(conn, reads.QueueFilter(), "score", key, 50)[-1]["key"]

    def run(fn):
        def inner():
            with db.connect() as conn:
                return fn(conn)
        return inner

    base = timed(run(lambda c: c.execute(text("SELECT * FROM account WHERE id IN :ids").bindparams(
        __import__("sqlalchemy").bindparam("ids", expanding=True)), {"ids": ids}).all()))
    print(f"queue holds {stopped:,} stopped accounts; baseline: 50 account rows by primary key: {base * 1000:.1f} ms")
    cases = {
        "first page by score": lambda c: reads.review_queue(c, reads.QueueFilter(), "score", None, 51),
        "page 20 by score (keyset)": lambda c: reads.review_queue(c, reads.QueueFilter(), "score", key, 51),
        "first page by recency": lambda c: reads.review_queue(c, reads.QueueFilter(), "recent", None, 51),
        "filtered by event=login": lambda c: reads.review_queue(c, reads.QueueFilter(event="login"), "score", None, 51),
        "filtered by country=GB": lambda c: reads.review_queue(c, reads.QueueFilter(country="GB"), "score", None, 51),
        "filtered by a reason code": lambda c: reads.review_queue(c, reads.QueueFilter(reason="payment.prepaid"),
                                                                  "score", None, 51),
    }
    for name, fn in cases.items():
        t = timed(run(fn))
        found = len(run(fn)()[:50])
        # A filter that matches few accounts walks more of the queue's index to fill a page.
        print(f"queue, {name}: {t * 1000:.1f} ms ({t / base:.1f}x the baseline; {found} rows)", flush=True)


def bench_overview(rt, now: float, cold: Path | None = None) -> None:
    """The overview page's reads (storage.console.overview, as the view calls it) for 7 and 30
    days; baseline in the same run: counting the 7 days' signups through the (event, time)
    index. A statement the database cancels (the bench's 10 s timeout on PostgreSQL, or the
    console's own budget) is reported with its time, not as a crash."""
    db = rt.db

    def count():
        with db.connect() as conn:
            return conn.execute(text("SELECT COUNT(*) FROM assessment WHERE event = 'signup' AND occurred_ts > :s"),
                                {"s": now - 7 * DAY}).scalar()

    uncache(cold)
    base = timed(count, 1 if cold else 5)
    print(f"overview baseline: count the 7 days' signups by the index: {base * 1000:.1f} ms", flush=True)
    for days in (7, 30):
        def page(days=days):
            with db.connect() as conn:
                return reads.overview(conn, now - days * DAY, 3600.0 if days <= 2 else DAY)
        uncache(cold)
        t = time.perf_counter()
        try:
            data = page()
        except Exception as e:       # noqa: BLE001 - a cancelled statement is a result here
            print(f"overview, {days} days: failed after {time.perf_counter() - t:.1f} s: "
                  f"{type(e).__name__}: {str(e).splitlines()[0][:160]}", flush=True)
            continue
        first = time.perf_counter() - t
        again = first if cold else timed(page, 3)
        print(f"overview, {days} days: {sum(r[4] for r in data['rows']):,} decisions, {len(data['versions'])} "
              f"versions; {'cold' if cold else 'warm (median of 3)'} {again * 1000:.1f} ms "
              f"({again / base:.1f}x the baseline)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--assessments", type=int, default=1_000_000)
    ap.add_argument("--database-url", help="a PostgreSQL database to overwrite (default: a fresh SQLite file)")
    ap.add_argument("--keep", action="store_true", help="keep the SQLite file (its path is printed)")
    ap.add_argument("--db", type=Path, help="the SQLite file to build, or to reuse when it exists (kept)")
    ap.add_argument("--reuse", action="store_true", help="with --database-url: measure the database an earlier "
                    "run built there, without building it again")
    ap.add_argument("--cold", action="store_true", help="drop the SQLite file from the page cache before each "
                    "what-if and its baseline")
    ap.add_argument("--only", default="whatif,queue,overview",
                    help="comma-separated parts to run: whatif, queue, overview (default: all)")
    args = ap.parse_args()
    parts = set(args.only.split(","))
    if args.db:
        args.db = args.db.resolve()
        args.db.parent.mkdir(parents=True, exist_ok=True)
        workdir = args.db.parent
        url = f"sqlite:///{args.db}"
    else:
        workdir = Path(tempfile.mkdtemp(prefix="bench-console-", dir=ROOT / "var" if (ROOT / "var").is_dir() else None))
        url = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
    sqlite_file = args.db or (None if args.database_url else workdir / "bench.db")
    try:
        if (args.db and args.db.exists()) or (args.reuse and args.database_url):
            app, rt, now = reuse(url, workdir)
        else:
            app, rt, now = build(url, args.assessments, workdir)
        if "whatif" in parts:
            bench_whatif(rt, now, sqlite_file if args.cold else None)
        if "queue" in parts:
            bench_queue(rt)
        if "overview" in parts:
            bench_overview(rt, now, sqlite_file if args.cold else None)
        rt.close()
    finally:
        if args.db:
            print(f"kept {args.db}")
        elif args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
