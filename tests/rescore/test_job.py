"""The re-scoring job on a real database: clusters, labels, changes, restarts, bad rows,
the webhook and the Dask path."""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pytest
from click.testing import CliRunner
from sqlalchemy import text

from riskengine.cli import main
from riskengine.rescore import job as rescore
from riskengine.rescore.command import active_model_dir
from riskengine.rescore.population import population
from riskengine.rescore.webhook import Webhook, signature
from riskengine.runtime import Runtime
from riskengine.scoring.model import RiskModel
from tests.factories import NOW, signup


def rescore_rows(config):
    with Runtime.build(config).db.connect() as conn:
        return conn.execute(text("SELECT account_id, decision, decided_by, response FROM assessment "
                                 "WHERE event = 'rescore' ORDER BY account_id")).all()


def test_rescore_scores_clusters_and_reports_changes(world, env, client, auth, tmp_path):
    changes = tmp_path / "changes.jsonl"
    result = CliRunner().invoke(main, ["rescore", "--since", "7d", "--changes", str(changes), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "12 of 12 active accounts scored" in result.output
    rows = {r.account_id: r for r in rescore_rows(env)}
    assert len(rows) == 12
    assert rows["farm_0"].decision == "block" and rows["farm_0"].decided_by == "rule:analyst_label"
    farm = json.loads(rows["farm_3"].response) if isinstance(rows["farm_3"].response, str) else rows["farm_3"].response
    user = json.loads(rows["user_3"].response) if isinstance(rows["user_3"].response, str) else rows["user_3"].response
    assert farm["signals"]["links"]["cluster_size"] == 6 and user["signals"]["links"]["cluster_size"] == 1
    assert farm["signals"]["behaviour"]["usage_template_sharing"] == 5
    assert farm["signals"]["behaviour"]["usage_reasoning_share"] == 1.0
    assert farm["score"] > user["score"]
    lines = [json.loads(ln) for ln in changes.read_text().splitlines()]
    assert {"account_id", "previous_decision", "decision", "score", "reasons"} <= set(lines[0])
    assert "farm_0" in {c["account_id"] for c in lines}
    view = client.get("/v1/accounts/farm_2", headers=auth).json
    assert view["cluster"]["size"] == 6 and view["assessments"][0]["event"] == "rescore"
    assert {lk["account_id"] for lk in view["links"]} >= {"farm_0", "farm_1"}
    # A login of an account the job blocked is blocked too.
    login = signup("farm_0", event="login", login={"outcome": "success", "method": "password"})
    out = client.post("/v1/assess", json=login, headers=auth).json
    assert out["decision"] == "block"
    assert "account.rescored" in {r["code"] for r in out["reasons"]}


def test_a_crashed_run_resumes_without_duplicates(world, env, monkeypatch):
    monkeypatch.setattr(rescore, "CHUNK", 4)
    engine = Runtime.build(env)
    active = RiskModel.load(active_model_dir())

    class Dies:
        calls = 0

        def send(self, change):
            Dies.calls += 1
            raise KeyboardInterrupt("killed mid-run")

    # farm_0's label makes a change in the first chunk; the "crash" comes after it was written.
    with pytest.raises(KeyboardInterrupt):
        rescore.run(engine, active, 7 * 86400, webhook=Dies(), progress=False)
    before = len(rescore_rows(env))
    assert 0 < before < 12
    summary = rescore.run(engine, active, 7 * 86400, progress=False)
    assert summary.resumed and summary.scored == 12 - before
    rows = rescore_rows(env)
    assert len(rows) == 12 and len({r.account_id for r in rows}) == 12     # each account exactly once
    engine.close()


def test_one_bad_row_is_reported_and_skipped(world, env):
    engine = Runtime.build(env)
    with engine.db.begin() as conn:
        conn.execute(text("UPDATE assessment SET features = :f WHERE account_id = 'user_2'"), {"f": json.dumps([1, 2])})
    summary = rescore.run(engine, RiskModel.load(active_model_dir()), 7 * 86400, progress=False)
    assert "user_2" in summary.skipped and summary.scored == 11
    assert "skipped 1 bad rows: user_2" in summary.text()
    engine.close()


class _Receiver(BaseHTTPRequestHandler):
    got: list = []
    fail_first = 0

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if _Receiver.fail_first > 0:
            _Receiver.fail_first -= 1
            self.send_response(503)
            self.end_headers()
            return
        _Receiver.got.append((self.headers["X-Riskengine-Signature"], body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_webhook_signs_and_retries():
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/hook"
    try:
        _Receiver.got, _Receiver.fail_first = [], 2
        hook = Webhook(url, "s3cret", timeout=2, retries=3, backoff=0.01)
        assert hook.send({"account_id": "a", "decision": "block"})
        sig, body = _Receiver.got[0]
        assert hmac.compare_digest(sig, signature(b"s3cret", body))
        assert sig == "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
        _Receiver.fail_first = 10
        assert not Webhook(url, "s3cret", timeout=2, retries=1, backoff=0.01).send({"account_id": "b"})
    finally:
        server.shutdown()
    dead = Webhook("http://127.0.0.1:9/", "s3cret", timeout=0.5, retries=1, backoff=0.01)
    started = time.perf_counter()
    assert dead.send({"account_id": "c"}) is False and dead.failed == 1
    assert time.perf_counter() - started < 5                     # bounded: never hangs the job


def test_dask_gives_the_same_scores_as_one_process(world, env):
    from distributed import LocalCluster
    engine = Runtime.build(env)
    active = RiskModel.load(active_model_dir())
    until = NOW
    since = until - 7 * 86400
    with engine.db.connect() as conn:
        pop = population(conn, since, until)
    todo = np.arange(len(pop.accounts))
    local = rescore._score(engine, active, pop, todo, since, until, None, 3)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        remote = rescore._score(engine, active, pop, todo, since, until, cluster.scheduler_address, 3)
    assert len(remote) == 3                                        # really partitioned
    remote_score = np.concatenate([s.score for _, s in remote])
    remote_matrix = np.concatenate([s.matrix for _, s in remote])
    assert np.array_equal(np.concatenate([r for r, _ in remote]), todo)
    np.testing.assert_array_equal(remote_matrix, local[0][1].matrix)
    np.testing.assert_array_equal(remote_score, local[0][1].score)
    engine.close()


def test_scheduler_script_runs_the_same_job(world, env, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path
    script = Path(__file__).resolve().parents[2] / "scripts" / "rescore.py"
    proc = subprocess.run([sys.executable, str(script), "--since", "7d", "--no-progress",
                           "--changes", str(tmp_path / "c.jsonl")], env=dict(os.environ),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "12 of 12 active accounts scored" in proc.stdout
    assert (tmp_path / "c.jsonl").read_text().strip()


def test_rescore_runs_the_retention_phase_and_the_commands_run_alone(world, env, monkeypatch):
    def raw_ips():
        with Runtime.build(env).db.connect() as conn:
            return conn.execute(text("SELECT (SELECT COUNT(*) FROM assessment WHERE ip IS NOT NULL), "
                                     "(SELECT COUNT(*) FROM usagerecord WHERE ip IS NOT NULL)")).one()
    kept = CliRunner().invoke(main, ["retention", "run"])          # default 90 days: the world is recent
    assert kept.exit_code == 0 and "from 0 assessments, 0 usage records" in kept.output, kept.output
    assert all(raw_ips())
    monkeypatch.setenv("RISKENGINE_RAW_RETENTION_DAYS", "0.000001")       # a tenth of a second
    time.sleep(0.2)
    result = CliRunner().invoke(main, ["rescore", "--since", "7d", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "12 of 12 active accounts scored" in result.output and "retention: raw fields removed" in result.output
    assert tuple(raw_ips()) == (0, 0)
    erased = CliRunner().invoke(main, ["accounts", "erase", "farm_0"])
    assert erased.exit_code == 0 and erased.output.startswith("erased farm_0: "), erased.output
    unknown = CliRunner().invoke(main, ["accounts", "erase", "farm_0"])
    assert unknown.exit_code == 1 and "Error: account 'farm_0' has never been seen" in unknown.output
