"""`riskengine train`: replay a simulated world through the serving feature code, train
XGBoost, calibrate, pick thresholds from target rates on legitimate traffic, write a model.

Validation is held out twice over: by time for legitimate traffic (the last 30% of the
world's days) and by whole campaign instance for attacks (the latest third of each kind's
instances), so the test set holds campaigns the model never saw."""
from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import xgboost as xgb

from riskengine.storage import migrate
from riskengine import storage
from riskengine.scoring.features import FEATURES, stored_features, vector
from riskengine.hashing import Hasher
from riskengine.scoring.pipeline import compute_signals, link_keys, observe
from riskengine.schemas import AssessRequest
from riskengine.signals.ip import GeoIPReaders

TARGETS = {"challenge": 0.01, "block": 0.001}     # share of legitimate events, per event type
PARAMS = {"objective": "binary:logistic", "tree_method": "hist", "max_depth": 5, "eta": 0.08,
          "subsample": 0.85, "colsample_bytree": 0.8, "min_child_weight": 2, "lambda": 2.0,
          "eval_metric": "aucpr", "seed": 7, "nthread": 2}
ROUNDS = 300


@dataclass
class Dataset:
    X: np.ndarray
    y: np.ndarray
    event: np.ndarray          # "signup" | "login"
    campaign: np.ndarray       # kind, "legit" for legitimate traffic
    campaign_id: np.ndarray
    segment: np.ndarray
    ts: np.ndarray
    group: np.ndarray          # what must not straddle folds: campaign instance or legit account


def replay(events, geoip: dict, workdir: Path, log=print, model=None, db=None) -> Dataset:
    """Features for every event, exactly as /v1/assess would have computed them live; with a
    model, each stored assessment also carries that model's score and decision."""
    own_db = db is None
    if own_db:
        db = storage.make_engine(f"sqlite:///{workdir / 'replay.db'}", 30_000)
        migrate.upgrade(db)
    readers = GeoIPReaders.open(geoip.get("city"), geoip.get("asn"), geoip.get("anonymous"))
    hasher = Hasher(b"simulated-world-training-key")
    rows, cols = [], {k: [] for k in ("y", "event", "campaign", "campaign_id", "segment", "ts", "group")}
    started = time.perf_counter()
    try:
        with db.connect() as conn:
            for i, ev in enumerate(events):
                req = AssessRequest.model_validate(ev.body)
                t = req.occurred_at.timestamp()
                s = compute_signals(req, readers)
                links = link_keys(req, s, hasher)
                obs = observe(conn, req, s, links, t)
                row = _replay_row(req, s, t, i)
                row["features"] = stored_features(obs.features)
                if model is not None:
                    row["score"] = float(model.score_one(vector(obs.features, model.features)).score)
                    row["decision"] = model.decision(req.event, row["score"])
                storage.record(conn, row, {"country": req.account.country}, links)
                rows.append(vector(obs.features))
                for key, value in (("y", ev.fraud), ("event", req.event), ("campaign", ev.campaign),
                                   ("campaign_id", ev.campaign_id), ("segment", ev.segment), ("ts", t),
                                   ("group", ev.campaign_id if ev.fraud or ev.campaign != "legit"
                                    else req.account.id)):
                    cols[key].append(value)
                if i % 2000 == 1999:
                    conn.commit()
                    log(f"  replayed {i + 1} events ({(i + 1) / (time.perf_counter() - started):.0f}/s)")
            conn.commit()
    finally:
        readers.close()
        if own_db:
            db.dispose()
    X = np.asarray(rows, dtype=np.float32)
    return Dataset(X=X, **{k: np.asarray(v) for k, v in cols.items()})


def _replay_row(req, s, t, i) -> dict:
    ip = s.ip
    return {"id": f"replay_{i}", "account_id": req.account.id, "event": req.event, "occurred_ts": t,
            "created_ts": t, "ip": req.ip, "ip_country": ip.country, "ip_asn": ip.asn,
            "latitude": ip.latitude, "longitude": ip.longitude,
            "login_outcome": req.login.outcome if req.login else None, "decision": "allow",
            "decided_by": "replay", "response": {}}


def split(ds: Dataset, test_share: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (train, test): legit by time, attacks by whole campaign instance."""
    legit = ds.campaign == "legit"
    cutoff = np.quantile(ds.ts[legit], 1 - test_share)
    test = legit & (ds.ts >= cutoff)
    for kind in np.unique(ds.campaign[~legit]):
        instances = ds.campaign_id[ds.campaign == kind]
        starts = sorted({cid: ds.ts[ds.campaign_id == cid].min() for cid in np.unique(instances)}.items(),
                        key=lambda kv: kv[1])
        held = [cid for cid, _ in starts[-max(1, round(len(starts) * test_share)):]]
        test |= np.isin(ds.campaign_id, held)
    return ~test, test


def fit(X, y, rounds: int = ROUNDS) -> xgb.Booster:
    return xgb.train(PARAMS, xgb.DMatrix(X, label=y, missing=np.nan, feature_names=FEATURES), rounds)


def out_of_fold_margin(ds: Dataset, mask: np.ndarray, folds: int = 4) -> np.ndarray:
    """Margins for the training rows from models that did not see their group."""
    from sklearn.model_selection import GroupKFold
    idx = np.flatnonzero(mask)
    margin = np.zeros(len(idx))
    for tr, va in GroupKFold(n_splits=folds).split(idx, groups=ds.group[idx]):
        booster = fit(ds.X[idx[tr]], ds.y[idx[tr]])
        margin[va] = booster.predict(xgb.DMatrix(ds.X[idx[va]], missing=np.nan, feature_names=FEATURES),
                                     output_margin=True)
    return margin


def calibration_map(margin: np.ndarray, y: np.ndarray, points: int = 64) -> dict:
    """Isotonic regression of outcome on margin, kept as a piecewise-linear table."""
    from sklearn.isotonic import IsotonicRegression
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(margin, y)
    xs = np.unique(np.quantile(margin, np.linspace(0, 1, points)))
    ys = np.maximum.accumulate(iso.predict(xs))
    return {"margin": [round(float(x), 6) for x in xs], "prob": [round(float(p), 6) for p in ys]}


def pick_threshold(scores: np.ndarray, rate: float) -> float:
    """The lowest score threshold at which at most `rate` of these (legitimate) scores reach it."""
    candidates = np.unique(scores)[::-1]
    best = float(candidates[0]) + 1e-6 if len(candidates) else 1.0
    for c in candidates:
        if np.mean(scores >= c) > rate:
            break
        best = float(c)
    return min(best, 1.0)


def thresholds(scores: np.ndarray, ds: Dataset, mask: np.ndarray) -> dict:
    out = {}
    for event in ("signup", "login"):
        legit = mask & (ds.y == 0) & (ds.event == event)
        ch = pick_threshold(scores[legit], TARGETS["challenge"])
        bl = pick_threshold(scores[legit], TARGETS["block"])
        out[event] = {"challenge": round(ch, 6), "block": round(max(bl, ch), 6)}
    return out


def evaluate(probs: np.ndarray, ds: Dataset, mask: np.ndarray, th: dict) -> dict:
    from sklearn.metrics import average_precision_score, roc_auc_score
    y, p = ds.y[mask], probs[mask]
    ev, camp, seg = ds.event[mask], ds.campaign[mask], ds.segment[mask]
    flag = np.array([p_ >= th[e]["challenge"] for p_, e in zip(p, ev)])
    block = np.array([p_ >= th[e]["block"] for p_, e in zip(p, ev)])
    report = {"events": int(mask.sum()), "roc_auc": round(float(roc_auc_score(y, p)), 4),
              "pr_auc": round(float(average_precision_score(y, p)), 4), "campaigns": {}, "legit": {},
              "legit_segments": {}}
    for kind in sorted(set(camp) - {"legit"}):
        m = camp == kind
        report["campaigns"][kind] = {"events": int(m.sum()), "challenged_or_blocked": round(float(flag[m].mean()), 4),
                                     "blocked": round(float(block[m].mean()), 4)}
    for event in ("signup", "login"):
        m = (y == 0) & (ev == event)
        if m.any():
            report["legit"][event] = {"events": int(m.sum()),
                                      "challenge_rate": round(float((flag & ~block)[m].mean()), 5),
                                      "block_rate": round(float(block[m].mean()), 5)}
    for s in sorted(set(seg[y == 0])):
        m = (y == 0) & (seg == s)
        report["legit_segments"][s] = {"events": int(m.sum()), "flagged": round(float(flag[m].mean()), 4)}
    return report


def train_and_write(out_dir="models", seed=7, accounts=6000, days=30, version=None, log=print) -> Path:
    from riskengine.sim.world import build_world
    started = time.perf_counter()
    world = build_world(seed=seed, accounts=accounts, days=days)
    log(f"world: {len(world.events)} events (seed {seed}, {accounts} legitimate accounts, {days} days)")
    with tempfile.TemporaryDirectory(prefix="riskengine-train-") as tmp:
        geoip = world.write_geoip(Path(tmp) / "geoip")
        ds = replay(world.events, geoip, Path(tmp), log=log)
    train_mask, test_mask = split(ds)
    log(f"train {int(train_mask.sum())} events, test {int(test_mask.sum())} events (held out by time and campaign)")
    oof = out_of_fold_margin(ds, train_mask)
    cal = calibration_map(oof, ds.y[train_mask])
    booster = fit(ds.X[train_mask], ds.y[train_mask])
    probs = np.interp(booster.predict(xgb.DMatrix(ds.X, missing=np.nan, feature_names=FEATURES),
                                      output_margin=True), cal["margin"], cal["prob"])
    oof_probs = np.zeros(len(ds.y))
    oof_probs[train_mask] = np.interp(oof, cal["margin"], cal["prob"])
    th = thresholds(oof_probs, ds, train_mask)
    metrics = {"test": evaluate(probs, ds, test_mask, th), "train_out_of_fold": evaluate(oof_probs, ds, train_mask, th)}
    version = version or f"{date.today():%Y.%m}.1"
    meta = {"version": version, "features": FEATURES, "calibration": cal, "thresholds": th,
            "targets": TARGETS, "params": PARAMS, "rounds": ROUNDS, "metrics": metrics,
            "training": {"seed": seed, "accounts": accounts, "days": days, "events": int(len(ds.y)),
                         "data": "simulated (riskengine.sim.world)",
                         "command": f"riskengine train --seed {seed} --accounts {accounts} --days {days} "
                                    f"--version {version}"}}
    from riskengine.training.model_card import render_card
    path = write_model(Path(out_dir) / version, booster, meta, render_card(meta))
    log(json.dumps(metrics["test"], indent=1))
    log(f"trained in {time.perf_counter() - started:.0f}s")
    return path


def write_model(path: Path, booster: xgb.Booster, meta: dict, card: str) -> Path:
    """A model directory: booster, meta.json, MODEL_CARD.md (the layout RiskModel.load reads)."""
    path.mkdir(parents=True, exist_ok=True)
    booster.save_model(str(path / "model.json"))
    (path / "meta.json").write_text(json.dumps(meta, indent=1))
    (path / "MODEL_CARD.md").write_text(card)
    return path
