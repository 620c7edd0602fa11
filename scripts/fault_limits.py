"""Fault figures of issue 11 for one checkout: rate limiting, revocation delay, retried usage batches.

    .venv/bin/python scripts/fault_limits.py                       # this checkout
    .venv/bin/python scripts/fault_limits.py --root /work/wt-base  # another checkout, same venv

Serves the checkout (`riskengine serve`, gunicorn, --workers 2 --threads 4) on 127.0.0.1 with a
fresh SQLite database in a temporary folder, and measures:
1. one key reading as fast as 8 threads can for --seconds: requests/s, 429s, 5xx;
2. revocation: after `riskengine keys revoke` returns, how long any worker still accepted the key
   (16 threads keep asking for --watch seconds);
3. a usage batch with a `batch_id` sent twice in a row and twice at once: records stored per
   records sent (1.0 = stored once).
Every request goes to 127.0.0.1 only; every loop is bounded in time."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import sqlalchemy

ROOT = Path(__file__).resolve().parents[1]
CLI = "from riskengine.cli import main; main()"


def call(base: str, path: str, secret: str, body=None, timeout: float = 10.0) -> int:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"{base}{path}", data=data, headers={
        "Authorization": f"Bearer {secret}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        e.read()
        return e.code
    except OSError:
        return 0


def cli(env: dict, *args: str) -> str:
    out = subprocess.run([sys.executable, "-c", CLI, *args], env=env, capture_output=True, text=True, timeout=120,
                         cwd=os.path.dirname(env["RISKENGINE_HASH_KEY_FILE"]))  # not a checkout: -c puts cwd first
    if out.returncode:
        raise SystemExit(f"riskengine {' '.join(args)} failed: {out.stderr.strip()}")
    return out.stdout.strip()


def serve(env: dict, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", CLI, "serve", "--port", str(port), "--workers", "2",
                             "--threads", "4"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            cwd=os.path.dirname(env["RISKENGINE_HASH_KEY_FILE"]))  # not a checkout: -c puts cwd first
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2):
                return proc
        except OSError:
            if proc.poll() is not None:
                raise SystemExit("the server exited") from None
            time.sleep(0.3)
    proc.terminate()
    raise SystemExit("the server did not become ready")


def flood(base: str, secret: str, seconds: float, threads: int = 8) -> dict:
    stop = time.monotonic() + seconds
    codes: Counter = Counter()

    def loop():
        mine: Counter = Counter()
        while time.monotonic() < stop:
            mine[call(base, "/v1/accounts/nobody", secret)] += 1
        return mine
    started = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        for c in pool.map(lambda _: loop(), range(threads)):
            codes.update(c)
    took = time.monotonic() - started
    return {"requests_per_s": round(sum(codes.values()) / took), "status_429": codes[429],
            "status_5xx": sum(n for s, n in codes.items() if s >= 500), "statuses": dict(codes)}


def revocation_delay(base: str, env: dict, name: str, secret: str, watch: float) -> dict:
    for _ in range(40):                         # every worker has checked and cached the key
        call(base, "/v1/accounts/nobody", secret)
    last_ok = [0.0]
    revoked_at = [0.0]
    lock = threading.Lock()
    done = threading.Event()

    def watcher():
        while not done.is_set():
            status = call(base, "/v1/accounts/nobody", secret)
            now = time.monotonic()
            if status not in (0, 401) and revoked_at[0]:     # 404 or 429: the key was accepted
                with lock:
                    last_ok[0] = max(last_ok[0], now)
    threads = [threading.Thread(target=watcher) for _ in range(16)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    cli(env, "keys", "revoke", name)
    revoked_at[0] = time.monotonic()
    time.sleep(watch)
    done.set()
    for t in threads:
        t.join()
    delay = max(0.0, last_ok[0] - revoked_at[0]) if last_ok[0] else 0.0
    return {"accepted_for_s_after_revoke": round(delay, 3), "watched_s": watch}


def batch_retries(base: str, secret: str, db_url: str) -> dict:
    records = [{"account_id": f"acct_{i % 7}", "occurred_at": f"2026-11-20T10:00:{i % 60:02d}Z",
                "ip": "203.0.113.7", "device_id": "dv_1"} for i in range(100)]
    statuses = [call(base, "/v1/usage", secret, {"batch_id": "retry-1", "records": records}) for _ in range(2)]
    with ThreadPoolExecutor(2) as pool:
        statuses += pool.map(lambda _: call(base, "/v1/usage", secret, {"batch_id": "twin-1", "records": records}),
                             range(2))
    engine = sqlalchemy.create_engine(db_url)
    with engine.connect() as conn:
        stored = conn.execute(sqlalchemy.text("SELECT COUNT(*) FROM usagerecord")).scalar_one()
    engine.dispose()
    return {"statuses": statuses, "records_sent_per_batch": len(records), "batches": 2,
            "stored_per_batch": stored / (2 * len(records))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", type=Path, default=ROOT, help="the checkout to serve")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of the flood")
    ap.add_argument("--watch", type=float, default=6.0, help="how long to watch a revoked key")
    ap.add_argument("--port", type=int, default=18931)
    ap.add_argument("--rate-limits", default="read=100/second", help="RISKENGINE_RATE_LIMITS for the server")
    ap.add_argument("--redis-url", default="", help="RISKENGINE_REDIS_URL: counters shared by the workers")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="fault-limits-") as tmp:
        db_url = f"sqlite:///{tmp}/fault.db"
        env = {k: v for k, v in os.environ.items() if not k.startswith("RISKENGINE_")}
        env.update({"PYTHONPATH": str(args.root), "RISKENGINE_DATABASE_URL": db_url,
                    "RISKENGINE_HASH_KEY_FILE": f"{tmp}/hash.key", "PROMETHEUS_MULTIPROC_DIR": tmp,
                    "RISKENGINE_RATE_LIMITS": args.rate_limits})
        if args.redis_url:
            env["RISKENGINE_REDIS_URL"] = args.redis_url
        cli(env, "db", "upgrade")
        run = uuid.uuid4().hex[:12]          # key names are the rate-limit counters' names in a shared Redis
        flood_key = cli(env, "keys", "create", f"flood-{run}")
        watched_key = cli(env, "keys", "create", f"watched-{run}")
        proc = serve(env, args.port)
        base = f"http://127.0.0.1:{args.port}"
        try:
            report = {"root": str(args.root), "rate_limits": args.rate_limits, "redis": bool(args.redis_url),
                      "rate_limit": flood(base, flood_key, args.seconds),
                      "revocation": revocation_delay(base, env, f"watched-{run}", watched_key, args.watch),
                      "usage_retries": batch_retries(base, flood_key, db_url)}
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
