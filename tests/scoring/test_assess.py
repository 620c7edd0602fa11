"""The assessment pipeline end to end: history windows, login signals, policy, degraded paths."""
from __future__ import annotations

import sqlite3
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from riskengine.apikeys import create_key
from riskengine.runtime import Runtime
from riskengine.scoring.policy import Policy
from riskengine.web.app import create_app
from tests.factories import signup

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def at(delta: timedelta) -> str:
    return (T0 + delta).isoformat().replace("+00:00", "Z")


def login(account_id, ip="2.125.160.216", device="dv_1", outcome="success", when=timedelta(0), **over):
    body = signup(account_id, event="login", occurred_at=at(when), ip=ip,
                  login={"outcome": outcome, "method": "password"})
    body["device"]["id"] = device
    body.update(over)
    return body


def post(client, auth, body):
    resp = client.post("/v1/assess", json=body, headers=auth)
    assert resp.status_code == 200, resp.json
    return resp.json


def test_sharing_counts_follow_the_event_time_not_the_clock(client, auth):
    for i in range(3):
        body = signup(f"acct_{i}", occurred_at=at(timedelta(hours=i * 30)))
        body["account"]["email"] = f"user{i}@example.com"
        body["account"]["phone"] = None
        last = post(client, auth, body)
    device = last["signals"]["velocity"]["device"]
    # acct_0 at 0h, acct_1 at 30h, acct_2 at 60h: one other account within 24h... no, 30h apart.
    assert device == {"1h": 0, "24h": 0, "7d": 2, "30d": 2}
    replay = signup("acct_old", occurred_at=at(timedelta(hours=-1)))
    replay["account"]["email"] = "old@example.com"
    replay["account"]["phone"] = None
    # Replaying an event from before all others sees none of them: they had not happened yet.
    assert post(client, auth, replay)["signals"]["velocity"]["device"]["30d"] == 0


def test_gmail_variants_link_through_the_mailbox(client, auth):
    a = signup("acct_a")
    a["account"]["email"] = "jane.doe@gmail.com"
    b = signup("acct_b", ip="216.160.83.56")
    b["account"]["email"] = "J.A.N.E.D.O.E+promo@googlemail.com"
    b["device"] = {"id": "dv_other"}
    post(client, auth, a)
    out = post(client, auth, b)
    assert out["signals"]["email"]["alias_folded"] is True
    assert out["signals"]["velocity"]["mailbox"]["1h"] == 1
    assert out["signals"]["links"]["linked_accounts"] == 1


def test_login_signals_new_device_country_travel_and_spray(client, auth):
    post(client, auth, signup("acct_1", occurred_at=at(timedelta(0))))
    same = post(client, auth, login("acct_1", when=timedelta(hours=1)))
    assert same["signals"]["velocity"]["new_device"] is False
    assert same["signals"]["velocity"]["new_country"] is False
    # 89.160.20.112 is in Linkoping, Sweden in the City test database: ~1,400 km in 10 minutes.
    far = post(client, auth, login("acct_1", ip="89.160.20.112", device="dv_new", when=timedelta(hours=1, minutes=10)))
    v = far["signals"]["velocity"]
    assert v["new_device"] is True and v["new_country"] is True
    assert v["travel_kmh"] > 900
    for i in range(25):
        post(client, auth, signup(f"victim_{i}", occurred_at=at(timedelta(minutes=i)),
                                  account={"id": f"victim_{i}"}, device=None))
    for i in range(25):
        out = post(client, auth, login(f"victim_{i}", ip="203.0.113.9", device=f"bot_{i}", outcome="failure",
                                       when=timedelta(hours=2, seconds=i)))
    v = out["signals"]["velocity"]
    assert v["failed_logins_ip_1h"] == 24 and v["accounts_failed_from_ip_1h"] == 24
    assert out["decision"] in ("challenge", "block")
    # The rule fired; whether it or the model decided depends on which is stricter.
    assert "rule.password_spray_source" in {r["code"] for r in out["reasons"]}


def test_deny_and_allow_lists_restricted_regions_and_monitor_mode(config, db_url):
    policy = Policy.load()
    policy.deny = type(policy.deny).parse({"domains": ["farm.example"]}, "deny")
    policy.allow = type(policy.allow).parse({"accounts": ["vip"]}, "allow")
    engine = Runtime.build(config)
    engine.policy = policy
    app = create_app(config, runtime=engine)
    client = app.test_client()
    auth = {"Authorization": f"Bearer {create_key(engine.db, 'k', None)}"}
    denied = signup("acct_x")
    denied["account"]["email"] = "bot@mx.farm.example"
    out = post(client, auth, denied)
    assert out["decision"] == "block" and out["decided_by"] == "list:deny_domains"
    vip = signup("vip")
    vip["account"]["email"] = "bot@farm.example"
    assert post(client, auth, vip)["decided_by"] == "list:allow_accounts"
    restricted = signup("acct_r")
    restricted["account"]["phone"] = "+989121234567"     # an Iranian mobile number
    out = post(client, auth, restricted)
    assert out["decided_by"] == "rule:restricted_region" and out["decision"] in ("challenge", "block")
    assert out["challenge"]
    policy.mode = "monitor"
    out = post(client, auth, {**denied, "account": {**denied["account"], "id": "acct_y"}})
    assert out["decision"] == "allow" and out["monitored_decision"] == "block"
    engine.close()


def test_locked_database_gives_a_bounded_degraded_answer(config, db_url, tmp_path):
    if not db_url.startswith("sqlite"):
        pytest.skip("SQLite lock test; the PostgreSQL outage test covers the other backend")
    config = replace(config, db_timeout_ms=200)
    app = create_app(config)
    client = app.test_client()
    auth = {"Authorization": f"Bearer {create_key(app.extensions['riskengine'].db, 'k', None)}"}
    assert post(client, auth, signup("warm"))["degraded"] is False        # caches the key
    holder = sqlite3.connect(db_url.removeprefix("sqlite:///"))
    holder.execute("BEGIN EXCLUSIVE")            # another process holds the write lock
    try:
        started = time.perf_counter()
        out = post(client, auth, signup("acct_1"))
        elapsed = time.perf_counter() - started
        login_out = post(client, auth, login("acct_1", when=timedelta(0), occurred_at=None))
    finally:
        holder.rollback()
        holder.close()
    assert out["degraded"] is True and out["decided_by"] == "fail_closed" and out["decision"] == "challenge"
    assert login_out["degraded"] is True and login_out["decided_by"] == "fail_open"
    assert login_out["decision"] == "allow"
    assert any(r["code"] == "degraded.database" for r in out["reasons"])
    assert elapsed < 5        # bounded by db_timeout_ms, not hanging (loose: the machine is shared)
    app.extensions["riskengine"].close()


def test_unreachable_database_degrades_with_cached_key(config, db_url):
    app = create_app(config)
    client = app.test_client()
    state = app.extensions["riskengine"]
    auth = {"Authorization": f"Bearer {create_key(state.db, 'k', None)}"}
    post(client, auth, signup("warm"))
    from riskengine import storage
    state.db = storage.make_engine("postgresql://nobody@127.0.0.1:1/none", 300)   # nothing listens there
    out = post(client, auth, login("acct_1", occurred_at=None))
    assert out["degraded"] is True and out["decision"] == "allow" and out["decided_by"] == "fail_open"
    assert out["signals"]["velocity"] is None
    assert client.get("/readyz").status_code == 503


def test_corrupt_geoip_file_degrades_not_crashes(config, tmp_path):
    broken = tmp_path / "broken.mmdb"
    broken.write_bytes(b"this is not a maxmind database" * 100)
    app = create_app(replace(config, geoip_anonymous=str(broken)))
    client = app.test_client()
    auth = {"Authorization": f"Bearer {create_key(app.extensions['riskengine'].db, 'k', None)}"}
    out = post(client, auth, signup())
    assert out["degraded"] is True and out["decided_by"] == "fail_closed"
    assert out["signals"]["ip"]["country"] is None        # no guessed geo signals
    ready = client.get("/readyz")
    assert ready.status_code == 503 and "GeoIP" in ready.json["problems"][0]
    app.extensions["riskengine"].close()


def test_optional_deliverability_check_is_bounded(config):
    # Nothing answers DNS on this port: the check gives up within its budget and says null.
    app = create_app(replace(config, email_dns_timeout_ms=300, email_dns_server="127.0.0.1:9"))
    client = app.test_client()
    auth = {"Authorization": f"Bearer {create_key(app.extensions['riskengine'].db, 'k', None)}"}
    started = time.perf_counter()
    out = post(client, auth, signup())
    assert time.perf_counter() - started < 5
    assert out["signals"]["email"]["deliverable"] is None and out["degraded"] is False
    plain = create_app(config).test_client()
    assert "deliverable" not in post(plain, auth, signup("acct_2"))["signals"]["email"]   # off by default
    app.extensions["riskengine"].close()


def test_twin_whose_lookup_runs_out_of_budget_answers_degraded_not_503(client, auth, monkeypatch):
    """Two calls with one event_id: the loser's insert hits the unique key (a real IntegrityError),
    and if looking up the winner's stored answer then fails, it answers degraded (no write
    promised), never a 503 (seen twice in 157 answers across two replicas under load)."""
    from sqlalchemy.exc import OperationalError

    from riskengine import storage
    body = signup("twin", event_id="ev-twin")
    first = post(client, auth, body)
    real_find = storage.find_by_event_id
    calls = []

    def racing_find(conn, event_id):
        calls.append(event_id)
        if len(calls) == 1:
            return None                       # read before the twin committed
        raise OperationalError("SELECT", {}, Exception("deadline passed"))

    monkeypatch.setattr(storage, "find_by_event_id", racing_find)
    out = post(client, auth, body)
    monkeypatch.setattr(storage, "find_by_event_id", real_find)
    assert len(calls) == 2
    assert out["degraded"] is True and out["assessment_id"] != first["assessment_id"]
    assert any(r["code"] == "degraded.database" for r in out["reasons"])
    assert post(client, auth, body)["assessment_id"] == first["assessment_id"]   # stored once
