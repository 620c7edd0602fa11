#!/usr/bin/env python
"""Benchmark the re-scoring job (`riskengine rescore`) at production size against its floor.

One run:
  1. data (cached under var/bench/, keyed by its parameters): --accounts accounts (default
     1,000,000) with their signup assessments and --records usage records (default 10,000,000)
     over --days days (30), synthetic, loaded through the service's own storage code:
     signups through `storage.record` (rows shaped as assess._decide builds them: real rows of
     a small simulated world run through `assess.assess`, re-keyed per account), usage
     through `usage.to_rows(usage.batch_of(...))` + `storage.insert_usage` in
     batches of 10,000 in time order (POST /v1/usage without HTTP);
  2. the job, in-process, on a fresh copy of that database: `rescore.run(engine, active_model,
     since_seconds, changes_path, progress=True, now=<the data's as-of time>)`, timed per
     phase (the job's own `Summary.phases`, split further by timers wrapped around riskengine's
     functions from here: nothing in riskengine is edited), with peak RSS per phase;
  3. the floor: the active model alone (`active_model.score_batch`) over the very matrix the
     job built (accounts x ACTIVE_FEATURES), best of --floor-repeats.
Prints one summary block (total, phases, peak RSS, floor, ratio, the exact command line) and
writes var/bench/bench_rescore.json. See scripts/README.md.
"""
from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import random
import resource
import shlex
import shutil
import sys
import threading
import time
from pathlib import Path

import benchlib
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
VAR = ROOT / "var" / "bench"
DATA_VERSION = 1                     # bump when the generated data changes: invalidates caches
HASH_KEY = "riskengine-bench-rescore-hash-key-v1"
DAY = 86400.0
USAGE_BATCH = 10_000                 # records per POST /v1/usage (the contract's maximum)
SIGNUPS_PER_COMMIT = 20_000
MODELS = ("large-2026", "medium-2026", "small-2026", "code-2026")
# local hour weights of people (0..23)
DIURNAL = np.array([0.6, 0.35, 0.2, 0.15, 0.12, 0.15, 0.35, 0.7, 1.0, 1.1, 1.15, 1.2,
                    1.2, 1.15, 1.1, 1.1, 1.1, 1.15, 1.25, 1.4, 1.5, 1.45, 1.2, 0.9])


def log(msg: str) -> None:
    print(f"[bench_rescore {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def duration(value: str) -> float:
    units = {"d": DAY, "h": 3600.0, "m": 60.0, "s": 1.0}
    if value and value[-1] in units:
        return float(value[:-1]) * units[value[-1]]
    return float(value)


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def maxrss_bytes(who=resource.RUSAGE_SELF) -> int:
    return resource.getrusage(who).ru_maxrss * 1024       # Linux: KiB


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# =============================================================================== GeoIP

def geoip_paths(kind: str) -> dict[str, str | None]:
    return benchlib.geoip_paths(kind, VAR / "rescore-geoip")


# =============================================================================== the data

class Plan:
    """Every account, device, address, card and usage record of the benchmark, as arrays.

    Accounts: households (most of one person, some of 2-4 sharing a home address, sometimes a
    family device or card), mobile users behind carrier NAT pools, office NATs, VPN users,
    travellers, resold accounts used from many countries, and farms (2%) of 10-300 accounts
    sharing devices, cards, phones, mailboxes, hosting/VPN/proxy addresses and prompt templates,
    signing up in bursts. Usage: skewed per account (most light, a few heavy scripts), people on
    a diurnal clock in their time zone, scripts and farms on a timer; prompt fingerprints mostly
    fresh, some habitual, some popular public templates, farms near-identical templates."""

    def __init__(self, n_accounts: int, n_records: int, days: int, signup_days: int, seed: int, as_of: float):
        from riskengine.sim import geo as G
        self.n, self.r_total, self.days, self.signup_days = n_accounts, n_records, days, signup_days
        self.as_of = as_of
        self.rng = np.random.default_rng(seed)
        self.py = random.Random(seed)
        self.G, self.geo = G, G.get_geo()
        self.ips: list[str] = []
        self._ip_index: dict[str, int] = {}
        self.ip_meta: list[tuple] = []         # (country, asn, lat, lon) per ip index
        self.devices: list[str] = []
        self._build_accounts()
        self._build_usage()

    # -- entities -------------------------------------------------------------------------------
    def ip(self, addr: str, net) -> int:
        i = self._ip_index.get(addr)
        if i is None:
            i = self._ip_index[addr] = len(self.ips)
            self.ips.append(addr)
            self.ip_meta.append((net.country, net.asn, net.city.lat, net.city.lon) if net is not None
                                else (None, None, None, None))
        return i

    def device(self) -> int:
        self.devices.append(f"dv_{self.py.getrandbits(64):016x}")
        return len(self.devices) - 1

    def _build_accounts(self) -> None:
        rng, py, geo, n = self.rng, self.py, self.geo, self.n
        G = self.G
        countries = [cc for cc, c in G.COUNTRIES.items() if c.weight > 0 and cc in geo.residential]
        cw = np.array([G.COUNTRIES[cc].weight for cc in countries], float)
        vpn_exits = [e for exits in geo.vpn_exits.values() for e in exits]
        hosting = geo.all_hosting()
        resi = [s for subs in geo.resi_proxies.values() for s in subs]
        offices: dict[str, list] = {}
        for s in geo.offices + geo.campuses:
            offices.setdefault(s.city.country, []).append(s.network)

        ids = np.unique(rng.integers(0, 2 ** 62, n + n // 100 + 10, dtype=np.int64))[:n]
        rng.shuffle(ids)
        self.ids = [f"acct_{int(x):016x}" for x in ids]
        # farms first: 2% of accounts in farms of 10..300
        farm_of = np.full(n, -1, np.int64)
        n_farm_target = int(n * 0.02)
        sizes = []
        while sum(sizes) < n_farm_target:
            sizes.append(int(min(300, max(10, rng.lognormal(3.5, 0.8)))))
        if sizes:
            sizes[-1] -= sum(sizes) - n_farm_target
            sizes = [s for s in sizes if s > 0]
        members = rng.permutation(n)[:n_farm_target]
        pos = 0
        for f, s in enumerate(sizes):
            farm_of[members[pos:pos + s]] = f
            pos += s
        self.farm_of, self.farm_sizes = farm_of, sizes
        is_farm = farm_of >= 0
        self.is_farm = is_farm

        # signup times: people over --signup-days, farms in bursts inside the usage window
        created = self.as_of - rng.uniform(0, self.signup_days * DAY, n)
        self.farm_t0 = self.as_of - rng.uniform(2 * DAY, self.days * DAY, len(sizes))
        created[is_farm] = self.farm_t0[farm_of[is_farm]] + rng.uniform(0, 2 * 3600, int(is_farm.sum()))
        self.created = np.floor(created)

        # segments of legit accounts: 0 light, 1 regular, 2 heavy person, 3 heavy script, 4 resold
        seg = rng.choice(5, n, p=[0.72, 0.2, 0.045, 0.03, 0.005])
        seg[is_farm] = 5
        self.segment = seg

        # per-account sets of addresses and devices (CSR: offsets, values, cumulative weights)
        ip_vals, ip_w, ip_off = [], [], [0]
        dev_vals, dev_w, dev_off = [], [], [0]
        self.signup_ip = np.zeros(n, np.int64)
        self.primary_device = np.zeros(n, np.int64)
        self.country = [None] * n
        self.tz_offset = np.zeros(n)
        self.components = [None] * n
        self.card = [None] * n
        self.phone = [None] * n
        self.mailbox = [None] * n
        # common hardware/browser configurations: component hashes shared by many accounts
        n_configs = max(50, n // 50)
        config_p = 1.0 / np.arange(1, n_configs + 1) ** 1.1
        config_p /= config_p.sum()
        config_of = rng.choice(n_configs, n, p=config_p)

        farm_res = []
        for f, s in enumerate(sizes):
            kind = py.random()
            pool = []
            for _ in range(max(3, s // 4)):
                x = py.random()
                net = py.choice(vpn_exits) if x < 0.35 else py.choice(hosting) if x < 0.65 else \
                    py.choice(resi) if x < 0.95 else py.choice(geo.tor_exits)
                addr = net.address(py) if net.nat_pool else net.host(py)
                pool.append(self.ip(addr, geo.lookup(addr)))
            n_dev = 2 + s // 30 if kind < 0.6 else s          # bulk farms share devices; antidetect ones don't
            devs = [self.device() for _ in range(n_dev)]
            farm_res.append({
                "ips": pool, "devices": devs,
                "cards": [f"card_farm{f}_{k}" for k in range(1 + s // 40)],
                "phones": [f"+1555{f:05d}{k:02d}" for k in range(1 + s // 25)],
                "mailbox": f"farm{f}box@mail.example" if py.random() < 0.3 else None,
                "components": f"farmhw{f}" if kind < 0.8 else None,
                "templates": [int(x) for x in rng.integers(0, 2 ** 63, py.randint(3, 8), dtype=np.int64)],
                "country": py.choice(countries),
            })
        self.farm_res = farm_res

        household_left, home, home_dev, home_card, home_cc = 0, 0, None, None, None
        order = np.flatnonzero(~is_farm)
        hh_sizes, hh_p = [1, 2, 3, 4], [0.85, 0.1, 0.03, 0.02]
        country_pick = rng.choice(len(countries), n, p=cw / cw.sum())
        u = rng.random((n, 8))
        for k, a in enumerate(order):
            a = int(a)
            if household_left == 0:
                cc = countries[country_pick[a]]
                blocks = geo.residential[cc]
                b = py.choice(blocks)
                net = b.v6 if (b.v6 is not None and py.random() < 0.15) else b
                addr = net.host(py)
                home = self.ip(addr, net)
                home_cc = (cc, b.city.tz)
                household_left = py.choices(hh_sizes, hh_p)[0]
                home_dev = self.device() if household_left > 1 and py.random() < 0.3 else None
                home_card = f"card_hh{a}" if household_left > 1 and py.random() < 0.15 else None
            household_left -= 1
            cc, tz = home_cc
            self.country[a] = cc
            self.tz_offset[a] = _tz_offset(tz, self.as_of)
            ua = u[a]
            ips, ws = [home], [0.75]
            if ua[0] < 0.35:
                gw = py.choice(geo.mobile[cc])
                for addr in py.sample(gw.nat_pool, min(3, len(gw.nat_pool))):
                    ips.append(self.ip(addr, gw))
                    ws.append(0.2 / 3)
            if ua[1] < 0.08 and cc in offices:
                net = py.choice(offices[cc])
                addr = net.address(py) if net.nat_pool else net.host(py)
                ips.append(self.ip(addr, net))
                ws.append(0.15)
            if ua[2] < 0.04:
                for _ in range(2):
                    net = py.choice(vpn_exits)
                    ips.append(self.ip(net.host(py), net))
                    ws.append(0.05)
            if ua[3] < 0.03:
                fc = py.choice(countries)
                b = py.choice(geo.residential[fc])
                ips.append(self.ip(b.host(py), b))
                ws.append(0.05)
            if seg[a] == 4:       # resold: used from many places at once
                for _ in range(py.randint(10, 40)):
                    fc = py.choice(countries)
                    b = py.choice(geo.residential[fc])
                    ips.append(self.ip(b.host(py), b))
                    ws.append(0.5)
            devs = [home_dev] if home_dev is not None and ua[4] < 0.5 else []
            devs += [self.device() for _ in range(1 if ua[5] < 0.6 else 2 if ua[5] < 0.9 else 3)]
            dws = [0.8] + [0.2 / max(1, len(devs) - 1)] * (len(devs) - 1)
            self.signup_ip[a] = home
            self.primary_device[a] = devs[0]
            self.components[a] = f"hw{config_of[a]}"
            self.card[a] = home_card if home_card is not None and ua[6] < 0.7 else \
                (f"card_{a}" if ua[6] < 0.65 else None)
            self.phone[a] = f"+1{a:010d}" if ua[7] < 0.55 else None
            self.mailbox[a] = f"m{a}@mail.example"
            ip_vals += ips
            ip_w += ws
            ip_off.append(len(ip_vals))
            dev_vals += devs
            dev_w += dws
            dev_off.append(len(dev_vals))
            if k % 200_000 == 199_999:
                log(f"plan: {k + 1:,} people")
        # farms (after people so their CSR rows come in order; rows are re-ordered below)
        farm_rows = {}
        for a in np.flatnonzero(is_farm):
            a = int(a)
            fr = farm_res[farm_of[a]]
            self.country[a] = fr["country"]
            self.tz_offset[a] = 0.0
            ips = py.sample(fr["ips"], min(len(fr["ips"]), py.randint(2, 6)))
            devs = [py.choice(fr["devices"])]
            self.signup_ip[a] = ips[0]
            self.primary_device[a] = devs[0]
            self.components[a] = fr["components"] or f"hwx{a}"
            self.card[a] = py.choice(fr["cards"]) if py.random() < 0.8 else None
            self.phone[a] = py.choice(fr["phones"]) if py.random() < 0.6 else None
            self.mailbox[a] = fr["mailbox"] or f"m{a}@mail.example"
            farm_rows[a] = (ips, [1.0] * len(ips), devs, [1.0])
        # CSR in account order
        people = {int(a): k for k, a in enumerate(order)}
        self.ip_sets, self.dev_sets = [], []
        ipv, ipw, ipo, dv, dw, do = [], [], [0], [], [], [0]
        for a in range(n):
            if a in farm_rows:
                ips, ws, devs, dws = farm_rows[a]
            else:
                k = people[a]
                ips, ws = ip_vals[ip_off[k]:ip_off[k + 1]], ip_w[ip_off[k]:ip_off[k + 1]]
                devs, dws = dev_vals[dev_off[k]:dev_off[k + 1]], dev_w[dev_off[k]:dev_off[k + 1]]
            ipv += ips
            ipw += ws
            ipo.append(len(ipv))
            dv += devs
            dw += dws
            do.append(len(dv))
        self.ip_csr = _csr(np.asarray(ipo), np.asarray(ipv, np.int64), np.asarray(ipw, float))
        self.dev_csr = _csr(np.asarray(do), np.asarray(dv, np.int64), np.asarray(dw, float))

    # -- usage ----------------------------------------------------------------------------------
    def _build_usage(self) -> None:
        rng, n, seg = self.rng, self.n, self.segment
        # records per account: everyone at least one, then a skewed share of the rest
        weight = np.choose(seg, [rng.lognormal(0.5, 0.9, n), rng.lognormal(2.5, 0.6, n), rng.lognormal(4.3, 0.7, n),
                                 rng.lognormal(5.0, 0.6, n), rng.lognormal(4.5, 0.5, n), rng.lognormal(4.0, 0.5, n)])
        extra = max(0, self.r_total - n)
        count = 1 + rng.multinomial(extra, weight / weight.sum()) if extra else np.ones(n, np.int64)
        if self.r_total < n:          # fewer records than accounts: the first r_total accounts get one
            count = (np.arange(n) < self.r_total).astype(np.int64)
        self.count = count
        R = int(count.sum())
        acct = np.repeat(np.arange(n), count)
        starts = np.cumsum(count) - count
        rank = np.arange(R) - np.repeat(starts, count)
        lo = np.maximum(self.as_of - self.days * DAY, self.created + 60)[acct]
        span = np.maximum(self.as_of - lo, 60.0)
        # people: a day in their span, an hour on their local diurnal clock
        p = DIURNAL / DIURNAL.sum()
        day0 = np.floor(lo / DAY) * DAY
        nd = np.ceil(span / DAY) + 1
        ts = day0 + np.floor(rng.random(R) * nd) * DAY + rng.choice(24, R, p=p) * 3600.0 + rng.random(R) * 3600 \
            - self.tz_offset[acct]
        bad = (ts <= lo) | (ts > self.as_of - 1)
        ts[bad] = lo[bad] + rng.random(int(bad.sum())) * (span[bad] - 1)
        # scripts and farms: on a timer with a little jitter
        timer = np.isin(seg, [3, 5])[acct]
        step = span / np.maximum(count[acct], 1)
        ts_timer = lo + (rank + 0.5) * step + rng.normal(0, 0.05, R) * step
        ts = np.where(timer, ts_timer, ts)
        ts = np.clip(np.floor(ts), lo + 1, self.as_of - 1)
        self.acct, self.ts = acct.astype(np.int32), ts
        self.ip_rec = self.ip_csr.pick(acct, rng)
        dev = self.dev_csr.pick(acct, rng)
        dev[rng.random(R) < 0.15] = -1
        self.dev_rec = dev
        farm = self.is_farm[acct]
        # requests: mostly single requests; some folded per minute/hour; farms near the daily quota
        req = np.ones(R, np.int64)
        fold = rng.random(R) < np.where(np.isin(seg, [2, 3])[acct], 0.3, 0.05)
        req[fold] = rng.integers(2, 60, int(fold.sum()))
        req[farm] = rng.integers(20, 120, int(farm.sum()))
        self.req = req
        tin = np.round(rng.lognormal(6.3, 1.0, R) * req).astype(np.int64)
        tout = np.round(rng.lognormal(5.8, 1.0, R) * req * np.where(farm, 4.0, 1.0)).astype(np.int64)
        tin[rng.random(R) < 0.05] = -1
        tout[rng.random(R) < 0.05] = -1
        self.tin, self.tout = tin, tout
        # reasoning: -1 not said, 0/1
        x = rng.random(R)
        rsn = np.where(x < 0.4, -1, np.where(x < 0.46, 1, 0)).astype(np.int8)
        rsn[farm] = (rng.random(int(farm.sum())) < 0.75).astype(np.int8)
        self.rsn = rsn
        self.model = rng.choice(len(MODELS), R, p=[0.45, 0.3, 0.15, 0.1]).astype(np.int8)
        # prompt fingerprints (0 = none): fresh, habitual (3 per account), popular templates, farm templates
        fp = (rng.integers(1, 2 ** 63, R, dtype=np.int64).astype(np.uint64)
              | (rng.integers(0, 2, R).astype(np.uint64) << np.uint64(63)))
        habit = rng.integers(1, 2 ** 63, (n, 3), dtype=np.int64).astype(np.uint64)
        kind = rng.random(R)
        hab = (kind >= 0.5) & (kind < 0.85)
        fp[hab] = habit[acct[hab], rng.integers(0, 3, int(hab.sum()))]
        pop = kind >= 0.85
        n_pop = 2000
        popular = rng.integers(1, 2 ** 63, n_pop, dtype=np.int64).astype(np.uint64)
        zipf = 1.0 / np.arange(1, n_pop + 1) ** 1.2
        fp[pop] = _flip(popular[rng.choice(n_pop, int(pop.sum()), p=zipf / zipf.sum())], rng, 2)
        fr = np.flatnonzero(farm & (rng.random(R) < 0.85))
        if len(fr):
            tmpl = np.array([[t for t in self.farm_res[f]["templates"]][:8] + [self.farm_res[f]["templates"][0]] *
                             (8 - len(self.farm_res[f]["templates"])) for f in range(len(self.farm_res))], np.uint64)
            fp[fr] = _flip(tmpl[self.farm_of[acct[fr]], rng.integers(0, 8, len(fr))], rng, 3)
        fp[rng.random(R) < 0.1] = 0
        self.fp = fp
        self.order = np.argsort(ts, kind="stable")          # the order the API receives them in

    # -- output ---------------------------------------------------------------------------------
    def usage_batches(self, size: int = USAGE_BATCH):
        """Lists of POST /v1/usage records (JSON-shaped dicts), in time order."""
        ids, ips, devices = self.ids, self.ips, self.devices
        for start in range(0, len(self.order), size):
            sel = self.order[start:start + size]
            stamps = np.datetime_as_string(self.ts[sel].astype("datetime64[s]"), unit="s").tolist()
            cols = zip(self.acct[sel].tolist(), stamps, self.ip_rec[sel].tolist(), self.dev_rec[sel].tolist(),
                       self.req[sel].tolist(), self.tin[sel].tolist(), self.tout[sel].tolist(),
                       self.fp[sel].tolist(), self.rsn[sel].tolist(), self.model[sel].tolist(), strict=True)
            batch = []
            for a, ts, ip, dev, req, tin, tout, fp, rsn, model in cols:
                r = {"account_id": ids[a], "occurred_at": ts + "Z", "ip": ips[ip], "api_key_id": f"key_{a % 9973}",
                     "model": MODELS[model], "requests": req}
                if dev >= 0:
                    r["device_id"] = devices[dev]
                if tin >= 0:
                    r["input_tokens"] = tin
                if tout >= 0:
                    r["output_tokens"] = tout
                if fp:
                    r["prompt_fingerprint"] = f"{fp:016x}"
                if rsn >= 0:
                    r["reasoning_requested"] = bool(rsn)
                batch.append(r)
            yield batch

    def summary(self) -> dict:
        c = self.count
        return {"accounts": self.n, "records": int(c.sum()), "farms": len(self.farm_sizes),
                "farm_accounts": int(self.is_farm.sum()), "distinct_ips": len(self.ips),
                "distinct_devices": len(self.devices),
                "records_per_account": {"p50": float(np.percentile(c, 50)), "p90": float(np.percentile(c, 90)),
                                        "p99": float(np.percentile(c, 99)), "max": int(c.max())},
                "accounts_signed_up_in_window": int((self.created > self.as_of - self.days * DAY).sum()),
                "accounts_with_usage_last_7d": int(np.unique(self.acct[self.ts > self.as_of - 7 * DAY]).size)}


class _csr:
    """Per-account weighted choices: row a is values[off[a]:off[a+1]] with weights."""

    def __init__(self, off, values, weights):
        self.off, self.values = off, values
        owner = np.repeat(np.arange(len(off) - 1), np.diff(off))
        tot = np.bincount(owner, weights=weights, minlength=len(off) - 1)
        cum = np.cumsum(weights) - np.repeat(np.cumsum(tot) - tot, np.diff(off))
        self.key = owner + np.minimum(cum / tot[owner], 1.0 - 1e-9)      # row a: keys in (a, a + 1)

    def pick(self, rows: np.ndarray, rng) -> np.ndarray:
        pos = np.searchsorted(self.key, rows + rng.random(len(rows)) * (1.0 - 1e-8), side="left")
        return self.values[np.minimum(pos, len(self.values) - 1)]


def _flip(fp: np.ndarray, rng, max_bits: int) -> np.ndarray:
    """Near-identical variants: 0..max_bits random bits flipped."""
    out = fp.copy()
    k = rng.integers(0, max_bits + 1, len(fp))
    for b in range(max_bits):
        m = k > b
        out[m] ^= np.uint64(1) << rng.integers(0, 64, int(m.sum())).astype(np.uint64)
    return out


def _tz_offset(tz: str | None, at: float) -> float:
    from riskengine.rescore.behaviour import utc_offset
    return utc_offset(tz, at)


# =============================================================================== signup rows

def signup_pool(geo: dict, work: Path) -> dict:
    """Real signup assessments: a small simulated world's signups run through assess.assess
    on a scratch database, captured where they reach storage.record. Keyed by fraud."""
    from riskengine import storage
    from riskengine.config import Config
    from riskengine.runtime import Runtime
    from riskengine.schemas import AssessRequest
    from riskengine.scoring import assess as assess_mod
    from riskengine.sim import build_world
    from riskengine.sim.collector import reissued
    from riskengine.storage import migrate
    for suffix in ("", "-wal", "-shm"):
        Path(str(work) + suffix).unlink(missing_ok=True)
    eng = storage.make_engine(f"sqlite:///{work}")
    migrate.upgrade(eng)
    eng.dispose()
    engine = Runtime.build(Config(database_url=f"sqlite:///{work}", hash_key=HASH_KEY, hash_key_file=str(work) + ".key",
                                 geoip_city=geo["city"], geoip_asn=geo["asn"], geoip_anonymous=geo["anonymous"]))
    if engine.model is None:
        raise SystemExit("no assess model: " + "; ".join(engine.problems))
    world = build_world(seed=11, accounts=1500, days=30)
    captured = []
    original = assess_mod.storage.record

    def capture(conn, row, account, links):
        captured.append((row, account))
        return original(conn, row, account, links)

    assess_mod.storage.record = capture
    pool = {False: [], True: []}
    try:
        for ev in world.events:
            if ev.body["event"] != "signup":
                continue
            n = len(captured)
            # the page's token as this engine would have issued it at the time (sim.collector.reissued)
            body = reissued(ev.body, engine.token_key, ev.occurred_at.timestamp())
            assess_mod.assess(engine, AssessRequest.model_validate(body), "0" * 64,
                              now=ev.occurred_at.timestamp() + 1)
            if len(captured) > n:
                pool[ev.fraud].append(captured[-1])
    finally:
        assess_mod.storage.record = original
        engine.close()
        for suffix in ("", "-wal", "-shm", ".key", ".writelock"):
            Path(str(work) + suffix).unlink(missing_ok=True)
    return pool


def signup_rows(plan: Plan, pool: dict, hasher, a: int, subnet_of) -> tuple[dict, dict, dict]:
    """(row, account, links) for account a, shaped as assess._decide / assess._account_fields."""
    from riskengine.ids import assessment_id
    fraud = bool(plan.is_farm[a])
    rows = pool[fraud] or pool[not fraud]
    base, base_acc = rows[plan.py.randrange(len(rows))]
    aid, t = plan.ids[a], float(plan.created[a])
    ip_i = int(plan.signup_ip[a])
    ip = plan.ips[ip_i]
    cc, asn, lat, lon = plan.ip_meta[ip_i]
    dev = plan.devices[int(plan.primary_device[a])]
    links = {"device": hasher("device", dev), "components": hasher("components", plan.components[a]),
             "mailbox": hasher("mailbox", plan.mailbox[a]), "ip": hasher("ip", ip),
             "subnet": hasher("subnet", subnet_of(ip))}
    if plan.card[a]:
        links["payment"] = hasher("payment", plan.card[a])
    if plan.phone[a]:
        links["phone"] = hasher("phone", plan.phone[a])
    if cc:
        links["country"] = cc
    asm = assessment_id(t)
    inputs = dict(base["inputs"])
    inputs.pop("event_id", None)
    inputs.update(account={**inputs.get("account", {}), "id": aid}, ip=ip, links=links,
                  occurred_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)))
    response = {**base["response"], "assessment_id": asm, "account_id": aid}
    row = {**base, "id": asm, "event_id": None, "request_hash": hashlib.sha256(aid.encode()).hexdigest(),
           "account_id": aid, "occurred_ts": t, "created_ts": t + 0.05, "ip": ip, "ip_country": cc, "ip_asn": asn,
           "latitude": lat, "longitude": lon, "inputs": inputs, "response": response}
    domain = (base_acc.get("email") or "x@mail.example").rsplit("@", 1)[-1]
    account = {**base_acc, "email": f"user{a}@{domain}", "country": base_acc.get("country")}
    return row, account, links


# =============================================================================== loading

def bulk_engine(url: str):
    """The service's engine (storage.make_engine) with bulk-load pragmas on SQLite: a failed
    build is thrown away, so no journal and no fsync."""
    from sqlalchemy import event

    from riskengine import storage
    eng = storage.make_engine(url, 60_000)
    if url.startswith("sqlite"):
        @event.listens_for(eng, "connect")
        def _bulk(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=OFF")
            cur.execute("PRAGMA synchronous=OFF")
            cur.execute("PRAGMA cache_size=-1000000")       # 1 GB page cache for the index inserts
            cur.execute("PRAGMA temp_store=MEMORY")
            cur.close()
    return eng


def load_data(url: str, args, geo: dict, as_of: float) -> dict:
    """Generate and load everything into the (migrated, empty) database at `url`."""
    from riskengine import storage
    from riskengine.hashing import Hasher
    from riskengine.signals.ip import ip_signals
    out: dict = {"as_of": as_of, "seconds": {}}
    t0 = time.perf_counter()
    pool = signup_pool(geo, VAR / f"rescore-pool-{os.getpid()}.db")
    out["seconds"]["signup_pool"] = round(time.perf_counter() - t0, 1)
    log(f"signup pool: {len(pool[False])} legit + {len(pool[True])} fraud real assessments "
        f"({out['seconds']['signup_pool']:.0f} s)")
    t = time.perf_counter()
    plan = Plan(args.accounts, args.records, args.days, args.signup_days, args.seed, as_of)
    out["seconds"]["plan"] = round(time.perf_counter() - t, 1)
    out["plan"] = plan.summary()
    log(f"plan ({out['seconds']['plan']:.0f} s): {out['plan']}")
    hasher = Hasher(HASH_KEY.encode())
    eng = bulk_engine(url)
    subnets: dict[str, str] = {}

    def subnet_of(ip):
        s = subnets.get(ip)
        if s is None:
            s = subnets[ip] = ip_signals(ip, None).subnet
        return s

    # 1. signups through storage.record, SIGNUPS_PER_COMMIT per transaction
    t = time.perf_counter()
    order = np.argsort(plan.created, kind="stable")
    done = 0
    for start in range(0, len(order), SIGNUPS_PER_COMMIT):
        with eng.begin() as conn:
            for a in order[start:start + SIGNUPS_PER_COMMIT].tolist():
                storage.record(conn, *signup_rows(plan, pool, hasher, a, subnet_of))
        done += min(SIGNUPS_PER_COMMIT, len(order) - start)
        if done % 100_000 < SIGNUPS_PER_COMMIT or done == len(order):
            el = time.perf_counter() - t
            log(f"signups: {done:,}/{len(order):,} ({el:.0f} s, {done / el:,.0f}/s)")
    out["seconds"]["signups"] = round(time.perf_counter() - t, 1)
    out["signups_per_s"] = round(len(order) / max(out["seconds"]["signups"], 1e-9))
    # 2. usage through the POST /v1/usage code: validate, to_rows, insert_usage (10k a call). A
    #    forked producer validates and converts batch i+1 while this process inserts batch i, as
    #    the service's workers would run requests side by side (SQLite has one writer either way).
    out.update(load_usage(eng, plan, hasher, as_of))
    # 3. a few analyst labels (farm members as fraud, random people as legit)
    rng = np.random.default_rng(args.seed + 1)
    farm = np.flatnonzero(plan.is_farm)
    fraud = rng.choice(farm, min(len(farm), max(1, args.accounts // 500)), replace=False) if len(farm) else []
    legit = rng.choice(np.flatnonzero(~plan.is_farm), max(1, args.accounts // 1000), replace=False)
    with eng.begin() as conn:
        for a, label in [(int(a), "fraud") for a in fraud] + [(int(a), "legit") for a in legit]:
            storage.add_label(conn, plan.ids[a], label, "analyst", "bench", as_of - rng.uniform(0, 20 * DAY))
    out["labels"] = {"fraud": len(fraud), "legit": len(legit)}
    if url.startswith("sqlite"):
        from sqlalchemy import text
        with eng.connect() as conn:
            conn.execute(text("PRAGMA journal_mode=WAL"))        # as make_engine leaves a database
    else:
        from sqlalchemy import text
        with eng.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))                         # what autovacuum would have done by now
    eng.dispose()
    out["seconds"]["total"] = round(time.perf_counter() - t0, 1)
    return out


def _usage_producer(q, plan: Plan, hasher, as_of: float) -> None:
    """Child process: POST /v1/usage minus HTTP and storage: records -> UsageBatch -> to_rows."""
    import traceback
    try:
        from riskengine.usage.ingest import batch_of, to_rows
        split = {"build": 0.0, "validate": 0.0, "to_rows": 0.0}
        tb = time.perf_counter()
        for batch in plan.usage_batches():
            t1 = time.perf_counter()
            parsed = batch_of(batch)
            t2 = time.perf_counter()
            rows, uses = to_rows(parsed, hasher, now=as_of)
            t3 = time.perf_counter()
            split["build"] += t1 - tb
            split["validate"] += t2 - t1
            split["to_rows"] += t3 - t2
            q.put(("batch", rows, uses))
            tb = time.perf_counter()
        q.put(("done", split, None))
    except BaseException:
        q.put(("error", traceback.format_exc(), None))


def load_usage(eng, plan: Plan, hasher, as_of: float) -> dict:
    import multiprocessing as mp
    import queue

    from riskengine import storage
    from riskengine.config import Config
    from riskengine.usage.links import LinkFolder, pack
    fold_after, folder = Config.usage_fold_batches, LinkFolder(eng, hasher)
    ctx = mp.get_context("fork")
    q = ctx.Queue(maxsize=4)
    child = ctx.Process(target=_usage_producer, args=(q, plan, hasher, as_of), daemon=True)
    t = time.perf_counter()
    child.start()
    insert = wait = 0.0
    done, split, last = 0, None, time.perf_counter()
    total = len(plan.order)
    try:
        while True:
            t0 = time.perf_counter()
            try:
                kind, a, b = q.get(timeout=600)
            except queue.Empty:
                raise RuntimeError("usage producer stalled for 10 minutes") from None
            t1 = time.perf_counter()
            wait += t1 - t0
            if kind == "error":
                raise RuntimeError(f"usage producer failed:\n{a}")
            if kind == "done":
                split = a
                break
            with eng.begin() as conn:
                waiting = storage.insert_usage(conn, a, pack(b), as_of)
            if waiting >= fold_after:
                folder.fold()
            t2 = time.perf_counter()
            insert += t2 - t1
            done += len(a)
            if t2 - last > 30 or done == total:
                last = t2
                el = t2 - t
                log(f"usage: {done:,}/{total:,} ({el:.0f} s, {done / el:,.0f} records/s; inserting {insert:.0f} s, "
                    f"waiting for the producer {wait:.0f} s)")
    finally:
        child.join(timeout=30)
        if child.is_alive():
            child.kill()
            child.join(5)
    seconds = time.perf_counter() - t
    split = {k: round(v, 1) for k, v in split.items()}
    split.update(insert=round(insert, 1), insert_waiting_for_producer=round(wait, 1))
    return {"usage_records_per_s": round(total / max(seconds, 1e-9)),
            "usage_seconds": round(seconds, 1), "usage_split_seconds": split,
            "usage_cpu_us_per_record": {k: round(v * 1e6 / max(total, 1), 1) for k, v in split.items()
                                        if k != "insert_waiting_for_producer"}}


def cache_key(args) -> str:
    ident = json.dumps({"v": DATA_VERSION, "accounts": args.accounts, "records": args.records, "days": args.days,
                        "signup_days": args.signup_days, "seed": args.seed, "geoip": args.geoip, "key": HASH_KEY},
                       sort_keys=True)
    return hashlib.sha256(ident.encode()).hexdigest()[:10]


def _load_child(url, args, geo, as_of, meta_path):
    """Loader process (so the job's peak memory is its own)."""
    try:
        meta = load_data(url, args, geo, as_of)
        meta["loader_maxrss_bytes"] = maxrss_bytes()
        Path(meta_path).write_text(json.dumps(meta, indent=1))
    except BaseException:
        import traceback
        traceback.print_exc()
        os._exit(1)


def run_loader(url: str, args, geo: dict, as_of: float, meta_path: Path) -> dict:
    import multiprocessing as mp
    ctx = mp.get_context("fork")
    p = ctx.Process(target=_load_child, args=(url, args, geo, as_of, str(meta_path)))
    p.start()
    try:
        p.join()
    except BaseException:
        p.terminate()
        p.join(10)
        raise
    if p.exitcode != 0 or not meta_path.exists():
        raise SystemExit(f"loading the data failed (exit code {p.exitcode})")
    return json.loads(meta_path.read_text())


def prepare_sqlite(args, geo: dict) -> tuple[str, dict, Path]:
    """(url of a fresh working copy, data meta, working copy path)."""
    from riskengine import storage
    from riskengine.storage import migrate
    VAR.mkdir(parents=True, exist_ok=True)
    key = cache_key(args)
    stem = VAR / f"rescore-{args.accounts}-{args.records}-{key}"
    db, meta_p = stem.with_suffix(".db"), stem.with_suffix(".json")
    if args.fresh:
        db.unlink(missing_ok=True)
        meta_p.unlink(missing_ok=True)
    if not (db.exists() and meta_p.exists()):
        log(f"data: building {db.name} ({args.accounts:,} accounts, {args.records:,} usage records, "
            f"{args.days} days); cached for later runs")
        partial = db.with_suffix(".db.partial")
        for suffix in ("", "-wal", "-shm"):
            Path(str(partial) + suffix).unlink(missing_ok=True)
        eng = storage.make_engine(f"sqlite:///{partial}", 60_000)
        migrate.upgrade(eng)
        eng.dispose()
        as_of = float(int(time.time() // 3600) * 3600)
        tmp_meta = stem.with_suffix(".json.partial")
        meta = run_loader(f"sqlite:///{partial}", args, geo, as_of, tmp_meta)
        meta["params"] = {"accounts": args.accounts, "records": args.records, "days": args.days,
                          "signup_days": args.signup_days, "seed": args.seed, "geoip": args.geoip,
                          "version": DATA_VERSION}
        for suffix in ("-wal", "-shm"):
            Path(str(partial) + suffix).unlink(missing_ok=True)
        meta["bytes"] = partial.stat().st_size
        os.replace(partial, db)
        meta_p.write_text(json.dumps(meta, indent=1))
        tmp_meta.unlink(missing_ok=True)
        log(f"data: done in {meta['seconds']['total']:.0f} s, {meta['bytes'] / 1e9:.2f} GB")
    else:
        log(f"data: reusing cached {db.name}")
    meta = json.loads(meta_p.read_text())
    eng = storage.make_engine(f"sqlite:///{db}", 60_000)
    if migrate.current(eng) != migrate.head():
        migrate.upgrade(eng)
    eng.dispose()
    if args.load_only:
        return f"sqlite:///{db}", meta, db
    work = VAR / "rescore-work.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(work) + suffix).unlink(missing_ok=True)
    t = time.perf_counter()
    shutil.copyfile(db, work)
    log(f"working copy {work.name} ({time.perf_counter() - t:.1f} s)")
    return f"sqlite:///{work}", meta, work


def prepare_postgres(args, geo: dict) -> tuple[str, dict, None]:
    """PostgreSQL: the data is loaded once into the database named in --database-url (which must
    exist and be empty, or hold this benchmark's data); each run works on a copy made with
    CREATE DATABASE <name>_work TEMPLATE <name>, so every run starts from the same data."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from riskengine import storage
    from riskengine.storage import migrate
    url = args.database_url
    u = make_url(url.replace("postgresql://", "postgresql+psycopg://", 1))
    name = u.database
    if name in ("test", "postgres", "template0", "template1"):
        raise SystemExit(f"refusing to use database {name!r}; create one, "
                         "e.g. createdb -h 127.0.0.1 riskengine_rescore")
    key = cache_key(args)
    meta_p = VAR / f"rescore-pg-{hashlib.sha256(url.encode()).hexdigest()[:8]}.json"
    eng = storage.make_engine(url, 60_000)
    migrate.upgrade(eng)
    with eng.connect() as conn:
        n_asm = conn.execute(text("SELECT count(*) FROM assessment")).scalar_one()
    eng.dispose()
    meta = json.loads(meta_p.read_text()) if meta_p.exists() else None
    ours = meta is not None and meta.get("key") == key
    if n_asm and not ours and not args.fresh:
        raise SystemExit(f"{name} holds {n_asm} assessments this benchmark did not write with these parameters; "
                         "use --fresh to empty its riskengine tables and load again")
    if args.fresh or not n_asm:
        eng = storage.make_engine(url, 600_000)
        with eng.begin() as conn:
            conn.execute(text("TRUNCATE assessment, account, entitylink, label, challengeoutcome, usagerecord, "
                              "rescorerun RESTART IDENTITY"))
        eng.dispose()
        as_of = float(int(time.time() // 3600) * 3600)
        tmp_meta = meta_p.with_suffix(".partial")
        meta = run_loader(url, args, geo, as_of, tmp_meta)
        meta["key"] = key
        meta_p.write_text(json.dumps(meta, indent=1))
        tmp_meta.unlink(missing_ok=True)
    else:
        log(f"data: reusing {name} (loaded earlier with these parameters)")
    if args.load_only:
        return url, meta, None
    admin = create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
    work_name = f"{name}_work"
    t = time.perf_counter()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{work_name}"'))
        conn.execute(text(f'CREATE DATABASE "{work_name}" TEMPLATE "{name}"'))
    admin.dispose()
    log(f"working copy {work_name} ({time.perf_counter() - t:.1f} s)")
    return u.set(database=work_name).render_as_string(hide_password=False).replace("+psycopg", ""), meta, None


# =============================================================================== instrumentation

class Probe:
    """Timers wrapped around riskengine's functions (module attributes, restored afterwards) and
    an RSS sampler that charges the peak to the job's current phase."""

    def __init__(self):
        self.sub: dict[str, list] = {}              # name -> [seconds, calls]
        self.stack: list[str] = ["outside phases"]
        self.peak: dict[str, int] = {}
        self.patches: list[tuple] = []
        self.captured: dict[str, np.ndarray] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    # -- RSS per phase
    def _sample(self):
        while not self._stop.is_set():
            r = rss_bytes()
            ph = self.stack[-1]
            if r > self.peak.get(ph, 0):
                self.peak[ph] = r
            self._stop.wait(0.1)

    def start(self):
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._thread.join(2)

    # -- patching
    def patch(self, obj, name, new):
        self.patches.append((obj, name, obj.__dict__[name] if isinstance(obj, type) else getattr(obj, name)))
        setattr(obj, name, new)

    def restore(self):
        for obj, name, old in reversed(self.patches):
            setattr(obj, name, old)
        self.patches.clear()

    def add(self, name, dt):
        s = self.sub.setdefault(name, [0.0, 0])
        s[0] += dt
        s[1] += 1

    def timed(self, name, fn):
        probe = self

        def wrapper(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                probe.add(name, time.perf_counter() - t)
        wrapper.__wrapped__ = fn
        return wrapper

    def timed_rows(self, name, fn):
        """For storage functions returning a cursor: time the statement and the fetches (in
        partitions), not what the caller does with each row."""
        probe = self

        def wrapper(*a, **k):
            t = time.perf_counter()
            result = fn(*a, **k)
            probe.add(name, time.perf_counter() - t)
            return _TimedResult(result, probe.sub[name])
        return wrapper

    def install(self, engine, active):
        from riskengine import storage
        from riskengine.rescore import behaviour, decide, job, partition, population
        from riskengine.rescore import phases as rescore_phases
        probe = self
        orig_call = rescore_phases.Phases.__call__

        def phases_call(phases, name):
            timer = orig_call(phases, name)

            class _Tracked:
                def __enter__(self_):
                    probe.stack.append(name)
                    return timer.__enter__()

                def __exit__(self_, *exc):
                    probe.stack.pop()
                    return timer.__exit__(*exc)
            return _Tracked()

        self.patch(rescore_phases.Phases, "__call__", phases_call)
        for name in ("active_accounts", "latest_labels"):
            self.patch(storage, name, self.timed(f"load: storage.{name}", getattr(storage, name)))
        for name in ("account_states", "usage_fingerprints", "link_rows", "usage_window", "latest_event_features"):
            self.patch(storage, name, self.timed_rows(f"load: storage.{name} (SQL + fetch)", getattr(storage, name)))
        self.patch(storage, "write_rescores", self.timed("write: storage.write_rescores", storage.write_rescores))
        for name, label in ((n, lb) for n, lb in (("_fingerprints", "load: _fingerprints (incl. fetch)"),
                            ("_link_rows", "load: _link_rows (incl. fetch)"),
                            ("_distinct_fingerprints", "load: _distinct_fingerprints"),
                            ("_latest_features", "load: _latest_features (incl. fetch)"),
                            ("template_sharing", "clusters: template_sharing"),
                            ("template_families", "clusters: template_families"),
                            ("link_edges", "clusters: link_edges"),
                            ("components", "clusters: components"),
                            ("cluster_features", "clusters: cluster_features"),
                            ("usage_features", "features: usage_features"),
                            ("_assess_scores", "predict: _assess_scores (JSON + assess model)"),
                            ("decide", "decide: decide (incl. _explain)"),
                            ("active_reasons", "decide: active_reasons"),
                            ("_rows", "write: _rows (build rows)"),
                            ("_write_chunk", "write: _write_chunk (incl. rows + SQL)"))):
            # Patched in every job module that calls it by name (the job's steps live in four).
            for module in (population, partition, decide, job):
                if hasattr(module, name):
                    self.patch(module, name, self.timed(label, getattr(module, name)))
        for cls, name, label in ((behaviour.UsageColumns, "from_rows", "load: UsageColumns.from_rows (incl. fetch)"),
                                 (behaviour.IPTable, "lookup", "features: IPTable.lookup (GeoIP per distinct IP)")):
            fn = cls.__dict__[name].__func__
            self.patch(cls, name, classmethod(self.timed(label, fn)))
        if engine.model is not None:
            self.patch(engine.model, "score_batch", self.timed("predict: assess model score_batch",
                                                               engine.model.score_batch))
        active_score = active.score_batch

        def score(matrix):
            probe.captured["matrix"] = matrix
            return active_score(matrix)
        self.patch(active, "score_batch", self.timed("predict: active model score_batch", score))
        self.patch(active, "contributions", self.timed("decide: active model contributions", active.contributions))


class _TimedResult:
    """A cursor result whose fetches are timed: fetchmany() as the caller asks (riskengine's
    storage.chunked uses it), iteration in blocks of 20,000 rows."""

    def __init__(self, result, acc: list):
        self._result, self._acc = result, acc

    def fetchmany(self, size=None):
        t = time.perf_counter()
        try:
            return self._result.fetchmany(size)
        finally:
            self._acc[0] += time.perf_counter() - t

    def __iter__(self):
        while block := self.fetchmany(20_000):
            yield from block

    def __getattr__(self, name):            # anything else (all(), scalar_one()...): untimed
        return getattr(self._result, name)


# =============================================================================== the job

def run_job(url: str, meta: dict, args, geo: dict) -> dict:
    from riskengine.config import Config
    from riskengine.rescore import job as rescore
    from riskengine.rescore.command import active_model_dir
    from riskengine.runtime import Runtime
    from riskengine.scoring.model import RiskModel
    as_of = meta["as_of"]
    since = duration(args.since)
    engine = Runtime.build(Config(database_url=url, hash_key=HASH_KEY, hash_key_file=str(VAR / "unused-hash.key"),
                                 geoip_city=geo["city"], geoip_asn=geo["asn"], geoip_anonymous=geo["anonymous"]))
    if engine.model is None:
        raise SystemExit("; ".join(engine.problems))
    if args.sqlite_pragma and engine.db.dialect.name == "sqlite":
        from sqlalchemy import event

        @event.listens_for(engine.db, "connect")
        def _what_if(dbapi_conn, _record):
            for pragma in args.sqlite_pragma:
                dbapi_conn.execute(f"PRAGMA {pragma}")
        engine.db.dispose()          # connections opened by Runtime.build don't have them
    if args.active_model:
        os.environ["RISKENGINE_ACTIVE_MODEL"] = args.active_model
    active_dir = active_model_dir()
    active = RiskModel.load(active_dir, nthread=args.nthread)
    changes = VAR / "rescore-changes.jsonl"
    changes.unlink(missing_ok=True)
    probe = Probe()
    if not args.no_split:
        probe.install(engine, active)
    profiler = None
    if args.profile:
        import cProfile
        profiler = cProfile.Profile()
    gc.collect()
    rss_before = rss_bytes()
    probe.start()
    load_before = loadavg()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    log(f"job: rescore.run(since={args.since}, now=as_of) with active model {active.version} "
        f"(nthread={args.nthread}), assess model {engine.model.version}")
    if args.gc == "off":
        gc.disable()
    t = time.perf_counter()
    try:
        if profiler:
            profiler.enable()
        summary = rescore.run(engine, active, since, changes_path=str(changes), progress=not args.no_progress,
                              now=as_of)
    finally:
        if profiler:
            profiler.disable()
        wall = time.perf_counter() - t
        gc.enable()
        probe.stop()
        probe.restore()
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    load_after = loadavg()
    peak = maxrss_bytes()
    log(summary.text())
    matrix = probe.captured.get("matrix")
    stats = matrix_stats(matrix)
    floor = measure_floor(active, matrix, summary.scored, args.floor_repeats)
    del matrix
    probe.captured.clear()
    engine.close()
    res = {
        "summary": {"run_id": summary.run_id, "accounts": summary.accounts, "scored": summary.scored,
                    "skipped": len(summary.skipped), "decisions": summary.decisions, "changes": summary.changes,
                    "resumed": summary.resumed, "seconds": round(summary.seconds, 2)},
        "wall_seconds": round(wall, 2),
        "cpu_seconds": {"user": round(cpu1.ru_utime - cpu0.ru_utime, 1),
                        "system": round(cpu1.ru_stime - cpu0.ru_stime, 1)},
        "phases": {k: round(v, 2) for k, v in summary.phases.items()},
        "split": {k: {"seconds": round(v[0], 2), "calls": v[1]} for k, v in sorted(probe.sub.items())},
        "peak_rss_bytes": peak, "rss_before_job_bytes": rss_before,
        "peak_rss_by_phase_bytes": dict(probe.peak),
        "floor": floor, "matrix_stats": stats, "active_model": str(active_dir), "active_model_nthread": args.nthread,
        "assess_model": str(engine.model.path), "since": args.since, "as_of": as_of,
        "loadavg_before": load_before, "loadavg_after": load_after, "changes_file": str(changes),
    }
    if profiler:
        res["profile"] = profile_report(profiler, args.profile)
    return res


def matrix_stats(matrix) -> dict:
    """A look at what the job computed (is the synthetic world doing what it should?)."""
    from riskengine.rescore.partition import ACTIVE_FEATURES
    if matrix is None:
        return {}
    out = {}
    for f in ("assess_score", "account_age_days", "usage_records", "usage_distinct_ips", "usage_max_kmh",
              "usage_template_sharing", "cluster_size", "cluster_fraud_others", "cluster_signup_burst"):
        col = matrix[:, ACTIVE_FEATURES.index(f)].astype(np.float64)
        ok = col[~np.isnan(col)]
        out[f] = {"nan": round(float(np.isnan(col).mean()), 4)}
        if len(ok):
            out[f].update({"p50": round(float(np.percentile(ok, 50)), 3), "p99": round(float(np.percentile(ok, 99)), 3),
                           "max": round(float(ok.max()), 3), "nonzero": round(float((ok != 0).mean()), 4)})
    return out


def code_fingerprint() -> dict:
    """Which riskengine code ran (the package is edited by others while benchmarks run)."""
    import riskengine
    pkg = Path(riskengine.__file__).resolve().parent
    h = hashlib.sha256()
    files = sorted(pkg.rglob("*.py"))
    newest = 0.0
    for f in files:
        h.update(f.relative_to(pkg).as_posix().encode())
        h.update(f.read_bytes())
        newest = max(newest, f.stat().st_mtime)
    return {"path": str(pkg), "sha256": h.hexdigest()[:16], "files": len(files),
            "newest_mtime": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(newest))}


def measure_floor(active, matrix, n_rows: int, repeats: int) -> dict:
    """The model alone over the job's own matrix (or a same-shaped random one if the split
    timers were off): best of `repeats`."""
    from riskengine.rescore.partition import ACTIVE_FEATURES
    source = "job matrix"
    if matrix is None:
        rng = np.random.default_rng(0)
        matrix = rng.random((max(n_rows, 1), len(ACTIVE_FEATURES)), dtype=np.float32)
        source = "random matrix (same shape)"
    matrix = np.array(matrix, copy=True)
    times = []
    for _ in range(max(1, repeats)):
        t = time.perf_counter()
        active.score_batch(matrix)
        times.append(time.perf_counter() - t)
    return {"seconds": round(min(times), 3), "all": [round(x, 3) for x in times], "rows": int(matrix.shape[0]),
            "cols": int(matrix.shape[1]), "source": source}


def profile_report(profiler, path: str) -> dict:
    import io
    import pstats
    profiler.dump_stats(path)
    st = pstats.Stats(profiler)
    total = st.total_tt
    rows = []
    for (file, line, fn), (_cc, nc, tt, ct, _callers) in st.stats.items():
        rows.append({"function": f"{Path(file).name}:{line}({fn})" if line else fn, "calls": nc,
                     "tottime": round(tt, 3), "cumtime": round(ct, 3)})
    top_tot = sorted(rows, key=lambda r: -r["tottime"])[:30]
    top_cum = sorted(rows, key=lambda r: -r["cumtime"])[:40]
    for r in top_tot + top_cum:
        r["tot_share"] = round(r["tottime"] / total, 3) if total else None
        r["cum_share"] = round(r["cumtime"] / total, 3) if total else None
    buf = io.StringIO()
    pstats.Stats(profiler, stream=buf).sort_stats("tottime").print_stats(30)
    print(buf.getvalue())
    return {"file": path, "total_seconds": round(total, 2), "top_tottime": top_tot, "top_cumtime": top_cum}


# =============================================================================== main

def parse_args(argv):
    global VAR
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--accounts", type=int, default=1_000_000)
    p.add_argument("--records", type=int, default=10_000_000, help="usage records")
    p.add_argument("--days", type=int, default=30, help="span of the usage records")
    p.add_argument("--signup-days", type=int, default=90,
                   help="signups spread over this many days before the as-of time (farms: in the usage span)")
    p.add_argument("--since", default="30d", help="the job's window (rescore --since): 30d covers every account")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--geoip", choices=("sim", "maxmind-test", "none"), default="sim")
    p.add_argument("--database-url", help="PostgreSQL database to load and copy (default: cached SQLite)")
    p.add_argument("--fresh", action="store_true", help="ignore the cached data and load again")
    p.add_argument("--load-only", action="store_true", help="build or check the cached data, then stop")
    p.add_argument("--active-model", help="active model directory (default: RISKENGINE_ACTIVE_MODEL, else newest)")
    p.add_argument("--nthread", type=int, default=2, help="XGBoost threads of the active model")
    p.add_argument("--floor-repeats", type=int, default=3)
    p.add_argument("--runs", type=int, default=1,
                   help="run the job N times on the same working copy (run 2+ see the earlier runs' rescore rows, "
                        "as a daily job would)")
    p.add_argument("--profile", metavar="FILE", help="run the job under cProfile, dump stats to FILE, print the top")
    p.add_argument("--gc", choices=("on", "off"), default="on",
                   help="what-if: 'off' runs the job with Python's cyclic garbage collector disabled")
    p.add_argument("--riskengine-path", metavar="DIR",
                   help="what-if: import the riskengine package from DIR/riskengine instead (a patched copy); "
                        "the data is loaded by whichever code builds the cache")
    p.add_argument("--sqlite-pragma", action="append", default=[], metavar="NAME=VALUE",
                   help="what-if: a PRAGMA run on every connection of the job's engine, e.g. mmap_size=17179869184 "
                        "(repeatable)")
    p.add_argument("--no-split", action="store_true", help="no timers around riskengine functions (overhead check)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--keep-work-db", action="store_true", help="keep the working copy after the run")
    p.add_argument("--json", default=None, help="where to write the results (default: CACHE_DIR/bench_rescore.json)")
    p.add_argument("--cache-dir", default=str(VAR), metavar="DIR",
                   help="where the cached prefill, working copy, logs and results live (default: var/bench); "
                        "point it at a fast disk with room for the prefill (about 5 GB at full size)")
    args = p.parse_args(argv)
    VAR = Path(args.cache_dir).resolve()
    args.json = args.json or str(VAR / "bench_rescore.json")
    return args


def gib(b) -> str:
    return f"{b / 2 ** 30:.2f} GiB"


def print_summary(res: dict) -> None:
    job = res["job"]
    data = res["data"]
    total = job["summary"]["seconds"]
    floor = job["floor"]["seconds"]
    ph = job["phases"]
    want = ["load", "clusters", "features", "predict", "decide", "write"]
    lines = ["", "=" * 78, "bench_rescore summary", "=" * 78,
             f"command: {res['command']}",
             f"data: {data['plan']['accounts']:,} accounts, {data['plan']['records']:,} usage records over "
             f"{res['params']['days']} d; job window --since {job['since']}; {job['summary']['accounts']:,} active, "
             f"{job['summary']['scored']:,} scored",
             f"load (cached; when built): signups {data.get('signups_per_s', 0):,}/s, "
             f"usage {data.get('usage_records_per_s', 0):,} records/s, total {data['seconds'].get('total', 0):,.0f} s",
             f"job total: {total:.1f} s (issue 12's target at 1M accounts / 10M records <= 120 s: "
             f"{'OK' if total <= 120 else 'MISSED'})",
             "phases: " + ", ".join(f"{k} {ph[k]:.1f} s" for k in want if k in ph)
             + "".join(f", {k} {v:.1f} s" for k, v in ph.items() if k not in want)
             + f", other {total - sum(ph.values()):.1f} s",
             f"peak RSS: {gib(job['peak_rss_bytes'])} (target <= 4 GiB: "
             f"{'OK' if job['peak_rss_bytes'] <= 4 * 2 ** 30 else 'MISSED'}); by phase: "
             + ", ".join(f"{k} {gib(v)}" for k, v in job["peak_rss_by_phase_bytes"].items()),
             f"floor (active model score_batch over the {job['floor']['rows']:,} x {job['floor']['cols']} matrix, "
             f"nthread={job['active_model_nthread']}): {floor:.3f} s  -> job/floor = {total / max(floor, 1e-9):.0f}x",
             f"cpu: user {job['cpu_seconds']['user']} s, system {job['cpu_seconds']['system']} s; "
             f"loadavg before {job['loadavg_before']}, after {job['loadavg_after']}",
             "split (inclusive seconds; nested entries overlap):"]
    for k, v in sorted(job["split"].items(), key=lambda kv: -kv[1]["seconds"]):
        lines.append(f"  {v['seconds']:8.2f} s  {k}  ({v['calls']} calls)")
    for k, r in enumerate(res.get("runs", []), 2):
        lines.append(f"run {k} (after {k - 1} earlier run(s) on the same database): {r['summary']['seconds']:.1f} s; "
                     + ", ".join(f"{p} {v:.1f} s" for p, v in r["phases"].items())
                     + f"; peak RSS {gib(r['peak_rss_bytes'])}")
    lines += [f"code: {res['code']['path']} sha256 {res['code']['sha256']} (newest file {res['code']['newest_mtime']})",
              f"results: {res['json']}", "=" * 78]
    print("\n".join(lines), flush=True)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    command = shlex.join([sys.executable, str(Path(__file__).resolve().relative_to(ROOT))
                          if Path(__file__).resolve().is_relative_to(ROOT) else __file__, *argv])
    started = time.time()
    if args.riskengine_path:
        sys.path.insert(0, str(Path(args.riskengine_path).resolve()))
    os.environ.pop("RISKENGINE_DATABASE_URL", None)
    geo = geoip_paths(args.geoip)
    if args.database_url and not args.database_url.startswith("sqlite"):
        url, meta, work = prepare_postgres(args, geo)
    else:
        url, meta, work = prepare_sqlite(args, geo)
    if args.load_only:
        print(json.dumps(meta, indent=1))
        return 0
    code = code_fingerprint()
    runs = []
    try:
        for k in range(max(1, args.runs)):
            if args.runs > 1:
                log(f"run {k + 1} of {args.runs}")
            runs.append(run_job(url, meta, args, geo))
    finally:
        if work is not None and not args.keep_work_db:
            for suffix in ("", "-wal", "-shm", ".writelock"):
                Path(str(work) + suffix).unlink(missing_ok=True)
    res = {"command": command, "started": started, "params": vars(args), "json": args.json,
           "data": meta, "job": runs[0], "runs": runs[1:], "code": code,
           "machine": {"cpus": os.cpu_count(), "loadavg_end": loadavg(),
                       "mem_total_bytes": os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")},
           "loader_maxrss_bytes": meta.get("loader_maxrss_bytes")}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(res, indent=1, default=str))
    print_summary(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
