"""The request path's storage (docs/performance.md): the history in two statements, the
assessment row through the driver, WAL checkpoints by a background thread."""
from __future__ import annotations

import os
import time

from sqlalchemy import event, insert, text

from riskengine import storage
from tests.factories import assessment_row as row

DAY = 86400.0


def _statements(eng) -> list[str]:
    seen: list[str] = []

    @event.listens_for(eng, "before_cursor_execute")
    def _count(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)
    return seen


def test_history_of_a_known_account_is_two_statements(db_url):
    eng = storage.make_engine(db_url)
    t = 10 * DAY
    with eng.begin() as conn:
        storage.record(conn, row(1, "me", t - 2 * DAY, latitude=52.5, longitude=13.4),
                       {}, {"device": "d1", "country": "DE", "ip": "ip1"})
        storage.record(conn, row(2, "other", t - DAY), {}, {"device": "d1"})
    seen = _statements(eng)
    with eng.connect() as conn:
        h = storage.read_history(conn, "me", {"device": "d1", "ip": "ip1"}, t, ip="198.51.100.1", asn=None,
                                 device="d1", country="FR")
    assert len(seen) == 2
    assert h.account_known and h.shared["device"]["7d"] == 1 and h.linked_accounts == 1
    assert h.device_seen_before is True and h.country_seen_before is False
    assert (h.devices_30d, h.countries_30d) == (1, 1)
    assert h.previous_location == (t - 2 * DAY, 52.5, 13.4)
    eng.dispose()


def test_an_unknown_account_has_no_baseline(db_url):
    eng = storage.make_engine(db_url)
    with eng.connect() as conn:
        h = storage.read_history(conn, "nobody", {"device": "d9"}, DAY, ip=None, asn=None, device="d9", country="DE")
    assert not h.account_known and h.device_seen_before is None and h.previous_location is None
    assert h.linked_accounts == 0 and h.shared["device"] == {"1h": 0, "24h": 0, "7d": 0, "30d": 0}
    eng.dispose()


def test_a_recorded_row_reads_back_as_a_core_insert_would_store_it(db_url):
    """storage.record inserts through the driver; a Core insert of the same row is the reference."""
    eng = storage.make_engine(db_url)
    A = storage.assessments.A
    full = row(1, "a", DAY, features={"layout": "x", "values": [1.0, None]}, inputs=None, degraded=True)
    sparse = row(2, "b", DAY)          # no features/inputs/degraded: the columns' defaults
    with eng.begin() as conn:
        storage.record(conn, full, {}, {})
        storage.record(conn, sparse, {}, {})
        conn.execute(insert(A), dict(full, id="asm_ref1", account_id="c"))
        conn.execute(insert(A), dict(sparse, id="asm_ref2", account_id="d"))
    cols = [c for c in A.columns if c.name not in ("id", "account_id")]
    with eng.connect() as conn:
        got = {r.id: tuple(getattr(r, c.name) for c in cols) for r in conn.execute(A.select())}
        raw = {r[0]: r[1:] for r in conn.execute(text(
            "SELECT id, features IS NULL, inputs IS NULL FROM assessment"))}
    assert got["asm_1"] == got["asm_ref1"] and got["asm_2"] == got["asm_ref2"]
    assert raw["asm_1"] == raw["asm_ref1"] and raw["asm_2"] == raw["asm_ref2"]
    eng.dispose()


def test_the_checkpointer_copies_the_wal_back_and_commits_do_not(tmp_path):
    path = tmp_path / "c.db"
    eng = storage.make_engine(f"sqlite:///{path}")
    stop = storage.start_checkpointer(eng)
    assert stop is not None
    try:
        with eng.begin() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
            conn.exec_driver_sql("CREATE TABLE t (x TEXT)")
        before = os.path.getsize(path)
        with eng.begin() as conn:
            conn.exec_driver_sql("INSERT INTO t SELECT hex(randomblob(500)) FROM "
                                 "(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4000) "
                                 "SELECT i FROM n)")
        for _ in range(100):          # the thread runs every 0.2 s: give it up to 10 s on a busy machine
            if os.path.getsize(path) > before + 2_000_000:
                break
            time.sleep(0.1)
        assert os.path.getsize(path) > before + 2_000_000      # the pages reached the database file
    finally:
        stop.set()
        eng.dispose()


def test_postgresql_and_memory_databases_need_no_checkpointer(db_url):
    eng = storage.make_engine("sqlite://")
    assert storage.start_checkpointer(eng) is None
    eng.dispose()
    if not db_url.startswith("sqlite"):
        pg = storage.make_engine(db_url)
        assert storage.start_checkpointer(pg) is None
        pg.dispose()
