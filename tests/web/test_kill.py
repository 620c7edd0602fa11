"""kill -9 of `riskengine serve`'s master and workers under concurrent clients: every write a
client was told succeeded is in the database exactly once and whole, and the restarted server
becomes ready. Runs scripts/fault_kill.py (the script that measures this for the issue): on PostgreSQL
(RISKENGINE_TEST_DATABASE_URL) on the test database, on SQLite on a file of its own, as
every test that kills or freezes a database's writers does: the session's file stays out of it."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "fault_kill.py"


@pytest.mark.timeout(240)
def test_kill_9_under_load_loses_duplicates_and_splits_no_acknowledged_write(db_url, tmp_path):
    url = f"sqlite:///{tmp_path / 'kill.db'}" if db_url.startswith("sqlite") else db_url
    done = subprocess.run([sys.executable, str(SCRIPT), "--database-url", url, "--seconds", "8", "--clients", "6",
                           "--json"], capture_output=True, text=True, timeout=200)
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout)
    # The kill came mid-load: writes were acknowledged before it and after the restart.
    assert got["assessments_acked"] - got["assessments_acked_after_kill"] > 0, got
    assert got["assessments_acked_after_kill"] > 0 and got["batches_acked"] > 0, got
    assert got["assessments_lost"] == got["assessments_duplicated"] == got["assessments_other_id"] == 0, got
    assert got["batches_lost"] == got["batches_duplicated"] == got["batches_partial"] == 0, got
    assert got["batches_stored_unacknowledged_partial"] == 0, got      # a batch cut off by the kill: all or nothing
    assert got["healthy_after_kill_s"] < 60, got
