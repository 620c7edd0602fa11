"""The command line, run for real: in-process through click and as a gunicorn subprocess."""
from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from riskengine import storage
from riskengine.cli import main
from riskengine.web.app import create_app
from tests.conftest import MAXMIND
from tests.factories import BIN, assert_one_error_line, cli_env, free_port, run_cli, signup


@pytest.fixture
def env(db_url, tmp_path, monkeypatch):
    values = {"RISKENGINE_DATABASE_URL": db_url, "RISKENGINE_HASH_KEY_FILE": str(tmp_path / "k.key")}
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    return values


def test_keys_create_list_revoke(env, config):
    runner = CliRunner()
    created = runner.invoke(main, ["keys", "create", "signup-svc", "--scope", "assess"])
    assert created.exit_code == 0, created.output
    secret = created.output.strip()
    assert secret.startswith("rk_") and "\n" not in secret            # the secret alone on stdout
    assert runner.invoke(main, ["keys", "create", "signup-svc"]).exit_code != 0   # names are unique
    assert runner.invoke(main, ["keys", "create", "x", "--scope", "root"]).exit_code != 0
    listed = runner.invoke(main, ["keys", "list"]).output
    assert "signup-svc\tactive\tassess" in listed and secret not in listed
    with storage.make_engine(env["RISKENGINE_DATABASE_URL"]).connect() as conn:
        stored = conn.execute(text("SELECT key_hash FROM apikey")).scalar_one()
    assert secret not in stored                                      # only the hash is kept
    client = create_app(config).test_client()
    auth = {"Authorization": f"Bearer {secret}"}
    assert client.post("/v1/assess", json=signup(), headers=auth).status_code == 200
    assert client.get("/v1/accounts/acct_1", headers=auth).status_code == 403      # no `read` scope
    assert runner.invoke(main, ["keys", "revoke", "signup-svc"]).exit_code == 0
    assert client.post("/v1/assess", json=signup(), headers=auth).status_code == 401
    assert "signup-svc\trevoked" in runner.invoke(main, ["keys", "list"]).output


def test_unmigrated_database_is_refused_with_what_to_run(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    monkeypatch.setenv("RISKENGINE_DATABASE_URL", url)
    # `serve` would set it for the rest of this test process (metrics of later tests)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    result = CliRunner().invoke(main, ["serve", "--port", "1"])
    assert result.exit_code != 0 and "riskengine db upgrade" in result.output
    with pytest.raises(Exception, match="riskengine db upgrade"):
        create_app({"database_url": url})
    assert CliRunner().invoke(main, ["db", "upgrade"]).exit_code == 0
    app = create_app({"database_url": url, "hash_key_file": str(tmp_path / "k")})
    assert app.test_client().get("/readyz").status_code == 200


def test_serve_runs_gunicorn_with_shared_metrics(env, tmp_path):
    port = free_port()
    secret = CliRunner().invoke(main, ["keys", "create", "svc"]).output.strip()
    proc_env = {**os.environ, **env, "RISKENGINE_GEOIP_CITY": str(MAXMIND / "GeoIP2-City-Test.mmdb"),
                "RISKENGINE_USAGE_FOLD_SECONDS": "0.2"}
    proc_env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    proc = subprocess.Popen([str(BIN), "serve", "--port", str(port), "--workers", "2", "--threads", "2"],
                            env=proc_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/readyz", timeout=2) as r:
                    assert json.load(r)["ready"] is True
                    break
            except OSError:
                assert proc.poll() is None, proc.stdout.read().decode()
                assert time.monotonic() < deadline, "server did not become ready"
                time.sleep(0.2)
        for i in range(6):
            req = urllib.request.Request(f"{base}/v1/assess", data=json.dumps(signup(f"acct_{i}")).encode(),
                                         headers={"Authorization": f"Bearer {secret}",
                                                  "Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=10) as r:
                assert json.load(r)["signals"]["ip"]["country"] == "GB"
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as r:
            metrics = r.read().decode()
        # Whichever worker answers, the count covers all six requests across workers.
        line = next(ln for ln in metrics.splitlines()
                    if ln.startswith("riskengine_http_requests_total") and '/v1/assess' in ln)
        assert float(line.rsplit(" ", 1)[1]) == 6.0
        # One usage batch: fewer than usage_fold_batches, so the workers' folder links it.
        usage = {"records": [{"account_id": "acct_1", "occurred_at": "2026-11-20T10:00:00Z", "ip": "81.2.69.160",
                              "device_id": "dv_usage"}]}
        req = urllib.request.Request(f"{base}/v1/usage", data=json.dumps(usage).encode(),
                                     headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 202
        db = storage.make_engine(env["RISKENGINE_DATABASE_URL"])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with db.connect() as conn:
                if not conn.execute(text("SELECT COUNT(*) FROM pendinglinks")).scalar_one():
                    break
            time.sleep(0.1)
        with db.connect() as conn:
            t = datetime(2026, 11, 20, 10, tzinfo=UTC).timestamp()      # device, ip and subnet
            assert conn.execute(text("SELECT COUNT(*) FROM entitylink WHERE account_id = 'acct_1' "
                                     "AND first_seen = :t"), {"t": t}).scalar_one() == 3
        db.dispose()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    log = proc.stdout.read().decode()
    # the production server (gunicorn's gthread, answering its own errors in JSON), not Flask's
    assert "Starting gunicorn" in log and "riskengine.web.server.JsonErrorWorker" in log


def test_simulate_writes_a_world(tmp_path):
    out = tmp_path / "world"
    result = CliRunner().invoke(main, ["simulate", "--out", str(out), "--accounts", "60", "--days", "5"])
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    assert events and {"body", "fraud", "campaign", "campaign_id", "segment"} <= set(events[0])
    assert {e["body"]["event"] for e in events} == {"signup", "login"}
    import maxminddb
    for name in ("city", "asn", "anonymous"):
        with maxminddb.open_database(str(out / "geoip" / f"{name}.mmdb")) as reader:
            assert reader.metadata().node_count > 0


# ------------------------------------------------------------------ misconfiguration: one line, no traceback
# Each case runs the installed `riskengine` as a user would, in a clean environment.


DB_COMMANDS = [("keys", "create", "svc"), ("keys", "list"), ("keys", "revoke", "svc"), ("rescore",), ("serve",)]


@pytest.mark.parametrize("command", DB_COMMANDS, ids=" ".join)
def test_every_database_command_refuses_an_unmigrated_database(command, tmp_path):
    env = cli_env(tmp_path, RISKENGINE_DATABASE_URL=f"sqlite:///{tmp_path / 'fresh.db'}")
    assert_one_error_line(run_cli(*command, env=env), "not migrated", "riskengine db upgrade")


def test_db_upgrade_migrates_a_fresh_database_then_commands_work(tmp_path):
    env = cli_env(tmp_path, RISKENGINE_DATABASE_URL=f"sqlite:///{tmp_path / 'fresh.db'}")
    upgraded = run_cli("db", "upgrade", env=env)
    assert upgraded.returncode == 0 and "database at revision" in upgraded.stdout, upgraded.stderr
    listed = run_cli("keys", "list", env=env)
    assert listed.returncode == 0 and listed.stderr == "", listed.stderr


# One command per kind of mistake; tests/test_config.py checks every hint in-process.
@pytest.mark.parametrize("command, url, hint", [
    (("keys", "list"), "postgres://riskengine:s3cret@db.example:5432/risk", "write postgresql://riskengine:***@db.example"),
    (("serve",), "riskengine.db", "write sqlite:///riskengine.db"),
    (("db", "upgrade"), "mysql://root@localhost/risk", "sqlite:///PATH and postgresql://"),
    (("keys", "create", "svc"), "sqlite://relative.db", "write sqlite:///relative.db"),
], ids=["postgres-scheme", "bare-file", "unknown-scheme", "two-slashes"])
def test_a_malformed_database_url_says_what_to_write(command, url, hint, tmp_path):
    line = assert_one_error_line(run_cli(*command, env=cli_env(tmp_path, RISKENGINE_DATABASE_URL=url)),
                                 "RISKENGINE_DATABASE_URL", hint)
    assert "s3cret" not in line


# db upgrade connects through Alembic, rescore through the runtime; keys and serve share db upgrade's engine.
@pytest.mark.parametrize("command", [("db", "upgrade"), ("rescore",)], ids=" ".join)
def test_an_unreachable_postgresql_is_one_line_naming_host_and_port(command, tmp_path):
    # nothing listens on port 1
    env = cli_env(tmp_path, RISKENGINE_DATABASE_URL="postgresql://riskengine:s3cret@127.0.0.1:1/risk")
    started = time.monotonic()
    line = assert_one_error_line(run_cli(*command, env=env), "RISKENGINE_DATABASE_URL", "127.0.0.1:1")
    assert time.monotonic() - started < 20 and "s3cret" not in line     # start-up included; the connect is instant


def test_a_bug_keeps_its_traceback(env, monkeypatch):
    # Only the domain's errors become one line: anything else is a bug and must stay visible.
    def broken(conn):
        raise ZeroDivisionError("a bug")
    monkeypatch.setattr(storage, "list_keys", broken)
    result = CliRunner().invoke(main, ["keys", "list"])
    assert isinstance(result.exception, ZeroDivisionError) and "Error:" not in result.output


def test_version(tmp_path):
    from riskengine import __version__
    result = run_cli("--version", env=cli_env(tmp_path))
    assert result.returncode == 0 and result.stdout == f"riskengine {__version__}\n"


ALL_COMMANDS = [("serve",), ("db",), ("db", "upgrade"), ("keys",), ("keys", "create"), ("keys", "list"),
                ("keys", "revoke"), ("simulate",), ("train",), ("rescore",), ("demo",)]


def test_dash_h_is_help(tmp_path):
    result = run_cli("-h", env=cli_env(tmp_path))
    assert result.returncode == 0 and result.stdout.startswith("Usage: riskengine") and "--version" in result.stdout


@pytest.mark.parametrize("command", ALL_COMMANDS, ids=" ".join)
def test_dash_h_is_help_on_every_command(command):
    # In-process: the option comes from the group's context settings, the same for every command.
    result = CliRunner().invoke(main, [*command, "-h"], prog_name="riskengine")
    assert result.exit_code == 0 and result.output.startswith(f"Usage: riskengine {' '.join(command)}")
    assert result.output == CliRunner().invoke(main, [*command, "--help"], prog_name="riskengine").output
