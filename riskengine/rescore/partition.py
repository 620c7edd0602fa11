"""The active-account features and scores of one partition of the population (the unit of
work in-process and on Dask)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from riskengine import storage
from riskengine.rescore.behaviour import (
    BEHAVIOUR_FEATURES,
    IPTable,
    UsageColumns,
    usage_features,
)
from riskengine.rescore.phases import Phases
from riskengine.rescore.population import Population
from riskengine.scoring.features import FEATURES

CLUSTER_FEATURES = ["cluster_size", "cluster_blocked_others", "cluster_fraud_others", "cluster_legit_others",
                    "cluster_signup_burst"]


ACTIVE_FEATURES = ["assess_score", "account_age_days"] + BEHAVIOUR_FEATURES + CLUSTER_FEATURES


@dataclass
class Scored:
    matrix: np.ndarray               # ACTIVE_FEATURES per account (rows of the partition)
    score: np.ndarray
    usage: dict[str, np.ndarray]
    bad: dict[str, str] = field(default_factory=dict)   # account -> why it was skipped
    _lists: dict = field(default_factory=dict, repr=False)

    def matrix_rows(self) -> list[list]:
        """The matrix as rounded Python lists (NaN -> None), built once for the writer."""
        if "matrix" not in self._lists:
            self._lists["matrix"] = _as_lists(self.matrix)
        return self._lists["matrix"]

    def usage_rows(self) -> list[list]:
        if "usage" not in self._lists:
            self._lists["usage"] = _as_lists(np.column_stack([self.usage[f] for f in BEHAVIOUR_FEATURES]))
        return self._lists["usage"]


def _as_lists(matrix: np.ndarray) -> list[list]:
    rounded = np.round(np.asarray(matrix, dtype=np.float64), 4).astype(object)
    rounded[np.isnan(np.asarray(matrix, dtype=np.float64))] = None
    return rounded.tolist()


def partition_features(conn, pop: Population, rows: np.ndarray, readers, assess_model, since: float,
                       until: float, phases: Phases | None = None) -> Scored:
    """ACTIVE_FEATURES for the accounts at `rows` (sorted indexes into pop.accounts)."""
    phases = Phases() if phases is None else phases
    accounts = [pop.accounts[i] for i in rows]
    local = {a: j for j, a in enumerate(accounts)}
    lo, hi = accounts[0], accounts[-1]
    with phases("load"):
        if pop.usage is not None and len(rows) == len(pop.accounts):
            u = pop.usage                  # read once by population(); same indexes
        else:
            u = UsageColumns.from_rows(storage.usage_window(conn, since, until, lo, hi), local)
        latest = _latest_features(conn, local, until, lo, hi)
    with phases("features"):
        ipt = IPTable.lookup(u.ips, readers)
        usage = usage_features(u, len(accounts), ipt, since, until, sharing=pop.sharing[rows])
    with phases("predict"):
        assess, bad = _assess_scores(latest, local, assess_model)
    cols = {"assess_score": assess, "account_age_days": (until - pop.created[rows]) / 86400.0, **usage,
            **{k: v[rows] for k, v in pop.cluster_feats.items()}}
    matrix = np.column_stack([np.asarray(cols[f], dtype=np.float32) for f in ACTIVE_FEATURES])
    return Scored(matrix, np.zeros(len(accounts)), usage, bad)


def score_partition(conn, pop: Population, rows: np.ndarray, readers, assess_model, active_model,
                    since: float, until: float, phases: Phases | None = None) -> Scored:
    phases = Phases() if phases is None else phases
    scored = partition_features(conn, pop, rows, readers, assess_model, since, until, phases)
    with phases("predict"):
        scored.score = active_model.score_batch(scored.matrix)
    return scored


def _latest_features(conn, local, until, lo, hi) -> dict[int, object]:
    """Each account's latest stored signup/login feature vector (raw JSON or list)."""
    latest: dict[int, object] = {}
    for acct, feats, _ in storage.latest_event_features(conn, until, lo, hi):
        j = local.get(acct)
        if j is not None:
            latest[j] = feats
    return latest


def _assess_scores(latest: dict[int, object], local: dict[str, int], model):
    """Scores of the stored vectors by the current assess model; unreadable ones reported."""
    n = len(local)
    matrix = np.full((n, len(model.features)), np.nan, dtype=np.float32)
    bad: dict[str, str] = {}
    names = {j: a for a, j in local.items()}
    # Stored vectors follow FEATURES as it was when stored; the model may order them its own way.
    order = np.asarray([FEATURES.index(f) for f in model.features])
    for j, feats in latest.items():
        try:
            values = json.loads(feats) if isinstance(feats, str) else feats
            if not isinstance(values, list) or len(values) != len(FEATURES):
                raise ValueError(f"stored feature vector has {len(values) if isinstance(values, list) else '?'} "
                                 f"values, expected {len(FEATURES)}")
            matrix[j] = np.asarray(values, dtype=np.float32)[order]     # None -> NaN
        except (ValueError, TypeError) as e:
            bad[names[j]] = f"unreadable stored features: {e}"
    scores = model.score_batch(matrix) if n else np.zeros(0)
    scores[~np.isin(np.arange(n), list(latest))] = np.nan   # never assessed: unknown, not zero
    return scores, bad
