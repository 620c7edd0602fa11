"""Decisions and reasons for re-scored accounts: the active model's score, decided by the same
policy as /v1/assess (Policy.decide, then Policy.finalize for monitor mode)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from riskengine.rescore import facts as rescore_facts
from riskengine.rescore.partition import ACTIVE_FEATURES, Scored
from riskengine.rescore.population import Population


@dataclass
class Outcome:
    account: str
    decision: str                     # answered: "allow" in monitor mode
    decided_by: str
    score: float
    reasons: list
    k: int                            # row in the partition's matrix
    monitored: str | None = None      # in monitor mode: what enforcing decides

    @property
    def verdict(self) -> str:
        """What enforcing decides: the account's re-scoring verdict, whatever the mode."""
        return self.monitored or self.decision


def decide(pop: Population, rows: np.ndarray, scored: Scored, active_model, policy,
           facts: rescore_facts.RescoreFacts) -> list[Outcome]:
    out = []
    flagged = []
    behaviour = scored.usage_rows()
    for k, i in enumerate(rows):
        acct = pop.accounts[i]
        if acct in scored.bad:
            continue
        score = float(scored.score[k])
        answer = policy.finalize(policy.decide(facts.of(i, behaviour[k]),
                                               active_model.decision("rescore", score, policy.thresholds)))
        out.append(Outcome(acct, answer.decision, answer.decided_by, round(score, 6), answer.reasons, k,
                           answer.monitored))
        if out[-1].verdict != "allow" or pop.previous[i] not in (None, "allow"):
            flagged.append((len(out) - 1, k))
    _explain(out, flagged, scored, active_model)
    return out


def _explain(out, flagged, scored, model):
    """The model's reasons after the policy's, only where an analyst will read them (flagged
    or changed): contributions cost about a prediction each."""
    if not flagged:
        return
    ks = np.asarray([k for _, k in flagged])
    contribs = model.contributions(scored.matrix[ks])
    for (o, k), c in zip(flagged, contribs):
        out[o].reasons += active_reasons(dict(zip(ACTIVE_FEATURES, c[:-1].tolist())),
                                         dict(zip(ACTIVE_FEATURES, scored.matrix[k].tolist())))


ACTIVE_CODES = {
    "assess_score": ("account.signup_risk", lambda v: v >= 0.2, "Signup/login signals score {v:.2f}"),
    "usage_reasoning_share": ("usage.reasoning_elicitation", lambda v: v >= 0.5,
                              "Asks the model to show its reasoning in {v:.0%} of requests"),
    "usage_night_share": ("usage.night_activity", lambda v: v >= 0.3, "{v:.0%} of requests at night, local time"),
    "usage_hour_entropy": ("usage.around_the_clock", lambda v: v >= 0.9, "Active around the clock (hour entropy {v:.2f})"),
    "usage_interarrival_cv": ("usage.machine_timing", lambda v: v <= 0.5, "Machine-regular request timing (CV {v:.2f})"),
    "usage_quota_use": ("usage.quota_hugging", lambda v: v >= 0.7, "Runs at {v:.0%} of the daily quota"),
    "usage_template_sharing": ("usage.shared_templates", lambda v: v >= 1,
                               "Sends near-identical prompts to {v:.0f} other accounts"),
    "usage_distinct_ips": ("usage.many_ips", lambda v: v >= 10, "Used from {v:.0f} IP addresses"),
    "usage_distinct_asns": ("usage.many_networks", lambda v: v >= 5, "Used from {v:.0f} networks"),
    "usage_distinct_countries": ("usage.many_countries", lambda v: v >= 3, "Used from {v:.0f} countries"),
    "usage_anonymous_ip_share": ("usage.anonymous_ips", lambda v: v >= 0.3, "{v:.0%} of requests via anonymizers"),
    "usage_hosting_ip_share": ("usage.hosting_ips", lambda v: v >= 0.5, "{v:.0%} of requests from hosting providers"),
    "usage_max_kmh": ("usage.simultaneous_places", lambda v: v >= 1000, "Used from distant places at once ({v:.0f} km/h)"),
    "usage_fast_hops": ("usage.simultaneous_places", lambda v: v >= 1, "{v:.0f} hops between distant places"),
    "usage_output_ratio": ("usage.long_outputs", lambda v: v >= 2, "Outputs {v:.1f}x longer than inputs"),
    "usage_requests": ("usage.volume", lambda v: v >= 300, "{v:.0f} requests a day"),
    "cluster_size": ("cluster.size", lambda v: v >= 3, "In a cluster of {v:.0f} linked accounts"),
    "cluster_blocked_others": ("cluster.blocked_members", lambda v: v > 0, "{v:.0%} of its cluster is blocked"),
    "cluster_fraud_others": ("cluster.fraud_labels", lambda v: v >= 1, "{v:.0f} cluster members labelled fraud"),
    "cluster_signup_burst": ("cluster.signup_burst", lambda v: v >= 0.5, "{v:.0%} of its cluster signed up within an hour"),
    "account_age_days": ("account.new", lambda v: v < 2, "Account is {v:.1f} days old"),
}


def active_reasons(contribs: dict[str, float], values: dict[str, float], limit: int = 6) -> list[dict]:
    by_code: dict[str, tuple[float, str]] = {}
    for f, c in contribs.items():
        entry = ACTIVE_CODES.get(f)
        v = values.get(f)
        if entry is None or v is None or v != v or not entry[1](v):
            continue
        code, _, template = entry
        total = by_code.get(code, (0.0, ""))[0] + c
        by_code[code] = (total, by_code.get(code, (0, template.format(v=v)))[1] or template.format(v=v))
    ranked = sorted(((c, w, m) for c, (w, m) in by_code.items() if w >= 0.05), key=lambda x: -x[1])[:limit]
    return [{"code": c, "message": m, "weight": round(w, 3)} for c, w, m in ranked]
