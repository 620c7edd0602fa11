"""Login risk that knows the account (issue 13), through /v1/assess with the shipped model and
the bundled policy, on MaxMind's test databases (City, ASN, Anonymous-IP, Connection-Type,
Enterprise): the account's own baseline, network type, and challenges that teach."""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from riskengine.apikeys import create_key
from riskengine.web.app import create_app
from tests.conftest import MAXMIND

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
PHONE_UA = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Mobile Safari/537.36")
DESKTOP_UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/131.0.0.0 Safari/537.36")
CGNAT = "149.101.100.{}"        # Connection-Type: Cellular (US)
HOME_GB = "2.125.160.216"       # Connection-Type: Cable/DSL (GB)
HOME_SE = "89.160.20.115"       # SE
PROXY_GB = "81.2.69.142"        # Anonymous-IP: residential proxy (and every other flag) in GB
ABROAD = "202.196.224.5"      # PH


@pytest.fixture
def client(config):
    # The database budget is not what these tests are about: a busy test machine must not
    # turn a stored answer into a degraded one.
    app = create_app(replace(config, geoip_connection_type=str(MAXMIND / "GeoIP2-Connection-Type-Test.mmdb"),
                             geoip_enterprise=str(MAXMIND / "GeoIP2-Enterprise-Test.mmdb"), db_timeout_ms=10_000))
    c = app.test_client()
    c.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {create_key(app.extensions['riskengine'].db, 'k', None)}"
    yield c
    app.extensions["riskengine"].close()


def at(hours: float) -> str:
    return (START + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


def device(dev_id: str, tz: str, ua: str = PHONE_UA, langs=("en-US", "en"), hw: str = "pixel8") -> dict:
    return {"id": dev_id, "user_agent": ua, "timezone": tz, "languages": list(langs), "webdriver": False,
            "components_hash": hw}


def assess(client, event: str, account: str, ip: str, dev: dict | None, hours: float, outcome: str = "success",
           email: str | None = None) -> dict:
    body: dict = {"event": event, "account": {"id": account, "email": email or f"{account}@example.com"},
                  "ip": ip, "occurred_at": at(hours)}
    if dev is not None:
        body["device"] = dev
    if event == "login":
        body["login"] = {"outcome": outcome, "method": "password"}
    resp = client.post("/v1/assess", json=body)
    assert resp.status_code == 200, resp.json
    assert resp.json["degraded"] is False, resp.json["reasons"]
    return resp.json


def usual_history(client, account: str, ip, dev: dict, days: int = 8) -> None:
    """A signup and a login a day (morning) from the account's usual device and network."""
    assess(client, "signup", account, ip(0) if callable(ip) else ip, dev, 0)
    for day in range(1, days):
        assess(client, "login", account, ip(day) if callable(ip) else ip, dev, 24 * day + 0.5)


def test_network_type_is_in_the_answer(client):
    out = assess(client, "signup", "acct_net", CGNAT.format(5), device("dv_n", "America/Chicago"), 0)
    assert out["signals"]["ip"]["connection_type"] == "Cellular" and out["signals"]["ip"]["user_type"] is None


def test_usual_device_on_a_busy_cgnat_subnet_is_allowed(client):
    usual_history(client, "acct_mobile", lambda d: CGNAT.format(1 + d % 14), device("dv_mine", "America/Chicago"))
    # Sixty other subscribers of the carrier behind the same /24, many on the same popular phone model.
    for i in range(60):
        assess(client, "signup", f"acct_other_{i}", CGNAT.format(i % 14 + 1),
               device(f"dv_other_{i}", "America/Chicago", hw="pixel8" if i % 2 else f"hw_{i}"), 24 * 8 + i / 10)
    out = assess(client, "login", "acct_mobile", CGNAT.format(9), device("dv_mine", "America/Chicago"), 24 * 8 + 8)
    assert out["signals"]["velocity"]["subnet"]["24h"] >= 50         # the subnet really is busy
    assert out["decision"] == "allow", out["reasons"]


def test_usual_device_with_the_accounts_usual_foreign_timezone_is_allowed(client):
    laptop = device("dv_expat", "Asia/Kolkata", ua=DESKTOP_UA, langs=("hi-IN", "en-IN"), hw="thinkpad")
    usual_history(client, "acct_expat", HOME_GB, laptop)
    out = assess(client, "login", "acct_expat", HOME_GB, laptop, 24 * 8 + 0.5)
    assert out["decision"] == "allow", out["reasons"]


def test_a_takeover_from_a_residential_proxy_in_a_new_country_on_a_new_device_is_stopped(client):
    usual_history(client, "acct_victim", HOME_SE, device("dv_owner", "Europe/Stockholm", langs=("sv-SE", "sv")))
    thief = device("dv_thief", "Europe/London", ua=DESKTOP_UA, hw="vm-image-7")
    out = assess(client, "login", "acct_victim", PROXY_GB, thief, 24 * 8 + 3)
    assert out["signals"]["ip"]["residential_proxy"] is True and out["signals"]["ip"]["country"] == "GB"
    assert out["decision"] in ("challenge", "block"), out["reasons"]


def test_a_success_after_failures_from_other_networks_is_stopped(client):
    usual_history(client, "acct_stuffed", HOME_GB, device("dv_owner2", "Europe/London", langs=("en-GB", "en")))
    t = 24 * 8 + 2
    for k, ip in enumerate(("216.160.83.56", "175.16.199.5", "214.78.120.5")):     # one address per attempt
        assess(client, "login", "acct_stuffed", ip, device(f"dv_bot_{k}", "UTC", ua=DESKTOP_UA, hw=f"noise{k}"),
               t + k / 60, outcome="failure")
    out = assess(client, "login", "acct_stuffed", "202.196.224.5", device("dv_bot_9", "UTC", ua=DESKTOP_UA,
                                                                           hw="noise9"), t + 0.1)
    assert out["decision"] in ("challenge", "block"), out["reasons"]


def test_a_passed_challenge_makes_the_next_login_from_that_device_allowed(client):
    usual_history(client, "acct_trip", HOME_GB, device("dv_phone", "Europe/London", langs=("en-GB", "en")))
    # On a trip: a new laptop (still on UTC) on a line abroad.
    new_laptop = device("dv_new_laptop", "UTC", ua=DESKTOP_UA, langs=("en-GB", "en"), hw="macbook")
    first = assess(client, "login", "acct_trip", ABROAD, new_laptop, 24 * 8 + 1)
    assert first["decision"] in ("challenge", "block"), first["reasons"]      # stopped: a new device abroad
    resp = client.post(f"/v1/assessments/{first['assessment_id']}/challenge", json={"outcome": "passed"})
    assert resp.status_code == 200
    again = assess(client, "login", "acct_trip", ABROAD, new_laptop, 24 * 8 + 5)
    assert again["decision"] == "allow", again["reasons"]
    assert again["score"] < first["score"]


def test_failed_challenges_make_the_device_riskier(client):
    usual_history(client, "acct_fail", HOME_GB, device("dv_phone3", "Europe/London", langs=("en-GB", "en")))
    other = device("dv_other3", "UTC", ua=DESKTOP_UA, hw="macbook")
    first = assess(client, "login", "acct_fail", ABROAD, other, 24 * 8 + 1)
    assert first["decision"] in ("challenge", "block"), first["reasons"]
    for outcome in ("failed", "abandoned"):
        assert client.post(f"/v1/assessments/{first['assessment_id']}/challenge",
                           json={"outcome": outcome}).status_code == 200
    again = assess(client, "login", "acct_fail", ABROAD, other, 24 * 8 + 2)
    assert again["decision"] != "allow" and again["score"] >= first["score"]
