#!/usr/bin/env python
"""Split a py-spy profile of the served process by where a request's CPU goes.

    .venv/bin/py-spy record --format raw -o /tmp/serve.txt --subprocesses --rate 250 --duration 20 --pid PID
    .venv/bin/python scripts/profile_split.py /tmp/serve.txt

py-spy's raw format is one collapsed stack per line ("frame;frame;... count"), outermost
first; idle threads are left out by default (--idle off), so counts are CPU samples. Each
stack goes to the first stage, innermost frame first, whose pattern one of its frames
matches; the rest is the HTTP server and framework (gunicorn, werkzeug, Flask)."""
from __future__ import annotations

import sys
from collections import Counter

# (stage, substrings of a frame), tried innermost frame first; the first stage matched wins.
STAGES = (
    ("write: commit", ("commit (sqlalchemy", "_commit_impl", "do_commit")),
    ("write: gate and BEGIN", ("_gated (riskengine", "writing (riskengine")),
    ("write: statements", ("record (riskengine/storage/assessments",)),
    ("history reads (SQL)", ("read_history (riskengine",)),
    ("idempotency read (SQL)", ("find_by_event_id (riskengine",)),
    ("API key check", ("resolve (riskengine/web/auth",)),
    ("rate limit", ("RateLimiter.check", "check (riskengine/web/ratelimit")),
    ("model (XGBoost)", ("score_one (riskengine",)),
    ("reasons", ("explain (riskengine",)),
    ("policy", ("decide (riskengine/scoring/policy", "finalize (riskengine")),
    ("signals", ("compute_signals (riskengine", "_signals (riskengine/scoring/assess", "ip_signals (riskengine")),
    ("features", ("build_features (riskengine",)),
    ("answer and row building", ("_decide (riskengine", "signals_dict (riskengine", "_inputs (riskengine")),
    ("validate body (pydantic)", ("parse (riskengine/web/api", "model_validate")),
    ("decode body and digest", ("json_body (riskengine", "assess_route (riskengine")),
    ("serialise answer (jsonify)", ("jsonify (flask", "response (flask/json")),
    ("metrics", ("prometheus_client",)),
    ("usage-link folder", ("usage-link-folder", "LinkFolder", "fold (riskengine/usage")),
    ("WAL checkpointer", ("sqlite-checkpointer", "start_checkpointer")),
    ("connection pool", ("_checkout (sqlalchemy", "Engine.connect", "_ConnectionFairy", "pool/base.py")),
    ("garbage collector", ("<gc>", "gc_collect")),
)


def classify(frames: list[str]) -> str:
    for frame in reversed(frames):
        for stage, patterns in STAGES:
            if any(p in frame for p in patterns):
                return stage
    return "HTTP server and framework (gunicorn, werkzeug, Flask)"


def main(path: str) -> int:
    counts: Counter[str] = Counter()
    total = 0
    with open(path) as f:
        for line in f:
            stack, _, n = line.rstrip("\n").rpartition(" ")
            if not stack or not n.isdigit():
                continue
            frames = stack.split(";")
            counts[classify(frames)] += int(n)
            total += int(n)
    print(f"{total} samples")
    for stage, n in counts.most_common():
        print(f"  {100 * n / total:5.1f}%  {stage}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
