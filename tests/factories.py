"""Request bodies and small helpers that several test modules share (import them from here,
never from another test module)."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from sqlalchemy import text

BIN = Path(sys.executable).parent / "riskengine"      # the installed command, run for real


def signup(account_id="acct_1", **over):
    body = {
        "event": "signup",
        "account": {"id": account_id, "email": "jane.doe@example.com", "phone": "+447911123456",
                    "country": "GB", "org_type": "individual", "name": "Jane Doe"},
        "ip": "2.125.160.216",
        "device": {"id": "dv_1", "user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
                   "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "timezone": "Europe/London",
                   "languages": ["en-GB", "en"], "webdriver": False, "components_hash": "c0ffee"},
    }
    body.update(over)
    return body


def assessment_row(i, account, t, **over):
    """An assessment row as storage.record takes it, with only what it requires."""
    base = {"id": f"asm_{i}", "account_id": account, "event": "signup", "occurred_ts": t, "created_ts": t,
            "ip": "198.51.100.1", "decision": "allow", "decided_by": "model", "response": {"n": i}}
    base.update(over)
    return base


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def record(i=0, **over):
    base = {"account_id": f"acct_{i % 7}", "occurred_at": f"2026-11-20T10:{i // 60 % 60:02d}:{i % 60:02d}Z",
            "ip": "203.0.113.7", "device_id": "dv_9c1e", "api_key_id": "key_4", "model": "large-2026",
            "requests": 1, "input_tokens": 1200, "output_tokens": 800,
            "prompt_fingerprint": "9f3ac1d2e4b5a697", "reasoning_requested": True}
    base.update(over)
    return base


def count(app, sql):
    with app.extensions["riskengine"].db.connect() as conn:
        return conn.execute(text(sql)).scalar_one()


def post(client, auth, records):
    return client.post("/v1/usage", json={"records": records}, headers=auth)


def links(app) -> dict:
    with app.extensions["riskengine"].db.connect() as conn:
        rows = conn.execute(text("SELECT kind, value, account_id, first_seen, last_seen, events FROM entitylink"))
        return {(k, v, a): (f, la, n) for k, v, a, f, la, n in rows}


def expected_links(app, batches) -> dict:
    """What entitylink must hold after these batches, worked out from the records alone."""
    h = app.extensions["riskengine"].hasher
    out = {}
    for records in batches:
        for r in records:
            t = datetime.fromisoformat(r["occurred_at"].replace("Z", "+00:00")).timestamp()
            subnet = r["ip"].rsplit(".", 1)[0] + ".0/24"
            for key in (("device", h("device", r["device_id"])), ("ip", h("ip", r["ip"])),
                        ("subnet", h("subnet", subnet))):
                f, la, n = out.get((*key, r["account_id"]), (t, t, 0))
                out[(*key, r["account_id"])] = (min(f, t), max(la, t), 0)
    return out


def varied(k, n=40):
    return [record(i, ip=f"198.51.{k % 3}.{i % 5}", device_id=f"dv_{i % 4}", requests=1 + i % 3,
                   occurred_at=f"2026-11-{10 + k}T1{i % 10}:00:0{i % 7}Z") for i in range(n)]


# ---------------------------------------------------------------- the re-scoring job's tests

NOW = time.time()
WEEK = 7 * 86400


def at(hours_ago: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW - hours_ago * 3600))


def login(account_id: str, hours_ago: float = 0.1, **over) -> dict:
    return signup(account_id, event="login", occurred_at=at(hours_ago),
                  login={"outcome": "success", "method": "password"}, **over)


def assess(client, auth, body) -> dict:
    resp = client.post("/v1/assess", json=body, headers=auth)
    assert resp.status_code == 200, resp.json
    return resp.json


def send_usage(client, auth, account, n, fingerprint=None, ip="2.125.160.216", device="dv_1", reasoning=None):
    """n usage records of `account`, half an hour apart, ending 20 hours ago."""
    records = [{"account_id": account, "occurred_at": at(20 + n * 0.5 - k * 0.5), "ip": ip, "device_id": device,
                "requests": 1, "input_tokens": 100, "output_tokens": 200,
                **({"prompt_fingerprint": fingerprint(k)} if fingerprint else {}),
                **({} if reasoning is None else {"reasoning_requested": reasoning})} for k in range(n)]
    assert client.post("/v1/usage", json={"records": records}, headers=auth).status_code == 202


def stored(runtime) -> dict[str, dict]:
    """account -> its rescore row (decision, monitored_decision, decided_by, score, response as a dict)."""
    with runtime.db.connect() as conn:
        rows = conn.execute(text("SELECT account_id, decision, monitored_decision, decided_by, score, response "
                                 "FROM assessment WHERE event = 'rescore'")).mappings().all()
    return {r["account_id"]: {**r, "response": json.loads(r["response"]) if isinstance(r["response"], str)
                              else r["response"]} for r in rows}


# ---------------------------------------------------------------- the command line, run for real

def cli_env(tmp_path, **settings) -> dict:
    """The environment minus any RISKENGINE_* of the caller's, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISKENGINE_")}
    env.update({"RISKENGINE_HASH_KEY_FILE": str(tmp_path / "k.key"), "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)})
    env.update(settings)
    return env


def run_cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    # serve gets a port nothing else uses: a check that failed to stop it would serve, and time out
    if args[0] == "serve":
        args = (*args, "--port", str(free_port()))
    return subprocess.run([str(BIN), *args], env=env, capture_output=True, text=True, timeout=60)


def assert_one_error_line(result: subprocess.CompletedProcess, *names: str) -> str:
    said = result.stderr + result.stdout
    lines = [ln for ln in said.splitlines() if ln.strip()]
    assert result.returncode != 0, said
    assert "Traceback" not in said and len(lines) == 1 and lines[0].startswith("Error: "), said
    for name in names:
        assert name in lines[0], said
    return lines[0]


def farm_signup(i):
    body = signup(f"farm_{i}", occurred_at=at(48 - i))
    body["account"].update(email=f"x{i}q9z{i}@example.com", phone="+44 7911 654321")
    body["device"].update(id="dv_farm", components_hash="hw_farm")
    body["payment"] = {"fingerprint": "fp_farm", "funding": "prepaid", "country": "US", "bin": "424242",
                       "last4": "4242"}
    return body


USER_IPS = ["216.160.83.56", "89.160.20.112", "67.43.156.1", "149.101.100.1", "175.16.199.1", "2001:218::1"]


def legit_signup(i):
    body = signup(f"user_{i}", occurred_at=at(60 + i), ip=USER_IPS[i])
    body["account"].update(email=f"person{i}@example.org", phone=None, country="US")
    body["device"].update(id=f"dv_user_{i}", components_hash=f"hw_{i}", timezone="America/Los_Angeles",
                          languages=["en-US"])
    return body


def usage(account, n, start_hours_ago, step_s, fp, reasoning, ip="2.125.160.216"):
    return [{"account_id": account, "occurred_at": at(start_hours_ago - k * step_s / 3600), "ip": ip,
             "device_id": "dv_farm" if account.startswith("farm") else f"dv_{account}", "requests": 1,
             "input_tokens": 200, "output_tokens": 1500 if reasoning else 300, "prompt_fingerprint": fp(k),
             "reasoning_requested": reasoning} for k in range(n)]


# ---------------------------------------------------------------- faults: a PostgreSQL of the test's own

PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), None)


def children_of(pid: int) -> list[int]:
    """The pids of the processes whose parent is `pid`."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return out


def _signal(pid: int, name: str) -> None:
    """Signal a process that may have ended meanwhile (a backend whose client went away)."""
    import signal
    try:
        os.kill(pid, getattr(signal, name))
    except ProcessLookupError:
        pass


class PrivatePostgres:
    """A PostgreSQL server this test started (initdb in a temp dir, another port), so it can
    be frozen (SIGSTOP), stopped and started again without touching anyone else's."""

    def __init__(self):
        import shutil
        import tempfile
        assert PG_BIN is not None
        self.dir = Path(tempfile.mkdtemp(prefix="riskengine-pg-"))    # /tmp: readable by postgres
        self.data, self.port = self.dir / "data", free_port()
        # initdb refuses to run as root: then the cluster belongs to the postgres user
        self.user = "postgres" if os.geteuid() == 0 else None
        if self.user:
            shutil.chown(self.dir, self.user, self.user)
        self._run("initdb", "-A", "trust", "-U", "root", "--no-sync", "-D", str(self.data))
        self.url = f"postgresql://root@127.0.0.1:{self.port}/postgres"
        self.start()

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([str(PG_BIN / tool), *args], check=True, capture_output=True, timeout=60,
                       user=self.user, cwd=self.dir)

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "log"), "-w", "-t", "30", "start", "-o",
                  f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off")

    def stop(self, mode: str = "immediate") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def pids(self) -> list[int]:
        """The postmaster and every process it started."""
        master = self._master()
        return [master, *children_of(master)]

    def _master(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def freeze(self) -> None:
        """Stop answering, as a hung host or a partition would: connections are accepted by
        the kernel and data is acknowledged, but nothing ever replies. The postmaster first, so
        it forks no backend meanwhile; then its children, listed again until no new one shows
        up (a backend forked just before it stopped would otherwise go on serving its client)."""
        master = self._master()
        _signal(master, "SIGSTOP")
        stopped: set[int] = set()
        while fresh := set(children_of(master)) - stopped:
            for pid in fresh:
                _signal(pid, "SIGSTOP")
            stopped |= fresh

    def thaw(self) -> None:
        for pid in self.pids():
            _signal(pid, "SIGCONT")

    def close(self) -> None:
        import shutil
        try:
            self.thaw()
            self.stop()
        except (OSError, subprocess.SubprocessError, ValueError):
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------- faults: a Redis of the test's own

REDIS_SERVER = next((p for p in ("/usr/bin/redis-server", "/usr/local/bin/redis-server") if Path(p).exists()), None)


class PrivateRedis:
    """A redis-server this test started (a temp dir, a free port, nothing saved to disk), so it
    can be stopped, started again and frozen without touching the shared one on 6379."""

    def __init__(self):
        import tempfile
        assert REDIS_SERVER is not None
        self.dir, self.port = Path(tempfile.mkdtemp(prefix="riskengine-redis-")), free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen([REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
                                      "--dir", str(self.dir), "--save", "", "--appendonly", "no"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        until = time.monotonic() + 30
        while not self.answers():
            assert self.proc.poll() is None and time.monotonic() < until, "redis-server did not start"
            time.sleep(0.02)

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()            # as a crash would: no shutdown handshake
            self.proc.wait(timeout=30)

    def freeze(self) -> None:
        import signal
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        import signal
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)

    def close(self) -> None:
        import shutil
        if self.proc is not None and self.proc.poll() is None:
            self.thaw()
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------- a stand-in for the engine over HTTP

class StubServer:
    """A small HTTP server on 127.0.0.1 that answers every GET and POST with `answer(body)`
    (the request's JSON body, None if it has none) -> (status, JSON document), and counts the
    requests: what an overloaded or broken engine would answer, for the client and the demo.
    Use it through the `stub_server` fixture, which closes it."""

    def __init__(self, answer: Callable[[dict | None], tuple[int, dict]]):
        self.hits = 0
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                stub.hits += 1
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, out = answer(json.loads(raw) if raw else None)
                data = json.dumps(out).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def one_line_failures(caplog, logger: str, prefixes: tuple[str, ...], least: int, most: int) -> list[str]:
    """What `logger` logged: from `least` to `most` records (a retry loop that backs off), each
    one line without a traceback, starting with one of `prefixes`."""
    records = [r for r in caplog.records if r.name == logger]
    assert least <= len(records) <= most, [r.getMessage() for r in records]
    for r in records:
        said = r.getMessage()
        assert r.exc_info is None and "\n" not in said and "Traceback" not in said, said
        assert said.startswith(prefixes), said
    return [r.getMessage() for r in records]


# ---------------------------------------------------------------- the browser collector, in Chromium
# A live engine, a signup page on another origin that loads /collector.js, and Debian's Chromium
# driven by Playwright: shared by tests/browser/ and scripts/bench_collector.py.
CHROMIUM = "/usr/bin/chromium"
# DEVGUIDE's flags for Chromium in CI.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage"]
# A person's browser as far as the page can tell: no automation switch, no HeadlessChrome in
# the user agent. (BotD's open-source build does not catch this; its paid one might.)
UNDRIVEN = {"args": [*FLAGS, "--disable-blink-features=AutomationControlled"],
            "ignore_default_args": ["--enable-automation"]}
DRIVEN = {"args": FLAGS}       # what plain automation looks like: Playwright's defaults


def desktop_user_agent(version: str) -> str:
    return (f"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            f"Chrome/{version.split('.')[0]}.0.0.0 Safari/537.36")


@dataclass
class Engine:
    url: str
    secret: str          # an rk_ key for the backend
    publishable: str     # a pk_ key for the page
    sri: str             # the served bundle's integrity hash


@contextmanager
def live_engine(tmp: Path, page_origin: str, **settings: str) -> Iterator[Engine]:
    """`riskengine serve` on a free port, with the page's origin allowed to collect."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISKENGINE_")}
    env.update({"RISKENGINE_DATABASE_URL": f"sqlite:///{tmp / 'engine.db'}", "RISKENGINE_HASH_KEY_FILE":
                str(tmp / "hash.key"), "PROMETHEUS_MULTIPROC_DIR": str(tmp), "RISKENGINE_COLLECT_ORIGINS":
                page_origin, "RISKENGINE_RATE_LIMITS": "collect=100000/minute", **settings})

    def cli(*args: str) -> str:
        done = subprocess.run([str(BIN), *args], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    cli("db", "upgrade")
    secret, publishable = cli("keys", "create", "backend"), cli("keys", "create", "page", "--scope", "collect")
    port = free_port()
    log = open(tmp / "engine.log", "wb")
    proc = subprocess.Popen([str(BIN), "serve", "--port", str(port), "--workers", "1", "--threads", "4"],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/collector.js", timeout=2) as resp:
                    sri = resp.headers["X-Riskengine-Integrity"]
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, (tmp / "engine.log").read_text()
                time.sleep(0.2)
        yield Engine(url, secret, publishable, sri)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


SIGNUP_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Sign up</title>
<script src="{engine}/collector.js" integrity="{sri}" crossorigin="anonymous"></script></head>
<body><form id="signup"><input name="email" type="email"><input name="riskengine_token" type="hidden"></form>
<script>
  window.started = performance.now();
  window.tokenReady = riskengine.collect({{endpoint: "{engine}", publishableKey: "{key}"}}).then(function (token) {{
    document.querySelector("input[name=riskengine_token]").value = token;
    window.tokenMs = performance.now() - window.started;
    return token;
  }});
</script></body></html>
"""


@contextmanager
def signup_page(engine: Engine | None = None) -> Iterator[tuple[str, dict]]:
    """A tiny web server for the integrator's signup page; (its origin, where to put the engine)."""
    holder: dict = {}

    class Page(BaseHTTPRequestHandler):
        def do_GET(self):
            e = holder["engine"]
            body = SIGNUP_PAGE.format(engine=e.url, sri=e.sri, key=e.publishable).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", holder
    finally:
        server.shutdown()
        server.server_close()


def launch(playwright, mode: dict):
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, **mode)


def collect_token(browser, page_url: str, user_agent: str | None = None) -> tuple[str, float]:
    """Load the signup page in a fresh context; (the device token, ms from page script to token)."""
    context = browser.new_context(user_agent=user_agent) if user_agent else browser.new_context()
    try:
        page = context.new_page()
        page.goto(page_url)
        token = page.evaluate("window.tokenReady")
        return token, page.evaluate("window.tokenMs")
    finally:
        context.close()


# ---------------------------------------------------------------- analyst console (tests/web/console)

CONSOLE_PASSWORD = "correct horse battery staple"


def console_csrf(client, path="/console/login") -> str:
    """The CSRF token on a console page of the client's session."""
    import re
    page = client.get(path).get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page[:500]
    return found.group(1)


def console_sign_in(client, name, password=CONSOLE_PASSWORD):
    return client.post("/console/login", data={"name": name, "password": password,
                                               "csrf_token": console_csrf(client)})


def console_post(client, path, data, page=None):
    """A console form POST with the CSRF token of the session's page."""
    return client.post(path, data={**data, "csrf_token": console_csrf(client, page or "/console/")})


def index_names(engine, table: str) -> set[str]:
    """Index names of a table (SQLite or the current PostgreSQL schema)."""
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            return {r[0] for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'index' "
                                                    "AND tbl_name = :t"), {"t": table})}
        return {r[0] for r in conn.execute(text("SELECT indexname FROM pg_indexes WHERE tablename = :t "
                                                "AND schemaname = current_schema()"), {"t": table})}
