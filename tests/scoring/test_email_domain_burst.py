"""A domain that no disposable list names, met in a burst of signups, must still score: the
per-domain velocity and newness features rise through the real /v1/assess path, are stored
with the assessment (so retraining and re-scoring see them), and the policy's
new_email_domain_burst rule challenges the burst without waiting for a retrained model."""
from __future__ import annotations

import dataclasses
import json

import pytest
from sqlalchemy import text

from riskengine.scoring.schema import layout_names
from riskengine.signals.email import is_disposable
from tests.factories import assess, at, login, signup


@pytest.fixture
def config(config):
    """These tests read the counts: a generous database budget, so that a loaded machine's slow
    first connection gives no degraded answer (its null counts are tested in tests/web/test_faults.py)."""
    return dataclasses.replace(config, db_timeout_ms=10_000)


FARM_DOMAIN = "kq7vzx3w.icu"     # machine-minted, on no list
BURST = 14


def _signup(i: int, domain: str, minutes_ago: float) -> dict:
    body = signup(f"{domain}_{i}", occurred_at=at(minutes_ago / 60), ip=f"81.2.69.{i % 250}")
    body["account"].update(email=f"user{i}@{domain}", phone=None)
    body["device"].update(id=f"dv_{domain}_{i}", components_hash=f"hw_{domain}_{i}")
    return body


def _stored_features(client, account_id: str) -> dict:
    runtime = client.application.extensions["riskengine"]
    with runtime.db.connect() as conn:
        raw = conn.execute(text("SELECT features FROM assessment WHERE account_id = :a"),
                           {"a": account_id}).scalar_one()
    v = json.loads(raw) if isinstance(raw, str) else raw
    return dict(zip(layout_names(v["layout"]), v["values"], strict=True))


def test_a_burst_from_an_unlisted_domain_raises_its_features_and_is_challenged(client, auth):
    assert not is_disposable(FARM_DOMAIN)
    answers = [assess(client, auth, _signup(i, FARM_DOMAIN, 50 - 3 * i)) for i in range(BURST)]
    hour = [a["signals"]["velocity"]["signups_per_email_domain_1h"] for a in answers]
    assert hour == list(range(BURST))                       # every earlier signup of the burst, counted
    assert [a["signals"]["velocity"]["signups_per_email_domain_24h"] for a in answers] == hour
    ages = [a["signals"]["velocity"]["email_domain_age_days"] for a in answers]
    assert ages[0] is None and all(0 <= age < 1 / 24 for age in ages[1:])    # the first has no age yet
    assert all(a["signals"]["email"]["domain_random"] and not a["signals"]["email"]["disposable"] for a in answers)

    fired = [any(r["code"] == "rule.new_email_domain_burst" for r in a["reasons"]) for a in answers]
    assert fired == [n >= 10 for n in hour]
    assert all(a["decision"] in ("challenge", "block") for a, f in zip(answers, fired, strict=True) if f)

    last = _stored_features(client, f"{FARM_DOMAIN}_{BURST - 1}")
    assert last["signups_per_email_domain_1h"] == BURST - 1 and last["email_domain_random"] == 1
    assert last["email_domain_age_days"] < 1 / 24


def test_the_same_burst_on_a_free_provider_is_not_counted(client, auth):
    answers = [assess(client, auth, _signup(i, "gmail.com", 50 - 3 * i)) for i in range(12)]
    for a in answers:
        v = a["signals"]["velocity"]
        assert v["signups_per_email_domain_1h"] is None and v["email_domain_age_days"] is None
        assert not any(r["code"] == "rule.new_email_domain_burst" for r in a["reasons"])
    assert _stored_features(client, "gmail.com_11")["signups_per_email_domain_1h"] is None


def test_an_old_domain_with_steady_signups_is_not_a_burst(client, auth):
    """A company domain seen for weeks: its signups count, but it is not new."""
    for i in range(12):
        assess(client, auth, _signup(i, "northpath.co.uk", 60 * 24 * 20 - 60 * 24 * i))   # one a day
    late = [assess(client, auth, _signup(100 + i, "northpath.co.uk", 30 - i)) for i in range(12)]
    assert late[-1]["signals"]["velocity"]["signups_per_email_domain_1h"] == 11
    assert late[-1]["signals"]["velocity"]["email_domain_age_days"] > 19
    assert not any(r["code"] == "rule.new_email_domain_burst" for a in late for r in a["reasons"])


def test_logins_do_not_read_the_domain_counts(client, auth):
    assess(client, auth, _signup(0, FARM_DOMAIN, 30))
    body = login(f"{FARM_DOMAIN}_0", hours_ago=0.2)
    body["account"]["email"] = f"user0@{FARM_DOMAIN}"
    v = assess(client, auth, body)["signals"]["velocity"]
    assert v["signups_per_email_domain_1h"] is None and v["email_domain_age_days"] is None


@pytest.mark.parametrize("domain", ["example.com", "northpath.co.uk", "cs.uni-freiburg.de"])
def test_a_company_domains_first_signup_on_a_fresh_engine_is_allowed(client, auth, domain):
    """On a fresh install every company and school domain is new to the engine. Its first signup
    has no domain age (not age 0), and with the shipped model a clean one is allowed."""
    body = signup(f"first_{domain}")
    body["account"].update(email=f"jane.doe@{domain}")
    out = assess(client, auth, body)
    assert out["signals"]["velocity"]["email_domain_age_days"] is None
    assert not any(r["code"] == "email.domain_new" for r in out["reasons"])
    assert out["decision"] == "allow", out["reasons"]
