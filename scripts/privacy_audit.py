#!/usr/bin/env python
"""Audit what riskengine stores raw: file modes and raw personal-data fields, row counts
before and after a retention run and after an erasure, on a database built through the
real service (the `riskengine` command and the Flask app; simulated requests).

    .venv/bin/python scripts/privacy_audit.py                       # this checkout
    PYTHONPATH=/work/wt-base .venv/bin/python scripts/privacy_audit.py    # another checkout

Three accounts: acct_old signed up and used the API 120 days ago, acct_mixed signed up 120
days ago and logs in today, acct_new is new today. `riskengine retention run` then runs with
the default RISKENGINE_RAW_RETENTION_DAYS (90) and DELETE /v1/accounts/acct_old erases one.
A checkout without the retention command or the DELETE route reports that."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAXMIND = ROOT / "tests" / "data" / "maxmind"
NOW = time.time()
UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 Chrome/131.0.0.0 Safari/537.36"


def at(days_ago: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW - days_ago * 86400))


def event(account: str, kind: str, days_ago: float, ip: str) -> dict:
    body = {"event": kind, "occurred_at": at(days_ago), "ip": ip,
            "account": {"id": account, "email": f"{account}@example.com", "phone": "+447911123456",
                        "name": f"Name of {account}", "country": "GB"},
            "device": {"id": f"dv_{account}", "user_agent": UA, "timezone": "Europe/London", "languages": ["en-GB"]},
            "payment": {"fingerprint": f"card_{account}", "bin": "424242", "last4": "4242", "country": "GB"}}
    if kind == "login":
        body["login"] = {"outcome": "success", "method": "password"}
    return body


def usage(account: str, days_ago: float, ip: str, n: int = 5) -> list[dict]:
    return [{"account_id": account, "occurred_at": at(days_ago - k / 1440), "ip": ip, "device_id": f"dv_{account}",
             "requests": 1, "input_tokens": 100, "output_tokens": 50, "prompt_fingerprint": "9f3ac1d2e4b5a697"}
            for k in range(n)]


def cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    # cwd: not this checkout, whose riskengine would shadow the one on PYTHONPATH
    return subprocess.run([sys.executable, "-m", "riskengine.cli", *args], env=env, capture_output=True, text=True,
                          cwd=env["AUDIT_DIR"],
                          timeout=120)


def modes(folder: Path) -> dict[str, str]:
    return {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in sorted(folder.iterdir()) if p.is_file()}


def _json(value):
    return json.loads(value) if isinstance(value, str) else (value or {})


def raw_fields(db) -> dict[str, int]:
    """Rows holding each raw personal-data field (JSON fields counted in Python: both databases)."""
    from sqlalchemy import text
    counts: dict[str, int] = {}
    with db.connect() as conn:
        for table, column in (("assessment", "ip"), ("assessment", "latitude"), ("assessment", "longitude"),
                              ("assessment", "phone_last4"), ("assessment", "card_last4"), ("usagerecord", "ip"),
                              ("account", "email"), ("account", "name")):
            counts[f"{table}.{column}"] = conn.execute(
                text(f"SELECT COUNT(*) FROM {table} WHERE {column} IS NOT NULL")).scalar_one()
        rows = conn.execute(text("SELECT inputs, response FROM assessment WHERE event <> 'rescore'")).all()
    inputs = [_json(i) for i, _ in rows]
    ips = [(_json(r).get("signals") or {}).get("ip") or {} for _, r in rows]
    counts["assessment.inputs.ip"] = sum("ip" in i for i in inputs)
    counts["assessment.inputs.device.user_agent"] = sum("user_agent" in (i.get("device") or {}) for i in inputs)
    counts["assessment.inputs.payment.bin/last4"] = sum(bool({"bin", "last4"} & set(i.get("payment") or {}))
                                                      for i in inputs)
    counts["assessment.response.signals.ip.subnet"] = sum("subnet" in s for s in ips)
    counts["assessment.response.signals.ip.latitude"] = sum("latitude" in s for s in ips)
    return counts


def rows_of(db, account: str) -> dict[str, int]:
    from sqlalchemy import text
    with db.connect() as conn:
        return {t: conn.execute(text(f"SELECT COUNT(*) FROM {t} WHERE {'id' if t == 'account' else 'account_id'} "
                                     "= :a"), {"a": account}).scalar_one()
                for t in ("account", "assessment", "entitylink", "usagerecord", "label")}


def main() -> int:
    import riskengine
    folder = Path(tempfile.mkdtemp(prefix="privacy-audit-"))
    os.umask(0o022)              # the usual umask: a file created without a mode is 0644
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISKENGINE_")}
    env.update({"AUDIT_DIR": str(folder), "RISKENGINE_DATABASE_URL": f"sqlite:///{folder / 'riskengine.db'}",
                "RISKENGINE_HASH_KEY_FILE": str(folder / "riskengine-hash.key"),
                "RISKENGINE_GEOIP_CITY": str(MAXMIND / "GeoIP2-City-Test.mmdb"),
                "RISKENGINE_GEOIP_ASN": str(MAXMIND / "GeoLite2-ASN-Test.mmdb"),
                "RISKENGINE_GEOIP_ANONYMOUS": str(MAXMIND / "GeoIP2-Anonymous-IP-Test.mmdb")})
    print(f"riskengine from {Path(riskengine.__file__).parent}; files in {folder}")
    assert cli(env, "db", "upgrade").returncode == 0
    os.environ.update(env)
    from riskengine.apikeys import create_key
    from riskengine.config import Config
    from riskengine.web.app import create_app
    app = create_app(Config.from_env())
    db = app.extensions["riskengine"].db
    auth = {"Authorization": f"Bearer {create_key(db, 'audit', None)}"}
    client = app.test_client()
    for body in (event("acct_old", "signup", 120, "2.125.160.216"), event("acct_mixed", "signup", 120, "81.2.69.160"),
                 event("acct_mixed", "login", 0.1, "81.2.69.142"), event("acct_new", "signup", 0.1, "2.125.160.217")):
        assert client.post("/v1/assess", json=body, headers=auth).status_code == 200
    for records in (usage("acct_old", 120, "2.125.160.216"), usage("acct_mixed", 120, "81.2.69.160"),
                    usage("acct_mixed", 0.1, "81.2.69.142")):
        assert client.post("/v1/usage", json={"records": records}, headers=auth).status_code == 202
    client.post("/v1/labels", json={"account_id": "acct_old", "label": "legit", "source": "analyst"}, headers=auth)
    app.extensions["riskengine"].folder.fold()

    print("\nfile modes:", json.dumps(modes(folder)))
    before = raw_fields(db)
    ran = cli(env, "retention", "run")
    said = (ran.stdout or ran.stderr).strip().splitlines()
    print(f"\n`riskengine retention run`: exit {ran.returncode}: {said[-1] if said else ''}")
    after = raw_fields(db)
    held = rows_of(db, "acct_old")
    erased = client.delete("/v1/accounts/acct_old", headers=auth)
    print(f"DELETE /v1/accounts/acct_old: {erased.status_code} {erased.get_data(as_text=True).strip()[:200]}")
    erased_fields = raw_fields(db)
    print(f"\n{'raw field (rows holding it)':45} {'built':>6} {'retention':>10} {'erasure':>8}")
    for name in before:
        print(f"{name:45} {before[name]:>6} {after[name]:>10} {erased_fields[name]:>8}")
    print(f"\nrows of acct_old before erasure: {held}; after: {rows_of(db, 'acct_old')}")
    print("file modes at the end:", json.dumps(modes(folder)))
    app.extensions["riskengine"].close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
