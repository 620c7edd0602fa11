"""The login path while the database fails: answer times and recovery, `riskengine serve --workers 2`.

    .venv/bin/python scripts/fault_db.py                      # every scenario
    .venv/bin/python scripts/fault_db.py stopped frozen       # some of them
    .venv/bin/python scripts/fault_db.py --code /work/wt-base # serve another checkout's code

Scenarios (PostgreSQL ones on a private server the script starts, initdb in a temp dir):
- stopped: `pg_ctl stop -m immediate` for 3 s under 2 clients, then `pg_ctl start`.
- frozen: SIGSTOP to every PostgreSQL process for --freeze seconds (10) under 2 clients: the
  server accepts connections and the kernel acknowledges data, but nothing answers (a hung
  host, a partition).
  For both: the calls in flight during the fault, their answer times (p50, p99, max) against
  the bound RISKENGINE_DB_TIMEOUT_MS (--budget-ms) + 50 ms and how many exceeded it, how soon
  the first degraded answer came, and how long after the fault ended an answer was not
  degraded again.
- sqlite: 8 clients posting /v1/assess while another process (not riskengine) takes SQLite's
  write lock for --hold-ms of every --hold-ms + --free-ms (contention).
- sqlite-held: the same, the lock held by the other process for the whole run (--seconds).
  For both: answer times against the same bound.
Answer times are the client's: HTTP, parsing and scoring included, not the database waits alone."""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter

from faultlib import PG_BIN, PrivatePostgres, Served, assess_timed, degraded_by_database


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("scenarios", nargs="*", default=list(SCENARIOS))
    ap.add_argument("--code", help="a checkout whose riskengine package to serve (default: this one)")
    ap.add_argument("--budget-ms", type=int, default=500)
    ap.add_argument("--freeze", type=float, default=10.0)
    ap.add_argument("--hold-ms", type=int, default=700)
    ap.add_argument("--free-ms", type=int, default=300)
    ap.add_argument("--seconds", type=float, default=10.0, help="of load in the sqlite scenario")
    args = ap.parse_args()
    for name in args.scenarios:
        if name in ("stopped", "frozen") and PG_BIN is None:
            print(f"{name}: skipped, no PostgreSQL binaries under /usr/lib/postgresql/*/bin")
            continue
        result = SCENARIOS[name](args)
        print(json.dumps({"scenario": name, "code": args.code or "this checkout", "budget_ms": args.budget_ms,
                          **result}))


class Load:
    """`clients` threads calling /v1/assess back to back; each call: (sent, took, status, degraded by db)."""

    def __init__(self, served: Served, clients: int):
        self.calls: list[tuple[float, float, int, bool]] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._client, args=(served, k), daemon=True) for k in range(clients)]
        for t in self.threads:
            t.start()

    def _client(self, served: Served, k: int) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            sent = time.monotonic()
            took, status, body = assess_timed(served.port, served.auth, f"load-{k}-{n}")
            self.calls.append((sent, took, status, bool(body) and degraded_by_database(body)))
            if status != 200:
                time.sleep(0.01)

    def end(self) -> list[tuple[float, float, int, bool]]:
        self.stop.set()
        for t in self.threads:
            t.join(60)
        return sorted(self.calls)


def _statuses(calls) -> dict:
    """How many calls got each HTTP status (0: no answer, the connection failed)."""
    return dict(Counter(str(c[2]) for c in calls))


def _ms(s: float) -> float:
    return round(s * 1000, 1)


def _answer_times(calls, budget_ms: int) -> dict:
    """The answer times of `calls` against the bound: RISKENGINE_DB_TIMEOUT_MS + 50 ms."""
    took = sorted(c[1] for c in calls if c[2] == 200)
    return {"answered": len(took), "degraded": sum(c[3] for c in calls),
            "p50_ms": _ms(took[len(took) // 2]) if took else None,
            "p99_ms": _ms(took[int(len(took) * 0.99)]) if took else None,
            "max_ms": _ms(took[-1]) if took else None,
            "bound_ms": budget_ms + 50, "over_bound": sum(1 for t in took if t * 1000 > budget_ms + 50)}


def outage(args, fault: str, seconds: float) -> dict:
    """2 clients on a private PostgreSQL; `fault` ("stop" or "freeze") for `seconds`, then undone.
    The calls in flight at any time of the fault, and how long after it was undone the first
    answer was not degraded."""
    pg = PrivatePostgres()
    begin, end = {"stop": (lambda: pg.stop("immediate"), pg.start), "freeze": (pg.freeze, pg.thaw)}[fault]
    served = Served(pg.url, args.code, timeout_ms=args.budget_ms)
    try:
        served.start()
        served.ready()
        warm = Load(served, 2)      # each worker's first calls pay for lazy set-up, not for the fault
        time.sleep(1.0)
        warm.end()
        load = Load(served, 2)
        time.sleep(0.5)
        began = time.monotonic()
        begin()
        time.sleep(seconds)
        end()
        ended = time.monotonic()
        time.sleep(3.0)
        calls = load.end()
    finally:
        served.stop()
        pg.close()
    # In the fault: calls sent from one budget before it began (in flight when it struck) until
    # it ended. One sent earlier and still unanswered was slow for another reason (a new
    # connection's first call on a busy machine took up to 2 s): counted apart.
    early = began - args.budget_ms / 1000
    during = [c for c in calls if early <= c[0] < ended and c[0] + c[1] > began]
    slow_before = [c for c in calls if c[0] < early and c[0] + c[1] > began]
    back = [c for c in calls if c[0] >= ended and c[2] == 200 and not c[3]]
    return {"fault_s": seconds, "calls_in_the_fault": len(during), "statuses": _statuses(during),
            "sent_earlier_still_in_flight": len(slow_before),
            "answered_before_it_ended": sum(1 for c in during if c[2] == 200 and c[0] + c[1] < ended),
            **_answer_times(during, args.budget_ms),
            "first_degraded_after_ms": _ms(min((c[0] + c[1] - began for c in during if c[3]), default=-1)),
            "recovered_after_s": round(min((c[0] + c[1] - ended for c in back), default=-1), 3),
            # each call over the bound: (sent, answered) in ms from the fault's start
            "over_bound_calls": [(_ms(c[0] - began), _ms(c[0] + c[1] - began)) for c in during
                                 if c[1] * 1000 > args.budget_ms + 50],
            "fault_ended_ms": _ms(ended - began)}


def stopped(args) -> dict:
    """`pg_ctl stop -m immediate` for 3 s: refused connections, then a restart."""
    return outage(args, "stop", 3.0)


def frozen(args) -> dict:
    """SIGSTOP for --freeze seconds: connections accepted, nothing answered."""
    return outage(args, "freeze", args.freeze)


HOLD = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=60)
hold, free, until = float(sys.argv[2]), float(sys.argv[3]), time.monotonic() + float(sys.argv[4])
while time.monotonic() < until:
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO label (account_id, label, source, created_ts) VALUES ('x', 'fraud', 'analyst', 0)")
    print("locked", flush=True)
    time.sleep(min(hold, max(0.0, until - time.monotonic())))
    conn.execute("ROLLBACK")
    time.sleep(free)
"""


def locked(args, hold_ms: float, free_ms: float) -> dict:
    """8 clients while another process holds SQLite's write lock `hold_ms` of every `hold_ms + free_ms`
    for --seconds; the calls sent in that time (after 1 s of load that warms every worker)."""
    path = f"{tempfile.mkdtemp(prefix='riskengine-lock-')}/locked.db"
    # As many threads in each worker as there are clients: gunicorn balances connections between
    # workers unevenly, and a call queued for a free thread waits outside any budget.
    served = Served(f"sqlite:///{path}", args.code, threads=8, timeout_ms=args.budget_ms)
    served.start()
    served.ready()
    try:
        load = Load(served, 8)
        time.sleep(1.0)
        holder = subprocess.Popen([sys.executable, "-c", HOLD, path, str(hold_ms / 1000), str(free_ms / 1000),
                                   str(args.seconds)], stdout=subprocess.PIPE, text=True)
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        began = time.monotonic()
        holder.wait(timeout=args.seconds + 60)
        ended = time.monotonic()
        calls = [c for c in load.end() if began <= c[0] < ended]
    finally:
        served.stop()
    return {"writers": 8, "hold_ms": hold_ms, "free_ms": free_ms, "calls": len(calls), "statuses": _statuses(calls),
            **_answer_times(calls, args.budget_ms)}


def sqlite(args) -> dict:
    """Contention: the lock is taken and let go again (--hold-ms, --free-ms)."""
    return locked(args, args.hold_ms, args.free_ms)


def sqlite_held(args) -> dict:
    """The file held by another process for the whole run: every write waits its whole budget."""
    return locked(args, args.seconds * 1000, 0)


SCENARIOS = {"stopped": stopped, "frozen": frozen, "sqlite": sqlite, "sqlite-held": sqlite_held}


if __name__ == "__main__":
    main()
