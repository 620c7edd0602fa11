"""Served for real: `riskengine serve` processes (gunicorn, several workers) on one database.

Eight writers with every other event sent twice at once; two replicas on one PostgreSQL database
sharing idempotency, rate limits (Redis) and revocation. Slow: each starts server processes."""
from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
import zlib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from click.testing import CliRunner
from sqlalchemy import text

from riskengine import storage
from riskengine.cli import main
from riskengine.storage import migrate
from tests.conftest import MAXMIND
from tests.factories import BIN, free_port, record, signup

REDIS_URL = "redis://127.0.0.1:6379/0"


def call(base, path, secret, body=None, timeout=15.0):
    """(status, json body, headers) of one request; HTTP errors are answers, not exceptions."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"{base}{path}", data=data, headers={
        "Authorization": f"Bearer {secret}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.load(r), r.headers
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null"), e.headers


class Served:
    def __init__(self, env: dict, workers: int = 2):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([str(BIN), "serve", "--port", str(self.port), "--workers", str(workers),
                                      "--threads", "4"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def wait_ready(self):
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{self.base}/readyz", timeout=2) as r:
                    if json.load(r)["ready"]:
                        return
            except OSError:
                pass
            assert self.proc.poll() is None, self.proc.stdout.read().decode()
            assert time.monotonic() < deadline, "server did not become ready"
            time.sleep(0.2)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


@pytest.fixture
def db_url(db_url, tmp_path):
    """On SQLite a file of this module's own: served writers stay off the session's file (as the
    kill -9 test does; see the stop-16 note on a corruption of the shared file not yet explained)."""
    if not db_url.startswith("sqlite"):
        return db_url
    url = f"sqlite:///{tmp_path / 'replicas.db'}"
    engine = storage.make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture
def served_env(db_url, tmp_path, monkeypatch):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISKENGINE_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update({"RISKENGINE_DATABASE_URL": db_url, "RISKENGINE_HASH_KEY_FILE": str(tmp_path / "k.key"),
                "RISKENGINE_GEOIP_CITY": str(MAXMIND / "GeoIP2-City-Test.mmdb"),
                "RISKENGINE_USAGE_FOLD_SECONDS": "0.2"})
    monkeypatch.setenv("RISKENGINE_DATABASE_URL", db_url)
    monkeypatch.setenv("RISKENGINE_HASH_KEY_FILE", str(tmp_path / "k.key"))
    return env


def new_key(name: str) -> str:
    out = CliRunner().invoke(main, ["keys", "create", name])
    assert out.exit_code == 0, out.output
    return out.output.strip()


def writers_run(bases: list[str], secret: str, seconds: float, writers: int = 8):
    """`writers` threads for `seconds`, round-robin over `bases`: each sends events, every other one
    twice at once (two requests in flight with one event_id). Returns (event ids sent, statuses,
    assessment id per event id as answered)."""
    stop = time.monotonic() + seconds
    statuses: Counter = Counter()
    answered: dict[str, set] = {}
    durable: set[str] = set()       # events with an answer that is not degraded: it must be stored
    lock = threading.Lock()
    twin_pool = ThreadPoolExecutor(writers * 2)

    def one(base, body):
        status, out, _ = call(base, "/v1/assess", secret, body)
        with lock:
            statuses[status] += 1
            if status == 200:
                ids = answered.setdefault(body["event_id"], set())
                if not out["degraded"]:          # a degraded answer carries an id that was never stored
                    ids.add(out["assessment_id"])
                    durable.add(body["event_id"])

    def writer(w):
        n = 0
        while time.monotonic() < stop:
            body = signup(f"acct_{w}_{n % 50}", event_id=f"ev-{w}-{n}")
            base = bases[n % len(bases)]
            if n % 2:
                twins = [twin_pool.submit(one, base, body), twin_pool.submit(one, bases[(n + 1) % len(bases)], body)]
                for f in twins:
                    f.result()
            else:
                one(base, body)
            n += 1
        return n
    with ThreadPoolExecutor(writers) as pool:
        sent = sum(pool.map(writer, range(writers)))
    twin_pool.shutdown()
    answered["__durable__"] = durable
    return sent, statuses, answered


def assert_no_lost_or_duplicated(db_url, sent, statuses, answered):
    """A degraded answer (the write budget ran out under contention) says so and promises no
    write; every answer that is not degraded must be stored, and nothing twice."""
    durable = answered.pop("__durable__")
    assert not [s for s in statuses if s >= 500], statuses
    assert set(statuses) == {200}, statuses
    assert len(answered) == sent and all(len(ids) <= 1 for ids in answered.values())   # twins got one answer
    db = storage.make_engine(db_url)
    with db.connect() as conn:
        rows = conn.execute(text("SELECT event_id FROM assessment WHERE event_id LIKE 'ev-%'")).scalars().all()
    db.dispose()
    assert len(rows) == len(set(rows))                  # nothing stored twice
    assert durable <= set(rows) <= set(answered)        # nothing acknowledged lost, nothing invented
    assert len(durable) > sent // 2, (len(durable), sent)


def test_eight_writers_with_twin_events_lose_and_duplicate_nothing(served_env, db_url):
    secret = new_key("writers")
    server = Served(served_env)
    try:
        server.wait_ready()
        sent, statuses, answered = writers_run([server.base], secret, seconds=10)
    finally:
        server.stop()
    assert sent > 100
    assert_no_lost_or_duplicated(db_url, sent, statuses, answered)


@pytest.fixture
def redis_prefix():
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=0.5, socket_connect_timeout=0.5)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip("no Redis at 127.0.0.1:6379")
    prefix = f"rk-test-{uuid.uuid4()}"
    yield prefix
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)


def test_two_replicas_on_one_postgresql(served_env, db_url):
    if not db_url.startswith("postgresql"):
        pytest.skip("several replicas share one PostgreSQL database (RISKENGINE_TEST_DATABASE_URL)")
    store = redis.Redis.from_url(REDIS_URL, socket_timeout=0.5, socket_connect_timeout=0.5)
    try:
        store.ping()
    except redis.RedisError:
        pytest.skip("no Redis at 127.0.0.1:6379")
    name = f"rk-test-{uuid.uuid4()}"       # rate-limit keys in Redis carry the key's name: unique to this test
    secret = new_key(name)
    env = {**served_env, "RISKENGINE_REDIS_URL": REDIS_URL, "RISKENGINE_RATE_LIMITS": "read=20/minute"}
    replicas = [Served(env), Served(env)]
    try:
        for r in replicas:
            r.wait_ready()
        bases = [r.base for r in replicas]
        # first, while the machine is quiet: a Redis answer slowed past its 20 ms timeout by the
        # writers' load opens the breaker, and requests then pass uncounted for 5 s (by design)
        _shared_rate_limit(bases, secret)
        _writes_across(db_url, bases, secret)
        _batches_across(db_url, bases, secret)
        _one_folder_at_a_time(db_url)
        _revocation_seen_by_both(bases, secret, name)
    finally:
        for r in replicas:
            r.stop()
        for key in store.scan_iter(f"*{name}*"):
            store.delete(key)


def _writes_across(db_url, bases, secret):
    sent, statuses, answered = writers_run(bases, secret, seconds=6)
    assert_no_lost_or_duplicated(db_url, sent, statuses, answered)


def _batches_across(db_url, bases, secret):
    body = {"batch_id": "across-1", "records": [record(i) for i in range(200)]}
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda b: call(b, "/v1/usage", secret, body), bases * 2))
    assert [a[0] for a in answers] == [202] * 4
    assert sorted(a[1]["duplicate"] for a in answers) == [False, True, True, True]
    db = storage.make_engine(db_url)
    with db.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM usagerecord")).scalar_one() == 200
    db.dispose()
    assert call(bases[1], "/v1/usage", secret, {**body, "records": body["records"][:5]})[0] == 409


def _shared_rate_limit(bases, secret):
    codes = [call(bases[i % 2], "/v1/accounts/nobody", secret)[0] for i in range(30)]
    assert Counter(codes) == {404: 20, 429: 10}       # one limit of 20 across both replicas' four workers


def _one_folder_at_a_time(db_url):
    db = storage.make_engine(db_url)
    deadline = time.monotonic() + 30
    with db.connect() as conn:
        while conn.execute(text("SELECT COUNT(*) FROM pendinglinks")).scalar_one():
            assert time.monotonic() < deadline, "the usage links were never folded"
            time.sleep(0.2)
        holders = conn.execute(text(
            "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid = :k "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"),
            {"k": zlib.crc32(b"riskengine.folder")}).scalar_one()
        linked = conn.execute(text("SELECT COUNT(*) FROM entitylink WHERE kind = 'device' AND account_id IN "
                                   "('acct_0', 'acct_1', 'acct_2', 'acct_3', 'acct_4', 'acct_5', 'acct_6')"
                                   )).scalar_one()
    db.dispose()
    assert holders == 1           # four workers on two replicas: one holds the folder's lock
    assert linked == 7          # record(i): seven accounts on one device, each linked once


def _revocation_seen_by_both(bases, secret, name):
    for base in bases * 4:
        assert call(base, "/v1/assess", secret, signup("warm"))[0] == 200     # every worker caches the key
    assert CliRunner().invoke(main, ["keys", "revoke", name]).exit_code == 0
    revoked = time.monotonic()
    first_refusal = []
    for base in bases:
        while call(base, "/v1/assess", secret, signup("warm"))[0] != 401:
            assert time.monotonic() - revoked < 5
        first_refusal.append(time.monotonic() - revoked)
    time.sleep(max(0.0, 1.0 - (time.monotonic() - revoked)))
    # a second after the command returned, every worker of both replicas refuses it
    assert [call(b, "/v1/assess", secret, signup("warm"))[0] for b in bases * 8] == [401] * 16
    assert max(first_refusal) < 1.0
