"""The login path while the database fails: answer times and recovery, `riskengine serve --workers 2`.

    .venv/bin/python scripts/fault_db.py                      # all three scenarios
    .venv/bin/python scripts/fault_db.py stopped frozen       # some of them
    .venv/bin/python scripts/fault_db.py --code /work/wt-base # serve another checkout's code

Scenarios (PostgreSQL ones on a private server the script starts, initdb in a temp dir):
- stopped: `pg_ctl stop -m immediate` under 2 clients; how long answers took while it was down,
  how many were degraded, and how long after `pg_ctl start` returned the first answer was
  not degraded again.
- frozen: SIGSTOP to every PostgreSQL process for --freeze seconds (10) under 2 clients: the
  server accepts connections and the kernel acknowledges data, but nothing answers (a hung
  host, a partition). Answer times of calls sent during the freeze.
- sqlite: 8 clients posting /v1/assess while another process (not riskengine) takes SQLite's
  write lock for --hold-ms of every --hold-ms + --free-ms; the slowest answers against the
  budget (RISKENGINE_DB_TIMEOUT_MS, --budget-ms)."""
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
    ap.add_argument("scenarios", nargs="*", default=["stopped", "frozen", "sqlite"])
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


def _served_on_private_postgresql(args):
    pg = PrivatePostgres()
    served = Served(pg.url, args.code, timeout_ms=args.budget_ms)
    served.start()
    served.ready()
    return pg, served


def stopped(args) -> dict:
    pg, served = _served_on_private_postgresql(args)
    try:
        load = Load(served, 2)
        time.sleep(1.0)
        down_at = time.monotonic()
        pg.stop("immediate")
        time.sleep(3.0)
        pg.start()
        up_at = time.monotonic()
        time.sleep(3.0)
        calls = load.end()
    finally:
        served.stop()
        pg.close()
    during = [c for c in calls if down_at <= c[0] < up_at and c[0] + c[1] < up_at]
    back = [c for c in calls if c[0] >= up_at and c[2] == 200 and not c[3]]
    return {"calls_while_down": len(during), "statuses": _statuses(during),
            "degraded_while_down": sum(c[3] for c in during),
            "max_answer_ms_while_down": _ms(max((c[1] for c in during), default=0)),
            "first_degraded_after_stop_ms": _ms(min((c[0] + c[1] - down_at for c in during if c[3]), default=-1)),
            "recovered_after_start_s": round(min((c[0] + c[1] - up_at for c in back), default=-1), 3)}


def frozen(args) -> dict:
    pg, served = _served_on_private_postgresql(args)
    try:
        load = Load(served, 2)
        time.sleep(1.0)
        frozen_at = time.monotonic()
        pg.freeze()
        time.sleep(args.freeze)
        pg.thaw()
        thawed_at = time.monotonic()
        time.sleep(3.0)
        calls = load.end()
    finally:
        served.stop()
        pg.close()
    during = [c for c in calls if c[0] < thawed_at and c[0] + c[1] > frozen_at]     # in flight in the freeze
    back = [c for c in calls if c[0] >= thawed_at and c[2] == 200 and not c[3]]
    return {"freeze_s": args.freeze, "calls_in_the_freeze": len(during), "statuses": _statuses(during),
            "answered_before_the_thaw": sum(1 for c in during if c[2] == 200 and c[0] + c[1] < thawed_at),
            "degraded_while_frozen": sum(c[3] for c in during),
            "max_answer_ms_while_frozen": _ms(max((c[1] for c in during), default=0)),
            "recovered_after_thaw_s": round(min((c[0] + c[1] - thawed_at for c in back), default=-1), 3)}


HOLD = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=60)
hold, free, until = float(sys.argv[2]), float(sys.argv[3]), time.monotonic() + float(sys.argv[4])
while time.monotonic() < until:
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO label (account_id, label, source, created_ts) VALUES ('x', 'fraud', 'analyst', 0)")
    time.sleep(hold)
    conn.execute("ROLLBACK")
    time.sleep(free)
"""


def sqlite(args) -> dict:
    path = f"{tempfile.mkdtemp(prefix='riskengine-lock-')}/locked.db"
    served = Served(f"sqlite:///{path}", args.code, timeout_ms=args.budget_ms)
    served.start()
    served.ready()
    try:
        holder = subprocess.Popen([sys.executable, "-c", HOLD, path, str(args.hold_ms / 1000),
                                   str(args.free_ms / 1000), str(args.seconds)])
        load = Load(served, 8)
        holder.wait(timeout=args.seconds + 60)
        calls = load.end()
    finally:
        served.stop()
    took = sorted(c[1] for c in calls if c[2] == 200)
    return {"writers": 8, "calls": len(calls), "answered": len(took), "degraded": sum(c[3] for c in calls),
            "p50_ms": _ms(took[len(took) // 2]) if took else None,
            "p99_ms": _ms(took[int(len(took) * 0.99)]) if took else None,
            "max_ms": _ms(took[-1]) if took else None,
            "over_budget_plus_50ms": sum(1 for t in took if t * 1000 > args.budget_ms + 50)}


SCENARIOS = {"stopped": stopped, "frozen": frozen, "sqlite": sqlite}


if __name__ == "__main__":
    main()
