"""POST /v1/usage: all-or-nothing batches, the failing record named, links recorded."""
from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text

from riskengine.schemas import ErrorBody
from tests.factories import assess, count, post, record, signup


def test_accepts_a_batch_and_links_accounts(client, auth, app):
    resp = client.post("/v1/usage", json={"records": [record(i) for i in range(100)]}, headers=auth)
    assert resp.status_code == 202 and resp.json == {"accepted": 100}
    assert count(app, "SELECT COUNT(*) FROM usagerecord") == 100
    # The links wait for more batches (config usage_fold_batches), then fold in at once.
    assert count(app, "SELECT COUNT(*) FROM pendinglinks") == 1
    assert count(app, "SELECT COUNT(*) FROM entitylink") == 0
    state = app.extensions["riskengine"]
    assert state.folder.fold() == 1
    assert count(app, "SELECT COUNT(*) FROM pendinglinks") == 0
    # 7 accounts on one IP, one subnet and one device: 21 links. Usage moves when a link was
    # seen; entitylink.events counts signup and login events only.
    assert count(app, "SELECT COUNT(*) FROM entitylink") == 21
    assert count(app, "SELECT SUM(events) FROM entitylink WHERE kind = 'ip'") == 0
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
    from riskengine.apikeys import create_key
    secret = create_key(app.extensions["riskengine"].db, "assess-only", ["assess"])
    resp = client.post("/v1/usage", json={"records": [record()]}, headers={"Authorization": f"Bearer {secret}"})
    assert resp.status_code == 403


def test_each_kind_of_bad_record_is_named(client, auth, app):
    cases = [
        ({"occurred_at": "2026-11-20T10:00:00"}, "records[3].occurred_at"),           # no time zone
        ({"occurred_at": "2099-01-01T00:00:00Z"}, "records[3].occurred_at"),          # the future
        ({"ip": "300.1.2.3"}, "records[3].ip"),
        ({"device_id": "dv\x00x"}, "records[3].device_id"),
        ({"account_id": "   "}, "records[3].account_id"),
        ({"requests": "many"}, "records[3].requests"),
        ({"reasoning_requested": "perhaps"}, "records[3].reasoning_requested"),
        ({"model": "m" * 129}, "records[3].model"),
    ]
    for over, field in cases:
        records = [record(i) for i in range(5)]
        records[3].update(over)
        resp = post(client, auth, records)
        assert resp.status_code == 422, (over, resp.json)
        assert resp.json["error"]["field"] == field and field in resp.json["error"]["message"]
    records = [record(i) for i in range(5)]
    del records[2]["account_id"]
    resp = post(client, auth, records)
    assert resp.json["error"] == {"code": "validation_error", "field": "records[2].account_id",
                                  "message": "records[2].account_id is required"}
    assert count(app, "SELECT COUNT(*) FROM usagerecord") == 0


def test_body_shape_errors(client, auth):
    headers = {**auth, "Content-Type": "application/json"}
    assert client.post("/v1/usage", data=b'{"records": [', headers=headers).status_code == 400
    resp = client.post("/v1/usage", data=b"[]", headers=headers)
    assert resp.status_code == 422 and resp.json["error"]["field"] == "body"
    resp = client.post("/v1/usage", data=b"{}", headers=headers)
    assert resp.status_code == 422 and resp.json["error"]["field"] == "records"
    resp = client.post("/v1/usage", data=b'{"records": [1]}', headers=headers)
    assert resp.status_code == 422 and resp.json["error"]["field"] == "records[0]"
    resp = client.post("/v1/usage", data=b'{"records": []}', headers={**auth, "Content-Type": "text/plain"})
    assert resp.status_code == 415


def test_values_are_normalised_as_in_the_other_routes(client, auth, app):
    records = [record(0, account_id="  acct_x ", ip="::ffff:203.0.113.9", model=" large ", requests="2",
                      occurred_at="2026-11-20T12:00:00+02:00", extra_field_from_a_newer_caller=1)]
    assert post(client, auth, records).status_code == 202
    with app.extensions["riskengine"].db.connect() as conn:
        row = conn.execute(text("SELECT account_id, ip, model, requests, occurred_ts FROM usagerecord")).one()
    ten_utc = datetime(2026, 11, 20, 10, tzinfo=UTC).timestamp()
    assert tuple(row) == ("acct_x", "203.0.113.9", "large", 2, ten_utc)


def test_the_batch_lands_whole_or_not_at_all_when_storage_fails(client, auth, app):
    # A record that passes validation but that the database refuses (here a trigger) must
    # leave no rows and no links behind, and the caller gets a retryable 503, not a 500.
    db = app.extensions["riskengine"].db
    with db.begin() as conn:
        if db.dialect.name == "sqlite":
            conn.execute(text("CREATE TRIGGER usage_fails BEFORE INSERT ON usagerecord WHEN "
                              "NEW.account_id = 'acct_poison' BEGIN SELECT RAISE(ABORT, 'poison'); END"))
        else:
            conn.execute(text("CREATE FUNCTION usage_fails() RETURNS trigger AS $$ BEGIN "
                              "IF NEW.account_id = 'acct_poison' THEN RAISE EXCEPTION 'poison'; END IF; "
                              "RETURN NEW; END $$ LANGUAGE plpgsql"))
            conn.execute(text("CREATE TRIGGER usage_fails BEFORE INSERT ON usagerecord "
                              "FOR EACH ROW EXECUTE FUNCTION usage_fails()"))
    records = [record(i) for i in range(20)] + [record(0, account_id="acct_poison")]
    try:
        resp = post(client, auth, records)
        assert resp.status_code == 503
        assert count(app, "SELECT COUNT(*) FROM usagerecord") == 0
        assert count(app, "SELECT COUNT(*) FROM pendinglinks") == 0
        assert post(client, auth, records[:20]).status_code == 202
    finally:
        with db.begin() as conn:
            conn.execute(text("DROP TRIGGER usage_fails" + ("" if db.dialect.name == "sqlite" else " ON usagerecord")))




def test_a_6to4_user_links_by_subnet_to_its_ipv4_signup_online_and_in_usage(client, auth, app):
    # the assess path hashes ip_signals(...).subnet, the usage path subnet_of(): one subnet key
    assess(client, auth, signup("acct_v4", ip="81.2.69.142"))
    assess(client, auth, signup("acct_teredo", ip="2001:0:4136:e378:8000:63bf:a65f:eb8f"))   # 89.160.20.112
    assert post(client, auth, [record(0, account_id="acct_6to4", ip="2002:5102:458e::1"),
                               record(1, account_id="acct_nat64", ip="64:ff9b::5102:458e")]).status_code == 202
    app.extensions["riskengine"].folder.fold()
    h = app.extensions["riskengine"].hasher
    with app.extensions["riskengine"].db.connect() as conn:
        rows = conn.execute(text("SELECT value, account_id FROM entitylink WHERE kind = 'subnet'")).all()
    by_subnet: dict[str, set[str]] = {}
    for value, account in rows:
        by_subnet.setdefault(value, set()).add(account)
    assert by_subnet[h("subnet", "81.2.69.0/24")] == {"acct_v4", "acct_6to4", "acct_nat64"}
    assert by_subnet[h("subnet", "89.160.20.0/24")] == {"acct_teredo"}
