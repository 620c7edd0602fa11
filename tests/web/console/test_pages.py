"""The console's pages and their queries, on the real database (SQLite, or PostgreSQL with
RISKENGINE_TEST_DATABASE_URL): queue filters and keyset pages, the account page, labels in
the store of POST /v1/labels, cluster bulk actions with their confirmation, lists published as
policy versions that decide the next assessment, rollback, and the what-if replay."""
from __future__ import annotations

import json
import re
import time

from sqlalchemy import text

from riskengine import storage
from riskengine.storage import console as reads
from tests.factories import assessment_row, farm_signup, index_names, signup
from tests.factories import console_post as post


def _queue_ids(page: str) -> list[str]:
    return re.findall(r'data-account="([^"]+)"', page)


def test_queue_lists_stopped_unlabelled_accounts_by_score(as_role, world):
    page = as_role("viewer").get("/console/queue").get_data(as_text=True)
    ids = _queue_ids(page)
    assert ids and "farm_0" not in ids                          # labelled fraud by the world fixture
    assert all(i.startswith("farm_") for i in ids)              # the ordinary users were allowed
    scores = [float(s) for s in re.findall(r"<td>(\d\.\d{3})</td>", page)]
    assert scores == sorted(scores, reverse=True)


def test_queue_filters_by_reason_event_country_and_cluster(app, as_role, world):
    c = as_role("viewer")
    everyone = set(_queue_ids(c.get("/console/queue").get_data(as_text=True)))
    with app.extensions["riskengine"].db.connect() as conn:
        reasons = conn.execute(text("SELECT account_id, response FROM assessment WHERE account_id LIKE 'farm_%'")).all()
    code_of = {a: [r["code"] for r in (json.loads(x) if isinstance(x, str) else x)["reasons"]] for a, x in reasons}
    code = next(c for codes in code_of.values() for c in codes)
    by_reason = set(_queue_ids(c.get(f"/console/queue?reason={code}").get_data(as_text=True)))
    assert by_reason and by_reason == {a for a in everyone if code in code_of[a]}
    assert _queue_ids(c.get("/console/queue?reason=no.such_code").get_data(as_text=True)) == []
    assert set(_queue_ids(c.get("/console/queue?event=signup").get_data(as_text=True))) == everyone
    assert _queue_ids(c.get("/console/queue?event=login").get_data(as_text=True)) == []
    assert set(_queue_ids(c.get("/console/queue?country=gb").get_data(as_text=True))) == everyone
    assert _queue_ids(c.get("/console/queue?country=FR").get_data(as_text=True)) == []
    with app.extensions["riskengine"].db.begin() as conn:
        conn.execute(text("UPDATE account SET cluster_id = 'c_farm', cluster_size = 2 "
                          "WHERE id IN ('farm_1', 'farm_2')"))
    assert set(_queue_ids(c.get("/console/queue?cluster=c_farm").get_data(as_text=True))) == \
        {"farm_1", "farm_2"} & everyone
    assert c.get("/console/queue?sort=sideways").status_code == 400
    bad = c.get("/console/queue?after=nonsense")
    assert bad.status_code == 400 and "after" in bad.get_data(as_text=True)


def _stopped_accounts(app, n: int) -> None:
    """n accounts whose last assessment challenged or blocked them, scores spread out (some tied)."""
    t = time.time() - 3600
    with app.extensions["riskengine"].db.begin() as conn:
        for i in range(n):
            row = assessment_row(i, f"q_{i:03d}", t + i, decision="challenge" if i % 3 else "block",
                                 score=round((i * 37 % 101) / 100, 2), response={"reasons": [{"code": f"r.{i % 4}"}]})
            storage.record(conn, row, {"country": "DE"}, {})
        storage.record(conn, assessment_row(n, "q_allowed", t, decision="allow", score=0.99), {}, {})


def test_queue_keyset_pages_cover_every_account_once_in_order(app, db_url):
    _stopped_accounts(app, 137)
    for sort in ("score", "recent"):
        seen, after = [], None
        with app.extensions["riskengine"].db.connect() as conn:
            while True:
                page = reads.review_queue(conn, reads.QueueFilter(), sort, after, 25)
                if not page:
                    break
                seen += page
                after = page[-1]["key"]
        assert len(seen) == 137 and len({r["id"] for r in seen}) == 137
        keys = [r["key"] for r in seen]
        assert keys == sorted(keys, reverse=True)
    with app.extensions["riskengine"].db.connect() as conn:
        only = reads.review_queue(conn, reads.QueueFilter(reason="r.2"), "score", None, 500)
    assert {r["id"] for r in only} == {f"q_{i:03d}" for i in range(137) if i % 4 == 2}


def test_queue_pages_through_the_next_link(as_role, app):
    _stopped_accounts(app, 120)
    c = as_role("viewer")
    seen, path = [], "/console/queue"
    while path:
        page = c.get(path).get_data(as_text=True)
        seen += _queue_ids(page)
        found = re.search(r'class="next-page" href="([^"]+)"', page)
        path = found.group(1).replace("&amp;", "&").replace("&#34;", '"') if found else None
    assert len(seen) == 120 == len(set(seen))


def test_queue_country_filter_pages_match_declared_or_last_ip_country(app, db_url):
    """Two walks (declared country, last IP's country) merged into one keyset order: every
    matching account once, in order, across pages; a later login moves the IP country."""
    t = time.time() - 3600
    declared = ["FR", "DE", None]
    ips = ["FR", "GB", "DE", None]
    with app.extensions["riskengine"].db.begin() as conn:
        for i in range(90):
            row = assessment_row(i, f"c_{i:03d}", t + i, decision="block", score=round((i * 29 % 97) / 100, 2),
                                 ip_country=ips[i % 4], response={"reasons": []})
            storage.record(conn, row, {"country": declared[i % 3]}, {})
        # c_001 (declared DE, signed up from GB) logs in later from FR; c_000 (FR, from FR) from GB.
        storage.record(conn, assessment_row(200, "c_001", t + 500, decision="block", score=0.5, ip_country="FR",
                                            response={"reasons": []}), {}, {})
        storage.record(conn, assessment_row(201, "c_000", t + 501, decision="block", score=0.5, ip_country="GB",
                                            response={"reasons": []}), {}, {})
    ip_of = {f"c_{i:03d}": ips[i % 4] for i in range(90)} | {"c_001": "FR", "c_000": "GB"}
    for country in ("FR", "GB", "IT"):
        want = {a for a, ip in ip_of.items() if ip == country or declared[int(a[2:]) % 3] == country}
        for sort in ("score", "recent"):
            seen, after = [], None
            with app.extensions["riskengine"].db.connect() as conn:
                while page := reads.review_queue(conn, reads.QueueFilter(country=country.lower()), sort, after, 7):
                    seen += page
                    after = page[-1]["key"]
            keys = [r["key"] for r in seen]
            assert keys == sorted(keys, reverse=True)
            assert {r["id"] for r in seen} == want and len(seen) == len(want), (country, sort)


def test_queue_country_walks_read_their_partial_indexes(app, db_url):
    with app.extensions["riskengine"].db.connect() as conn:
        if conn.dialect.name != "sqlite":
            return                  # PostgreSQL's planner picks by statistics; bench_console measures it
        for column in ("country", "last_ip_country"):
            for order, index in (("COALESCE(last_score, -1.0) DESC, updated_ts DESC, account.id DESC", "score"),
                                 ("updated_ts DESC, account.id DESC", "recent")):
                plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(
                    "EXPLAIN QUERY PLAN SELECT account.id FROM account "
                    "LEFT JOIN assessment a ON a.id = account.last_assessment_id "
                    "WHERE (last_decision IN ('challenge', 'block') OR rescore_decision IN ('challenge', 'block')) "
                    f"AND account.{column} = 'FR' ORDER BY {order} LIMIT 50"))
                assert f"ix_account_review_{column}_{index}" in plan and "TEMP B-TREE" not in plan, plan


def test_the_review_queue_reads_its_partial_index(app, db_url):
    with app.extensions["riskengine"].db.connect() as conn:
        if conn.dialect.name != "sqlite":
            return                  # PostgreSQL's planner picks by statistics; bench_console measures it
        plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT account.id FROM account "
            "LEFT JOIN assessment a ON a.id = account.last_assessment_id "
            "WHERE (last_decision IN ('challenge', 'block') OR rescore_decision IN ('challenge', 'block')) "
            "ORDER BY COALESCE(last_score, -1.0) DESC, updated_ts DESC, account.id DESC LIMIT 50"))
    assert "ix_account_review_score" in plan and "TEMP B-TREE" not in plan


def test_account_page_shows_assessments_labels_links_and_usage(as_role, world):
    page = as_role("analyst").get("/console/accounts/farm_0").get_data(as_text=True)
    assert "x0q9z0@example.com" in page
    assert "fraud" in page and "analyst" in page                 # the label from POST /v1/labels
    for other in ("farm_1", "farm_5"):                           # shares device and card
        assert f'/console/accounts/{other}"' in page
    assert "device" in page and "payment" in page
    assert "200 records" in page and "reasoning share 1.0" in page
    assert "fp_farm" not in page and "dv_farm" not in page       # identifiers never shown raw
    assert as_role("analyst").get("/console/accounts/nobody").status_code == 404


def test_a_console_label_is_a_v1_label(app, client, auth, as_role, world):
    c = as_role("analyst")
    r = post(c, "/console/accounts/farm_3/label", {"label": "fraud", "note": "shares the farm card"},
             "/console/accounts/farm_3")
    assert r.status_code == 302
    labels = client.get("/v1/accounts/farm_3", headers=auth).json["labels"]
    assert [(lb["label"], lb["source"], lb["note"]) for lb in labels] == [("fraud", "analyst", "shares the farm card")]
    assert "farm_3" not in _queue_ids(c.get("/console/queue").get_data(as_text=True))
    bad = post(c, "/console/accounts/farm_3/label", {"label": "maybe"})
    assert bad.status_code == 400 and "label" in bad.get_data(as_text=True)
    assert post(c, "/console/accounts/nobody/label", {"label": "fraud"}).status_code == 400


def test_htmx_label_from_the_queue_removes_the_row(as_role, world):
    c = as_role("analyst")
    r = c.post("/console/accounts/farm_4/label", data={"label": "legit", "csrf_token": _token(c)},
               headers={"HX-Request": "true", "HX-Target": "queue-row"})
    assert r.status_code == 200 and r.get_data(as_text=True) == ""


def _token(c) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', c.get("/console/").get_data(as_text=True)).group(1)


def test_cluster_bulk_label_asks_for_confirmation_then_labels_and_audits(app, as_role, world):
    with app.extensions["riskengine"].db.begin() as conn:
        conn.execute(text("UPDATE account SET cluster_id = 'c_farm', cluster_size = 6 WHERE id LIKE 'farm_%'"))
    c = as_role("analyst")
    page = c.get("/console/clusters/c_farm").get_data(as_text=True)
    assert page.count('name="account"') == 6 and "cluster-data" in page
    graph = json.loads(re.search(r'id="cluster-data">(.*?)</script>', page, re.S).group(1))
    kinds = {e["data"].get("kind") for e in graph["elements"] if "kind" in e["data"]}
    assert {"account", "device", "payment", "template"} <= kinds
    first = post(c, "/console/clusters/c_farm/bulk", {"action": "fraud", "note": "card farm"})
    assert first.status_code == 200 and "Yes, label fraud 6 accounts" in first.get_data(as_text=True)
    db = app.extensions["riskengine"].db
    with db.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM label")).scalar_one() == 1      # nothing yet
    done = post(c, "/console/clusters/c_farm/bulk", {"action": "fraud", "note": "card farm", "confirm": "yes",
                                                    "account": ["farm_1", "farm_2", "user_1"]})
    assert done.status_code == 302
    with db.connect() as conn:
        labelled = conn.execute(text("SELECT account_id FROM label WHERE note = 'card farm'")).scalars().all()
        audit = conn.execute(text("SELECT action, after FROM auditentry WHERE action = 'bulk_label'")).one()
    assert sorted(labelled) == ["farm_1", "farm_2"]               # user_1 is not a member
    after = audit[1] if isinstance(audit[1], dict) else json.loads(audit[1])
    assert after["accounts"] == ["farm_1", "farm_2"]


def test_lists_publish_a_policy_version_that_decides_the_next_assessment(app, client, auth, as_role):
    c = as_role("analyst")
    r = post(c, "/console/policy/lists", {"deny.emails": "jane.doe@example.com\n", "note": "chargebacks",
                                          "restricted.countries": "KP IR"}, "/console/policy")
    assert r.status_code == 302
    answer = client.post("/v1/assess", json=signup("acct_new"), headers=auth).json
    assert answer["decision"] == "block" and answer["decided_by"] == "list:deny_emails"
    assert answer["policy_version"].startswith("console-")
    page = c.get("/console/policy").get_data(as_text=True)
    assert "chargebacks" in page and "jane.doe@example.com" in page
    bad = post(c, "/console/policy/lists", {"restricted.countries": "KP Iran", "note": "x"}, "/console/policy")
    assert bad.status_code == 400 and "restricted.countries" in bad.get_data(as_text=True)
    missing_note = post(c, "/console/policy/lists", {"deny.emails": "a@b.c"}, "/console/policy")
    assert missing_note.status_code == 400 and "note" in missing_note.get_data(as_text=True)


def test_another_process_picks_up_a_new_version_without_restart(app, config, as_role):
    from riskengine.web.app import create_app
    other = create_app(config)                                   # a second replica on the same database
    try:
        other.test_client().get("/livez")                        # starts its policy watcher
        post(as_role("analyst"), "/console/accounts/acct_x/list", {"list": "deny", "note": "x"})
        deadline = time.monotonic() + 30
        while "acct_x" not in other.extensions["riskengine"].policy.deny.accounts and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "acct_x" in other.extensions["riskengine"].policy.deny.accounts
    finally:
        other.extensions["riskengine"].close()


def test_admin_publishes_and_rolls_back(app, as_role):
    admin = as_role("admin")
    rt = app.extensions["riskengine"]
    _, body = rt.policies.body()
    body["thresholds"] = {"signup": {"challenge": 0.2, "block": 0.5}}
    assert post(admin, "/console/policy/publish", {"policy": json.dumps(body), "note": "stricter"}).status_code == 302
    first = rt.policy.version
    assert rt.policy.thresholds["signup"]["block"] == 0.5
    body["mode"] = "sideways"
    bad = post(admin, "/console/policy/publish", {"policy": json.dumps(body), "note": "broken"})
    assert bad.status_code == 400 and "mode" in bad.get_data(as_text=True)
    assert post(admin, "/console/policy/publish", {"policy": "{not json", "note": "x"}).status_code == 400
    body["mode"] = "monitor"
    post(admin, "/console/policy/publish", {"policy": json.dumps(body), "note": "try monitor"})
    assert rt.policy.mode == "monitor"
    version = int(first.split("-")[1])
    assert post(admin, f"/console/policy/rollback/{version}", {"note": "monitor was a mistake"}).status_code == 302
    assert rt.policy.mode == "enforce" and rt.policy.version == f"console-{version + 2}"
    assert post(admin, "/console/policy/rollback/9999", {"note": "x"}).status_code == 400
    history = admin.get("/console/policy").get_data(as_text=True)
    assert "monitor was a mistake" in history and "adam" in history


def test_whatif_counts_changed_decisions_by_event_decider_and_label(app, as_role, world):
    c = as_role("analyst")
    rt = app.extensions["riskengine"]
    _, body = rt.policies.body()
    with rt.db.connect() as conn:
        assert conn.execute(text("SELECT last_decision FROM account WHERE id = 'farm_3'")).scalar_one() != "allow"
    post(c, "/console/accounts/farm_3/label", {"label": "fraud"})
    post(c, "/console/accounts/user_2/label", {"label": "legit"})
    body["deny"]["device_ids"] = ["dv_user_1", "dv_user_2"]       # hashed before comparing
    body["allow"]["accounts"] = ["farm_3"]                       # known fraud let through
    r = post(c, "/console/whatif", {"policy": json.dumps(body), "days": "30"}, "/console/whatif")
    page = r.get_data(as_text=True)
    assert r.status_code == 200, page
    assert re.search(r"<b>3</b> of 12 decisions would change", page)
    assert 'id="fraud-passing">1<' in page and 'id="legit-stopped">1<' in page
    assert "list:deny_device_ids" in page and "list:allow_accounts" in page
    with rt.db.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM policyversion")).scalar_one() == 0    # nothing published
        assert conn.execute(text("SELECT COUNT(*) FROM auditentry WHERE action = 'whatif'")).scalar_one() == 1


def test_whatif_under_the_policy_in_force_changes_nothing(app, as_role, world):
    _, body = app.extensions["riskengine"].policies.body()
    page = post(as_role("analyst"), "/console/whatif", {"policy": json.dumps(body), "days": "30"})
    page = page.get_data(as_text=True)
    assert re.search(r"<b>0</b> of 12 decisions would change", page)


def test_overview_counts_decisions_and_versions(as_role, world, client, auth):
    client.post("/v1/assess", json=farm_signup(9), headers=auth)
    page = as_role("viewer").get("/console/?days=7").get_data(as_text=True)
    data = json.loads(re.search(r'id="decisions-data">(.*?)</script>', page, re.S).group(1))
    assert sum(sum(s["data"]) for s in data["series"]) == 13
    assert "default-4" in page and "2026.12" in page
    assert as_role("viewer").get("/console/?days=1000").status_code == 400


def test_metrics_carry_no_account_identifier(app, as_role, world):
    as_role("viewer").get("/console/accounts/farm_1")
    metrics = app.test_client().get("/metrics").get_data(as_text=True)
    assert "farm_1" not in metrics and "/console/accounts/<path:account_id>" in metrics


def test_migration_gives_accounts_the_country_of_their_last_signup_or_login(empty_db):
    from alembic import command
    from sqlalchemy import inspect

    from riskengine.storage import migrate
    migrate.upgrade(empty_db, "a3f6c8e2d4b1")
    with empty_db.begin() as conn:
        conn.execute(text("INSERT INTO account (id, created_ts, updated_ts) VALUES ('a', 1, 9), ('b', 1, 1)"))
        conn.execute(text("INSERT INTO assessment (id, account_id, event, occurred_ts, created_ts, ip_country, "
                          "decision, decided_by, degraded, response) VALUES (:id, 'a', :event, :t, :t, :c, 'allow', "
                          "'model', false, '{}')"),
                     [{"id": "s", "event": "signup", "t": 1, "c": "GB"},
                      {"id": "l", "event": "login", "t": 5, "c": "FR"},
                      {"id": "r", "event": "rescore", "t": 9, "c": None}])
    migrate.upgrade(empty_db)
    with empty_db.connect() as conn:
        assert dict(conn.execute(text("SELECT id, last_ip_country FROM account")).all()) == {"a": "FR", "b": None}
    command.downgrade(migrate._alembic_config(empty_db), "a3f6c8e2d4b1")
    assert "last_ip_country" not in {c["name"] for c in inspect(empty_db).get_columns("account")}
    with empty_db.connect() as conn:        # no copy of the table lost the queue's expression index
        assert conn.execute(text("SELECT COUNT(*) FROM account WHERE COALESCE(last_score, -1.0) > -2")).scalar() == 2
    assert "ix_account_review_score" in index_names(empty_db, "account")

