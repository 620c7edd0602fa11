"""Request bodies and small helpers that several test modules share (import them from here,
never from another test module)."""
from __future__ import annotations

import socket
from datetime import datetime

from sqlalchemy import text


def signup(account_id="acct_1", **over):
    body = {
        "event": "signup",
        "account": {"id": account_id, "email": "jane.doe@example.com", "phone": "+447911123456",
                    "country": "GB", "org_type": "individual", "name": "Jane Doe"},
        "ip": "2.125.160.216",
        "device": {"id": "dv_1", "user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
                   "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "timezone": "Europe/London",
                   "languages": ["en-GB", "en"], "webdriver": False, "components_hash": "c0ffee"},
    }
    body.update(over)
    return body


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def post(client, auth, records):
    return client.post("/v1/usage", json={"records": records}, headers=auth)


def links(app) -> dict:
    with app.extensions["riskengine"].db.connect() as conn:
        rows = conn.execute(text("SELECT kind, value, account_id, first_seen, last_seen, events FROM entitylink"))
        return {(k, v, a): (f, la, n) for k, v, a, f, la, n in rows}


def expected_links(app, batches) -> dict:
    """What entitylink must hold after these batches, worked out from the records alone."""
    h = app.extensions["riskengine"].hasher
    out = {}
    for records in batches:
        for r in records:
            t = datetime.fromisoformat(r["occurred_at"].replace("Z", "+00:00")).timestamp()
            subnet = r["ip"].rsplit(".", 1)[0] + ".0/24"
            for key in (("device", h("device", r["device_id"])), ("ip", h("ip", r["ip"])),
                        ("subnet", h("subnet", subnet))):
                f, la, n = out.get((*key, r["account_id"]), (t, t, 0))
                out[(*key, r["account_id"])] = (min(f, t), max(la, t), 0)
    return out


def varied(k, n=40):
    return [record(i, ip=f"198.51.{k % 3}.{i % 5}", device_id=f"dv_{i % 4}", requests=1 + i % 3,
                   occurred_at=f"2026-11-{10 + k}T1{i % 10}:00:0{i % 7}Z") for i in range(n)]
