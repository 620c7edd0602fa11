"""A live engine, a signup page on another origin that loads /collector.js, and Debian's
Chromium driven by Playwright: shared by the real-browser tests and scripts/bench_collector.py."""
from __future__ import annotations

import os
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.factories import BIN, free_port

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
