"""The simulated world: determinism, structure of the bodies, campaigns and hard cases."""

from __future__ import annotations

import ipaddress
import json
from collections import Counter, defaultdict
from datetime import datetime

import phonenumbers
import pytest

from riskengine.sim import ATTACK_KINDS, build_world
from riskengine.sim import identity as idt
from riskengine.sim.geo import COUNTRIES
from riskengine.sim.rand import Rand

EVENTS = {"signup", "login"}
ORG_TYPES = {"individual", "startup", "education", "enterprise", "research"}
FUNDING = {"credit", "debit", "prepaid", "unknown"}
OUTCOMES = {"success", "failure"}
METHODS = {"password", "sso", "passkey", "magic_link", "api_key"}
ACCOUNT_KEYS = {"id", "email", "phone", "name", "country", "org_type"}
DEVICE_KEYS = {"id", "user_agent", "timezone", "languages", "screen", "platform", "webdriver", "components_hash",
               "token"}
PAYMENT_KEYS = {"fingerprint", "bin", "last4", "country", "funding", "billing_country"}
LEGIT_SEGMENTS = {"regular", "vpn_user", "cgnat_mobile", "campus_nat", "office_nat", "family_shared_device",
                  "traveller", "expat", "developer", "alias_user"}


@pytest.fixture(scope="module")
def world():
    return build_world(seed=11, accounts=500, days=21)


def _opt_str(v):
    return v is None or isinstance(v, str)


def test_deterministic_for_a_seed():
    a = build_world(seed=3, accounts=300, days=10)
    b = build_world(seed=3, accounts=300, days=10)
    c = build_world(seed=4, accounts=300, days=10)

    def dump(w):
        return json.dumps([(e.body, e.fraud, e.campaign, e.campaign_id, e.segment) for e in w.events])

    assert dump(a) == dump(b)
    assert dump(a) != dump(c)
    assert [x.id for x in a.accounts] == [x.id for x in b.accounts]


def test_events_sorted_and_times_consistent(world):
    times = [e.occurred_at for e in world.events]
    assert times == sorted(times)
    assert times[0] >= world.start and times[-1] < world.end
    for e in world.events:
        assert e.occurred_at.tzinfo is not None and e.occurred_at.utcoffset().total_seconds() == 0
        s = e.body["occurred_at"]
        assert s.endswith("Z")
        assert datetime.fromisoformat(s.replace("Z", "+00:00")) == e.occurred_at


def test_bodies_validate_structurally(world):
    ids = set()
    for e in world.events:
        b = e.body
        assert set(b) <= {"event", "event_id", "occurred_at", "account", "ip", "device", "payment", "login"}
        assert b["event"] in EVENTS
        assert isinstance(b["event_id"], str) and b["event_id"] not in ids
        ids.add(b["event_id"])
        acct = b["account"]
        assert set(acct) <= ACCOUNT_KEYS
        assert isinstance(acct["id"], str) and 1 <= len(acct["id"]) <= 128
        for k in ("email", "phone", "name", "country"):
            assert _opt_str(acct.get(k)), (k, acct)
        if acct.get("country") is not None:
            assert len(acct["country"]) == 2 and acct["country"].isupper()
        assert acct.get("org_type") in ORG_TYPES | {None}
        addr = ipaddress.ip_address(b["ip"])
        assert addr.is_global and not addr.is_private
        if "device" in b:
            d = b["device"]
            assert set(d) <= DEVICE_KEYS and "user_agent" in d
            for k in ("id", "user_agent", "timezone", "screen", "platform", "components_hash"):
                assert _opt_str(d.get(k)), (k, d)
            assert d.get("webdriver") in (True, False, None)
            langs = d.get("languages")
            assert langs is None or (isinstance(langs, list) and all(isinstance(x, str) for x in langs))
        if "payment" in b:
            p = b["payment"]
            assert set(p) == PAYMENT_KEYS and p["funding"] in FUNDING
            assert len(p["bin"]) == 6 and p["bin"].isdigit() and len(p["last4"]) == 4
        if b["event"] == "login":
            assert b["login"]["outcome"] in OUTCOMES and b["login"]["method"] in METHODS
        else:
            assert "login" not in b


def test_labels_and_campaign_instances(world):
    instances = defaultdict(set)
    for e in world.events:
        if e.campaign == "legit":
            assert not e.fraud and e.campaign_id == "legit"
        else:
            assert e.fraud and e.campaign in ATTACK_KINDS
            assert e.campaign_id.startswith(e.campaign + "-")
            instances[e.campaign].add(e.campaign_id)
    for kind in ATTACK_KINDS:
        assert len(instances[kind]) >= 2, kind
    assert {c.id for c in world.campaigns} >= set().union(*instances.values())


def test_accounts_and_signup_first(world):
    legit = [a for a in world.accounts if not a.fraud]
    fake = [a for a in world.accounts if a.fraud]
    assert len(legit) == 500
    assert 0.15 * 500 <= len(fake) <= 0.4 * 500
    assert len({a.id for a in world.accounts}) == len(world.accounts)
    first = {}
    for e in world.events:
        first.setdefault(e.body["account"]["id"], e)
    for a in world.accounts:
        ev = first[a.id]
        assert ev.body["event"] == "signup" and ev.occurred_at == a.created_at
        # per-account state kept for later simulations (usage records)
        assert a.country in COUNTRIES and a.sessions and a.ips
    # takeover/spray attempts only target legitimate accounts that already existed
    for e in world.events:
        if e.campaign in ("ato", "password_spray"):
            victim = world.account(e.body["account"]["id"])
            assert not victim.fraud and victim.created_at < e.occurred_at


def test_legit_hard_case_segments_present(world):
    segs = Counter(a.segment for a in world.accounts if not a.fraud)
    assert LEGIT_SEGMENTS <= set(segs), segs
    assert segs["regular"] > 0.4 * 500


def test_legit_hard_cases_look_hard(world):
    geo = world.geo
    legit = [e for e in world.events if e.campaign == "legit"]
    # mobile CGNAT: one public address carries several legitimate accounts
    by_ip = defaultdict(set)
    for e in legit:
        if geo.lookup(e.body["ip"]).kind == "mobile":
            by_ip[e.body["ip"]].add(e.body["account"]["id"])
    assert max(len(s) for s in by_ip.values()) >= 3
    # families: one device id used by several accounts
    by_dev = defaultdict(set)
    for e in legit:
        d = e.body.get("device") or {}
        if d.get("id"):
            by_dev[d["id"]].add(e.body["account"]["id"])
    assert max(len(s) for s in by_dev.values()) >= 2
    # travellers log in from another country; expats' browsers disagree with their IP country
    abroad = [e for e in legit if e.segment == "traveller" and geo.lookup(e.body["ip"]).country !=
              world.account(e.body["account"]["id"]).country]
    assert abroad
    expat_tz = [e for e in legit if e.segment == "expat" and (e.body.get("device") or {}).get("timezone")
                and e.body["device"]["timezone"]
                not in {c.tz for c in COUNTRIES[geo.lookup(e.body["ip"]).country].cities}]
    assert expat_tz
    # developers from cloud addresses, VPN users through VPN exits
    assert any(e.segment == "developer" and geo.lookup(e.body["ip"]).kind == "hosting" for e in legit)
    assert any(e.segment == "vpn_user" and geo.lookup(e.body["ip"]).kind == "vpn" for e in legit)
    # some legit gmail users use +tags
    assert any("+" in (e.body["account"].get("email") or "") for e in legit)


def test_attack_traits(world):
    geo = world.geo
    by_cid = defaultdict(list)
    for e in world.events:
        if e.body["event"] == "signup" and e.fraud:
            by_cid[e.campaign_id].append(e)
    # antidetect farms: fresh device ids but shared hardware hashes
    for cid, evs in by_cid.items():
        if cid.startswith("antidetect_farm") and len(evs) >= 6:
            hashes = Counter(e.body["device"]["components_hash"] for e in evs)
            ids = {e.body["device"]["id"] for e in evs}
            assert hashes.most_common(1)[0][1] >= 3 and len(ids) == len(evs)
    # hydra: phones from SMS pools reused across accounts
    hydra_phones = Counter(e.body["account"].get("phone") for cid, evs in by_cid.items()
                           if cid.startswith("hydra") for e in evs if e.body["account"].get("phone"))
    assert hydra_phones.most_common(1)[0][1] >= 3
    # alias farms: few mailboxes behind many addresses
    for cid, evs in by_cid.items():
        if cid.startswith("alias_farm"):
            boxes = {e.body["account"]["email"].split("+")[0].split("@")[0].replace(".", "").lower() for e in evs}
            assert len(boxes) < len(evs)
    # bulk farms: automation or scripting clients
    bulk = [e for cid, evs in by_cid.items() if cid.startswith("bulk_farm") for e in evs]
    assert all(e.body["device"].get("webdriver") or "Headless" in e.body["device"]["user_agent"]
               or e.body["device"].get("platform") is None for e in bulk)
    # password spray: many accounts, few addresses
    spray = defaultdict(lambda: (set(), set()))
    for e in world.events:
        if e.campaign == "password_spray":
            spray[e.campaign_id][0].add(e.body["account"]["id"])
            spray[e.campaign_id][1].add(e.body["ip"])
    for accts, ips in spray.values():
        assert len(accts) >= 20 and len(ips) <= 8
    # ATO: some attempts fail, some succeed
    ato = Counter(e.body["login"]["outcome"] for e in world.events if e.campaign == "ato")
    assert ato["failure"] > 0 and ato["success"] > 0
    # every attack address is part of the world's IP space
    assert all(geo.lookup(e.body["ip"]) is not None for e in world.events)


def test_generated_phone_numbers_are_valid():
    r = Rand(5)
    for cc in idt.MOBILE_PATTERNS:
        for _ in range(60):
            n = phonenumbers.parse(idt.mobile_number(r, cc))
            assert phonenumbers.is_valid_number(n), (cc, n)
            assert phonenumbers.region_code_for_number(n) == cc
    for cc in ("GB", "NL", "FR"):
        n = phonenumbers.parse(idt.voip_number(r, cc))
        assert phonenumbers.number_type(n) == phonenumbers.PhoneNumberType.VOIP
    for cc in idt.LANDLINE_PATTERNS:
        assert phonenumbers.is_valid_number(phonenumbers.parse(idt.landline_number(r, cc)))


def test_legit_phones_mostly_valid(world):
    ok = total = 0
    for a in world.accounts:
        phone = a.profile.get("phone")
        if a.fraud or not phone:
            continue
        total += 1
        try:
            n = phonenumbers.parse(phone, a.profile.get("country") or a.country)
            ok += phonenumbers.is_valid_number(n)
        except phonenumbers.NumberParseException:
            pass
    assert total > 200 and ok / total > 0.95


def test_locales_and_timezones_are_real():
    from zoneinfo import ZoneInfo
    for c in COUNTRIES.values():
        for city in c.cities:
            ZoneInfo(city.tz)
        for langs, _ in c.locales:
            assert all(len(x) in (2, 5) for x in langs)


def test_bodies_validate_with_the_service_schema(world):
    schemas = pytest.importorskip("riskengine.schemas")
    for e in world.events:
        req = schemas.AssessRequest.model_validate(e.body)
        assert req.occurred_at == e.occurred_at and req.account.id == e.body["account"]["id"]


def test_scripts_send_library_user_agents_and_app_users_send_native_app_ones(world):
    """The farms' scripts send what their HTTP library sends by default, which the engine calls
    automation; native-app stacks (okhttp, Dart, CFNetwork) belong to people using an app."""
    from riskengine.signals.automation import automation_signals

    assert {automation_signals(ua).kind for ua in idt.SCRIPT_UAS + idt.DEV_SDK_UAS} == {"http_library"}
    app_uas = [ua for w in idt.NATIVE_APP_UAS.values() for ua in w.items]
    assert {automation_signals(ua).kind for ua in app_uas} == {"native_app"}
    assert not any(automation_signals(ua).automated for ua in app_uas)
    scripted = [e for e in world.events if e.fraud and e.body["device"] and e.body["device"].get("platform") is None
                and e.body["device"]["user_agent"] in idt.SCRIPT_UAS]
    assert scripted and all(automation_signals(e.body["device"]["user_agent"]).automated for e in scripted)
    legit_app = [e for e in world.events if not e.fraud and e.body.get("device")
                 and e.body["device"]["user_agent"] in app_uas]
    assert len({e.body["account"]["id"] for e in legit_app}) >= 10
