"""One deadline for a request's database waits, on the real database (SQLite or PostgreSQL):
past it nothing is written, a statement still running is abandoned on the client side, and
the connection it ran on is discarded, never handed out again."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from riskengine import storage
from tests.factories import assessment_row as row


def test_a_deadline_counts_down_and_never_below_zero():
    d = storage.Deadline.after_ms(200)
    assert 0.15 < d.remaining() <= 0.2 and not d.expired()
    gone = storage.Deadline(0)
    assert gone.expired() and gone.remaining() == 0.0 and gone.remaining_ms() == 0


def test_within_sets_the_deadline_for_the_block_only():
    from riskengine.storage.deadline import current
    outer, inner = storage.Deadline(5), storage.Deadline(1)
    assert current() is None
    with storage.within(outer):
        with storage.within(inner):
            assert current() is inner
        with storage.within(None):           # no deadline of its own: the caller's holds
            assert current() is outer
        assert current() is outer
    assert current() is None


def test_past_the_deadline_a_write_writes_nothing(db_url):
    eng = storage.make_engine(db_url, 500)
    with pytest.raises(SQLAlchemyError):
        with storage.writing(eng, storage.Deadline(0)) as conn:
            storage.record(conn, row(1, "late", 1.0), {}, {"device": "d1"})
    with eng.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM assessment")).scalar_one() == 0
    with storage.writing(eng, storage.Deadline(5)) as conn:          # the engine itself is fine
        storage.record(conn, row(2, "on_time", 1.0), {}, {"device": "d1"})
    with eng.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM assessment")).scalar_one() == 1
    eng.dispose()


def test_a_statement_outliving_the_deadline_is_abandoned_and_its_connection_discarded(db_url):
    """The server's own statement_timeout (10 s here) would stop it far later: the bound that
    fires is the client's. The connection is closed mid-statement and never reused."""
    eng = storage.make_engine(db_url, 10_000)
    if eng.dialect.name != "postgresql":
        pytest.skip("SQLite statements do not wait on a server")
    with eng.connect() as conn:
        before = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    started = time.monotonic()
    with pytest.raises(SQLAlchemyError, match="budget"):
        with storage.within(storage.Deadline(0.2)), eng.connect() as conn:
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() == before
            conn.execute(text("SELECT pg_sleep(5)"))
    assert time.monotonic() - started < 4.0                 # not the 5 s the statement asked for
    with eng.connect() as conn:
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != before
    eng.dispose()


def test_the_email_domain_read_waits_no_longer_than_the_request_budget(db_url):
    """Signups per email domain and the domain's first signup (storage.history.EMAIL_DOMAIN_SQL)
    run inside the request's deadline: with the table locked by another session, the read gives
    up when the budget is spent (the server's own timeout, 10 s here, would be far later)."""
    from riskengine.storage.history import EMAIL_DOMAIN_SQL
    eng = storage.make_engine(db_url, 10_000)
    if eng.dialect.name != "postgresql":
        pytest.skip("SQLite readers do not wait on a writer (WAL): nothing to bound")
    params = {"email_domain": "kq7vzx3w.icu", "t": 1e9, "w1h": 1e9 - 3600, "w24h": 1e9 - 86400}
    with eng.connect() as conn:                   # unlocked, the read answers
        assert tuple(storage.driver(conn, EMAIL_DOMAIN_SQL, params).one()) == (0, 0, None)
    locker = eng.connect()
    try:
        locker.execute(text("LOCK TABLE assessment IN ACCESS EXCLUSIVE MODE"))
        with pytest.raises(SQLAlchemyError, match="budget"):
            with storage.within(storage.Deadline(0.3)), eng.connect() as conn:
                storage.driver(conn, EMAIL_DOMAIN_SQL, params).one()
    finally:
        locker.rollback()
        locker.close()
    eng.dispose()
