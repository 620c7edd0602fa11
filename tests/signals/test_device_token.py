"""Device tokens: issued over the collected fields, bound to a /24 or /48, 15 minutes long."""
from __future__ import annotations

import base64
import json

import pytest

from riskengine.hashing import Hasher
from riskengine.signals import device_token as dt

KEY = Hasher(b"k" * 32).derive(dt.KEY_LABEL)
FIELDS = {"visitor_id": "v1", "components_hash": "c0ffee", "timezone": "Europe/Berlin", "languages": ["de-DE"],
          "webdriver": False, "bot": {"detected": True, "kind": "headless_chrome"}}
NOW = 1_800_000_000.0


def test_a_fresh_token_from_the_same_network_is_valid_and_carries_the_fields():
    token, expires = dt.issue(KEY, FIELDS, "203.0.113.7", NOW)
    assert token.startswith("dt_") and expires == NOW + 900
    check = dt.verify(KEY, token, "203.0.113.99", NOW + 899)       # same /24, just in time
    assert check.state == "valid" and check.fields == FIELDS
    assert dt.bot_verdict(check.fields) == (True, "headless_chrome")
    assert dt.device_fields(check.fields)["id"] == "v1"


def test_the_payload_names_no_address():
    token, _ = dt.issue(KEY, FIELDS, "203.0.113.7", NOW)
    body = token[3:].split(".")[0]
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    assert set(payload) == {"v", "iat", "exp", "net", "d"} and "203.0.113" not in json.dumps(payload)


@pytest.mark.parametrize("issued_to, used_from, state", [
    ("203.0.113.7", "203.0.114.7", "invalid"),                    # another /24
    ("2001:db8:1::1", "2001:db8:1:ffff::2", "valid"),             # same /48
    ("2001:db8:1::1", "2001:db8:2::1", "invalid"),                # another /48
    ("::ffff:203.0.113.7", "203.0.113.8", "valid"),               # a mapped address is its IPv4
])
def test_the_token_is_bound_to_the_collector_requests_network(issued_to, used_from, state):
    token, _ = dt.issue(KEY, FIELDS, issued_to, NOW)
    assert dt.verify(KEY, token, used_from, NOW + 1).state == state


def test_expired_after_15_minutes_and_never_from_the_future():
    token, _ = dt.issue(KEY, FIELDS, "203.0.113.7", NOW)
    assert dt.verify(KEY, token, "203.0.113.7", NOW + 900).state == "expired"
    assert dt.verify(KEY, token, "203.0.113.7", NOW - 3600).state == "invalid"


def _tamper(token: str) -> str:
    body, sig = token.rsplit(".", 1)
    payload = json.loads(base64.urlsafe_b64decode(body[3:] + "=" * (-len(body[3:]) % 4)))
    payload["d"]["bot"] = {"detected": False, "kind": None}
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    return f"dt_{forged}.{sig}"


@pytest.mark.parametrize("make", [
    _tamper,                                                      # edited payload, old signature
    lambda t: dt.issue(Hasher(b"x" * 32).derive(dt.KEY_LABEL), FIELDS, "203.0.113.7", NOW)[0],   # another key
    lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # edited signature
    lambda t: t.replace("dt_", "xx_", 1),
    lambda t: "dt_" + "A" * 5000,
    lambda t: "dt_notbase64!.sig",
    lambda t: "",
    lambda t: t.rsplit(".", 1)[0],                                # no signature
])
def test_anything_but_an_untouched_token_is_invalid(make):
    token, _ = dt.issue(KEY, FIELDS, "203.0.113.7", NOW)
    check = dt.verify(KEY, make(token), "203.0.113.7", NOW + 1)
    assert check.state == "invalid" and check.fields is None


def test_a_signed_payload_of_an_unknown_version_is_invalid():
    body = "dt_" + base64.urlsafe_b64encode(json.dumps({"v": 2, "iat": 1, "exp": 2, "d": {}}).encode()).decode()
    forged = f"{body}.{dt._sign(KEY, body)}"
    assert dt.verify(KEY, forged, "203.0.113.7", NOW).state == "invalid"


def test_a_bot_verdict_counts_only_when_well_formed():
    assert dt.bot_verdict({"bot": {"detected": False, "kind": "selenium"}}) == (False, None)
    assert dt.bot_verdict({"bot": {"detected": "yes"}}) == (None, None)
    assert dt.bot_verdict({}) == (None, None) and dt.bot_verdict(None) == (None, None)
