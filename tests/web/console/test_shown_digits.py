"""Privacy item 5 of the console: analysts see phones and cards only as their last digits.
Stored at assess time (assessment.phone_last4, card_last4, card_brand), shown on the account
and cluster pages, never the number; removed by the retention job and by erasure. On the real
database (SQLite, or PostgreSQL with RISKENGINE_TEST_DATABASE_URL)."""
from __future__ import annotations

import json

from alembic import command
from sqlalchemy import inspect, text

from riskengine.privacy import DAY, erase_account, purge_raw
from riskengine.scoring import shown
from riskengine.storage import migrate
from tests.factories import NOW, index_names

FULL_PHONE = ("7911654321", "7911 654321", "+447911654321")   # farm_signup's phone, however spelt


def test_last_digits_brand_and_last4():
    assert shown.last_digits("+44 7911 654321") == "4321"
    assert shown.last_digits("+447911654321") == "4321"
    assert shown.last_digits("1234567") is None          # too short: four digits would be most of it
    assert shown.last_digits(None) is None and shown.last_digits("") is None
    assert shown.card_last4("4242") == "4242" and shown.card_last4(" 4242 ") == "4242"
    assert shown.card_last4("42a2") is None and shown.card_last4("424") is None and shown.card_last4(None) is None
    brands = {"424242": "visa", "510510": "mastercard", "222100": "mastercard", "272099": "mastercard",
              "378282": "amex", "601111": "discover", "650000": "discover", "353011": "jcb", "305693": "diners",
              "620000": "unionpay", "999999": None, "12345": None, "4242ab": None}
    assert {b: shown.card_brand(b) for b in brands} == brands
    assert shown.columns(None, "+1 (415) 555-0123", "0005", "378282") == {
        "phone_last4": "0123", "card_last4": "0005", "card_brand": "amex"}


def _row(app, account: str) -> dict:
    with app.extensions["riskengine"].db.connect() as conn:
        return dict(conn.execute(text("SELECT phone_last4, card_last4, card_brand FROM assessment "
                                      "WHERE account_id = :a"), {"a": account}).mappings().one())


def _dump(app) -> str:
    """Every stored value of the tables an assessment writes, as text."""
    out = []
    with app.extensions["riskengine"].db.connect() as conn:
        for table in ("assessment", "account", "entitylink", "accountcontext"):
            out += [json.dumps([str(v) for v in r]) for r in conn.execute(text(f"SELECT * FROM {table}"))]
    return "\n".join(out)


def test_assess_stores_the_last_digits_and_never_the_number(app, world):
    assert _row(app, "farm_1") == {"phone_last4": "4321", "card_last4": "4242", "card_brand": "visa"}
    assert _row(app, "user_1") == {"phone_last4": None, "card_last4": None, "card_brand": None}
    dump = _dump(app)
    assert "4321" in dump and not any(p in dump for p in FULL_PHONE)


def test_account_page_shows_phone_and_card_by_last_digits(as_role, world):
    page = as_role("analyst").get("/console/accounts/farm_1").get_data(as_text=True)
    assert '<div class="card" id="phones">phone <b>••••4321</b>' in page
    assert '<div class="card" id="cards">card <b>visa ••••4242</b>' in page
    assert not any(p in page for p in FULL_PHONE)
    assert "424242" not in page                   # the BIN in the signals is masked too
    assert "visa ••••4242" in as_role("viewer").get("/console/accounts/farm_1").get_data(as_text=True)


def test_cluster_page_shows_shared_phone_and_card_by_last_digits(app, as_role, world):
    with app.extensions["riskengine"].db.begin() as conn:
        conn.execute(text("UPDATE account SET cluster_id = 'c_farm', cluster_size = 6 WHERE id LIKE 'farm_%'"))
    page = as_role("analyst").get("/console/clusters/c_farm").get_data(as_text=True)
    assert "<td>phone</td><td>••••4321</td>" in page
    assert "<td>payment</td><td>visa ••••4242</td>" in page
    graph = json.loads(page.split('<script type="application/json" id="cluster-data">')[1].split("</script>")[0])
    labels = {e["data"].get("label") for e in graph["elements"]}
    assert {"phone ••••4321", "payment visa ••••4242"} <= labels
    assert "<td>device</td><td>#" in page         # a device is a keyed hash: a hash tail, not digits
    assert not any(p in page for p in FULL_PHONE)


def test_retention_and_erasure_remove_the_digits(app, as_role, world):
    rt = app.extensions["riskengine"]
    purged = purge_raw(rt.db, retention_days=90, now=NOW + 91 * DAY)
    assert purged.assessments == 12
    with rt.db.connect() as conn:
        left = conn.execute(text("SELECT COUNT(*) FROM assessment WHERE phone_last4 IS NOT NULL "
                                 "OR card_last4 IS NOT NULL")).scalar()
        brands = conn.execute(text("SELECT COUNT(*) FROM assessment WHERE card_brand = 'visa'")).scalar()
    assert left == 0 and brands == 6              # the brand is the BIN's network: not personal, kept
    with rt.db.begin() as conn:
        conn.execute(text("UPDATE account SET cluster_id = 'c_farm', cluster_size = 6 WHERE id LIKE 'farm_%'"))
    page = as_role("analyst").get("/console/clusters/c_farm").get_data(as_text=True)
    assert "4321" not in page and "<td>phone</td><td>#" in page     # no digits left: the hash tail
    erase_account(rt, "farm_2")
    with rt.db.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM assessment WHERE account_id = 'farm_2'")).scalar() == 0


def test_migration_adds_the_columns_and_takes_card_digits_from_the_stored_request(empty_db):
    migrate.upgrade(empty_db, "d5e7f9a1b3c4")
    with empty_db.begin() as conn:
        conn.execute(text("INSERT INTO assessment (id, account_id, event, occurred_ts, created_ts, decision, "
                          "decided_by, degraded, inputs, response) VALUES (:id, 'a', 'signup', 1, 1, 'allow', "
                          "'model', false, :inputs, '{}')"),
                     [{"id": "with", "inputs": json.dumps({"payment": {"bin": "424242", "last4": "4242"}})},
                      {"id": "odd", "inputs": json.dumps({"payment": {"last4": "42x2"}})},
                      {"id": "none", "inputs": json.dumps({"links": {}})}, {"id": "null", "inputs": None}])
    migrate.upgrade(empty_db)
    with empty_db.connect() as conn:
        got = {r[0]: tuple(r[1:]) for r in conn.execute(text(
            "SELECT id, phone_last4, card_last4, card_brand FROM assessment"))}
    assert got == {"with": (None, "4242", None), "odd": (None, None, None), "none": (None, None, None),
                   "null": (None, None, None)}
    command.downgrade(migrate._alembic_config(empty_db), "d5e7f9a1b3c4")
    columns = {c["name"] for c in inspect(empty_db).get_columns("assessment")}
    assert not {"phone_last4", "card_last4", "card_brand"} & columns
    assert {"ix_assessment_failed_login_account", "ix_assessment_signup_email_domain"} <= \
        index_names(empty_db, "assessment")          # partial indexes: no copy of the table dropped them

