#!/usr/bin/env python
"""Where one POST /v1/assess spends its CPU, on the benchmark's prefilled database.

In-process and single-threaded, so the split is CPU time (time.thread_time: the other
processes of a busy machine do not count) and the run is repeatable: the Flask app of
`riskengine serve` (create_app, same config from the same RISKENGINE_* variables as
scripts/bench_assess.py gives its server) on a fresh copy of the cached prefill, sent the
bench's own bodies (30% signups, 70% logins) through Flask's test client, one at a time,
each request's stages timed by wrappers put around riskengine's functions from here
(nothing in riskengine is edited). Prints CPU per request by stage, the tail of the write
(commit) and of whole requests, garbage-collector pauses, and the statements per request.

    .venv/bin/python scripts/profile_assess.py --cache-dir var/bench --requests 3000
    .venv/bin/python scripts/profile_assess.py --cache-dir var/bench --requests 3000 --pyinstrument /tmp/a.html

The prefill is bench_assess.py's (built by it if missing: `bench_assess.py --prefill-only`).
Under valgrind (noise-free instruction counts for a before/after) run it with --requests 300:
    valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out .venv/bin/python scripts/profile_assess.py ...
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_assess as B  # noqa: E402  (the prefill, bodies and server environment are the bench's)

STAGES: dict[str, list[float]] = {}


def timed(name: str, fn):
    @functools.wraps(fn)
    def wrapper(*a, **kw):
        c0 = time.thread_time()
        try:
            return fn(*a, **kw)
        finally:
            STAGES.setdefault(name, []).append(time.thread_time() - c0)
    return wrapper


def timed_cm(name: str, cm_fn):
    """A context manager's enter and exit timed (not its body): for storage.writing, the
    gate + BEGIN and the COMMIT."""
    @functools.wraps(cm_fn)
    @contextlib.contextmanager
    def wrapper(*a, **kw):
        c0 = time.thread_time()
        w0 = time.perf_counter()
        cm = cm_fn(*a, **kw)
        value = cm.__enter__()
        STAGES.setdefault(name + ".enter", []).append(time.thread_time() - c0)
        try:
            yield value
        except BaseException:
            if not cm.__exit__(*sys.exc_info()):
                raise
        else:
            c1, w1 = time.thread_time(), time.perf_counter()
            cm.__exit__(None, None, None)
            STAGES.setdefault(name + ".commit", []).append(time.thread_time() - c1)
            STAGES.setdefault(name + ".commit_wall", []).append(time.perf_counter() - w1)
            STAGES.setdefault(name + ".wall", []).append(time.perf_counter() - w0)
    return wrapper


PARAMS: list[dict] = []


def sql_parts(engine, params: list[dict]) -> dict[str, float]:
    """Each part of storage.history's two statements run alone with the recorded parameters."""
    from sqlalchemy import text

    from riskengine.storage import history
    from riskengine.storage.engine import driver
    parts = {f"shared: {k}": text(history._SHARED_PART.format(kind=k, cap=history.SHARE_CAP))
             for k in history.LINK_KINDS}
    parts.update({f"account: {k}": text(f"SELECT {sql}") for k, sql in history.ACCOUNT_PARTS.items()})
    parts["account: previous location"] = text(history._PREVIOUS.strip()[1:-1])
    out = {}
    with engine.connect() as conn:
        for name, stmt in parts.items():
            c0 = time.thread_time()
            for p in params:
                driver(conn, stmt, p).all()
            out[name] = round((time.thread_time() - c0) / max(1, len(params)) * 1000, 4)
    return out


def _recording(fn):
    @functools.wraps(fn)
    def wrapper(conn, account_id, links, t, ip, asn, device, country):
        from riskengine.storage.engine import WINDOWS
        from riskengine.storage.links import LINK_KINDS
        PARAMS.append({"acct": account_id, "t": t, "ip": ip, "asn": asn, "device": device, "country": country,
                       **{f"w{name}": t - seconds for name, seconds in WINDOWS.items()},
                       **{f"link_{k}": links.get(k) for k in LINK_KINDS}})
        return fn(conn, account_id, links, t, ip, asn, device, country)
    return wrapper


def instrument() -> None:
    from riskengine import storage
    from riskengine.scoring import assess, pipeline
    from riskengine.web import api
    api.json_body = timed("route: decode body", api.json_body)
    api.parse = timed("route: validate (pydantic)", api.parse)
    api.jsonify = timed("route: jsonify answer", api.jsonify)
    assess._signals = timed("signals (email, phone, ip, device, payment)", assess._signals)
    assess.link_keys = timed("link keys (keyed hashes)", assess.link_keys)
    storage_read = _recording(storage.read_history)
    pipeline.storage.read_history = timed("history reads (SQL)", storage_read)   # type: ignore[attr-defined]
    pipeline.build_features = timed("features", pipeline.build_features)
    assess.storage.find_by_event_id = timed("idempotency read (SQL)", storage.find_by_event_id)
    assess._decide = timed("decide (model, reasons, policy, rows)", assess._decide)
    assess.storage.record = timed("write: statements", storage.record)
    assess.storage.writing = timed_cm("write", storage.writing)
    assess.assess = timed("assess() total", assess.assess)
    api.assess = assess.assess


class Statements:
    """Statements and bytes of parameters sent, per request (SQLAlchemy's cursor events)."""

    def __init__(self, engine):
        from sqlalchemy import event
        self.n = 0
        self.param_bytes = 0
        self.by_kind: dict[str, int] = {}

        @event.listens_for(engine, "before_cursor_execute")
        def _count(conn, cursor, statement, parameters, context, executemany):
            self.n += 1
            head = " ".join(statement.split()[:3]).upper()
            kind = "BEGIN/COMMIT" if head.startswith(("BEGIN", "COMMIT")) else head.split(" ")[0]
            self.by_kind[kind] = self.by_kind.get(kind, 0) + 1
            self.param_bytes += len(repr(parameters))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache-dir", default=str(B.VAR))
    ap.add_argument("--assessments", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--pyinstrument", metavar="FILE.html", help="also profile the measured requests with pyinstrument")
    ap.add_argument("--cprofile", metavar="FILE", help="also run the measured requests under cProfile (stats to FILE)")
    ap.add_argument("--statements", action="store_true",
                    help="count statements and parameter bytes per request (costs CPU: a separate run)")
    ap.add_argument("--sql-parts", type=int, default=0, metavar="N",
                    help="afterwards, time each part of the history statements alone for N of the requests")
    ap.add_argument("--no-stages", action="store_true", help="no stage wrappers (for instruction counts)")
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--keep-work-db", action="store_true", help="as bench_assess.py: reuse the last working copy")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    bargv = ["--cache-dir", args.cache_dir, "--assessments", str(args.assessments)]
    if args.database_url:
        bargv += ["--database-url", args.database_url]
    if args.keep_work_db:
        bargv += ["--keep-work-db"]
    bargs = B.parse_args(bargv)
    model = B.model_dir(None)
    geo = B.geoip_paths(bargs.geoip)
    db_url, meta, sidecar = B.prepare_database(bargs, geo, model)
    env = B.server_env(db_url, model, geo, Path(bargs.cache_dir) / "profile-metrics")
    Path(env["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)
    os.environ.clear()
    os.environ.update(env)
    if not args.no_stages:
        instrument()
    from riskengine.web.app import create_app
    app = create_app()
    state = app.extensions["riskengine"]
    served_as = _as_served(state)
    key = _api_key(state)
    stmts = Statements(state.db) if args.statements else None
    bodies = B.Bodies(sidecar, meta["anchor"], bargs.seed * 1000 + 17, format(int(time.time()), "x"))
    raw = [json.dumps(bodies.next()).encode() for _ in range(args.warmup + args.requests)]
    client = app.test_client()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    for body in raw[:args.warmup]:
        client.post("/v1/assess", data=body, headers=headers)
    STAGES.clear()
    if stmts is not None:
        stmts.n = stmts.param_bytes = 0
        stmts.by_kind.clear()
    gc_pauses: list[float] = []
    gc_start = [0.0]

    def on_gc(phase, info):
        if phase == "start":
            gc_start[0] = time.perf_counter()
        else:
            gc_pauses.append(time.perf_counter() - gc_start[0])
    gc.callbacks.append(on_gc)
    profiler = None
    if args.pyinstrument:
        from pyinstrument import Profiler
        profiler = Profiler(interval=0.0005)
        profiler.start()
    cprof = None
    if args.cprofile:
        import cProfile
        cprof = cProfile.Profile()
        cprof.enable()
    cpu, wall, statuses, degraded, resp_bytes = [], [], {}, 0, 0
    for body in raw[args.warmup:]:
        c0, w0 = time.thread_time(), time.perf_counter()
        r = client.post("/v1/assess", data=body, headers=headers)
        cpu.append(time.thread_time() - c0)
        wall.append(time.perf_counter() - w0)
        statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
        doc = r.get_json(silent=True) or {}
        degraded += bool(doc.get("degraded"))
        resp_bytes += len(r.data)
    if cprof is not None:
        import io
        import pstats
        cprof.disable()
        cprof.dump_stats(args.cprofile)
        buf = io.StringIO()
        pstats.Stats(cprof, stream=buf).sort_stats("tottime").print_stats(45)
        print(buf.getvalue())
    if profiler is not None:
        profiler.stop()
        Path(args.pyinstrument).write_text(profiler.output_html())
        print(profiler.output_text(unicode=False, color=False, show_all=False)[:12000])
    gc.callbacks.remove(on_gc)
    n = len(cpu)
    res = {"requests": n, "served_as": served_as, "statuses": statuses, "degraded": degraded,
           "database": db_url.split("?")[0],
           "cpu_ms_per_request": round(sum(cpu) / n * 1000, 3), "wall_ms_per_request": round(sum(wall) / n * 1000, 3),
           "wall_ms": {q: round(B.pct(sorted(wall), q) * 1000, 3) for q in (50, 99, 99.9)},
           "max_wall_ms": round(max(wall) * 1000, 2),
           "stages_cpu_ms_per_request": {k: round(sum(v) / n * 1000, 3) for k, v in STAGES.items()},
           "commit_wall_ms": {q: round(B.pct(sorted(STAGES.get("write.commit_wall", [0])), q) * 1000, 3)
                              for q in (50, 99, 99.9, 100)},
           "gc": {"pauses": len(gc_pauses), "total_ms_per_request": round(sum(gc_pauses) / n * 1000, 4),
                  "max_ms": round(max(gc_pauses, default=0) * 1000, 2)},
           "statements_per_request": round(stmts.n / n, 2) if stmts else None,
           "statements_by_kind_per_request": {k: round(v / n, 2) for k, v in sorted(stmts.by_kind.items())}
           if stmts else None,
           "parameter_bytes_per_request": round(stmts.param_bytes / n) if stmts else None,
           "request_bytes_mean": round(sum(map(len, raw[args.warmup:])) / n),
           "response_bytes_mean": round(resp_bytes / n)}
    print(json.dumps(res, indent=1))
    total = res["cpu_ms_per_request"]
    print(f"\nCPU per request {total:.3f} ms (wall {res['wall_ms_per_request']:.3f} ms); by stage (nested stages "
          "overlap: 'assess() total' contains the others except route:*):")
    for k, v in sorted(res["stages_cpu_ms_per_request"].items(), key=lambda kv: -kv[1]):
        if not k.endswith("_wall") and not k.endswith(".wall"):
            print(f"  {v:7.3f} ms  {100 * v / total:5.1f}%  {k}")
    if args.sql_parts:
        res["sql_parts_ms"] = sql_parts(state.db, PARAMS[-args.sql_parts:])
        print("history statement parts, ms per request (each run alone):")
        for k, v in sorted(res["sql_parts_ms"].items(), key=lambda kv: -kv[1]):
            print(f"  {v:7.3f} ms  {k}")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))
    return 0


def _as_served(state) -> list[str]:
    """What gunicorn's worker hooks do after start-up (riskengine/web/server.py), where this
    checkout's code has it: the WAL checkpointer thread, gc.freeze()."""
    from riskengine import storage
    done = []
    if hasattr(storage, "start_checkpointer"):
        storage.start_checkpointer(state.db)
        done.append("checkpointer")
    gc.freeze()
    done.append("gc.freeze")
    return done


def _api_key(state) -> str:
    from riskengine.apikeys import create_key
    return create_key(state.db, f"profile-{os.getpid()}-{time.time_ns()}", ["assess"])


if __name__ == "__main__":
    sys.exit(main())
