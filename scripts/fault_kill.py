"""kill -9 under load: is every acknowledged write in the database exactly once?

    .venv/bin/python scripts/fault_kill.py                        # SQLite (a fresh file), 12 s of load
    .venv/bin/python scripts/fault_kill.py --database-url postgresql://root@127.0.0.1:5432/test_NAME
    .venv/bin/python scripts/fault_kill.py --code /work/wt-base    # serve another checkout's code

`riskengine serve --workers 2` takes `--clients` concurrent clients; each sends, as fast as it
is answered, assessments with a unique event_id (70%) and usage batches of 50 records of one
account used by that batch alone (30%). After --seconds/2, SIGKILL goes to the master and both
workers at once; the server is started again at once and the clients carry on for --seconds/2
after it is ready. Afterwards
the database is read: an acknowledged assessment (200, not degraded by the database) must be
there exactly once, under the assessment_id answered; an acknowledged batch (202) must have
all its records, once. Also printed: seconds from the kill until /readyz answered 200."""
from __future__ import annotations

import argparse
import json
import random
import tempfile
import threading
import time
from collections import Counter

from faultlib import Served, degraded_by_database, request, signup
from sqlalchemy import text

from riskengine import storage

BATCH = 50


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--database-url", help="default: a fresh SQLite file")
    ap.add_argument("--seconds", type=float, default=12.0, help="of load before the kill, and again after the restart")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--code", help="a checkout whose riskengine package to serve (default: this one)")
    ap.add_argument("--json", action="store_true", help="print one JSON object only")
    args = ap.parse_args()
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp(prefix='riskengine-kill-')}/kill.db"
    result = run(url, args.seconds, args.clients, args.code)
    if args.json:
        print(json.dumps(result))
        return
    print(f"database: {result['database']}; {args.clients} clients, {args.seconds:.0f} s, kill -9 at "
          f"{args.seconds / 2:.0f} s")
    print(f"assessments acknowledged {result['assessments_acked']} (after the kill "
          f"{result['assessments_acked_after_kill']}): lost {result['assessments_lost']}, duplicated "
          f"{result['assessments_duplicated']}, other id {result['assessments_other_id']}; degraded by the "
          f"database {result['assessments_degraded_database']}")
    print(f"usage batches acknowledged {result['batches_acked']} (after the kill {result['batches_acked_after_kill']}):"
          f" lost {result['batches_lost']}, duplicated {result['batches_duplicated']}, partial "
          f"{result['batches_partial']}")
    print(f"healthy again {result['healthy_after_kill_s']:.2f} s after the kill, the restarted server having used "
          f"{result['restart_cpu_s']:.2f} s of CPU (the first start, before any load, took "
          f"{result['first_start_s']:.2f} s, {result['first_start_cpu_s']:.2f} s of CPU)")


def run(url: str, seconds: float, clients: int, code: str | None) -> dict:
    served = Served(url, code)
    tag = f"k{int(time.time() * 1000) % 10**9}"
    acked_assess: dict[str, str] = {}
    acked_batches: dict[str, float] = {}
    degraded = Counter()
    stop = threading.Event()
    lock = threading.Lock()

    def client(k: int) -> None:
        rng, n = random.Random(k), 0
        while not stop.is_set():
            n += 1
            name = f"{tag}-{k}-{n}"
            try:
                if rng.random() < 0.7:
                    body = {**signup(name), "event_id": name}
                    status, out = request(served.port, "POST", "/v1/assess", body, served.auth, timeout=10)
                    if status == 200 and degraded_by_database(out):
                        degraded["database"] += 1
                    elif status == 200:
                        with lock:
                            acked_assess[name] = out["assessment_id"]
                else:
                    records = [{"account_id": name, "occurred_at": f"2026-11-20T10:00:{i % 60:02d}Z",
                                "ip": f"81.2.69.{i % 200}", "device_id": f"dv_{k}"} for i in range(BATCH)]
                    status, _ = request(served.port, "POST", "/v1/usage", {"records": records}, served.auth,
                                        timeout=10)
                    if status == 202:
                        with lock:
                            acked_batches[name] = time.monotonic()
            except OSError:       # refused or cut off: not acknowledged, the client carries on
                time.sleep(0.01)

    served.start()
    first_start = served.ready()
    first_cpu = served.cpu_seconds()
    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(clients)]
    for t in threads:
        t.start()
    try:
        time.sleep(seconds / 2)
        served.kill9()
        killed_at = time.monotonic()
        with lock:
            before = (len(acked_assess), len(acked_batches))
        served.start()
        served.ready()
        healthy = time.monotonic() - killed_at
        boot_cpu = served.cpu_seconds()
        time.sleep(seconds / 2)
        stop.set()
        for t in threads:
            t.join(15)
    finally:
        stop.set()
        served.stop()
    return {"database": url.split("@")[-1], "healthy_after_kill_s": round(healthy, 3),
            "first_start_s": round(first_start, 3), "first_start_cpu_s": round(first_cpu, 2),
            "restart_cpu_s": round(boot_cpu, 2),
            "assessments_acked_after_kill": len(acked_assess) - before[0],
            "batches_acked_after_kill": len(acked_batches) - before[1],
            "assessments_degraded_database": degraded["database"],
            **check(url, tag, acked_assess, set(acked_batches))}


def check(url: str, tag: str, acked_assess: dict[str, str], acked_batches: set[str]) -> dict:
    db = storage.make_engine(url, 30_000)
    with db.connect() as conn:
        stored: dict[str, list[str]] = {}
        for event_id, asm in conn.execute(text("SELECT event_id, id FROM assessment WHERE event_id LIKE :p"),
                                          {"p": f"{tag}-%"}):
            stored.setdefault(event_id, []).append(asm)
        records = dict(conn.execute(text("SELECT account_id, COUNT(*) FROM usagerecord WHERE account_id LIKE :p "
                                         "GROUP BY account_id"), {"p": f"{tag}-%"}).all())
    db.dispose()
    return {
        "assessments_acked": len(acked_assess),
        "assessments_lost": sum(1 for e in acked_assess if e not in stored),
        "assessments_duplicated": sum(1 for e in acked_assess if len(stored.get(e, [])) > 1),
        "assessments_other_id": sum(1 for e, a in acked_assess.items() if stored.get(e, [a])[0] != a),
        "batches_acked": len(acked_batches),
        "batches_lost": sum(1 for b in acked_batches if b not in records),
        "batches_duplicated": sum(1 for b in acked_batches if records.get(b, 0) > BATCH),
        "batches_partial": sum(1 for b in acked_batches if 0 < records.get(b, 0) < BATCH),
        "batches_stored_unacknowledged_partial": sum(1 for b, n in records.items() if n % BATCH),
    }


if __name__ == "__main__":
    main()
