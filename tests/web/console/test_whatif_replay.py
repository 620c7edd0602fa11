"""The what-if replay (riskengine.scoring.whatif) on stored assessments: rows that look the same
to a candidate are decided once; that shortcut must give the answers deciding every row gives."""
from __future__ import annotations

import copy
import json

import msgspec
import pytest
from sqlalchemy import text

from riskengine import analyst
from riskengine.scoring import whatif
from riskengine.scoring.policy import Policy
from riskengine.storage import console as reads


class _Forgetful(dict):
    """A decision cache that keeps nothing: every row is decided."""

    def __setitem__(self, key, value):
        pass


def _candidates(body: dict) -> list[dict]:
    out = []
    stricter = copy.deepcopy(body)
    stricter["thresholds"] = {"signup": {"challenge": 0.001, "block": 0.002}}     # below any model's scores
    out.append(stricter)
    listed = copy.deepcopy(body)
    listed["deny"]["device_ids"] = ["dv_user_3"]
    listed["deny"]["domains"] = ["example.com"]
    listed["allow"]["accounts"] = ["farm_2"]
    out.append(listed)
    regions = copy.deepcopy(body)
    regions["restricted_regions"].update(countries=["US"], timezone="block", card="challenge")
    out.append(regions)
    ruled = copy.deepcopy(body)
    ruled["rules"].append({"name": "prepaid", "action": "block",
                           "when": [{"signal": "payment.prepaid", "equals": True}]})
    out.append(ruled)
    return out


@pytest.mark.parametrize("which", range(4))
def test_deciding_once_per_look_gives_every_rows_answer(app, world, which):
    rt = app.extensions["riskengine"]
    _, body = rt.policies.body()
    candidate = Policy.parse(_candidates(body)[which])
    hashed = whatif.hashed_lists(candidate, rt.hasher)
    decide = whatif.model_decisions(rt.model, candidate.thresholds)
    results = []
    for forget in (False, True):
        replayer = whatif.Replayer(hashed, decide, {})
        if forget:
            replayer.decided = _Forgetful()
        with rt.db.connect() as conn:
            rows = reads.replay_rows(conn, 0, 4e9, replayer.response_paths, replayer.input_paths)
            results.append(whatif.replay(rows, replayer, reads.all_latest_labels(conn)))
    cached, every = results
    assert cached.replayed == every.replayed == 12
    assert (cached.changed, cached.by_event, cached.by_decider, cached.by_label) == \
        (every.changed, every.by_event, every.by_decider, every.by_label)
    assert cached.changed > 0


def test_each_candidate_changes_what_it_should(app, world):
    rt = app.extensions["riskengine"]
    _, body = rt.policies.body()
    stricter, listed, regions, ruled = (analyst.run_whatif(rt, "t", c, 0, 4e9) for c in _candidates(body))
    assert set(stricter.by_decider) == {"model"}
    assert {"list:deny_device_ids", "list:deny_domains", "list:allow_accounts"} <= set(listed.by_decider)
    assert any(by.startswith("rule:restricted_region") for by in regions.by_decider)
    assert set(ruled.by_decider) == {"rule:prepaid"}
    assert all(new == "block" for (_, _, new) in ruled.by_event)


def test_replay_reads_the_same_rows_through_the_index_or_the_whole_table(app, world):
    """A period holding most assessments is read by a scan of the table (SQLite), a short one
    through the (event, time) index; both hand over exactly the period's signup and login rows."""
    from sqlalchemy import event, text
    rt = app.extensions["riskengine"]
    sent: list[str] = []

    def record(conn, cursor, statement, *rest):
        sent.append(statement)
    event.listen(rt.db, "before_cursor_execute", record)
    try:
        with rt.db.connect() as conn:
            times = sorted(t for (t,) in conn.execute(text(
                "SELECT occurred_ts FROM assessment WHERE event <> 'rescore'")))
            cut = times[2]                                   # the three oldest, of twelve
            for since, until, most, n in ((0, 4e9, True, 12), (0, cut, False, 3), (cut, 4e9, True, 9)):
                sqlite = conn.dialect.name == "sqlite"
                assert not sqlite or reads._most_of_the_table(conn, since, until) is most
                sent.clear()
                rows = list(reads.replay_rows(conn, since, until, ["signals.payment.prepaid"], ["links.device"]))
                scanned = any("FROM assessment NOT INDEXED" in q for q in sent)
                assert scanned is (most and sqlite), sent
                want = conn.execute(text("SELECT account_id FROM assessment WHERE occurred_ts > :s AND "
                                         "occurred_ts <= :u AND event <> 'rescore'"), {"s": since, "u": until}).all()
                assert sorted(r[5] for r in rows) == sorted(a for (a,) in want) and len(rows) == n
    finally:
        event.remove(rt.db, "before_cursor_execute", record)


def test_replay_on_postgresql_lifts_the_scoring_statement_timeout_for_its_transaction_only(app, world):
    rt = app.extensions["riskengine"]
    with rt.db.connect() as conn:
        if conn.dialect.name != "postgresql":
            pytest.skip("PostgreSQL's statement_timeout (RISKENGINE_TEST_DATABASE_URL)")
        service = conn.exec_driver_sql("SHOW statement_timeout").scalar()
        rows = reads.replay_rows(conn, 0, 4e9, ["signals.payment.prepaid"], [])
        assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "10min" != service
        assert sum(1 for _ in rows) == 12
    with rt.db.connect() as conn:
        assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == service


_DOCS = ['{"signals": {"payment": {"prepaid": true, "velocity": {"7d": 3}}, "phone": null}, "reasons": []}',
         '{"signals": {"payment": null, "phone": {"country": "GB"}}, "extra": {"signals": 1}}',
         '{"signals": {"payment": "not an object", "phone": {"country": ["a", {"b": 1}]}}}',
         '{"other": 1}', '{"signals": {"payment": {"prepaid": 1.5e3, "velocity": [7, 8]}}}']
_PATHS = ["signals.payment.prepaid", "signals.payment.velocity.7d", "signals.phone.country", "signals.missing"]


def test_the_picker_gives_what_the_databases_json_paths_give(app):
    """What-if on PostgreSQL picks the values in Python (storage.console._Picker): the same
    values as the database's own path functions (jsonb #> on PostgreSQL, json_extract on
    SQLite), for missing keys, nulls, a scalar where the path goes on, objects and lists."""
    picker = reads._Picker(_PATHS)
    with app.extensions["riskengine"].db.connect() as conn:
        for doc in _DOCS:
            if conn.dialect.name == "postgresql":
                paths = ", ".join(f"CAST(:d AS jsonb) #> '{{{','.join(p.split('.'))}}}'" for p in _PATHS)
                want = conn.execute(text(f"SELECT CAST(jsonb_build_array({paths}) AS text)"), {"d": doc}).scalar()
            else:
                paths = ", ".join(f"'$.{p}'" for p in _PATHS)
                want = conn.execute(text(f"SELECT json_extract(:d, {paths})"), {"d": doc}).scalar()
            assert msgspec.json.decode(picker.pick(doc)) == json.loads(want), doc
    assert msgspec.json.decode(picker.pick(None)) == [None] * len(_PATHS)
    assert reads._Picker([]).pick(_DOCS[0]) is None
