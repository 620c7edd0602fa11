"""The benchmark's floor: a bare Flask endpoint on riskengine's own gunicorn configuration.

`POST /v1/assess` parses the JSON body (the same ~1 KB bodies the engine gets) and answers a
small JSON document; nothing else. It runs under `riskengine.server.options(...)` (same
worker class, workers, threads, keep-alive, timeouts) so the only difference from
`riskengine serve` is the work done per request.

    .venv/bin/python scripts/bench_floor_app.py --port 8001 [--workers 2] [--threads 4]

Started and stopped by scripts/bench_assess.py; runnable alone for experiments.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile

from flask import Flask, jsonify, request


def create_floor_app() -> Flask:
    app = Flask("bench_floor")

    @app.post("/v1/assess")
    def assess():
        body = request.get_json()          # parse the ~1 KB body, as the engine does
        return jsonify({"ok": True, "event": body.get("event"), "fields": len(body)})

    @app.get("/readyz")
    def readyz():
        return jsonify({"ready": True})

    return app


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8001)
    ap.add_argument("--workers", type=int, default=None, help="default: CPU count, as `riskengine serve`")
    ap.add_argument("--threads", type=int, default=4)
    args = ap.parse_args(argv)
    # options() installs riskengine's child_exit hook, which needs a metrics directory.
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="bench-floor-metrics-")

    from riskengine.web.server import Server, options

    class FloorServer(Server):
        def load(self):
            return create_floor_app()

    served = options(args.host, args.port, args.workers or os.cpu_count() or 2, args.threads)
    served.pop("post_worker_init")      # riskengine's usage-link folder: there is no riskengine here
    FloorServer(served).run()


if __name__ == "__main__":
    sys.exit(main())
