"""POST /v1/device and device tokens in /v1/assess, over the real app and database."""
from __future__ import annotations

from dataclasses import replace

import pytest
from click.testing import CliRunner

from riskengine.apikeys import create_key
from riskengine.cli import main
from riskengine.signals import device_token
from tests.factories import signup

SHOP = "https://shop.example.com"
COLLECTED = {"visitor_id": "fp_visitor_1", "components_hash": "hw_42", "timezone": "Europe/London",
             "languages": ["en-GB", "en"], "screen": "1920x1080", "platform": "MacIntel", "webdriver": False,
             "bot": {"detected": False, "kind": None},
             "user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
                           "Chrome/131.0.0.0 Safari/537.36"}
BROWSER = "2.125.160.216"          # the signup body's ip (GB in the City test file)


@pytest.fixture
def config(config):
    return replace(config, collect_origins=f"{SHOP}, https://app.example.com",
                   trusted_proxies="10.0.0.0/8", rate_limits="collect=5/minute")


@pytest.fixture
def pk(app) -> dict:
    return {"Authorization": f"Bearer {create_key(app.extensions['riskengine'].db, 'page', ['collect'])}"}


@pytest.fixture
def rk(app) -> dict:
    return {"Authorization": f"Bearer {create_key(app.extensions['riskengine'].db, 'backend', None)}"}


def collect(client, key, body=None, ip=BROWSER, **headers):
    return client.post("/v1/device", json=COLLECTED if body is None else body, headers={**key, **headers},
                       environ_base={"REMOTE_ADDR": ip})


def assess(client, key, token, ip=BROWSER, **device):
    body = signup()
    body["device"].update(token=token, **device)
    body["ip"] = ip
    return client.post("/v1/assess", json=body, headers=key)


def test_publishable_keys_are_pk_and_never_mixed_with_secret_scopes(app):
    db = app.extensions["riskengine"].db
    assert create_key(db, "p", ["collect"]).startswith("pk_")
    assert create_key(db, "s", ["assess"]).startswith("rk_")
    with pytest.raises(ValueError, match="cannot be combined"):
        create_key(db, "both", ["collect", "assess"])


def test_keys_create_collect_from_the_command_line(config, monkeypatch):
    monkeypatch.setenv("RISKENGINE_DATABASE_URL", config.database_url)
    runner = CliRunner()
    made = runner.invoke(main, ["keys", "create", "signup-page", "--scope", "collect"])
    assert made.exit_code == 0 and made.output.strip().startswith("pk_")
    mixed = runner.invoke(main, ["keys", "create", "bad", "--scope", "collect", "--scope", "admin"])
    assert mixed.exit_code != 0 and "cannot be combined" in mixed.output


def test_the_collector_gets_a_token_that_assesses_valid(client, pk, rk):
    resp = collect(client, pk, Origin=SHOP)
    assert resp.status_code == 200, resp.json
    assert resp.headers["Access-Control-Allow-Origin"] == SHOP
    assert "Access-Control-Allow-Credentials" not in resp.headers
    token = resp.json["device_token"]
    assert token.startswith("dt_") and resp.json["expires_at"].endswith("Z")
    answer = assess(client, rk, token, id="dv_caller_says", components_hash="caller_hash").json
    device = answer["signals"]["device"]
    assert device["token"] == "valid" and device["bot"] is False and device["bot_kind"] is None
    codes = {r["code"] for r in answer["reasons"]}
    assert not codes & {"device.token_invalid", "device.token_expired"}


def test_a_valid_tokens_fields_take_precedence_over_the_callers(client, pk, rk, app):
    token = collect(client, pk).json["device_token"]
    client.post("/v1/assess", json=signup("acct_a", device={"id": "dv_x", "token": token}, ip=BROWSER), headers=rk)
    # a second account sending another device id but the same token's device shares its device
    other = signup("acct_b", device={"id": "dv_y", "token": token, "timezone": "Asia/Tokyo"}, ip=BROWSER)
    answer = client.post("/v1/assess", json=other, headers=rk).json
    assert answer["signals"]["velocity"]["device"]["24h"] == 1        # linked by the token's visitor id
    assert answer["signals"]["device"]["timezone_matches_ip"] is True  # the token's Europe/London


def test_a_bot_verdict_from_a_valid_token_reaches_the_reasons(client, pk, rk):
    bot = {**COLLECTED, "bot": {"detected": True, "kind": "headless_chrome"}}
    token = collect(client, pk, bot).json["device_token"]
    answer = assess(client, rk, token).json
    assert answer["signals"]["device"]["bot"] is True
    assert answer["signals"]["device"]["bot_kind"] == "headless_chrome"
    assert answer["decision"] in ("challenge", "block")
    assert "rule.bot_verdict" in {r["code"] for r in answer["reasons"]}


def test_a_callers_own_bot_claim_is_not_a_verdict(client, rk):
    body = signup()
    body["device"]["bot"] = {"detected": False}           # unknown field: ignored, never believed
    answer = client.post("/v1/assess", json=body, headers=rk).json
    assert answer["signals"]["device"]["token"] is None and answer["signals"]["device"]["bot"] is None


@pytest.mark.parametrize("spoil, ip, state", [
    (lambda t: t[:-3] + ("xyz" if not t.endswith("xyz") else "abc"), BROWSER, "invalid"),   # tampered
    (lambda t: t, "2.125.161.216", "invalid"),                                              # another /24
    (lambda t: "dt_made.up", BROWSER, "invalid"),
    (lambda t: "x" * 10_000, BROWSER, "invalid"),                                           # never a 422
])
def test_bad_tokens_are_a_reason_never_an_error(client, pk, rk, spoil, ip, state):
    token = collect(client, pk).json["device_token"]
    resp = assess(client, rk, spoil(token), ip=ip)
    assert resp.status_code == 200
    assert resp.json["signals"]["device"]["token"] == state
    assert resp.json["signals"]["device"]["bot"] is None
    assert "device.token_invalid" in {r["code"] for r in resp.json["reasons"]}


def test_an_expired_token_is_a_reason(app, client, rk):
    key = app.extensions["riskengine"].token_key
    import time
    token, _ = device_token.issue(key, COLLECTED, BROWSER, time.time() - 901)
    answer = assess(client, rk, token).json
    assert answer["signals"]["device"]["token"] == "expired"
    assert "device.token_expired" in {r["code"] for r in answer["reasons"]}


def test_no_token_is_null(client, rk):
    answer = client.post("/v1/assess", json=signup(), headers=rk).json
    assert answer["signals"]["device"]["token"] is None


def test_the_token_is_not_stored_with_the_inputs(app, client, pk, rk):
    from sqlalchemy import text
    token = collect(client, pk).json["device_token"]
    assess(client, rk, token)
    with app.extensions["riskengine"].db.connect() as conn:
        stored = [str(r[0]) for r in conn.execute(text("select inputs from assessment"))]
    assert stored and not any("dt_" in s or "fp_visitor_1" in s for s in stored)


def test_behind_a_trusted_proxy_the_forwarded_address_is_bound(client, pk, rk):
    # the proxy (10.0.0.5, trusted) says the browser was 2.125.160.216; the backend assesses that address
    token = collect(client, pk, ip="10.0.0.5", **{"X-Forwarded-For": f"{BROWSER}"}).json["device_token"]
    assert assess(client, rk, token).json["signals"]["device"]["token"] == "valid"
    # an untrusted peer's X-Forwarded-For is not believed: the token is bound to the peer itself
    spoofed = collect(client, pk, ip="198.51.100.9", **{"X-Forwarded-For": BROWSER}).json["device_token"]
    assert assess(client, rk, spoofed).json["signals"]["device"]["token"] == "invalid"


def test_a_publishable_key_can_call_nothing_else(client, pk, rk):
    assert client.post("/v1/assess", json=signup(), headers=pk).status_code == 403
    assert client.get("/v1/accounts/acct_1", headers=pk).status_code == 403
    assert client.post("/v1/labels", json={}, headers=pk).status_code == 403
    assert client.post("/v1/usage", json={"records": []}, headers=pk).status_code == 403
    # and a secret key, even an admin one, is refused on the page's route
    assert collect(client, rk).status_code == 403
    assert collect(client, {}).status_code == 401
    assert collect(client, {"Authorization": "Bearer pk_unknown"}).status_code == 401


def test_preflight_answers_only_configured_origins(client):
    pre = client.options("/v1/device", headers={"Origin": SHOP, "Access-Control-Request-Method": "POST",
                                                  "Access-Control-Request-Headers": "authorization, content-type"})
    assert pre.status_code == 200
    assert pre.headers["Access-Control-Allow-Origin"] == SHOP
    assert "POST" in pre.headers["Access-Control-Allow-Methods"]
    assert {"authorization", "content-type"} <= {h.strip().lower() for h in
                                                 pre.headers["Access-Control-Allow-Headers"].split(",")}
    assert "Access-Control-Allow-Credentials" not in pre.headers and "Origin" in pre.headers["Vary"]
    evil = client.options("/v1/device", headers={"Origin": "https://evil.example",
                                                  "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in evil.headers


def test_a_post_from_an_unlisted_origin_is_refused(client, pk):
    resp = collect(client, pk, Origin="https://evil.example")
    assert resp.status_code == 403 and "RISKENGINE_COLLECT_ORIGINS" in resp.json["error"]["message"]
    assert "Access-Control-Allow-Origin" not in resp.headers


def test_bad_collector_fields_are_422_naming_the_field(client, pk):
    resp = collect(client, pk, {**COLLECTED, "bot": {"detected": "perhaps"}}, Origin=SHOP)
    assert resp.status_code == 422 and resp.json["error"]["field"] == "bot.detected"
    assert resp.headers["Access-Control-Allow-Origin"] == SHOP        # the page can read why


def test_collect_is_rate_limited_per_key_and_network(client, pk):
    codes = [collect(client, pk, Origin=SHOP).status_code for _ in range(6)]
    assert codes == [200] * 5 + [429]
    limited = collect(client, pk, Origin=SHOP)
    assert limited.json["error"]["code"] == "rate_limited" and int(limited.headers["Retry-After"]) >= 1
    assert "Retry-After" in limited.headers["Access-Control-Expose-Headers"]
    # another network still has its own budget under the same publishable key
    assert collect(client, pk, ip="81.2.69.160").status_code == 200
