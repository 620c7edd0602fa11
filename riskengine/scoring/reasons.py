"""Stable reason codes and analyst-readable messages that carry the concrete values.

Model reasons come from per-prediction feature contributions: each feature belongs to one
reason code, a code's weight is the sum of its features' log-odds contributions, and only
codes that pushed the score up are shown, strongest first.

Features, their reason codes and the codes' message templates are declared in
`scoring.schema`; this module ranks the codes of one prediction and renders their messages,
for both models (signup/login here, the active-account model through `active_reasons`)."""
from __future__ import annotations

import string
from collections.abc import Callable, Mapping

from riskengine.scoring.features import Signals
from riskengine.scoring.history import History
from riskengine.scoring.schema import ACTIVE, ASSESS, REASONS, SHARED_NOUNS, Schema


def _org(s: Signals) -> str:
    ip = s.ip
    if ip is None or ip.asn is None:
        return "unknown network"
    return f"AS{ip.asn}" + (f" {ip.as_org}" if ip.as_org else "")


def _country(s: Signals) -> str:
    return (s.ip.country if s.ip else None) or "unknown"


def _busiest_window(counts: dict[str, int] | None) -> tuple[str, int]:
    """The shortest window holding the most other accounts (windows nest, so the 30-day
    count is the largest; a shorter window with as many says more)."""
    return max(((w, c) for w, c in (counts or {}).items() if c), key=lambda wc: wc[1], default=("30d", 0))


def _window_words(window: str) -> str:
    return window.replace("h", " hours").replace("d", " days").replace("1 hours", "1 hour")


# Values a message names that are not model features: what the analyst needs to read
# (the domain, the network...), taken from the event's signals and history. Looked up only
# when a message is rendered.
Fact = Callable[[Signals, History | None], object]


def _of(family: str, name: str) -> Fact:
    """A value of one signal family. An event without that family raises AttributeError, which
    `message` answers with the reason's text for an absent value."""
    def fact(s: Signals, h: History | None) -> object:
        signals = getattr(s, family)
        if signals is None:
            raise AttributeError(f"the event has no {family} signals")
        return getattr(signals, name)
    return fact


def _shared(kind: str, part: int) -> Fact:
    """The busiest window's count (part 1) or its words (part 0) of accounts sharing this kind
    of identifier; no history raises AttributeError, as `_of` does."""
    def fact(s: Signals, h: History | None) -> object:
        if h is None:
            raise AttributeError("no history")
        window = _busiest_window(h.shared.get(kind))
        return window[1] if part else _window_words(window[0])
    return fact


FACTS: dict[str, Fact] = {
    "email_domain": _of("email", "domain"),
    "email_local_digits": _of("email", "local_digits"),
    "phone_country": _of("phone", "country"),
    "phone_line_type": _of("phone", "line_type"),
    "ip_org": lambda s, h: _org(s),
    "ip_country": lambda s, h: _country(s),
    "automation_kind": _of("device", "automation_kind"),
    "browser": _of("device", "browser"),
    "bot_kind": _of("device", "bot_kind"),
    "card_country": _of("payment", "issuing_country"),
    "billing_country": _of("payment", "billing_country"),
}
for _kind in SHARED_NOUNS:
    FACTS[f"{_kind}_shared_accounts"] = _shared(_kind, 1)
    FACTS[f"{_kind}_shared_window"] = _shared(_kind, 0)


class Evidence(Mapping):
    """What a message template may name: the prediction's feature values (NaN counts as
    absent) and, with signals, the FACTS. A missing one raises KeyError."""

    def __init__(self, features: dict[str, float], signals: Signals | None = None, history: History | None = None):
        self.features, self.signals, self.history = features, signals, history

    def __getitem__(self, name: str):
        value = self.features.get(name)
        if value is not None and value == value:
            return value
        fact = FACTS.get(name)
        if fact is None or self.signals is None:
            raise KeyError(name)
        return fact(self.signals, self.history)

    def __iter__(self):
        return iter(self.features)

    def __len__(self) -> int:
        return len(self.features)


def message(code: str, evidence: Evidence) -> str:
    reason = REASONS[code]
    try:
        return reason.message.format_map(evidence)
    except (AttributeError, TypeError, KeyError, ValueError):   # a value the message names is absent
        return reason.absent or code


def template_fields(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field}


def ranked_reasons(schema: Schema, contributions: dict[str, float], values: dict[str, float],
                   evidence: Evidence, limit: int = 6, floor: float = 0.05) -> list[dict]:
    """Reason codes whose speaking features pushed the score up by at least `floor`,
    strongest first: a code's weight is the sum of its speaking features' contributions."""
    by_code: dict[str, float] = {}
    for name, contribution in contributions.items():
        feature, x = schema.get(name), values.get(name)
        if (feature is not None and feature.reason and feature.speaks_when is not None and x is not None and x == x
                and feature.speaks_when(x)):
            by_code[feature.reason] = by_code.get(feature.reason, 0.0) + contribution
    ranked = sorted(((c, w) for c, w in by_code.items() if w >= floor), key=lambda cw: -cw[1])[:limit]
    return [{"code": code, "message": message(code, evidence), "weight": round(weight, 3)}
            for code, weight in ranked]


def model_reasons(contributions: dict[str, float], s: Signals, h: History | None, features: dict,
                  limit: int = 6, floor: float = 0.05) -> list[dict]:
    return ranked_reasons(ASSESS, contributions, features, Evidence(features, s, h), limit, floor)


def active_reasons(contribs: dict[str, float], values: dict[str, float], limit: int = 6) -> list[dict]:
    """Reasons of a re-scored account, from the active model's contributions and values."""
    return ranked_reasons(ACTIVE, contribs, values, Evidence(values), limit)


def _facts(s: Signals) -> list[str]:
    """Suspicious facts shown even when the model gave them little weight: the contract
    promises that content which is merely suspicious is reported as a reason."""
    facts = []
    if s.email is not None and not s.email.valid:
        facts.append("email.invalid")
    if s.email is not None and s.email.disposable:
        facts.append("email.disposable")
    if s.phone is not None and not s.phone.valid:
        facts.append("phone.invalid")
    if s.device is not None and s.device.ua_missing:
        facts.append("device.no_user_agent")
    if s.device is not None and s.device.automation:
        facts.append("device.automation")
    if s.ip is not None and s.ip.tor:
        facts.append("ip.tor")
    return facts


def explain(contributions: dict[str, float], s: Signals, h: History | None, features: dict,
            limit: int = 6) -> list[dict]:
    reasons = model_reasons(contributions, s, h, features, limit=limit)
    shown = {r["code"] for r in reasons}
    weights: dict[str, float] = {}
    for name, value in contributions.items():
        feature = ASSESS.get(name)
        if feature is not None and feature.reason:
            weights[feature.reason] = weights.get(feature.reason, 0.0) + value
    evidence = Evidence(features, s, h)
    for code in _facts(s):
        if code not in shown:
            reasons.append({"code": code, "message": message(code, evidence),
                            "weight": round(max(weights.get(code, 0.0), 0.0), 3)})
            shown.add(code)
    return sorted(reasons, key=lambda r: -r["weight"])
