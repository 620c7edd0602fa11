"""The account baseline (scoring.baseline): pure comparisons of an event with its account's
own past, and the one-row read that feeds them (storage.account_context)."""
from __future__ import annotations

import json
import math
from dataclasses import replace

from sqlalchemy import event

from riskengine import storage
from riskengine.scoring import baseline
from riskengine.scoring.baseline import (
    MAX_SEEN,
    AccountBaseline,
    LoginEvent,
    NetworkRecent,
    advance,
    advance_network,
    after_challenge,
    baseline_features,
    network_kind,
    subnet_sharing_excess,
)
from riskengine.scoring.features import Signals, build_features, network_type_features
from riskengine.scoring.history import History
from riskengine.signals.ip import IPSignals

T0 = 1_790_000_000.0
HOME = LoginEvent(t=T0, login=True, outcome="success", account="a1", device="dev1", components="hw1",
                  ip="ip1", subnet="sub1", asn=7016, country="US", timezone="America/New_York",
                  latitude=40.7, longitude=-74.0, accuracy_km=20, anonymizer=False)


def at(ev: LoginEvent, hours: float, **over) -> LoginEvent:
    return replace(ev, t=ev.t + hours * 3600, **over)


def history(n: int = 6) -> AccountBaseline:
    b = None
    for day in range(n):
        b = advance(b, at(HOME, 24 * day))
    assert b is not None
    return b


# ---- sharing weighed by the kind of network --------------------------------------------
def test_two_hundred_accounts_behind_a_cellular_24_are_normal_twelve_behind_a_hosting_24_are_not():
    assert abs(subnet_sharing_excess(200, "cellular")) < 0.01
    assert subnet_sharing_excess(12, "hosting") > 2.0
    assert subnet_sharing_excess(12, "hosting") > subnet_sharing_excess(200, "cellular") + 2
    assert math.isnan(subnet_sharing_excess(None, "cellular"))


def test_network_kind_from_connection_type_and_user_type():
    assert network_kind("Cellular", None, False) == "cellular"
    assert network_kind(None, "cellular", None) == "cellular"
    assert network_kind("Corporate", "university", False) == "corporate"
    assert network_kind("Cable/DSL", "residential", False) == "residential"
    assert network_kind("Corporate", "hosting", False) == "hosting"
    assert network_kind("Cable/DSL", None, True) == "hosting"      # the Anonymous-IP file's hosting flag
    assert network_kind(None, None, None) == "unknown"


# ---- familiarity ------------------------------------------------------------------------
def test_the_usual_device_and_network_are_familiar():
    f = baseline_features(history(), None, at(HOME, 24 * 7))
    assert f["device_known_account"] == 1 and f["device_successes_account"] == 6
    assert f["ip_known_account"] == f["subnet_known_account"] == f["asn_known_account"] == 1
    assert f["country_known_account"] == f["timezone_known_account"] == f["components_known_account"] == 1
    assert f["first_anonymizer_use"] == 0 and f["hour_typicality"] == 1.0
    assert f["hours_since_last_success"] == 48 and f["km_from_last_success"] == 0


def test_a_takeover_from_a_proxy_abroad_on_a_new_device_is_unfamiliar_on_every_count():
    thief = at(HOME, 24 * 7 + 9, device="dev9", components="hw9", ip="ip9", subnet="sub9", asn=14061,
               country="NL", timezone="Europe/Amsterdam", latitude=52.4, longitude=4.9, anonymizer=True)
    f = baseline_features(history(), None, thief)
    for name in ("device_known_account", "components_known_account", "ip_known_account", "subnet_known_account",
                 "asn_known_account", "country_known_account", "timezone_known_account"):
        assert f[name] == 0, name
    assert f["first_anonymizer_use"] == 1 and f["km_from_last_success"] > 5000
    assert f["hour_typicality"] == 0.0


def test_the_accounts_usual_foreign_timezone_is_familiar():
    expat = replace(HOME, timezone="Asia/Kolkata")          # an expat's laptop on home time, always
    b = None
    for day in range(5):
        b = advance(b, at(expat, 24 * day))
    assert baseline_features(b, None, at(expat, 24 * 6))["timezone_known_account"] == 1


def test_a_failed_attempt_teaches_nothing_about_the_owner():
    b = advance(history(), at(HOME, 200, device="dev9", subnet="sub9", outcome="failure"))
    f = baseline_features(b, None, at(HOME, 200.1, device="dev9", subnet="sub9"))
    assert f["device_known_account"] == 0 and f["subnet_known_account"] == 0


def test_the_baseline_stays_bounded():
    b = history(1)
    for i in range(3 * MAX_SEEN):
        b = advance(b, at(HOME, i, device=f"d{i}", ip=f"ip{i}", subnet=f"s{i}"))
    assert len(b.devices) <= MAX_SEEN and all(len(v) <= MAX_SEEN for v in b.seen.values())
    assert "d0" not in b.devices and f"d{3 * MAX_SEEN - 1}" in b.devices          # the oldest went first
    assert AccountBaseline.loads(b.dumps()) == b


# ---- failures ---------------------------------------------------------------------------
def test_failures_from_other_networks_before_a_success_are_counted_apart_from_typos():
    b = history()
    for k in range(3):                                       # stuffing: a fresh address per attempt
        b = advance(b, at(HOME, 200 + k / 60, subnet=f"proxy{k}", outcome="failure"))
    b = advance(b, at(HOME, 200.05, outcome="failure"))      # the owner's own typo, at home
    f = baseline_features(b, None, at(HOME, 200.1))
    assert f["failures_other_networks_1h"] == 3 and f["failures_same_network_1h"] == 1
    assert baseline_features(b, None, at(HOME, 202))["failures_other_networks_1h"] == 0     # an hour on


def test_a_spray_source_is_seen_across_accounts():
    n = None
    for k in range(8):
        n = advance_network(n, at(HOME, k / 60, account=f"victim{k}", outcome="failure")) or n
    assert advance_network(n, HOME) is None                  # a success writes no network row
    f = baseline_features(None, n, at(HOME, 0.2, account="victim3"))
    assert f["subnet_failed_accounts_1h"] == 7 and f["subnet_failed_accounts_24h"] == 7
    assert baseline_features(None, n, at(HOME, 30))["subnet_failed_accounts_24h"] == 0
    assert NetworkRecent.loads(n.dumps()) == n


# ---- challenges -------------------------------------------------------------------------
def test_a_passed_challenge_remembers_the_device_on_that_network_only():
    b = after_challenge(history(), "dev5", "sub5", baseline.PASSED, T0 + 7 * 86400)
    f = baseline_features(b, None, at(HOME, 24 * 7 + 1, device="dev5", subnet="sub5"))
    assert f["remembered_device"] == 1 and f["device_challenge_passed"] == 1 and f["device_challenge_failed"] == 0
    elsewhere = baseline_features(b, None, at(HOME, 24 * 7 + 1, device="dev5", subnet="sub6"))
    assert elsewhere["remembered_device"] == 0 and elsewhere["device_challenge_passed"] == 1


def test_failed_and_abandoned_challenges_count_against_the_device_and_never_make_it_known():
    b = history()
    for _ in range(2):
        b = after_challenge(b, "dev9", "sub9", baseline.FAILED, T0 + 7 * 86400)
    f = baseline_features(b, None, at(HOME, 24 * 7 + 1, device="dev9", subnet="sub9"))
    assert f["device_challenge_failed"] == 2 and f["device_known_account"] == 0 and f["remembered_device"] == 0


# ---- storage: one indexed statement ----------------------------------------------------
def test_the_login_context_is_one_statement_and_round_trips(db_url):
    eng = storage.make_engine(db_url, 10_000)
    b, n = history(), advance_network(None, replace(HOME, outcome="failure"))
    assert n is not None
    with eng.begin() as conn:
        storage.write_login_context(conn, "acct_1", b.dumps(), "subnet-key", n.dumps(), T0)
    statements: list[str] = []
    event.listen(eng, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with eng.connect() as conn:
        account_row, network_row = storage.read_login_context(conn, "acct_1", "subnet-key")
        assert storage.read_login_context(conn, "acct_2", None) == (None, None)
    assert len(statements) == 2               # one per call: both rows by primary key in one statement
    assert AccountBaseline.loads(account_row) == b and NetworkRecent.loads(network_row) == n
    eng.dispose()


def test_a_failed_challenge_takes_back_the_familiarity_its_login_gave_the_device():
    b = advance(history(), at(HOME, 200, device="dev9"))          # the thief had the password
    assert baseline_features(b, None, at(HOME, 201, device="dev9"))["device_known_account"] == 1
    b = after_challenge(b, "dev9", "sub1", baseline.FAILED, T0 + 200 * 3600)
    assert baseline_features(b, None, at(HOME, 202, device="dev9"))["device_known_account"] == 0


THIEF = dict(device="dev9", components="hw9", ip="ip9", subnet="sub9", asn=14061, country="NL",
             timezone="UTC", latitude=52.4, longitude=4.9)


def test_a_failed_challenge_takes_back_the_networks_and_places_its_login_taught():
    before = history()
    login = at(HOME, 200, **THIEF)                                 # the thief had the password
    b = advance(before, login)
    assert baseline_features(b, None, at(login, 1))["country_known_account"] == 1
    b = after_challenge(b, "dev9", "sub9", baseline.FAILED, login.t + 60, login_ts=login.t)
    again = baseline_features(b, None, at(login, 1))
    assert again == {**baseline_features(before, None, at(login, 1)), "device_challenge_failed": 1.0}
    for name in ("ip_known_account", "subnet_known_account", "asn_known_account", "country_known_account",
                 "timezone_known_account", "components_known_account", "device_known_account"):
        assert again[name] == 0, name
    assert again["km_from_last_success"] > 500 and b.last_success == before.last_success
    assert b.successes == before.successes and b.hours == before.hours


def test_a_failed_challenge_keeps_what_the_owner_had_shown_before_and_what_came_after():
    b = advance(history(), at(HOME, 200, device="dev9", subnet="sub9"))   # the usual ip, country, zone
    b = advance(b, at(HOME, 200.5, device="dev1", subnet="sub9b", ip="ip9b"))   # the owner, meanwhile
    b = after_challenge(b, "dev9", "sub9", baseline.FAILED, T0 + 201 * 3600, login_ts=T0 + 200 * 3600)
    f = baseline_features(b, None, at(HOME, 202, device="dev9", subnet="sub9"))
    assert f["ip_known_account"] == f["country_known_account"] == f["timezone_known_account"] == 1
    assert f["subnet_known_account"] == 0                          # only the challenged login used sub9
    assert f["hours_since_last_success"] == 1.5                     # the owner's login stays the last
    assert baseline_features(b, None, at(HOME, 202, subnet="sub9b", ip="ip9b"))["subnet_known_account"] == 1


def test_a_passed_challenge_keeps_what_its_login_taught_and_a_later_failure_forgets_the_remembered_network():
    login = at(HOME, 200, **THIEF)
    b = after_challenge(advance(history(), login), "dev9", "sub9", baseline.PASSED, login.t + 60, login.t)
    f = baseline_features(b, None, at(login, 2))
    assert f["country_known_account"] == f["subnet_known_account"] == f["remembered_device"] == 1 and not b.pending
    b = after_challenge(b, "dev9", "sub9", baseline.FAILED, login.t + 3 * 3600)
    f = baseline_features(b, None, at(login, 4))
    assert f["remembered_device"] == 0 and f["device_challenge_failed"] == 1
    assert f["country_known_account"] == 1          # the passed login's places were vouched for


def test_pending_take_backs_stay_few_and_a_row_written_before_them_still_loads():
    b = history(12)
    assert len(b.pending) <= baseline.MAX_PENDING
    old = b.dumps().replace(',"p":' + json.dumps(b.pending, separators=(",", ":")), "")
    assert '"p"' not in old and AccountBaseline.loads(old) == replace(b, pending=[])


def test_a_blocked_login_teaches_nothing_unless_its_challenge_is_passed_after_all():
    before = history()
    login = at(HOME, 200, **THIEF)
    blocked = advance(before, login, refused=True)
    f = baseline_features(blocked, None, at(login, 1))
    assert f == baseline_features(before, None, at(login, 1))
    assert blocked.successes == before.successes and blocked.events == before.events + 1
    failed = after_challenge(blocked, "dev9", "sub9", baseline.FAILED, login.t + 60, login.t)
    assert baseline_features(failed, None, at(login, 1))["country_known_account"] == 0 and not failed.pending
    passed = after_challenge(blocked, "dev9", "sub9", baseline.PASSED, login.t + 60, login.t)
    f = baseline_features(passed, None, at(login, 1))
    assert f["remembered_device"] == f["device_known_account"] == f["country_known_account"] == 1
    assert passed.successes == before.successes + 1


def test_a_refused_failure_still_counts_as_a_failure():
    b = advance(history(), at(HOME, 200, subnet="proxy1", outcome="failure"), refused=True)
    assert baseline_features(b, None, at(HOME, 200.1))["failures_other_networks_1h"] == 1


# ---- what the features take from the baseline and the network's kind ----------------------
def _ip(**over) -> IPSignals:
    base = dict(version=4, private=False, subnet="198.51.100.0/24", country="NL", latitude=52.4, longitude=4.9,
                accuracy_km=50, timezone="Europe/Amsterdam", asn=14061, as_org="Hosting BV", anonymous=False,
                vpn=False, hosting=True, tor=False, residential_proxy=False, public_proxy=False,
                connection_type="Corporate", user_type="hosting")
    return IPSignals(**{**base, **over})


def test_a_vpn_exits_sharing_is_weighed_as_a_vpns_a_servers_as_a_servers():
    busy = History(shared={"subnet": {"1h": 3, "24h": 12, "7d": 20, "30d": 30}})
    server = network_type_features(_ip(), busy)["subnet_sharing_excess"]
    vpn = network_type_features(_ip(anonymous=True, vpn=True), busy)["subnet_sharing_excess"]
    assert server > 2 and vpn < -1.5
    assert network_type_features(_ip(anonymous=True, vpn=True), busy)["ip_user_hosting"] == 1   # still hosted


def test_new_device_and_new_country_follow_the_baseline_where_there_is_one():
    h = History(account_known=True, account_age_days=9.0, device_seen_before=True, country_seen_before=True)
    s = Signals(None, None, _ip(), None, None)
    base = {"device_known_account": 0.0, "country_known_account": 0.0}
    f = build_features("login", "success", None, None, s, h, T0, base)
    assert f["new_device"] == 1 and f["new_country"] == 1     # the links saw them: in a failed try, say
    f = build_features("login", "success", None, None, s, h, T0, {"device_known_account": 1.0})
    assert f["new_device"] == 0 and f["new_country"] == 0
    f = build_features("login", "success", None, None, s, h, T0, None)
    assert f["new_device"] == 0 and f["new_country"] == 0     # no baseline: the links say


def test_the_accounts_usual_timezone_abroad_is_a_known_pair_a_thief_on_it_elsewhere_is_not():
    vpn = replace(HOME, country="NL")                        # a VPN exit in NL, the laptop on New York time
    b = None
    for day in range(5):
        b = advance(b, at(vpn, 24 * day))
    assert baseline_features(b, None, at(vpn, 24 * 6))["timezone_country_known_account"] == 1
    thief = baseline_features(b, None, at(vpn, 24 * 6, country="GB", device="dev9"))
    assert thief["timezone_country_known_account"] == 0 and thief["timezone_known_account"] == 1
    assert math.isnan(baseline_features(b, None, at(vpn, 24 * 6, timezone=None))["timezone_country_known_account"])
