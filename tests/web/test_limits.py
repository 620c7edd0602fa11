"""Key revocation, outage trust, rate limits (in process and through Redis) and idempotent usage batches."""
from __future__ import annotations

import socket
import threading
import time
import uuid
from dataclasses import replace

import pytest
import redis

from riskengine import storage
from riskengine.apikeys import create_key
from tests.factories import count, free_port, record, signup

REDIS_URL = "redis://127.0.0.1:6379/0"


def _redis_or_skip() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=0.5, socket_connect_timeout=0.5)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip("no Redis at 127.0.0.1:6379")
    return client


@pytest.fixture
def redis_prefix():
    client = _redis_or_skip()
    prefix = f"rk-test-{uuid.uuid4()}"
    yield prefix
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)


def make_app(config, **settings):
    from riskengine.web.app import create_app
    extra = {"rate_limit_prefix": settings.pop("prefix")} if "prefix" in settings else {}
    return create_app(replace(config, **settings, extra=extra))


def test_lowercase_bearer_scheme_is_accepted(client, api_key):
    for scheme in ("bearer", "BEARER", "Bearer"):
        resp = client.post("/v1/assess", json=signup(), headers={"Authorization": f"{scheme} {api_key}"})
        assert resp.status_code == 200, scheme
    assert client.post("/v1/assess", json=signup(), headers={"Authorization": f"Basic {api_key}"}).status_code == 401


def test_revoked_key_is_refused_by_two_apps_within_a_second(config):
    one, two = make_app(config, key_cache_seconds=0.5), make_app(config, key_cache_seconds=0.5)
    secret = create_key(one.extensions["riskengine"].db, "soon-revoked", None)
    auth = {"Authorization": f"Bearer {secret}"}
    clients = [one.test_client(), two.test_client()]
    for c in clients:
        assert c.get("/v1/accounts/nobody", headers=auth).status_code == 404      # key verified and cached
    with one.extensions["riskengine"].db.begin() as conn:
        assert storage.revoke_key(conn, "soon-revoked", time.time())
    revoked_at = time.monotonic()
    refused_after = []
    for c in clients:
        while c.get("/v1/accounts/nobody", headers=auth).status_code != 401:
            assert time.monotonic() - revoked_at < 5
            time.sleep(0.01)
        refused_after.append(time.monotonic() - revoked_at)
    assert max(refused_after) < 1.0
    for app in (one, two):
        app.extensions["riskengine"].close()


def test_cached_key_works_through_an_outage_only_for_the_outage_window(config):
    app = make_app(config, key_cache_seconds=0.0, key_outage_seconds=1.0)
    client = app.test_client()
    state = app.extensions["riskengine"]
    auth = {"Authorization": f"Bearer {create_key(state.db, 'k', None)}"}
    assert client.get("/v1/accounts/nobody", headers=auth).status_code == 404
    good_db = state.db
    state.db = storage.make_engine("postgresql://nobody@127.0.0.1:1/none", 300)     # nothing listens there
    checked = time.monotonic()
    first = client.get("/v1/accounts/nobody", headers=auth)
    # within the window the key is trusted (the route itself then finds no database: 503, not 401)
    assert first.status_code == 503 and first.json["error"]["message"].startswith("the database")
    while time.monotonic() - checked < 1.2:
        time.sleep(0.1)
    late = client.get("/v1/accounts/nobody", headers=auth)
    assert late.status_code == 503 and late.json["error"]["message"].startswith("cannot verify the API key")
    state.db = good_db
    state.close()


def test_a_key_seen_revoked_never_works_again(config):
    app = make_app(config, key_cache_seconds=0.0)
    client = app.test_client()
    state = app.extensions["riskengine"]
    auth = {"Authorization": f"Bearer {create_key(state.db, 'k', None)}"}
    with state.db.begin() as conn:
        storage.revoke_key(conn, "k", time.time())
    assert client.get("/v1/accounts/nobody", headers=auth).status_code == 401
    good_db = state.db
    state.db = storage.make_engine("postgresql://nobody@127.0.0.1:1/none", 300)
    assert client.get("/v1/accounts/nobody", headers=auth).status_code == 401        # not 503, not trusted
    state.db = good_db
    state.close()


def _reads_until_429(client, auth, n):
    codes = [client.get("/v1/accounts/nobody", headers=auth) for _ in range(n)]
    return [r.status_code for r in codes], codes


def test_over_the_limit_gives_429_with_rate_limit_headers(config):
    app = make_app(config, rate_limits="read=5/minute")
    client = app.test_client()
    auth = {"Authorization": f"Bearer {create_key(app.extensions['riskengine'].db, 'k', None)}"}
    codes, resps = _reads_until_429(client, auth, 7)
    assert codes == [404] * 5 + [429] * 2
    limited = resps[-1]
    assert limited.json["error"]["code"] == "rate_limited"
    assert limited.headers["RateLimit-Limit"] == "5" and limited.headers["RateLimit-Remaining"] == "0"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.headers["RateLimit-Reset"] == limited.headers["Retry-After"]
    # per route group: assessing is counted apart from reading
    assert client.post("/v1/assess", json=signup(), headers=auth).status_code == 200
    app.extensions["riskengine"].close()


def test_two_apps_share_one_limit_through_redis(config, redis_prefix):
    apps = [make_app(config, rate_limits="read=6/minute", redis_url=REDIS_URL, prefix=redis_prefix) for _ in range(2)]
    auth = {"Authorization": f"Bearer {create_key(apps[0].extensions['riskengine'].db, 'k', None)}"}
    clients = [a.test_client() for a in apps]
    codes = [clients[i % 2].get("/v1/accounts/nobody", headers=auth).status_code for i in range(10)]
    assert codes == [404] * 6 + [429] * 4          # 3 each would pass a per-process limit of 6
    for a in apps:
        a.extensions["riskengine"].close()


def _silent_server() -> tuple[socket.socket, int]:
    """A port that accepts connections (the kernel's backlog) and never answers: a hung Redis."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    return sock, sock.getsockname()[1]


@pytest.mark.parametrize("hung", [False, True], ids=["closed-port", "never-answers"])
def test_a_failing_redis_never_fails_or_slows_a_request(config, hung):
    silent, port = _silent_server() if hung else (None, free_port())
    app = make_app(config, rate_limits="assess=1/minute", redis_url=f"redis://127.0.0.1:{port}/0")
    client = app.test_client()
    auth = {"Authorization": f"Bearer {create_key(app.extensions['riskengine'].db, 'k', None)}"}
    client.post("/v1/assess", json=signup("warm"), headers=auth)
    took = []
    for i in range(5):
        started = time.perf_counter()
        resp = client.post("/v1/assess", json=signup(f"acct_{i}"), headers=auth)
        took.append(time.perf_counter() - started)
        assert resp.status_code == 200 and resp.json["degraded"] is False
    assert app.extensions["riskengine.limits"].is_open()          # the breaker stopped asking Redis
    app.extensions["riskengine"].close()
    if silent is not None:
        silent.close()


# ------------------------------------------------------------------ batch_id

def _usage(client, auth, body):
    return client.post("/v1/usage", json=body, headers=auth)


def test_same_batch_id_and_body_is_stored_once(client, app, auth):
    body = {"batch_id": "b-1", "records": [record(i) for i in range(5)]}
    first, again = _usage(client, auth, body), _usage(client, auth, body)
    assert first.status_code == again.status_code == 202
    assert first.json == {"accepted": 5, "batch_id": "b-1", "duplicate": False}
    assert again.json == {"accepted": 5, "batch_id": "b-1", "duplicate": True}
    assert count(app, "SELECT COUNT(*) FROM usagerecord") == 5
    doc = client.get("/openapi.json").json["components"]["schemas"]
    batch_id = doc["UsageBatch"]["properties"]["batch_id"]["anyOf"]
    assert any(s.get("type") == "string" and (s["minLength"], s["maxLength"]) == (1, 128) for s in batch_id)
    assert {"batch_id", "duplicate"} <= set(doc["UsageAccepted"]["properties"])


def test_same_batch_id_with_another_body_is_a_conflict(client, app, auth):
    assert _usage(client, auth, {"batch_id": "b-2", "records": [record(1)]}).status_code == 202
    resp = _usage(client, auth, {"batch_id": "b-2", "records": [record(2)]})
    assert resp.status_code == 409 and resp.json["error"]["code"] == "conflict"
    assert resp.json["error"]["field"] == "batch_id"
    assert count(app, "SELECT COUNT(*) FROM usagerecord") == 1


@pytest.mark.parametrize("batch_id", ["", "x" * 129])
def test_batch_id_length_is_checked(client, auth, batch_id):
    resp = _usage(client, auth, {"batch_id": batch_id, "records": [record(1)]})
    assert resp.status_code == 422 and resp.json["error"]["field"] == "batch_id"


def test_concurrent_twins_store_one_batch(app, auth):
    body = {"batch_id": "b-twins", "records": [record(i) for i in range(50)]}
    answers: list = []

    def send():
        answers.append(app.test_client().post("/v1/usage", json=body, headers=auth))
    threads = [threading.Thread(target=send) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status_code for r in answers] == [202] * 6
    assert sorted(r.json["duplicate"] for r in answers) == [False] + [True] * 5
    assert count(app, "SELECT COUNT(*) FROM usagerecord") == 50


def test_rate_limits_from_the_policy_file_and_the_environment_over_it(config, tmp_path):
    from riskengine.config import DEFAULT_POLICY
    from riskengine.scoring.policy import Policy, PolicyError
    policy = tmp_path / "policy.toml"
    policy.write_text(DEFAULT_POLICY.read_text() + '\n[rate_limits]\nread = "2/minute"\n')
    for settings, passed in (({}, 2), ({"rate_limits": "read=3/minute"}, 3)):
        app = make_app(config, policy_path=str(policy), **settings)
        auth = {"Authorization": f"Bearer {create_key(app.extensions['riskengine'].db, f'k{passed}', None)}"}
        codes, _ = _reads_until_429(app.test_client(), auth, 4)
        assert codes == [404] * passed + [429] * (4 - passed)
        app.extensions["riskengine"].close()
    with pytest.raises(PolicyError, match="rate_limits: '2/fortnight' for read"):
        Policy.parse({"version": "x", "rate_limits": {"read": "2/fortnight"}})
