"""Request bodies and small helpers that several test modules share (import them from here,
never from another test module)."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from datetime import datetime
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
    body["account"].update(email=f"x{i}q9z{i}@example.com", phone=None)
    body["device"].update(id="dv_farm", components_hash="hw_farm")
    body["payment"] = {"fingerprint": "fp_farm", "funding": "prepaid", "country": "US"}
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
        master = int((self.data / "postmaster.pid").read_text().split()[0])
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == master:
                children.append(int(stat.parent.name))
        return [master, *children]

    def freeze(self) -> None:
        """Stop answering, as a hung host or a partition would: connections are accepted by
        the kernel and data is acknowledged, but nothing ever replies."""
        import signal
        for pid in self.pids():
            os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        import signal
        for pid in self.pids():
            os.kill(pid, signal.SIGCONT)

    def close(self) -> None:
        import shutil
        try:
            self.thaw()
            self.stop()
        except (OSError, subprocess.SubprocessError, ValueError):
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


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
