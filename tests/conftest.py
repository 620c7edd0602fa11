"""Shared fixtures: a real database (SQLite by default, PostgreSQL when
RISKENGINE_TEST_DATABASE_URL names one), the real app, the real MaxMind test files."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from riskengine import storage
from riskengine.apikeys import create_key
from riskengine.config import Config
from riskengine.storage import migrate
from riskengine.web.app import create_app
from tests.factories import USER_IPS, StubServer, farm_signup, legit_signup, usage

DATA = Path(__file__).parent / "data"
MAXMIND = DATA / "maxmind"
TABLES = ("consolesession", "consoleuser", "auditentry", "policyversion",
          "challengeoutcome", "label", "entitylink", "assessment", "account", "apikey", "usagerecord", "pendinglinks",
          "usagebatch",
          "rescorerun", "accountcontext", "networkcontext")


def _reset_schema(url: str) -> None:
    eng = storage.make_engine(url, 10_000)
    with eng.begin() as conn:
        if eng.dialect.name == "postgresql":
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    eng.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    url = os.environ.get("RISKENGINE_TEST_DATABASE_URL")
    if not url:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    _reset_schema(url)
    eng = storage.make_engine(url, 10_000)
    migrate.upgrade(eng)
    eng.dispose()
    return url


@pytest.fixture
def db_url(database_url):
    """The session's migrated database, emptied before each test."""
    eng = storage.make_engine(database_url, 10_000)
    with eng.begin() as conn:
        for table in TABLES:
            conn.execute(text(f"DELETE FROM {table}"))
    eng.dispose()
    return database_url


@pytest.fixture
def config(db_url, tmp_path) -> Config:
    return Config(database_url=db_url, hash_key="test-hash-key-0123456789abcdef",
                  geoip_city=str(MAXMIND / "GeoIP2-City-Test.mmdb"),
                  geoip_asn=str(MAXMIND / "GeoLite2-ASN-Test.mmdb"),
                  geoip_anonymous=str(MAXMIND / "GeoIP2-Anonymous-IP-Test.mmdb"),
                  hash_key_file=str(tmp_path / "hash.key"), key_cache_seconds=0.0,
                  # A functional test must not turn degraded because the machine is busy: the
                  # budget's own behaviour is tested with small budgets set where it is tested.
                  db_timeout_ms=5000)


@pytest.fixture
def app(config):
    app = create_app(config)
    yield app
    app.extensions["riskengine"].close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def api_key(app) -> str:
    return create_key(app.extensions["riskengine"].db, "test", None)


@pytest.fixture
def auth(api_key) -> dict:
    return {"Authorization": f"Bearer {api_key}"}


# Slow: tests that start processes (gunicorn, the demo, the real `riskengine` binary, a pip
# build), a Dask cluster, or train a model. `pytest -m "not slow"` runs the rest in about a
# minute; `-m "not slow and not db"` only the pure ones, without a database.
SLOW_MODULES = {"test_cli.py", "test_demo.py", "test_packaging.py", "test_assess_model.py", "test_server.py",
                "test_replicas.py", "test_faults.py", "test_kill.py"}
SLOW_TESTS = {"test_dask_gives_the_same_scores_as_one_process", "test_scheduler_script_runs_the_same_job",
              "test_scale_smoke_one_million_accounts", "test_keys_list_names_every_bad_setting",
              "test_serve_and_rescore_refuse_a_bad_setting_in_one_line"}


@pytest.fixture
def empty_db(tmp_path):
    """A database of its own (a schema of its own on PostgreSQL), so revisions can move."""
    url = os.environ.get("RISKENGINE_TEST_DATABASE_URL")
    if not url:
        eng = storage.make_engine(f"sqlite:///{tmp_path / 'migration.db'}", 10_000)
        yield eng
        eng.dispose()
        return
    admin = storage.make_engine(url, 10_000)
    with admin.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS migration_test CASCADE"))
        conn.execute(text("CREATE SCHEMA migration_test"))
    eng = create_engine(url.replace("postgresql://", "postgresql+psycopg://"),
                        connect_args={"options": "-c search_path=migration_test"})
    yield eng
    eng.dispose()
    with admin.begin() as conn:
        conn.execute(text("DROP SCHEMA migration_test CASCADE"))
    admin.dispose()


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in SLOW_MODULES or item.originalname in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)
        if "database_url" in item.fixturenames:
            item.add_marker(pytest.mark.db)


@pytest.fixture
def world(client, auth):
    """Six farm accounts sharing a card, device and prompt template; six ordinary users."""
    for i in range(6):
        assert client.post("/v1/assess", json=farm_signup(i), headers=auth).status_code == 200
        assert client.post("/v1/assess", json=legit_signup(i), headers=auth).status_code == 200
    records = []
    for i in range(6):
        records += usage(f"farm_{i}", 200, 40, 600, lambda k, i=i: f"{0x9f3ac1d2e4b5a690 + (k % 4):016x}", True)
        records += usage(f"user_{i}", 20, 60, 5400 + 611 * i,
                         lambda k, i=i: hashlib.sha256(f"{i}-{k}".encode()).hexdigest()[:16], False,
                         ip=USER_IPS[i])
    assert client.post("/v1/usage", json={"records": records}, headers=auth).status_code == 202
    assert client.post("/v1/labels", json={"account_id": "farm_0", "label": "fraud", "source": "analyst"},
                       headers=auth).status_code == 201
    return records


@pytest.fixture
def stub_server():
    """Start StubServer(answer) as often as a test needs: stub_server(answer), or
    stub_server(status, body) for a fixed answer. All are closed when the test ends."""
    servers: list[StubServer] = []

    def start(answer, body=None) -> StubServer:
        fixed = answer
        servers.append(StubServer(answer if callable(answer) else lambda _request: (fixed, body)))
        return servers[-1]

    yield start
    for s in servers:
        s.close()
