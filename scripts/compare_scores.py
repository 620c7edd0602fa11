#!/usr/bin/env python3
"""Side by side, the models in .npz files that scripts/score_world.py wrote for ONE world
(the same seed, accounts and ranges): held-out attacks stopped and legitimate events
challenged at each model's own thresholds, then attacks flagged when every model flags the
share of legitimate events of each type that the first model does. SIMULATED data.

    .venv/bin/python scripts/compare_scores.py old.npz new.npz"""
from __future__ import annotations

import sys

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score


def load(files: list[str]) -> dict:
    d: dict = {}
    for f in files:
        z = np.load(f, allow_pickle=True)
        if d and not np.array_equal(d["y"], z["y"]):
            raise SystemExit(f"{f} is not the same world as {files[0]}")
        for k in z.files:
            d.setdefault(k, z[k])
    return d


def row(label: str, cells) -> None:
    print(f"| {label} | " + " | ".join(cells) + " |")


def main(files: list[str]) -> None:
    d = load(files)
    y, test = d["y"], d["test"]
    ev, camp = d["event"].astype(str), d["campaign"].astype(str)
    versions = [k[2:] for k in d if k.startswith("p:")]
    legit, kinds = test & (y == 0), sorted(set(camp[test]) - {"legit"})

    def own(v: str, level: str) -> np.ndarray:
        cut = np.where(ev == "signup", d[f"t:{v}:signup:{level}"], d[f"t:{v}:login:{level}"])
        return d[f"p:{v}"] >= cut

    flag = {v: own(v, "challenge") for v in versions}
    block = {v: own(v, "block") for v in versions}
    row("figure (held out, simulated)", versions)
    print("|---|" + "---|" * len(versions))
    row("ROC AUC / PR AUC", [f"{roc_auc_score(y[test], d['p:' + v][test]):.4f} / "
                             f"{average_precision_score(y[test], d['p:' + v][test]):.4f}" for v in versions])
    for kind in kinds:
        m = test & (camp == kind)
        row(f"{kind} ({m.sum()}) stopped / blocked", [f"{flag[v][m].mean():.1%} / {block[v][m].mean():.1%}"
                                                      for v in versions])
    for event in ("signup", "login"):
        m = legit & (ev == event)
        row(f"legitimate {event} ({m.sum()}) challenged / blocked",
            [f"{(flag[v] & ~block[v])[m].mean():.2%} / {block[v][m].mean():.2%}" for v in versions])
    first = versions[0]
    matched = {}
    for v in versions:
        p, f = d[f"p:{v}"], np.zeros(len(y), dtype=bool)
        for event in ("signup", "login"):
            m = legit & (ev == event)
            scores = np.sort(p[m])
            k = int(round(flag[first][m].mean() * len(scores)))     # as many legitimate events as the first flags
            f |= (ev == event) & (p >= (np.inf if k == 0 else scores[len(scores) - k]))
        matched[v] = f
    print(f"\nAt the legitimate flag rates of {first} (per event type), attacks flagged:")
    row("campaign", versions)
    print("|---|" + "---|" * len(versions))
    for kind in kinds:
        m = test & (camp == kind)
        row(f"{kind} ({m.sum()})", [f"{matched[v][m].mean():.1%}" for v in versions])


if __name__ == "__main__":
    main(sys.argv[1:])
