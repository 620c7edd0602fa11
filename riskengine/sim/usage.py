"""API usage of the simulated world's accounts: `/v1/usage` records for the active-account model.

    world = build_world(seed=7, accounts=5000)
    sim = simulate_usage(world, seed=0)
    sim.records            # contract-format dicts, sorted by occurred_at (POST them in batches of 10,000)
    sim.segment[aid]       # usage behaviour segment of every account of the world (USAGE_SEGMENTS)
    sim.abusive[aid]       # ground truth of the account's usage (see below)
    sim.campaign_id[aid]   # "legit" or the abuse operator (world campaign instance, e.g. "bulk_farm-3")
    sim.group[aid]         # operator / organisation id (for grouped splits), "" for lone accounts
    sim.record_abusive[i]  # per record: did the abuser (not the owner) produce records[i]
    sim.summary()          # counts per segment

The world provides the accounts (signup time, country/home city, devices, the addresses its
own logins came from, campaign membership and takeovers); this module decides how each
account uses the model API from its signup until the end of the window and writes the usage
records a provider's usage pipeline would send to ``POST /v1/usage``.

Record granularity (one rule for every account, like a real pipeline): requests are folded
per (account, ip, device, api key, model, reasoning flag) and **clock minute**; in a UTC hour
in which the account made more than ``MINUTE_DETAIL_MAX_PER_HOUR`` requests they are folded
per clock **hour** instead.  ``occurred_at`` is the first folded request's time,
``prompt_fingerprint`` the first request's 64-bit simhash, tokens are sums.

Quota: every account has a default limit of ``QUOTA_REQUESTS_PER_DAY`` requests per UTC day;
legitimate startup and research accounts with a payment method are on a raised tier
(``QUOTA_RAISED_FACTOR`` times it).  Requests over the limit are rejected and not recorded,
so heavy legitimate users without a payment method sometimes sit at the limit too.  Abusive
operators spread traffic over many accounts that each stay just under the default quota.

Segments (``USAGE_SEGMENTS``): legitimate ``light``, ``office_hours``, ``shared_team`` and
the heavy legitimate ``startup_batch``, ``researcher`` (``HEAVY_LEGIT_SEGMENTS``); abusive
``distill_farm``, ``quota_hugger``, ``reasoning_elicitor``, ``resold``
(``ABUSIVE_SEGMENTS``); ``inactive`` accounts send no usage.

Ground truth: ``abusive[aid]`` is True for accounts whose usage is abusive, which is not the
same as the world's ``SimAccount.fraud``: fake accounts that are never used are ``inactive``
(abusive False, fraud True); ``resold`` includes a few legitimate accounts whose owner sells
access (fraud False in the world) and accounts taken over by an ``ato`` campaign, which keep
the owner's legitimate usage next to the buyers' (``record_abusive`` tells them apart,
``abuse_start`` says when the abuse began).
"""

from __future__ import annotations

import gc
import hashlib
import math
import time as _time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from operator import itemgetter
from statistics import NormalDist
from zoneinfo import ZoneInfo

import numpy as np

from riskengine.sim.builder import HUMAN_HOURS, WORK_HOURS, SimAccount, World
from riskengine.sim.geo import COUNTRIES, RESTRICTED, Geo, SimNetwork
from riskengine.sim.rand import Rand, Weighted

QUOTA_REQUESTS_PER_DAY = 1000        # default per-account limit, per UTC day
QUOTA_RAISED_FACTOR = 5              # paid startup/research accounts
MINUTE_DETAIL_MAX_PER_HOUR = 30      # busier hours are folded per hour
MODELS = ("large-2026", "medium-2026", "small-2026", "code-2026")

USAGE_SEGMENTS: dict[str, str] = {
    "inactive": "never uses the API (legit accounts that only use the product UI, unused or held fake accounts)",
    "light": "a person: waking hours in their time zone, weekdays heavier, varied prompts, a few IPs/devices",
    "office_hours": "a person at work: weekday working hours, heavier than light, office + home IPs",
    "shared_team": "one account used by a team: several devices and IPs in one country, office hours",
    "startup_batch": "a startup (1-3 accounts per org): batch jobs from cloud IPs on a schedule, templated "
                     "prompts shared inside the org, production traffic around the clock",
    "researcher": "a researcher: light use plus evaluation bursts with a high reasoning share and public "
                  "benchmark prompts shared with other researchers",
    "distill_farm": "an operator's accounts hugging the daily quota around the clock (or in bursts after the "
                    "quota reset), machine-regular, 60-100% reasoning, long outputs, shared templates, proxy hopping",
    "quota_hugger": "an operator's accounts hugging the daily quota (free-tier multiplication), shared templates, "
                    "modest reasoning share",
    "reasoning_elicitor": "an operator's accounts at moderate volume, human-like hours, almost every request asks "
                          "for the reasoning, shared templates, the account's own device, residential proxies",
    "resold": "an account whose access is sold: several buyers in distant countries use it at the same time",
}
LEGIT_USAGE_SEGMENTS = frozenset({"light", "office_hours", "shared_team", "startup_batch", "researcher"})
HEAVY_LEGIT_SEGMENTS = frozenset({"startup_batch", "researcher", "shared_team"})
ABUSIVE_SEGMENTS = frozenset({"distill_farm", "quota_hugger", "reasoning_elicitor", "resold"})
FARM_KINDS = ("bulk_farm", "alias_farm", "antidetect_farm", "hydra")

# business of an operator (campaign instance) by world campaign kind; the first instance of a kind
# always gets the first business so that every business exists in small worlds
OPERATOR_BUSINESS = {
    "bulk_farm": Weighted([("distill_farm", 0.7), ("quota_hugger", 0.3)]),
    "alias_farm": Weighted([("quota_hugger", 0.5), ("distill_farm", 0.5)]),
    "antidetect_farm": Weighted([("reasoning_elicitor", 0.3), ("distill_farm", 0.5), ("quota_hugger", 0.2)]),
    "hydra": Weighted([("resold", 0.85), ("distill_farm", 0.15)]),
}
BUYER_COUNTRIES = ("NG", "ID", "IN", "BR", "PL", "RU", "CN", "IR", "KR", "JP", "US", "GB", "DE", "FR", "SG", "AU")

_DAY = 86400
_FMT_CACHE: dict[int, str] = {}


# ---------------------------------------------------------------------------------------
# Result
# ---------------------------------------------------------------------------------------

@dataclass
class UsageSim:
    """Usage records and per-account ground truth (see the module docstring).

    ``records``: contract dicts sorted by ``occurred_at``; ``record_abusive`` is parallel to it.
    Per account of the world (every ``world.accounts`` id is a key): ``segment`` (a key of
    ``USAGE_SEGMENTS``; "inactive" exactly when the account has no record), ``abusive``,
    ``campaign_id`` ("legit", a world campaign instance such as "bulk_farm-3", the "ato-N"
    instance that took a resold account over, or "resale-N" for an owner selling access),
    ``group`` (operator or startup organisation, "" when alone: use it for grouped splits).
    ``abuse_start``: abusive accounts -> time of their first abusive record.
    ``owner_segment``: legitimate accounts resold by their owner or after a takeover -> the
    segment of the owner's own (legitimate) usage in them."""
    records: list[dict]
    segment: dict[str, str]
    abusive: dict[str, bool]
    campaign_id: dict[str, str]
    group: dict[str, str]
    abuse_start: dict[str, datetime]
    record_abusive: list[bool] = field(repr=False)
    owner_segment: dict[str, str] = field(default_factory=dict)
    start: datetime | None = None
    end: datetime | None = None
    quota: int = QUOTA_REQUESTS_PER_DAY

    @property
    def heavy_legit(self) -> set[str]:
        return {a for a, s in self.segment.items() if s in HEAVY_LEGIT_SEGMENTS and not self.abusive[a]}

    def accounts_in(self, *segments: str) -> list[str]:
        want = set(segments)
        return [a for a, s in self.segment.items() if s in want]

    def summary(self) -> dict:
        acc = Counter(self.segment.values())
        recs: Counter = Counter()
        reqs: Counter = Counter()
        for r in self.records:
            s = self.segment[r["account_id"]]
            recs[s] += 1
            reqs[s] += r["requests"]
        return {"records": len(self.records), "requests": sum(reqs.values()),
                "abusive_accounts": sum(self.abusive.values()),
                "abusive_records": sum(self.record_abusive),
                "segments": {s: {"accounts": acc[s], "records": recs[s], "requests": reqs[s]}
                             for s in USAGE_SEGMENTS if acc[s] or recs[s]}}


# ---------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------

def _h32(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=4).digest(), "big")


@lru_cache(maxsize=16384)
def _offset(tz: str, day: int) -> int:
    """UTC offset (s) of ``tz`` at noon UTC of unix day ``day``."""
    offset = datetime.fromtimestamp(day * _DAY + 43200, tz=ZoneInfo(tz)).utcoffset()
    assert offset is not None  # an aware datetime always has one
    return int(offset.total_seconds())


def _fmt(ts: int) -> str:
    day, sec = divmod(ts, _DAY)
    pre = _FMT_CACHE.get(day)
    if pre is None:
        pre = _FMT_CACHE[day] = _time.strftime("%Y-%m-%dT", _time.gmtime(day * _DAY))
    h, rem = divmod(sec, 3600)
    m, s = divmod(rem, 60)
    return f"{pre}{h:02d}:{m:02d}:{s:02d}Z"


def _flip(r: Rand, fp: int, k: int) -> int:
    for _ in range(k):
        fp ^= 1 << int(r.random() * 64)
    return fp


_MASK64 = (1 << 64) - 1


def _fp(r: Rand) -> int:
    # 53 random bits spread over 64 by an odd multiplier (a bijection mod 2**64): one uniform per prompt
    return (int(r.random() * (1 << 53)) * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) & _MASK64


def _dev_id(r: Rand) -> str:
    return "dv_" + r.hex(16)


def _key_id(r: Rand) -> str:
    return "key_" + r.hex(12)


def _binom(r: Rand, n: int, p: float) -> int:
    if n <= 0 or p <= 0:
        return 0
    if p >= 1:
        return n
    if n < 20:
        return sum(r.random() < p for _ in range(n))
    return min(n, max(0, round(r.normal(n * p, math.sqrt(n * p * (1 - p))))))


def _models(r: Rand, base: dict[str, float]) -> Weighted:
    w = {m: base.get(m, 0.0) * r.uniform(0.5, 1.5) for m in MODELS}
    fav = r.choice(MODELS)
    w[fav] = w[fav] + 0.3 * sum(w.values())
    return Weighted(w)


# standard normal quantiles on a fine grid: a lognormal multiplier costs one uniform and a lookup
_ZN = 4096
_Z = tuple(NormalDist().inv_cdf((i + 0.5) / _ZN) for i in range(_ZN))


def _ln(r: Rand, sigma: float) -> float:
    """exp(sigma * Z), Z standard normal (grid quantile)."""
    return math.exp(sigma * _Z[int(r.random() * _ZN)])


@dataclass
class _Tokens:
    """Per-request token profile: lognormal input, output as a multiple, reasoning makes outputs longer."""
    inp: float
    out: float
    sigma: float = 0.7
    reason_mult: float = 2.5

    def one(self, r: Rand, reasoning: bool) -> tuple[int, int]:
        i = max(5, int(self.inp * _ln(r, self.sigma)))
        o = self.out * _ln(r, self.sigma)
        if reasoning:
            o *= self.reason_mult
        return i, max(1, int(o))

    def many(self, r: Rand, n: int, reasoning: bool) -> tuple[int, int]:
        s = self.sigma / math.sqrt(n) + 0.05
        i = max(5 * n, int(n * self.inp * math.exp(self.sigma ** 2 / 2) * _ln(r, s)))
        o = n * self.out * math.exp(self.sigma ** 2 / 2) * _ln(r, s)
        if reasoning:
            o *= self.reason_mult
        return i, max(n, int(o))


class _Prompts:
    """Fingerprints: fresh (unique) prompts, a person's reused prompts, templates with bit flips,
    and the world's common prompts (console examples, 'hello')."""

    def __init__(self, r: Rand, *, personal: int = 3, p_personal: float = 0.15, templates: list[int] | None = None,
                 p_template: float = 0.0, max_flips: int = 3, common: list[int] | None = None,
                 p_common: float = 0.02, items: list[int] | None = None, p_items: float = 0.0):
        self.personal = [_fp(r) for _ in range(personal)]
        self.p_personal = p_personal
        self.templates = templates or []
        self.p_template = p_template if self.templates else 0.0
        self.max_flips = max_flips
        self.common = common or []
        self.p_common = p_common if self.common else 0.0
        self.items = items or []
        self.p_items = p_items if self.items else 0.0

    def pick(self, r: Rand) -> int:
        x = r.random()
        if x < self.p_template:
            return _flip(r, r.choice(self.templates), int(r.random() * (self.max_flips + 1)))
        x -= self.p_template
        if x < self.p_items:
            return r.choice(self.items)
        x -= self.p_items
        if x < self.p_common:
            return r.choice(self.common)
        x -= self.p_common
        if x < self.p_personal and self.personal:
            return _flip(r, r.choice(self.personal), int(r.random() * 3))
        return _fp(r)


# ---------------------------------------------------------------------------------------
# The simulator
# ---------------------------------------------------------------------------------------

Chunk = tuple  # (t, n, ip, dev, key, model, reasoning, tin, tout, fp, abusive)


class _Sim:
    def __init__(self, world: World, seed: int, days: int | None):
        self.w = world
        self.geo: Geo = world.geo
        self.seed = seed
        self.t0 = int(world.start.timestamp())
        self.t1 = self.t0 + (world.days if days is None else days) * _DAY
        g = self.rand("global")
        self.common = [_fp(g) for _ in range(25)]
        # public benchmarks: each a fixed list of prompts every researcher running it sends
        self.benchmarks = [[_fp(g) for _ in range(g.integers(40, 160))] for _ in range(8)]
        self.segment: dict[str, str] = {}
        self.abusive: dict[str, bool] = {}
        self.campaign: dict[str, str] = {}
        self.group: dict[str, str] = {}
        self.orgs: dict[str, dict] = {}
        self.operators: dict[str, dict] = {}
        self.ato_cid = self._ato_campaigns()
        self._nets: dict[str, SimNetwork | None] = {}
        self.owner_segment: dict[str, str] = {}

    def rand(self, *parts) -> Rand:
        ent = [self.seed & 0xFFFFFFFF, self.w.seed & 0xFFFFFFFF] + [_h32(str(p)) for p in parts]
        return Rand(np.random.SeedSequence(ent))

    def _ato_campaigns(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for e in self.w.events:
            if e.campaign == "ato" and e.body.get("login", {}).get("outcome") == "success":
                out.setdefault(e.body["account"]["id"], e.campaign_id)
        return out

    # -- assignment --------------------------------------------------------------------------
    def assign(self) -> None:
        r = self.rand("assign")
        open_orgs: dict[str, list[str]] = {}
        n_org = 0
        resale = 0
        seen_kind: set[str] = set()
        for a in self.w.accounts:
            aid = a.id
            self.campaign[aid] = a.campaign_id if a.fraud else "legit"
            self.group[aid] = ""
            if a.fraud:
                if a.campaign not in FARM_KINDS:
                    self.segment[aid] = "inactive"
                    continue
                op = self.operators.get(a.campaign_id)
                if op is None:
                    first = a.campaign not in seen_kind
                    seen_kind.add(a.campaign)
                    op = self.operators[a.campaign_id] = self.make_operator(a, first)
                self.group[aid] = a.campaign_id
                self.segment[aid] = "inactive" if r.random() < op["p_idle"] else op["business"]
                continue
            seg = self.legit_segment(r, a)
            self.segment[aid] = seg
            if seg == "startup_batch":
                org = None
                pool = open_orgs.get(a.country)
                if pool and r.random() < 0.45:
                    org = pool[-1]
                    if len(self.orgs[org]["members"]) >= r.integers(2, 4):
                        org = None
                if org is None:
                    n_org += 1
                    org = f"org-{n_org}"
                    self.orgs[org] = {"country": a.country, "members": [], "home": a}
                    open_orgs.setdefault(a.country, []).append(org)
                self.orgs[org]["members"].append(aid)
                self.group[aid] = org
            if seg != "inactive" and r.random() < 0.006 and int(a.created_at.timestamp()) < self.t1 - 3 * _DAY:
                resale += 1   # the owner sells access to the account
                self.campaign[aid] = f"resale-{resale}"
                self.group[aid] = f"resale-{resale}"
                self.segment[aid] = "resold"
            elif aid in self.ato_cid and a.compromised_at is not None and r.random() < 0.6 \
                    and int(a.compromised_at.timestamp()) < self.t1 - 6 * 3600:
                self.campaign[aid] = self.ato_cid[aid]
                self.group[aid] = self.ato_cid[aid]
                self.segment[aid] = "resold"
        for aid, s in self.segment.items():
            self.abusive[aid] = s in ABUSIVE_SEGMENTS

    def legit_segment(self, r: Rand, a: SimAccount) -> str:
        org_type = a.profile.get("org_type")
        if r.random() < 0.15:
            return "inactive"
        ws = a.segment
        if ws == "developer" or org_type == "startup":
            w = {"startup_batch": 0.5, "light": 0.25, "researcher": 0.08, "office_hours": 0.17}
        elif org_type == "research":
            w = {"researcher": 0.6, "light": 0.25, "office_hours": 0.15}
        elif ws == "office_nat" or org_type == "enterprise":
            w = {"office_hours": 0.55, "shared_team": 0.2, "light": 0.2, "startup_batch": 0.05}
        elif ws == "campus_nat" or org_type == "education":
            w = {"researcher": 0.22, "light": 0.63, "office_hours": 0.1, "shared_team": 0.05}
        else:
            w = {"light": 0.86, "office_hours": 0.06, "researcher": 0.03, "startup_batch": 0.02, "shared_team": 0.03}
        return Weighted(w).pick(r)

    def make_operator(self, a: SimAccount, first: bool) -> dict:
        cid = a.campaign_id
        r = self.rand("operator", cid)
        info = next((c for c in self.w.campaigns if c.id == cid), None)
        q = info.quality if info is not None else r.random()
        kind = a.campaign
        business = OPERATOR_BUSINESS[kind].items[0] if first else OPERATOR_BUSINESS[kind].pick(r)
        op_cc = (info.operator_country if info else None) or a.operator_country or "US"
        targets = list(info.target_countries) if info and info.target_countries else ["US"]
        geo = self.geo
        nets: list[SimNetwork] = []
        if business == "resold":
            pass
        elif kind == "bulk_farm":
            provs = r.sample(list(geo.hosting), r.integers(3, 7))
            nets = [n for p in provs for n in geo.hosting[p]] + list(geo.public_proxies)
            if q < 0.25 and r.random() < 0.5:
                nets += geo.tor_exits
        elif kind == "antidetect_farm":
            nets = geo.resi_proxy_subnets(targets) + r.sample(geo.all_hosting(), r.integers(0, 4))
        elif kind == "alias_farm":
            nets = r.sample(geo.resi_proxy_subnets(), r.integers(15, 40))
            nets += r.sample(geo.all_hosting(), r.integers(2, 8))
        else:  # hydra running a farm: mobile / less-known residential proxies
            nets = geo.resi_proxy_subnets(targets, pools=("MobiProx", "GhostLine", "HomeRoute"))
        op = {
            "id": cid, "kind": kind, "business": business, "q": q, "country": op_cc, "targets": targets,
            "tz": COUNTRIES[op_cc].primary_tz if op_cc in COUNTRIES else "UTC",
            "nets": nets, "restricted": a.segment == "hydra_restricted",
            "p_idle": r.uniform(0.03, 0.2),
            "templates": [_fp(r) for _ in range(r.integers(1, 5))],
            "workers": [_dev_id(r) for _ in range(r.integers(2, 10))],
            "p_nodev": 0.5 if kind == "bulk_farm" else 0.1,
        }
        if business == "distill_farm":
            op.update(mode="spread" if (q > 0.25 or r.random() < 0.7) else "burst",
                      reason=r.uniform(0.6, 1.0), jitter=0.01 + 0.12 * q * r.random(),
                      p_template=r.uniform(0.8, 1.0) - 0.2 * q, quota_frac=(0.85, 0.99),
                      rot=r.choice((1800, 3600, 3600, 7200, 3 * 3600)), duty=r.uniform(0.75, 0.97),
                      tokens=_Tokens(r.uniform(300, 1500), r.uniform(1200, 3000), 0.35, r.uniform(1.6, 3.0)),
                      models=Weighted({"large-2026": 0.9, "medium-2026": 0.1}))
        elif business == "quota_hugger":
            op.update(mode=r.choice(("spread", "workday", "workday")), reason=r.uniform(0.05, 0.4),
                      jitter=0.02 + 0.2 * r.random(), p_template=r.uniform(0.6, 0.95), quota_frac=(0.88, 1.0),
                      rot=r.choice((3600, 7200, 4 * 3600, 12 * 3600)), duty=r.uniform(0.7, 0.95),
                      tokens=_Tokens(r.uniform(200, 900), r.uniform(300, 1200), 0.5, 2.0),
                      models=Weighted({"medium-2026": 0.5, "small-2026": 0.3, "large-2026": 0.2}))
        elif business == "reasoning_elicitor":
            op.update(reason=r.uniform(0.88, 1.0), p_template=r.uniform(0.65, 0.95), daily=(30, 250),
                      tokens=_Tokens(r.uniform(300, 1200), r.uniform(1500, 3500), 0.5, 1.8),
                      models=Weighted({"large-2026": 0.95, "code-2026": 0.05}),
                      resi=geo.resi_proxy_subnets(targets))
        return op

    # -- per account ---------------------------------------------------------------------------
    def run(self) -> UsageSim:
        self.assign()
        out: list[tuple] = []
        r = self.rand("accounts")
        for i, a in enumerate(self.w.accounts):
            seg = self.segment[a.id]
            if seg == "inactive":
                continue
            created = int(a.created_at.timestamp())
            start = max(created + 60, self.t0)
            if start >= self.t1:
                continue
            chunks: list[Chunk] = []
            owner_seg = seg
            if seg == "resold" and not a.fraud:
                owner_seg = self.legit_segment(r, a)
                if owner_seg == "startup_batch":
                    owner_seg = "light"
                self.owner_segment[a.id] = owner_seg
            if owner_seg in LEGIT_USAGE_SEGMENTS:
                getattr(self, "gen_" + owner_seg)(r, a, start, chunks)
            if seg == "resold":
                self.gen_resold(r, a, start, chunks)
            elif seg in ABUSIVE_SEGMENTS:
                getattr(self, "gen_" + seg)(r, a, start, chunks)
            _enforce_quota(chunks, self.quota_of(a, owner_seg))
            for rec in _fold(chunks):
                out.append((rec[0], i, a.id, rec))
        out.sort(key=itemgetter(0, 1))
        records: list[dict] = []
        flags: list[bool] = []
        first_abuse: dict[str, int] = {}
        for t, _, aid, c in out:
            records.append({"account_id": aid, "occurred_at": _fmt(t), "ip": c[2], "device_id": c[3],
                            "api_key_id": c[4], "model": c[5], "requests": c[1], "input_tokens": c[7],
                            "output_tokens": c[8], "prompt_fingerprint": f"{c[9]:016x}", "reasoning_requested": c[6]})
            flags.append(c[10])
            if c[10] and aid not in first_abuse:
                first_abuse[aid] = t
        has_records = {rec["account_id"] for rec in records}
        for aid, s in self.segment.items():
            if aid not in has_records:
                self.segment[aid] = "inactive"   # planned usage fell outside the window (signed up late)
            if s in ABUSIVE_SEGMENTS and aid not in first_abuse:
                # abusive by plan but no abusive record fell in the window: the owner's usage (if any) is all there is
                own = self.owner_segment.get(aid, "inactive")
                self.segment[aid] = own if aid in has_records else "inactive"
                self.abusive[aid] = False
                self.campaign[aid] = "legit" if own != "inactive" or not self.w.account(aid).fraud \
                    else self.campaign[aid]
        return UsageSim(records=records, segment=self.segment, abusive=self.abusive, campaign_id=self.campaign,
                        group=self.group, owner_segment=self.owner_segment,
                        abuse_start={a: datetime.fromtimestamp(t, tz=UTC) for a, t in first_abuse.items()},
                        record_abusive=flags, start=datetime.fromtimestamp(self.t0, tz=UTC),
                        end=datetime.fromtimestamp(self.t1, tz=UTC))

    # -- building blocks ------------------------------------------------------------------------
    @staticmethod
    def quota_of(a: SimAccount, seg: str) -> int:
        raised = seg in ("startup_batch", "researcher") and a.payment is not None and not a.fraud
        return QUOTA_REQUESTS_PER_DAY * (QUOTA_RAISED_FACTOR if raised else 1)

    def pairs(self, a: SimAccount) -> list[tuple[str, str | None]]:
        """(ip, device id) the account's own activity used in the world."""
        own = [(ip, d) for _, ip, d, f in a.sessions if f == a.fraud]
        if not own:
            net = self.geo.residential.get(a.country) or self.geo.residential["US"]
            own = [(net[0].host(Rand(_h32(a.id))), a.devices[0].id or None if a.devices else None)]
        return own

    def renew(self, r: Rand, ip: str) -> str:
        """Another address of the network ``ip`` is in (dynamic address, CGNAT pool, VPN exit)."""
        net = self.lookup(ip)
        return net.address(r) if net is not None else ip

    def lookup(self, ip: str) -> SimNetwork | None:
        try:
            return self._nets[ip]
        except KeyError:
            net = self._nets[ip] = self.geo.lookup(ip)
            return net

    def human_source(self, r: Rand, a: SimAccount, keys: list[str]):
        pairs = self.pairs(a)

        def source(r: Rand):
            ip, dev = r.choice(pairs)
            if r.random() < 0.1:
                ip = self.renew(r, ip)
            return ip, dev, keys[0] if len(keys) == 1 or r.random() < 0.7 else r.choice(keys)
        return source

    def tz_of(self, a: SimAccount) -> str:
        if a.home_city is not None:
            return a.home_city.tz
        for d in a.devices:
            if d.timezone:
                return d.timezone
        return COUNTRIES[a.country].primary_tz if a.country in COUNTRIES else "UTC"

    @staticmethod
    def local_ts(r: Rand, day: int, tz: str, hours: Weighted) -> int:
        return int(day * _DAY - _offset(tz, day) + hours.pick(r) * 3600 + r.random() * 3600)

    def human(self, r: Rand, out: list, *, t_from: int, t_to: int, tz: str, p_day: float, weekend: float,
              sessions: float, hours: Weighted, req_mean: float, gap: float, source, p_reason: float,
              prompts: _Prompts, tokens: _Tokens, models: Weighted, abusive: bool = False,
              daily_cap: int | None = None) -> None:
        """Sessions of a person: days drawn with p_day (x weekend on Sat/Sun local), sessions at
        local hours, requests a think-time apart; one chunk per request."""
        d0, d1 = t_from // _DAY - 1, t_to // _DAY + 1
        for day in range(d0, d1):
            wd = (day + 3) % 7
            if r.random() >= p_day * (weekend if wd >= 5 else 1.0):
                continue
            k = 1 + r.poisson(sessions - 1) if sessions > 1 else 1
            done = 0
            for _ in range(k):
                t = self.local_ts(r, day, tz, hours)
                if t < t_from or t >= t_to:
                    continue
                n = 1 + int(r.expo(req_mean - 1)) if req_mean > 1 else 1
                if daily_cap is not None:
                    n = min(n, daily_cap - done)
                done += n
                ip, dev, key = source(r)
                model = models.pick(r)
                cur = None
                for _ in range(n):
                    reas = r.random() < p_reason
                    ti, to = tokens.one(r, reas)
                    if cur is not None and cur[0] // 60 == t // 60 and cur[6] == reas:
                        cur[1] += 1      # same minute, same attributes: fold now (the record would anyway)
                        cur[7] += ti
                        cur[8] += to
                    else:
                        if cur is not None:
                            out.append(cur)
                        cur = [t, 1, ip, dev, key, model, reas, ti, to, prompts.pick(r), abusive]
                    t += 3 + int(r.expo(gap))
                    if t >= t_to:
                        break
                if cur is not None:
                    out.append(cur)

    def stream(self, r: Rand, out: list, *, a: int, b: int, n: int, jitter: float, place, p_reason: float,
               prompts: _Prompts, tokens: _Tokens, model: str, abusive: bool, rot: int = 3600,
               block_reason: bool = True) -> int:
        """``n`` machine requests evenly spread over [a, b) (period (b-a)/n, low jitter), folded per
        clock hour (and per IP rotation). ``place(r, t)`` -> (ip, dev, key). Returns requests made."""
        if n <= 0 or b <= a:
            return 0
        period = (b - a) / n
        made = 0
        h = a - a % 3600
        while h < b and made < n:
            lo, hi = max(a, h), min(b, h + 3600)
            k0 = math.ceil((lo - a) / period)
            k1 = math.ceil((hi - a) / period)
            m = min(k1 - k0, n - made)
            if m > 0 and jitter > 0:
                m = max(1, min(n - made, m + round(r.normal(0, jitter * math.sqrt(m) + jitter * m * 0.3))))
            if m > 0:
                first = a + k0 * period + r.random() * jitter * period
                parts = max(1, round(3600 / rot)) if rot < 3600 else 1
                base = m // parts
                for j in range(parts):
                    mm = base + (1 if j < m - base * parts else 0)
                    if mm <= 0:
                        continue
                    t = int(first + j * (3600 / parts))
                    if t >= hi:
                        t = hi - 1
                    ip, dev, key = place(r, t)
                    if block_reason:
                        splits = [(mm, r.random() < p_reason)]
                    else:
                        nr = _binom(r, mm, p_reason)
                        splits = [(x, f) for x, f in ((nr, True), (mm - nr, False)) if x > 0]
                    for x, reas in splits:
                        if m <= MINUTE_DETAIL_MAX_PER_HOUR:   # a quiet hour: the requests stay visible
                            for q in range(x):
                                ti, to = tokens.one(r, reas)
                                out.append((min(hi - 1, t + int(q * period)), 1, ip, dev, key, model, reas,
                                            ti, to, prompts.pick(r), abusive))
                        else:
                            ti, to = tokens.many(r, x, reas)
                            out.append((t, x, ip, dev, key, model, reas, ti, to, prompts.pick(r), abusive))
                        t += 1
                made += m
            h += 3600
        return made

    # -- legitimate segments -----------------------------------------------------------------------
    def gen_light(self, r: Rand, a: SimAccount, start: int, out: list) -> None:
        keys = [_key_id(r) for _ in range(1 if r.random() < 0.8 else 2)]
        t_from = start + int(r.expo(_DAY)) if r.random() < 0.6 else start + int(r.random() * 3600)
        self.human(r, out, t_from=t_from, t_to=self.t1, tz=self.tz_of(a), p_day=r.uniform(0.06, 0.5),
                   weekend=r.uniform(0.4, 0.9), sessions=r.uniform(1.0, 1.8), hours=HUMAN_HOURS,
                   req_mean=r.uniform(2.5, 9), gap=r.uniform(30, 150), source=self.human_source(r, a, keys),
                   p_reason=r.uniform(0.03, 0.25), prompts=_Prompts(r, personal=r.integers(0, 5),
                                                                    p_personal=r.uniform(0.0, 0.25),
                                                                    common=self.common),
                   tokens=_Tokens(r.uniform(200, 1200), r.uniform(250, 900)),
                   models=_models(r, {"large-2026": 0.35, "medium-2026": 0.4, "small-2026": 0.15, "code-2026": 0.1}),
                   daily_cap=QUOTA_REQUESTS_PER_DAY)

    def gen_office_hours(self, r: Rand, a: SimAccount, start: int, out: list) -> None:
        keys = [_key_id(r) for _ in range(r.integers(1, 3))]
        self.human(r, out, t_from=start + int(r.expo(_DAY)), t_to=self.t1, tz=self.tz_of(a),
                   p_day=r.uniform(0.45, 0.9), weekend=r.uniform(0.05, 0.3), sessions=r.uniform(1.5, 4),
                   hours=WORK_HOURS, req_mean=r.uniform(4, 14), gap=r.uniform(30, 120),
                   source=self.human_source(r, a, keys), p_reason=r.uniform(0.05, 0.25),
                   prompts=_Prompts(r, personal=r.integers(1, 8), p_personal=r.uniform(0.05, 0.3), common=self.common),
                   tokens=_Tokens(r.uniform(400, 2000), r.uniform(300, 900)),
                   models=_models(r, {"large-2026": 0.4, "medium-2026": 0.3, "small-2026": 0.1, "code-2026": 0.2}),
                   daily_cap=QUOTA_REQUESTS_PER_DAY)

    def gen_shared_team(self, r: Rand, a: SimAccount, start: int, out: list) -> None:
        pairs = self.pairs(a)
        tz = self.tz_of(a)
        keys = [_key_id(r) for _ in range(r.integers(1, 3))]
        office = [ip for ip, _ in pairs if (n := self.lookup(ip)) is not None and n.kind == "office"]
        homes = self.geo.residential.get(a.country, self.geo.residential["US"])
        city = a.home_city
        local = [n for n in homes if city is None or n.city == city] or homes
        prompts = _Prompts(r, personal=r.integers(3, 12), p_personal=0.2, common=self.common)
        models = _models(r, {"large-2026": 0.4, "medium-2026": 0.3, "small-2026": 0.1, "code-2026": 0.2})
        t_from = start + int(r.expo(_DAY))
        p_reason = r.uniform(0.05, 0.2)
        for m in range(r.integers(3, 9)):
            if m == 0 or r.random() < 0.3:
                ip0, dev = r.choice(pairs)
            else:
                dev = _dev_id(r)
                ip0 = r.choice(office) if office and r.random() < 0.7 else r.choice(local).host(r)
            home = r.choice(local).host(r)
            key = r.choice(keys)

            def source(r: Rand, ip0=ip0, dev=dev, home=home, key=key):
                return (ip0 if r.random() < 0.75 else home), dev, key
            self.human(r, out, t_from=t_from + int(r.expo(3 * _DAY)), t_to=self.t1, tz=tz,
                       p_day=r.uniform(0.4, 0.85), weekend=0.1, sessions=r.uniform(1, 2.5), hours=WORK_HOURS,
                       req_mean=r.uniform(3, 10), gap=r.uniform(30, 120), source=source, p_reason=p_reason,
                       prompts=prompts, tokens=_Tokens(r.uniform(400, 1500), r.uniform(300, 800)), models=models,
                       daily_cap=QUOTA_REQUESTS_PER_DAY // 4)

    def org_resources(self, org_id: str) -> dict:
        org = self.orgs[org_id]
        if "nets" in org:
            return org
        r = self.rand("org", org_id)
        cc = org["country"]
        regions = self.geo.hosting_in(cc if r.random() < 0.7 else None)
        regs = r.sample(regions, r.integers(1, 3))
        org["servers"] = [r.choice(regs).host(r) for _ in range(r.integers(2, 7))]
        org["nets"] = regs
        org["devices"] = [_dev_id(r) for _ in range(r.integers(1, 4))] if r.random() < 0.5 else [None]
        org["templates"] = [_fp(r) for _ in range(r.integers(1, 4))]
        home = org["home"]
        org["tz"] = self.tz_of(home)
        org["batch_hour"] = r.integers(0, 24) if r.random() < 0.3 else r.integers(0, 6)
        org["batch_hours"] = r.uniform(1, 6)
        org["weekdays_only"] = r.random() < 0.4
        org["jitter"] = r.uniform(0.02, 0.25)
        org["reason"] = r.uniform(0.0, 0.2)
        org["prod_rate"] = r.lognormal(math.log(60), 0.7) if r.random() < 0.2 else 0.0
        org["model"] = r.choice(("small-2026", "medium-2026", "medium-2026", "large-2026", "code-2026"))
        org["tokens"] = _Tokens(r.uniform(800, 5000), r.uniform(60, 500), 0.4, 2.0)
        return org

    def gen_startup_batch(self, r: Rand, a: SimAccount, start: int, out: list) -> None:
        org = self.org_resources(self.group[a.id] or a.id)
        tz = org["tz"]
        keys = [_key_id(r) for _ in range(r.integers(1, 4))]
        prompts = _Prompts(r, personal=0, templates=org["templates"], p_template=r.uniform(0.75, 0.98), max_flips=5,
                           p_common=0.0)
        paid = a.payment is not None
        cap = QUOTA_REQUESTS_PER_DAY * (QUOTA_RAISED_FACTOR if paid else 1)
        median = r.lognormal(math.log(450), 0.7)
        dev_p = r.random()
        servers, devices = org["servers"], org["devices"]

        def place(r: Rand, t: int):
            return r.choice(servers), (devices[0] if dev_p < 0.7 else r.choice(devices)), r.choice(keys)

        first = start + int(r.expo(2 * _DAY))
        share = 1.0 / len(org["members"])
        for day in range(first // _DAY, self.t1 // _DAY + 1):
            if org["weekdays_only"] and (day + 3) % 7 >= 5:
                continue
            if r.random() < 0.1:
                continue  # pipeline down / nothing to process
            a_ = int(day * _DAY - _offset(tz, day) + org["batch_hour"] * 3600 + r.uniform(0, 300))
            b_ = a_ + int(org["batch_hours"] * 3600 * r.uniform(0.8, 1.2))
            a_, b_ = max(a_, first), min(b_, self.t1)
            n = min(cap, int(median * share * len(org["members"]) * r.lognormal(0, 0.35)))
            self.stream(r, out, a=a_, b=b_, n=n, jitter=org["jitter"], place=place, p_reason=org["reason"],
                        prompts=prompts, tokens=org["tokens"], model=org["model"], abusive=False)
        if org["prod_rate"] > 0:
            # production traffic: the startup's own users, diurnal in the org's time zone, Poisson
            rate = org["prod_rate"] * share
            model = org["model"]
            for h in range(first - first % 3600, self.t1, 3600):
                local_h = ((h + _offset(tz, h // _DAY)) // 3600) % 24
                lam = rate * _DIURNAL[local_h]
                k = r.poisson(lam)
                if k <= 0:
                    continue
                if k > MINUTE_DETAIL_MAX_PER_HOUR:
                    ip, dev, key = place(r, h)
                    reas = r.random() < org["reason"]
                    ti, to = org["tokens"].many(r, k, reas)
                    out.append((max(h, first) + int(r.random() * 60), k, ip, dev, key, model, reas, ti, to,
                                prompts.pick(r), False))
                    continue
                for _ in range(k):
                    t = h + int(r.random() * 3600)
                    if t < first or t >= self.t1:
                        continue
                    ip, dev, key = place(r, t)
                    reas = r.random() < org["reason"]
                    ti, to = org["tokens"].one(r, reas)
                    out.append((t, 1, ip, dev, key, model, reas, ti, to, prompts.pick(r), False))
        if r.random() < 0.6:  # the developers themselves, from their laptops
            self.human(r, out, t_from=start, t_to=self.t1, tz=self.tz_of(a), p_day=r.uniform(0.2, 0.6), weekend=0.3,
                       sessions=1.5, hours=WORK_HOURS, req_mean=r.uniform(3, 10), gap=60,
                       source=self.human_source(r, a, keys), p_reason=r.uniform(0.05, 0.3),
                       prompts=_Prompts(r, templates=org["templates"], p_template=0.3, common=self.common),
                       tokens=_Tokens(1000, 600), models=_models(r, {"large-2026": 0.5, "code-2026": 0.5}),
                       daily_cap=200)

    def gen_researcher(self, r: Rand, a: SimAccount, start: int, out: list) -> None:
        keys = [_key_id(r) for _ in range(r.integers(1, 3))]
        tz = self.tz_of(a)
        src = self.human_source(r, a, keys)
        p_reason = r.uniform(0.1, 0.4)
        self.human(r, out, t_from=start + int(r.expo(_DAY)), t_to=self.t1, tz=tz, p_day=r.uniform(0.2, 0.7),
                   weekend=0.4, sessions=r.uniform(1, 2.5), hours=HUMAN_HOURS, req_mean=r.uniform(4, 15),
                   gap=r.uniform(20, 120), source=src, p_reason=p_reason,
                   prompts=_Prompts(r, personal=r.integers(2, 10), p_personal=0.25, common=self.common),
                   tokens=_Tokens(r.uniform(600, 2500), r.uniform(400, 1200)),
                   models=_models(r, {"large-2026": 0.7, "medium-2026": 0.2, "code-2026": 0.1}),
                   daily_cap=QUOTA_REQUESTS_PER_DAY)
        # evaluation runs: public benchmarks (shared with other researchers) + own eval sets
        benches = r.sample(self.benchmarks, r.integers(1, 4))
        own = [_fp(r) for _ in range(r.integers(20, 100))]
        items = [x for bnch in benches for x in bnch] + own
        run_prompts = _Prompts(r, personal=0, items=items, p_items=0.9, p_common=0.0)
        cloud = r.sample(self.geo.hosting_in(a.country), 2) if r.random() < 0.4 else None
        pairs = self.pairs(a)
        cap = QUOTA_REQUESTS_PER_DAY * (QUOTA_RAISED_FACTOR if a.payment is not None else 1)
        p_run = r.uniform(0.08, 0.3)
        run_reason = r.uniform(0.4, 0.95)
        tokens = _Tokens(r.uniform(500, 3000), r.uniform(800, 2500), 0.5, r.uniform(1.5, 3))
        for day in range(start // _DAY, self.t1 // _DAY + 1):
            if r.random() >= p_run:
                continue
            a_ = self.local_ts(r, day, tz, HUMAN_HOURS)
            n = min(cap, int(r.lognormal(math.log(300), 0.7)))
            b_ = a_ + int(n * r.uniform(4, 40))
            a_, b_ = max(a_, start), min(b_, self.t1)
            if cloud is not None:
                ip = r.choice(cloud).host(r)
                dev = None
            else:
                ip, dev = r.choice(pairs)
            key = r.choice(keys)
            self.stream(r, out, a=a_, b=b_, n=n, jitter=r.uniform(0.05, 0.5),
                        place=lambda r, t, ip=ip, dev=dev, key=key: (ip, dev, key), p_reason=run_reason,
                        prompts=run_prompts, tokens=tokens, model=r.choice(("large-2026", "large-2026", "medium-2026")),
                        abusive=False)

    # -- abusive segments --------------------------------------------------------------------------
    def farm_place(self, r: Rand, a: SimAccount, op: dict, keys: list[str]):
        nets = op["nets"]
        workers = r.sample(op["workers"], r.integers(1, 3))
        own = [d.id for d in a.devices if d.id]
        rot = op["rot"]
        state = {"slot": None, "ip": None}

        def place(r: Rand, t: int):
            slot = t // rot if rot >= 3600 else None
            if slot is None or slot != state["slot"]:
                state["slot"] = slot
                state["ip"] = r.choice(nets).address(r)
            x = r.random()
            if x < op["p_nodev"]:
                dev = None
            elif own and x < op["p_nodev"] + 0.2:
                dev = own[0]
            else:
                dev = r.choice(workers)
            return state["ip"], dev, keys[0] if len(keys) == 1 else r.choice(keys)
        return place

    def gen_farm(self, r: Rand, a: SimAccount, start: int, out: list) -> None:
        op = self.operators[a.campaign_id]
        keys = [_key_id(r) for _ in range(1 if r.random() < 0.75 else 2)]
        place = self.farm_place(r, a, op, keys)
        prompts = _Prompts(r, personal=0, templates=op["templates"], p_template=op["p_template"], max_flips=3,
                           p_common=0.0)
        first = start + int(r.expo(6 * 3600))
        stop = self.t1 if r.random() < 0.7 else first + int(r.uniform(1, 20) * _DAY)
        stop = min(stop, self.t1)
        model = op["models"].pick(r)
        lo_q, hi_q = op["quota_frac"]
        tz = op["tz"]
        for day in range(first // _DAY, stop // _DAY + 1):
            if r.random() >= op["duty"]:
                continue
            d0 = day * _DAY
            n = int(QUOTA_REQUESTS_PER_DAY * r.uniform(lo_q, hi_q))
            if op["mode"] == "spread":
                a_, b_ = d0 + int(r.uniform(0, 600)), d0 + _DAY - int(r.uniform(0, 900))
            elif op["mode"] == "burst":   # right after the quota reset, as fast as the rate limit allows
                a_ = d0 + int(r.uniform(30, 1800))
                b_ = a_ + int(n * r.uniform(9, 25))
            else:                          # the operator's working day
                a_ = int(d0 - _offset(tz, day) + r.uniform(7.5, 10) * 3600)
                b_ = a_ + int(r.uniform(9, 13) * 3600)
            if a_ < first:
                n = int(n * max(0.0, (b_ - first) / max(1, b_ - a_)))
                a_ = first
            if b_ > stop:
                n = int(n * max(0.0, (stop - a_) / max(1, b_ - a_)))
                b_ = stop
            self.stream(r, out, a=a_, b=b_, n=n, jitter=op["jitter"], place=place, p_reason=op["reason"],
                        prompts=prompts, tokens=op["tokens"], model=model, abusive=True, rot=op["rot"])

    gen_distill_farm = gen_farm
    gen_quota_hugger = gen_farm

    def gen_reasoning_elicitor(self, r: Rand, a: SimAccount, start: int, out: list) -> None:
        op = self.operators[a.campaign_id]
        keys = [_key_id(r)]
        own = [d.id for d in a.devices if d.id] or [r.choice(op["workers"])]
        subs = [s for s in op["resi"] if s.country == a.country] or op["resi"]
        sticky = r.sample(subs, min(len(subs), r.integers(2, 8)))

        def source(r: Rand):
            return r.choice(sticky).host(r), (own[0] if r.random() < 0.9 else r.choice(op["workers"])), keys[0]
        lo, hi = op["daily"]
        daily = r.uniform(lo, hi)
        sessions = r.uniform(2, 5)
        hours = WORK_HOURS if r.random() < 0.6 else HUMAN_HOURS
        self.human(r, out, t_from=start + int(r.expo(3 * 3600)), t_to=self.t1, tz=op["tz"], p_day=r.uniform(0.55, 0.95),
                   weekend=r.uniform(0.5, 1.0), sessions=sessions, hours=hours,
                   req_mean=max(2.0, daily / sessions), gap=r.uniform(15, 70), source=source, p_reason=op["reason"],
                   prompts=_Prompts(r, personal=0, templates=op["templates"], p_template=op["p_template"],
                                    max_flips=4, p_common=0.0),
                   tokens=op["tokens"], models=op["models"], abusive=True, daily_cap=QUOTA_REQUESTS_PER_DAY)

    def gen_resold(self, r: Rand, a: SimAccount, start: int, out: list) -> None:
        """Buyers in distant countries using the account at the same time."""
        geo = self.geo
        if a.fraud:
            op = self.operators.get(a.campaign_id, {})
            restricted = op.get("restricted", False)
            targets = op.get("targets", ["US"])
            t_from = start + int(r.expo(12 * 3600))
        else:
            restricted = False
            targets = [a.country]
            if a.compromised_at is not None and self.campaign[a.id].startswith("ato"):
                t_from = int(a.compromised_at.timestamp()) + int(r.uniform(1, 24) * 3600)
            else:
                t_from = start + int(r.uniform(1, 10) * _DAY)
        if t_from >= self.t1:
            return
        if restricted:
            pool = list(RESTRICTED[:3])
        else:
            pool = [c for c in BUYER_COUNTRIES if c != a.country]
        n_buyers = r.integers(2, 7)
        shared_key = _key_id(r)
        for _ in range(n_buyers):
            cc = r.choice(pool)
            country = COUNTRIES[cc]
            city = country.resident_cities.pick(r)
            tz = city.tz
            if cc in RESTRICTED:   # each buyer picks their own VPN (exit near the target or anywhere)
                exits = [geo.vpn_exit(r, r.choice(targets) if r.random() < 0.4 else None)
                         for _ in range(r.integers(1, 3))]
                leak = geo.residential.get(cc, [])
                nets = exits
            else:
                res = [n for n in geo.residential.get(cc, []) if n.city == city] or geo.residential.get(cc, [])
                nets = r.sample(res, 1) + (r.sample(geo.mobile.get(cc, []), 1) if geo.mobile.get(cc) else [])
                leak = []
            ips = [n.address(r) for n in nets]
            dev = _dev_id(r)
            key = _key_id(r) if r.random() < 0.6 else shared_key

            def source(r: Rand, ips=ips, nets=nets, leak=leak, dev=dev, key=key):
                if leak and r.random() < 0.03:
                    return r.choice(leak).host(r), dev, key
                if r.random() < 0.15:
                    return r.choice(nets).address(r), dev, key
                return r.choice(ips), dev, key
            self.human(r, out, t_from=t_from + int(r.expo(_DAY)), t_to=self.t1, tz=tz, p_day=r.uniform(0.5, 0.95),
                       weekend=r.uniform(0.6, 1.0), sessions=r.uniform(1.5, 3.5), hours=HUMAN_HOURS,
                       req_mean=r.uniform(3, 10), gap=r.uniform(30, 120), source=source,
                       p_reason=r.uniform(0.1, 0.45),
                       prompts=_Prompts(r, personal=r.integers(0, 4), p_personal=0.1, common=self.common),
                       tokens=_Tokens(r.uniform(300, 1500), r.uniform(400, 1000)),
                       models=_models(r, {"large-2026": 0.6, "medium-2026": 0.3, "code-2026": 0.1}), abusive=True,
                       daily_cap=QUOTA_REQUESTS_PER_DAY // n_buyers)


# relative request rate by local hour for production traffic (mean 1 over the day)
_DIURNAL_W = (0.6, 0.35, 0.2, 0.15, 0.12, 0.15, 0.35, 0.7, 1.0, 1.1, 1.15, 1.2,
              1.2, 1.15, 1.1, 1.1, 1.15, 1.2, 1.35, 1.5, 1.6, 1.5, 1.25, 0.9)
_DIURNAL = tuple(w * 24 / sum(_DIURNAL_W) for w in _DIURNAL_W)


def _enforce_quota(chunks: list, cap: int) -> None:
    """The provider's limiter: requests over ``cap`` in a UTC day are rejected (not recorded)."""
    chunks.sort(key=itemgetter(0))
    used: dict[int, int] = defaultdict(int)
    keep = []
    for c in chunks:
        d = c[0] // _DAY
        left = cap - used[d]
        if left <= 0:
            continue
        n = c[1]
        if n > left:
            c = list(c)
            c[7] = max(left, c[7] * left // n)
            c[8] = max(left, c[8] * left // n)
            c[1] = n = left
        used[d] += n
        keep.append(c)
    chunks[:] = keep


def _fold(chunks: list[Chunk]) -> list[list]:
    """Fold one account's request chunks (sorted by time) into records: per minute in quiet hours,
    per hour in busy ones."""
    if not chunks:
        return []
    hours: dict[int, int] = defaultdict(int)
    for c in chunks:
        hours[c[0] // 3600] += c[1]
    agg: dict[tuple, list] = {}
    limit = MINUTE_DETAIL_MAX_PER_HOUR
    for c in chunks:
        t = c[0]
        h = t // 3600
        b = -h - 1 if hours[h] > limit else t // 60
        k = (b, c[2], c[3], c[4], c[5], c[6], c[10])
        e = agg.get(k)
        if e is None:
            agg[k] = list(c)
        else:
            e[1] += c[1]
            e[7] += c[7]
            e[8] += c[8]
    return list(agg.values())


def simulate_usage(world: World, seed: int = 0, days: int | None = None) -> UsageSim:
    """Usage records (contract format, sorted by ``occurred_at``) of ``world``'s accounts from their
    signup until ``world.start + days`` (default: the world's end; more days than the world has
    continues the accounts' usage past it), with per-account ground truth.  Deterministic for
    (world, seed)."""
    if days is not None and days < 1:
        raise ValueError("days must be >= 1")
    # hundreds of thousands of small containers and no cycles: the cyclic GC would only rescan them
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _Sim(world, seed, days).run()
    finally:
        if enabled:
            gc.enable()
