"""Retention of raw personal data and erasure of accounts, through the real service."""
from __future__ import annotations

import json
import os
import stat

from sqlalchemy import text

from riskengine import storage
from riskengine.hashing import load_hash_key
from riskengine.privacy import DAY, erase_account, purge_raw
from tests.factories import NOW, assess, count, login, send_usage, signup


def _rt(app):
    return app.extensions["riskengine"]


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


def _raw_counts(app) -> dict[str, int]:
    return {
        "assessment.ip": count(app, "SELECT COUNT(*) FROM assessment WHERE ip IS NOT NULL"),
        "assessment.latitude": count(app, "SELECT COUNT(*) FROM assessment WHERE latitude IS NOT NULL"),
        "usagerecord.ip": count(app, "SELECT COUNT(*) FROM usagerecord WHERE ip IS NOT NULL"),
        "account.email": count(app, "SELECT COUNT(*) FROM account WHERE email IS NOT NULL"),
    }


def _stored_request(app) -> list[tuple[dict, dict]]:
    with _rt(app).db.connect() as conn:
        return [(_json(i), _json(r)) for i, r in conn.execute(text("SELECT inputs, response FROM assessment"))]


def test_stored_request_keeps_no_raw_ip(client, auth, app):
    assess(client, auth, signup("acct_a"))
    (inputs, _), = _stored_request(app)
    assert "ip" not in inputs and "2.125.160.216" not in json.dumps(inputs)
    assert inputs["links"]       # the keyed hashes stay


def test_retention_removes_raw_fields_older_than_the_retention_and_keeps_hashes(client, auth, app):
    assess(client, auth, signup("acct_a"))
    assess(client, auth, login("acct_a", hours_ago=1))
    send_usage(client, auth, "acct_a", 4)
    _rt(app).folder.fold()
    before = _raw_counts(app)
    assert all(before.values()), before
    links_before = count(app, "SELECT COUNT(*) FROM entitylink")

    kept = purge_raw(_rt(app).db, retention_days=90, now=NOW)    # everything is recent: nothing goes
    assert (kept.assessments, kept.usage_records, kept.accounts) == (0, 0, 0)
    assert _raw_counts(app) == before

    purged = purge_raw(_rt(app).db, retention_days=90, now=NOW + 91 * DAY, batch=1)   # batches of one row
    assert (purged.assessments, purged.usage_records, purged.accounts) == (2, 4, 1)
    assert _raw_counts(app) == dict.fromkeys(before, 0)
    for inputs, response in _stored_request(app):
        assert "user_agent" not in inputs.get("device", {}) and inputs["links"]
        assert "latitude" not in response["signals"]["ip"] and "subnet" not in response["signals"]["ip"]
        assert response["signals"]["ip"]["country"] == "GB"     # derived, non-identifying: kept
    assert count(app, "SELECT COUNT(*) FROM entitylink") == links_before
    assert count(app, "SELECT COUNT(*) FROM usagerecord WHERE device IS NOT NULL") == 4
    assert count(app, "SELECT COUNT(*) FROM assessment WHERE ip_asn IS NOT NULL OR ip_country IS NOT NULL") == 2

    again = purge_raw(_rt(app).db, retention_days=90, now=NOW + 91 * DAY)     # idempotent
    assert (again.assessments, again.usage_records, again.accounts) == (0, 0, 0)


def test_erasure_deletes_every_row_of_the_account_and_no_other(client, auth, app):
    asm = assess(client, auth, signup("acct_a"))
    assess(client, auth, signup("acct_b", account={"id": "acct_b", "email": "b@example.org"}))
    client.post(f"/v1/assessments/{asm['assessment_id']}/challenge", json={"outcome": "passed"}, headers=auth)
    client.post("/v1/labels", json={"account_id": "acct_a", "label": "legit", "source": "analyst"}, headers=auth)
    send_usage(client, auth, "acct_a", 3)          # links still waiting: erasure folds them first
    counts = erase_account(_rt(app), "acct_a")
    assert counts["assessment"] == 1 and counts["usagerecord"] == 3 and counts["label"] == 1
    assert counts["challengeoutcome"] == 1 and counts["account"] == 1 and counts["entitylink"] > 0
    assert counts["accountcontext"] == 1            # the login baseline goes with the account
    _rt(app).folder.fold()
    for table in ("assessment", "usagerecord", "label", "entitylink", "accountcontext", "account"):
        column = "id" if table == "account" else "account_id"
        assert count(app, f"SELECT COUNT(*) FROM {table} WHERE {column} = 'acct_a'") == 0, table
    assert count(app, "SELECT COUNT(*) FROM challengeoutcome") == 0
    assert count(app, "SELECT COUNT(*) FROM assessment WHERE account_id = 'acct_b'") == 1


def test_delete_account_route_needs_admin_and_answers_404_for_unknown(client, app, auth):
    assess(client, auth, signup("acct_a"))
    read_only = {"Authorization": "Bearer " + _key(app, "reader", ["read"])}
    assert client.delete("/v1/accounts/acct_a", headers=read_only).status_code == 403
    assert client.delete("/v1/accounts/acct_a").status_code == 401
    resp = client.delete("/v1/accounts/acct_a", headers=auth)
    assert resp.status_code == 200 and resp.json["deleted"]["assessment"] == 1, resp.json
    assert client.get("/v1/accounts/acct_a", headers=auth).status_code == 404
    again = client.delete("/v1/accounts/acct_a", headers=auth)
    assert again.status_code == 404 and "acct_a" in again.json["error"]["message"], again.json


def _key(app, name, scopes):
    from riskengine.apikeys import create_key
    return create_key(_rt(app).db, name, scopes)


def test_sqlite_files_and_hash_key_are_created_owner_only(tmp_path):
    old = os.umask(0o022)        # the usual umask, which would give 0644
    try:
        engine = storage.make_engine(f"sqlite:///{tmp_path / 'r.db'}")
        storage.migrate.upgrade(engine)
        with storage.writing(engine, 5) as conn:
            conn.execute(text("SELECT 1"))
        load_hash_key(None, tmp_path / "hash.key")
    finally:
        os.umask(old)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert {"r.db", "r.db-wal", "r.db-shm", "hash.key"} <= set(files), files
    modes = {name: stat.S_IMODE((tmp_path / name).stat().st_mode) for name in files}
    assert modes == dict.fromkeys(files, 0o600), {k: oct(v) for k, v in modes.items()}
