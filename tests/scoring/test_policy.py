"""Policy files: parsing errors name the key, lists and rules decide over the model."""
from __future__ import annotations

import ipaddress

import pytest

from riskengine.scoring.policy import OTHER, Facts, Policy, PolicyError


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
    assert p.version == "default-4" and p.mode == "enforce"
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
    assert p.challenge_types([{"code": "phone.voip"}, {"code": "email.disposable"}]) == [
        "sms_otp", "email_verification"]
    assert p.challenge_types([]) == ["email_verification"]


def test_failure_modes():
    p = policy(degraded={"signup": "fail_closed", "login": "fail_open", "fail_closed_decision": "block"})
    assert (p.on_failure("signup").decision, p.on_failure("signup").decided_by) == ("block", "fail_closed")
    assert (p.on_failure("login").decision, p.on_failure("login").decided_by) == ("allow", "fail_open")


# --- rescores: the same policy decides the re-scoring job's answers ---------------------------

def rescore_facts(**over) -> Facts:
    """An account over a window, as the job sees it: no event values, many used ones."""
    base = dict(event="rescore", account_id="a1", email="jane@example.com", domain="example.com", ip=None,
                device_id=None, card_fingerprint=None, countries={"declared": frozenset({"GB"})},
                signals={"behaviour": {"usage_requests": 40.0}, "links": {"cluster_id": "cl_1", "cluster_size": 3}})
    base.update(over)
    return Facts(**base)


def test_rules_may_name_the_rescore_event():
    p = policy(rules=[{"name": "busy", "event": "rescore", "action": "challenge",
                       "when": [{"signal": "behaviour.usage_requests", "gte": 30}]}])
    v = p.decide(rescore_facts(), "allow")
    assert (v.decision, v.decided_by) == ("challenge", "rule:busy")
    assert p.decide(facts(signals={"behaviour": {"usage_requests": 99}}), "allow").decided_by == "model"
    with pytest.raises(PolicyError, match=r"rules\[0\].event: must be signup, login or rescore"):
        policy(rules=[{"name": "r", "event": "usage", "action": "block", "when": [{"signal": "x", "equals": 1}]}])


def test_event_rules_see_no_rescore_signal():
    p = policy(rules=[{"name": "tor", "action": "block", "when": [{"signal": "ip.tor", "equals": False}]}])
    assert p.decide(facts(), "allow").decided_by == "rule:tor"           # an event with ip.tor false
    assert p.decide(rescore_facts(), "allow").decided_by == "model"      # absent in a rescore: never fires


def test_finalize_applies_monitor_mode():
    enforce, monitor = policy(), policy(mode="monitor")
    deny = {"accounts": ["a1"]}
    v = enforce.finalize(policy(deny=deny).decide(facts(), "allow"))
    assert (v.decision, v.decided_by, v.monitored) == ("block", "list:deny_accounts", None)
    v = monitor.finalize(policy(deny=deny).decide(facts(), "allow"))
    assert (v.decision, v.decided_by, v.monitored) == ("allow", "list:deny_accounts", "block")
    assert v.reasons[0]["code"] == "list.deny"
    assert monitor.finalize(enforce.decide(facts(), "allow")).monitored == "allow"


def test_labels_replace_the_model_and_rules_still_raise():
    p = policy(rules=[{"name": "busy", "action": "challenge", "when": [{"signal": "behaviour.usage_requests",
                                                                         "gte": 30}]}])
    fraud = p.decide(rescore_facts(label="fraud"), "allow")
    assert (fraud.decision, fraud.decided_by, fraud.reasons[0]["code"]) == (
        "block", "rule:analyst_label", "label.analyst")
    legit = p.decide(rescore_facts(label="legit", signals={}), "block")
    assert (legit.decision, legit.decided_by) == ("allow", "rule:analyst_label")
    assert p.decide(rescore_facts(label="legit"), "block").decided_by == "rule:busy"   # the floor holds
    assert p.decide(rescore_facts(label=None, signals={}), "challenge").decided_by == "model"


def test_lists_win_over_labels():
    assert policy(allow={"accounts": ["a1"]}).decide(rescore_facts(label="fraud"), "block").decided_by \
        == "list:allow_accounts"
    assert policy(deny={"emails": ["JANE@example.com"]}).decide(rescore_facts(label="legit"), "allow").decided_by \
        == "list:deny_emails"


def test_window_values_deny_on_one_and_allow_on_all():
    office, farm = ipaddress.ip_address("198.51.100.7"), ipaddress.ip_address("203.0.113.9")
    p = policy(allow={"ip_ranges": ["198.51.100.0/24"], "device_ids": ["dv_qa"]},
               deny={"ip_ranges": ["203.0.113.0/24"], "card_fingerprints": ["fp_bad"]})
    decided = lambda used: p.decide(rescore_facts(used=used), "challenge").decided_by  # noqa: E731
    assert decided({"ip_ranges": frozenset({office})}) == "list:allow_ip_ranges"
    assert decided({"ip_ranges": frozenset({office, farm})}) == "list:deny_ip_ranges"
    assert decided({"ip_ranges": frozenset({office, OTHER})}) == "model"      # also used an unlisted address
    assert decided({"device_ids": frozenset({"dv_qa"})}) == "list:allow_device_ids"
    assert decided({"device_ids": frozenset({"dv_qa", OTHER})}) == "model"
    assert decided({"card_fingerprints": frozenset({OTHER, "fp_bad"})}) == "list:deny_card_fingerprints"
    assert decided({"card_fingerprints": frozenset({OTHER})}) == "model"
    assert decided({}) == "model"
