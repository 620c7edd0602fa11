"""Behavioural features of active accounts from their API usage, vectorised over accounts.

The re-scoring job, the Dask partitions, training and the tests all build these features
with `usage_features`: a feature exists once. Accounts are dense indexes 0..n-1."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from riskengine.quantities import travel_kmh_np
from riskengine.quantities import utc_offset_seconds as utc_offset
from riskengine.rescore.templates import template_sharing
from riskengine.scoring.schema import ACTIVE
from riskengine.signals.ip import GeoIPReaders, ip_signals
from riskengine.storage import chunked

QUOTA_REQUESTS_PER_DAY = 1000      # the per-account daily quota the API enforces (configurable)
FAST_HOP_KMH = 1000.0
NIGHT_HOURS = range(0, 6)

BEHAVIOUR_FEATURES = ACTIVE.family("usage")     # what usage_features builds, in model order


@dataclass
class UsageColumns:
    """Usage records in a window, sorted by account then time, as parallel arrays."""
    account: np.ndarray        # int64 account index
    ts: np.ndarray             # float64 epoch seconds
    ip: np.ndarray             # int64 index into `ips`, -1 when absent
    device: np.ndarray         # int64 index of the (hashed) device, -1 when absent
    requests: np.ndarray       # float64
    input_tokens: np.ndarray   # float64, 0 when absent
    output_tokens: np.ndarray  # float64, 0 when absent
    fingerprint: np.ndarray    # uint64, 0 when absent
    reasoning: np.ndarray      # float64: 1, 0, NaN when not said
    ips: list[str]

    @classmethod
    def from_rows(cls, rows, index: dict[str, int], chunk: int = 500_000) -> UsageColumns:
        """From (account_id, ts, ip, device, requests, in, out, prompt_fp, reasoning) rows in
        any order (a cursor or a list); rows of accounts not in `index` are skipped. Rows are
        taken a chunk at a time and turned into columns: a Python loop per row cost ten
        times the database's own reading at 10 million rows."""
        ips: dict[str, int] = {}
        devices: dict[str, int] = {}
        parts = []
        for block in chunked(rows, chunk):
            c = list(zip(*block, strict=True))
            parts.append((
                np.fromiter((index.get(a, -1) for a in c[0]), np.int64, len(block)),
                np.asarray(c[1], np.float64),
                np.fromiter((-1 if v is None else ips.setdefault(v, len(ips)) for v in c[2]), np.int64, len(block)),
                np.fromiter((-1 if v is None else devices.setdefault(v, len(devices)) for v in c[3]), np.int64,
                            len(block)),
                np.nan_to_num(np.asarray(c[4], np.float64), nan=1.0),
                np.nan_to_num(np.asarray(c[5], np.float64)),
                np.nan_to_num(np.asarray(c[6], np.float64)),
                np.fromiter((0 if v is None else v & 0xFFFFFFFFFFFFFFFF for v in c[7]), np.uint64, len(block)),
                np.asarray(c[8], np.float64),          # None -> NaN
            ))
        cols = [np.concatenate(k) for k in zip(*parts, strict=True)] if parts else [
            np.zeros(0, t) for t in (np.int64, np.float64, np.int64, np.int64, np.float64, np.float64, np.float64,
                                     np.uint64, np.float64)]
        keep = cols[0] >= 0
        order = np.lexsort((cols[1][keep], cols[0][keep]))   # by account, then time
        cols = [c[keep][order] for c in cols]
        return cls(account=cols[0], ts=cols[1], ip=cols[2], device=cols[3], requests=cols[4],
                   input_tokens=cols[5], output_tokens=cols[6], fingerprint=cols[7], reasoning=cols[8],
                   ips=list(ips))


@dataclass
class IPTable:
    """What the GeoIP files say of each distinct IP (arrays indexed like UsageColumns.ips)."""
    country: np.ndarray        # int64 code, -1 unknown
    asn: np.ndarray            # int64, -1 unknown
    anonymous: np.ndarray      # float64 1/0/NaN
    hosting: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    accuracy: np.ndarray       # accuracy radius (km), NaN unknown
    timezone: list[str | None]

    @classmethod
    def lookup(cls, ips: list[str], readers: GeoIPReaders | None) -> IPTable:
        countries: dict[str, int] = {}
        out: dict[str, list] = {k: [] for k in ("country", "asn", "anonymous", "hosting", "lat", "lon", "accuracy")}
        tz = []
        for ip in ips:
            s = ip_signals(ip, readers)
            out["country"].append(-1 if s.country is None else countries.setdefault(s.country, len(countries)))
            out["asn"].append(-1 if s.asn is None else s.asn)
            anon = None if s.anonymous is None else (s.anonymous or s.tor or s.residential_proxy or s.public_proxy)
            out["anonymous"].append(np.nan if anon is None else float(bool(anon)))
            out["hosting"].append(np.nan if s.hosting is None else float(s.hosting))
            out["lat"].append(np.nan if s.latitude is None else s.latitude)
            out["lon"].append(np.nan if s.longitude is None else s.longitude)
            out["accuracy"].append(np.nan if s.accuracy_km is None else s.accuracy_km)
            tz.append(s.timezone)
        return cls(country=np.asarray(out["country"], np.int64), asn=np.asarray(out["asn"], np.int64),
                   anonymous=np.asarray(out["anonymous"], float), hosting=np.asarray(out["hosting"], float),
                   lat=np.asarray(out["lat"], float), lon=np.asarray(out["lon"], float),
                   accuracy=np.asarray(out["accuracy"], float), timezone=tz)


def _per_account(n, account, weights=None):
    return np.bincount(account, weights=weights, minlength=n).astype(float)


def _distinct(n, account, values):
    """Distinct values per account (values < 0 are absent). Sorting one int64 key: numpy's
    unique over pairs is far slower at millions of rows."""
    ok = values >= 0
    if not ok.any():
        return np.zeros(n)
    width = int(values[ok].max()) + 1
    key = np.sort(account[ok] * width + values[ok])
    first = np.r_[True, key[1:] != key[:-1]]
    return np.bincount(key[first] // width, minlength=n).astype(float)


def _ratio(num, den):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def local_offsets(n: int, u: UsageColumns, ipt: IPTable, at: float) -> np.ndarray:
    """Each account's UTC offset: the time zone of the IP it used most (0 when unknown)."""
    offsets = np.zeros(n)
    tz_of_ip = np.array([utc_offset(tz, at) for tz in ipt.timezone]) if ipt.timezone else np.zeros(0)
    has = u.ip >= 0
    if not has.any():
        return offsets
    width = len(ipt.timezone)
    key = np.sort(u.account[has] * width + u.ip[has])
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    counts = np.diff(np.r_[starts, len(key)])
    acct, ip = key[starts] // width, key[starts] % width
    order = np.lexsort((-counts, acct))              # per account, most used IP first
    first = order[np.r_[True, acct[order][1:] != acct[order][:-1]]]
    offsets[acct[first]] = tz_of_ip[ip[first]]
    return offsets


def usage_features(u: UsageColumns, n: int, ipt: IPTable, since: float, until: float,
                   quota: float = QUOTA_REQUESTS_PER_DAY, sharing: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per-account features over (since, until]. Volumes are per day of the window so that
    a 7-day and a 30-day window speak the same units. `sharing`: template sharing counts
    computed over all accounts (the job computes it once, globally); else from `u` alone."""
    a, req = u.account, u.requests
    records = _per_account(n, a)
    requests = _per_account(n, a, req)
    has = records > 0
    tin, tout = _per_account(n, a, u.input_tokens), _per_account(n, a, u.output_tokens)
    said = ~np.isnan(u.reasoning)
    reasoning = _ratio(_per_account(n, a[said], (u.reasoning * req)[said]), _per_account(n, a[said], req[said]))
    days = max((until - since) / 86400.0, 1.0)
    out = {
        "usage_records": records / days, "usage_requests": requests / days, "usage_tokens": (tin + tout) / days,
        "usage_output_ratio": _ratio(tout, tin), "usage_reasoning_share": reasoning,
    }
    out.update(_time_of_day(u, n, ipt, requests, until))
    out.update(_regularity(u, n, since, until))
    out.update(_places(u, n, ipt, requests))
    daily = _daily_peak(u, n, since, until)
    out["usage_quota_use"] = np.where(has, daily / quota, np.nan)
    if sharing is None:
        sharing = template_sharing(a, u.fingerprint, n)
    out["usage_template_sharing"] = np.where(has, sharing, np.nan)
    for k in ("usage_output_ratio", "usage_distinct_ips", "usage_distinct_devices", "usage_distinct_countries",
              "usage_distinct_asns"):
        out[k] = np.where(has, out[k], np.nan)
    return out


def _time_of_day(u, n, ipt, requests, at):
    local = u.ts + local_offsets(n, u, ipt, at)[u.account]
    hour = ((local // 3600) % 24).astype(np.int64)
    grid = np.bincount(u.account * 24 + hour, weights=u.requests, minlength=n * 24).reshape(n, 24)
    p = grid / np.where(requests > 0, requests, 1)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.nansum(np.where(p > 0, p * np.log(p), 0.0), axis=1) / math.log(24)
    night = grid[:, list(NIGHT_HOURS)].sum(axis=1)
    has = requests > 0
    return {"usage_hour_entropy": np.where(has, entropy, np.nan),
            "usage_night_share": np.where(has, night / np.where(has, requests, 1), np.nan)}


def _regularity(u, n, since, until):
    """Coefficient of variation of the gaps between an account's records: scripts run on a
    timer (low), people do not (high). Needs three records or more."""
    same = u.account[1:] == u.account[:-1]
    gaps = np.diff(u.ts)[same]
    who = u.account[1:][same]
    cnt = _per_account(n, who)
    mean = _ratio(_per_account(n, who, gaps), cnt)
    var = _ratio(_per_account(n, who, gaps ** 2), cnt) - mean ** 2
    cv = np.where(cnt >= 2, np.sqrt(np.maximum(var, 0)) / np.where(mean > 0, mean, np.nan), np.nan)
    days = max((until - since) / 86400.0, 1.0)
    day = ((u.ts - since) // 86400).astype(np.int64)
    active_days = _distinct(n, u.account, day)
    return {"usage_interarrival_cv": cv,
            "usage_active_days_share": np.where(_per_account(n, u.account) > 0, active_days / math.ceil(days), np.nan)}


def _places(u, n, ipt, requests):
    ip = u.ip
    known = ip >= 0
    country = np.where(known, ipt.country[np.where(known, ip, 0)] if len(ipt.country) else -1, -1)
    asn = np.where(known, ipt.asn[np.where(known, ip, 0)] if len(ipt.asn) else -1, -1)
    anon = np.where(known, ipt.anonymous[np.where(known, ip, 0)] if len(ipt.anonymous) else np.nan, np.nan)
    hosting = np.where(known, ipt.hosting[np.where(known, ip, 0)] if len(ipt.hosting) else np.nan, np.nan)
    out = {
        "usage_distinct_ips": _distinct(n, u.account, ip),
        "usage_distinct_devices": _distinct(n, u.account, u.device),
        "usage_distinct_countries": _distinct(n, u.account, country),
        "usage_distinct_asns": _distinct(n, u.account, asn),
    }
    for name, flag in (("usage_anonymous_ip_share", anon), ("usage_hosting_ip_share", hosting)):
        m = ~np.isnan(flag)
        out[name] = _ratio(_per_account(n, u.account[m], (flag * u.requests)[m]),
                           _per_account(n, u.account[m], u.requests[m]))
    out.update(_travel(u, n, ipt))
    return out


def _travel(u, n, ipt):
    """Speed implied by consecutive located records of an account (quantities.travel_kmh,
    the formula the login path uses): one account used from two distant places within
    minutes is shared or resold."""
    if not len(ipt.lat):
        return {"usage_max_kmh": np.full(n, np.nan), "usage_fast_hops": np.full(n, np.nan)}
    known = u.ip >= 0
    at_ip = np.where(known, u.ip, 0)
    lat = np.where(known, ipt.lat[at_ip], np.nan)
    lon = np.where(known, ipt.lon[at_ip], np.nan)
    located = ~np.isnan(lat)
    acc, ts, lat, lon = u.account[located], u.ts[located], lat[located], lon[located]
    accuracy = ipt.accuracy[at_ip][located]
    same = acc[1:] == acc[:-1]
    kmh = travel_kmh_np(lat[:-1], lon[:-1], ts[:-1], lat[1:], lon[1:], ts[1:], accuracy[1:])
    kmh, who = kmh[same], acc[1:][same]
    top = np.full(n, np.nan)
    if len(who):
        np.fmax.at(top, who, kmh)
    fast = _per_account(n, who, (kmh > FAST_HOP_KMH).astype(float))
    seen = _per_account(n, acc) > 0
    return {"usage_max_kmh": np.where(seen, np.nan_to_num(top, nan=0.0), np.nan),
            "usage_fast_hops": np.where(seen, fast, np.nan)}


def _daily_peak(u, n, since, until):
    days = max(int(math.ceil((until - since) / 86400.0)), 1)
    day = np.clip(((u.ts - since) // 86400).astype(np.int64), 0, days - 1)
    grid = np.bincount(u.account * days + day, weights=u.requests, minlength=n * days).reshape(n, days)
    return grid.max(axis=1)

