"""What both models' training shares: fitting, the out-of-fold loop, calibration, thresholds
from target rates on legitimate traffic, and writing a model directory."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import xgboost as xgb

TARGETS = {"challenge": 0.01, "block": 0.001}     # share of legitimate events, per event type


def fit(params: dict, rounds: int, X: np.ndarray, y: np.ndarray, names: list[str]) -> xgb.Booster:
    return xgb.train(params, xgb.DMatrix(X, label=y, missing=np.nan, feature_names=names), rounds)


def margin(booster: xgb.Booster, X: np.ndarray, names: list[str]) -> np.ndarray:
    return booster.predict(xgb.DMatrix(X, missing=np.nan, feature_names=names), output_margin=True)


def out_of_fold_margin(params: dict, rounds: int, X: np.ndarray, y: np.ndarray, groups: np.ndarray,
                       mask: np.ndarray, names: list[str], folds: int = 4) -> np.ndarray:
    """Margins for the rows in `mask` from models that did not see their group."""
    from sklearn.model_selection import GroupKFold
    idx = np.flatnonzero(mask)
    out = np.zeros(len(idx))
    for tr, va in GroupKFold(n_splits=folds).split(idx, groups=groups[idx]):
        out[va] = margin(fit(params, rounds, X[idx[tr]], y[idx[tr]], names), X[idx[va]], names)
    return out


def calibration_map(margin: np.ndarray, y: np.ndarray, points: int = 64) -> dict:
    """Isotonic regression of outcome on margin, kept as a piecewise-linear table."""
    from sklearn.isotonic import IsotonicRegression
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(margin, y)
    xs = np.unique(np.quantile(margin, np.linspace(0, 1, points)))
    ys = np.maximum.accumulate(iso.predict(xs))
    return {"margin": [round(float(x), 6) for x in xs], "prob": [round(float(p), 6) for p in ys]}


def calibrate(margins: np.ndarray, cal: dict) -> np.ndarray:
    return np.interp(margins, cal["margin"], cal["prob"])


def pick_threshold(scores: np.ndarray, rate: float) -> float:
    """The lowest score threshold at which at most `rate` of these (legitimate) scores reach it."""
    candidates = np.unique(scores)[::-1]
    best = float(candidates[0]) + 1e-6 if len(candidates) else 1.0
    for c in candidates:
        if np.mean(scores >= c) > rate:
            break
        best = float(c)
    return min(best, 1.0)


def threshold_pair(legit_scores: np.ndarray) -> dict[str, float]:
    """Challenge and block thresholds from TARGETS; block is never below challenge."""
    challenge = pick_threshold(legit_scores, TARGETS["challenge"])
    block = pick_threshold(legit_scores, TARGETS["block"])
    return {"challenge": round(challenge, 6), "block": round(max(block, challenge), 6)}


def write_model(path: Path, booster: xgb.Booster, meta: dict, card: str) -> Path:
    """A model directory: booster, meta.json, MODEL_CARD.md (the layout RiskModel.load reads)."""
    path.mkdir(parents=True, exist_ok=True)
    booster.save_model(str(path / "model.json"))
    (path / "meta.json").write_text(json.dumps(meta, indent=1))
    (path / "MODEL_CARD.md").write_text(card)
    return path
