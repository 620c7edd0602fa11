"""What-if: the stored signup and login assessments of a period, decided again under a candidate
policy, and how many decisions would change (by event, by what decides now, by label).

The replay uses what the assessment stored: its score (the model's thresholds, with the
candidate's overrides, turn it into the model's decision), its answer's signals (for rules),
the IP and its country, the request's countries and the keyed hashes of its device and card
(the candidate's listed devices and cards are hashed with the service's key to compare). It
does not know what the re-scoring job had decided for the account at the time: a replayed
event carries no rescore verdict. Degraded assessments are replayed with the candidate's
degraded settings."""
from __future__ import annotations

import dataclasses
import ipaddress
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import msgspec

from riskengine.scoring.policy import Facts, Lists, Policy
from riskengine.signals.locale import timezone_countries

STOPPED = ("challenge", "block")
EXAMPLES = 50


class _Answer(msgspec.Struct):
    signals: dict = {}


class _Device(msgspec.Struct, frozen=True):
    timezone: str | None = None


class _Account(msgspec.Struct, frozen=True):
    country: str | None = None


class _Inputs(msgspec.Struct):
    account: _Account = _Account()
    device: _Device | None = None
    links: dict[str, str] = {}


_answer = msgspec.json.Decoder(_Answer)
_inputs = msgspec.json.Decoder(_Inputs)
_NO_INPUTS = _Inputs()


@dataclass
class WhatIf:
    replayed: int = 0
    changed: int = 0
    by_event: Counter = field(default_factory=Counter)        # (event, stored, candidate) of changed ones
    by_decider: Counter = field(default_factory=Counter)      # candidate's decided_by of changed ones
    by_label: Counter = field(default_factory=Counter)        # (label, stored, candidate) of labelled ones
    examples: list = field(default_factory=list)               # (account, event, stored, candidate, decided_by)

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


def hashed_lists(policy: Policy, hasher: Callable[[str, str], str]) -> Policy:
    """The policy with its device and card lists as storage keeps them: keyed hashes."""
    def hashed(lists: Lists) -> Lists:
        return dataclasses.replace(
            lists, device_ids=frozenset(hasher("device", str(v).strip()) for v in lists.device_ids),
            card_fingerprints=frozenset(hasher("payment", str(v).strip()) for v in lists.card_fingerprints))
    return dataclasses.replace(policy, allow=hashed(policy.allow), deny=hashed(policy.deny))


def replay(rows: Iterable, policy: Policy, model_decision: Callable[[str, float], str] | None,
           emails: dict[str, tuple], labels: dict[str, str]) -> WhatIf:
    """`rows`: (event, decision, score, ip, ip_country, account_id, degraded, inputs, response)
    as storage.console.replay_rows streams them; `policy` with hashed lists (hashed_lists);
    `model_decision(event, score)` under the candidate's thresholds; `emails`: account ->
    (email, country) for email lists; `labels`: account -> latest label."""
    out = WhatIf()
    need_inputs = bool(policy.allow.device_ids or policy.allow.card_fingerprints or policy.deny.device_ids
                       or policy.deny.card_fingerprints
                       or (policy.restricted and any(policy.region_actions.get(s, "ignore") != "ignore"
                                                     for s in ("declared", "timezone"))))
    need_email = bool(policy.allow.emails or policy.deny.emails)
    need_ip = bool(policy.allow.ip_ranges or policy.deny.ip_ranges)
    for event, stored, score, ip, ip_country, account, degraded, inputs_raw, response_raw in rows:
        out.replayed += 1
        if degraded:
            verdict = policy.finalize(policy.on_failure(event))
        else:
            answer = _answer.decode(response_raw) if isinstance(response_raw, str | bytes) else \
                msgspec.convert(response_raw, _Answer)
            signals = answer.signals
            inputs = _NO_INPUTS
            if need_inputs and inputs_raw is not None:
                inputs = _inputs.decode(inputs_raw) if isinstance(inputs_raw, str | bytes) else \
                    msgspec.convert(inputs_raw, _Inputs)
            email_signals = signals.get("email") or {}
            phone, payment = signals.get("phone") or {}, signals.get("payment") or {}
            tz = inputs.device.timezone if inputs.device else None
            facts = Facts(
                event=event, account_id=account,
                email=emails.get(account, (None,))[0] if need_email else None,
                domain=email_signals.get("domain"),
                ip=ipaddress.ip_address(ip) if need_ip and ip else None,
                device_id=inputs.links.get("device"), card_fingerprint=inputs.links.get("payment"),
                countries={"ip": _one(ip_country), "declared": _one(inputs.account.country),
                           "phone": _one(phone.get("country")), "card": _one(payment.get("issuing_country")),
                           "billing": _one(payment.get("billing_country")),
                           "timezone": timezone_countries(tz, ip_country) if tz else frozenset()},
                signals=signals)
            decided = model_decision(event, score) if model_decision is not None and score is not None else None
            verdict = policy.finalize(policy.decide(facts, decided))
        new = verdict.decision
        label = labels.get(account)
        if label is not None:
            out.by_label[(label, stored, new)] += 1
        if new != stored:
            out.changed += 1
            out.by_event[(event, stored, new)] += 1
            out.by_decider[verdict.decided_by] += 1
            if len(out.examples) < EXAMPLES:
                out.examples.append((account, event, stored, new, verdict.decided_by))
    return out


def _one(country: str | None) -> frozenset[str]:
    return frozenset((country,)) if country else frozenset()
