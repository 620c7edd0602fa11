"""The active-account features and scores of one partition of the population (the unit of
work in-process and on Dask)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from riskengine import storage
from riskengine.quantities import account_age_days_np
from riskengine.rescore.behaviour import (
    BEHAVIOUR_FEATURES,
    IPTable,
    UsageColumns,
    usage_features,
)
from riskengine.rescore.phases import Phases
from riskengine.rescore.population import Population
from riskengine.scoring.schema import ACTIVE, layout_names

# The active model's feature order: the schema's, kept exactly (the shipped model's own).
ACTIVE_FEATURES: list[str] = ACTIVE.names


CLUSTER_FEATURES = ACTIVE.family("cluster")     # what clusters.cluster_features builds


@dataclass
class Scored:
    matrix: np.ndarray               # ACTIVE_FEATURES per account (rows of the partition)
    score: np.ndarray
    usage: dict[str, np.ndarray]
    bad: dict[str, str] = field(default_factory=dict)   # account -> why it was skipped
    _lists: dict = field(default_factory=dict, repr=False)

    def matrix_rows(self) -> list[dict]:
        """The matrix as the rows the writer stores: rounded values (NaN -> None) with their
        layout id, like every stored feature vector (schema.stored_features). Built once."""
        if "matrix" not in self._lists:
            self._lists["matrix"] = [{"layout": ACTIVE.layout, "values": row} for row in _as_lists(self.matrix)]
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
    cols = {"assess_score": assess, "account_age_days": account_age_days_np(pop.created[rows], until), **usage,
            **{k: v[rows] for k, v in pop.cluster_feats.items()}}
    return Scored(_matrix(cols), np.zeros(len(accounts)), usage, bad)


def _matrix(cols: dict[str, np.ndarray]) -> np.ndarray:
    """The columns in ACTIVE_FEATURES order. A column built but not declared (or declared
    but not built) is a programming error: it would be dropped or missing silently."""
    if set(cols) != set(ACTIVE_FEATURES):
        raise ValueError(f"active features built {sorted(set(cols) - set(ACTIVE_FEATURES))} undeclared, "
                         f"declared {sorted(set(ACTIVE_FEATURES) - set(cols))} unbuilt")
    return np.column_stack([np.asarray(cols[f], dtype=np.float32) for f in ACTIVE_FEATURES])


def score_partition(conn, pop: Population, rows: np.ndarray, readers, assess_model, active_model,
                    since: float, until: float, phases: Phases | None = None) -> Scored:
    phases = Phases() if phases is None else phases
    scored = partition_features(conn, pop, rows, readers, assess_model, since, until, phases)
    with phases("predict"):
        scored.score = active_model.score_batch(scored.matrix)
    return scored


def _latest_features(conn, local, until, lo, hi) -> dict[int, object]:
    """Each account's latest stored signup/login feature vector (raw JSON text or parsed)."""
    latest: dict[int, object] = {}
    for acct, feats, _ in storage.latest_event_features(conn, until, lo, hi):
        j = local.get(acct)
        if j is not None:
            latest[j] = feats
    return latest


def _assess_scores(latest: dict[int, object], local: dict[str, int], model):
    """Scores of the stored vectors by the current assess model; unreadable ones reported.

    A stored vector is {"layout": id, "values": [...]}; its values are aligned by name to the
    model's feature list through the layout's names, and a feature a layout lacks (added
    after the row was stored) is NaN, missing to XGBoost."""
    n = len(local)
    matrix = np.full((n, len(model.features)), np.nan, dtype=np.float32)
    bad: dict[str, str] = {}
    names = {j: a for a, j in local.items()}
    alignments: dict[str, _Alignment | None] = {}
    for j, stored in _parsed(latest, bad, names):
        try:
            layout, values = stored["layout"], stored["values"]
            if layout not in alignments:
                alignments[layout] = _Alignment.of(layout, model.features)
            align = alignments[layout]
            if align is None:
                raise ValueError(f"unknown layout {layout!r} (written by a newer riskengine?)")
            if len(values) != align.length:
                raise ValueError(f"{len(values)} values, layout {layout} has {align.length}")
            matrix[j, align.model_columns] = np.asarray(values, dtype=np.float32)[align.stored_columns]
        except (KeyError, TypeError, ValueError) as e:
            bad[names[j]] = f"unreadable stored features: {type(e).__name__}: {e}"
    scores = model.score_batch(matrix) if n else np.zeros(0)
    scores[~np.isin(np.arange(n), list(latest))] = np.nan   # never assessed: unknown, not zero
    return scores, bad


@dataclass(frozen=True)
class _Alignment:
    """Where the values of one stored layout go in one model's feature list."""
    length: int
    stored_columns: np.ndarray       # indexes into the stored values ...
    model_columns: np.ndarray        # ... and the model's columns they fill

    @classmethod
    def of(cls, layout: str, features: list[str]) -> _Alignment | None:
        stored = layout_names(layout)
        if stored is None:
            return None
        column = {f: k for k, f in enumerate(features)}
        pairs = [(i, column[f]) for i, f in enumerate(stored) if f in column]
        return cls(len(stored), np.asarray([i for i, _ in pairs], np.int64),
                   np.asarray([k for _, k in pairs], np.int64))


def _parsed(latest: dict[int, object], bad: dict, names: dict):
    """(j, parsed value) of each readable stored vector: SQLite hands JSON text over,
    PostgreSQL's driver has already parsed it."""
    for j, value in latest.items():
        if not isinstance(value, str):
            yield j, value
            continue
        try:
            yield j, json.loads(value)
        except ValueError as e:
            bad[names[j]] = f"unreadable stored features: {e}"
