"""Decisions and reasons for re-scored accounts: the active model's score, decided by the same
policy as /v1/assess (Policy.decide, then Policy.finalize for monitor mode)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from riskengine.rescore import facts as rescore_facts
from riskengine.rescore.partition import ACTIVE_FEATURES, Scored
from riskengine.rescore.population import Population
from riskengine.scoring.reasons import active_reasons


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
    for (o, k), c in zip(flagged, contribs, strict=True):
        out[o].reasons += active_reasons(dict(zip(ACTIVE_FEATURES, c[:-1].tolist(), strict=True)),
                                         dict(zip(ACTIVE_FEATURES, scored.matrix[k].tolist(), strict=True)))

