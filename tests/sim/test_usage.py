"""Simulated API usage: contract validity, ground truth, the behaviour that separates abuse from
heavy legitimate use (and the overlap that keeps it from being trivial), volume and speed."""

from __future__ import annotations

import ipaddress
import json
import re
import statistics as st
from collections import Counter, defaultdict
from datetime import datetime

import numpy as np
import pytest

from riskengine.sim import build_world
from riskengine.sim.geo import distance_km
from riskengine.sim.usage import (
    ABUSIVE_SEGMENTS,
    HEAVY_LEGIT_SEGMENTS,
    QUOTA_REQUESTS_PER_DAY,
    USAGE_SEGMENTS,
    simulate_usage,
)
from riskengine.usage.ingest import batch_of, parse_batch

FIELDS = {"account_id", "occurred_at", "ip", "device_id", "api_key_id", "model", "requests", "input_tokens",
          "output_tokens", "prompt_fingerprint", "reasoning_requested"}
FP = re.compile(r"^[0-9a-f]{16}$")


@pytest.fixture(scope="module")
def world():
    return build_world(seed=11, accounts=600, days=21)


@pytest.fixture(scope="module")
def sim(world):
    return simulate_usage(world, seed=1)


def _ts(s: str) -> int:
    return int(datetime.fromisoformat(s).timestamp())


@pytest.fixture(scope="module")
def per_account(sim):
    by = defaultdict(list)
    for r in sim.records:
        by[r["account_id"]].append(r)
    return by


def _stats(rs: list[dict], geo) -> dict:
    req = sum(r["requests"] for r in rs)
    hours = Counter()
    days = Counter()
    for r in rs:
        t = _ts(r["occurred_at"])
        hours[t // 3600] += r["requests"]
        days[t // 86400] += r["requests"]
    v = list(hours.values())
    ips = {r["ip"] for r in rs}
    return {
        "requests": req,
        "reasoning": sum(r["requests"] for r in rs if r["reasoning_requested"]) / req,
        "hour_cv": st.pstdev(v) / st.mean(v) if len(v) > 1 else 1.0,
        "hours_of_day": len({h % 24 for h in hours}),
        "ips": len(ips),
        "asns": len({geo.lookup(ip).asn for ip in ips}),
        "devices": len({r["device_id"] for r in rs if r["device_id"]}),
        "out_in": sum(r["output_tokens"] for r in rs) / max(1, sum(r["input_tokens"] for r in rs)),
        "max_day": max(days.values()),
    }


@pytest.fixture(scope="module")
def stats(sim, world, per_account):
    out = defaultdict(list)
    for aid, rs in per_account.items():
        out[sim.segment[aid]].append(_stats(rs, world.geo))
    return out


def _median(stats, seg, key):
    return st.median(s[key] for s in stats[seg])


# ---------------------------------------------------------------------------------------
# Determinism and contract validity
# ---------------------------------------------------------------------------------------

def test_deterministic_for_a_seed():
    w = build_world(seed=3, accounts=250, days=10)
    a, b, c = simulate_usage(w, seed=5), simulate_usage(w, seed=5), simulate_usage(w, seed=6)
    assert a.records == b.records and a.segment == b.segment and a.record_abusive == b.record_abusive
    assert a.records != c.records
    w2 = build_world(seed=3, accounts=250, days=10)
    assert simulate_usage(w2, seed=5).records == a.records


def test_records_follow_the_contract(sim, world):
    assert sim.records
    created = {a.id: a.created_at for a in world.accounts}
    times = [r["occurred_at"] for r in sim.records]
    assert times == sorted(times)
    for r in sim.records:
        assert set(r) == FIELDS
        assert isinstance(r["account_id"], str) and r["account_id"] in created
        assert isinstance(r["occurred_at"], str) and r["occurred_at"].endswith("Z")
        at = datetime.fromisoformat(r["occurred_at"])
        assert world.start <= at < world.end
        assert at > created[r["account_id"]]
        ipaddress.ip_address(r["ip"])
        assert r["device_id"] is None or (isinstance(r["device_id"], str) and r["device_id"].startswith("dv_"))
        assert isinstance(r["api_key_id"], str) and r["api_key_id"].startswith("key_")
        assert isinstance(r["model"], str)
        assert type(r["requests"]) is int and r["requests"] >= 1
        assert type(r["input_tokens"]) is int and r["input_tokens"] >= r["requests"]
        assert type(r["output_tokens"]) is int and r["output_tokens"] >= r["requests"]
        assert FP.match(r["prompt_fingerprint"])
        assert type(r["reasoning_requested"]) is bool
    # the service's own parser accepts them (10,000 records a call)
    for i in range(0, len(sim.records), 10_000):
        batch = parse_batch(json.dumps({"records": sim.records[i:i + 10_000]}).encode())
        assert len(batch.records) == len(sim.records[i:i + 10_000])
    assert len(batch_of(sim.records[-3:]).records) == 3


def test_ips_and_devices_come_from_the_world(sim, world, per_account):
    geo = world.geo
    ips = {r["ip"] for r in sim.records}
    assert all(geo.lookup(ip) is not None for ip in ips)      # the world's GeoIP files resolve them
    # a person's own usage comes from their devices: ids the world knows for the account
    checked = 0
    for aid, rs in per_account.items():
        if sim.segment[aid] != "light":
            continue
        a = world.account(aid)
        known = {d.id for d in a.devices if d.id} | set(a.device_ids)
        used = {r["device_id"] for r in rs if r["device_id"]}
        assert used <= known, aid
        checked += bool(used)
    assert checked > 50
    # farms reuse worker devices across the operator's accounts
    shared = 0
    for cid in {sim.campaign_id[a] for a in sim.accounts_in("distill_farm")}:
        devs = Counter()
        for aid in sim.accounts_in("distill_farm"):
            if sim.campaign_id[aid] == cid:
                devs.update({r["device_id"] for r in per_account[aid] if r["device_id"]})
        shared += any(n >= 3 for n in devs.values())
    assert shared >= 1


# ---------------------------------------------------------------------------------------
# Ground truth
# ---------------------------------------------------------------------------------------

def test_ground_truth_is_consistent(sim, world, per_account):
    assert set(sim.segment) == {a.id for a in world.accounts}
    assert set(sim.segment.values()) <= set(USAGE_SEGMENTS)
    assert len(sim.record_abusive) == len(sim.records)
    for aid, seg in sim.segment.items():
        assert sim.abusive[aid] == (seg in ABUSIVE_SEGMENTS)
        assert (seg == "inactive") == (aid not in per_account)
        if sim.abusive[aid]:
            assert sim.campaign_id[aid] != "legit" and sim.group[aid]
            assert aid in sim.abuse_start
    for r, ab in zip(sim.records, sim.record_abusive, strict=True):
        assert not ab or sim.abusive[r["account_id"]]
        if ab:
            assert datetime.fromisoformat(r["occurred_at"]) >= sim.abuse_start[r["account_id"]]
    # fake accounts of farm campaigns are the farms; legit accounts are legit unless resold
    for a in world.accounts:
        seg = sim.segment[a.id]
        if seg in ("distill_farm", "quota_hugger", "reasoning_elicitor"):
            assert a.fraud and a.campaign in ("bulk_farm", "alias_farm", "antidetect_farm", "hydra")
            assert sim.campaign_id[a.id] == a.campaign_id
        if not a.fraud and seg != "resold" and seg != "inactive":
            assert not sim.abusive[a.id] and sim.campaign_id[a.id] == "legit"
        if seg == "resold" and not a.fraud and a.compromised_at is not None and sim.campaign_id[a.id].startswith("ato"):
            assert sim.abuse_start[a.id] > a.compromised_at
    counts = Counter(sim.segment.values())
    for seg in ("light", "office_hours", "startup_batch", "researcher", "shared_team", "distill_farm",
                "quota_hugger", "reasoning_elicitor", "resold", "inactive"):
        assert counts[seg] >= 1, seg
    assert sim.heavy_legit and all(sim.segment[a] in HEAVY_LEGIT_SEGMENTS for a in sim.heavy_legit)


# ---------------------------------------------------------------------------------------
# Behaviour: abuse vs light legitimate use
# ---------------------------------------------------------------------------------------

def test_farms_ask_for_reasoning_and_long_outputs(stats):
    assert _median(stats, "distill_farm", "reasoning") >= 0.6
    assert _median(stats, "reasoning_elicitor", "reasoning") >= 0.85
    assert _median(stats, "light", "reasoning") <= 0.2
    assert _median(stats, "distill_farm", "out_in") >= 2 * _median(stats, "light", "out_in")


def test_farms_are_machine_regular_around_the_clock(stats):
    assert _median(stats, "distill_farm", "hour_cv") < 0.3
    assert _median(stats, "light", "hour_cv") > 0.5
    around = sum(s["hours_of_day"] >= 18 for s in stats["distill_farm"]) / len(stats["distill_farm"])
    assert around >= 0.4
    assert sum(s["hours_of_day"] >= 18 for s in stats["light"]) / len(stats["light"]) <= 0.05


def test_farms_hug_the_quota(stats):
    for seg in ("distill_farm", "quota_hugger"):
        assert max(s["max_day"] for s in stats[seg]) <= QUOTA_REQUESTS_PER_DAY
        assert _median(stats, seg, "max_day") >= 0.85 * QUOTA_REQUESTS_PER_DAY
    assert _median(stats, "light", "max_day") < 0.1 * QUOTA_REQUESTS_PER_DAY


def test_farms_hop_proxies(stats):
    assert _median(stats, "distill_farm", "ips") >= 10
    assert _median(stats, "distill_farm", "ips") >= 5 * _median(stats, "light", "ips")
    assert _median(stats, "distill_farm", "asns") >= 3
    assert _median(stats, "light", "asns") <= 2


def _near_share(mine: np.ndarray, weights: np.ndarray, others: np.ndarray, bits: int = 3) -> float:
    """Share of requests whose fingerprint is within ``bits`` of some fingerprint in ``others``."""
    if len(others) == 0:
        return 0.0
    d = np.bitwise_count(mine[:, None] ^ others[None, :]).min(axis=1)
    return float(weights[d <= bits].sum() / weights.sum())


def _fps(rs: list[dict], limit: int = 300) -> tuple[np.ndarray, np.ndarray]:
    c = Counter()
    for r in rs:
        c[int(r["prompt_fingerprint"], 16)] += r["requests"]
    top = c.most_common(limit)
    return np.array([f for f, _ in top], dtype=np.uint64), np.array([n for _, n in top], dtype=float)


def test_templates_are_shared_across_an_operators_accounts(sim, per_account):
    farm = sim.accounts_in("distill_farm")
    by_op = defaultdict(list)
    for aid in farm:
        by_op[sim.campaign_id[aid]].append(aid)
    shares = []
    for members in by_op.values():
        if len(members) < 2:
            continue
        fps = {aid: _fps(per_account[aid]) for aid in members}
        for aid in members[:15]:
            others = np.concatenate([fps[o][0] for o in members if o != aid])
            shares.append(_near_share(*fps[aid], others))
    light = sim.accounts_in("light")[:150]
    fps = {aid: _fps(per_account[aid]) for aid in light}
    pool = np.concatenate([fps[a][0] for a in light])
    owner = np.concatenate([[i] * len(fps[a][0]) for i, a in enumerate(light)])
    light_shares = [_near_share(*fps[a], pool[owner != i]) for i, a in enumerate(light)]
    assert shares and st.median(shares) >= 0.6
    assert st.mean(light_shares) <= 0.1


def test_resold_accounts_are_used_from_distant_places_at_once(sim, world, per_account):
    geo = world.geo

    def concurrent_far(rs):
        by_hour = defaultdict(set)
        for r in rs:
            by_hour[_ts(r["occurred_at"]) // 3600].add(geo.lookup(r["ip"]).city)
        return any(any(distance_km(a, b) > 2000 for a in cs for b in cs) for cs in by_hour.values() if len(cs) > 1)

    resold = sim.accounts_in("resold")
    light = sim.accounts_in("light")
    frac_resold = sum(concurrent_far(per_account[a]) for a in resold) / len(resold)
    frac_light = sum(concurrent_far(per_account[a]) for a in light) / len(light)
    assert frac_resold >= 0.6
    assert frac_light <= 0.05
    countries = [len({geo.lookup(r["ip"]).country for r in per_account[a]}) for a in resold]
    assert st.median(countries) >= 3


def test_light_users_keep_human_hours(sim, world, per_account):
    from zoneinfo import ZoneInfo
    night = total = 0
    for aid in sim.accounts_in("light")[:300]:
        tz = ZoneInfo(world.account(aid).home_city.tz)
        for r in per_account[aid]:
            h = datetime.fromisoformat(r["occurred_at"]).astimezone(tz).hour
            total += r["requests"]
            night += r["requests"] * (2 <= h < 6)
    assert night / total < 0.06


# ---------------------------------------------------------------------------------------
# Heavy legitimate users overlap with abuse on single signals
# ---------------------------------------------------------------------------------------

def test_heavy_legit_users_overlap_with_abuse(sim, world, stats, per_account):
    # startups: heavy, regular, from hosting providers, templated (inside the org)
    assert _median(stats, "startup_batch", "requests") >= 20 * _median(stats, "light", "requests")
    hosting = sum(r["requests"] for a in sim.accounts_in("startup_batch") for r in per_account[a]
                  if world.geo.lookup(r["ip"]).kind == "hosting")
    total = sum(r["requests"] for a in sim.accounts_in("startup_batch") for r in per_account[a])
    assert hosting / total > 0.6
    # researchers: reasoning share in the farms' range
    assert _median(stats, "researcher", "reasoning") >= 0.35
    # shared team accounts: several devices and IPs, like resold ones, but one country
    assert _median(stats, "shared_team", "devices") >= 3
    geo = world.geo
    team_countries = [len({geo.lookup(r["ip"]).country for r in per_account[a]})
                      for a in sim.accounts_in("shared_team")]
    assert st.median(team_countries) <= 1.5


def test_records_fold_by_minute_or_busy_hour(sim):
    seen = Counter()
    for r in sim.records:
        seen[(r["account_id"], r["occurred_at"][:16], r["ip"], r["device_id"], r["api_key_id"], r["model"],
              r["reasoning_requested"])] += 1
    assert max(seen.values()) == 1   # one record per (account, minute, ip, device, key, model, reasoning)
    assert any(r["requests"] > 30 for r in sim.records)


# ---------------------------------------------------------------------------------------
# Volume (speed is measured by `riskengine simulate` timings, not asserted here)
# ---------------------------------------------------------------------------------------

def test_small_world_volume():
    s = simulate_usage(build_world(seed=2, accounts=500), seed=0)
    assert 25_000 <= len(s.records) <= 120_000


def test_days_limits_the_window(world):
    s = simulate_usage(world, seed=1, days=7)
    end = world.start.timestamp() + 7 * 86400
    assert s.records and all(_ts(r["occurred_at"]) < end for r in s.records)
    assert s.end.timestamp() == end
