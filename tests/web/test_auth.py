"""The 401/403 matrix of contract v1 on every /v1 route, and no raw secret in the database or
the log. Real app, real database, real keys (riskengine.apikeys)."""
from __future__ import annotations

import logging
import subprocess
import sys
import time

import pytest
from sqlalchemy import text

from riskengine import storage
from riskengine.apikeys import create_key
from tests.factories import record, signup

ROUTES = {   # route -> (method, scope, body)
    "/v1/assess": ("POST", "assess", signup("acct_auth")),
    "/v1/usage": ("POST", "usage", {"records": [record()]}),
    "/v1/labels": ("POST", "labels", {"account_id": "acct_auth", "label": "fraud", "source": "analyst"}),
    "/v1/assessments/{asm}/challenge": ("POST", "assess", {"outcome": "passed"}),
    "/v1/accounts/acct_auth": ("GET", "read", None),
}
OTHER_SCOPE = {"assess": "read", "usage": "labels", "labels": "usage", "read": "assess"}
CALLERS = ["no key", "malformed header", "unknown key", "revoked key", "wrong scope", "right scope", "admin"]
EXPECTED = {"no key": 401, "malformed header": 401, "unknown key": 401, "revoked key": 401, "wrong scope": 403}


@pytest.fixture
def assessed(client, auth):
    resp = client.post("/v1/assess", json=signup("acct_auth"), headers=auth)
    assert resp.status_code == 200
    return resp.json["assessment_id"]


def header_for(app, caller: str, scope: str) -> dict:
    db = app.extensions["riskengine"].db
    if caller == "no key":
        return {}
    if caller == "malformed header":
        return {"Authorization": "Token abc"}
    if caller == "unknown key":
        return {"Authorization": "Bearer rk_" + "x" * 43}
    scopes = {"revoked key": [scope], "wrong scope": [OTHER_SCOPE[scope]], "right scope": [scope],
              "admin": ["admin"]}[caller]
    secret = create_key(db, f"{caller}-{scope}", scopes)
    if caller == "revoked key":
        with db.begin() as conn:
            assert storage.revoke_key(conn, f"{caller}-{scope}", time.time())
    return {"Authorization": f"Bearer {secret}"}


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("route", list(ROUTES))
def test_401_403_matrix(app, client, assessed, route, caller):
    method, scope, body = ROUTES[route]
    resp = client.open(route.replace("{asm}", assessed), method=method, json=body,
                       headers=header_for(app, caller, scope))
    if caller in EXPECTED:
        assert resp.status_code == EXPECTED[caller], (resp.status_code, resp.json)
        code = "unauthorized" if EXPECTED[caller] == 401 else "forbidden"
        assert resp.json["error"]["code"] == code
    else:
        assert resp.status_code in (200, 201, 202), (resp.status_code, resp.json)


def test_no_raw_secret_in_the_database_or_the_log(app, client, config, caplog):
    caplog.set_level(logging.DEBUG)
    db = app.extensions["riskengine"].db
    secrets = [create_key(db, f"svc{i}", None) for i in range(3)]
    for secret in secrets:
        headers = {"Authorization": f"Bearer {secret}"}
        assert client.post("/v1/assess", json=signup("acct_secret"), headers=headers).status_code == 200
        assert client.get("/v1/accounts/acct_secret", headers=headers).status_code == 200
        client.post("/v1/assess", data="{", headers={**headers, "Content-Type": "application/json"})
    with db.begin() as conn:
        storage.revoke_key(conn, "svc0", time.time())
    revoked = {"Authorization": f"Bearer {secrets[0]}"}
    assert client.post("/v1/assess", json=signup(), headers=revoked).status_code == 401
    with db.connect() as conn:
        tables = [t for (t,) in conn.execute(text(
            "SELECT name FROM sqlite_master WHERE type = 'table'" if db.dialect.name == "sqlite" else
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))]
        dump = "\n".join(repr(row) for t in tables for row in conn.execute(text(f'SELECT * FROM "{t}"')))
    assert "svc1" in dump                                  # the scan reads the key table
    log = caplog.text
    for secret in secrets:
        assert secret not in dump and secret[3:] not in dump
        assert secret not in log and secret[3:] not in log
    if config.database_url.startswith("sqlite:///"):       # also the file's bytes (free pages, journal)
        # Read in another process: closing a descriptor of the file here would drop every
        # POSIX lock this process's SQLite connections hold on it (SQLite's own warning).
        path = config.database_url.removeprefix("sqlite:///")
        dump_file = "import sys; sys.stdout.buffer.write(open(sys.argv[1], 'rb').read())"
        raw = subprocess.run([sys.executable, "-c", dump_file, path], capture_output=True, check=True).stdout
        assert not any(s.encode() in raw or s[3:].encode() in raw for s in secrets)
