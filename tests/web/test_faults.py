"""Faults on the login path: a PostgreSQL that is frozen (SIGSTOP: it accepts connections and
acknowledges data but never answers) or stopped, and a SQLite file another process holds
locked. Every /v1/assess comes back degraded, within one budget (RISKENGINE_DB_TIMEOUT_MS)
for all its database waits, and recovers once the database does.

The bounds asserted are about correctness, not speed: an answer that came back while the
database was still frozen (without a client-side bound it never would), and a time well under
twice the budget where the fault being fixed took twice the budget. Each test starts its own
database server or lock holder, so they are slow tests."""
from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import text

from riskengine import storage
from riskengine.apikeys import create_key
from riskengine.config import Config
from riskengine.storage import migrate
from riskengine.usage.links import LinkFolder, pack, start_folder
from riskengine.web.app import create_app
from tests.factories import (
    PG_BIN,
    REDIS_SERVER,
    PrivatePostgres,
    PrivateRedis,
    count,
    one_line_failures,
    record,
    signup,
)

pytestmark = pytest.mark.timeout(120)
needs_postgresql = pytest.mark.skipif(PG_BIN is None, reason="no PostgreSQL server binaries under "
                                      "/usr/lib/postgresql/*/bin to start a private server with")
BUDGET_MS = 500


@pytest.fixture(scope="module")
def postgresql():
    server = PrivatePostgres()
    yield server
    server.close()


def served(url: str, tmp_path, budget_ms: int = BUDGET_MS, usage_budget_ms: int = 5000):
    """The real app on `url` (migrated), and an API key it has already verified and cached."""
    eng = storage.make_engine(url, 10_000)
    migrate.upgrade(eng)
    eng.dispose()
    app = create_app(Config(database_url=url, hash_key="test-hash-key-0123456789abcdef",
                            hash_key_file=str(tmp_path / "hash.key"), key_cache_seconds=600.0,
                            db_timeout_ms=budget_ms, usage_timeout_ms=usage_budget_ms))
    auth = {"Authorization": f"Bearer {create_key(app.extensions['riskengine'].db, tmp_path.name[-30:], None)}"}
    # The first calls pay for connecting and the first scoring: on a busy machine one can run
    # out of the budget. Warm until one is not degraded (the faults below need a healthy start).
    assert any(answer(app, auth, f"warm_{i}")[0]["degraded"] is False for i in range(5))
    return app, auth


def answer(app, auth, account: str) -> tuple[dict, float]:
    started = time.monotonic()
    resp = app.test_client().post("/v1/assess", json=signup(account), headers=auth)
    took = time.monotonic() - started
    assert resp.status_code == 200, resp.json
    return resp.json, took


def answers_while(app, auth, accounts: list[str], wait_s: float) -> list:
    """The answers to concurrent calls, or None for each call still unanswered after wait_s."""
    out: list = [None] * len(accounts)

    def call(i):
        out[i] = answer(app, auth, accounts[i])

    threads = [threading.Thread(target=call, args=(i,), daemon=True) for i in range(len(accounts))]
    for t in threads:
        t.start()
    until = time.monotonic() + wait_s
    for t in threads:
        t.join(max(0.0, until - time.monotonic()))
    return list(out)


def recovers(app, auth, within_s: float) -> bool:
    until = time.monotonic() + within_s
    while time.monotonic() < until:
        if answer(app, auth, "after")[0]["degraded"] is False:
            return True
        time.sleep(0.1)
    return False


@needs_postgresql
def test_a_frozen_postgresql_gives_degraded_answers_within_the_budget(postgresql, tmp_path):
    app, auth = served(postgresql.url, tmp_path)
    try:
        postgresql.freeze()
        try:
            # First on the pooled connection (its backend frozen mid-session), then on new
            # connections to a postmaster that accepts but never answers.
            got = [answers_while(app, auth, [f"frozen_{i}"], wait_s=8.0)[0] for i in range(3)]
        finally:
            postgresql.thaw()
        assert all(g is not None for g in got), "an answer waited for the frozen database"
        assert all(body["degraded"] is True for body, _ in got)
        assert all("degraded.database" in [r["code"] for r in body["reasons"]] for body, _ in got)
        assert max(took for _, took in got) < BUDGET_MS / 1000 + 1.0, [took for _, took in got]
        assert recovers(app, auth, within_s=10.0)
    finally:
        app.extensions["riskengine"].close()


@needs_postgresql
def test_a_stopped_postgresql_gives_degraded_answers_then_recovers(postgresql, tmp_path):
    app, auth = served(postgresql.url, tmp_path)
    try:
        postgresql.stop("immediate")
        try:
            got = [answers_while(app, auth, [f"stopped_{i}"], wait_s=8.0)[0] for i in range(3)]
        finally:
            postgresql.start()
        assert all(g is not None and g[0]["degraded"] is True for g in got), got
        assert max(took for _, took in got) < BUDGET_MS / 1000 + 1.0, [took for _, took in got]
        assert recovers(app, auth, within_s=10.0)
    finally:
        app.extensions["riskengine"].close()


def usage_while(app, auth, body: dict, wait_s: float):
    """(status, body, seconds) of one /v1/usage call, or None if still unanswered after wait_s."""
    out: list = [None]

    def call():
        started = time.monotonic()
        resp = app.test_client().post("/v1/usage", json=body, headers=auth)
        out[0] = (resp.status_code, resp.json, time.monotonic() - started)

    t = threading.Thread(target=call, daemon=True)
    t.start()
    t.join(wait_s)
    return out[0]


def stored_rows(app, account: str, batch_id: str) -> tuple[int, int]:
    with app.extensions["riskengine"].db.connect() as conn:
        return (conn.execute(text("SELECT COUNT(*) FROM usagerecord WHERE account_id = :a"), {"a": account}).scalar(),
                conn.execute(text("SELECT COUNT(*) FROM usagebatch WHERE batch_id = :b"), {"b": batch_id}).scalar())


@needs_postgresql
def test_a_frozen_postgresql_gives_usage_a_503_within_its_budget_and_stores_nothing(postgresql, tmp_path):
    usage_budget_ms = 1000
    app, auth = served(postgresql.url, tmp_path, usage_budget_ms=usage_budget_ms)
    body = {"batch_id": "frozen-batch-1", "records": [record(i, account_id="acct_frozen") for i in range(50)]}
    try:
        postgresql.freeze()
        try:
            got = [usage_while(app, auth, body, wait_s=8.0) for _ in range(2)]   # pooled, then new connections
        finally:
            postgresql.thaw()
        assert all(g is not None for g in got), "a /v1/usage call waited for the frozen database"
        for status, answer, _ in got:
            assert status == 503 and answer["error"]["code"] == "unavailable", answer
        assert max(took for _, _, took in got) < usage_budget_ms / 1000 + 1.0, [took for _, _, took in got]
        assert stored_rows(app, "acct_frozen", "frozen-batch-1") == (0, 0)      # nothing half-written
        status, answer, _ = usage_while(app, auth, body, wait_s=30.0)           # the retry, once it is back
        assert (status, answer["duplicate"]) == (202, False), answer
        assert stored_rows(app, "acct_frozen", "frozen-batch-1") == (50, 1)
    finally:
        app.extensions["riskengine"].close()


@needs_postgresql
def test_the_link_folder_backs_off_quietly_while_postgresql_is_frozen(postgresql, tmp_path, caplog):
    """Each failed round is one warning line without a traceback, the rounds come further apart,
    and the folder is not stuck in a wait: once thawed it folds what waited."""
    app, auth = served(postgresql.url, tmp_path)
    state = app.extensions["riskengine"]
    folder = LinkFolder(state.db, state.hasher, budget_s=0.3)
    caplog.set_level(logging.WARNING, logger="riskengine.usage.links")
    stop = start_folder(folder, every=0.05, longest=1.0)
    try:
        time.sleep(0.5)         # it has taken the folder's lock and folded a round
        with state.db.begin() as conn:
            row = ("acct_folded", 1.0, "198.51.100.9", None, None, None, 1, None, None, None, None)
            storage.insert_usage(conn, [row], pack([("acct_folded", "198.51.100.9", None, 1.0, 2.0)]), time.time())
        postgresql.freeze()
        try:
            time.sleep(3.0)
        finally:
            postgresql.thaw()
        one_line_failures(caplog, "riskengine.usage.links", ("folding usage links failed, retrying in about",), 1, 10)
        until = time.monotonic() + 15
        while time.monotonic() < until and count(app, "SELECT COUNT(*) FROM pendinglinks"):
            time.sleep(0.1)
        assert count(app, "SELECT COUNT(*) FROM pendinglinks") == 0
        assert count(app, "SELECT COUNT(*) FROM entitylink WHERE account_id = 'acct_folded'") == 2   # ip, subnet
    finally:
        stop.set()
        state.close()


HOLD_LOCK = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
conn.execute("INSERT INTO label (account_id, label, source, created_ts) VALUES ('x', 'fraud', 'analyst', 0)")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("ROLLBACK")
"""


def test_a_sqlite_file_locked_by_another_process_degrades_within_one_budget(tmp_path):
    """Four logins at once while another process holds the write lock. Each waited for this
    process's write gate and then for SQLite's busy handler, each wait the whole budget:
    about twice the budget for all but the first."""
    budget_ms = 1000
    path = tmp_path / "locked.db"
    app, auth = served(f"sqlite:///{path}", tmp_path, budget_ms)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        got = answers_while(app, auth, [f"locked_{i}" for i in range(4)], wait_s=10.0)
    finally:
        holder.communicate("\n", timeout=10)
    try:
        assert all(g is not None and g[0]["degraded"] is True for g in got), got
        assert max(took for _, took in got) < 1.5 * budget_ms / 1000, [took for _, took in got]
        assert answer(app, auth, "unlocked")[0]["degraded"] is False
    finally:
        app.extensions["riskengine"].close()


# ------------------------------------------------------------------ Redis down under load

class Logins:
    """`clients` threads assessing back to back; each call: (sent, took, status, body)."""

    def __init__(self, app, auth, clients: int = 3):
        self.calls: list[tuple[float, float, int, dict]] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._client, args=(app, auth, k), daemon=True) for k in range(clients)]
        for t in self.threads:
            t.start()

    def _client(self, app, auth, k: int) -> None:
        client, n = app.test_client(), 0
        while not self.stop.is_set():
            n += 1
            sent = time.monotonic()
            resp = client.post("/v1/assess", json=signup(f"redis_{k}_{n}"), headers=auth)
            self.calls.append((sent, time.monotonic() - sent, resp.status_code, resp.json))

    def since(self, t: float) -> list:
        return [c for c in list(self.calls) if c[0] >= t]

    def end(self) -> list:
        self.stop.set()
        for t in self.threads:
            t.join(30)
        return sorted(self.calls, key=lambda c: c[0])


@pytest.mark.skipif(REDIS_SERVER is None, reason="no redis-server to start a private one with")
@pytest.mark.parametrize("fault", ["stopped", "frozen"])
def test_logins_pass_uncounted_while_redis_is_down_and_are_counted_again_once_it_is_back(tmp_path, fault):
    """The shared rate-limit store fails under load (killed, or SIGSTOP: it accepts and never
    answers): no 5xx, no call waits on it, every login is answered and none is refused by the
    limit or marked degraded for it (the contract); once it is back the limit holds again."""
    redis = PrivateRedis()
    path = tmp_path / "redis.db"
    eng = storage.make_engine(f"sqlite:///{path}", 10_000)
    migrate.upgrade(eng)
    eng.dispose()
    app = create_app(Config(database_url=f"sqlite:///{path}", hash_key="test-hash-key-0123456789abcdef",
                            hash_key_file=str(tmp_path / "hash.key"), key_cache_seconds=600.0,
                            rate_limits="assess=10/second", redis_url=redis.url))
    auth = {"Authorization": f"Bearer {create_key(app.extensions['riskengine'].db, 'redis-fault', None)}"}
    load = Logins(app, auth)
    try:
        time.sleep(2.0)
        assert 429 in {c[2] for c in load.calls}, "the limit was never met: the test proves nothing"
        began = time.monotonic()
        redis.stop() if fault == "stopped" else redis.freeze()
        time.sleep(3.0)
        redis.start() if fault == "stopped" else redis.thaw()
        ended = time.monotonic()
        until = ended + 20
        while 429 not in {c[2] for c in load.since(ended)} and time.monotonic() < until:
            time.sleep(0.1)
        calls = load.end()
    finally:
        load.stop.set()
        app.extensions["riskengine"].close()
        redis.close()
    assert all(c[2] in (200, 429) for c in calls), {c[2] for c in calls}          # never a 5xx
    assert max(c[1] for c in calls) < 5.0, max(c[1] for c in calls)              # sanity bound: nothing hung
    # Once the first failure tripped the breaker (the first call after `began`), logins pass uncounted.
    down = [c for c in calls if began + 0.5 <= c[0] and c[0] + c[1] < ended]
    assert down and all(c[2] == 200 for c in down), {c[2] for c in down}
    for _, _, _, body in down:
        codes = {r["code"] for r in body["reasons"]}
        assert not body["degraded"] or any(code.startswith("degraded.database") for code in codes), codes
    assert 429 in {c[2] for c in calls if c[0] >= ended}, "the limit did not hold again once Redis was back"


def test_a_locked_sqlite_file_gives_usage_a_503_within_its_budget_and_stores_nothing(tmp_path):
    """/v1/usage waited up to 10 s for the write gate whatever the request's budget: now the
    gate, the busy handler and every read come out of RISKENGINE_USAGE_TIMEOUT_MS."""
    usage_budget_ms = 800
    path = tmp_path / "locked.db"
    app, auth = served(f"sqlite:///{path}", tmp_path, usage_budget_ms=usage_budget_ms)
    body = {"batch_id": "locked-batch-1", "records": [record(i, account_id="acct_locked") for i in range(50)]}
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        got = usage_while(app, auth, body, wait_s=10.0)
    finally:
        holder.communicate("\n", timeout=10)
    try:
        assert got is not None, "a /v1/usage call waited on the lock past any bound"
        status, answer, took = got
        assert status == 503 and answer["error"]["code"] == "unavailable", answer
        assert took < 2 * usage_budget_ms / 1000, took          # sanity bound; it waited 10 s before
        assert stored_rows(app, "acct_locked", "locked-batch-1") == (0, 0)
        assert usage_while(app, auth, body, wait_s=30.0)[0] == 202
    finally:
        app.extensions["riskengine"].close()
