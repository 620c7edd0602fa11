"""What-if: the stored signup and login assessments of a period, decided again under a candidate
policy, and how many decisions would change (by event, by what decides now, by label).

The replay uses what the assessment stored: its score (the model's thresholds, with the
candidate's overrides, turn it into the model's decision), the signals of its answer that the
candidate's rules and regions read, the IP and its country, the request's declared country and
time zone, and the keyed hashes of its device and card (the candidate's listed devices and cards
are hashed with the service's key to compare). It does not know what the re-scoring job had
decided for the account at the time: a replayed event carries no rescore verdict. Degraded
assessments are replayed with the candidate's degraded settings.

A million rows in well under a minute: storage hands over only the values the candidate reads
(`paths`: extracted in SQL on SQLite, picked from the stored text by a decoder of those keys
alone on PostgreSQL), and rows that look the same to the policy are decided once: most rows
cost a dictionary lookup."""
from __future__ import annotations

import dataclasses
import ipaddress
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import msgspec

from riskengine.scoring.policy import LIST_FIELDS, Facts, Lists, Policy
from riskengine.signals.locale import timezone_countries

STOPPED = ("challenge", "block")
EXAMPLES = 50
_NONE: frozenset[str] = frozenset()
_decode = msgspec.json.decode

# Region signals read from the stored answer's signals (path); ip from the row, declared and
# timezone from the stored inputs.
_REGION_PATHS = {"phone": "signals.phone.country", "card": "signals.payment.issuing_country",
                 "billing": "signals.payment.billing_country"}
_INPUT_PATHS = {"declared": "account.country", "timezone": "device.timezone",
                "device_ids": "links.device", "card_fingerprints": "links.payment"}


@dataclass
class WhatIf:
    replayed: int = 0
    changed: int = 0
    by_event: Counter = field(default_factory=Counter)        # (event, stored, candidate) of changed ones
    by_decider: Counter = field(default_factory=Counter)      # candidate's decided_by of changed ones
    by_label: Counter = field(default_factory=Counter)        # (label, stored, candidate) of labelled ones
    examples: list = field(default_factory=list)               # (account, event, stored, candidate, decided_by)
    distinct: int = 0                                          # rows the policy saw differently (decided)

    @property
    def fraud_passing(self) -> int:
        """Known fraud stopped today that the candidate would let through."""
        return sum(n for (lb, old, new), n in self.by_label.items()
                   if lb == "fraud" and old in STOPPED and new == "allow")

    @property
    def legit_stopped(self) -> int:
        """Known legitimate accounts let through today that the candidate would stop."""
        return sum(n for (lb, old, new), n in self.by_label.items()
                   if lb == "legit" and old == "allow" and new in STOPPED)


def model_decisions(model, overrides: dict) -> Callable[[str, float], str]:
    """model.decision(event, score, overrides) with each event's thresholds merged once."""
    merged: dict[str, tuple[float, float]] = {}

    def decide(event: str, score: float) -> str:
        t = merged.get(event)
        if t is None:
            both = dict(model.thresholds.get(event) or model.thresholds["signup"])
            both.update((overrides or {}).get(event, {}))
            t = merged[event] = (both["challenge"], both["block"])
        return "block" if score >= t[1] else "challenge" if score >= t[0] else "allow"
    return decide


def hashed_lists(policy: Policy, hasher: Callable[[str, str], str]) -> Policy:
    """The policy with its device and card lists as storage keeps them: keyed hashes."""
    def hashed(lists: Lists) -> Lists:
        return dataclasses.replace(
            lists, device_ids=frozenset(hasher("device", str(v).strip()) for v in lists.device_ids),
            card_fingerprints=frozenset(hasher("payment", str(v).strip()) for v in lists.card_fingerprints))
    return dataclasses.replace(policy, allow=hashed(policy.allow), deny=hashed(policy.deny))


class Replayer:
    """What of a stored row the candidate reads (`response_paths`, `input_paths`, for
    storage.console.replay_rows), and its decisions so far by what it read."""

    def __init__(self, policy: Policy, model_decision: Callable[[str, float], str] | None, emails: dict):
        self.policy, self.model_decision, self.emails = policy, model_decision, emails
        self.rule_paths = sorted({c["signal"] for r in policy.rules for c in r.when})
        acts = policy.region_actions if policy.restricted else {}
        self.regions = tuple(s for s, a in acts.items() if a != "ignore")
        self.lists = tuple(n for n in LIST_FIELDS if n in policy.allow.in_use or n in policy.deny.in_use)
        paths = [f"signals.{p}" for p in self.rule_paths]
        paths += [_REGION_PATHS[s] for s in self.regions if s in _REGION_PATHS]
        if "domains" in self.lists:
            paths.append("signals.email.domain")
        self.response_paths = sorted(set(paths))
        self.input_paths = sorted({_INPUT_PATHS[s] for s in (*self.regions, *self.lists) if s in _INPUT_PATHS})
        self.by_account = bool({"accounts", "emails"} & set(self.lists))
        self.by_ip = "ip_ranges" in self.lists
        self.decided: dict[tuple, tuple[str, str]] = {}

    def decide(self, event, score, ip, ip_country, account, degraded, response_values, input_values):
        """(decision, decided_by) of one stored row under the candidate."""
        if degraded:
            key: tuple = (event, "degraded")
        else:
            decided = self.model_decision(event, score) if self.model_decision is not None and score is not None \
                else None
            key = (event, decided, ip_country, response_values, input_values,
                   account if self.by_account else None, ip if self.by_ip else None)
        found = self.decided.get(key)
        if found is None:
            found = self.decided[key] = self._decide(key) if not degraded else self._degraded(event)
        return found

    def _decide(self, key: tuple) -> tuple[str, str]:
        event, decided, ip_country, response_values, input_values, account, ip = key
        got = dict(zip(self.response_paths, _decode(response_values) if response_values else (), strict=False))
        got.update(zip(self.input_paths, _decode(input_values) if input_values else (), strict=False))
        tz = got.get("device.timezone")
        countries = {"ip": _one(ip_country), "declared": _one(got.get("account.country")),
                     "timezone": timezone_countries(tz, ip_country) if tz else _NONE}
        countries.update({s: _one(got.get(p)) for s, p in _REGION_PATHS.items()})
        signals: dict = {}
        for p in self.rule_paths:
            node = signals
            parts = p.split(".")
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            node[parts[-1]] = got.get(f"signals.{p}")
        facts = Facts(event=event, account_id=account or "", email=self.emails.get(account, (None,))[0],
                      domain=got.get("signals.email.domain"), ip=ipaddress.ip_address(ip) if ip else None,
                      device_id=got.get("links.device"), card_fingerprint=got.get("links.payment"),
                      countries=countries, signals=signals)
        verdict = self.policy.finalize(self.policy.decide(facts, decided))
        return verdict.decision, verdict.decided_by

    def _degraded(self, event: str) -> tuple[str, str]:
        verdict = self.policy.finalize(self.policy.on_failure(event))
        return verdict.decision, verdict.decided_by


def replay(rows: Iterable, replayer: Replayer, labels: dict[str, str]) -> WhatIf:
    """`rows` as storage.console.replay_rows streams them for the replayer's paths; `labels`:
    account -> latest label."""
    out = WhatIf()
    decide = replayer.decide
    changed_by_event, by_decider, by_label = out.by_event, out.by_decider, out.by_label
    n = changed = 0
    for event, stored, score, ip, ip_country, account, degraded, response_values, input_values in rows:
        n += 1
        new, by = decide(event, score, ip, ip_country, account, degraded, response_values, input_values)
        if labels:
            label = labels.get(account)
            if label is not None:
                by_label[(label, stored, new)] += 1
        if new != stored:
            changed += 1
            changed_by_event[(event, stored, new)] += 1
            by_decider[by] += 1
            if len(out.examples) < EXAMPLES:
                out.examples.append((account, event, stored, new, by))
    out.replayed, out.changed, out.distinct = n, changed, len(replayer.decided)
    return out


def _one(country: str | None) -> frozenset[str]:
    return frozenset((country,)) if country else _NONE
