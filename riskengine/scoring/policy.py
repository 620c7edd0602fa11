"""The policy: lists, restricted regions, hard rules, thresholds, monitor mode and what to do
when a dependency fails. Loaded from TOML; decides on top of the model's score.

One policy decides every answer: /v1/assess (signup, login) and the re-scoring job (rescore)
both build `Facts`, call `Policy.decide` and then `Policy.finalize` (monitor mode), with the same
precedence: an allow list wins outright, a deny list blocks, then the model's decision (or, in
a rescore, the account's latest analyst label: fraud blocks, legit allows) under a floor set by
restricted regions and hard rules.

A rescore judges an account over the job's window, not one event. What it knows, and so what
of the policy applies to it (rescore/facts.py builds these Facts):

  lists    accounts            the account id
           emails, domains     the account row: the latest email the account gave
           device_ids,         the devices and cards linked to the account in the window (by its
           card_fingerprints   signups, logins and usage). Storage keeps only their keyed hashes,
                               so the listed values are hashed with the service's key and compared
                               hash to hash.
           ip_ranges           the addresses of the account's usage in the window
           A deny list blocks when one of the account's values is listed; an allow list
           vouches only when all of them are (one allowed office address does not clear an
           account also used from a farm).
  regions  declared            the account row's country
           ip                  the countries of its usage addresses: where it was actually served
                               (a signup or login address was checked at the event, which a
                               restricted region refused)
           phone, card,        not re-checked: storage keeps no raw phone or card, and they were
           billing, timezone   checked when the signup or login was assessed
  rules    rules whose `event` is "rescore" or unset, over the signals its stored answer shows:
             behaviour.<name>  each of rescore.behaviour.BEHAVIOUR_FEATURES, e.g.
                               behaviour.usage_reasoning_share, behaviour.usage_requests (per day),
                               as stored: rounded to 4 places, null without usage in the window
             links.cluster_id, links.cluster_size
           Event signals (ip.*, email.*, velocity.*, ...) are absent from a rescore, and an
           absent signal never fires a rule: a rule without `event` fires in a rescore only
           through behaviour.* or links.* conditions.
  monitor  the answer is allow and monitored_decision what enforcing decides. The account keeps
           enforcement's verdict (account.rescore_decision), so a later login answers allow with
           monitored_decision block under monitor mode, and is blocked once the policy enforces.
"""
from __future__ import annotations

import ipaddress
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from riskengine.config import DEFAULT_POLICY, parse_rate_limits

SEVERITY = {"allow": 0, "challenge": 1, "block": 2}
LIST_FIELDS = ("emails", "domains", "ip_ranges", "device_ids", "card_fingerprints", "accounts")
REGION_SIGNALS = ("ip", "declared", "phone", "card", "billing", "timezone")
OPS = ("equals", "in", "gte", "lte")
EVENTS = ("signup", "login", "rescore")
# looked up with an account's label, None when it has none
LABEL_DECISIONS: dict[str | None, str] = {"fraud": "block", "legit": "allow"}


class _Other:
    """A value that no list names. A rescore has millions of window values and the lists a
    handful, so the job keeps only the listed ones and stands for the rest with OTHER."""

    def __repr__(self) -> str:
        return "OTHER"

    def __reduce__(self):
        return "OTHER"        # unpickles as this module's OTHER: `is OTHER` holds in every process


OTHER = _Other()


class PolicyError(ValueError):
    pass


@dataclass(frozen=True)
class Lists:
    emails: frozenset = frozenset()
    domains: frozenset = frozenset()
    ip_ranges: tuple = ()
    device_ids: frozenset = frozenset()
    card_fingerprints: frozenset = frozenset()
    accounts: frozenset = frozenset()

    def __post_init__(self) -> None:
        # The lists in use, in checking order (frozen, so it stays true): most policies list
        # little, and the re-scoring job asks a million times.
        self.in_use: tuple[str, ...]
        object.__setattr__(self, "in_use", tuple(name for name in LIST_FIELDS if getattr(self, name)))

    @classmethod
    def parse(cls, raw: dict, where: str) -> Lists:
        unknown = set(raw) - set(LIST_FIELDS)
        if unknown:
            raise PolicyError(f"{where}: unknown list(s) {sorted(unknown)}")
        try:
            ranges = tuple(ipaddress.ip_network(r, strict=False) for r in raw.get("ip_ranges", []))
        except ValueError as e:
            raise PolicyError(f"{where}.ip_ranges: {e}") from None

        def low(name):
            return frozenset(str(v).strip().lower() for v in raw.get(name, []))

        return cls(emails=low("emails"), domains=low("domains"), ip_ranges=ranges,
                   device_ids=frozenset(raw.get("device_ids", [])),
                   card_fingerprints=frozenset(raw.get("card_fingerprints", [])),
                   accounts=frozenset(raw.get("accounts", [])))

    def match(self, facts: Facts, every: bool = False) -> str | None:
        """The name of the first list that holds the subject's value. A rescore's subject is an
        account over a window, with many addresses, devices and cards: with `every` (allow
        lists) all of them must be listed, else (deny lists) one is enough. An event has one
        value of each, so both read the same for it."""
        quantifier = all if every else any
        for name in self.in_use:
            values = facts.values(name)
            if values and quantifier(self.holds(name, v) for v in values):
                return name
        return None

    def holds(self, name: str, value) -> bool:
        """Whether the list `name` holds one value of the subject."""
        if value is OTHER:
            return False
        if name == "emails":
            return value.lower() in self.emails
        if name == "domains":
            return _domain_listed(value, self.domains)
        if name == "ip_ranges":
            return any(value in net for net in self.ip_ranges)
        return value in getattr(self, name)


def _domain_listed(domain: str, listed: frozenset) -> bool:
    parts = domain.lower().split(".")
    return any(".".join(parts[i:]) in listed for i in range(len(parts)))


@dataclass
class Facts:
    """The raw values a policy looks at (lists compare raw values, before hashing)."""
    event: str                            # signup | login | rescore
    account_id: str
    email: str | None
    domain: str | None
    ip: object
    device_id: str | None
    card_fingerprint: str | None
    countries: dict[str, frozenset[str]]  # region signal -> ISO countries it points to
    signals: dict                         # the answer's signals object, for rules
    rescore_decision: str | None = None   # what the re-scoring job last decided for the account
    label: str | None = None              # the account's latest analyst label (fraud | legit)
    # A rescore: what the account used in the window, per list (ip_ranges, device_ids,
    # card_fingerprints), as the listed values plus OTHER for the rest. Replaces the event's one value.
    used: dict[str, frozenset] | None = None

    def values(self, name: str):
        """The subject's values for the list `name` (a list field)."""
        if self.used is not None and name in _WINDOW_LISTS:
            return self.used.get(name, ())
        value = getattr(self, _EVENT_VALUE[name])
        return () if value is None or value == "" else (value,)


_EVENT_VALUE = {"emails": "email", "domains": "domain", "ip_ranges": "ip", "device_ids": "device_id",
                "card_fingerprints": "card_fingerprint", "accounts": "account_id"}
_WINDOW_LISTS = ("ip_ranges", "device_ids", "card_fingerprints")


@dataclass
class Rule:
    name: str
    action: str
    when: list[dict]
    event: str | None = None

    def fires(self, facts: Facts) -> bool:
        if self.event and self.event != facts.event:
            return False
        return all(_holds(c, facts.signals) for c in self.when)


def _lookup(signals: dict, path: str):
    value: object = signals
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _holds(cond: dict, signals: dict) -> bool:
    value = _lookup(signals, cond["signal"])
    if value is None:
        return False          # an absent signal never fires a rule
    if "equals" in cond:
        return value == cond["equals"]
    if "in" in cond:
        return value in cond["in"]
    if "gte" in cond:
        return isinstance(value, (int, float)) and value >= cond["gte"]
    return isinstance(value, (int, float)) and value <= cond["lte"]


@dataclass
class Verdict:
    decision: str
    decided_by: str
    reasons: list[dict] = field(default_factory=list)
    monitored: str | None = None          # set by finalize in monitor mode: what enforcing would answer


def _default_degraded() -> dict:
    return {"signup": "fail_closed", "login": "fail_open", "fail_closed_decision": "challenge"}


@dataclass
class Policy:
    version: str
    mode: str = "enforce"
    thresholds: dict = field(default_factory=dict)
    degraded: dict = field(default_factory=_default_degraded)
    allow: Lists = field(default_factory=Lists)
    deny: Lists = field(default_factory=Lists)
    restricted: frozenset = frozenset()
    region_actions: dict = field(default_factory=dict)
    challenges: dict = field(default_factory=lambda: {"default": ["email_verification"]})
    rules: list[Rule] = field(default_factory=list)
    # `group=N/unit;...` from the [rate_limits] table; RISKENGINE_RATE_LIMITS wins over it
    rate_limits: str | None = None

    @classmethod
    def load(cls, path: str | Path | None = None) -> Policy:
        path = Path(path) if path else DEFAULT_POLICY
        try:
            raw = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise PolicyError(f"cannot read policy {path}: {e}") from None
        return cls.parse(raw)

    @classmethod
    def parse(cls, raw: dict) -> Policy:
        if "version" not in raw:
            raise PolicyError("policy: `version` is required")
        mode = raw.get("mode", "enforce")
        if mode not in ("enforce", "monitor"):
            raise PolicyError(f"policy.mode: {mode!r} is not enforce or monitor")
        regions = dict(raw.get("restricted_regions", {}))
        countries = frozenset(c.upper() for c in regions.pop("countries", []))
        for name, action in regions.items():
            if name not in REGION_SIGNALS or action not in ("block", "challenge", "ignore"):
                raise PolicyError(f"restricted_regions.{name}: {action!r} is not block, challenge or ignore")
        degraded = {**_default_degraded(), **raw.get("degraded", {})}
        for event in ("signup", "login"):
            if degraded[event] not in ("fail_open", "fail_closed"):
                raise PolicyError(f"degraded.{event}: must be fail_open or fail_closed")
        if degraded["fail_closed_decision"] not in ("challenge", "block"):
            raise PolicyError("degraded.fail_closed_decision: must be challenge or block")
        return cls(
            version=str(raw["version"]), mode=mode, thresholds=raw.get("thresholds", {}), degraded=degraded,
            allow=Lists.parse(raw.get("allow", {}), "allow"), deny=Lists.parse(raw.get("deny", {}), "deny"),
            restricted=countries, region_actions=regions,
            challenges=raw.get("challenges", {"default": ["email_verification"]}),
            rules=[_parse_rule(r, i) for i, r in enumerate(raw.get("rules", []))],
            rate_limits=_rate_limits(raw.get("rate_limits")),
        )

    def decide(self, facts: Facts, model_decision: str | None) -> Verdict:
        """Lists and rules over the model: an allow list wins outright (over labels too), a deny
        list blocks, an analyst's label replaces the model's decision, and region and hard rules
        set a floor that the model (or the label) can only raise."""
        return self._listed(facts) or self._floors(facts, _base(facts, model_decision))

    def _listed(self, facts: Facts) -> Verdict | None:
        listed = self.allow.match(facts, every=True)
        if listed:
            return Verdict("allow", f"list:allow_{listed}",
                           [{"code": "list.allow", "message": f"On the allow list ({listed})", "weight": 0.0}])
        listed = self.deny.match(facts)
        if listed:
            return Verdict("block", f"list:deny_{listed}",
                           [{"code": "list.deny", "message": f"On the deny list ({listed})", "weight": 0.0}])
        return None

    def _floors(self, facts: Facts, best: Verdict) -> Verdict:
        if facts.rescore_decision in ("challenge", "block"):
            # A live account the re-scoring job flagged stays flagged at its next login.
            best.reasons.append({"code": "account.rescored", "weight": 0.0,
                                 "message": f"Re-scoring flagged this account ({facts.rescore_decision})"})
            best = _raise(best, facts.rescore_decision, "rule:rescore")
        for signal, countries in facts.countries.items():
            hit = sorted(c for c in countries if c.upper() in self.restricted) if countries else ()
            action = self.region_actions.get(signal, "ignore") if hit else "ignore"
            if action != "ignore":
                best.reasons.append({"code": f"region.restricted_{signal}",
                                     "message": f"{signal} points to restricted region {', '.join(hit)}",
                                     "weight": 0.0})
                best = _raise(best, action, "rule:restricted_region")
        for rule in self.rules:
            if rule.event is not None and rule.event != facts.event:
                continue          # before the call: the re-scoring job decides a million times
            if rule.fires(facts):
                best.reasons.append({"code": f"rule.{rule.name}", "message": f"Policy rule {rule.name}",
                                     "weight": 0.0})
                best = _raise(best, rule.action, f"rule:{rule.name}")
        return best

    def finalize(self, verdict: Verdict) -> Verdict:
        """What is answered. In monitor mode always allow, with `monitored` saying what enforcing
        would answer; decided_by and reasons stay those of the decision monitored."""
        if self.mode != "monitor":
            return verdict
        return Verdict("allow", verdict.decided_by, verdict.reasons, monitored=verdict.decision)

    def challenge_types(self, reasons: list[dict]) -> list[str]:
        out: list[str] = []
        for r in reasons:
            code = r["code"]
            for t in self.challenges.get(code) or self.challenges.get(code.split(".")[0]) or []:
                if t not in out:
                    out.append(t)
        return out or list(self.challenges.get("default", ["email_verification"]))

    def on_failure(self, event: str) -> Verdict:
        mode = self.degraded[event]
        decision = "allow" if mode == "fail_open" else self.degraded["fail_closed_decision"]
        return Verdict(decision, mode)


def _base(facts: Facts, model_decision: str | None) -> Verdict:
    """The model's decision, or an analyst's where the account carries a label: a person looked.
    Only the re-scoring job reads labels; an event's facts carry none."""
    decision = LABEL_DECISIONS.get(facts.label)
    if decision is None:
        return Verdict(model_decision or "allow", "model")
    return Verdict(decision, "rule:analyst_label", [
        {"code": "label.analyst", "message": f"Labelled {facts.label} by an analyst", "weight": 0.0}])


def _raise(best: Verdict, action: str, by: str) -> Verdict:
    if SEVERITY[action] > SEVERITY[best.decision] or (
            SEVERITY[action] == SEVERITY[best.decision] and best.decided_by == "model" and action != "allow"):
        return Verdict(action, by, best.reasons)
    return best


def _parse_rule(raw: dict, i: int) -> Rule:
    where = f"rules[{i}]"
    if not raw.get("name"):
        raise PolicyError(f"{where}.name is required")
    if raw.get("action") not in ("challenge", "block"):
        raise PolicyError(f"{where}.action: must be challenge or block")
    if raw.get("event") not in (None, *EVENTS):
        raise PolicyError(f"{where}.event: must be {', '.join(EVENTS[:-1])} or {EVENTS[-1]}")
    when = raw.get("when") or []
    if not when:
        raise PolicyError(f"{where}.when: at least one condition is required")
    for j, cond in enumerate(when):
        ops = [op for op in OPS if op in cond]
        if "signal" not in cond or len(ops) != 1:
            raise PolicyError(f"{where}.when[{j}]: needs `signal` and exactly one of {', '.join(OPS)}")
    return Rule(name=raw["name"], action=raw["action"], when=when, event=raw.get("event"))


def _rate_limits(table: dict | None) -> str | None:
    """The [rate_limits] table (`assess = "300/second"`) in RISKENGINE_RATE_LIMITS' form."""
    if table is None:
        return None
    text = ";".join(f"{group}={limit}" for group, limit in table.items())
    try:
        parse_rate_limits(text)
    except ValueError as e:
        raise PolicyError(f"rate_limits: {e}") from None
    return text
