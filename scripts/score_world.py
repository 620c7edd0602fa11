#!/usr/bin/env python3
"""Score models on one simulated world with the riskengine code on PYTHONPATH, and save the
scores, labels and thresholds (.npz) for scripts/compare_scores.py. Run it once per checkout
to compare models that need different feature code (an old model with the code it was trained
with, a new one with today's), on the same events. SIMULATED data.

    PYTHONPATH=OLD .venv/bin/python scripts/score_world.py OLD/riskengine/models/2026.11.1 --out old.npz
    .venv/bin/python scripts/score_world.py riskengine/models/2026.12.4 --out new.npz
    .venv/bin/python scripts/compare_scores.py old.npz new.npz

`--ranges cross` draws the world's parameters from sim.params.CROSS_RANGES (outside every
training range), `--ranges train` from TRAIN_RANGES; the default is the fixed default world."""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from riskengine.scoring.features import FEATURES
from riskengine.scoring.model import RiskModel
from riskengine.sim.params import CROSS_RANGES, TRAIN_RANGES, draw
from riskengine.sim.world import build_world
from riskengine.training.assess_model import replay, split


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+", help="model directories (meta.json + model.json)")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--accounts", type=int, default=3000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--ranges", choices=("default", "train", "cross"), default="default")
    ap.add_argument("--out", required=True, help="the .npz file to write")
    args = ap.parse_args()
    ranges = {"train": TRAIN_RANGES, "cross": CROSS_RANGES}.get(args.ranges)
    world = build_world(seed=args.seed, accounts=args.accounts, days=args.days,
                        params=draw(args.seed, ranges) if ranges else None)
    with tempfile.TemporaryDirectory(prefix="riskengine-score-") as tmp:
        ds = replay(world.events, world.write_geoip(Path(tmp) / "geoip"), Path(tmp), log=lambda *_: None)
    _, test = split(ds)
    out = {"y": ds.y, "event": ds.event, "campaign": ds.campaign, "test": test}
    for path in args.models:
        model = RiskModel.load(path)
        columns = [FEATURES.index(n) for n in model.features]
        out[f"p:{model.version}"] = np.asarray(model.score_batch(np.ascontiguousarray(ds.X[:, columns])))
        for event in ("signup", "login"):
            for level in ("challenge", "block"):
                out[f"t:{model.version}:{event}:{level}"] = np.array(model.thresholds[event][level])
    np.savez(args.out, **out)
    print(f"{args.out}: {len(ds.y)} events of world {args.seed} ({args.ranges}), {int(test.sum())} held out")


if __name__ == "__main__":
    main()
