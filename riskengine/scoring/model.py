"""The shipped model: an XGBoost booster, its feature list, a calibration map and thresholds.

Layout of a model directory (written by `riskengine train`):
    model.json      the booster (XGBoost JSON)
    meta.json       version, features, calibration points, thresholds per event, metrics
    MODEL_CARD.md   what it was trained on and how well it does
"""
from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@contextmanager
def _without_sklearn() -> Iterator[None]:
    """XGBoost imports scikit-learn (and SciPy's stats with it) whenever it is installed, for its
    sklearn-style wrappers, which riskengine never uses (Booster, DMatrix and train only). That
    import was more than half of a worker's start-up (measured: 2.9 s of CPU for the app's
    imports, 1.8 s without it), paid again after every restart. Hidden from that one import;
    a later `import sklearn` (training) works as ever."""
    if "sklearn" in sys.modules or "xgboost" in sys.modules:
        yield
        return
    sys.modules["sklearn"] = None  # type: ignore[assignment]    # `import sklearn` raises ImportError
    try:
        yield
    finally:
        del sys.modules["sklearn"]


with _without_sklearn():
    import xgboost as xgb


@dataclass
class Scored:
    score: float
    contributions: dict[str, float]     # feature -> log-odds contribution (Saabas approximation)


class RiskModel:
    def __init__(self, version: str, booster: xgb.Booster, features: list[str],
                 calibration: dict, thresholds: dict, meta: dict | None = None):
        self.version, self.booster, self.features = version, booster, features
        self._cal_x = np.asarray(calibration["margin"], dtype=float)
        self._cal_y = np.asarray(calibration["prob"], dtype=float)
        self.thresholds = thresholds
        self.meta = meta or {}
        self.path: Path | None = None
        self.nthread = 1

    @classmethod
    def load(cls, path: str | Path, nthread: int = 1) -> RiskModel:
        path = Path(path)
        meta = json.loads((path / "meta.json").read_text())
        booster = xgb.Booster()
        booster.load_model(str(path / "model.json"))
        # One thread per prediction: the server already runs one request per core.
        booster.set_param({"nthread": nthread})
        model = cls(meta["version"], booster, meta["features"], meta["calibration"], meta["thresholds"], meta)
        model.path, model.nthread = path, nthread
        return model

    def calibrate(self, margin):
        return np.interp(margin, self._cal_x, self._cal_y)

    def score_one(self, vector: list[float]) -> Scored:
        x = np.asarray([vector], dtype=np.float32)
        # Approximate (Saabas) contributions cost about one prediction; exact TreeSHAP ~15x more.
        # nthread=1: building a one-row DMatrix on all cores costs OpenMP start-up and, on a
        # busy machine, spinning threads (tens of ms measured) for no gain.
        contribs = self.booster.predict(xgb.DMatrix(x, missing=np.nan, nthread=1), pred_contribs=True,
                                        approx_contribs=True, validate_features=False)[0]
        margin = float(contribs.sum())
        return Scored(float(self.calibrate(margin)), dict(zip(self.features, contribs[:-1].tolist(), strict=True)))

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        """Per-row log-odds contributions (Saabas), last column the bias."""
        return self.booster.predict(xgb.DMatrix(matrix, missing=np.nan, nthread=self.nthread), pred_contribs=True,
                                    approx_contribs=True, validate_features=False)

    def score_batch(self, matrix: np.ndarray) -> np.ndarray:
        margin = self.booster.inplace_predict(matrix, predict_type="margin", missing=np.nan)
        return self.calibrate(margin)

    def decision(self, event: str, score: float, overrides: dict | None = None) -> str:
        t = dict(self.thresholds.get(event) or self.thresholds["signup"])
        t.update((overrides or {}).get(event, {}))
        if score >= t["block"]:
            return "block"
        if score >= t["challenge"]:
            return "challenge"
        return "allow"


def newest_model_dir(models_dir: str | Path, kind: str = "assess") -> Path | None:
    """The newest model of a kind: "assess" (signup/login) or "active" (re-scoring)."""
    dirs = [p.parent for p in Path(models_dir).glob("*/meta.json")
            if json.loads(p.read_text()).get("kind", "assess") == kind]
    return max(dirs, key=_version_key) if dirs else None


def _version_key(path: Path) -> tuple:
    # "2026.11.10" is newer than "2026.11.9": compare numerically, part by part.
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in path.name.split("."))
