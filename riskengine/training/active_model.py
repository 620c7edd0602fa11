"""`riskengine train --kind active`: the model the re-scoring job uses for live accounts.

The simulated world's events are replayed through the assess pipeline (scored by the
current signup/login model), its simulated API usage is ingested through the same code as
POST /v1/usage, and the job's own feature code (`rescore.population`,
`rescore.partition_features`) builds one row per active account at a few moments of the
world (7-day windows). Held out by whole campaign instance; thresholds from target rates on
legitimate accounts."""
from __future__ import annotations

import json
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from riskengine import storage
from riskengine.hashing import Hasher
from riskengine.rescore.partition import ACTIVE_FEATURES, partition_features
from riskengine.rescore.population import population
from riskengine.scoring.model import RiskModel
from riskengine.signals.ip import GeoIPReaders
from riskengine.sim.collector import TRAINING_HASH_KEY
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
from riskengine.usage.ingest import batch_of, ingest
from riskengine.usage.links import LinkFolder

WINDOW = 7 * 86400.0
HEAVY_SEGMENTS = ("startup_batch", "researcher", "shared_team")
PARAMS = {"objective": "binary:logistic", "tree_method": "hist", "max_depth": 4, "eta": 0.08,
          "subsample": 0.85, "colsample_bytree": 0.85, "min_child_weight": 2, "lambda": 2.0,
          "eval_metric": "aucpr", "seed": 7, "nthread": 2}
ROUNDS = 250


def ingest_usage(db, records: list[dict], hasher: Hasher, batch: int = 10_000) -> None:
    for start in range(0, len(records), batch):
        ingest(db, batch_of(records[start:start + batch]), hasher, fold_after=1 << 30, now=float("inf"))
    LinkFolder(db, hasher).fold()


def label_some(db, world, usage, at: float, rng: np.random.Generator) -> None:
    """Analysts review a few accounts: ~15% of fake accounts older than three days get a
    fraud label, ~3% of legitimate ones a legit label (what the cluster features learn from)."""
    with db.begin() as conn:
        for acct in world.accounts:
            created = acct.created_at.timestamp()
            if created > at - 3 * 86400:
                continue
            fraud = acct.fraud or usage.abusive.get(acct.id, False)
            if rng.random() < (0.15 if fraud else 0.03):
                storage.add_label(conn, acct.id, "fraud" if fraud else "legit", "analyst", "simulated review",
                                  created + 3 * 86400)


def snapshot_rows(db, readers, assess_model, at: float):
    with db.connect() as conn:
        pop = population(conn, at - WINDOW, at)
        rows = np.arange(len(pop.accounts))
        scored = partition_features(conn, pop, rows, readers, assess_model, at - WINDOW, at)
    return pop.accounts, scored.matrix


def build_dataset(world, usage, assess_model, workdir: Path, log=print):
    from riskengine.training.assess_model import replay
    geoip = world.write_geoip(workdir / "geoip")
    db = storage.make_engine(f"sqlite:///{workdir / 'active.db'}", 30_000)
    migrate.upgrade(db)
    replay(world.events, geoip, workdir, log=log, model=assess_model, db=db)
    ingest_usage(db, usage.records, Hasher(TRAINING_HASH_KEY))
    log(f"ingested {len(usage.records)} usage records")
    label_some(db, world, usage, world.end.timestamp(), np.random.default_rng(world.seed))
    readers = GeoIPReaders.open(geoip["city"], geoip["asn"], geoip["anonymous"],
                                geoip.get("connection_type"), geoip.get("enterprise"))
    accounts_by_id = {a.id: a for a in world.accounts}
    X, meta = [], []
    end = world.end.timestamp()
    for at in (end - 14 * 86400, end - 7 * 86400, end):
        ids, matrix = snapshot_rows(db, readers, assess_model, at)
        for acct_id, row in zip(ids, matrix, strict=True):
            acct = accounts_by_id.get(acct_id)
            if acct is None:
                continue
            fraud = bool(acct.fraud or usage.abusive.get(acct_id, False))
            X.append(row)
            campaign = usage.campaign_id.get(acct_id, "legit")
            group = acct.campaign_id if acct.fraud else (campaign if campaign != "legit" else acct_id)
            meta.append((fraud, acct.campaign if acct.fraud else ("resold" if fraud else "legit"), group,
                         usage.segment.get(acct_id, "none"), acct_id))
        log(f"snapshot at day {(at - world.start.timestamp()) / 86400:.0f}: {len(ids)} active accounts")
    readers.close()
    db.dispose()
    y = np.array([m[0] for m in meta], int)
    cols = {k: np.array([m[i] for m in meta]) for i, k in enumerate(("_", "campaign", "group", "segment", "account"))}
    return np.asarray(X, np.float32), y, cols


def split(y, cols, test_share=0.3):
    """Test: the latest third of each campaign's instances, and 30% of legitimate accounts
    (by a hash of the id, so every snapshot of an account falls on one side)."""
    test = np.zeros(len(y), bool)
    legit = y == 0
    import zlib
    test[legit] = [zlib.crc32(a.encode()) % 100 < test_share * 100 for a in cols["account"][legit]]
    for kind in np.unique(cols["campaign"][~legit]):
        groups = sorted(set(cols["group"][(cols["campaign"] == kind) & ~legit]))
        held = groups[-max(1, round(len(groups) * test_share)):] if len(groups) > 1 else []
        test |= np.isin(cols["group"], held) & ~legit
    return ~test, test


def train_active(out_dir="models", seed=7, accounts=3000, days=30, version=None, log=print) -> Path:
    from riskengine.config import models_dir
    from riskengine.scoring.model import newest_model_dir
    from riskengine.sim.usage import simulate_usage
    from riskengine.sim.world import build_world
    started = time.perf_counter()
    root = models_dir()
    assess_dir = newest_model_dir(root)
    if assess_dir is None:
        raise FileNotFoundError(f"no assess model under {root}: train one first")
    assess_model = RiskModel.load(assess_dir)
    world = build_world(seed=seed, accounts=accounts, days=days)
    usage = simulate_usage(world, seed=seed)
    log(f"world: {len(world.accounts)} accounts, {len(world.events)} events, {len(usage.records)} usage records")
    with tempfile.TemporaryDirectory(prefix="riskengine-train-active-") as tmp:
        X, y, cols = build_dataset(world, usage, assess_model, Path(tmp), log)
    train, test = split(y, cols)
    oof = out_of_fold_margin(PARAMS, ROUNDS, X, y, cols["group"], train, ACTIVE_FEATURES)
    cal = calibration_map(oof, y[train])
    th = {"rescore": threshold_pair(calibrate(oof, cal)[y[train] == 0])}
    booster = fit(PARAMS, ROUNDS, X[train], y[train], ACTIVE_FEATURES)
    probs = calibrate(margin(booster, X, ACTIVE_FEATURES), cal)
    metrics = {"test": evaluate(probs, y, cols, test, th["rescore"])}
    version = version or f"active-{date.today():%Y.%m}.1"
    meta = {"kind": "active", "version": version, "features": ACTIVE_FEATURES, "calibration": cal,
            "thresholds": th, "targets": TARGETS, "params": PARAMS, "rounds": ROUNDS, "metrics": metrics,
            "assess_model": assess_model.version,
            "training": {"seed": seed, "accounts": accounts, "days": days, "rows": int(len(y)),
                         "data": "simulated (riskengine.sim.world + riskengine.sim.usage)",
                         "command": f"riskengine train --kind active --seed {seed} --accounts {accounts} "
                                    f"--days {days} --version {version}"}}
    from riskengine.training.model_card import render_active_card
    path = write_model(Path(out_dir) / version, booster, meta, render_active_card(meta))
    log(json.dumps(metrics["test"], indent=1))
    log(f"trained in {time.perf_counter() - started:.0f}s")
    return path


def evaluate(probs, y, cols, mask, th) -> dict:
    from sklearn.metrics import average_precision_score, roc_auc_score
    flagged = probs >= th["challenge"]
    blocked = probs >= th["block"]
    out: dict[str, Any] = {"rows": int(mask.sum()), "roc_auc": round(float(roc_auc_score(y[mask], probs[mask])), 4),
           "pr_auc": round(float(average_precision_score(y[mask], probs[mask])), 4), "campaigns": {},
           "legit": {}, "legit_segments": {}}
    for kind in sorted(set(cols["campaign"][mask & (y == 1)])):
        m = mask & (cols["campaign"] == kind) & (y == 1)
        out["campaigns"][kind] = {"rows": int(m.sum()), "flagged": round(float(flagged[m].mean()), 4),
                                  "blocked": round(float(blocked[m].mean()), 4)}
    legit = mask & (y == 0)
    heavy = legit & np.isin(cols["segment"], HEAVY_SEGMENTS)
    for name, m in (("all", legit), ("heavy", heavy), ("other", legit & ~heavy)):
        if m.any():
            out["legit"][name] = {"rows": int(m.sum()), "flagged": round(float(flagged[m].mean()), 5),
                                  "blocked": round(float(blocked[m].mean()), 5)}
    for seg in sorted(set(cols["segment"][legit])):
        m = legit & (cols["segment"] == seg)
        out["legit_segments"][seg] = {"rows": int(m.sum()), "flagged": round(float(flagged[m].mean()), 4)}
    return out
