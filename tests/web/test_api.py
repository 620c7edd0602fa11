"""Contract v1 over a real HTTP client against the real app and database."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from riskengine.apikeys import create_key
from riskengine.schemas import AccountResponse, AssessResponse, ErrorBody
from tests.factories import signup


def error_of(resp):
    ErrorBody.model_validate(resp.json)
    return resp.json["error"]


def test_assess_answers_the_contract_shape(client, auth):
    resp = client.post("/v1/assess", json=signup(), headers=auth)
    assert resp.status_code == 200
    body = AssessResponse.model_validate(resp.json)
    assert body.assessment_id.startswith("asm_")
    assert body.decision in ("allow", "challenge", "block")
    assert 0.0 <= body.score <= 1.0
    assert body.degraded is False and body.monitored_decision is None
    for key in ("email", "phone", "ip", "device", "payment", "velocity", "links"):
        assert key in body.signals
    assert body.signals["ip"]["country"] == "GB"              # from the real City test database
    assert body.signals["payment"] is None                     # absent signal is null, not guessed
    assert set(body.signals["email"]) >= {"valid", "domain", "disposable", "free_provider", "alias_folded"}
    assert set(body.signals["links"]) == {"linked_accounts", "cluster_size"}


def test_no_key_unknown_key_and_missing_scope(client, app, auth):
    assert error_of(client.post("/v1/assess", json=signup()))["code"] == "unauthorized"
    bad = client.post("/v1/assess", json=signup(), headers={"Authorization": "Bearer rk_nope"})
    assert bad.status_code == 401
    secret = create_key(app.extensions["riskengine"].db, "reader", ["read"])
    resp = client.post("/v1/assess", json=signup(), headers={"Authorization": f"Bearer {secret}"})
    assert resp.status_code == 403 and error_of(resp)["code"] == "forbidden"


@pytest.mark.parametrize("mutate, field", [
    (lambda b: b["account"].pop("id"), "account.id"),
    (lambda b: b.pop("ip"), "ip"),
    (lambda b: b.update(ip="999.1.1.1"), "ip"),
    (lambda b: b.update(event="logout"), "event"),
    (lambda b: b["account"].update(id=""), "account.id"),
    (lambda b: b["account"].update(id="x" * 129), "account.id"),
    (lambda b: b["device"].update(webdriver="maybe"), "device.webdriver"),
    (lambda b: b["device"].update(languages=["en", 5]), "device.languages[1]"),
    (lambda b: b["account"].update(country="GBR"), "account.country"),
    (lambda b: b.update(occurred_at="yesterday"), "occurred_at"),
])
def test_structural_mistakes_are_422_naming_the_field(client, auth, mutate, field):
    body = signup()
    mutate(body)
    resp = client.post("/v1/assess", json=body, headers=auth)
    assert resp.status_code == 422
    err = error_of(resp)
    assert err["code"] == "validation_error" and err["field"] == field and field in err["message"]


def test_future_occurred_at_is_422(client, auth):
    later = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
    resp = client.post("/v1/assess", json=signup(occurred_at=later), headers=auth)
    assert resp.status_code == 422 and error_of(resp)["field"] == "occurred_at"


def test_malformed_json_wrong_media_type_and_non_object(client, auth):
    resp = client.post("/v1/assess", data="{not json", headers={**auth, "Content-Type": "application/json"})
    assert resp.status_code == 400 and error_of(resp)["code"] == "malformed_json"
    resp = client.post("/v1/assess", data="event=signup", headers={**auth, "Content-Type": "text/plain"})
    assert resp.status_code == 415 and error_of(resp)["code"] == "unsupported_media_type"
    resp = client.post("/v1/assess", json=[1, 2], headers=auth)
    assert resp.status_code == 422


def test_body_over_one_mebibyte_is_413(client, auth):
    body = signup()
    body["padding"] = "x" * (1 << 20)
    resp = client.post("/v1/assess", json=body, headers=auth)
    assert resp.status_code == 413 and error_of(resp)["code"] == "payload_too_large"


def test_suspicious_content_is_a_signal_not_an_error(client, auth):
    body = signup()
    body["account"].update(email="not-an-email@@", phone="12")
    body["device"]["user_agent"] = "zzzz unknown agent"
    resp = client.post("/v1/assess", json=body, headers=auth)
    assert resp.status_code == 200
    codes = {r["code"] for r in resp.json["reasons"]}
    assert {"email.invalid", "phone.invalid"} <= codes
    assert resp.json["signals"]["email"]["valid"] is False
    assert resp.json["signals"]["phone"]["valid"] is False


def test_idempotent_event_id(client, auth, app):
    body = signup(event_id="evt_1")
    first = client.post("/v1/assess", json=body, headers=auth)
    again = client.post("/v1/assess", json=body, headers=auth)
    assert again.status_code == 200 and again.json == first.json
    with app.extensions["riskengine"].db.connect() as conn:
        from sqlalchemy import text
        assert conn.execute(text("SELECT COUNT(*) FROM assessment")).scalar_one() == 1
        assert conn.execute(text("SELECT events FROM entitylink WHERE kind='device'")).scalar_one() == 1
    body["account"]["email"] = "other@example.com"
    clash = client.post("/v1/assess", json=body, headers=auth)
    assert clash.status_code == 409 and error_of(clash)["field"] == "event_id"


def test_labels_challenges_and_account_view(client, auth):
    first = client.post("/v1/assess", json=signup("acct_a"), headers=auth).json
    client.post("/v1/assess", json=signup("acct_b"), headers=auth)     # same device, card-less
    resp = client.post("/v1/labels", json={"account_id": "acct_a", "label": "fraud", "source": "analyst",
                                           "note": "farm cluster 7"}, headers=auth)
    assert resp.status_code == 201 and resp.json["label"] == "fraud"
    assert client.post("/v1/labels", json={"account_id": "acct_a", "label": "legit", "source": "analyst"},
                       headers=auth).status_code == 201
    bad = client.post("/v1/labels", json={"account_id": "acct_a", "label": "spam", "source": "analyst"},
                      headers=auth)
    assert bad.status_code == 422 and error_of(bad)["field"] == "label"
    assert client.post("/v1/labels", json={"account_id": "ghost", "label": "fraud", "source": "analyst"},
                       headers=auth).status_code == 404
    ok = client.post(f"/v1/assessments/{first['assessment_id']}/challenge", json={"outcome": "passed"}, headers=auth)
    assert ok.status_code == 200
    assert client.post("/v1/assessments/asm_missing/challenge", json={"outcome": "passed"},
                       headers=auth).status_code == 404
    view = client.get("/v1/accounts/acct_a", headers=auth)
    assert view.status_code == 200
    acc = AccountResponse.model_validate(view.json)
    assert [lb.label for lb in acc.labels] == ["fraud", "legit"]          # appended, never overwritten
    assert acc.links[0].account_id == "acct_b" and set(acc.links[0].via) >= {"device", "components"}
    assert acc.assessments[0].assessment_id == first["assessment_id"]
    assert client.get("/v1/accounts/nobody", headers=auth).status_code == 404


def test_openapi_describes_the_routes(client):
    doc = client.get("/openapi.json").json
    assert doc["openapi"].startswith("3.")
    assert {"/v1/assess", "/v1/labels", "/v1/accounts/{account_id}"} <= set(doc["paths"])
    assert "AssessRequest" in doc["components"]["schemas"]
    required = doc["components"]["schemas"]["AssessRequest"]["required"]
    assert set(required) == {"event", "account", "ip"}


def test_ops_routes(client, auth):
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json["ready"] is True
    client.post("/v1/assess", json=signup(), headers=auth)
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'riskengine_decisions_total{' in metrics
    assert 'riskengine_http_request_seconds_bucket{le="0.001",route="/v1/assess"}' in metrics
    assert "riskengine_model_info" in metrics
