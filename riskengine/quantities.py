"""Quantities that the online path (/v1/assess), the batch path (re-scoring, training) and
the simulator all compute: each is written here once.

Pure functions of numbers. Where batch needs a numpy form, the scalar and the vectorised
form run the very same formula, written once against a small math namespace (`_SCALAR`
for Python floats, `_VECTOR` for numpy arrays), so they can only differ by float rounding."""
from __future__ import annotations

import math
from datetime import UTC, datetime
from functools import lru_cache
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import numpy as np

EARTH_RADIUS_KM = 6371.0
DAY_SECONDS = 86400.0
TRAVEL_MIN_SECONDS = 60.0       # a minute's floor: clocks and geolocation are coarse
TRAVEL_MAX_KMH = 50_000.0       # above any real travel: caps a near-zero interval's blow-up
NEW_ACCOUNT_DAYS = 1.0          # younger than this, an account is "new" (reason account.new)

_SCALAR = SimpleNamespace(radians=math.radians, sin=math.sin, cos=math.cos, asin=math.asin, sqrt=math.sqrt,
                          minimum=min, maximum=max)
_VECTOR = SimpleNamespace(radians=np.radians, sin=np.sin, cos=np.cos, asin=np.arcsin, sqrt=np.sqrt,
                          minimum=np.minimum, maximum=np.maximum)


def _great_circle_km(m, lat1, lon1, lat2, lon2):
    """Haversine distance on a sphere of the Earth's mean radius."""
    p1, p2 = m.radians(lat1), m.radians(lat2)
    dp, dl = p2 - p1, m.radians(lon2 - lon1)
    a = m.sin(dp / 2) ** 2 + m.cos(p1) * m.cos(p2) * m.sin(dl / 2) ** 2
    # Rounding can push `a` a hair above 1 for antipodal points; asin would fail there.
    return 2 * EARTH_RADIUS_KM * m.asin(m.minimum(1.0, m.sqrt(a)))


def _travel_kmh(m, km, seconds, accuracy_km):
    """Speed implied by two located moments `seconds` apart. The distance is taken less
    twice the accuracy radius of the later location: two fixes inside one radius are not
    travel. (The earlier fix's own radius is not stored with assessments, so the later one
    stands for both, online and in batch alike.)"""
    moved = m.maximum(0.0, km - 2 * accuracy_km)
    hours = m.maximum(seconds, TRAVEL_MIN_SECONDS) / 3600.0
    return m.minimum(moved / hours, TRAVEL_MAX_KMH)


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    return _great_circle_km(_SCALAR, lat1, lon1, lat2, lon2)


def great_circle_km_np(lat1, lon1, lat2, lon2) -> np.ndarray:
    return _great_circle_km(_VECTOR, np.asarray(lat1, np.float64), np.asarray(lon1, np.float64),
                            np.asarray(lat2, np.float64), np.asarray(lon2, np.float64))


def travel_kmh(lat1: float, lon1: float, t1: float, lat2: float, lon2: float, t2: float,
               accuracy_km: float | None = None) -> float:
    """From (lat1, lon1) at t1 to (lat2, lon2) at t2, whose fix is good to `accuracy_km`."""
    km = great_circle_km(lat1, lon1, lat2, lon2)
    return _travel_kmh(_SCALAR, km, t2 - t1, float(accuracy_km or 0))


def travel_kmh_np(lat1, lon1, t1, lat2, lon2, t2, accuracy_km) -> np.ndarray:
    """travel_kmh over arrays; accuracy NaN counts as 0 (unknown radius: nothing taken off)."""
    km = great_circle_km_np(lat1, lon1, lat2, lon2)
    seconds = np.asarray(t2, np.float64) - np.asarray(t1, np.float64)
    return _travel_kmh(_VECTOR, km, seconds, np.nan_to_num(np.asarray(accuracy_km, np.float64), nan=0.0))


def account_age_days(created_ts: float | None, at: float) -> float | None:
    """Days since the account's first event; None when it has none yet as of `at`."""
    if created_ts is None or created_ts > at:
        return None
    return (at - created_ts) / DAY_SECONDS


def account_age_days_np(created_ts, at: float) -> np.ndarray:
    """account_age_days over an array of creation times (NaN: unknown) -> NaN where None."""
    created = np.asarray(created_ts, np.float64)
    with np.errstate(invalid="ignore"):
        known = created <= at               # NaN compares False: unknown stays unknown
    return np.where(known, (at - np.where(known, created, at)) / DAY_SECONDS, np.nan)


@lru_cache(maxsize=4096)
def utc_offset_seconds(tz: str | None, at: float) -> float:
    """UTC offset of time zone `tz` at epoch `at`, in seconds; 0 when the zone is absent or
    unknown (the caller treats that place as UTC rather than failing)."""
    if not tz:
        return 0.0
    try:
        off = datetime.fromtimestamp(at, UTC).astimezone(ZoneInfo(tz)).utcoffset()
    except (KeyError, ValueError, OSError):
        return 0.0
    return off.total_seconds() if off else 0.0
