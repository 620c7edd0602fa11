"""An account's own baseline at login: what this account's past looked like, and how this
event compares with it (not with the population).

Pure: `AccountBaseline` and `NetworkRecent` are plain data, read from and written to one
row each by storage.account_context; `baseline_features` compares an event with them and
`advance` / `advance_network` return the state after the event. The online path and the
training replay both go through scoring.pipeline.observe, so both see the same values.

Identifiers kept here are the event's keyed hashes (scoring.pipeline.link_keys), cut to
KEY_CHARS hex characters: enough to tell one account's few devices and networks apart,
and no more linkable than the full hash. ASN, country and time zone are not identifiers.
Everything is bounded: each kind keeps its MAX_SEEN most recent values, failures their
last day, so a row stays a few kilobytes however busy the account."""
from __future__ import annotations

import json
import math
from dataclasses import astuple, dataclass, field

from riskengine import quantities

KEY_CHARS = 16
MAX_SEEN = 24
MAX_FAILURES = 30
MAX_NETWORK_FAILURES = 300
HOUR = 3600.0
DAY = 86400.0
MIN_SUCCESSES_FOR_HOURS = 5     # below this an hour histogram says nothing
MAX_PENDING = 3                 # recent successes a failed challenge can still take back
PENDING_SECONDS = DAY           # a challenge not answered within a day of its login is not answered
NAN = float("nan")

# Accounts one /24 of each kind of network normally carries (the "expected" sharing that
# subnet_sharing_excess divides by): a carrier's CGNAT /24 hides hundreds of subscribers, a
# campus or office NAT dozens, a home line a family, a server almost nobody.
# A commercial VPN's exit is shared by its subscribers by design (dozens at once on one
# address), although the address sits in a hosting network: 12 accounts behind a VPN exit's
# /24 say nothing, 12 behind a server's do.
EXPECTED_ACCOUNTS_PER_SUBNET = {"cellular": 200.0, "corporate": 40.0, "vpn": 40.0, "residential": 4.0,
                                "hosting": 1.5, "unknown": 6.0}

# Challenge outcomes as the device entry keeps them.
PASSED, FAILED = "passed", "failed"


def short(key: str | None) -> str | None:
    return None if key is None else key[:KEY_CHARS]


@dataclass
class DeviceEntry:
    first: float
    last: float
    successes: int = 0
    passed: float | None = None               # last passed challenge on it
    failed: int = 0                           # failed or abandoned challenges on it
    networks: list[str] = field(default_factory=list)   # subnets a challenge was passed from

    def as_list(self) -> list:
        return [self.first, self.last, self.successes, self.passed, self.failed, self.networks]

    @classmethod
    def from_list(cls, v: list) -> DeviceEntry:
        return cls(float(v[0]), float(v[1]), int(v[2]), v[3], int(v[4]), list(v[5]))


@dataclass
class AccountBaseline:
    events: int = 0
    successes: int = 0
    devices: dict[str, DeviceEntry] = field(default_factory=dict)
    seen: dict[str, dict[str, float]] = field(default_factory=dict)   # kind -> value -> last seen
    last_success: list | None = None          # [ts, lat|None, lon|None, country|None]
    hours: list[int] = field(default_factory=lambda: [0] * 24)        # successes per UTC hour
    anonymizer_uses: int = 0
    failures: list[list] = field(default_factory=list)               # [ts, subnet] of failed logins
    # The last few successes, so that the challenge on their login can still change what
    # they taught: [ts, device, [[kind, value, previous last-seen|None]...], previous
    # last_success, anonymizer 0/1] for one that taught (a failed challenge takes it back),
    # [ts, device, None, the event's fields, 0] for a blocked one (a passed challenge teaches
    # it after all). Entries older than PENDING_SECONDS go.
    pending: list[list] = field(default_factory=list)

    # ---- (de)serialisation: the stored row is this JSON -------------------------------
    def dumps(self) -> str:
        return json.dumps({"v": 1, "n": self.events, "s": self.successes,
                           "d": {k: e.as_list() for k, e in self.devices.items()}, "seen": self.seen,
                           "ls": self.last_success, "h": self.hours, "a": self.anonymizer_uses,
                           "f": self.failures, "p": self.pending}, separators=(",", ":"))

    @classmethod
    def loads(cls, text: str | None) -> AccountBaseline | None:
        if not text:
            return None
        d = json.loads(text)
        return cls(events=d["n"], successes=d["s"], devices={k: DeviceEntry.from_list(v) for k, v in d["d"].items()},
                   seen=d["seen"], last_success=d["ls"], hours=d["h"], anonymizer_uses=d["a"], failures=d["f"],
                   pending=d.get("p", []))      # rows written before pending existed have none


@dataclass
class NetworkRecent:
    failures: list[list] = field(default_factory=list)               # [ts, account] failed logins

    def dumps(self) -> str:
        return json.dumps({"v": 1, "f": self.failures}, separators=(",", ":"))

    @classmethod
    def loads(cls, text: str | None) -> NetworkRecent | None:
        return None if not text else cls(failures=json.loads(text)["f"])


@dataclass(frozen=True)
class LoginEvent:
    """What the baseline looks at in one event (keyed hashes already shortened)."""
    t: float
    login: bool
    outcome: str | None           # success | failure | None (signups)
    account: str | None           # the account's key, for the network's distinct-account count
    device: str | None
    components: str | None
    ip: str | None
    subnet: str | None
    asn: int | None
    country: str | None
    timezone: str | None
    latitude: float | None
    longitude: float | None
    accuracy_km: float | None
    anonymizer: bool | None       # anonymous, VPN, Tor, proxy or hosting


def network_kind(connection_type: str | None, user_type: str | None, hosting: bool | None) -> str:
    """The kind of network for sharing: cellular, corporate, residential, hosting or unknown
    (scoring.features weighs an anonymizing VPN's exit as "vpn", wherever it is hosted)."""
    if hosting or user_type in ("hosting", "content_delivery_network"):
        return "hosting"
    if user_type == "cellular" or connection_type == "Cellular":
        return "cellular"
    if user_type in ("business", "university", "government", "military", "library", "cafe", "college",
                     "school", "traveler") or connection_type == "Corporate":
        return "corporate"
    if user_type == "residential" or connection_type in ("Cable/DSL", "Satellite"):
        return "residential"
    return "unknown"


def subnet_sharing_excess(accounts_on_subnet: float | None, kind: str) -> float:
    """log2 of (other accounts on the subnet in 24 h + 1) / (the kind's usual number + 1):
    about 0 when a subnet carries what its kind of network usually carries, positive when
    more. 200 accounts on a cellular /24 is 0; 12 on a hosting /24 is +2.4."""
    if accounts_on_subnet is None or accounts_on_subnet != accounts_on_subnet:
        return NAN
    return math.log2((accounts_on_subnet + 1.0) / (EXPECTED_ACCOUNTS_PER_SUBNET[kind] + 1.0))


def _tz_country(ev: LoginEvent) -> str | None:
    """The (time zone, IP country) pair, as the baseline keeps it."""
    return None if ev.timezone is None or ev.country is None else f"{ev.timezone}|{ev.country}"


def _known(b: AccountBaseline, kind: str, value) -> float:
    if value is None:
        return NAN
    return float(str(value) in b.seen.get(kind, {}))


def baseline_features(b: AccountBaseline | None, n: NetworkRecent | None, ev: LoginEvent) -> dict[str, float]:
    """The event against its account's baseline and its subnet's recent failures."""
    out: dict[str, float] = {}
    recent_net = [f for f in (n.failures if n else []) if ev.t - HOUR < f[0] <= ev.t]
    day_net = [f for f in (n.failures if n else []) if ev.t - DAY < f[0] <= ev.t]
    out["subnet_failed_accounts_1h"] = float(len({a for _, a in recent_net if a != ev.account}))
    out["subnet_failed_accounts_24h"] = float(len({a for _, a in day_net if a != ev.account}))
    if b is None:
        return out
    out["baseline_successes"] = float(min(b.successes, 1000))
    dev = b.devices.get(ev.device) if ev.device else None
    if ev.device is not None:
        out["device_known_account"] = float(dev is not None and dev.successes > 0 and dev.first < ev.t)
        out["device_successes_account"] = float(min(dev.successes, 100)) if dev else 0.0
        out["device_challenge_passed"] = float(dev is not None and dev.passed is not None)
        out["device_challenge_failed"] = float(dev.failed) if dev else 0.0
        out["remembered_device"] = float(dev is not None and dev.passed is not None
                                         and ev.subnet is not None and ev.subnet in dev.networks)
    for name, kind, value in (("components_known_account", "c", ev.components), ("ip_known_account", "ip", ev.ip),
                              ("subnet_known_account", "sub", ev.subnet), ("asn_known_account", "asn", ev.asn),
                              ("country_known_account", "cc", ev.country),
                              ("timezone_known_account", "tz", ev.timezone),
                              ("timezone_country_known_account", "tzcc", _tz_country(ev))):
        out[name] = _known(b, kind, value)
    if ev.anonymizer is not None:
        out["first_anonymizer_use"] = float(bool(ev.anonymizer) and b.anonymizer_uses == 0 and b.events > 0)
    if b.last_success is not None:
        ts, lat, lon, _ = b.last_success
        out["hours_since_last_success"] = max(0.0, (ev.t - ts) / HOUR)
        if lat is not None and ev.latitude is not None and ev.longitude is not None:
            out["km_from_last_success"] = quantities.great_circle_km(lat, lon, ev.latitude, ev.longitude)
            kmh = quantities.travel_kmh(lat, lon, ts, ev.latitude, ev.longitude, ev.t, ev.accuracy_km)
            out["kmh_from_last_success"] = NAN if kmh is None else kmh
    if b.successes >= MIN_SUCCESSES_FOR_HOURS:
        h = int(ev.t // HOUR) % 24
        near = b.hours[h] + b.hours[(h - 1) % 24] + b.hours[(h + 1) % 24]
        out["hour_typicality"] = near / sum(b.hours)
    recent = [f for f in b.failures if ev.t - HOUR < f[0] <= ev.t]
    out["failures_other_networks_1h"] = float(sum(1 for _, s in recent if s != ev.subnet))
    out["failures_same_network_1h"] = float(sum(1 for _, s in recent if s == ev.subnet))
    return out


def _remember(seen: dict[str, float], value, t: float) -> None:
    if value is None:
        return
    seen[str(value)] = max(t, seen.get(str(value), t))
    if len(seen) > MAX_SEEN:
        del seen[min(seen, key=seen.__getitem__)]


def advance(b: AccountBaseline | None, ev: LoginEvent, refused: bool = False) -> AccountBaseline:
    """The baseline after this event (a new one for an account's first event). `refused`:
    the engine blocked it, so whoever it was did not get in and it teaches nothing about
    the owner's devices and places (its failure, if it failed, still counts); it is held
    back, so that a challenge its sender passes after all can still teach it."""
    b = AccountBaseline() if b is None else AccountBaseline.loads(b.dumps())  # a copy: callers keep theirs
    assert b is not None
    b.events += 1
    failed = ev.login and ev.outcome == "failure"
    if failed:
        b.failures = [f for f in b.failures if f[0] > ev.t - DAY][-(MAX_FAILURES - 1):] + [[ev.t, ev.subnet]]
        return b        # a failed attempt teaches nothing about the owner's devices and places
    if refused:
        _add_pending(b, [ev.t, ev.device, None, list(astuple(ev)), 0])
        return b
    _add_pending(b, _teach(b, ev))
    return b


def _add_pending(b: AccountBaseline, entry: list) -> None:
    b.pending = [p for p in b.pending if p[0] > entry[0] - PENDING_SECONDS][-(MAX_PENDING - 1):] + [entry]


def _teach(b: AccountBaseline, ev: LoginEvent) -> list:
    """Fold a successful event into `b`; returns its pending entry (what to take back)."""
    b.successes += 1
    if ev.device is not None:
        e = b.devices.get(ev.device)
        if e is None:
            e = b.devices[ev.device] = DeviceEntry(ev.t, ev.t)
            if len(b.devices) > MAX_SEEN:
                del b.devices[min(b.devices, key=lambda k: b.devices[k].last)]
        e.first, e.last = min(e.first, ev.t), max(e.last, ev.t)
        e.successes += 1
    taught = []
    for kind, value in (("c", ev.components), ("ip", ev.ip), ("sub", ev.subnet), ("asn", ev.asn),
                        ("cc", ev.country), ("tz", ev.timezone), ("tzcc", _tz_country(ev))):
        if value is not None:
            taught.append([kind, str(value), b.seen.get(kind, {}).get(str(value))])
        _remember(b.seen.setdefault(kind, {}), value, ev.t)
    previous = b.last_success
    if b.last_success is None or ev.t >= b.last_success[0]:
        b.last_success = [ev.t, ev.latitude, ev.longitude, ev.country]
    b.hours[int(ev.t // HOUR) % 24] += 1
    b.anonymizer_uses += int(bool(ev.anonymizer))
    return [ev.t, ev.device, taught, previous, int(bool(ev.anonymizer))]


def advance_network(n: NetworkRecent | None, ev: LoginEvent) -> NetworkRecent | None:
    """The subnet's recent failures after this event; None when it does not change them
    (only failed logins are written: a success costs no write here)."""
    if not (ev.login and ev.outcome == "failure") or ev.subnet is None:
        return None
    kept = [f for f in (n.failures if n else []) if f[0] > ev.t - DAY]
    return NetworkRecent(failures=kept[-(MAX_NETWORK_FAILURES - 1):] + [[ev.t, ev.account]])


def after_challenge(b: AccountBaseline, device: str | None, subnet: str | None, outcome: str,
                    t: float, login_ts: float | None = None) -> AccountBaseline:
    """The baseline after a login challenge on `device` from `subnet` ended with `outcome`:
    passed remembers the device and network for the account; failed or abandoned count
    against the device and take back everything its login taught the baseline (device,
    address, subnet, network, country, time zone, last place and hour), so the next login
    from there is as unfamiliar as the challenged one was. `login_ts`: the time of the
    challenged login (None: the device's latest pending success)."""
    b = AccountBaseline.loads(b.dumps()) or AccountBaseline()
    if device is None:
        return b
    e = b.devices.get(device)
    if e is None:
        e = b.devices[device] = DeviceEntry(t, t)
    if outcome == PASSED:
        held = _pending_of(b, device, login_ts)
        if held is not None and held[2] is None:     # a blocked login whose sender proved to be the owner
            _teach(b, LoginEvent(*held[3]))
        e = b.devices.get(device) or e
        e.passed = t
        if subnet is not None and subnet not in e.networks:
            e.networks = (e.networks + [subnet])[-8:]
        b.pending = [p for p in b.pending if p[1] != device]      # confirmed: nothing to take back
    else:
        # The login it followed may have had the right password: its device was counted as
        # one of the account's own. A failed or abandoned challenge withdraws that, and the
        # networks it was passed from before are no longer vouched for.
        e.failed += 1
        e.successes = 0
        e.networks = []
        _take_back(b, device, login_ts)
    return b


def _pending_of(b: AccountBaseline, device: str, login_ts: float | None) -> list | None:
    """The pending entry of `device`'s login at `login_ts` (None: its latest), taken out."""
    mine = [p for p in b.pending if p[1] == device and (login_ts is None or abs(p[0] - login_ts) < 1e-3)]
    if not mine:
        return None
    b.pending.remove(mine[-1])
    return mine[-1]


def _take_back(b: AccountBaseline, device: str, login_ts: float | None) -> None:
    """Undo the pending success of `device` at `login_ts` (None: its latest): values it
    added are forgotten, values it saw again get their previous last-seen back, unless a
    later event saw them since (then they are that event's too, and stay). A blocked
    login's entry taught nothing: it just goes."""
    entry = _pending_of(b, device, login_ts)
    if entry is None or entry[2] is None:
        return
    ts, _, taught, previous, anonymizer = entry
    for kind, value, before in taught:
        seen = b.seen.get(kind, {})
        if seen.get(value) != ts:
            continue
        if before is None:
            del seen[value]
        else:
            seen[value] = before
    if b.last_success is not None and b.last_success[0] == ts:
        b.last_success = previous
    hour = int(ts // HOUR) % 24
    if b.hours[hour] > 0:
        b.hours[hour] -= 1
    b.successes = max(0, b.successes - 1)
    b.anonymizer_uses = max(0, b.anonymizer_uses - anonymizer)
