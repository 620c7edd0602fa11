"""Behavioural features on hand-made usage, with exact expected values."""
from __future__ import annotations

import numpy as np

from riskengine.quantities import great_circle_km as haversine_km
from riskengine.rescore.behaviour import IPTable, UsageColumns, usage_features, utc_offset
from riskengine.signals.ip import GeoIPReaders
from tests.conftest import MAXMIND

DAY = 86400.0
T0 = 1_790_000_000.0          # a Thursday, 2026-09-21T...Z


def rows(account, times, ip="2.125.160.216", device="d", fp=None, reasoning=True, req=1, tin=100, tout=300):
    return [(account, t, ip, device, req, tin, tout, fp, reasoning) for t in times]


def build(all_rows, accounts, readers=None, since=T0 - 7 * DAY, until=T0):
    index = {a: i for i, a in enumerate(accounts)}
    u = UsageColumns.from_rows(sorted(all_rows, key=lambda r: (r[0], r[1])), index)
    return usage_features(u, len(accounts), IPTable.lookup(u.ips, readers), since, until)


def test_volumes_ratios_and_regularity():
    bot = rows("bot", [T0 - 6 * DAY + k * 300 for k in range(1000)], reasoning=True)
    human = rows("human", [T0 - 6 * DAY + k * 3600 * (1 + (k % 5)) for k in range(30)], reasoning=False, tout=100)
    f = build(bot + human, ["bot", "human", "idle"])
    assert f["usage_requests"][0] == 1000 / 7 and f["usage_records"][1] == 30 / 7
    assert f["usage_output_ratio"][0] == 3.0 and f["usage_output_ratio"][1] == 1.0
    assert f["usage_reasoning_share"][0] == 1.0 and f["usage_reasoning_share"][1] == 0.0
    assert f["usage_interarrival_cv"][0] == 0.0                   # a timer
    assert f["usage_interarrival_cv"][1] > 0.3
    assert f["usage_requests"][2] == 0.0       # idle: zero volume, ratios unknown
    assert np.isnan(f["usage_reasoning_share"][2]) and np.isnan(f["usage_interarrival_cv"][2])


def test_hour_entropy_night_share_in_local_time():
    # 216.160.83.56 is in Washington (America/Los_Angeles) in the City test database.
    readers = GeoIPReaders.open(str(MAXMIND / "GeoIP2-City-Test.mmdb"), None, None)
    day_start = T0 - 3 * DAY - (T0 % DAY)
    around = rows("clock", [day_start + h * 3600 for h in range(24)], ip="216.160.83.56")
    offset = utc_offset("America/Los_Angeles", T0)
    nights = rows("owl", [day_start - offset + h * 3600 + 60 for h in (1, 2, 3)], ip="216.160.83.56")
    f = build(around + nights, ["clock", "owl"], readers)
    assert abs(f["usage_hour_entropy"][0] - 1.0) < 1e-9
    assert f["usage_night_share"][0] == 6 / 24
    assert f["usage_night_share"][1] == 1.0
    readers.close()


def test_places_travel_and_quota():
    readers = GeoIPReaders.open(str(MAXMIND / "GeoIP2-City-Test.mmdb"), str(MAXMIND / "GeoLite2-ASN-Test.mmdb"),
                                str(MAXMIND / "GeoIP2-Anonymous-IP-Test.mmdb"))
    t = T0 - DAY
    resold = rows("resold", [t], ip="2.125.160.216") + rows("resold", [t + 600], ip="216.160.83.56") \
        + rows("resold", [t + 1200], ip="81.2.69.160", device="d2")
    hugger = rows("hugger", [T0 - 2 * DAY + k * 86 for k in range(900)], ip="89.160.20.112")
    f = build(resold + hugger, ["resold", "hugger"], readers)
    assert f["usage_distinct_ips"][0] == 3 and f["usage_distinct_countries"][0] == 2
    assert f["usage_distinct_devices"][0] == 2
    assert f["usage_anonymous_ip_share"][0] == 1 / 3               # 81.2.69.160 is flagged in the test DB
    # Less twice the later fix's accuracy radius (22 km in Washington, 100 km in London), as on login.
    km = max(haversine_km(51.75, -1.25, 47.2513, -122.3149) - 2 * 22,      # Oxfordshire -> Washington
             haversine_km(47.2513, -122.3149, 51.5142, -0.0931) - 2 * 100)  # Washington -> London, 10 min later
    assert abs(f["usage_max_kmh"][0] - km * 6) < 1e-6 * km
    assert f["usage_fast_hops"][0] == 2
    assert f["usage_quota_use"][1] == 0.9                        # 900 requests in one day of a 1,000 quota
    assert f["usage_distinct_asns"][1] == 1
    readers.close()


def test_template_sharing_counts_other_accounts():
    base = 0x9F3AC1D2E4B5A697
    a = rows("a", [T0 - 100], fp=base)
    b = rows("b", [T0 - 90], fp=base ^ 0b101)          # 2 bits away: the same template
    c = rows("c", [T0 - 80], fp=base ^ 0xFFFF)         # 16 bits away: another prompt
    f = build(a + b + c, ["a", "b", "c"])
    assert list(f["usage_template_sharing"]) == [1, 1, 0]
