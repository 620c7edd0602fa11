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
from typing import Any

import numpy as np

from riskengine import storage
from riskengine.hashing import Hasher
from riskengine.schemas import AssessRequest
from riskengine.scoring.features import FEATURES, stored_features, vector
from riskengine.scoring.pipeline import compute_signals, link_keys, observe, store_context
from riskengine.signals.ip import GeoIPReaders
from riskengine.storage import migrate
from riskengine.training.common import (
    TARGETS,
    calibrate,
    calibration_map,
    fit,
    margin,
    out_of_fold_margin,
    threshold_pair,
    write_model,
)

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
    readers = GeoIPReaders.open(geoip.get("city"), geoip.get("asn"), geoip.get("anonymous"),
                                geoip.get("connection_type"), geoip.get("enterprise"))
    hasher = Hasher(b"simulated-world-training-key")
    rows: list[list[float]] = []
    cols: dict[str, list[Any]] = {k: [] for k in ("y", "event", "campaign", "campaign_id", "segment", "ts", "group")}
    started = time.perf_counter()
    try:
        with db.connect() as conn:
            for i, ev in enumerate(events):
                req = AssessRequest.model_validate(ev.body)
                if req.occurred_at is None:  # simulated events always carry their time
                    raise ValueError(f"replayed event {i} has no occurred_at")
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
                store_context(conn, obs, t)
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


def thresholds(scores: np.ndarray, ds: Dataset, mask: np.ndarray) -> dict:
    return {event: threshold_pair(scores[mask & (ds.y == 0) & (ds.event == event)]) for event in ("signup", "login")}


def evaluate(probs: np.ndarray, ds: Dataset, mask: np.ndarray, th: dict) -> dict:
    from sklearn.metrics import average_precision_score, roc_auc_score
    y, p = ds.y[mask], probs[mask]
    ev, camp, seg = ds.event[mask], ds.campaign[mask], ds.segment[mask]
    flag = np.array([p_ >= th[e]["challenge"] for p_, e in zip(p, ev, strict=True)])
    block = np.array([p_ >= th[e]["block"] for p_, e in zip(p, ev, strict=True)])
    report: dict[str, Any] = {"events": int(mask.sum()), "roc_auc": round(float(roc_auc_score(y, p)), 4),
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
    oof = out_of_fold_margin(PARAMS, ROUNDS, ds.X, ds.y, ds.group, train_mask, FEATURES)
    cal = calibration_map(oof, ds.y[train_mask])
    booster = fit(PARAMS, ROUNDS, ds.X[train_mask], ds.y[train_mask], FEATURES)
    probs = calibrate(margin(booster, ds.X, FEATURES), cal)
    oof_probs = np.zeros(len(ds.y))
    oof_probs[train_mask] = calibrate(oof, cal)
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
