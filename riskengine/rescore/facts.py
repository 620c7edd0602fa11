"""What the policy sees of a re-scored account: the `Facts` of a rescore, built as the table
in riskengine/scoring/policy.py says (which lists, regions and rules apply to a rescore).

An account has many addresses, devices and cards in a window, while the lists name a handful:
each account keeps only its listed values, plus OTHER standing for the rest (the same answer as
a set of all its values, without one per account). Countries are kept only when restricted, for
the same reason.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import numpy as np

from riskengine.rescore.behaviour import BEHAVIOUR_FEATURES
from riskengine.rescore.listed import add_other
from riskengine.rescore.population import Population
from riskengine.scoring.policy import Facts, Policy
from riskengine.signals.ip import GeoIPReaders, ip_signals, located_address
from riskengine.storage import chunked
from riskengine.storage.rescore import account_profiles, usage_ips

SIGNAL_GROUPS = frozenset({"behaviour", "links"})                         # a rescore's `signals`


@dataclass
class RescoreFacts:
    """The few per-account values (indexes into Population.accounts) the policy can act on:
    listed devices, cards and addresses, restricted countries of usage, the account row where
    a list or region names it. `of` gives an account's Facts."""
    pop: Population
    used: dict[int, dict[str, frozenset]] = field(default_factory=dict)
    ip_countries: dict[int, frozenset[str]] = field(default_factory=dict)   # restricted ones only
    profile: dict[int, tuple] = field(default_factory=dict)   # (email, domain, country) where they matter
    groups: frozenset = SIGNAL_GROUPS                          # the signal groups its rules read

    @classmethod
    def build(cls, conn, pop: Population, policy: Policy, readers: GeoIPReaders | None, since: float,
              until: float) -> RescoreFacts:
        used = {i: {name: frozenset(v) for name, v in lists.items()} for i, lists in pop.listed_links.items()}
        facts = cls(pop, used, profile=_profiles(conn, pop.index, policy), groups=_groups_read(policy))
        ranges = policy.allow.ip_ranges + policy.deny.ip_ranges
        regions = policy.restricted and policy.region_actions.get("ip", "ignore") != "ignore"
        if ranges or regions:
            acct, ip, ips = _window_ips(conn, pop, since, until)
            if ranges:
                facts._add_addresses(acct, ip, ips, ranges)
            if regions:
                facts.ip_countries = _restricted_countries(acct, ip, ips, policy.restricted, readers)
        return facts

    def _add_addresses(self, acct, ip, ips, ranges) -> None:
        addrs = [ipaddress.ip_address(x) for x in ips]
        listed = np.fromiter((any(a in net for net in ranges) for a in addrs), bool, len(addrs))
        for a, found in _per_account(acct, ip, listed, lambda j: addrs[j]).items():
            self.used[a] = {**self.used.get(a, {}), "ip_ranges": frozenset(found)}

    def of(self, i: int, behaviour: list) -> Facts:
        """Account i's Facts; `behaviour` is its row of stored behaviour values."""
        pop = self.pop
        account = pop.accounts[i]
        email, domain, country = self.profile.get(i, NO_PROFILE)
        return Facts(event="rescore", account_id=account, email=email, domain=domain, ip=None, device_id=None,
                     card_fingerprint=None, signals=signals(pop, i, behaviour, self.groups),
                     label=pop.labels.get(account), used=self.used.get(i),
                     countries={"declared": frozenset((country,)) if country else NO_COUNTRY,
                                "ip": self.ip_countries.get(i, NO_COUNTRY)})


NO_COUNTRY: frozenset[str] = frozenset()
NO_PROFILE = (None, None, None)


def signals(pop: Population, i: int, behaviour: list, groups: frozenset = SIGNAL_GROUPS) -> dict:
    """The stored answer's `signals` of a rescore (its `groups` of them), which are also what
    its rules see."""
    out = {}
    if "behaviour" in groups:
        out["behaviour"] = dict(zip(BEHAVIOUR_FEATURES, behaviour, strict=True))
    if "links" in groups:
        out["links"] = {"cluster_id": f"cl_{int(pop.cluster[i])}",
                        "cluster_size": int(pop.cluster_feats["cluster_size"][i])}
    return out


def _groups_read(policy: Policy) -> frozenset:
    """The signal groups that rules able to fire in a rescore read: the job builds only those
    for deciding (a million times), since a rule over any other group finds nothing anyway."""
    return SIGNAL_GROUPS & {cond["signal"].split(".")[0] for rule in policy.rules
                            if rule.event in (None, "rescore") for cond in rule.when}


def _profiles(conn, index: dict[str, int], policy: Policy) -> dict[int, tuple]:
    """Account index -> (email, domain, country) of the accounts whose row can matter: a list
    names its email or domain, or its country is restricted. On any other account the policy
    decides the same without them, and a million rows are not kept for nothing."""
    lists = [lst for lst in (policy.allow, policy.deny) if lst.emails or lst.domains]
    declared = policy.restricted if policy.region_actions.get("declared", "ignore") != "ignore" else frozenset()
    if not lists and not declared:
        return {}
    out = {}
    for acct, email, domain, country in account_profiles(conn):
        i = index.get(acct)
        if i is not None and (country and country.upper() in declared or any(
                email and lst.holds("emails", email) or domain and lst.holds("domains", domain) for lst in lists)):
            out[i] = (email, domain, country)
    return out


def _window_ips(conn, pop, since, until) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Distinct (account index, address index) of the window's usage, and the addresses: from
    the usage the population holds, else (Dask: workers read their own) one read of them."""
    u = pop.usage
    if u is None:
        acct, ip, ips = _read_ips(conn, pop.index, since, until)
    else:
        has = u.ip >= 0
        acct, ip, ips = u.account[has], u.ip[has], u.ips
    width = max(len(ips), 1)
    key = np.unique(acct * width + ip)
    return key // width, key % width, ips


def _read_ips(conn, index, since, until, chunk: int = 500_000):
    seen: dict[str, int] = {}
    accts, ips = [], []
    for block in chunked(usage_ips(conn, since, until), chunk):
        a, v = zip(*block, strict=True)
        accts.append(np.fromiter((index.get(x, -1) for x in a), np.int64, len(block)))
        ips.append(np.fromiter((seen.setdefault(x, len(seen)) for x in v), np.int64, len(block)))
    if not accts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), []
    acct, ip = np.concatenate(accts), np.concatenate(ips)
    keep = acct >= 0
    return acct[keep], ip[keep], list(seen)


def _restricted_countries(acct, ip, ips, restricted, readers) -> dict[int, frozenset[str]]:
    """Account index -> the restricted countries its usage addresses point to (most: none)."""
    if readers is None or readers.city is None or not len(ip):
        return {}
    country: list[str | None] = [None] * len(ips)
    for j, c in countries(ips, np.unique(ip).tolist(), readers.city).items():
        country[j] = c.upper() if c and c.upper() in restricted else None
    bad = np.fromiter((c is not None for c in country), bool, len(ips))
    found = _per_account(acct, ip, bad, country.__getitem__, other=False)
    return {a: frozenset(v) for a, v in found.items()}


def countries(ips: list[str], wanted: list[int], city) -> dict[int, str | None]:
    """The country ip_signals gives each wanted address (indexes into `ips`), with one GeoIP
    lookup per network of the file rather than per address: walked in numeric order, an address
    inside the network of the previous lookup has the same record. The partition's own lookups
    already cost seconds per hundred thousand addresses; these must not cost as much again."""
    readers = GeoIPReaders(city=city)
    v4_only = city.metadata().ip_version == 4
    out: dict[int, str | None] = {}
    end, country = None, None
    # the address ip_signals looks up: the IPv4 inside a 6to4, Teredo or NAT64 address
    located = ((located_address(ips[k]), k) for k in wanted)
    for version, value, j, addr in sorted((a.version, int(a), k, a) for a, k in located):
        if version == 6 and v4_only:
            out[j] = None                      # no record, as ip_signals says
            continue
        if end is None or (version, value) > end:
            _, prefix = city.get_with_prefix_len(addr)
            free = (32 if version == 4 else 128) - prefix
            end = (version, (value >> free << free) + (1 << free) - 1)
            country = ip_signals(ips[j], readers).country
        out[j] = country
    return out


def _per_account(acct, ip, listed: np.ndarray, value, other: bool = True) -> dict[int, set]:
    """Account -> value(address) of its listed addresses (plus OTHER when it used others too),
    for the accounts with at least one listed address. Python touches only the listed rows."""
    hit = listed[ip]
    out: dict[int, set] = {}
    for a, j in zip(acct[hit].tolist(), ip[hit].tolist(), strict=True):
        out.setdefault(a, set()).add(value(j))
    if other:
        add_other(out, acct[~hit])
    return out


