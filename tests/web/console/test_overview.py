"""The overview's reads at scale: counts from the covering index alone, versions and reasons
from the newest assessments only, and the console's own statement budget on PostgreSQL (a
cancelled read is a 503 page, and the budget ends with the page's transaction)."""
from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import text

from riskengine import storage
from riskengine.storage import console as reads
from riskengine.storage import migrate
from tests.factories import assessment_row, index_names

DAY = 86400.0


def _store(db, rows):
    with db.begin() as conn:
        for r in rows:
            storage.record(conn, r, {}, {})


def test_overview_counts_per_event_decision_slot_and_degraded(app):
    db = app.extensions["riskengine"].db
    _store(db, [assessment_row(1, "a", 10 * DAY + 5, decision="block"),
                assessment_row(2, "a", 10 * DAY + 9, decision="block"),
                assessment_row(3, "b", 11 * DAY + 1, event="login", decision="allow", degraded=True),
                assessment_row(4, "c", 11 * DAY + 2, event="rescore", decision="challenge"),
                assessment_row(5, "c", 2 * DAY, decision="allow")])          # before the period
    with db.connect() as conn:
        got = reads.overview(conn, 9 * DAY, DAY)
    assert sorted((e, d, s, bool(g), n) for e, d, s, g, n in got["rows"]) == [
        ("login", "allow", 11, True, 1), ("rescore", "challenge", 11, False, 1), ("signup", "block", 10, False, 2)]


def test_versions_and_reasons_come_from_the_newest_assessments_of_every_event(app):
    """The sample's cut is across events: the 3 newest of all are two logins and a signup,
    whatever each event's own newest are."""
    db = app.extensions["riskengine"].db
    rows = [assessment_row(i, "a", 10 * DAY + i, model_version="old", policy_version="p1",
                           response={"reasons": [{"code": "old.reason"}]}) for i in range(5)]
    rows += [assessment_row(10, "a", 10 * DAY + 20, model_version="new", policy_version="p2",
                            response={"reasons": [{"code": "new.reason"}]}),
             assessment_row(11, "b", 10 * DAY + 21, event="login", model_version="new", policy_version="p2",
                            response={"reasons": [{"code": "new.reason"}, {"code": "login.reason"}]}),
             assessment_row(12, "b", 10 * DAY + 22, event="login", model_version="new", policy_version="p3",
                            response={"reasons": []})]
    _store(db, rows)
    with db.connect() as conn:
        got = reads.overview(conn, 9 * DAY, DAY, sample=3)
        everything = reads.overview(conn, 9 * DAY, DAY)
    assert got["sample"] == 3
    assert [(v["model_version"], v["policy_version"], v["n"]) for v in got["versions"]] == [
        ("new", "p3", 1), ("new", "p2", 2)]
    assert got["top_reasons"] == [("new.reason", 2), ("login.reason", 1)]
    assert everything["sample"] == 8 and ("old", "p1", 5) in [
        (v["model_version"], v["policy_version"], v["n"]) for v in everything["versions"]]


def test_overview_counts_read_the_covering_index_alone(app):
    db = app.extensions["riskengine"].db
    sql = ("SELECT decision, CAST(occurred_ts / 86400 AS INTEGER) AS slot, degraded, COUNT(*) FROM assessment "
           "WHERE event = 'signup' AND occurred_ts > 5 GROUP BY decision, slot, degraded")
    with db.connect() as conn:
        if conn.dialect.name == "sqlite":
            plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
            assert "USING COVERING INDEX ix_assessment_event_ts" in plan, plan
            return
    # PostgreSQL picks by statistics and the visibility map: a table of some size, vacuumed.
    with db.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO assessment (id, account_id, event, occurred_ts, created_ts, decision, decided_by, degraded, "
            "response) SELECT 'asm_' || g, 'a' || mod(g, 50), (ARRAY['signup', 'login', 'rescore'])[1 + mod(g, 3)], "
            "g, g, 'allow', 'model', false, "
            "CAST('{\"reasons\": []}' AS json) FROM generate_series(1, 6000) g")
    with db.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE assessment")
    with db.connect() as conn:
        plan = " ".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + sql))
    assert "Index Only Scan using ix_assessment_event_ts" in plan, plan


def test_migration_widens_the_event_index_and_keeps_the_other_indexes(empty_db):
    migrate.upgrade(empty_db, "c6d1e9f3a7b5")
    with empty_db.begin() as conn:
        conn.execute(text("INSERT INTO assessment (id, account_id, event, occurred_ts, created_ts, decision, "
                          "decided_by, degraded, response) VALUES ('s', 'a', 'signup', 1, 1, 'allow', 'model', "
                          "false, '{}')"))
    order = _sqlite_index_order(empty_db)
    migrate.upgrade(empty_db)
    assert _columns(empty_db, "ix_assessment_event_ts") == ["event", "occurred_ts", "decision", "degraded"]
    # SQLite's planner breaks ties for the newest index: the indexes keep their order.
    assert _sqlite_index_order(empty_db) == order
    command.downgrade(migrate._alembic_config(empty_db), "c6d1e9f3a7b5")
    assert _columns(empty_db, "ix_assessment_event_ts") == ["event", "occurred_ts"]
    assert _sqlite_index_order(empty_db) == order
    # No copy of a table lost its partial or expression indexes.
    assert {"ix_assessment_failed_login_account", "ix_assessment_signup_email_domain"} <= index_names(
        empty_db, "assessment")
    assert "ix_account_review_score" in index_names(empty_db, "account")


def _sqlite_index_order(engine) -> list[str] | None:
    with engine.connect() as conn:
        if conn.dialect.name != "sqlite":
            return None
        return [r[0] for r in conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'assessment' ORDER BY rowid")]


def _columns(engine, index: str) -> list[str]:
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            return [r[2] for r in conn.exec_driver_sql(f"PRAGMA index_info({index})")]
        return list(conn.execute(text(
            "SELECT array_agg(a.attname ORDER BY k.n) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid AND c.relname = :i "
            "JOIN pg_namespace s ON s.oid = c.relnamespace AND s.nspname = current_schema() "
            "CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(attnum, n) "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum"), {"i": index}).scalar())


def _postgresql(app):
    with app.extensions["riskengine"].db.connect() as conn:
        if conn.dialect.name != "postgresql":
            pytest.skip("SQLite has no statement timeout")


def test_a_page_read_past_its_budget_is_a_503_page(app, as_role, monkeypatch):
    _postgresql(app)

    def slow(conn, since, bucket):
        conn.exec_driver_sql("SELECT pg_sleep(2)")
    monkeypatch.setattr(reads, "PAGE_TIMEOUT_S", 0.2)
    monkeypatch.setattr(reads, "overview", slow)
    page = as_role("viewer").get("/console/")
    assert page.status_code == 503
    assert "did not answer within 0.2 s" in page.get_data(as_text=True)


def test_the_page_budget_is_the_transactions_own(app):
    _postgresql(app)
    db = app.extensions["riskengine"].db
    setting = "SELECT setting FROM pg_settings WHERE name = 'statement_timeout'"
    with db.connect() as conn:
        service = conn.exec_driver_sql(setting).scalar()
    with db.connect() as conn, reads.page_budget(conn, 1.5):
        assert conn.exec_driver_sql(setting).scalar() == "1500"
    with db.connect() as conn:            # the pooled connection is back on the service's budget
        assert conn.exec_driver_sql(setting).scalar() == service != "1500"
