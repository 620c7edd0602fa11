"""Storage on the real database (SQLite or PostgreSQL): link upserts and history windows."""
from __future__ import annotations

from alembic import command
from sqlalchemy import inspect, text

from riskengine import storage
from riskengine.storage import migrate
from riskengine.storage.history import EMAIL_DOMAIN_SQL
from tests.factories import assessment_row as row

DAY = 86400.0


def test_links_keep_first_and_last_seen_whatever_the_arrival_order(db_url):
    eng = storage.make_engine(db_url)
    with eng.begin() as conn:
        storage.record(conn, row(1, "a", 10 * DAY), {}, {"device": "d1"})
        storage.record(conn, row(2, "a", 2 * DAY), {}, {"device": "d1"})      # late arrival, older event
        storage.record(conn, row(3, "a", 5 * DAY), {}, {"device": "d1"})
    with eng.connect() as conn:
        got = conn.execute(storage.links.L.select()).mappings().one()
        acc = conn.execute(storage.assessments.ACC.select()).mappings().one()
    assert (got["first_seen"], got["last_seen"], got["events"]) == (2 * DAY, 10 * DAY, 3)
    # The account's latest decision is the newest event's, not the last to arrive.
    assert acc["created_ts"] == 2 * DAY and acc["last_assessment_id"] == "asm_1"
    eng.dispose()


def test_history_counts_other_accounts_per_window(db_url):
    eng = storage.make_engine(db_url)
    t = 40 * DAY
    with eng.begin() as conn:
        for i, age in enumerate([0.5 / 24, 0.5, 3, 20, 35]):        # days before t
            storage.record(conn, row(i, f"other{i}", t - age * DAY), {}, {"payment": "card1", "ip": f"ip{i}"})
        storage.record(conn, row(99, "me", t - 1 * DAY), {}, {"payment": "card1"})
    with eng.connect() as conn:
        h = storage.read_history(conn, "me", {"payment": "card1"}, t, ip=None, asn=None, device=None, country=None)
    assert h.shared["payment"] == {"1h": 1, "24h": 2, "7d": 3, "30d": 4}
    assert h.linked_accounts == 4 and h.account_known and round(h.account_age_days, 3) == 1.0
    eng.dispose()


def test_linked_accounts_count_people_and_cards_not_a_popular_hardware_fingerprint(db_url):
    eng = storage.make_engine(db_url)
    t = 10 * DAY
    with eng.begin() as conn:
        for i in range(6):       # six owners of the same phone model
            storage.record(conn, row(i, f"owner{i}", t - DAY), {}, {"components": "pixel8-build"})
        storage.record(conn, row(10, "sibling", t - DAY), {}, {"device": "tablet1"})
        storage.record(conn, row(11, "me", t - 2 * DAY), {}, {"components": "pixel8-build", "device": "tablet1"})
    with eng.connect() as conn:
        h = storage.read_history(conn, "me", {"components": "pixel8-build", "device": "tablet1"}, t, ip=None,
                                 asn=None, device="tablet1", country=None)
        only_hw = storage.read_history(conn, "me", {"components": "pixel8-build"}, t, ip=None, asn=None,
                                       device=None, country=None)
    assert h.shared["components"]["30d"] == 6            # the fingerprint's own count still says it
    assert h.linked_accounts == 1                         # the sibling on the shared tablet, not the six
    assert only_hw.linked_accounts == 0
    eng.dispose()


def test_failed_logins_and_asn_signups(db_url):
    eng = storage.make_engine(db_url)
    t = 10 * DAY
    with eng.begin() as conn:
        for i in range(5):
            storage.record(conn, row(i, f"v{i}", t - 60 * i, event="login", login_outcome="failure",
                                     ip="203.0.113.5"), {}, {})
        storage.record(conn, row(10, "v0", t - 2 * 3600, event="login", login_outcome="failure",
                                 ip="203.0.113.5"), {}, {})
        for i in range(3):
            storage.record(conn, row(20 + i, f"s{i}", t - 600, ip_asn=64500), {}, {})
    with eng.connect() as conn:
        h = storage.read_history(conn, "v0", {}, t, ip="203.0.113.5", asn=64500, device=None, country=None)
    assert (h.failed_logins_account_1h, h.failed_logins_account_24h) == (1, 2)
    assert (h.failed_logins_ip_1h, h.accounts_failed_ip_1h) == (5, 5)
    assert h.signups_per_asn_1h == 3
    eng.dispose()


def test_sharing_counts_stop_at_the_cap(db_url):
    from sqlalchemy import insert
    eng = storage.make_engine(db_url)
    t = 5 * DAY
    with eng.begin() as conn:
        conn.execute(insert(storage.links.L), [{"kind": "subnet", "value": "nat", "account_id": f"a{i}",
                                                "first_seen": t - i, "last_seen": t - i, "events": 1}
                                               for i in range(storage.SHARE_CAP + 50)])
    with eng.connect() as conn:
        h = storage.read_history(conn, "me", {"subnet": "nat"}, t, ip=None, asn=None, device=None, country=None)
    assert h.shared["subnet"]["30d"] == storage.SHARE_CAP
    assert h.shared["subnet"]["1h"] == storage.SHARE_CAP     # all within the hour, capped all the same
    eng.dispose()


def test_writers_queue_on_the_write_gate(db_url):
    import threading
    eng = storage.make_engine(db_url, 2000)
    done = []

    def write(i):
        with storage.writing(eng, 5.0) as conn:
            storage.record(conn, row(i, f"w{i}", 1000.0 + i), {}, {"device": "shared"})
        done.append(i)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert sorted(done) == list(range(8))
    with eng.connect() as conn:
        assert len(conn.execute(storage.links.L.select()).all()) == 8
    eng.dispose()


def test_signups_per_email_domain_and_its_age(db_url):
    eng = storage.make_engine(db_url)
    t = 30 * DAY
    with eng.begin() as conn:
        storage.record(conn, row(1, "first", t - 10 * DAY, email_domain="kq7vz.top"), {}, {})
        for i, minutes in enumerate([5, 20, 50, 90, 600]):               # 3 in the hour, 5 in the day
            storage.record(conn, row(10 + i, f"b{i}", t - minutes * 60, email_domain="kq7vz.top"), {}, {})
        # Not counted: logins with the domain, another domain, a signup after t.
        storage.record(conn, row(20, "b0", t - 60, event="login", email_domain="kq7vz.top"), {}, {})
        storage.record(conn, row(21, "o", t - 60, email_domain="other.top"), {}, {})
        storage.record(conn, row(22, "late", t + 60, email_domain="kq7vz.top"), {}, {})
    with eng.connect() as conn:
        h = storage.read_history(conn, "me", {}, t, ip=None, asn=None, device=None, country=None,
                                 email_domain="kq7vz.top")
        unseen = storage.read_history(conn, "me", {}, t, ip=None, asn=None, device=None, country=None,
                                      email_domain="never-seen.top")
        skipped = storage.read_history(conn, "me", {}, t, ip=None, asn=None, device=None, country=None)
    assert (h.signups_per_email_domain_1h, h.signups_per_email_domain_24h) == (3, 5)
    assert round(h.email_domain_age_days, 6) == 10.0
    assert (unseen.signups_per_email_domain_1h, unseen.signups_per_email_domain_24h) == (0, 0)
    assert unseen.email_domain_age_days is None                    # first signup here: no age yet
    assert (skipped.signups_per_email_domain_1h, skipped.email_domain_age_days) == (None, None)
    eng.dispose()


def test_email_domain_counts_stop_at_the_cap(db_url):
    eng = storage.make_engine(db_url)
    t = 5 * DAY
    rows = [row(i, f"f{i}", t - 1 - i * 0.5, email_domain="farm.icu") for i in range(storage.SHARE_CAP + 5)]
    with eng.begin() as conn:
        conn.execute(storage.assessments.A.insert(), rows)
    with eng.connect() as conn:
        h = storage.read_history(conn, "me", {}, t, ip=None, asn=None, device=None, country=None,
                                 email_domain="farm.icu")
    assert h.signups_per_email_domain_1h == h.signups_per_email_domain_24h == storage.SHARE_CAP
    eng.dispose()


def test_the_domain_reads_use_the_signup_index(db_url):
    """Each of the three subqueries can use the partial index (its predicate matches). On
    PostgreSQL the planner's choice depends on statistics, so sequential scans are priced out
    to show that the index applies."""
    eng = storage.make_engine(db_url)
    params = {"email_domain": "x.top", "t": 1.0, "w1h": 0.0, "w24h": 0.0}
    with eng.connect() as conn:
        if eng.dialect.name == "sqlite":
            plan = " ".join(str(r[-1]) for r in conn.execute(text("EXPLAIN QUERY PLAN " + str(EMAIL_DOMAIN_SQL)),
                                                             params))
        else:
            conn.execute(text("SET LOCAL enable_seqscan = off"))
            plan = " ".join(r[0] for r in conn.execute(text("EXPLAIN " + str(EMAIL_DOMAIN_SQL)), params))
    assert plan.count("ix_assessment_signup_email_domain") == 3, plan
    eng.dispose()


def test_migration_gives_existing_signups_their_accounts_domain(empty_db):
    migrate.upgrade(empty_db, "b9c1d7e3a5f2")
    with empty_db.begin() as conn:
        conn.execute(text("INSERT INTO account (id, created_ts, updated_ts, email_domain) VALUES "
                          "('a', 1, 1, 'acme.example'), ('b', 1, 1, NULL)"))
        conn.execute(text("INSERT INTO assessment (id, account_id, event, occurred_ts, created_ts, decision, "
                          "decided_by, degraded, response) VALUES (:id, :acct, :event, 1, 1, 'allow', 'model', "
                          "false, '{}')"),
                     [{"id": "s1", "acct": "a", "event": "signup"}, {"id": "l1", "acct": "a", "event": "login"},
                      {"id": "s2", "acct": "b", "event": "signup"}])
    migrate.upgrade(empty_db)
    with empty_db.connect() as conn:
        got = dict(conn.execute(text("SELECT id, email_domain FROM assessment")).all())
        h = storage.read_history(conn, "z", {}, 10.0, ip=None, asn=None, device=None, country=None,
                                 email_domain="acme.example")
    assert got == {"s1": "acme.example", "l1": None, "s2": None}
    assert h.signups_per_email_domain_24h == 1 and round(h.email_domain_age_days * DAY) == 9
    command.downgrade(migrate._alembic_config(empty_db), "b9c1d7e3a5f2")
    assert "email_domain" not in {c["name"] for c in inspect(empty_db).get_columns("assessment")}


def test_a_shared_hardware_hash_alone_links_no_accounts(db_url):
    """Every unit of a popular phone model has one components hash: it is counted apart
    (accounts_per_components_*), and only a device id, card, mailbox or phone links accounts."""
    eng = storage.make_engine(db_url)
    t = 10 * DAY
    with eng.begin() as conn:
        for i in range(5):
            storage.record(conn, row(i, f"owner{i}", t - DAY), {}, {"components": "iphone15-ios18"})
        storage.record(conn, row(9, "twin", t - DAY), {}, {"device": "dv_shared"})
    links = {"components": "iphone15-ios18", "device": "dv_mine"}
    with eng.connect() as conn:
        alone = storage.read_history(conn, "me", links, t, ip=None, asn=None, device=None, country=None)
        both = storage.read_history(conn, "me", {**links, "device": "dv_shared"}, t, ip=None, asn=None,
                                    device=None, country=None)
    assert alone.shared["components"]["7d"] == 5 and alone.linked_accounts == 0
    assert both.linked_accounts == 1
    eng.dispose()
