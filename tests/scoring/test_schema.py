"""The feature schema is the one declaration: builders emit exactly what it declares,
reasons refer only to declared features, every code has one message, the shipped
models' orders are the schema's, and docs/features.md is generated from it."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from riskengine import storage
from riskengine.config import models_dir
from riskengine.hashing import Hasher
from riskengine.rescore import decide, partition
from riskengine.rescore.partition import ACTIVE_FEATURES, partition_features
from riskengine.rescore.population import population
from riskengine.schemas import AssessRequest
from riskengine.scoring import reasons, stored_layouts
from riskengine.scoring.features import FEATURES
from riskengine.scoring.model import RiskModel, newest_model_dir
from riskengine.scoring.pipeline import compute_signals, link_keys, observe
from riskengine.scoring.reasons import FACTS, Evidence, message, template_fields
from riskengine.scoring.schema import ACTIVE, ASSESS, REASONS, SCHEMAS, layout_id, markdown
from riskengine.signals.ip import GeoIPReaders
from tests.conftest import MAXMIND
from tests.factories import NOW, signup

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def readers():
    r = GeoIPReaders.open(str(MAXMIND / "GeoIP2-City-Test.mmdb"), str(MAXMIND / "GeoLite2-ASN-Test.mmdb"),
                          str(MAXMIND / "GeoIP2-Anonymous-IP-Test.mmdb"),
                          str(MAXMIND / "GeoIP2-Connection-Type-Test.mmdb"),
                          str(MAXMIND / "GeoIP2-Enterprise-Test.mmdb"))
    yield r
    r.close()


def assess_model() -> RiskModel:
    return RiskModel.load(newest_model_dir(models_dir()))


def everything(account_id: str, **over) -> dict:
    """A signup with every signal the contract takes: email, phone, IP, device, payment."""
    body = signup(account_id, **over)
    body["payment"] = {"fingerprint": "fp_1", "bin": "411111", "funding": "prepaid", "country": "US",
                       "billing_country": "GB"}
    return body


def features_of(conn, body: dict, readers) -> dict[str, float]:
    req = AssessRequest.model_validate(body)
    s = compute_signals(req, readers)
    return observe(conn, req, s, link_keys(req, s, Hasher(b"k" * 32)), req.occurred_at.timestamp()).features


def test_assess_builders_emit_exactly_the_declared_features(client, auth, db_url, readers):
    """A signup with everything, then a login of that account with its history: together
    every feature family, and nothing the schema does not declare."""
    assert client.post("/v1/assess", json=everything("acct_1", occurred_at="2026-11-01T10:00:00Z"),
                       headers=auth).status_code == 200
    for minute in range(10, 35, 5):      # enough successes for the account's hour-of-day baseline
        assert client.post("/v1/assess", json=everything("acct_1", event="login", login={"outcome": "success"},
                                                         occurred_at=f"2026-11-01T10:{minute}:00Z"),
                           headers=auth).status_code == 200
    login = everything("acct_1", event="login", occurred_at="2026-11-01T11:00:00Z", ip="216.160.83.56",
                       login={"outcome": "failure", "method": "password"})
    eng = storage.make_engine(db_url, 10_000)
    with eng.connect() as conn:
        emitted = set(features_of(conn, everything("acct_2", occurred_at="2026-11-01T10:30:00Z"), readers))
        login_features = features_of(conn, login, readers)
    eng.dispose()
    emitted |= set(login_features)
    assert emitted - set(ASSESS.names) == set(), "built but not declared in scoring/schema.py"
    assert set(ASSESS.names) - emitted == set(), "declared but no builder emits it"
    assert login_features["account_known"] == 1.0 and login_features["travel_kmh"] > 900   # real history


def test_active_features_are_what_the_rescore_partition_builds(world, db_url):  # noqa: F811
    eng = storage.make_engine(db_url, 10_000)
    with eng.connect() as conn:
        pop = population(conn, NOW - 7 * 86400, NOW)
        rows = np.arange(len(pop.accounts))
        scored = partition_features(conn, pop, rows, None, assess_model(), NOW - 7 * 86400, NOW)
    eng.dispose()
    assert scored.matrix.shape == (12, len(ACTIVE.names)) and not scored.bad
    assert list(scored.usage) == ACTIVE.family("usage")          # behaviour builds these, in order
    assert set(pop.cluster_feats) == set(ACTIVE.family("cluster"))
    assert ACTIVE_FEATURES == ACTIVE.names


def test_a_column_built_but_not_declared_stops_the_partition(world, db_url, monkeypatch):  # noqa: F811
    real = partition.usage_features
    monkeypatch.setattr(partition, "usage_features", lambda *a, **k: {**real(*a, **k), "usage_new": np.zeros(12)})
    eng = storage.make_engine(db_url, 10_000)
    with eng.connect() as conn, pytest.raises(ValueError, match="usage_new"):
        pop = population(conn, NOW - 7 * 86400, NOW)
        partition_features(conn, pop, np.arange(len(pop.accounts)), None, assess_model(), NOW - 7 * 86400, NOW)
    eng.dispose()


def test_model_orders_are_the_shipped_models_own():
    """Shipped models name their features in meta.json; the schema's order is theirs."""
    metas = [json.loads(p.read_text()) for p in (ROOT / "models").glob("*/meta.json")]
    assert FEATURES == ASSESS.names
    for meta in metas:
        schema = ACTIVE if meta.get("kind") == "active" else ASSESS
        assert meta["features"] == schema.names[:len(meta["features"])], meta["version"]


def test_reasons_refer_only_to_declared_features_and_every_code_has_one_message():
    spoken = {f.reason for s in SCHEMAS for f in s.features if f.reason}
    assert spoken - set(REASONS) == set(), "a feature speaks for a code without a message"
    assert set(REASONS) - spoken == set(), "a message for a code no declared feature speaks for"
    for code, reason in REASONS.items():
        assert reason.message.strip(), code
        speakers = {f.name for s in SCHEMAS for f in s.features if f.reason == code}
        names = {f.name for s in SCHEMAS if speakers & set(s.names) for f in s.features}
        unknown = template_fields(reason.message) - names - set(FACTS)
        assert not unknown, f"{code} names {unknown}: neither a feature of its model nor a fact"
    # No second mapping of features to codes or messages anywhere.
    for module, name in ((reasons, "FEATURE_CODES"), (reasons, "MESSAGES"), (decide, "ACTIVE_CODES")):
        assert not hasattr(module, name)


def test_a_name_in_both_models_is_one_declaration():
    shared = set(ASSESS.names) & set(ACTIVE.names)
    assert shared == {"account_age_days"}
    assert all(ASSESS[n] is ACTIVE[n] for n in shared)


def test_declared_directions_agree_with_the_reason_conditions():
    riskier_up = {">=", ">"}
    for schema in SCHEMAS:
        for f in schema.features:
            if f.monotone is None or f.speaks_when is None:
                continue
            w = f.speaks_when
            up = w.op in riskier_up or (w.op == "==" and w.threshold == 1)
            assert up == (f.monotone == 1), f"{f.name}: monotone {f.monotone} but speaks when {w}"


def test_one_code_reads_the_same_in_both_models():
    """account.new: an active account 0.4 days old and a login 0.4 days after signup read
    alike; a first event (no age yet) reads as new."""
    active = decide.active_reasons({"account_age_days": 1.0}, {"account_age_days": 0.4})
    assess = reasons.ranked_reasons(ASSESS, {"account_age_days": 1.0}, {"account_age_days": 0.4},
                                    Evidence({"account_age_days": 0.4}))
    assert active == assess == [{"code": "account.new", "message": "Account is 0.4 days old", "weight": 1.0}]
    first = reasons.ranked_reasons(ASSESS, {"account_known": 1.0, "account_age_days": 0.2},
                                   {"account_known": 0.0, "account_age_days": math.nan},
                                   Evidence({"account_known": 0.0, "account_age_days": math.nan}))
    assert first == [{"code": "account.new", "message": "Account is new (its first event)", "weight": 1.0}]


def test_every_message_renders_from_its_values(client, auth, readers, db_url):
    """Each template rendered from the features it names (1.0 each) and real facts of a
    signup with everything: none falls back to its code."""
    eng = storage.make_engine(db_url, 10_000)
    req = AssessRequest.model_validate(everything("acct_1"))
    s = compute_signals(req, readers)
    with eng.connect() as conn:
        h = observe(conn, req, s, link_keys(req, s, Hasher(b"k" * 32)), req.occurred_at.timestamp()
                    if req.occurred_at else NOW).history
    eng.dispose()
    values = {n: 1.0 for schema in SCHEMAS for n in schema.names}
    for code in REASONS:
        text = message(code, Evidence(values, s, h))
        assert text != code and "{" not in text, (code, text)


def test_docs_table_is_generated_from_the_schema():
    committed = (ROOT / "docs" / "features.md").read_text()
    assert committed == markdown(), "run: python -m riskengine.scoring.schema --markdown > docs/features.md"


def test_model_cards_describe_each_feature_from_the_schema():
    from riskengine.training.model_card import render_active_card, render_card
    for path in (ROOT / "models").glob("*/meta.json"):
        meta = json.loads(path.read_text())
        active = meta.get("kind") == "active"
        card = (render_active_card if active else render_card)(meta)
        schema = ACTIVE if active else ASSESS
        for name in meta["features"]:
            assert f"| `{name}` | {schema[name].family} | {schema[name].meaning} |" in card, (path, name)


def test_stored_layouts_are_registered_and_never_edited():
    """Every layout id is the hash of its names (an edited entry would misread old rows),
    and the running schemas' layouts are registered (else run --register)."""
    for layout, names in stored_layouts.LAYOUTS.items():
        model = layout.split("-")[0]
        assert layout_id(model, list(names)) == layout
    assert {ASSESS.layout, ACTIVE.layout} <= set(stored_layouts.LAYOUTS), \
        "a feature list changed: python -m riskengine.scoring.schema --register"
