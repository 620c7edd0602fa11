"""Helpers of the re-scoring tests: events, usage and the job's stored rows."""
from __future__ import annotations

import json
import time

from sqlalchemy import text

from tests.test_api import signup

NOW = time.time()
WEEK = 7 * 86400


def at(hours_ago: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW - hours_ago * 3600))


def login(account_id: str, hours_ago: float = 0.1, **over) -> dict:
    return signup(account_id, event="login", occurred_at=at(hours_ago),
                  login={"outcome": "success", "method": "password"}, **over)


def assess(client, auth, body) -> dict:
    resp = client.post("/v1/assess", json=body, headers=auth)
    assert resp.status_code == 200, resp.json
    return resp.json


def send_usage(client, auth, account, n, fingerprint=None, ip="2.125.160.216", device="dv_1", reasoning=None):
    """n usage records of `account`, half an hour apart, ending 20 hours ago."""
    records = [{"account_id": account, "occurred_at": at(20 + n * 0.5 - k * 0.5), "ip": ip, "device_id": device,
                "requests": 1, "input_tokens": 100, "output_tokens": 200,
                **({"prompt_fingerprint": fingerprint(k)} if fingerprint else {}),
                **({} if reasoning is None else {"reasoning_requested": reasoning})} for k in range(n)]
    assert client.post("/v1/usage", json={"records": records}, headers=auth).status_code == 202


def stored(runtime) -> dict[str, dict]:
    """account -> its rescore row (decision, monitored_decision, decided_by, score, response as a dict)."""
    with runtime.db.connect() as conn:
        rows = conn.execute(text("SELECT account_id, decision, monitored_decision, decided_by, score, response "
                                 "FROM assessment WHERE event = 'rescore'")).mappings().all()
    return {r["account_id"]: {**r, "response": json.loads(r["response"]) if isinstance(r["response"], str)
                              else r["response"]} for r in rows}
