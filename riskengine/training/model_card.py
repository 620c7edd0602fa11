"""The model card written beside every trained model."""
from __future__ import annotations

from riskengine.scoring.schema import ACTIVE, ASSESS, FEATURE_HEAD, Schema, feature_rows, markdown_table


def _table(rows: list[list], head: list[str]) -> str:
    return markdown_table(head, [[str(c) for c in r] for r in rows])


def _features(meta: dict, schema: Schema) -> str:
    """The model's features in its own order, described by the schema they were declared in."""
    return _table(feature_rows(schema, meta["features"]), FEATURE_HEAD)


def _monotone_note(meta: dict) -> str:
    if "monotone_constraints" in meta["params"]:
        return ("Trained with these directions as XGBoost monotone constraints: no tree can learn that a "
                "familiar device or network raises the risk, or that more failures lower it.")
    return "(Declared, not a training constraint for this model.)"


def _pct(v) -> str:
    return "" if v is None else f"{v:.2%}"


def _side_by_side(rows: dict, inworld: dict, cross: dict, key: str, head: list[str]) -> str:
    return _table([[k, inworld.get(k, {}).get("events", ""), _pct(inworld.get(k, {}).get(key)),
                    cross.get(k, {}).get("events", ""), _pct(cross.get(k, {}).get(key))] for k in rows], head)


def _worlds(meta: dict) -> str:
    """In-world and cross-world figures side by side, against the issue's targets."""
    cross = meta["metrics"].get("cross_world")
    if cross is None:
        return ""
    test, tr = meta["metrics"]["test"], meta["training"]
    legit, att, seg = _world_tables(test, cross)
    worlds = ", ".join(str(w["seed"]) for w in tr.get("worlds", []))
    cross_eval = ", ".join(str(w["seed"]) for w in tr.get("cross_worlds", []) if w["role"] == "evaluation")
    cross_tune = ", ".join(str(w["seed"]) for w in tr.get("cross_worlds", []) if w["role"] == "thresholds")
    opened = meta["metrics"].get("open_loop")
    loop = ""
    if opened is not None:
        o_legit, o_att, o_seg = _world_tables(opened["test"], opened["cross_world"])
        loop = f"""### The same worlds, open loop
Above, the worlds are replayed closed loop: the model's own decisions act as they do live (a
blocked event teaches the account's baseline nothing; a challenged successful login is answered,
by its owner passed 93% of the time, by a thief never, and the answer teaches), so a takeover
the model stopped does not make the thief's device the account's own. Here the same worlds as
the training replay sees them (open loop: every event stored as allowed, the simulator's own
challenges teach), with the same model and thresholds.

{o_legit}

{o_att}

{o_seg}

"""
    return f"""## In-world and cross-world results (simulated)
Trained on worlds {worlds} (parameters drawn from `riskengine.sim.params.TRAIN_RANGES`). The
cross-world set is worlds {cross_eval}, whose every parameter lies outside the training ranges
(`CROSS_RANGES`: bigger and busier NATs, more device churn and sharing, more travellers, expats,
VPN and heavy users, more careful attackers); worlds {cross_tune} (also outside) set the
thresholds together with the training out-of-fold scores (the stricter of the two wins), so the
target rates are meant to hold off the training distribution. Thresholds are tuned, and the
cross-world set is scored, on each world's legitimate events of its last 30% of days (and all
its attacks): a world starts with an empty database, and its early events have less history
behind their sharing counts than a live engine's. Every world's parameters are in
meta.json. All of it is simulated data: it says how the model holds when the simulator's
assumptions move, not how it does on your traffic.

Targets (issue 13): legitimate logins challenged or blocked <= 1%, blocked <= 0.1%; takeovers
stopped >= 95%; password spray >= 99%; every legitimate segment <= 3% login friction; signups:
farms >= 97% stopped, legitimate challenged <= 1%, blocked <= 0.1%.

ROC AUC in-world {test['roc_auc']}, cross-world {cross['roc_auc']}; PR AUC {test['pr_auc']} / {cross['pr_auc']}.

{legit}

{att}

{seg}

{loop}"""


def _world_tables(test: dict, cross: dict) -> tuple[str, str, str]:
    attacks = sorted(set(test.get("attacks", {})) | set(cross.get("attacks", {})))
    att = _table([[k, test["attacks"].get(k, {}).get("events", ""),
                   _pct(test["attacks"].get(k, {}).get("challenged_or_blocked")),
                   _pct(test["attacks"].get(k, {}).get("successful_stopped")),
                   cross["attacks"].get(k, {}).get("events", ""),
                   _pct(cross["attacks"].get(k, {}).get("challenged_or_blocked")),
                   _pct(cross["attacks"].get(k, {}).get("successful_stopped"))] for k in attacks],
                 ["attack / variant", "in-world events", "stopped", "successful logins stopped",
                  "cross-world events", "stopped", "successful logins stopped"])
    segs = sorted(set(test["legit_segments"]) | set(cross["legit_segments"]))
    seg = _table([[k, test["legit_segments"].get(k, {}).get("login_events", ""),
                   _pct(test["legit_segments"].get(k, {}).get("login_flagged")),
                   cross["legit_segments"].get(k, {}).get("login_events", ""),
                   _pct(cross["legit_segments"].get(k, {}).get("login_flagged"))] for k in segs],
                 ["legitimate segment", "in-world logins", "challenged or blocked", "cross-world logins",
                  "challenged or blocked"])
    legit = _table([[e, _pct(test["legit"].get(e, {}).get("challenge_rate")), _pct(test["legit"].get(e, {}).get(
        "block_rate")), _pct(cross["legit"].get(e, {}).get("challenge_rate")),
        _pct(cross["legit"].get(e, {}).get("block_rate"))] for e in ("signup", "login")],
        ["legitimate", "in-world challenged", "in-world blocked", "cross-world challenged", "cross-world blocked"])
    return legit, att, seg


def render_card(meta: dict) -> str:
    test = meta["metrics"]["test"]
    tr = meta["training"]
    campaigns = _table([[k, v["events"], f"{v['challenged_or_blocked']:.1%}", f"{v['blocked']:.1%}"]
                        for k, v in test["campaigns"].items()],
                       ["campaign (held out)", "events", "challenged or blocked", "blocked"])
    legit = _table([[e, v["events"], f"{v['challenge_rate']:.2%}", f"{v['block_rate']:.2%}"]
                    for e, v in test["legit"].items()], ["legitimate", "events", "challenged", "blocked"])
    segments = _table([[s, v["events"], f"{v['flagged']:.2%}"] for s, v in test["legit_segments"].items()],
                      ["legitimate segment", "events", "challenged or blocked"])
    th = _table([[e, v["challenge"], v["block"]] for e, v in meta["thresholds"].items()],
                ["event", "challenge at score >=", "block at score >="])
    return f"""# Model card: riskengine {meta['version']}

**This model was trained on SIMULATED data only.** Every number below comes from
`riskengine.sim.world`, a simulated population of legitimate users and attack campaigns.
It shows that the pipeline works and how the model separates the simulated campaigns; it
says nothing about how well it does on your traffic. Retrain on your own labelled traffic
before you rely on it (see "Retraining on real labels").

## What it is
- XGBoost (`hist`), {meta['rounds']} rounds, depth {meta['params']['max_depth']}, on {len(meta['features'])} features
  built by `riskengine.features` (the same code the service runs).
- One model for signup and login: the event is a feature (`event_login`), login-only
  features (failed attempts, new device or country, travel speed) are missing for
  signups, and thresholds are picked per event. One model lets the many signals that
  both events share (IP, device, email, links) learn from both kinds of traffic.
- Score: calibrated probability of fraud (isotonic regression on out-of-fold margins,
  grouped by campaign instance / account).
- Reasons: per-prediction feature contributions (XGBoost `pred_contribs`, approximate
  Saabas method: about one prediction's cost, where exact TreeSHAP costs ~15x), summed per
  reason code.

## Training data
- Command: `{tr['command']}`
  (in a source checkout add `--out riskengine/models` to write it where the package ships its
  models; without `--out` it goes to `./models/`)
- {tr['events']} simulated events ({_accounts(tr)} legitimate accounts over {tr['days']} days, plus campaigns).
- Device tokens: the simulated pages run the browser collector (`riskengine.sim.collector`): most
  real-browser events carry a valid signed token, a few an expired one or one from another
  network; HTTP-library farms none, or a harvested one replayed from their own network;
  BotD's verdict flags most headless farms and few real browsers. The replay verifies every
  token with the serving code (`pipeline.verify_device_token`) at the event's time.
- Split: legitimate traffic by time (last 30% of days held out); attacks by whole campaign
  instance (the latest third of each kind's instances held out; no instance straddles
  train and test).

## Thresholds (from target rates on legitimate out-of-fold scores)
Targets: challenge at most {meta['targets']['challenge']:.1%} and block at most
{meta['targets']['block']:.1%} of legitimate events of each type.

{th}

## Held-out results (simulated)
ROC AUC {test['roc_auc']}, PR AUC {test['pr_auc']} over {test['events']} held-out events.

{campaigns}

{legit}

{segments}

{_worlds(meta)}
## Features (in the model's order; declared in `riskengine/scoring/schema.py`)
Monotone: +1 riskier when larger, -1 riskier when smaller. {_monotone_note(meta)}

{_features(meta, ASSESS)}

## Retraining on real labels
1. Let the service record assessments (each stores its feature values and their layout, whose
   names are in `riskengine.scoring.stored_layouts`) and send ground truth
   to `POST /v1/labels` (analyst reviews, chargebacks, abuse reports).
2. Join labels to assessments by account, hold out by time and by whole fraud cluster, and
   fit with `riskengine.train.fit`, calibrate with `calibration_map`, pick thresholds with
   `thresholds` on your legitimate traffic; write the directory in the same layout.
3. Ship it as a new version under `riskengine/models/` (or the directory `RISKENGINE_MODELS_DIR`
   names), or point `RISKENGINE_MODEL` at it; run the new policy in monitor mode first.
"""


def render_active_card(meta: dict) -> str:
    test = meta["metrics"]["test"]
    tr = meta["training"]
    campaigns = _table([[k, v["rows"], f"{v['flagged']:.1%}", f"{v['blocked']:.1%}"]
                        for k, v in test["campaigns"].items()],
                       ["campaign (held out)", "account snapshots", "challenged or blocked", "blocked"])
    legit = _table([[k, v["rows"], f"{v['flagged']:.2%}", f"{v['blocked']:.2%}"] for k, v in test["legit"].items()],
                   ["legitimate accounts", "account snapshots", "challenged or blocked", "blocked"])
    segments = _table([[s, v["rows"], f"{v['flagged']:.2%}"] for s, v in test["legit_segments"].items()],
                      ["legitimate usage segment", "account snapshots", "challenged or blocked"])
    th = meta["thresholds"]["rescore"]
    return f"""# Model card: riskengine active-account model {meta['version']}

**This model was trained on SIMULATED data only** (`riskengine.sim.world` and
`riskengine.sim.usage`): simulated accounts, campaigns and API usage. The numbers below show
how it separates the simulated campaigns; they say nothing about your traffic. Retrain on
your own labelled accounts before relying on it.

## What it is
- Used by `riskengine rescore` to re-score live accounts. XGBoost (`hist`), {meta['rounds']}
  rounds, depth {meta['params']['max_depth']}, on {len(meta['features'])} features: the signup/login model's score
  on the account's latest assessment (model {meta['assess_model']}), account age, behaviour over a 7-day
  window (`riskengine.behaviour`: volume, tokens, output/input ratio, reasoning share, hour-of-day
  entropy and night share in the account's local time, inter-arrival regularity, distinct IPs,
  devices, countries and ASNs, anonymous and hosting shares, simultaneous distant use, quota use,
  prompt-template sharing) and its cluster (`riskengine.clusters`: size, blocked share and
  labels of the other members, signup burstiness).
- Score: calibrated probability (isotonic on out-of-fold margins, grouped by campaign / account).
- Thresholds on legitimate out-of-fold accounts: challenge at score >= {th['challenge']}
  (target at most {meta['targets']['challenge']:.1%} flagged), block at >= {th['block']}
  (target at most {meta['targets']['block']:.1%}). An analyst's label decides over the model.

## Training data
- Command: `{tr['command']}`
  (in a source checkout add `--out riskengine/models` to write it where the package ships its
  models; without `--out` it goes to `./models/`)
- {tr['rows']} account snapshots (every active account at three moments, 7-day windows).
- Split: the latest third of each attack kind's campaign instances held out whole; 30% of
  legitimate accounts held out (all snapshots of an account on one side).

## Held-out results (simulated, after one rescore)
ROC AUC {test['roc_auc']}, PR AUC {test['pr_auc']} over {test['rows']} held-out account snapshots.

{campaigns}

{legit}

Heavy legitimate users are the usage segments startup_batch, researcher and shared_team.

{segments}

## Features (in the model's order; declared in `riskengine/scoring/schema.py`)
Monotone: +1 riskier when larger, -1 riskier when smaller (declared, not a training constraint).

{_features(meta, ACTIVE)}

## Retraining on real labels
Each rescore assessment stores its features (`features`: `{{"layout": id, "values": [...]}}`, the
layout's names in `riskengine.scoring.stored_layouts`, today the list above). Join
labels from `POST /v1/labels` by account, hold out by whole fraud cluster, and train as
`riskengine.train_active` does; ship the directory under `riskengine/models/` (or the directory
`RISKENGINE_MODELS_DIR` names) with `"kind": "active"`, or point `RISKENGINE_ACTIVE_MODEL` at it.
"""


def _accounts(training: dict) -> str:
    sizes = training.get("world_accounts") or [training["accounts"]]
    if len(sizes) == 1:
        return str(sizes[0])
    return " + ".join(str(n) for n in sizes) + " (one world each)"
