"""Each quantity has one formula: scalar and vectorised forms agree, and the online path
(/v1/assess), the batch path (re-scoring) and the simulator compute the same values."""
from __future__ import annotations

import math

import numpy as np
import pytest

from riskengine import quantities as q
from riskengine import storage
from riskengine.rescore.behaviour import IPTable, UsageColumns, local_offsets, usage_features
from riskengine.scoring.features import travel_kmh as login_travel_kmh
from riskengine.signals.ip import GeoIPReaders, ip_signals
from riskengine.sim import builder as sim_builder
from riskengine.sim import geo as sim_geo
from tests.conftest import MAXMIND

T0 = 1_790_000_000.0


@pytest.fixture
def readers():
    r = GeoIPReaders.open(str(MAXMIND / "GeoIP2-City-Test.mmdb"), None, None)
    yield r
    r.close()


def test_great_circle_scalar_and_vector_agree_antipodes_included():
    rng = np.random.default_rng(3)
    lat1, lat2 = rng.uniform(-90, 90, 500), rng.uniform(-90, 90, 500)
    lon1, lon2 = rng.uniform(-180, 180, 500), rng.uniform(-180, 180, 500)
    lat1[:2], lon1[:2], lat2[:2], lon2[:2] = (0, 45), (0, 10), (0, -45), (180, -170)     # antipodal pairs
    vector = q.great_circle_km_np(lat1, lon1, lat2, lon2)
    scalar = [q.great_circle_km(*p) for p in zip(lat1, lon1, lat2, lon2, strict=True)]
    np.testing.assert_allclose(vector, scalar, rtol=1e-12, atol=1e-9)
    assert vector[0] == pytest.approx(math.pi * q.EARTH_RADIUS_KM)
    assert q.great_circle_km(0, 0, 0, 90) == pytest.approx(math.pi / 2 * q.EARTH_RADIUS_KM)     # a quarter


def test_travel_scalar_and_vector_agree_floor_cap_and_radius():
    cases = [  # lat1, lon1, t1, lat2, lon2, t2, accuracy
        (51.5, -0.1, 0.0, 47.25, -122.3, 600.0, 22), (51.5, -0.1, 0.0, 51.51, -0.1, 3600.0, 100),
        (0.0, 0.0, 0.0, 0.0, 90.0, 1.0, 0), (10.0, 10.0, 0.0, 11.0, 11.0, 7200.0, float("nan"))]
    vector = q.travel_kmh_np(*map(np.asarray, zip(*cases, strict=True)))
    scalar = [q.travel_kmh(*c[:6], None if c[6] != c[6] else c[6]) for c in cases]
    np.testing.assert_allclose(vector, scalar, rtol=1e-12)
    assert scalar[1] == 0.0                                    # inside one accuracy radius: no travel
    assert scalar[2] == q.TRAVEL_MAX_KMH                       # a second apart: floored, then capped
    km = q.great_circle_km(10.0, 10.0, 11.0, 11.0)
    assert scalar[3] == pytest.approx(km / 2)                  # unknown radius takes nothing off


def test_login_and_rescore_measure_the_same_travel(readers):
    """One account seen in London, then in Washington ten minutes later: the login feature
    and the batch usage feature give the same speed."""
    london, washington = ip_signals("81.2.69.160", readers), ip_signals("216.160.83.56", readers)
    online = login_travel_kmh((T0, london.latitude, london.longitude), washington, T0 + 600)
    rows = [("a", T0, "81.2.69.160", "d", 1, 1, 1, None, None),
            ("a", T0 + 600, "216.160.83.56", "d", 1, 1, 1, None, None)]
    u = UsageColumns.from_rows(rows, {"a": 0})
    batch = usage_features(u, 1, IPTable.lookup(u.ips, readers), T0 - 86400, T0 + 86400)["usage_max_kmh"][0]
    assert online == pytest.approx(batch, rel=1e-12)
    assert washington.accuracy_km == 22 and online < q.great_circle_km(51.5142, -0.0931, 47.2513, -122.3149) * 6


def test_account_age_scalar_vector_and_history_agree(db_url):
    created = np.array([T0 - 3 * 86400, T0 - 0.5 * 86400, T0 + 10, np.nan])
    vector = q.account_age_days_np(created, T0)
    scalar = [q.account_age_days(None if c != c else c, T0) for c in created]
    assert vector[:2].tolist() == scalar[:2] == [3.0, 0.5]
    assert scalar[2:] == [None, None] and np.isnan(vector[2:]).all()     # not created yet, unknown
    eng = storage.make_engine(db_url, 10_000)
    with eng.begin() as conn:
        storage.record(conn, {"id": "asm_1", "account_id": "acct", "event": "signup", "occurred_ts": T0 - 0.5 * 86400,
                              "created_ts": T0, "decision": "allow", "decided_by": "model", "response": {}},
                       {}, {})
    with eng.connect() as conn:
        h = storage.read_history(conn, "acct", {}, T0, ip=None, asn=None, device=None, country=None)
    eng.dispose()
    assert h.account_age_days == vector[1] and h.account_known


def test_utc_offsets_of_batch_and_simulator_are_one_function():
    day = int(T0 // 86400)
    assert sim_builder._utc_offset("America/Los_Angeles", day) == q.utc_offset_seconds("America/Los_Angeles",
                                                                                   day * 86400 + 43200) == -25200
    assert q.utc_offset_seconds("Not/AZone", T0) == 0.0 and q.utc_offset_seconds(None, T0) == 0.0
    ipt = IPTable(country=np.array([0]), asn=np.array([1]), anonymous=np.array([0.0]), hosting=np.array([0.0]),
                  lat=np.array([0.0]), lon=np.array([0.0]), accuracy=np.array([1.0]), timezone=["Asia/Kolkata"])
    u = UsageColumns.from_rows([("a", T0, "x", None, 1, 1, 1, None, None)], {"a": 0})
    assert local_offsets(1, u, ipt, T0).tolist() == [5.5 * 3600]


def test_simulator_distance_is_the_great_circle():
    a, b = sim_geo.COUNTRIES["US"].cities[0], sim_geo.COUNTRIES["GB"].cities[0]
    assert sim_geo.distance_km(a, b) == q.great_circle_km(a.lat, a.lon, b.lat, b.lon)
