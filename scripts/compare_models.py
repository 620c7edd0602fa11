#!/usr/bin/env python3
"""Score two signup/login models on the SAME held-out events of one simulated world, each with
its own calibration and thresholds: the previous shipped model against its retrained successor.
The model cards' own figures come from the world of the code that trained each model; when the
simulator changes, only this side-by-side says whether the new model is worse. SIMULATED data.

    .venv/bin/python scripts/compare_models.py riskengine/models/2026.11.1 riskengine/models/2026.12.1
    .venv/bin/python scripts/compare_models.py OLD NEW --seed 7 --accounts 6000 --days 30

The world is built with the training command's arguments (the new model's held-out split:
legitimate traffic by time, attacks by whole campaign instance). A model that lacks a feature
of today's schema simply never sees it (its columns are picked by name)."""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from riskengine.scoring.features import FEATURES  # noqa: E402
from riskengine.scoring.model import RiskModel  # noqa: E402
from riskengine.training.assess_model import evaluate, replay, split  # noqa: E402


def columns(names: list[str]) -> list[int]:
    index = {n: i for i, n in enumerate(FEATURES)}
    missing = [n for n in names if n not in index]
    if missing:
        raise SystemExit(f"model features not in today's schema: {missing}")
    return [index[n] for n in names]


def matched(ds, test, scores: dict, reports: dict) -> None:
    """Attacks flagged when every model flags the same share of held-out legitimate events of
    each type as the first model does with its own thresholds: thresholds alone move both
    sides, so this is the comparison that says whether a model separates better."""
    first = next(iter(reports))
    print(f"\nAt the legitimate flag rates of {first} (per event type), attacks flagged:")
    versions = list(scores)
    print("| campaign | " + " | ".join(versions) + " |")
    print("|---|" + "---|" * len(versions))
    legit = test & (ds.y == 0)
    flagged = {}
    for v in versions:
        flag = np.zeros(len(ds.y), dtype=bool)
        for event in ("signup", "login"):
            rep = reports[first]["legit"][event]
            rate = rep["challenge_rate"] + rep["block_rate"]
            legit_scores = np.sort(scores[v][legit & (ds.event == event)])
            # the lowest threshold that flags `rate` of legitimate events (to the nearest event)
            k = int(round(rate * len(legit_scores)))      # the rates are rounded: floor could drop the one event
            cut = np.inf if k == 0 else legit_scores[len(legit_scores) - k]
            flag |= (ds.event == event) & (scores[v] >= cut)
        flagged[v] = flag
    for kind in sorted(set(ds.campaign[test]) - {"legit"}):
        m = test & (ds.campaign == kind)
        print(f"| {kind} ({int(m.sum())}) | " + " | ".join(f"{flagged[v][m].mean():.1%}" for v in versions) + " |")
    for event in ("signup", "login"):
        m = legit & (ds.event == event)
        print(f"| legitimate {event} flagged | " + " | ".join(f"{flagged[v][m].mean():.2%}" for v in versions) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+", help="model directories (meta.json + model.json)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--accounts", type=int, default=6000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--json", help="also write the reports to this file")
    args = ap.parse_args()
    from riskengine.sim.world import build_world
    world = build_world(seed=args.seed, accounts=args.accounts, days=args.days)
    with tempfile.TemporaryDirectory(prefix="riskengine-compare-") as tmp:
        geoip = world.write_geoip(Path(tmp) / "geoip")
        ds = replay(world.events, geoip, Path(tmp), log=lambda *_: None)
    _, test = split(ds)
    reports, scores = {}, {}
    for path in args.models:
        model = RiskModel.load(path)
        probs = np.asarray(model.score_batch(np.ascontiguousarray(ds.X[:, columns(model.features)])))
        reports[model.version] = evaluate(probs, ds, test, model.thresholds)
        scores[model.version] = probs
    print(f"world: seed {args.seed}, {args.accounts} legitimate accounts, {args.days} days; "
          f"{int(test.sum())} held-out events (simulated)")
    versions = list(reports)
    print("| figure | " + " | ".join(versions) + " |")
    print("|---|" + "---|" * len(versions))
    print("| ROC AUC | " + " | ".join(str(reports[v]["roc_auc"]) for v in versions) + " |")
    print("| PR AUC | " + " | ".join(str(reports[v]["pr_auc"]) for v in versions) + " |")
    for kind in reports[versions[0]]["campaigns"]:
        cells = [f'{reports[v]["campaigns"][kind]["challenged_or_blocked"]:.1%} / '
                 f'{reports[v]["campaigns"][kind]["blocked"]:.1%}' for v in versions]
        n = reports[versions[0]]["campaigns"][kind]["events"]
        print(f"| {kind} ({n}) flagged / blocked | " + " | ".join(cells) + " |")
    for event in ("signup", "login"):
        cells = [f'{reports[v]["legit"][event]["challenge_rate"]:.2%} / {reports[v]["legit"][event]["block_rate"]:.2%}'
                 for v in versions]
        n = reports[versions[0]]["legit"][event]["events"]
        print(f"| legitimate {event} ({n}) challenged / blocked | " + " | ".join(cells) + " |")
    matched(ds, test, scores, reports)
    if args.json:
        Path(args.json).write_text(json.dumps(reports, indent=1))


if __name__ == "__main__":
    main()
