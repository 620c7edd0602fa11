"""The re-scoring job decides through the same policy as /v1/assess: monitor mode, hard rules,
restricted regions, lists, labels and thresholds, on a real database with the shipped models."""
from __future__ import annotations

import json
import time

import numpy as np

from riskengine.rescore import job
from riskengine.rescore.decide import decide
from riskengine.rescore.facts import RescoreFacts
from riskengine.rescore.population import population
from riskengine.scoring.policy import Policy
from tests.factories import NOW, WEEK, assess, at, login, send_usage, signup, stored

# The model never decides on its own here (no score reaches 2): what decides is the policy.
MODEL_ALLOWS = """
[thresholds.rescore]
challenge = 2.0
block = 2.0
"""


def label(client, auth, account, value):
    assert client.post("/v1/labels", json={"account_id": account, "label": value, "source": "analyst"},
                       headers=auth).status_code == 201


def run(rt, active_model, **kw):
    return job.run(rt, active_model, WEEK, progress=False, **kw)


def test_monitor_mode_answers_allow_and_says_what_enforcing_would_do(serve, active_model, tmp_path):
    client, auth, rt = serve('version = "monitor-1"\nmode = "monitor"\n')
    for acct in ("acct_bad", "acct_ok"):
        assess(client, auth, signup(acct, occurred_at=at(30)))
    label(client, auth, "acct_bad", "fraud")
    changes = tmp_path / "changes.jsonl"
    summary = run(rt, active_model, changes_path=str(changes))
    row = stored(rt)["acct_bad"]
    assert (row["decision"], row["monitored_decision"], row["decided_by"]) == ("allow", "block", "rule:analyst_label")
    assert (row["response"]["decision"], row["response"]["monitored_decision"]) == ("allow", "block")
    assert summary.decisions == {"allow": 2} and summary.monitored["block"] == 1
    assert "enforcing would decide: " in summary.text() and "block 1" in summary.text()
    change = {c["account_id"]: c for c in map(json.loads, changes.read_text().splitlines())}["acct_bad"]
    assert (change["decision"], change["monitored_decision"]) == ("allow", "block")
    # A later login of the account: allowed, and held to the job's verdict in monitored_decision.
    out = assess(client, auth, login("acct_bad"))
    assert (out["decision"], out["monitored_decision"], out["decided_by"]) == ("allow", "block", "rule:rescore")
    assert "account.rescored" in {r["code"] for r in out["reasons"]}
    # The verdict stored is enforcement's: once the policy enforces, that login is blocked.
    client2, auth2, _ = serve('version = "enforce-1"\n')
    out = assess(client2, auth2, login("acct_bad", event_id="second-login"))
    assert (out["decision"], out["monitored_decision"], out["decided_by"]) == ("block", None, "rule:rescore")


def test_monitor_mode_in_rescore_matches_enforce_mode(client, auth, runtime, active_model):
    """On the same scores, a monitoring policy's monitored decisions are an enforcing one's decisions."""
    for i in range(6):
        assess(client, auth, signup(f"acct_{i}", occurred_at=at(30 - i), ip=["2.125.160.216", "89.160.20.112"][i % 2]))
        send_usage(client, auth, f"acct_{i}", 8 + 10 * i, reasoning=i % 2 == 0)
    label(client, auth, "acct_1", "fraud")
    runtime.folder.fold()
    until = time.time()                     # after the label
    with runtime.db.connect() as conn:
        pop = population(conn, until - WEEK, until, keep_usage=True)
    [(rows, scored)] = job._score(runtime, active_model, pop, np.arange(len(pop.accounts)), until - WEEK, until,
                                  None, 1)
    raw = {"version": "t", "thresholds": {"rescore": {"challenge": float(np.median(scored.score)), "block": 0.99}},
           "restricted_regions": {"countries": ["SE"], "ip": "block"}}
    enforce, monitor = Policy.parse(raw), Policy.parse({**raw, "mode": "monitor"})
    with runtime.db.connect() as conn:
        facts = RescoreFacts.build(conn, pop, enforce, runtime.readers, until - WEEK, until)
    enforced = [(o.decision, o.decided_by, o.monitored)
                for o in decide(pop, rows, scored, active_model, enforce, facts)]
    monitored = [(o.monitored, o.decided_by, o.decision)
                 for o in decide(pop, rows, scored, active_model, monitor, facts)]
    assert monitored == [(d, by, "allow") for d, by, _ in enforced]
    assert {d for d, _, _ in enforced} == {"allow", "challenge", "block"}      # all three were compared
    assert {m for _, _, m in enforced} == {None}


def test_a_rescore_rule_over_behaviour_fires_in_the_rescore(serve, active_model):
    client, auth, rt = serve('version = "rules-1"\n' + MODEL_ALLOWS + """
[[rules]]
name = "reasoning_farm"
event = "rescore"
action = "block"
when = [{ signal = "behaviour.usage_reasoning_share", gte = 0.9 }, { signal = "behaviour.usage_records", gte = 1 }]

[[rules]]
name = "login_only"
event = "login"
action = "block"
when = [{ signal = "behaviour.usage_reasoning_share", gte = 0.0 }]

[[rules]]
name = "in_a_cluster"
action = "challenge"
when = [{ signal = "links.cluster_size", gte = 1 }]

[[rules]]
name = "event_signals_are_absent"
action = "block"
when = [{ signal = "ip.tor", equals = false }]
""")
    for acct, reasoning in (("acct_reasons", True), ("acct_plain", False)):
        assess(client, auth, signup(acct, occurred_at=at(30)))
        send_usage(client, auth, acct, 10, device=f"dv_{acct}", reasoning=reasoning)
    run(rt, active_model)
    rows = stored(rt)
    farm, plain = rows["acct_reasons"], rows["acct_plain"]
    assert (farm["decision"], farm["decided_by"]) == ("block", "rule:reasoning_farm")
    assert farm["response"]["signals"]["behaviour"]["usage_reasoning_share"] == 1.0
    assert {"rule.reasoning_farm", "rule.in_a_cluster"} <= {r["code"] for r in farm["response"]["reasons"]}
    # An unset event applies to rescores; a login rule does not; event signals (ip.*) are absent.
    assert (plain["decision"], plain["decided_by"]) == ("challenge", "rule:in_a_cluster")
    assert not {"rule.login_only", "rule.event_signals_are_absent"} & {r["code"] for r in plain["response"]["reasons"]}


def test_a_restricted_declared_country_blocks_in_the_rescore(client, auth, serve, active_model):
    # Signed up under the default policy, which serves GB; the new policy no longer does.
    assess(client, auth, signup("acct_gb", occurred_at=at(30)))
    us = signup("acct_us", occurred_at=at(30), ip="216.160.83.56")
    us["account"]["country"] = "US"
    assess(client, auth, us)
    _, _, rt = serve('version = "regions-1"\n' + MODEL_ALLOWS + """
[restricted_regions]
countries = ["GB"]
declared = "block"
ip = "ignore"
""")
    run(rt, active_model)
    rows = stored(rt)
    assert (rows["acct_gb"]["decision"], rows["acct_gb"]["decided_by"]) == ("block", "rule:restricted_region")
    assert "region.restricted_declared" in {r["code"] for r in rows["acct_gb"]["response"]["reasons"]}
    assert (rows["acct_us"]["decision"], rows["acct_us"]["decided_by"]) == ("allow", "model")


def test_usage_from_a_restricted_country_blocks_in_the_rescore(client, auth, serve, active_model):
    """The ip signal of a rescore is where the account was served: its usage addresses."""
    for acct in ("acct_used_there", "acct_signed_up_there", "acct_home"):
        assess(client, auth, signup(acct, occurred_at=at(30), ip="89.160.20.112" if acct == "acct_signed_up_there"
                                    else "2.125.160.216"))
    send_usage(client, auth, "acct_used_there", 3, ip="89.160.20.112")          # SE in the test database
    send_usage(client, auth, "acct_used_there", 3, ip="2.125.160.216")          # GB
    send_usage(client, auth, "acct_signed_up_there", 3, ip="2.125.160.216")
    send_usage(client, auth, "acct_home", 3, ip="2.125.160.216")
    _, _, rt = serve('version = "regions-2"\n' + MODEL_ALLOWS + """
[restricted_regions]
countries = ["SE"]
declared = "ignore"
ip = "block"
""")
    run(rt, active_model)
    rows = stored(rt)
    assert (rows["acct_used_there"]["decision"], rows["acct_used_there"]["decided_by"]) == \
        ("block", "rule:restricted_region")
    assert "region.restricted_ip" in {r["code"] for r in rows["acct_used_there"]["response"]["reasons"]}
    assert rows["acct_signed_up_there"]["decision"] == rows["acct_home"]["decision"] == "allow"
    # Without the window's usage in memory (the Dask path), the job reads the addresses itself.
    with rt.db.connect() as conn:
        for keep_usage in (True, False):
            pop = population(conn, NOW - WEEK, NOW, keep_usage=keep_usage)
            facts = RescoreFacts.build(conn, pop, rt.policy, rt.readers, NOW - WEEK, NOW)
            assert {pop.accounts[i]: c for i, c in facts.ip_countries.items()} == {"acct_used_there": {"SE"}}


def test_lists_in_the_rescore(client, auth, serve, active_model):
    def make(acct, **account):
        body = signup(acct, occurred_at=at(30))
        body["account"].update(account)
        body["device"]["id"] = f"dv_{acct}"
        return body
    assess(client, auth, make("acct_mail", email="mule@example.net"))
    assess(client, auth, make("acct_domain", email="someone@farm.example"))
    assess(client, auth, {**make("acct_card"), "payment": {"fingerprint": "fp_stolen", "country": "GB"}})
    assess(client, auth, make("acct_device"))
    send_usage(client, auth, "acct_usage_device", 3, ip="81.2.69.142", device="dv_burned")   # known from usage only
    for acct in ("acct_office", "acct_roams", "acct_vip", "acct_fired", "acct_plain"):
        assess(client, auth, make(acct))
    send_usage(client, auth, "acct_office", 3, ip="2.125.160.216", device="dv_acct_office")
    send_usage(client, auth, "acct_roams", 3, ip="2.125.160.216", device="dv_acct_roams")
    send_usage(client, auth, "acct_roams", 3, ip="89.160.20.112", device="dv_acct_roams")
    label(client, auth, "acct_vip", "fraud")
    label(client, auth, "acct_office", "fraud")
    label(client, auth, "acct_fired", "legit")
    _, _, rt = serve('version = "lists-1"\n' + MODEL_ALLOWS + """
[allow]
accounts = ["acct_vip"]
ip_ranges = ["2.125.160.0/24"]

[deny]
emails = ["Mule@example.net"]
domains = ["farm.example"]
card_fingerprints = ["fp_stolen"]
device_ids = ["dv_acct_device", "dv_burned"]
accounts = ["acct_fired"]
ip_ranges = ["89.160.20.0/24"]
""")
    run(rt, active_model)
    got = {a: (r["decision"], r["decided_by"]) for a, r in stored(rt).items()}
    assert got == {
        "acct_mail": ("block", "list:deny_emails"),
        "acct_domain": ("block", "list:deny_domains"),
        "acct_card": ("block", "list:deny_card_fingerprints"),          # matched by keyed hash
        "acct_device": ("block", "list:deny_device_ids"),
        "acct_usage_device": ("block", "list:deny_device_ids"),         # a device seen in usage only
        "acct_office": ("allow", "list:allow_ip_ranges"),               # every address allowed: over its label
        "acct_roams": ("block", "list:deny_ip_ranges"),                 # one allowed address is not enough
        "acct_vip": ("allow", "list:allow_accounts"),                   # allow lists win over labels
        "acct_fired": ("block", "list:deny_accounts"),                  # deny lists too
        "acct_plain": ("allow", "model"),
    }


def test_labels_decide_over_the_model_and_regions_still_hold(client, auth, serve, active_model):
    for acct in ("acct_fraud", "acct_legit", "acct_legit_gb"):
        body = signup(acct, occurred_at=at(30), ip="216.160.83.56")
        body["account"]["country"] = "GB" if acct == "acct_legit_gb" else "US"
        assess(client, auth, body)
    label(client, auth, "acct_fraud", "legit")
    label(client, auth, "acct_fraud", "fraud")               # the latest label decides
    label(client, auth, "acct_legit", "legit")
    label(client, auth, "acct_legit_gb", "legit")
    _, _, rt = serve('version = "labels-1"\n[thresholds.rescore]\nchallenge = 0.0\nblock = 0.0\n'
                     '[restricted_regions]\ncountries = ["GB"]\ndeclared = "block"\n')
    run(rt, active_model)
    rows = stored(rt)
    assert (rows["acct_fraud"]["decision"], rows["acct_fraud"]["decided_by"]) == ("block", "rule:analyst_label")
    assert rows["acct_fraud"]["response"]["reasons"][0]["code"] == "label.analyst"
    # The model (threshold 0) would block; a legit label allows, a restricted region still blocks.
    assert (rows["acct_legit"]["decision"], rows["acct_legit"]["decided_by"]) == ("allow", "rule:analyst_label")
    assert (rows["acct_legit_gb"]["decision"], rows["acct_legit_gb"]["decided_by"]) == \
        ("block", "rule:restricted_region")


def test_the_policy_thresholds_decide_the_model(client, auth, serve, active_model):
    for i in range(3):
        assess(client, auth, signup(f"acct_{i}", occurred_at=at(30 - i)))
    _, _, rt = serve('version = "thresholds-1"\n[thresholds.rescore]\nchallenge = 0.0\nblock = 2.0\n')
    run(rt, active_model)
    assert {(r["decision"], r["decided_by"]) for r in stored(rt).values()} == {("challenge", "model")}

