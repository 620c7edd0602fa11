"""How long RiskClient.assess takes to fail over: against a closed port, a server that accepts
and never answers, and a server that answers 503 (one retry); and, as the baseline measured
in the same run, a bare socket connect to a listening port.

    .venv/bin/python scripts/bench_client_failover.py [--timeout 1.0] [--runs 20]

Prints the median and maximum of each, and each as a ratio to the timeout.
"""
from __future__ import annotations

import argparse
import json
import socket
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from riskengine.client import RiskClient

BODY = {"event": "login", "account": {"id": "acct_bench"}, "ip": "203.0.113.7"}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def silent_server() -> tuple[int, list[socket.socket]]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = [listener]

    def accept():
        while True:
            try:
                held.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    return listener.getsockname()[1], held


class _Unavailable(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        data = json.dumps({"error": {"code": "unavailable", "message": "down"}}).encode()
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def timed(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--timeout", type=float, default=1.0)
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()

    silent_port, held = silent_server()
    http503 = ThreadingHTTPServer(("127.0.0.1", 0), _Unavailable)
    threading.Thread(target=http503.serve_forever, daemon=True).start()

    def connect_once():
        with socket.create_connection(("127.0.0.1", silent_port), timeout=1):
            pass

    cases = {
        "baseline: TCP connect": connect_once,
        "closed port": RiskClient(f"http://127.0.0.1:{closed_port()}", "rk_x", args.timeout).assess,
        "silent server": RiskClient(f"http://127.0.0.1:{silent_port}", "rk_x", args.timeout).assess,
        "503 (one retry)": RiskClient(f"http://127.0.0.1:{http503.server_port}", "rk_x", args.timeout).assess,
    }
    runs = {"silent server": max(3, args.runs // 4)}
    print(f"timeout {args.timeout:.3f} s; the contract allows timeout + 0.2 s")
    print(f"{'case':<24}{'runs':>6}{'median ms':>12}{'max ms':>10}{'max/timeout':>13}")
    for name, fn in cases.items():
        n = runs.get(name, args.runs)
        times = timed((lambda f=fn: f(BODY)) if name != "baseline: TCP connect" else fn, n)
        print(f"{name:<24}{n:>6}{statistics.median(times) * 1000:>12.2f}{max(times) * 1000:>10.2f}"
              f"{max(times) / args.timeout:>13.3f}")
    http503.shutdown()
    for s in held:
        s.close()


if __name__ == "__main__":
    main()
