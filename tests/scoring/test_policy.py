"""Policy files: parsing errors name the key, lists and rules decide over the model."""
from __future__ import annotations

import ipaddress

import pytest

from riskengine.scoring.policy import Facts, Policy, PolicyError


def facts(**over) -> Facts:
    base = dict(event="signup", account_id="a1", email="Jane@Example.com", domain="example.com",
                ip=ipaddress.ip_address("198.51.100.7"), device_id="dv1", card_fingerprint="fp1",
                countries={"ip": frozenset({"US"})}, signals={"ip": {"tor": False}, "velocity": {"payment": {"7d": 0}}})
    base.update(over)
    return Facts(**base)


def policy(**raw) -> Policy:
    return Policy.parse({"version": "t-1", **raw})


def test_bundled_default_policy_loads():
    p = Policy.load()
    assert p.version == "default-3" and p.mode == "enforce"
    assert {r.name for r in p.rules} >= {"tor_signup", "card_farm"}
    assert p.degraded["login"] == "fail_open"


@pytest.mark.parametrize("raw, where", [
    ({"mode": "shadow"}, "policy.mode"),
    ({"restricted_regions": {"ip": "explode"}}, "restricted_regions.ip"),
    ({"deny": {"ip_ranges": ["10.0.0.0/33"]}}, "deny.ip_ranges"),
    ({"deny": {"phones": []}}, "deny: unknown list"),
    ({"rules": [{"name": "r", "action": "block", "when": [{"signal": "ip.tor"}]}]}, "rules[0].when[0]"),
    ({"rules": [{"name": "r", "action": "nuke", "when": [{"signal": "ip.tor", "equals": True}]}]}, "rules[0].action"),
    ({"degraded": {"login": "fail_sideways"}}, "degraded.login"),
])
def test_bad_policies_name_the_key(raw, where):
    with pytest.raises(PolicyError, match=where.replace("[", r"\[").replace("]", r"\]")):
        policy(**raw)


def test_version_is_required(tmp_path):
    f = tmp_path / "p.toml"
    f.write_text('mode = "enforce"\n')
    with pytest.raises(PolicyError, match="version"):
        Policy.load(f)


def test_allow_list_beats_deny_list_and_model():
    p = policy(allow={"emails": ["jane@example.com"]}, deny={"domains": ["example.com"]})
    v = p.decide(facts(), "block")
    assert (v.decision, v.decided_by) == ("allow", "list:allow_emails")


def test_deny_lists_match_subdomains_ranges_devices_cards():
    assert policy(deny={"domains": ["example.com"]}).decide(facts(domain="mx.example.com"), "allow").decided_by \
        == "list:deny_domains"
    assert policy(deny={"ip_ranges": ["198.51.100.0/24"]}).decide(facts(), "allow").decision == "block"
    assert policy(deny={"device_ids": ["dv1"]}).decide(facts(), None).decided_by == "list:deny_device_ids"
    assert policy(deny={"card_fingerprints": ["fp1"]}).decide(facts(), None).decided_by == "list:deny_card_fingerprints"
    assert policy(deny={"domains": ["other.com"]}).decide(facts(), "allow").decided_by == "model"


def test_rules_raise_the_floor_but_never_lower_the_model():
    p = policy(rules=[{"name": "cards", "action": "challenge", "when": [{"signal": "velocity.payment.7d", "gte": 3}]}])
    hot = facts(signals={"velocity": {"payment": {"7d": 5}}})
    assert (p.decide(hot, "allow").decision, p.decide(hot, "allow").decided_by) == ("challenge", "rule:cards")
    assert p.decide(hot, "block").decided_by == "model"          # the model already blocks
    assert p.decide(facts(), "allow").decided_by == "model"      # 0 < 3: rule does not fire
    absent = facts(signals={"velocity": None})
    assert p.decide(absent, "allow").decision == "allow"         # an absent signal never fires a rule


def test_rule_event_filter_and_ops():
    p = policy(rules=[{"name": "tor", "event": "signup", "action": "block",
                       "when": [{"signal": "ip.tor", "equals": True}, {"signal": "ip.country", "in": ["US", "GB"]}]}])
    tor = {"ip": {"tor": True, "country": "US"}}
    assert p.decide(facts(signals=tor), "allow").decision == "block"
    assert p.decide(facts(signals=tor, event="login"), "allow").decision == "allow"
    assert p.decide(facts(signals={"ip": {"tor": True, "country": "FR"}}), "allow").decision == "allow"


def test_restricted_regions_per_signal():
    p = policy(restricted_regions={"countries": ["IR"], "ip": "block", "phone": "challenge", "timezone": "ignore"})
    assert p.decide(facts(countries={"phone": frozenset({"IR"})}), "allow").decision == "challenge"
    v = p.decide(facts(countries={"ip": frozenset({"IR"})}), "allow")
    assert (v.decision, v.decided_by) == ("block", "rule:restricted_region")
    assert p.decide(facts(countries={"timezone": frozenset({"IR"})}), "allow").decision == "allow"


def test_challenge_types_follow_reason_families():
    p = Policy.load()
    assert p.challenge_types([{"code": "phone.voip"}, {"code": "email.disposable"}]) == ["sms_otp", "email_verification"]
    assert p.challenge_types([]) == ["email_verification"]


def test_failure_modes():
    p = policy(degraded={"signup": "fail_closed", "login": "fail_open", "fail_closed_decision": "block"})
    assert (p.on_failure("signup").decision, p.on_failure("signup").decided_by) == ("block", "fail_closed")
    assert (p.on_failure("login").decision, p.on_failure("login").decided_by) == ("allow", "fail_open")
