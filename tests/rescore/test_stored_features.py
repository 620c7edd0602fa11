"""Stored feature vectors are read by name, through their layout: a feature added after a
row was stored is NaN for that row (never a skip), a model's own order does not matter, and
the migration gives the old positional lists their layout on SQLite and PostgreSQL alike."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import xgboost as xgb
from alembic import command
from sqlalchemy import text

from riskengine import storage
from riskengine.config import models_dir
from riskengine.rescore import job as rescore
from riskengine.rescore.command import active_model_dir
from riskengine.rescore.partition import partition_features
from riskengine.rescore.population import population
from riskengine.runtime import Runtime
from riskengine.scoring import pipeline, schema, stored_layouts
from riskengine.scoring.model import RiskModel, newest_model_dir
from riskengine.scoring.schema import ACTIVE, ASSESS, Feature, layout_id, layout_names
from riskengine.storage import migrate
from tests.factories import NOW, at, signup

MIGRATION = Path(migrate.MIGRATIONS) / "versions" / "f3b8d2a6c1e9_features_with_layout.py"
BEFORE = "e1f2a3b4c5d6"


def stored(conn) -> dict[str, dict]:
    """Each account's stored signup/login features, {name: value}, read through their layout."""
    rows = conn.execute(text("SELECT account_id, features FROM assessment WHERE event <> 'rescore'")).all()
    out = {}
    for account, features in rows:
        v = json.loads(features) if isinstance(features, str) else features
        out[account] = dict(zip(layout_names(v["layout"]), v["values"], strict=True))
    return out


def capture(model: RiskModel, seen: list) -> RiskModel:
    """The model, its score_batch recording each matrix it is given."""
    score = model.score_batch
    model.score_batch = lambda m: (seen.append(np.array(m)), score(m))[1]
    return model


def small_model(features: list[str]) -> RiskModel:
    rng = np.random.default_rng(0)
    X = rng.random((200, len(features)), dtype=np.float32)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 2, "nthread": 1, "seed": 0},
                        xgb.DMatrix(X, label=rng.random(200) < 0.3, feature_names=features), 3)
    return RiskModel("test-extended", booster, features, {"margin": [-5, 5], "prob": [0, 1]},
                     {"signup": {"challenge": 0.5, "block": 0.9}})


def test_a_feature_added_later_is_nan_for_rows_stored_before_it(world, env, client, auth, monkeypatch):  # noqa: F811
    new = Feature("email_domain_length", "email", "Characters in the email domain")
    monkeypatch.setattr(schema, "ASSESS", ASSESS.appended(new))
    build = pipeline.build_features

    def with_new_feature(*args):
        out = build(*args)
        s = args[4]
        out[new.name] = float(len(s.email.domain)) if s.email and s.email.domain else float("nan")
        return out
    monkeypatch.setattr(pipeline, "build_features", with_new_feature)
    assert client.post("/v1/assess", json=signup("late_1", occurred_at=at(0)), headers=auth).status_code == 200
    runtime = Runtime.build(env)
    seen: list = []
    runtime.model = capture(small_model(ASSESS.names + [new.name]), seen)
    summary = rescore.run(runtime, RiskModel.load(active_model_dir()), 7 * 86400, progress=False, now=NOW)
    assert summary.skipped == {} and summary.scored == summary.accounts == 13
    with runtime.db.connect() as conn:
        rows = stored(conn)
        pop = population(conn, NOW - 7 * 86400, NOW)
    runtime.close()
    matrix, features = seen[0], runtime.model.features
    for account in ("farm_1", "user_4", "late_1"):
        j = pop.index[account]
        for name, value in rows[account].items():
            got = matrix[j, features.index(name)]
            assert (np.isnan(got) if value is None else got == np.float32(value)), (account, name)
    assert new.name not in rows["farm_1"] and np.isnan(matrix[pop.index["farm_1"], -1])
    assert rows["late_1"][new.name] == len("example.com") == matrix[pop.index["late_1"], -1]


def permuted(model: RiskModel, order: list[str], directory: Path) -> RiskModel:
    """The same trees over the same features, listed in another order: split indexes renamed."""
    booster = json.loads((model.path / "model.json").read_text())
    position = {name: k for k, name in enumerate(order)}
    rename = [position[name] for name in model.features]
    booster["learner"]["feature_names"] = order
    for tree in booster["learner"]["gradient_booster"]["model"]["trees"]:
        tree["split_indices"] = [rename[i] for i in tree["split_indices"]]
    meta = {**json.loads((model.path / "meta.json").read_text()), "features": order}
    directory.mkdir()
    (directory / "model.json").write_text(json.dumps(booster))
    (directory / "meta.json").write_text(json.dumps(meta))
    return RiskModel.load(directory)


def test_a_model_listing_its_features_in_another_order_scores_the_same(world, db_url, tmp_path):  # noqa: F811
    shipped = RiskModel.load(newest_model_dir(models_dir()))
    order = list(np.random.default_rng(1).permutation(shipped.features))
    other = permuted(shipped, order, tmp_path / "permuted")
    eng = storage.make_engine(db_url, 10_000)
    with eng.connect() as conn:
        pop = population(conn, NOW - 7 * 86400, NOW)
        rows = np.arange(len(pop.accounts))
        scores = [partition_features(conn, pop, rows, None, m, NOW - 7 * 86400, NOW).matrix[:, 0]
                  for m in (shipped, other)]
    eng.dispose()
    assert not np.isnan(scores[0]).any()
    np.testing.assert_array_equal(scores[0], scores[1])
    # The permutation matters: the same values fed in the shipped order score differently.
    x = np.nan_to_num(np.random.default_rng(2).random((50, len(order)), dtype=np.float32))
    assert not np.allclose(shipped.score_batch(x), other.score_batch(x))


# ------------------------------------------------------------------ the migration
def _migration():
    spec = importlib.util.spec_from_file_location("features_with_layout", MIGRATION)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module




def test_the_migrations_layouts_are_the_lists_rows_were_stored_in():
    """The ids the migration gives old rows name the feature lists of the code before it,
    a prefix of today's (features are only ever appended)."""
    m = _migration()
    for layout, declared in ((m.ASSESS_LAYOUT, ASSESS), (m.ACTIVE_LAYOUT, ACTIVE)):
        names = list(stored_layouts.LAYOUTS[layout])
        assert len(names) == m.LENGTHS[layout] and names == declared.names[:len(names)]
        assert layout_id(declared.model, names) == layout


def test_migration_gives_positional_lists_their_layout_and_back(empty_db):
    m = _migration()
    migrate.upgrade(empty_db, BEFORE)
    rng = np.random.default_rng(5)
    # Floats that only survive exact serialisation, nulls, and as many rows as two batches and a bit.
    assess = [[None if k % 7 == 0 else float(rng.random()) for k in range(m.LENGTHS[m.ASSESS_LAYOUT])]
              for _ in range(m.BATCH + 3)]
    assess[0][1] = 0.1 + 0.2
    active = [[float(k) + 0.25 for k in range(m.LENGTHS[m.ACTIVE_LAYOUT])] for _ in range(4)]
    rows = ([(f"asm_a{i:05d}", "signup", v) for i, v in enumerate(assess)]
            + [(f"asm_r{i}", "rescore", v) for i, v in enumerate(active)]
            + [("asm_short", "login", [1.0, 2.0]), ("asm_none", "login", None)])
    spelt = {"asm_r3": (",", ":")}        # not as riskengine writes it: converted through json
    with empty_db.begin() as conn:
        conn.execute(text("INSERT INTO assessment (id, account_id, event, occurred_ts, created_ts, decision, "
                          "decided_by, degraded, response, features) VALUES (:id, 'a', :event, 1, 1, 'allow', "
                          "'model', false, '{}', :features)"),
                     [{"id": i, "event": e, "features": None if v is None else json.dumps(v, separators=spelt.get(i))}
                      for i, e, v in rows])
    migrate.upgrade(empty_db)
    after = _features(empty_db)
    for row_id, event, values in rows:
        layout = m.ACTIVE_LAYOUT if event == "rescore" else m.ASSESS_LAYOUT
        want = {"layout": layout, "values": values} if values is not None and len(values) == m.LENGTHS[layout] \
            else values
        assert after[row_id] == want, row_id
    assert after["asm_a00000"]["values"][1] == 0.1 + 0.2               # exactly: nothing re-printed
    command.downgrade(migrate._alembic_config(empty_db), BEFORE)     # back to the very lists
    assert _features(empty_db) == {row_id: values for row_id, _, values in rows}


def _features(eng) -> dict:
    with eng.connect() as conn:
        rows = conn.execute(text("SELECT id, features FROM assessment")).all()
    return {i: json.loads(f) if isinstance(f, str) else f for i, f in rows}
