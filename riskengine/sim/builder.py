"""The simulated world's data model (events, accounts, campaigns) and the Builder that the
legitimate population and the attack campaigns add to."""
from __future__ import annotations

import time as _time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from riskengine.quantities import utc_offset_seconds
from riskengine.sim.collector import token_for
from riskengine.sim.geo import City, Geo, get_geo
from riskengine.sim.identity import SimDevice
from riskengine.sim.params import WorldParams
from riskengine.sim.rand import Rand, Weighted

UTC = UTC
DEFAULT_START = datetime(2026, 10, 1, tzinfo=UTC)

LEGIT = "legit"
ATTACK_KINDS = ("bulk_farm", "alias_farm", "antidetect_farm", "hydra", "ato", "password_spray")


# ---------------------------------------------------------------------------------------
# Public data model
# ---------------------------------------------------------------------------------------

@dataclass
class SimEvent:
    occurred_at: datetime   # tz-aware UTC, whole seconds (equals body["occurred_at"])
    body: dict              # the /v1/assess request body
    fraud: bool             # ground truth for this event
    campaign: str           # "legit" or the attack kind
    campaign_id: str        # "legit" or an instance id such as "bulk_farm-3"
    segment: str            # finer kind (legit hard-case segment, attack sub-variant)
    challenge: str | None = None   # how a login challenge after this event ended (passed, failed, abandoned)


@dataclass(eq=False)
class SimAccount:
    """One account of the world and what it did (kept for later simulations, e.g. usage)."""
    id: str
    fraud: bool                       # a fake account (legit accounts that get taken over stay False)
    campaign: str
    campaign_id: str
    segment: str
    country: str                      # where the person lives / the country the fake persona claims
    created_at: datetime
    profile: dict                     # the `account` block sent at signup
    devices: list[SimDevice] = field(default_factory=list)
    payment: dict | None = None
    home_city: City | None = None
    operator_country: str | None = None   # fakes: where the operator actually sits
    # (unix ts, ip, device id or None, fraud) of every event that involved the account
    sessions: list[tuple[int, str, str | None, bool]] = field(default_factory=list)
    compromised_at: datetime | None = None  # first successful takeover login, if any
    # generation state (networks the person uses); not part of the public contract
    state: dict = field(default_factory=dict, repr=False)

    @property
    def ips(self) -> list[str]:
        """Distinct addresses the account's own (non-attack) activity came from, first-seen order."""
        return list(dict.fromkeys(ip for _, ip, _, f in self.sessions if f == self.fraud))

    @property
    def device_ids(self) -> list[str]:
        return list(dict.fromkeys(d for _, _, d, f in self.sessions if d and f == self.fraud))


@dataclass
class CampaignInfo:
    id: str
    kind: str
    variant: str
    start: datetime
    end: datetime
    accounts: int            # fake accounts created (signup kinds) or accounts targeted (ato/spray)
    events: int
    operator_country: str | None
    target_countries: tuple[str, ...]
    quality: float           # 0 crude .. 1 careful (fewer tells)


@dataclass
class World:
    seed: int
    start: datetime
    days: int
    events: list[SimEvent]
    accounts: list[SimAccount] = field(default_factory=list)
    campaigns: list[CampaignInfo] = field(default_factory=list)
    geo: Geo = field(default_factory=get_geo, repr=False)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)

    @property
    def legit_accounts(self) -> list[SimAccount]:
        return [a for a in self.accounts if not a.fraud]

    @property
    def fake_accounts(self) -> list[SimAccount]:
        return [a for a in self.accounts if a.fraud]

    def write_geoip(self, directory: str | Path) -> dict[str, Path]:
        """Write the world's GeoIP databases (city.mmdb, asn.mmdb, anonymous.mmdb)."""
        return self.geo.write_geoip(directory)

    def account(self, account_id: str) -> SimAccount:
        idx = self.__dict__.get("_acct_idx")
        if idx is None:
            idx = self.__dict__["_acct_idx"] = {a.id: a for a in self.accounts}
        return idx[account_id]

    def summary(self) -> dict:
        """Counts per campaign kind, instance, segment and event type."""
        from collections import Counter
        out: dict = {
            "events": len(self.events),
            "fraud_events": sum(e.fraud for e in self.events),
            "accounts": Counter("fake" if a.fraud else "legit" for a in self.accounts),
            "by_campaign": Counter(e.campaign for e in self.events),
            "by_segment": Counter((e.campaign, e.segment) for e in self.events),
            "by_event": Counter((e.campaign, e.body["event"]) for e in self.events),
            "instances": Counter(e.campaign_id for e in self.events if e.campaign != LEGIT),
            "legit_accounts_by_segment": Counter(a.segment for a in self.accounts if not a.fraud),
            "fake_accounts_by_campaign": Counter(a.campaign for a in self.accounts if a.fraud),
        }
        return out


# ---------------------------------------------------------------------------------------
# Time helpers
# ---------------------------------------------------------------------------------------

def _utc_offset(tz: str, day: int) -> int:
    """UTC offset (seconds) of ``tz`` at noon UTC of unix day ``day``."""
    return int(utc_offset_seconds(tz, day * 86400 + 43200))


# activity by local hour
HUMAN_HOURS = Weighted(list(enumerate([0.6, 0.35, 0.2, 0.15, 0.12, 0.15, 0.35, 0.7, 1.0, 1.1, 1.15, 1.2,
                                       1.2, 1.15, 1.1, 1.1, 1.15, 1.2, 1.35, 1.5, 1.6, 1.5, 1.25, 0.9])))
WORK_HOURS = Weighted(list(enumerate([0.05, 0.02, 0.02, 0.02, 0.02, 0.05, 0.2, 0.6, 1.4, 1.8, 1.8, 1.6,
                                      1.2, 1.6, 1.8, 1.7, 1.5, 1.0, 0.5, 0.3, 0.25, 0.2, 0.1, 0.08])))


class Clock:
    def __init__(self, start: datetime, days: int):
        self.t0 = int(start.timestamp())
        self.t1 = self.t0 + days * 86400
        self.days = days

    def local_ts(self, rand: Rand, day: int, tz: str, hours: Weighted = HUMAN_HOURS) -> int:
        """A unix time on world day ``day`` at a local hour drawn from ``hours`` in ``tz``."""
        utc_midnight = self.t0 - self.t0 % 86400 + day * 86400
        off = _utc_offset(tz, utc_midnight // 86400)
        return int(utc_midnight - off + hours.pick(rand) * 3600 + rand.random() * 3600)

    def day_of(self, ts: int) -> int:
        return (ts - (self.t0 - self.t0 % 86400)) // 86400


# ---------------------------------------------------------------------------------------
# The builder (shared by the legitimate population and the campaigns)
# ---------------------------------------------------------------------------------------

STREAMS = ("ids", "legit", "legit_logins", "pools", "bulk_farm", "alias_farm", "antidetect_farm", "hydra",
           "ato", "password_spray", "final", "variation", "challenges")   # new streams go last: the others stay


class Builder:
    def __init__(self, seed: int, accounts: int, days: int, start: datetime, attack_share: float,
                 params: WorldParams | None = None):
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        start = start.astimezone(UTC).replace(microsecond=0)
        self.seed = seed
        self.n_legit = accounts
        self.days = days
        self.start = start
        self.params = params or WorldParams(attack_share=attack_share)
        self.attack_share = self.params.attack_share
        self.geo = get_geo()
        self.clock = Clock(start, days)
        self.rs = Rand.streams(seed, STREAMS)
        self.raw: list[tuple] = []
        self.accounts: list[SimAccount] = []
        self.campaigns: list[CampaignInfo] = []
        self._ids: set[str] = set()
        self._emails: set[str] = set()

    # -- ids -----------------------------------------------------------------------------
    def new_account_id(self) -> str:
        r = self.rs["ids"]
        while True:
            aid = "acct_" + r.b32(12)
            if aid not in self._ids:
                self._ids.add(aid)
                return aid

    def unique_email(self, rand: Rand, local: str, domain: str) -> str:
        email = f"{local}@{domain}"
        while email.lower() in self._emails:
            local = f"{local}{rand.integers(1, 100)}"
            email = f"{local}@{domain}"
        self._emails.add(email.lower())
        return email

    def claim_email(self, email: str) -> None:
        self._emails.add(email.lower())

    # -- accounts and events --------------------------------------------------------------
    def add_account(self, *, fraud: bool, campaign: str, campaign_id: str, segment: str, country: str,
                    created_ts: int, profile: dict, devices: list[SimDevice] | None = None,
                    payment: dict | None = None, home_city: City | None = None,
                    operator_country: str | None = None) -> SimAccount:
        acct = SimAccount(id=profile["id"], fraud=fraud, campaign=campaign, campaign_id=campaign_id,
                          segment=segment, country=country,
                          created_at=datetime.fromtimestamp(created_ts, tz=UTC), profile=profile,
                          devices=list(devices or []), payment=payment, home_city=home_city,
                          operator_country=operator_country)
        self.accounts.append(acct)
        return acct

    def emit(self, ts: float, event: str, acct: SimAccount, ip: str, device: SimDevice | None, *,
             fraud: bool, campaign: str, campaign_id: str, segment: str, account_block: dict | None = None,
             tz: str | None = None, payment: dict | None = None, login: tuple[str, str] | None = None,
             device_body: dict | None = None, challenge: str | None = None) -> bool:
        ts = int(ts)
        if ts < self.clock.t0 or ts >= self.clock.t1:
            return False
        if device_body is None and device is not None:
            device_body = device.body(tz)
            if not device.id:
                device_body.pop("id", None)
        if device is not None and device_body is not None:
            token = token_for(device, device_body, ts, ip, fraud=fraud, campaign=campaign)
            if token is not None:
                device_body = {**device_body, "token": token}
        block = account_block if account_block is not None else dict(acct.profile)
        self.raw.append((ts, len(self.raw), event, block, ip, device_body, payment,
                         {"outcome": login[0], "method": login[1]} if login else None,
                         fraud, campaign, campaign_id, segment, challenge))
        acct.sessions.append((ts, ip, device.id if device is not None and device.id else None, fraud))
        if login and login[0] == "success" and fraud and not acct.fraud and acct.compromised_at is None:
            acct.compromised_at = datetime.fromtimestamp(ts, tz=UTC)
        return True

    @staticmethod
    def login_block(rand: Rand, acct: SimAccount) -> dict:
        """What the login service sends about an existing account."""
        p = acct.profile
        b = {"id": acct.id}
        if p.get("email") and rand.random() < 0.92:
            b["email"] = p["email"]
        if rand.random() < 0.5:
            for k in ("phone", "name", "country", "org_type"):
                if k in p:
                    b[k] = p[k]
        return b

    # -- finish -----------------------------------------------------------------------------
    def finish(self) -> World:
        self.raw.sort(key=lambda e: (e[0], e[1]))
        r = self.rs["final"]
        seen: set[str] = set()
        events: list[SimEvent] = []
        fmt = "%Y-%m-%dT%H:%M:%SZ"
        for (ts, _, event, block, ip, device, payment, login, fraud, campaign, cid, seg, challenge) in self.raw:
            eid = "evt_" + r.hex(20)
            while eid in seen:
                eid = "evt_" + r.hex(20)
            seen.add(eid)
            body = {"event": event, "event_id": eid, "occurred_at": _time.strftime(fmt, _time.gmtime(ts)),
                    "account": block, "ip": ip}
            if device is not None:
                body["device"] = device
            if payment is not None:
                body["payment"] = payment
            if login is not None:
                body["login"] = login
            events.append(SimEvent(datetime.fromtimestamp(ts, tz=UTC), body, fraud, campaign, cid, seg, challenge))
        self.accounts.sort(key=lambda a: (a.created_at, a.id))
        return World(seed=self.seed, start=self.start, days=self.days, events=events, accounts=self.accounts,
                     campaigns=sorted(self.campaigns, key=lambda c: (c.start, c.id)), geo=self.geo)
