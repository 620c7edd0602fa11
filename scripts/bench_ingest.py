#!/usr/bin/env python
"""Benchmark POST /v1/usage ingestion (records/s) against a bare-Flask floor, in one run.

  1. floor: scripts/bench_floor_app.py on riskengine's gunicorn configuration; the same
     10,000-record bodies are POSTed to its parse-and-answer endpoint;
  2. engine: `riskengine serve` on a fresh SQLite (or --database-url) database; the bodies
     go to /v1/usage (validate, hash, store records and links, all or nothing);
     the run's time includes folding the links the server left waiting at the end;
  3. in-process split of a batch: parse and validate, rows, insert, and its share of the fold.

    .venv/bin/python scripts/bench_ingest.py [--batches 60] [--clients 3]

Everything runs on 127.0.0.1; every loop is bounded by --batches and --seconds.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VAR = ROOT / "var" / "bench" / "ingest"
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def make_bodies(n_bodies: int, per_batch: int, active: int, rate: float, seed: int = 1) -> list[bytes]:
    """Bodies as a gateway flushes them: each batch is the next `per_batch / rate` seconds of
    traffic from one population of `active` accounts (a few heavy, many light; one to three
    addresses and one or two devices each); 1% of records arrive up to a day late."""
    rng = random.Random(seed)
    span = per_batch / rate
    start = time.time() - n_bodies * span - 60
    weights = [1 / (k + 1) ** 0.8 for k in range(active)]
    bodies = []
    for b in range(n_bodies):
        records = []
        accounts = rng.choices(range(active), weights, k=per_batch)
        for acct in accounts:
            home = rng.randrange(1 + acct % 3)
            t = start + (b + rng.random()) * span if rng.random() > 0.01 else start - rng.random() * 86400
            records.append({
                "account_id": f"acct_{acct}", "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)),
                "ip": f"{11 + acct % 100}.{acct // 100 % 256}.{(acct * 7 + home) % 256}.{1 + home}",
                "device_id": f"dv_{acct}_{home % 2}", "api_key_id": f"key_{acct % 7}", "model": "large-2026",
                "requests": rng.choice((1, 1, 1, 2, 5)), "input_tokens": rng.randrange(50, 4000),
                "output_tokens": rng.randrange(50, 4000), "prompt_fingerprint": f"{rng.getrandbits(64):016x}",
                "reasoning_requested": rng.random() < 0.2})
        bodies.append(json.dumps({"records": records}).encode())
    return bodies


def start(cmd: list[str], env: dict, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=2)
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.2)
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.stderr.read().decode()[-2000:]}")
    stop(proc)
    raise SystemExit("server did not become ready in 60 s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def drive(port: int, path: str, bodies: list[bytes], per_batch: int, clients: int, batches: int,
          seconds: float, headers: dict) -> tuple[float, int, list[int], float]:
    """POST `batches` bodies from `clients` keep-alive connections; records accepted per second."""
    lock = threading.Lock()
    state = {"next": 0, "ok": 0, "statuses": []}
    deadline = time.monotonic() + seconds

    def worker():
        conn = http.client.HTTPConnection(HOST, port, timeout=120)
        while time.monotonic() < deadline:
            with lock:
                k = state["next"]
                if k >= batches:
                    return
                state["next"] += 1
            conn.request("POST", path, body=bodies[k % len(bodies)],
                         headers={"Content-Type": "application/json", **headers})
            resp = conn.getresponse()
            resp.read()
            with lock:
                state["statuses"].append(resp.status)
                if resp.status in (200, 202):
                    state["ok"] += 1

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 180)
    elapsed = time.perf_counter() - started
    return state["ok"] * per_batch / elapsed, state["ok"], sorted(set(state["statuses"])), elapsed


def split_batches(bodies: list[bytes], database_url: str) -> dict[str, float]:
    """Where one batch's time goes, in-process, on the same code the route runs: the mean
    over `bodies` of parse, rows, insert, and the fold of all their links shared out."""
    from riskengine import storage
    from riskengine.hashing import Hasher
    from riskengine.usage.ingest import parse_batch, to_rows
    from riskengine.usage.links import LinkFolder, pack
    eng = storage.make_engine(database_url, 500)
    hasher = Hasher(b"bench-ingest-hash-key-0123456789")
    out = dict.fromkeys(("parse_and_validate", "rows", "insert", "fold_links"), 0.0)
    folder = LinkFolder(eng, hasher)
    folder.fold()
    for body in bodies:
        t = time.perf_counter()
        batch = parse_batch(body)
        out["parse_and_validate"] += time.perf_counter() - t
        t = time.perf_counter()
        rows, uses = to_rows(batch, hasher)
        out["rows"] += time.perf_counter() - t
        t = time.perf_counter()
        with storage.writing(eng, 10, storage.BULK_POLL_S) as conn:
            storage.insert_usage(conn, rows, pack(uses), time.time())
        out["insert"] += time.perf_counter() - t
    t = time.perf_counter()
    folder.fold()
    out["fold_links"] = time.perf_counter() - t
    eng.dispose()
    return {k: v / len(bodies) for k, v in out.items()}


def drain(database_url: str) -> float:
    """Seconds to fold the links the server left waiting: part of ingesting them."""
    from riskengine import storage
    from riskengine.hashing import Hasher
    from riskengine.usage.links import LinkFolder
    eng = storage.make_engine(database_url, 500)
    t = time.perf_counter()
    LinkFolder(eng, Hasher(b"bench-ingest-hash-key-0123456789")).fold()
    eng.dispose()
    return time.perf_counter() - t


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, default=60, help="batches per phase")
    ap.add_argument("--per-batch", type=int, default=10_000)
    ap.add_argument("--clients", type=int, default=3)
    ap.add_argument("--active", type=int, default=20_000, help="accounts sending usage during the run")
    ap.add_argument("--rate", type=float, default=50_000, help="records/s the bodies' timestamps advance at")
    ap.add_argument("--seconds", type=float, default=120, help="time bound per phase")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--database-url", default=None, help="default: a fresh SQLite file under var/bench/ingest")
    args = ap.parse_args(argv)

    shutil.rmtree(VAR, ignore_errors=True)
    VAR.mkdir(parents=True)
    url = args.database_url or f"sqlite:///{VAR / 'ingest.db'}"
    env = {**os.environ, "RISKENGINE_DATABASE_URL": url, "RISKENGINE_HASH_KEY": "bench-ingest-hash-key-0123456789",
           "PROMETHEUS_MULTIPROC_DIR": str(VAR / "metrics")}
    (VAR / "metrics").mkdir()
    subprocess.run([str(BIN / "riskengine"), "db", "upgrade"], env=env, check=True, capture_output=True)
    secret = subprocess.run([str(BIN / "riskengine"), "keys", "create", f"bench-{time.time_ns()}"], env=env,
                            check=True, capture_output=True, text=True).stdout.strip()
    print(f"building {args.batches} bodies of {args.per_batch} records ...", flush=True)
    bodies = make_bodies(args.batches, args.per_batch, args.active, args.rate)
    print(f"body size {len(bodies[0]) / 1e6:.1f} MB", flush=True)
    results = {}
    serve = ["--workers", str(args.workers), "--threads", str(args.threads)]
    port = free_port()
    floor = start([sys.executable, str(ROOT / "scripts" / "bench_floor_app.py"), "--port", str(port), *serve],
                  env, port)
    try:
        results["floor"] = drive(port, "/v1/assess", bodies, args.per_batch, args.clients, args.batches,
                                 args.seconds, {})
    finally:
        stop(floor)
    time.sleep(2)
    port = free_port()
    engine = start([str(BIN / "riskengine"), "serve", "--port", str(port), *serve], env, port)
    try:
        results["engine"] = drive(port, "/v1/usage", bodies, args.per_batch, args.clients, args.batches,
                                  args.seconds, {"Authorization": f"Bearer {secret}"})
    finally:
        stop(engine)
    left = drain(url)
    rate, ok, statuses, elapsed = results["engine"]
    results["engine"] = (ok * args.per_batch / (elapsed + left), ok, statuses, elapsed + left)
    split = split_batches(bodies[-8:], url)     # into the populated database, as in steady state
    f_rate, e_rate = results["floor"][0], results["engine"][0]
    summary = {
        "command": " ".join([sys.executable, *sys.argv]),
        "floor_records_per_s": round(f_rate), "engine_records_per_s": round(e_rate),
        "ratio_engine_to_floor": round(e_rate / f_rate, 3) if f_rate else None,
        "engine_batches_ok": results["engine"][1], "engine_statuses": results["engine"][2],
        "engine_seconds_incl_final_fold": round(results["engine"][3], 2), "final_fold_seconds": round(left, 2),
        "one_batch_split_ms": {k: round(v * 1000, 1) for k, v in split.items()},
        "database": "sqlite" if url.startswith("sqlite") else "postgresql",
    }
    (VAR.parent / "bench_ingest.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
