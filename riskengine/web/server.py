"""gunicorn, embedded: `riskengine serve` runs this, never Flask's development server."""
from __future__ import annotations

import gc
import json

from gunicorn import util as gunicorn_util
from gunicorn.app.base import BaseApplication
from gunicorn.workers.gthread import ThreadWorker

from riskengine.web.errors import BAD_REQUEST, HTTP_CODES, error_document


def write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's own error answer (a request line, header or framing it cannot parse) in the
    contract's JSON error body; gunicorn's is an HTML page."""
    code = BAD_REQUEST if status_int == 400 else HTTP_CODES.get(status_int, "error")
    body = json.dumps(error_document(code, (mesg or reason)[:300])).encode()
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    gunicorn_util.write_nonblock(sock, head.encode("latin-1") + body)


class JsonErrorWorker(ThreadWorker):
    """gunicorn's gthread worker, answering its own errors (414, 431, 400 ...) in JSON.

    gunicorn writes them in Worker.handle_error through util.write_error, its one call site
    (gunicorn 23-27); replacing that function in the worker process is the only hook it has.
    tests/web/test_server.py checks the answers over real HTTP."""

    def init_process(self):
        gunicorn_util.write_error = write_json_error
        super().init_process()


def _child_exit(server, worker):
    # Drop a dead worker's live gauges from the multiprocess metrics directory.
    from prometheus_client import multiprocess
    multiprocess.mark_process_dead(worker.pid)


def _when_ready(server):
    # In the master, before it forks workers: the signal tables every worker needs are built
    # once and shared (copy-on-write) instead of in some worker's first requests.
    from riskengine.signals.warm import warm_up
    warm_up()
    gc.freeze()


def _post_worker_init(worker):
    # Each worker runs a usage-link folder; one at a time folds (usage.LinkFolder.fold).
    from riskengine.storage import start_checkpointer
    from riskengine.usage.links import start_folder
    state = worker.wsgi.extensions["riskengine"]
    start_checkpointer(state.db)      # first: it reopens the pool's connections
    start_folder(state.folder, state.config.usage_fold_seconds)
    # Everything loaded so far (the app, model, policy, tables) lives as long as the worker:
    # out of the collector's sight, a full collection no longer walks it (docs/performance.md).
    gc.freeze()


class Server(BaseApplication):
    def __init__(self, options: dict):
        self.options = options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from riskengine.web.app import create_app
        return create_app()


def options(host: str, port: int, workers: int, threads: int) -> dict:
    return {
        "bind": f"{host}:{port}", "workers": workers, "threads": threads,
        "worker_class": "riskengine.web.server.JsonErrorWorker",     # gthread, its errors in JSON
        "timeout": 30, "graceful_timeout": 10, "keepalive": 5, "accesslog": None,
        "control_socket_disable": True,   # gunicorn 27 otherwise shares one socket per user
        "child_exit": _child_exit, "post_worker_init": _post_worker_init, "when_ready": _when_ready,
    }


def run(host: str, port: int, workers: int, threads: int) -> None:
    Server(options(host, port, workers, threads)).run()
