"""Pieces the fault scripts share: a served riskengine (any checkout's code), its clients,
and killing it the way an operator's `kill -9` does."""
from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.factories import PG_BIN, PrivatePostgres, free_port, signup  # noqa: E402,F401
from tests.factories import children_of as children  # noqa: E402

MAXMIND_CITY = str(ROOT / "tests" / "data" / "maxmind" / "GeoIP2-City-Test.mmdb")

RUN_CLI = "import sys; from riskengine.cli import main; sys.exit(main())"


class Served:
    """`riskengine serve` as an operator runs it, with the riskengine package of `code` (a
    checkout: another worktree to measure the code before a change) or this one's."""

    def __init__(self, database_url: str, code: str | None = None, workers: int = 2, threads: int = 4,
                 timeout_ms: int = 500, **settings: str):
        self.dir = Path(tempfile.mkdtemp(prefix="riskengine-fault-"))
        self.port, self.workers, self.threads = free_port(), workers, threads
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("RISKENGINE_")}
        self.env.update({"RISKENGINE_DATABASE_URL": database_url, "RISKENGINE_DB_TIMEOUT_MS": str(timeout_ms),
                         "RISKENGINE_HASH_KEY_FILE": str(self.dir / "hash.key"),
                         "RISKENGINE_GEOIP_CITY": MAXMIND_CITY, "RISKENGINE_KEY_CACHE_SECONDS": "600",
                         "PROMETHEUS_MULTIPROC_DIR": str(self.dir), **settings})
        if code:
            self.env["PYTHONPATH"] = code
        self.code = code
        self.cli("db", "upgrade")
        self.secret = self.cli("keys", "create", f"fault-{os.getpid()}-{self.port}").strip()
        self.proc: subprocess.Popen | None = None

    def cli(self, *args: str) -> str:
        done = subprocess.run([sys.executable, "-c", RUN_CLI, *args], env=self.env, capture_output=True,
                              text=True, timeout=120, cwd=self.dir)
        if done.returncode:
            raise RuntimeError(f"riskengine {' '.join(args)}: {done.stderr or done.stdout}")
        return done.stdout

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", RUN_CLI, "serve", "--port", str(self.port), "--workers",
                                      str(self.workers), "--threads", str(self.threads)],
                                     env=self.env, stdout=subprocess.DEVNULL, stderr=open(self.dir / "log", "ab"),
                                     cwd=self.dir)      # `-c` puts the working directory first on sys.path

    def ready(self, within_s: float = 60.0, poll_s: float = 0.02) -> float:
        """Seconds until /readyz said ready."""
        started = time.monotonic()
        while time.monotonic() - started < within_s:
            try:
                status, _ = request(self.port, "GET", "/readyz", None, {}, timeout=1.0)
                if status == 200:
                    return time.monotonic() - started
            except OSError:
                pass
            assert self.proc is not None and self.proc.poll() is None, (self.dir / "log").read_text()[-3000:]
            time.sleep(poll_s)
        raise TimeoutError("riskengine serve did not become ready")

    def cpu_seconds(self) -> float:
        """CPU time the server has used so far: the master and its live workers, plus the
        children it has reaped (the start-up check). Less noisy than wall time on a busy machine."""
        assert self.proc is not None
        ticks = os.sysconf("SC_CLK_TCK")
        total = _cpu_ticks(self.proc.pid, with_reaped=True)
        for pid in children(self.proc.pid):
            total += _cpu_ticks(pid, with_reaped=False)
        return total / ticks

    def kill9(self) -> None:
        """SIGKILL to the master and every worker at once: nothing gets to clean up."""
        assert self.proc is not None
        pids = [self.proc.pid, *children(self.proc.pid)]
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        self.proc.wait()
        for pid in pids[1:]:
            while Path(f"/proc/{pid}").exists() and "Z" not in _state(pid):
                time.sleep(0.01)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill9()

    @property
    def auth(self) -> dict:
        return {"Authorization": f"Bearer {self.secret}", "Content-Type": "application/json"}


def _cpu_ticks(pid: int, with_reaped: bool) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    # after the ")": state is field 0; utime, stime, cutime, cstime are 11-14
    return sum(int(f) for f in fields[11:15 if with_reaped else 13])


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


_LOCAL = threading.local()


def request(port: int, method: str, path: str, body, headers: dict, timeout: float = 10.0):
    """(status, parsed body) over this thread's keep-alive connection; OSError if it broke."""
    conn = getattr(_LOCAL, "conns", {}).get(port)
    if conn is None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        _LOCAL.conns = {**getattr(_LOCAL, "conns", {}), port: conn}
    try:
        conn.request(method, path, body=None if body is None else json.dumps(body).encode(), headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
    except (OSError, http.client.HTTPException) as e:
        conn.close()
        _LOCAL.conns.pop(port, None)
        raise OSError(str(e)) from e
    return resp.status, json.loads(raw) if raw else None


def degraded_by_database(body: dict) -> bool:
    return any(r["code"] == "degraded.database" for r in body.get("reasons", []))


def assess_timed(port: int, auth: dict, account: str, timeout: float = 30.0) -> tuple[float, int, dict | None]:
    started = time.monotonic()
    try:
        status, body = request(port, "POST", "/v1/assess", signup(account), auth, timeout=timeout)
    except OSError:
        return time.monotonic() - started, 0, None
    return time.monotonic() - started, status, body
