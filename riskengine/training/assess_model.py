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
from riskengine.scoring.challenges import learn_from_challenge
from riskengine.scoring.features import FEATURES, stored_features, vector
from riskengine.scoring.model import RiskModel
from riskengine.scoring.pipeline import compute_signals, link_keys, observe, store_context, verify_device_token
from riskengine.scoring.schema import ASSESS
from riskengine.signals.device_token import KEY_LABEL
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
    outcome: np.ndarray        # login outcome ("" for signups)

    @staticmethod
    def concat(parts: list[Dataset], tags: list[str]) -> Dataset:
        """Several worlds' datasets as one; groups are tagged per world so none straddles two."""
        cols = {k: np.concatenate([getattr(p, k) for p in parts]) for k in
                ("X", "y", "event", "campaign", "campaign_id", "segment", "ts", "outcome")}
        cols["group"] = np.concatenate([np.char.add(f"{t}:", p.group.astype(str)) for p, t in zip(parts, tags,
                                                                                                strict=True)])
        cols["campaign_id"] = np.concatenate([np.char.add(f"{t}:", p.campaign_id.astype(str))
                                              for p, t in zip(parts, tags, strict=True)])
        return Dataset(**cols)


# Closed loop: how the people behind the events answer the challenges the engine asks for
# (the simulator's own rates: sim.legit.challenge, sim.campaigns.ato_challenge).
OWNER_PASSES = 0.93
THIEF_FAILS = 0.6          # else walks away (abandoned)
# Whose challenge is a thief's: logins into someone else's account. A farm's own accounts are
# its operator's (the mailbox and number are his): he answers like an owner.
TAKEOVERS = ("ato", "password_spray")


def replay(events, geoip: dict, workdir: Path, log=print, model=None, db=None, closed_loop: bool = False,
           seed: int = 0) -> Dataset:
    """Features for every event, exactly as /v1/assess would have computed them live; with a
    model, each stored assessment also carries that model's score and decision.

    Open loop (the default): the events' own challenges (the simulator's: an engine that
    challenged some new devices and some takeovers) teach the baseline, and every event is
    stored as if allowed. Closed loop (needs `model`): the model's decisions act as they do
    live: a blocked event teaches the baseline nothing, a challenged successful login is
    answered (its owner passes OWNER_PASSES of the time, a thief into someone else's account
    never: fails or walks away)
    and the answer teaches; the simulator's challenges are not used. That is how the
    service would have seen the world, and what its target rates are about."""
    if closed_loop and model is None:
        raise ValueError("a closed-loop replay needs a model")
    answers = np.random.default_rng(np.random.SeedSequence([seed, 0xC0DE]))
    own_db = db is None
    if own_db:
        db = storage.make_engine(f"sqlite:///{workdir / 'replay.db'}", 30_000)
        migrate.upgrade(db)
    readers = GeoIPReaders.open(geoip.get("city"), geoip.get("asn"), geoip.get("anonymous"),
                                geoip.get("connection_type"), geoip.get("enterprise"))
    hasher = Hasher(TRAINING_HASH_KEY)
    token_key = hasher.derive(KEY_LABEL)
    rows: list[list[float]] = []
    cols: dict[str, list[Any]] = {k: [] for k in ("y", "event", "campaign", "campaign_id", "segment", "ts", "group",
                                                  "outcome")}
    started = time.perf_counter()
    try:
        with db.connect() as conn:
            for i, ev in enumerate(events):
                req = AssessRequest.model_validate(ev.body)
                if req.occurred_at is None:  # simulated events always carry their time
                    raise ValueError(f"replayed event {i} has no occurred_at")
                t = req.occurred_at.timestamp()
                req, token = verify_device_token(req, token_key, t)     # as live, at the event's time
                s = compute_signals(req, readers, token=token)
                links = link_keys(req, s, hasher)
                obs = observe(conn, req, s, links, t)
                row = _replay_row(req, s, t, i)
                row["features"] = stored_features(obs.features)
                if model is not None:
                    row["score"] = float(model.score_batch(np.asarray([vector(obs.features, model.features)],
                                                                      dtype=np.float32))[0])
                    row["decision"] = model.decision(req.event, row["score"])
                storage.record(conn, row, {"country": req.account.country}, links)
                store_context(conn, obs, t, row["decision"] if closed_loop else None)
                challenge = getattr(ev, "challenge", None)    # the challenge an engine asked for, as it ended
                if closed_loop:
                    challenge = None
                    if row["decision"] == "challenge" and req.login is not None and req.login.outcome == "success":
                        challenge = _answer(answers, ev.campaign in TAKEOVERS)
                if challenge:
                    learn_from_challenge(conn, req.account.id, links.get("device"), links.get("subnet"),
                                         challenge, t, t)
                rows.append(vector(obs.features))
                for key, value in (("y", ev.fraud), ("event", req.event), ("campaign", ev.campaign),
                                   ("campaign_id", ev.campaign_id), ("segment", ev.segment), ("ts", t),
                                   ("group", ev.campaign_id if ev.fraud or ev.campaign != "legit"
                                    else req.account.id),
                                   ("outcome", req.login.outcome if req.login else "")):
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


def _answer(rng: np.random.Generator, thief: bool) -> str:
    if thief:
        return "failed" if rng.random() < THIEF_FAILS else "abandoned"
    return "passed" if rng.random() < OWNER_PASSES else "abandoned"


def _replay_row(req, s, t, i) -> dict:
    ip = s.ip
    return {"id": f"replay_{i}", "account_id": req.account.id, "event": req.event, "occurred_ts": t,
            "created_ts": t, "ip": req.ip, "ip_country": ip.country, "ip_asn": ip.asn,
            "email_domain": s.email.domain if s.email else None,
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


def settled(ds: Dataset, within: np.ndarray | None = None, share: float = 0.3) -> np.ndarray:
    """Of the events `within` (default all), the legitimate ones of the last `share` of their
    time and every attack event. A world starts with an empty database, so its early
    legitimate events have less history behind their sharing counts than a live engine's:
    thresholds tuned on them are too low (on the last model, 1% of all legitimate signups was
    2% of the late ones)."""
    within = np.ones(len(ds.y), dtype=bool) if within is None else within
    legit = within & (ds.campaign == "legit")
    return within & (~legit | (ds.ts >= np.quantile(ds.ts[legit], 1 - share)))


def thresholds(scores: np.ndarray, ds: Dataset, mask: np.ndarray) -> dict:
    return {event: threshold_pair(scores[mask & (ds.y == 0) & (ds.event == event)]) for event in ("signup", "login")}


def stricter(a: dict, b: dict) -> dict:
    """Per event and level, the higher of two thresholds: the one that holds on both sets."""
    return {e: {k: max(a[e][k], b[e][k]) for k in a[e]} for e in a}


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
    report["attacks"] = {}
    outcome = ds.outcome[mask]
    for kind, variant in sorted(set(zip(camp[y == 1], seg[y == 1], strict=True))):
        m = (camp == kind) & (seg == variant)
        row = {"events": int(m.sum()), "challenged_or_blocked": round(float(flag[m].mean()), 4),
               "blocked": round(float(block[m].mean()), 4)}
        ok = m & (outcome == "success") & (ev == "login")
        if kind in TAKEOVERS and ok.any():
            row["successful_logins"] = int(ok.sum())
            row["successful_stopped"] = round(float(flag[ok].mean()), 4)
        signups = m & (ev == "signup")
        if signups.any():        # a farm's target is its signups (its accounts' logins come after)
            row["signups"] = int(signups.sum())
            row["signups_stopped"] = round(float(flag[signups].mean()), 4)
        report["attacks"][f"{kind}/{variant}"] = row
    for event in ("signup", "login"):
        m = (y == 0) & (ev == event)
        if m.any():
            report["legit"][event] = {"events": int(m.sum()),
                                      "challenge_rate": round(float((flag & ~block)[m].mean()), 5),
                                      "block_rate": round(float(block[m].mean()), 5)}
    for s in sorted(set(seg[y == 0])):
        m = (y == 0) & (seg == s)
        lm = m & (ev == "login")
        report["legit_segments"][s] = {"events": int(m.sum()), "flagged": round(float(flag[m].mean()), 4),
                                       "login_events": int(lm.sum()),
                                       "login_flagged": round(float(flag[lm].mean()), 4) if lm.any() else None}
    return report


def monotone_constraints(names: list[str]) -> str:
    """XGBoost's monotone_constraints for `names`, from the schema's declared directions:
    a model can then never learn that a known device or a familiar network is suspicious,
    or that more failed attempts are reassuring."""
    features = [ASSESS.get(n) for n in names]
    return "(" + ",".join(str((f.monotone if f is not None else None) or 0) for f in features) + ")"


@dataclass
class SimWorld:
    seed: int
    events: list
    geoip: dict
    workdir: Path


def build(seed: int, accounts: int, days: int, params, tmp: Path, log=print) -> SimWorld:
    from riskengine.sim.world import build_world
    world = build_world(seed=seed, accounts=accounts, days=days, params=params)
    log(f"world {seed}: {len(world.events)} events ({accounts} legitimate accounts, {days} days)")
    wdir = tmp / f"world-{seed}"
    wdir.mkdir()
    return SimWorld(seed, world.events, world.write_geoip(wdir / "geoip"), wdir)


def deciding_model(booster, cal: dict, th: dict) -> RiskModel:
    """The model as a closed-loop replay runs it: one event at a time, on one thread (one-row
    predictions on two threads spent most of their time starting and spinning OpenMP threads:
    40 events a second on a busy machine)."""
    one = booster.copy()
    one.set_param({"nthread": 1})
    return RiskModel("training", one, FEATURES, cal, th)


def replay_world(w: SimWorld, log=print, model=None) -> Dataset:
    """A world replayed open loop, or closed loop with `model` (each replay its own database)."""
    n = len(list(w.workdir.glob("replay*")))
    workdir = w.workdir / f"replay{n}"
    workdir.mkdir()
    return replay(w.events, w.geoip, workdir, log=log, model=model, closed_loop=model is not None, seed=w.seed)


def world_dataset(seed: int, accounts: int, days: int, params, tmp: Path, log=print) -> Dataset:
    return replay_world(build(seed, accounts, days, params, tmp, log), log)


def _cross_world(worlds_x: list[SimWorld], booster, cal: dict, th: dict, log) -> tuple[dict, dict, dict]:
    """Thresholds held on the first half of the cross-worlds (the stricter of the training
    ones and theirs), and the second half's figures with them: closed loop (the model's own
    decisions act, as live) and open loop (as the training replay saw the world)."""
    half = max(1, len(worlds_x) // 2)
    tune_w, eval_w = worlds_x[:half], worlds_x[half:] or worlds_x[:half]
    tags = {w.seed: f"x{w.seed}" for w in worlds_x}
    model = deciding_model(booster, cal, th)
    tune = Dataset.concat([replay_world(w, log, model) for w in tune_w], [tags[w.seed] for w in tune_w])
    tune_probs = calibrate(margin(booster, tune.X, FEATURES), cal)
    th = stricter(th, thresholds(tune_probs, tune, settled(tune)))
    model = deciding_model(booster, cal, th)
    held = Dataset.concat([replay_world(w, log, model) for w in eval_w], [tags[w.seed] for w in eval_w])
    cross = evaluate(calibrate(margin(booster, held.X, FEATURES), cal), held, settled(held), th)
    held_open = Dataset.concat([replay_world(w, log) for w in eval_w], [tags[w.seed] for w in eval_w])
    cross_open = evaluate(calibrate(margin(booster, held_open.X, FEATURES), cal), held_open, settled(held_open), th)
    return th, cross, cross_open


# Several training worlds differ in size too. Sharing counts grow with the population behind
# every NAT, VPN exit and popular phone model: a model trained on 1,200-account worlds flagged
# twice the legitimate logins of a 3,000- or 6,000-account world that it flagged in its own.
WORLD_SCALES = (1, 2, 3)


def world_sizes(accounts: int, worlds: int) -> list[int]:
    """Legitimate accounts per training world: `accounts` for one world, else accounts x
    WORLD_SCALES in turn."""
    if worlds == 1:
        return [accounts]
    return [accounts * WORLD_SCALES[i % len(WORLD_SCALES)] for i in range(worlds)]


def train_and_write(out_dir="models", seed=7, accounts=6000, days=30, version=None, log=print,
                    worlds: int = 1, cross_worlds: int = 0) -> Path:
    """Train on `worlds` simulated worlds (one: the fixed default world; more: parameters
    drawn from sim.params.TRAIN_RANGES, seeds seed, seed+1, ...). `cross_worlds` worlds drawn
    from CROSS_RANGES (outside every training range; seeds seed+1000, ...): the first half
    tunes the thresholds so the target rates hold there too, the second half is the
    cross-world evaluation the card reports beside the in-world one."""
    from riskengine.sim.params import CROSS_RANGES, TRAIN_RANGES, WorldParams, draw
    started = time.perf_counter()
    train_specs = [(seed + i, WorldParams() if worlds == 1 else draw(seed + i, TRAIN_RANGES)) for i in range(worlds)]
    cross_specs = [(seed + 1000 + j, draw(seed + 1000 + j, CROSS_RANGES)) for j in range(cross_worlds)]
    sizes = world_sizes(accounts, worlds)
    with tempfile.TemporaryDirectory(prefix="riskengine-train-") as tmp:
        worlds_in = [build(s, n, days, p, Path(tmp), log) for (s, p), n in zip(train_specs, sizes, strict=True)]
        worlds_x = [build(s, accounts, days, p, Path(tmp), log) for s, p in cross_specs]
        parts = [replay_world(w, log) for w in worlds_in]
        ds = Dataset.concat(parts, [f"w{s}" for s, _ in train_specs])
        train_mask, test_mask = split(ds)
        log(f"train {int(train_mask.sum())} events, test {int(test_mask.sum())} events (held out by time and "
            "campaign)")
        params = {**PARAMS, "monotone_constraints": monotone_constraints(FEATURES)}
        oof = out_of_fold_margin(params, ROUNDS, ds.X, ds.y, ds.group, train_mask, FEATURES)
        cal = calibration_map(oof, ds.y[train_mask])
        booster = fit(params, ROUNDS, ds.X[train_mask], ds.y[train_mask], FEATURES)
        probs = calibrate(margin(booster, ds.X, FEATURES), cal)
        oof_probs = np.zeros(len(ds.y))
        oof_probs[train_mask] = calibrate(oof, cal)
        th = thresholds(oof_probs, ds, settled(ds, train_mask))
        metrics: dict[str, Any] = {"train_out_of_fold": evaluate(oof_probs, ds, train_mask, th)}
        if worlds_x:
            th, metrics["cross_world"], cross_open = _cross_world(worlds_x, booster, cal, th, log)
            # In-world too as the service would have run it: the training worlds again, closed loop.
            model = deciding_model(booster, cal, th)
            closed = Dataset.concat([replay_world(w, log, model) for w in worlds_in], [f"w{s}" for s, _ in train_specs])
            metrics["test"] = evaluate(calibrate(margin(booster, closed.X, FEATURES), cal), closed, test_mask, th)
            metrics["open_loop"] = {"test": evaluate(probs, ds, test_mask, th), "cross_world": cross_open}
        else:
            metrics["test"] = evaluate(probs, ds, test_mask, th)
    metrics = {"test": metrics.pop("test"), **metrics}
    version = version or f"{date.today():%Y.%m}.1"
    command = f"riskengine train --seed {seed} --accounts {accounts} --days {days} --version {version}"
    if worlds != 1 or cross_worlds:
        command += f" --worlds {worlds} --cross-worlds {cross_worlds}"
    meta = {"version": version, "features": FEATURES, "calibration": cal, "thresholds": th,
            "targets": TARGETS, "params": params, "rounds": ROUNDS, "metrics": metrics,
            "training": {"seed": seed, "accounts": accounts, "world_accounts": sizes, "days": days,
                         "events": int(len(ds.y)),
                         "data": "simulated (riskengine.sim.world)", "command": command,
                         "worlds": [{"seed": s, "params": p.as_dict()} for s, p in train_specs],
                         "cross_worlds": [{"seed": s, "params": p.as_dict(),
                                           "role": "thresholds" if j < max(1, len(cross_specs) // 2)
                                           else "evaluation"} for j, (s, p) in enumerate(cross_specs)]}}
    from riskengine.training.model_card import render_card
    path = write_model(Path(out_dir) / version, booster, meta, render_card(meta))
    log(json.dumps(metrics["test"], indent=1))
    log(f"trained in {time.perf_counter() - started:.0f}s")
    return path
