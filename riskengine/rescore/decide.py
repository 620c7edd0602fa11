"""Decisions and reasons for re-scored accounts."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from riskengine.rescore.partition import ACTIVE_FEATURES, Scored
from riskengine.rescore.population import Population
from riskengine.scoring.reasons import active_reasons



@dataclass
class Outcome:
    account: str
    decision: str
    decided_by: str
    score: float
    reasons: list
    k: int                            # row in the partition's matrix


def decide(pop: Population, rows: np.ndarray, scored: Scored, active_model, policy) -> list[Outcome]:
    out = []
    flagged = []
    for k, i in enumerate(rows):
        acct = pop.accounts[i]
        if acct in scored.bad:
            continue
        score = float(scored.score[k])
        decision, by = active_model.decision("rescore", score, policy.thresholds), "model"
        label = pop.labels.get(acct)
        if label == "fraud":
            decision, by = "block", "rule:analyst_label"
        elif label == "legit":
            decision, by = "allow", "rule:analyst_label"
        if acct in policy.allow.accounts:
            decision, by = "allow", "list:allow_accounts"
        elif acct in policy.deny.accounts:
            decision, by = "block", "list:deny_accounts"
        out.append(Outcome(acct, decision, by, round(score, 6), [], k))
        if decision != "allow" or pop.previous[i] not in (None, "allow"):
            flagged.append((len(out) - 1, k))
    _explain(out, flagged, scored, active_model, pop, rows)
    return out


def _explain(out, flagged, scored, model, pop, rows):
    """Reasons only where an analyst will read them (flagged or changed): contributions
    cost about a prediction each."""
    if not flagged:
        return
    ks = np.asarray([k for _, k in flagged])
    contribs = model.contributions(scored.matrix[ks])
    for (o, k), c in zip(flagged, contribs):
        out[o].reasons = active_reasons(dict(zip(ACTIVE_FEATURES, c[:-1].tolist())),
                                        dict(zip(ACTIVE_FEATURES, scored.matrix[k].tolist())))
        if out[o].decided_by == "rule:analyst_label":
            out[o].reasons.insert(0, {"code": "label.analyst", "weight": 0.0,
                                      "message": f"Labelled {pop.labels[out[o].account]} by an analyst"})
