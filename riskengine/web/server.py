"""gunicorn, embedded: `riskengine serve` runs this, never Flask's development server."""
from __future__ import annotations

from gunicorn.app.base import BaseApplication


def _child_exit(server, worker):
    # Drop a dead worker's live gauges from the multiprocess metrics directory.
    from prometheus_client import multiprocess
    multiprocess.mark_process_dead(worker.pid)


def _post_worker_init(worker):
    # Each worker runs a usage-link folder; one at a time folds (usage.LinkFolder.fold).
    from riskengine.usage.links import start_folder
    state = worker.wsgi.extensions["riskengine"]
    start_folder(state.folder, state.config.usage_fold_seconds)


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
        "bind": f"{host}:{port}", "workers": workers, "worker_class": "gthread", "threads": threads,
        "timeout": 30, "graceful_timeout": 10, "keepalive": 5, "accesslog": None,
        "control_socket_disable": True,   # gunicorn 27 otherwise shares one socket per user
        "child_exit": _child_exit, "post_worker_init": _post_worker_init,
    }


def run(host: str, port: int, workers: int, threads: int) -> None:
    Server(options(host, port, workers, threads)).run()
