#!/usr/bin/env python
"""Benchmark POST /v1/assess against a bare-Flask floor on the same gunicorn configuration.

One run, all on 127.0.0.1:
  1. prefill (cached under var/bench/): a database holding --assessments assessments of
     ~0.3 x that many accounts over 30 days (signups, logins with failures, shared devices,
     households, fraud rings, mobile NAT and VPN addresses), rows shaped exactly as
     storage.record writes them (assessment, account, entitylink), bulk-inserted;
  2. floor: scripts/bench_floor_app.py (bare Flask: parse the ~1 KB body, answer small JSON)
     under riskengine.server.options(...), closed loop (wrk) for --duration seconds;
  3. engine: `riskengine serve` on a fresh copy of the prefilled database, closed loop (wrk)
     with a 30% signup / 70% login mix, same connections and duration;
  4. engine at a fixed --rate (open loop, Python client): latency measured from each
     request's scheduled send time, so a stall is charged to every request it delays.
Prints throughput and p50/p99 for floor and engine, their ratio, p99 at the fixed rate,
and writes the numbers to var/bench/bench_assess.json. See scripts/README.md.
"""
from __future__ import annotations

import argparse
import atexit
import hashlib
import http.client
import json
import math
import os
import pickle
import queue
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import benchlib

ROOT = Path(__file__).resolve().parents[1]
VAR = ROOT / "var" / "bench"
HOST = "127.0.0.1"
BIN = Path(sys.executable).parent
PREFILL_VERSION = 4            # bump when the generated world changes: invalidates caches
BENCH_HASH_KEY = "riskengine-bench-hash-key-v1"   # prefill and server must link with one key
ASSUMED_RATE = 200.0           # occurred_at of bench events advances at this many events/s
ORG_TYPES = (("individual", 85), ("startup", 5), ("education", 4), ("enterprise", 4), ("research", 2))
LOGIN_METHODS = (("password", 70), ("sso", 15), ("passkey", 10), ("magic_link", 5))


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# =============================================================================== processes

class Procs:
    """Child processes of this run; each in its own session so its workers die with it."""

    def __init__(self):
        self.procs: list[subprocess.Popen] = []

    def start(self, argv: list[str], env: dict, log_path: Path) -> subprocess.Popen:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as out:
            p = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True)
        self.procs.append(p)
        return p

    def stop(self, p: subprocess.Popen, grace: float = 15.0) -> None:
        """SIGTERM to the child (gunicorn stops its workers gracefully), then SIGKILL to whatever
        is left of its process group. The child is reaped only after that, so its pid (= the
        group id) cannot have been reused by an unrelated process."""
        if p.returncode is None:
            if not self._exited(p):
                try:
                    p.send_signal(signal.SIGTERM)
                except ProcessLookupError:
                    pass
                deadline = time.monotonic() + grace
                while not self._exited(p) and time.monotonic() < deadline:
                    time.sleep(0.05)
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        if p in self.procs:
            self.procs.remove(p)

    @staticmethod
    def _exited(p: subprocess.Popen) -> bool:
        """Has the child exited? (Without reaping it: WNOWAIT.)"""
        try:
            info = os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return True
        return info is not None and info.si_pid == p.pid

    def stop_all(self) -> None:
        for p in list(self.procs):
            self.stop(p, grace=5.0)


PROCS = Procs()


def _on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def http_get(port: int, path: str, timeout: float = 2.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def wait_ready(p: subprocess.Popen, port: int, log_path: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if p.poll() is not None:
            raise RuntimeError(f"server exited with {p.returncode} before ready; log {log_path}:\n"
                               + tail(log_path))
        try:
            status, body = http_get(port, "/readyz")
            if status == 200:
                return
            last = f"{status} {body[:300]!r}"
        except OSError as e:
            last = repr(e)
        time.sleep(0.2)
    raise RuntimeError(f"server on port {port} not ready after {timeout:.0f} s (last: {last}); log {log_path}:\n"
                       + tail(log_path))


def tail(path: Path, n: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


# =============================================================================== configuration

def model_dir(arg: str | None) -> str | None:
    if arg:
        return arg
    if os.environ.get("RISKENGINE_MODEL"):
        return os.environ["RISKENGINE_MODEL"]
    from riskengine.config import models_dir
    from riskengine.scoring.model import newest_model_dir
    found = newest_model_dir(models_dir())
    if found is not None:
        return str(found)
    fallback = Path("/tmp/toymodel/0.0.1")
    return str(fallback) if (fallback / "meta.json").exists() else None


def geoip_paths(kind: str) -> dict[str, str | None]:
    return benchlib.geoip_paths(kind, VAR / "geoip")


def server_env(db_url: str, model: str | None, geo: dict, metrics_dir: Path) -> dict:
    env = dict(os.environ)
    for k in [k for k in env if k.startswith("RISKENGINE_")]:
        del env[k]
    env.update({
        "RISKENGINE_DATABASE_URL": db_url,
        "RISKENGINE_HASH_KEY": BENCH_HASH_KEY,
        "RISKENGINE_HASH_KEY_FILE": str(VAR / "unused-hash.key"),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "PYTHONUNBUFFERED": "1",
    })
    if model:
        env["RISKENGINE_MODEL"] = model
    for k, var in (("city", "RISKENGINE_GEOIP_CITY"), ("asn", "RISKENGINE_GEOIP_ASN"),
                   ("anonymous", "RISKENGINE_GEOIP_ANONYMOUS")):
        if geo[k]:
            env[var] = geo[k]
    return env


# =============================================================================== the world

def utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def utc_ms(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Identities:
    """Makes people, devices, addresses and cards from riskengine.sim (the simulated world's
    countries, ISPs, mobile carriers, VPN exits...). Shared by the prefill and the bench bodies."""

    def __init__(self, rand):
        from riskengine.sim import geo as G
        from riskengine.sim import identity as I
        from riskengine.sim.rand import Weighted
        self.G, self.I, self.r = G, I, rand
        self.geo = G.get_geo()
        self.countries = Weighted([(cc, c.weight) for cc, c in G.COUNTRIES.items() if c.weight > 0])
        self.org_types = Weighted(list(ORG_TYPES))
        self.methods = Weighted(list(LOGIN_METHODS))
        self.sites = {}
        for s in self.geo.campuses + self.geo.offices:
            self.sites.setdefault(s.city.country, []).append(s)
        self.vpn_exits = [e for exits in self.geo.vpn_exits.values() for e in exits]
        self.hosting = self.geo.all_hosting()
        self.resi_proxies = [s for subs in self.geo.resi_proxies.values() for s in subs]

    def home_ip(self, cc: str, city) -> str:
        r = self.r
        blocks = self.geo.residential.get(cc) or self.geo.residential["US"]
        local = [b for b in blocks if b.city is city] or blocks
        b = r.choice(local)
        if b.v6 is not None and r.random() < 0.2:
            return b.v6.host(r)
        return b.host(r)

    def mobile_ip(self, cc: str) -> str | None:
        gws = self.geo.mobile.get(cc)
        return self.r.choice(gws).address(self.r) if gws else None

    def foreign_ip(self) -> str:
        cc = self.countries.pick(self.r)
        return self.home_ip(cc, None)

    def vpn_ip(self) -> str:
        return self.r.choice(self.vpn_exits).host(self.r)

    def shady_ip(self) -> str:
        r, x = self.r, self.r.random()
        if x < 0.4:
            return self.vpn_ip()
        if x < 0.7:
            return r.choice(self.hosting).host(r)
        if x < 0.9:
            return r.choice(self.resi_proxies).host(r)
        return r.choice(self.geo.tor_exits).address(r)

    def person(self, cc: str) -> dict:
        """A legitimate person: account fields, devices, usual addresses."""
        r, idt = self.r, self.I
        country = self.G.COUNTRIES[cc]
        city = country.resident_cities.pick(r)
        p = idt.person(r, cc)
        org_type = self.org_types.pick(r)
        local = idt.local_part(r, p)
        if org_type in ("enterprise", "startup", "research") and r.random() < 0.5:
            domain = idt.company_domain(r, cc)
        else:
            domain = idt.free_domain(r, cc)
        x = r.random()
        if domain in ("gmail.com", "googlemail.com") and x < 0.04:
            local = idt.gmail_dot_variant(r, local)
        elif x < 0.06:
            local = f"{local}+{r.choice(('shop', 'news', 'ai', 'work', 'dev'))}"
        phone = None
        if r.random() < 0.8:
            phone = idt.present_phone(r, idt.mobile_number(r, cc, city.area_codes))
        langs = country.locale_choice.pick(r)
        n_dev = 1 if r.random() < 0.6 else (2 if r.random() < 0.75 else 3)
        devices = []
        for _ in range(n_dev):
            x = r.random()
            kind = "phone" if x < 0.5 else ("desktop" if x < 0.95 else "tablet")
            devices.append(idt.browser_device(r, kind, cc, city.tz, langs).body())
        ips = [self.home_ip(cc, city)]
        if r.random() < 0.3:
            ips.append(self.home_ip(cc, city))            # dynamic address / second home
        if org_type in ("education", "enterprise", "research") and cc in self.sites and r.random() < 0.5:
            ips.append(r.choice(self.sites[cc]).network.address(r))   # campus / office NAT
        mobile = self.mobile_ip(cc) if any("Mobile" in (d.get("user_agent") or "") for d in devices) else None
        card = idt.card(r, cc) if r.random() < 0.3 else None
        return {"email": f"{local}@{domain}", "phone": phone, "name": idt.display_name(r, p), "country": cc,
                "org_type": org_type, "devices": devices, "ips": ips, "mobile": mobile, "card": card}

    def ring(self) -> dict:
        """A fraud ring: few devices, anonymous addresses, shared cards, throwaway mailboxes."""
        r, idt = self.r, self.I
        cc = self.countries.pick(r)
        devices = []
        for _ in range(r.integers(1, 4)):
            x = r.random()
            if x < 0.35:
                devices.append(idt.headless_device(r).body())
            elif x < 0.5:
                devices.append(idt.script_device(r).body())
            else:
                country = self.G.COUNTRIES[cc]
                devices.append(idt.browser_device(r, "desktop", cc, country.primary_tz,
                                                  country.locale_choice.pick(r)).body())
        return {"country": cc, "devices": devices, "ips": [self.shady_ip() for _ in range(r.integers(2, 7))],
                "cards": [idt.card(r, cc, funding="prepaid" if r.random() < 0.5 else None)
                          for _ in range(r.integers(1, 3))],
                "disposable": r.random() < 0.5, "own_domain": idt.fresh_throwaway_domain(r)}

    def ring_member(self, ring: dict) -> dict:
        r, idt = self.r, self.I
        cc = ring["country"]
        if ring["disposable"]:
            email = f"{idt.random_local(r)}@{r.choice(idt.DISPOSABLE_LISTED + (ring['own_domain'],))}"
        else:
            email = f"{idt.random_local(r)}@gmail.com"
        phone = idt.voip_number(r) if r.random() < 0.5 else (idt.mobile_number(r, cc) if r.random() < 0.5 else None)
        p = idt.person(r, cc)
        return {"email": email, "phone": phone, "name": idt.display_name(r, p), "country": cc,
                "org_type": "individual", "devices": ring["devices"], "ips": ring["ips"], "mobile": None,
                "card": r.choice(ring["cards"]) if r.random() < 0.6 else None}


class Linker:
    """What the engine derives from a request for storage: link keys (keyed hashes) and GeoIP
    fields, computed with riskengine's own functions and cached per distinct value."""

    def __init__(self, hasher, readers):
        from riskengine.signals.device import device_signals
        from riskengine.signals.email import email_signals
        from riskengine.signals.ip import ip_signals
        from riskengine.signals.payment import payment_signals
        from riskengine.signals.phone import phone_signals
        self.h, self.readers = hasher, readers
        self._email, self._phone, self._ip = email_signals, phone_signals, ip_signals
        self._device, self._payment = device_signals, payment_signals
        self.ips: dict[str, tuple] = {}
        self.devs: dict[tuple, dict] = {}
        self.dev_links: dict[str, dict] = {}

    def ip(self, ip: str) -> tuple:
        got = self.ips.get(ip)
        if got is None:
            s = self._ip(ip, self.readers)
            links = {"ip": self.h("ip", ip), "subnet": self.h("subnet", s.subnet)}
            if s.country:
                links["country"] = s.country
            got = self.ips[ip] = (links, s, _flat(s))
        return got

    def email(self, address: str):
        return self._email(address)

    def phone(self, raw: str | None, region: str | None):
        return self._phone(raw, region) if raw else None

    def device_links(self, d: dict) -> dict:
        key = d.get("id") or ""
        got = self.dev_links.get(key + "\0" + (d.get("components_hash") or ""))
        if got is None:
            got = {}
            if d.get("id"):
                got["device"] = self.h("device", d["id"])
            if d.get("components_hash"):
                got["components"] = self.h("components", d["components_hash"])
            self.dev_links[key + "\0" + (d.get("components_hash") or "")] = got
        return got

    def device_signals(self, d: dict, ip_country: str | None) -> dict:
        key = (d.get("id"), d.get("user_agent"), ip_country)
        got = self.devs.get(key)
        if got is None:
            got = self.devs[key] = _flat(self._device(d.get("user_agent"), d.get("webdriver"), d.get("timezone"),
                                                      d.get("languages"), ip_country))
        return got

    def payment(self, card: dict, ip_country: str | None):
        return self._payment(card["fingerprint"], card["bin"], card["funding"], card["country"],
                             card["billing_country"], ip_country)


def _flat(obj, drop: str | None = None) -> dict:
    """dataclasses.asdict for the flat signal dataclasses (as their as_dict), without deep copies."""
    return {f: getattr(obj, f) for f in obj.__dataclass_fields__ if f != drop}


def _velocity(rand, shared: int) -> dict:
    kinds = ("device", "components", "payment", "mailbox", "phone", "ip", "subnet")
    out = {k: {"1h": 0, "24h": 0, "7d": 0, "30d": 0} for k in kinds}
    out["subnet"] = {"1h": rand.integers(0, 3), "24h": rand.integers(0, 12), "7d": rand.integers(0, 40),
                     "30d": rand.integers(0, 90)}
    if shared:
        for k in ("device", "components", "ip"):
            out[k] = {"1h": 0, "24h": min(shared, 2), "7d": shared, "30d": shared}
    out.update({"signups_per_asn_1h": rand.integers(0, 20), "failed_logins_account_1h": 0,
                "failed_logins_account_24h": 0, "failed_logins_ip_1h": 0, "accounts_failed_from_ip_1h": 0,
                "new_device": False, "new_country": False, "travel_kmh": 0.0, "account_age_days": 0.0})
    return out


REASONS = [
    {"code": "device.shared", "message": "Device seen on {n} other accounts in 7 days", "weight": 0.18},
    {"code": "ip.hosting_provider", "message": "IP belongs to a hosting provider", "weight": 0.21},
    {"code": "email.disposable", "message": "Disposable email domain", "weight": 0.25},
    {"code": "ip.vpn", "message": "IP is a known VPN exit", "weight": 0.12},
    {"code": "login.failures", "message": "{n} failed logins for this account in 1 hour", "weight": 0.09},
    {"code": "payment.prepaid", "message": "Prepaid card", "weight": 0.07},
]


class Prefill:
    """Generates the prefilled history account by account and writes it in bulk."""

    def __init__(self, n_assessments: int, n_accounts: int, days: int, seed: int, anchor: float,
                 hasher, readers, model_version: str | None, policy_version: str):
        import numpy as np

        from riskengine.scoring.features import FEATURES
        from riskengine.sim.rand import Rand
        self.np = np
        self.N, self.A, self.days, self.anchor = n_assessments, n_accounts, days, anchor
        self.r = Rand(seed)
        self.g = np.random.default_rng(seed + 1)
        self.ids = Identities(self.r)
        self.link = Linker(hasher, readers)
        self.model_version, self.policy_version = model_version, policy_version
        self.n_features = len(FEATURES)
        self.rings: list[dict] = []
        self.sample: list[dict] = []
        self.js = lambda v: v         # json.dumps when the writer inserts JSON columns as text
        self.counts = {"assessments": 0, "accounts": 0, "entitylinks": 0, "signups": 0, "logins": 0,
                       "failed_logins": 0, "ring_accounts": 0, "household_accounts": 0}

    # -- plan: who signs up when, how many logins each ------------------------------------
    def plan(self):
        np, g, A = self.np, self.g, self.A
        span = self.days * 86400.0
        start = self.anchor - span
        signup = start + g.random(A) * (span - 3600.0)
        ring_of = np.full(A, -1, dtype=np.int64)
        # ~3% of accounts belong to fraud rings of 4-25 members who sign up within hours
        n_rings = 0
        target = int(A * 0.03)
        members = g.choice(A, size=target, replace=False) if target else np.empty(0, dtype=np.int64)
        g.shuffle(members)
        t0 = 0
        while t0 < len(members):
            size = int(g.integers(4, 26))
            idx = members[t0:t0 + size]
            ring_of[idx] = n_rings
            burst = start + g.random() * (span - 7 * 3600.0)
            signup[idx] = burst + g.random(len(idx)) * 6 * 3600.0
            n_rings += 1
            t0 += size
        activity = g.lognormal(0.0, 1.0, A)
        activity[ring_of >= 0] *= 0.3
        age = np.maximum(self.anchor - signup - 60.0, 1.0)
        w = activity * age
        n_logins = self.N - A
        logins = g.multinomial(n_logins, w / w.sum()) if n_logins > 0 else np.zeros(A, dtype=np.int64)
        # bench logins pick accounts from a sample drawn by login activity
        k = min(A, 50_000)
        p = (logins + 0.5) / (logins + 0.5).sum()
        sample = set(g.choice(A, size=k, replace=False, p=p).tolist())
        self.plan_ = (signup, ring_of, logins, sample, n_rings)

    # -- rows ------------------------------------------------------------------------------
    def chunks(self, accounts_per_chunk: int = 2000):
        """Yields (account_rows, assessment_rows, entitylink_rows) per chunk of accounts."""
        signup, ring_of, logins, sample, n_rings = self.plan_
        rings: dict[int, dict] = {}
        last_by_country: dict[str, dict] = {}
        acc_rows, asm_rows, link_rows = [], [], []
        for i in range(self.A):
            ring = None
            rid = int(ring_of[i])
            if rid >= 0:
                ring = rings.get(rid)
                if ring is None:
                    ring = rings[rid] = self.ids.ring()
                    self.rings.append(ring)
                prof = self.ids.ring_member(ring)
                self.counts["ring_accounts"] += 1
            else:
                cc = self.ids.countries.pick(self.r)
                prof = self.ids.person(cc)
                other = last_by_country.get(cc)
                if other is not None and self.r.random() < 0.04:
                    # a household: the same family computer and home address
                    prof["devices"] = prof["devices"] + [other["devices"][0]]
                    prof["ips"] = prof["ips"] + [other["ips"][0]]
                    self.counts["household_accounts"] += 1
                last_by_country[cc] = prof
            prof["id"] = "acct_" + self.r.b32(14)
            prof["weight"] = float(logins[i])
            self._account(prof, float(signup[i]), int(logins[i]), ring, acc_rows, asm_rows, link_rows)
            if i in sample:
                self.sample.append({k: prof[k] for k in ("id", "email", "phone", "country", "org_type",
                                                         "devices", "ips", "mobile")})
            if len(acc_rows) >= accounts_per_chunk:
                yield acc_rows, asm_rows, link_rows
                acc_rows, asm_rows, link_rows = [], [], []
        if acc_rows:
            yield acc_rows, asm_rows, link_rows

    def _account(self, prof, t_signup, n_logins, ring, acc_rows, asm_rows, link_rows):
        from riskengine.ids import assessment_id
        r, L = self.r, self.link
        em = L.email(prof["email"])
        ph = L.phone(prof["phone"], prof["country"])
        base_links = {}
        if em and em.mailbox:
            base_links["mailbox"] = L.h("mailbox", em.mailbox)
        if ph and ph.e164:
            base_links["phone"] = L.h("phone", ph.e164)
        em_d = _flat(em, drop="mailbox") if em else None
        ph_d = ph.as_dict() if ph else None
        times = [t_signup]
        if n_logins:
            lo = t_signup + 60.0
            times += sorted(lo + r.random() * max(self.anchor - lo, 1.0) for _ in range(n_logins))
        agg: dict[tuple, list] = {}
        features = [None if r.random() < 0.2 else round(r.random() * 3, 4) for _ in range(self.n_features)]
        last = None
        devices = prof["devices"]
        for k, t in enumerate(times):
            signup = k == 0
            if signup or ring is not None:
                dev = devices[0] if signup and ring is None else r.choice(devices)
                ip = prof["ips"][0] if ring is None else r.choice(prof["ips"])
            else:
                dev = devices[0] if r.random() < 0.6 else r.choice(devices)
                x = r.random()
                if x < 0.8:
                    ip = r.choice(prof["ips"])
                elif x < 0.9 and prof["mobile"]:
                    ip = prof["mobile"]
                elif x < 0.95:
                    ip = self.ids.home_ip(prof["country"], None)
                elif x < 0.98:
                    ip = self.ids.vpn_ip()
                else:
                    ip = self.ids.foreign_ip()
            ip_links, ips, ip_d = L.ip(ip)
            links = dict(base_links)
            links.update(L.device_links(dev))
            links.update(ip_links)
            card = prof["card"] if signup else None
            pay_d = None
            if card is not None:
                pay = L.payment(card, ips.country)
                pay_d = pay.as_dict()
                links["payment"] = L.h("payment", card["fingerprint"])
            outcome = None
            if not signup:
                outcome = "failure" if r.random() < (0.15 if ring is not None else 0.05) else "success"
                self.counts["failed_logins"] += outcome == "failure"
            score = round(0.3 + 0.7 * r.random(), 6) if ring is not None else round(r.random() ** 4 * 0.5, 6)
            decision = "block" if score >= 0.9 else ("challenge" if score >= 0.5 else "allow")
            reasons = []
            if score >= 0.3:
                reasons = [dict(x, message=x["message"].replace("{n}", str(r.integers(2, 15))))
                           for x in r.sample(REASONS, r.integers(1, 4))]
            asm = assessment_id(t + 0.05 + r.random() * 0.2)
            event = "signup" if signup else "login"
            eid = "evt_" + r.hex(20)
            response = {
                "assessment_id": asm, "event": event, "account_id": prof["id"], "decision": decision,
                "score": score, "reasons": reasons,
                "signals": {"email": em_d, "phone": ph_d, "ip": ip_d,
                            "device": L.device_signals(dev, ips.country), "payment": pay_d,
                            "velocity": _velocity(r, 5 if ring is not None else 0),
                            "links": {"linked_accounts": 0 if ring is None else r.integers(3, 25),
                                      "cluster_size": None}},
                "model_version": self.model_version, "policy_version": self.policy_version,
                "decided_by": "model", "monitored_decision": None, "degraded": False,
            }
            if decision == "challenge":
                response["challenge"] = ["email_verification"]
            san_dev = {k2: v for k2, v in dev.items() if k2 not in ("id", "components_hash") and v is not None}
            inputs = {"event": event, "event_id": eid, "occurred_at": utc(t),
                      "account": {"id": prof["id"], "country": prof["country"]}, "ip": ip, "device": san_dev}
            if signup:
                inputs["account"]["org_type"] = prof["org_type"]
            if card is not None:
                inputs["payment"] = {k2: v for k2, v in card.items() if k2 != "fingerprint"}
            if outcome is not None:
                inputs["login"] = {"outcome": outcome, "method": self.ids.methods.pick(r)}
            inputs["links"] = links
            feats = list(features)
            feats[0] = 0.0 if signup else 1.0
            feats[1] = None if signup else float(outcome == "failure")
            asm_rows.append({
                "id": asm, "event_id": eid, "request_hash": hashlib.sha256(eid.encode()).hexdigest(),
                "account_id": prof["id"], "event": event, "occurred_ts": t,
                "created_ts": t + 0.05 + r.random() * 0.2, "ip": ip, "ip_country": ips.country,
                "ip_asn": ips.asn, "email_domain": em.domain if em else None,
                "latitude": ips.latitude, "longitude": ips.longitude, "login_outcome": outcome,
                "decision": decision, "monitored_decision": None, "score": score,
                "decided_by": "model", "model_version": self.model_version,
                "policy_version": self.policy_version, "degraded": False, "features": self.js(feats),
                "inputs": self.js(inputs), "response": self.js(response),
            })
            for kind, value in links.items():
                a = agg.get((kind, value))
                if a is None:
                    agg[(kind, value)] = [t, t, 1]
                else:
                    a[1] = t
                    a[2] += 1
            last = (asm, decision, score, t)
        self.counts["assessments"] += len(times)
        self.counts["signups"] += 1
        self.counts["logins"] += len(times) - 1
        acc_rows.append({
            "id": prof["id"], "created_ts": t_signup, "updated_ts": last[3], "email": prof["email"],
            "email_domain": em.domain if em else None, "name": prof["name"], "country": prof["country"],
            "org_type": prof["org_type"], "last_assessment_id": last[0], "last_decision": last[1],
            "last_score": last[2], "cluster_id": None, "cluster_size": None,
        })
        for (kind, value), (first, lastseen, n) in agg.items():
            link_rows.append({"kind": kind, "value": value, "account_id": prof["id"], "first_seen": first,
                              "last_seen": lastseen, "events": n})
        self.counts["accounts"] += 1
        self.counts["entitylinks"] += len(agg)


def prefill_key(args, geo_kind: str) -> str:
    # Not the schema revision: a cached prefill is migrated forward like any existing database.
    ident = json.dumps({"v": PREFILL_VERSION, "n": args.assessments, "a": args.accounts, "days": args.days,
                        "seed": args.seed, "geo": geo_kind, "key": BENCH_HASH_KEY}, sort_keys=True)
    return hashlib.sha256(ident.encode()).hexdigest()[:10]


def _generate(q, args, geo: dict, model_version: str | None, policy_version: str, anchor: float,
              json_text: bool) -> None:
    """Child process: generates the history chunk by chunk into `q` (bounded), then a summary."""
    import traceback
    try:
        from riskengine.hashing import Hasher
        from riskengine.signals.ip import GeoIPReaders
        readers = GeoIPReaders.open(geo["city"], geo["asn"], geo["anonymous"])
        pf = Prefill(args.assessments, args.accounts, args.days, args.seed, anchor,
                     Hasher(BENCH_HASH_KEY.encode()), readers, model_version, policy_version)
        if json_text:
            pf.js = json.dumps        # what SQLAlchemy's JSON type stores (json.dumps, defaults)
        pf.plan()
        for chunk in pf.chunks():
            q.put(("chunk", chunk, dict(pf.counts)))
        readers.close()
        q.put(("done", {"counts": pf.counts, "rings": len(pf.rings),
                        "sidecar": {"profiles": pf.sample, "rings": pf.rings}}, None))
    except BaseException:
        q.put(("error", traceback.format_exc(), None))


def _json_as_text(table):
    """The same table with its JSON columns typed TEXT (values pre-serialized by json.dumps)."""
    from sqlalchemy import JSON, Column, MetaData, Table, Text
    return Table(table.name, MetaData(), *[Column(c.name, Text if isinstance(c.type, JSON) else c.type)
                                           for c in table.columns])


def write_prefill(eng, args, geo: dict, model: str | None) -> dict:
    """Generate and bulk-insert the history into `eng` (schema already migrated, tables empty).
    Generation runs in a child process so it overlaps with the inserts (two cores)."""
    import multiprocessing as mp

    from sqlalchemy import insert

    from riskengine import storage
    from riskengine.scoring.policy import Policy
    model_version = json.loads((Path(model) / "meta.json").read_text())["version"] if model else None
    anchor = math.floor(time.time() / 3600) * 3600 - 86400.0     # a day back: bench events stay in the past
    ctx = mp.get_context("fork")
    q = ctx.Queue(maxsize=4)
    # SQLite: the child serializes the JSON columns and the rows go in through a copy of the
    # assessment table whose JSON columns are TEXT, so that work overlaps with the inserts too.
    json_text = eng.dialect.name == "sqlite"
    asm_table = _json_as_text(storage.assessments.A) if json_text else storage.assessments.A
    child = ctx.Process(target=_generate, args=(q, args, geo, model_version, Policy.load(None).version, anchor,
                                                json_text), daemon=True)
    started = time.monotonic()
    child.start()
    ins = 0.0
    last_log = time.monotonic()
    summary = None
    try:
        while summary is None:
            try:
                kind, payload, counts = q.get(timeout=600)
            except queue.Empty:
                raise RuntimeError("prefill generator stalled for 10 minutes") from None
            if kind == "error":
                raise RuntimeError(f"prefill generator failed:\n{payload}")
            if kind == "done":
                summary = payload
                break
            acc, asm, links = payload
            t = time.monotonic()
            with eng.begin() as conn:
                conn.execute(insert(storage.assessments.ACC), acc)
                conn.execute(insert(asm_table), asm)
                conn.execute(insert(storage.links.L), links)
            ins += time.monotonic() - t
            if time.monotonic() - last_log > 15:
                last_log = time.monotonic()
                log(f"prefill: {counts['assessments']:,}/{args.assessments:,} assessments, "
                    f"{counts['accounts']:,} accounts ({time.monotonic() - started:.0f} s, inserting {ins:.0f} s)")
    finally:
        if child.is_alive():
            child.join(timeout=10)
        if child.is_alive():
            child.kill()
            child.join(timeout=5)
    if eng.dialect.name == "postgresql":
        from sqlalchemy import text
        with eng.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))          # what autovacuum would have done by now
    summary.update({"anchor": anchor, "seconds": {"total": round(time.monotonic() - started, 1),
                                                  "insert": round(ins, 1)}})
    return summary


def sqlite_bulk_engine(path: Path):
    from sqlalchemy import create_engine, event
    eng = create_engine(f"sqlite:///{path}")

    @event.listens_for(eng, "connect")
    def _pragmas(dbapi_conn, _record):
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=OFF")     # a failed build is thrown away anyway
        cur.execute("PRAGMA synchronous=OFF")
        cur.execute("PRAGMA cache_size=-1000000")  # 1 GB page cache for the index inserts
        cur.execute("PRAGMA temp_store=MEMORY")
        cur.close()

    return eng


def prepare_database(args, geo: dict, model: str | None) -> tuple[str, dict, dict]:
    """(database url for the server, meta, sidecar). SQLite: a fresh copy of the cached prefill."""
    from riskengine import storage
    from riskengine.storage import migrate
    VAR.mkdir(parents=True, exist_ok=True)
    key = prefill_key(args, args.geoip)
    if args.database_url:
        return prepare_external(args, geo, model, key)
    stem = VAR / f"prefill-{args.assessments}-{key}"
    db, meta_p, side_p = stem.with_suffix(".db"), stem.with_suffix(".json"), stem.with_suffix(".sidecar.pickle")
    if args.rebuild:
        for p in (db, meta_p, side_p):
            p.unlink(missing_ok=True)
    if not (db.exists() and meta_p.exists() and side_p.exists()):
        log(f"prefill: building {db.name} ({args.assessments:,} assessments, {args.accounts:,} accounts, "
            f"{args.days} days); cached for later runs")
        partial = db.with_suffix(".db.partial")
        partial.unlink(missing_ok=True)
        eng = sqlite_bulk_engine(partial)
        migrate.upgrade(eng)
        out = write_prefill(eng, args, geo, model)
        from sqlalchemy import text
        with eng.connect() as conn:
            conn.execute(text("PRAGMA journal_mode=WAL"))   # as make_engine leaves a database
        eng.dispose()
        side_p.write_bytes(pickle.dumps(out.pop("sidecar"), protocol=pickle.HIGHEST_PROTOCOL))
        out["params"] = {"assessments": args.assessments, "accounts": args.accounts, "days": args.days,
                         "seed": args.seed, "geoip": args.geoip, "version": PREFILL_VERSION}
        out["bytes"] = partial.stat().st_size
        os.replace(partial, db)
        meta_p.write_text(json.dumps(out, indent=1))
        log(f"prefill: done in {out['seconds']['total']:.0f} s, {out['bytes'] / 1e9:.2f} GB: {out['counts']}")
    else:
        log(f"prefill: reusing cached {db.name}")
    # Bring the cache to the current schema revision (as `riskengine db upgrade` would an
    # existing database): new migrations do not invalidate it.
    eng = storage.make_engine(f"sqlite:///{db}", 60_000)
    if migrate.current(eng) != migrate.head():
        t = time.monotonic()
        migrate.upgrade(eng)
        log(f"prefill: migrated the cache to {migrate.head()} ({time.monotonic() - t:.1f} s)")
    eng.dispose()
    meta = json.loads(meta_p.read_text())
    if args.prefill_only:
        return f"sqlite:///{db}", meta, {}
    work = VAR / "work.db"
    if args.keep_work_db and work.exists():
        log(f"--keep-work-db: using {work} as the previous run left it (experiments only)")
        return f"sqlite:///{work}", meta, pickle.loads(side_p.read_bytes())
    for suffix in ("", "-wal", "-shm"):
        Path(str(work) + suffix).unlink(missing_ok=True)
    t = time.monotonic()
    shutil.copyfile(db, work)
    log(f"working copy {work} ({time.monotonic() - t:.1f} s)")
    url = f"sqlite:///{work}"
    eng = storage.make_engine(url, 60_000)
    migrate.upgrade(eng)            # no-op unless a migration landed since the lines above
    eng.dispose()
    if args.work_db_sql:
        import sqlite3
        t = time.monotonic()
        con = sqlite3.connect(work)
        con.executescript(args.work_db_sql)
        con.commit()
        con.close()
        log(f"--work-db-sql run on the working copy ({time.monotonic() - t:.1f} s): {args.work_db_sql}")
    return url, meta, pickle.loads(side_p.read_bytes())


def prepare_external(args, geo, model, key) -> tuple[str, dict, dict]:
    """PostgreSQL (or any --database-url): prefilled in place once; later runs reuse it and add
    their own writes (use --rebuild to empty the riskengine tables and prefill again)."""
    from sqlalchemy import func, select, text

    from riskengine import storage
    from riskengine.storage import migrate
    url = args.database_url
    ukey = hashlib.sha256(f"{url}|{key}".encode()).hexdigest()[:10]
    meta_p, side_p = VAR / f"external-{ukey}.json", VAR / f"external-{ukey}.sidecar.pickle"
    eng = storage.make_engine(url, 600_000)
    migrate.upgrade(eng)
    with eng.connect() as conn:
        have = conn.execute(select(func.count()).select_from(storage.assessments.A)).scalar_one()
    if args.rebuild or not (meta_p.exists() and side_p.exists()) or have < args.assessments:
        if have and not args.rebuild:
            raise SystemExit(f"{url} already holds {have:,} assessments that this script did not write "
                             "(or fewer than --assessments): pass --rebuild to empty its riskengine tables")
        with eng.begin() as conn:
            for t in ("challengeoutcome", "label", "entitylink", "assessment", "account"):
                conn.execute(text(f"DELETE FROM {t}"))
        log(f"prefill: writing {args.assessments:,} assessments into {eng.url.render_as_string(hide_password=True)}")
        out = write_prefill(eng, args, geo, model)
        side_p.write_bytes(pickle.dumps(out.pop("sidecar"), protocol=pickle.HIGHEST_PROTOCOL))
        meta_p.write_text(json.dumps(out, indent=1))
        log(f"prefill: done in {out['seconds']['total']:.0f} s: {out['counts']}")
    else:
        log(f"prefill: reusing {have:,} assessments already in the database")
    eng.dispose()
    return url, json.loads(meta_p.read_text()), pickle.loads(side_p.read_bytes())


# =============================================================================== request bodies

class Bodies:
    """The bench's traffic: 30% signups (a few joining known fraud rings), 70% logins of
    prefilled accounts (7% failures; mostly known devices and addresses)."""

    def __init__(self, sidecar: dict, anchor: float, seed: int, run_tag: str, signup_share: float = 0.3):
        from riskengine.sim.rand import Rand
        self.r = Rand(seed)
        self.ids = Identities(self.r)
        self.profiles, self.rings = sidecar["profiles"], sidecar["rings"]
        self.anchor, self.tag, self.signup_share = anchor, run_tag, signup_share
        self.n = 0

    def next(self) -> dict:
        r = self.r
        self.n += 1
        t = self.anchor + 60.0 + self.n / ASSUMED_RATE
        if r.random() < self.signup_share or not self.profiles:
            return self._signup(t)
        return self._login(t)

    def _signup(self, t: float) -> dict:
        r = self.r
        if self.rings and r.random() < 0.04:
            prof = self.ids.ring_member(r.choice(self.rings))
            dev, ip = r.choice(prof["devices"]), r.choice(prof["ips"])
        else:
            prof = self.ids.person(self.ids.countries.pick(r))
            dev = prof["devices"][0]
            x = r.random()
            ip = prof["ips"][0] if x < 0.85 else (prof["mobile"] or prof["ips"][0]) if x < 0.95 else self.ids.shady_ip()
        body = {"event": "signup", "event_id": f"evt_{self.tag}_{self.n}", "occurred_at": utc_ms(t),
                "account": {"id": f"acct_{self.tag}_{self.n}", "email": prof["email"], "phone": prof["phone"],
                            "name": prof["name"], "country": prof["country"], "org_type": prof["org_type"]},
                "ip": ip, "device": dev}
        if prof["card"] is not None:
            body["payment"] = prof["card"]
        return body

    def _login(self, t: float) -> dict:
        r = self.r
        p = r.choice(self.profiles)
        dev = p["devices"][0] if r.random() < 0.6 else r.choice(p["devices"])
        if r.random() < 0.03:
            dev = dict(dev, id="dv_" + r.hex(16))        # cleared storage / new install
        x = r.random()
        if x < 0.8:
            ip = r.choice(p["ips"])
        elif x < 0.9 and p["mobile"]:
            ip = p["mobile"]
        elif x < 0.96:
            ip = self.ids.home_ip(p["country"], None)
        elif x < 0.98:
            ip = self.ids.vpn_ip()
        else:
            ip = self.ids.foreign_ip()
        return {"event": "login", "event_id": f"evt_{self.tag}_{self.n}", "occurred_at": utc_ms(t),
                "account": {"id": p["id"], "email": p["email"], "phone": p["phone"], "country": p["country"]},
                "ip": ip, "device": dev,
                "login": {"outcome": "failure" if r.random() < 0.07 else "success",
                          "method": self.ids.methods.pick(r)}}

    def write(self, path: Path, n: int) -> Path:
        with open(path, "w") as f:
            for _ in range(n):
                f.write(json.dumps(self.next()))
                f.write("\n")
        return path


# =============================================================================== load generators

def pct(sorted_vals: list[float], q: float) -> float | None:
    if not sorted_vals:
        return None
    k = min(len(sorted_vals) - 1, max(0, math.ceil(q / 100.0 * len(sorted_vals)) - 1))
    return sorted_vals[k]


def run_wrk(port: int, bodies: Path, auth: str | None, duration: float, connections: int, threads: int,
            log_path: Path) -> dict:
    env = dict(os.environ, BENCH_BODIES=str(bodies), BENCH_AUTH=auth or "", BENCH_PATH="/v1/assess",
               BENCH_THREADS=str(threads))
    argv = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration:g}s", "--timeout", "5s",
            "-s", str(ROOT / "scripts" / "bench_wrk.lua"), f"http://{HOST}:{port}/v1/assess"]
    p = PROCS.start(argv, env, log_path)
    try:
        p.wait(timeout=duration + 60)
    except subprocess.TimeoutExpired as e:
        PROCS.stop(p, grace=1)
        raise RuntimeError(f"wrk did not finish; log {log_path}") from e
    PROCS.stop(p, grace=1)
    text = log_path.read_text(errors="replace")
    lines = [ln for ln in text.splitlines() if ln.startswith("BENCH_RESULT ")]
    if p.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({p.returncode}); log {log_path}:\n{tail(log_path)}")
    raw = json.loads(lines[-1][len("BENCH_RESULT "):])
    secs = raw["duration_us"] / 1e6
    lat = raw["latency_us"]
    e = raw["errors"]
    return {"client": f"wrk -t{threads} -c{connections}", "requests": raw["requests"], "seconds": round(secs, 2),
            "rps": round(raw["requests"] / secs, 1),
            "p50_ms": lat["p50"] / 1000, "p90_ms": lat["p90"] / 1000, "p99_ms": lat["p99"] / 1000,
            "p999_ms": lat["p999"] / 1000, "max_ms": lat["max"] / 1000, "mean_ms": round(lat["mean"] / 1000, 3),
            "errors": e["connect"] + e["read"] + e["write"] + e["timeout"], "non_2xx": e["status"],
            "error_detail": e}


def closed_replicas(replicas, secret: str, bodies: Path, args) -> dict:
    """Closed loop against N replicas at once, as a load balancer spreading connections evenly
    would: one wrk per replica with its share of --connections, all started together. Each wrk
    replays its own slice of the bodies, so no event_id is sent twice. Throughput is the sum;
    latency percentiles are the worst replica's."""
    lines = bodies.read_text().splitlines()
    n = len(replicas)
    out: list[dict | None] = [None] * n

    def one(k: int) -> None:
        part = bodies.with_name(f"{bodies.stem}-replica{k}.jsonl")
        part.write_text("\n".join(lines[k::n]) + "\n")
        out[k] = run_wrk(replicas[k][1], part, secret, args.duration, max(1, args.connections // n),
                         args.wrk_threads, replicas[k][2].with_name(f"wrk-replica{k}-{replicas[k][2].stem}.log"))

    threads = [threading.Thread(target=one, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done = [r for r in out if r is not None]
    if len(done) != n:
        raise RuntimeError("a replica's wrk failed")
    merged = {"client": f"{n} x {done[0]['client']}", "requests": sum(r["requests"] for r in done),
              "seconds": max(r["seconds"] for r in done), "per_replica": done,
              "errors": sum(r["errors"] for r in done), "non_2xx": sum(r["non_2xx"] for r in done)}
    merged["rps"] = round(sum(r["rps"] for r in done), 1)
    for q in ("p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms", "mean_ms"):
        merged[q] = max(r[q] for r in done)
    return merged


class _Conn:
    def __init__(self, port: int, timeout: float):
        self.port, self.timeout, self.c = port, timeout, None

    def post(self, path: str, body: bytes, headers: dict) -> tuple[int, bytes]:
        for attempt in (0, 1):
            if self.c is None:
                self.c = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
            try:
                self.c.request("POST", path, body=body, headers=headers)
                r = self.c.getresponse()
                data = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.close()
                return r.status, data
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as e:
                self.close()       # the server closed an idle keep-alive connection: retry once
                if attempt:
                    raise e
        raise AssertionError("unreachable")

    def close(self):
        if self.c is not None:
            self.c.close()
            self.c = None


def _headers(auth: str | None) -> dict:
    h = {"Content-Type": "application/json"}
    if auth:
        h["Authorization"] = f"Bearer {auth}"
    return h


def _summarise(lat: list[float], statuses: dict, errors: int, seconds: float, degraded: int | None = None) -> dict:
    lat.sort()
    ok = sum(v for k, v in statuses.items() if 200 <= int(k) < 300)
    out = {"requests": len(lat) + errors, "seconds": round(seconds, 2), "rps": round(len(lat) / seconds, 1),
           "p50_ms": _ms(pct(lat, 50)), "p90_ms": _ms(pct(lat, 90)), "p99_ms": _ms(pct(lat, 99)),
           "p999_ms": _ms(pct(lat, 99.9)), "max_ms": _ms(lat[-1] if lat else None),
           "mean_ms": _ms(sum(lat) / len(lat) if lat else None),
           "errors": errors, "non_2xx": len(lat) - ok, "statuses": statuses}
    if degraded is not None:
        out["degraded"] = degraded
    return out


def _ms(v):
    return None if v is None else round(v * 1000, 3)


def closed_loop_python(port: int, bodies: list[bytes], auth: str | None, duration: float, connections: int) -> dict:
    """Fallback when wrk is missing: `connections` threads, each sends its next request as soon
    as the previous answer is read. (Costs the server CPU: prefer wrk.)"""
    headers = _headers(auth)
    lat: list[float] = []
    statuses: dict[str, int] = {}
    errors = [0]
    lock = threading.Lock()
    counter = iter(range(10 ** 9))
    deadline = time.perf_counter() + duration

    def worker():
        c = _Conn(port, 10.0)
        mine, st, err = [], {}, 0
        while time.perf_counter() < deadline:
            i = next(counter)
            t = time.perf_counter()
            try:
                status, _ = c.post("/v1/assess", bodies[i % len(bodies)], headers)
                mine.append(time.perf_counter() - t)
                st[str(status)] = st.get(str(status), 0) + 1
            except OSError:
                err += 1
                c.close()
        c.close()
        with lock:
            lat.extend(mine)
            errors[0] += err
            for k, v in st.items():
                statuses[k] = statuses.get(k, 0) + v

    start = time.perf_counter()
    ts = [threading.Thread(target=worker, daemon=True) for _ in range(connections)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=duration + 30)
    out = _summarise(lat, statuses, errors[0], time.perf_counter() - start)
    out["client"] = f"python closed loop, {connections} connections"
    return out


def open_loop(port: int, bodies: list[bytes], auth: str | None, rate: float, duration: float,
              connections: int, timeout: float = 10.0) -> dict:
    """Fixed-rate (open-loop) load: request i is due at start + i/rate whatever happened before;
    latency = answer time - due time (no coordinated omission). A dispatcher releases due
    requests to `connections` keep-alive connections; when all are busy the request waits,
    and that wait counts."""
    n = min(int(rate * duration), len(bodies))
    headers = _headers(auth)
    q: queue.Queue = queue.Queue()
    results: list = [None] * n
    start = time.perf_counter() + 0.2
    stop = threading.Event()

    def dispatcher():
        for i in range(n):
            due = start + i / rate
            while True:
                wait = due - time.perf_counter()
                if wait <= 0 or stop.is_set():
                    break
                time.sleep(min(wait, 0.05))
            if stop.is_set():
                break
            q.put(i)
        for _ in range(connections):
            q.put(None)

    def worker():
        c = _Conn(port, timeout)
        while True:
            i = q.get()
            if i is None or stop.is_set():
                break
            due = start + i / rate
            sent = time.perf_counter()
            try:
                status, data = c.post("/v1/assess", bodies[i], headers)
                done = time.perf_counter()
                degraded = b'"degraded":true' in data or b'"degraded": true' in data
                results[i] = (done - due, sent - due, status, degraded)
            except OSError as e:
                results[i] = (None, sent - due, repr(e), False)
                c.close()
        c.close()

    threads = [threading.Thread(target=dispatcher, daemon=True)]
    threads += [threading.Thread(target=worker, daemon=True) for _ in range(connections)]
    for t in threads:
        t.start()
    hard = time.monotonic() + duration + timeout + 30
    for t in threads:
        t.join(timeout=max(0.1, hard - time.monotonic()))
    stop.set()
    elapsed = time.perf_counter() - start
    lat, statuses, errors, degraded, late = [], {}, 0, 0, []
    for res in results:
        if res is None:
            errors += 1
            continue
        latency, waited, status, deg = res
        late.append(waited)
        if latency is None:
            errors += 1
            continue
        lat.append(latency)
        statuses[str(status)] = statuses.get(str(status), 0) + 1
        degraded += deg
    out = _summarise(lat, statuses, errors, elapsed, degraded)
    late.sort()
    out.update({"client": f"python open loop, {connections} connections", "target_rps": rate,
                "scheduled": n, "send_delay_p99_ms": _ms(pct(late, 99)),
                "send_delay_max_ms": _ms(late[-1] if late else None)})
    return out


# =============================================================================== metrics

def scrape(port: int) -> dict:
    """Server-side counts from /metrics: requests by status and decisions by degraded."""
    out = {"status": {}, "degraded": {"true": 0.0, "false": 0.0}}
    try:
        status, body = http_get(port, "/metrics", timeout=10)
    except OSError:
        return out
    if status != 200:
        return out
    for line in body.decode(errors="replace").splitlines():
        if line.startswith("riskengine_http_requests_total{") and 'route="/v1/assess"' in line:
            code = line.split('status="', 1)[1].split('"', 1)[0]
            out["status"][code] = out["status"].get(code, 0.0) + float(line.rsplit(" ", 1)[1])
        elif line.startswith("riskengine_decisions_total{"):
            d = line.split('degraded="', 1)[1].split('"', 1)[0]
            out["degraded"][d] = out["degraded"].get(d, 0.0) + float(line.rsplit(" ", 1)[1])
    return out


def diff(after: dict, before: dict) -> dict:
    return {"status": {k: int(v - before["status"].get(k, 0)) for k, v in after["status"].items()
                       if v - before["status"].get(k, 0)},
            "degraded": int(after["degraded"].get("true", 0) - before["degraded"].get("true", 0))}


# =============================================================================== main

def parse_args(argv):
    global VAR
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--assessments", type=int, default=1_000_000, help="prefilled assessments")
    ap.add_argument("--accounts", type=int, default=None, help="prefilled accounts (default: 30%% of assessments)")
    ap.add_argument("--days", type=int, default=30, help="days the prefilled history spans")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--duration", type=float, default=20.0, help="seconds per measured phase")
    ap.add_argument("--warmup", type=float, default=3.0, help="seconds of unmeasured load before each server's phases")
    ap.add_argument("--connections", type=int, default=16, help="concurrent clients (connections)")
    ap.add_argument("--rate", type=float, default=200.0, help="requests/s of the fixed-rate phase")
    ap.add_argument("--workers", type=int, default=None,
                    help="gunicorn workers (default: CPU count, as `riskengine serve`)")
    ap.add_argument("--threads", type=int, default=4, help="threads per worker (as `riskengine serve`)")
    ap.add_argument("--database-url", default=None,
                    help="e.g. postgresql://user@127.0.0.1:5432/bench: prefilled in place, reused by later runs "
                         "(default: a cached SQLite file under var/bench/, copied fresh for each run)")
    ap.add_argument("--rebuild", action="store_true", help="ignore the cached prefill and build it again")
    ap.add_argument("--geoip", choices=("sim", "maxmind-test", "none"), default="sim",
                    help="GeoIP files: the simulated world's (matches the generated addresses), "
                         "MaxMind's test files, none")
    ap.add_argument("--model", default=None,
                    help="model dir (default: $RISKENGINE_MODEL, else newest in riskengine/models/)")
    ap.add_argument("--client", choices=("wrk", "python"), default="wrk" if shutil.which("wrk") else "python",
                    help="closed-loop client")
    ap.add_argument("--wrk-threads", type=int, default=1)
    ap.add_argument("--replicas", type=int, default=1,
                    help="engine phase: N `riskengine serve` processes on one database (PostgreSQL), the closed "
                         "loop spread over them as a load balancer would; the fixed-rate phase uses the first")
    ap.add_argument("--phases", default="floor,engine,fixed", help="comma-separated subset of floor,engine,fixed")
    ap.add_argument("--keep-work-db", action="store_true",
                    help="reuse var/bench/work.db as the previous run left it instead of a fresh copy "
                         "(for experiments, e.g. after adding an index by hand)")
    ap.add_argument("--work-db-sql", default=None, metavar="SQL",
                    help="SQLite script run on the working copy before the servers start, for what-if runs "
                         "(e.g. 'PRAGMA analysis_limit=1000; ANALYZE;' or a CREATE INDEX); recorded in the results")
    ap.add_argument("--prefill-only", action="store_true", help="build (or check) the cached prefill and stop")
    ap.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                    help="extra environment for both servers, for what-if runs (e.g. OMP_NUM_THREADS=1); "
                         "recorded in the results")
    ap.add_argument("--out", default=None, help="where the JSON results go (default: CACHE_DIR/bench_assess.json)")
    ap.add_argument("--cache-dir", default=str(VAR), metavar="DIR",
                   help="where the cached prefill, working copy, logs and results live (default: var/bench); "
                        "point it at a fast disk with room for the prefill (about 5 GB at full size)")
    args = ap.parse_args(argv)
    VAR = Path(args.cache_dir).resolve()
    args.out = args.out or str(VAR / "bench_assess.json")
    if args.accounts is None:
        args.accounts = max(1, round(args.assessments * 0.3))
    if not 0 < args.accounts <= args.assessments:
        ap.error("--accounts must be between 1 and --assessments")
    if args.duration <= 0 or args.duration > 3600 or args.rate <= 0 or args.connections < 1:
        ap.error("--duration must be in (0, 3600], --rate > 0, --connections >= 1")
    args.workers = args.workers or os.cpu_count() or 2
    args.phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    if args.work_db_sql and args.database_url:
        ap.error("--work-db-sql applies to the SQLite working copy only")
    if any("=" not in kv for kv in args.server_env):
        ap.error("--server-env takes NAME=VALUE")
    if args.replicas < 1 or (args.replicas > 1 and args.client != "wrk"):
        ap.error("--replicas takes N >= 1, and more than one needs wrk")
    if set(args.phases) - {"floor", "engine", "fixed"}:
        ap.error("--phases: floor, engine, fixed")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    atexit.register(PROCS.stop_all)
    sys.path.insert(0, str(ROOT))
    command = " ".join(shlex.quote(a) for a in [os.path.relpath(sys.executable, ROOT), "scripts/bench_assess.py",
                                                   *(sys.argv[1:] if argv is None else argv)])
    VAR.mkdir(parents=True, exist_ok=True)
    logs = VAR / "logs"
    logs.mkdir(exist_ok=True)
    run_tag = format(int(time.time()), "x")
    load_before = os.getloadavg()

    model = model_dir(args.model)
    if model is None:
        raise SystemExit("no model: set --model or RISKENGINE_MODEL (e.g. /tmp/toymodel/0.0.1)")
    geo = geoip_paths(args.geoip)
    db_url, meta, sidecar = prepare_database(args, geo, model)
    if args.prefill_only:
        return 0

    metrics_dir = VAR / f"metrics-{os.getpid()}"
    metrics_dir.mkdir(parents=True, exist_ok=True)
    env = server_env(db_url, model, geo, metrics_dir)
    extra_env = dict(kv.split("=", 1) for kv in args.server_env)
    env.update(extra_env)
    bodies = Bodies(sidecar, meta["anchor"], args.seed * 1000 + 17, run_tag)
    # Body pools: wrk replays a file (sized so a run never wraps at up to 2,500 req/s);
    # the fixed-rate phase gets its own fresh bodies.
    pool_n = int(max(5000, 2500 * args.duration))
    warm_file = bodies.write(VAR / "bodies-warmup.jsonl", int(max(2000, 1500 * args.warmup)))
    main_file = bodies.write(VAR / "bodies-main.jsonl", pool_n)
    fixed_bodies = [json.dumps(bodies.next()).encode() for _ in range(int(args.rate * args.duration) + 10)]
    sizes = [len(x) for x in fixed_bodies]
    log(f"bodies: {pool_n:,} for the closed loop, {len(fixed_bodies):,} for the fixed rate; "
        f"mean {sum(sizes) / len(sizes):.0f} bytes")

    results: dict = {"command": command, "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
                     "database": "sqlite" if db_url.startswith("sqlite") else db_url.split(":", 1)[0],
                     "prefill": {k: meta.get(k) for k in ("counts", "seconds", "bytes", "params")},
                     "server": {"worker_class": "gthread", "workers": args.workers, "threads": args.threads},
                     "model": model, "geoip": args.geoip, "duration_s": args.duration,
                     "connections": args.connections, "client": args.client, "server_env": extra_env,
                     "work_db_sql": args.work_db_sql}

    def closed(port, auth, file_, duration, tag):
        if args.client == "wrk":
            return run_wrk(port, file_, auth, duration, args.connections, args.wrk_threads,
                           logs / f"wrk-{tag}-{run_tag}.log")
        data = [ln.encode() for ln in file_.read_text().splitlines()]
        return closed_loop_python(port, data, auth, duration, args.connections)

    try:
        if "floor" in args.phases:
            port = free_port()
            log_path = logs / f"floor-{run_tag}.log"
            p = PROCS.start([sys.executable, str(ROOT / "scripts" / "bench_floor_app.py"), "--port", str(port),
                             "--workers", str(args.workers), "--threads", str(args.threads)], env, log_path)
            wait_ready(p, port, log_path)
            log(f"floor: bare Flask on :{port} ({args.workers} workers x {args.threads} threads)")
            closed(port, None, warm_file, args.warmup, "floor-warmup")
            results["floor"] = closed(port, None, main_file, args.duration, "floor")
            log(f"floor: {fmt(results['floor'])}")
            PROCS.stop(p)

        if "engine" in args.phases or "fixed" in args.phases:
            secret = subprocess.run([str(BIN / "riskengine"), "keys", "create", f"bench-{run_tag}",
                                     "--scope", "assess"],
                                    env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
                                    ).stdout.strip()
            replicas = []
            for k in range(args.replicas):
                port = free_port()
                log_path = logs / f"engine-{run_tag}{'' if k == 0 else f'-replica{k}'}.log"
                p = PROCS.start([str(BIN / "riskengine"), "serve", "--host", HOST, "--port", str(port),
                                 "--workers", str(args.workers), "--threads", str(args.threads)], env, log_path)
                replicas.append((p, port, log_path))
            for p, port, log_path in replicas:
                wait_ready(p, port, log_path)
            p, port, log_path = replicas[0]
            log(f"engine: {args.replicas} x riskengine serve on :{','.join(str(r[1]) for r in replicas)} "
                f"({args.workers} workers x {args.threads} threads each), {db_url}")
            closed(port, secret, warm_file, args.warmup, "engine-warmup")
            if "engine" in args.phases:
                before = scrape(port)
                if args.replicas == 1:
                    results["engine"] = closed(port, secret, main_file, args.duration, "engine")
                else:
                    results["engine"] = closed_replicas(replicas, secret, main_file, args)
                results["engine"]["replicas"] = args.replicas
                results["engine"]["pool_wrapped"] = results["engine"]["requests"] > pool_n
                results["engine"]["server"] = diff(scrape(port), before)
                log(f"engine: {fmt(results['engine'])}; server-side (replica 0) {results['engine']['server']}")
            if "fixed" in args.phases:
                before = scrape(port)
                time.sleep(1.0)
                results["fixed"] = open_loop(port, fixed_bodies, secret, args.rate, args.duration, args.connections)
                results["fixed"]["server"] = diff(scrape(port), before)
                log(f"fixed {args.rate:g} req/s: {fmt(results['fixed'])}")
            for r in replicas[1:]:
                PROCS.stop(r[0])
            PROCS.stop(p)
            warn = [ln for ln in log_path.read_text(errors="replace").splitlines()
                    if "failed" in ln or "Traceback" in ln or "locked" in ln]
            results["engine_log_warnings"] = len(warn)
            if warn:
                log(f"engine log {log_path}: {len(warn)} warning lines, e.g. {warn[0][:200]}")
    finally:
        PROCS.stop_all()
        shutil.rmtree(metrics_dir, ignore_errors=True)

    results["loadavg"] = {"before": [round(x, 2) for x in load_before],
                          "after": [round(x, 2) for x in os.getloadavg()]}
    if "floor" in results and "engine" in results:
        results["ratio"] = round(results["engine"]["rps"] / results["floor"]["rps"], 4)
    results["targets"] = {"throughput_ratio_min": 0.25, "fixed_p99_ms_max": 10.0}
    results["met"] = {}
    if "ratio" in results:
        results["met"]["throughput_ratio"] = results["ratio"] >= 0.25
    if "fixed" in results and results["fixed"]["p99_ms"] is not None:
        results["met"]["fixed_p99"] = results["fixed"]["p99_ms"] <= 10.0 and results["fixed"]["errors"] == 0
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1))
    print_summary(results, args, Path(args.out))
    return 0


def fmt(r: dict) -> str:
    return (f"{r['rps']:,.1f} req/s, p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, "
            f"errors {r['errors']}, non-2xx {r['non_2xx']} ({r['requests']:,} requests)")


def print_summary(res: dict, args, out: Path) -> None:
    c = res["prefill"]["counts"] or {}
    lines = ["", "=" * 78,
             f"riskengine /v1/assess benchmark  ({res['database']}, {c.get('assessments', 0):,} prefilled assessments, "
             f"{c.get('accounts', 0):,} accounts)",
             f"gunicorn gthread {args.workers} workers x {args.threads} threads; {args.connections} connections; "
             f"{args.duration:g} s per phase; loadavg {res['loadavg']['before'][0]} -> {res['loadavg']['after'][0]}",
             f"{'':28}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>9}"]
    for key, label in (("floor", "floor (bare Flask)"), ("engine", "/v1/assess (30/70 mix)")):
        if key in res:
            r = res[key]
            lines.append(f"{label:28}{r['rps']:>10,.1f}{r['p50_ms']:>10.2f}{r['p99_ms']:>10.2f}"
                         f"{r['errors'] + r['non_2xx']:>9}")
    if "ratio" in res:
        ok = "OK" if res["met"]["throughput_ratio"] else "MISSED"
        lines.append(f"throughput engine/floor: {res['ratio'] * 100:.1f}%   (target >= 25%: {ok})")
    if "fixed" in res:
        f = res["fixed"]
        ok = "OK" if res["met"].get("fixed_p99") else "MISSED"
        lines.append(f"/v1/assess at {f['target_rps']:g} req/s (open loop, {f['rps']:.1f} achieved): "
                     f"p50 {f['p50_ms']:.2f} ms, p99 {f['p99_ms']:.2f} ms, max {f['max_ms']:.1f} ms, "
                     f"errors {f['errors'] + f['non_2xx']}, degraded {f.get('degraded', 0)}"
                     f"   (target p99 <= 10 ms: {ok})")
    if res.get("server_env"):
        lines.append(f"NOTE what-if server environment: {res['server_env']}")
    if res.get("work_db_sql"):
        lines.append(f"NOTE what-if SQL on the working copy: {res['work_db_sql']}")
    for key in ("floor", "engine"):
        if res.get(key, {}).get("pool_wrapped"):
            lines.append(f"NOTE {key}: the body pool wrapped (repeated event_ids answer from storage)")
    lines += [f"command: {res['command']}", f"json: {out}", "=" * 78]
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        PROCS.stop_all()
        print("\ninterrupted; servers stopped", file=sys.stderr)
        sys.exit(130)
