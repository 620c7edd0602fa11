"""POST /v1/usage: all-or-nothing batches, the failing record named, links recorded."""
from __future__ import annotations

from sqlalchemy import text

from riskengine.schemas import ErrorBody


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


def test_accepts_a_batch_and_links_accounts(client, auth, app):
    resp = client.post("/v1/usage", json={"records": [record(i) for i in range(100)]}, headers=auth)
    assert resp.status_code == 202 and resp.json == {"accepted": 100}
    assert count(app, "SELECT COUNT(*) FROM usagerecord") == 100
    # 7 accounts on one IP, one subnet and one device: 21 links, each with its event count.
    assert count(app, "SELECT COUNT(*) FROM entitylink") == 21
    assert count(app, "SELECT SUM(events) FROM entitylink WHERE kind = 'ip'") == 100
    assert count(app, "SELECT COUNT(*) FROM usagerecord WHERE device = 'dv_9c1e'") == 0    # hashed
    fp = count(app, "SELECT prompt_fp FROM usagerecord LIMIT 1")
    assert fp == int("9f3ac1d2e4b5a697", 16) - (1 << 64)          # stored as signed 64-bit


def test_one_bad_record_rejects_the_whole_batch_naming_it(client, auth, app):
    records = [record(i) for i in range(30)]
    records[17]["occurred_at"] = "not a time"
    resp = client.post("/v1/usage", json={"records": records}, headers=auth)
    assert resp.status_code == 422
    err = ErrorBody.model_validate(resp.json).error
    assert err.field == "records[17].occurred_at"
    records[17] = record(17, prompt_fingerprint="xyz")
    assert client.post("/v1/usage", json={"records": records}, headers=auth).json["error"]["field"] \
        == "records[17].prompt_fingerprint"
    records[17] = record(17, requests=0)
    assert client.post("/v1/usage", json={"records": records}, headers=auth).status_code == 422
    assert count(app, "SELECT COUNT(*) FROM usagerecord") == 0        # nothing half-written


def test_limits(client, auth):
    too_many = {"records": [record(i) for i in range(10_001)]}
    resp = client.post("/v1/usage", json=too_many, headers=auth)
    assert resp.status_code == 413 and resp.json["error"]["field"] == "records"
    big_ok = {"records": [record(i, model="m" * 100) for i in range(10_000)]}     # ~3 MB: fine here
    assert client.post("/v1/usage", json=big_ok, headers=auth).status_code == 202
    huge = {"records": [record(0, padding="x" * (17 << 20))]}
    assert client.post("/v1/usage", json=huge, headers=auth).status_code == 413
    assert client.post("/v1/usage", json={"records": []}, headers=auth).status_code == 422


def test_scope(client, app):
    from riskengine.auth import create_key
    secret = create_key(app.extensions["riskengine"].db, "assess-only", ["assess"])
    resp = client.post("/v1/usage", json={"records": [record()]}, headers={"Authorization": f"Bearer {secret}"})
    assert resp.status_code == 403
